/*
 * Unit tests for config: the shipped etc/sockserv.cfg, every default, the
 * seconds-to-ms conversion, path resolution, and one bad file per error
 * class with the exact "FILE:LINE:" it must blame.  Files are written into
 * a mkdtemp directory that the suite removes afterwards.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"

void test_config_register(void);

static char tmpdir[] = "/tmp/sockserv-config-XXXXXX";
static int tmpdir_made;
static unsigned int nfiles;

/* one valid listener on one line, for files that test something else */
#define ONE_LISTENER \
	"listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000; } );\n"

static int
suite_init(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	tmpdir_made = 1;
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
suite_clean(void)
{
	if (!tmpdir_made)
		return 0;
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* write text to a fresh file in tmpdir; its path goes to path */
static void
write_cfg(const char *text, char *path, size_t size)
{
	FILE *fp;

	snprintf(path, size, "%s/t%u.cfg", tmpdir, nfiles++);
	fp = fopen(path, "w");
	CU_ASSERT_FATAL(fp != NULL);
	CU_ASSERT_FATAL(fputs(text, fp) >= 0);
	CU_ASSERT_FATAL(fclose(fp) == 0);
}

static int
load_text(const char *text, struct config *cfg, char *err, size_t errlen)
{
	char path[PATH_MAX];

	write_cfg(text, path, sizeof(path));
	return config_load(path, cfg, err, errlen);
}

static void
cwd_join(const char *rel, char *out, size_t size)
{
	char cwd[PATH_MAX];

	CU_ASSERT_FATAL(getcwd(cwd, sizeof(cwd)) != NULL);
	CU_ASSERT_FATAL(snprintf(out, size, "%s/%s", cwd, rel) < (int)size);
}

/*
 * Load text, which must fail with "PATH:LINE: ..." containing needle.
 * Assertions are charged to the caller's line so a failure says which case.
 */
static void
expect_error_at(unsigned int caller, const char *text, int line,
    const char *needle)
{
	char path[PATH_MAX], prefix[PATH_MAX + 32], err[512];
	struct config cfg;
	int rv, prefix_ok, needle_ok;

	write_cfg(text, path, sizeof(path));
	memset(err, 'x', sizeof(err));
	rv = config_load(path, &cfg, err, sizeof(err));
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	prefix_ok = strncmp(err, prefix, strlen(prefix)) == 0;
	needle_ok = strstr(err, needle) != NULL;
	if (rv != -1 || !prefix_ok || !needle_ok)
		fprintf(stderr, "\n  line %u: rv %d, err \"%s\"; wanted \"%s...%s\"\n",
		    caller, rv, err, prefix, needle);
	CU_assertImplementation(rv == -1, caller, "config_load fails",
	    __FILE__, "", CU_FALSE);
	CU_assertImplementation(prefix_ok, caller, "error has FILE:LINE: prefix",
	    __FILE__, "", CU_FALSE);
	CU_assertImplementation(needle_ok, caller, "error names the problem",
	    __FILE__, "", CU_FALSE);
	/* a failed load leaves nothing to free */
	CU_assertImplementation(cfg.listeners == NULL && cfg.nlisteners == 0,
	    caller, "no listeners after failure", __FILE__, "", CU_FALSE);
	config_free(&cfg);
}

#define EXPECT_ERROR(text, line, needle) \
	expect_error_at(__LINE__, (text), (line), (needle))

static void
test_shipped_config_loads_with_its_documented_values(void)
{
	struct config cfg;
	char err[512] = "", want[PATH_MAX];
	const struct listener_conf *l;

	CU_ASSERT_EQUAL_FATAL(config_load("etc/sockserv.cfg", &cfg, err,
	    sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(cfg.workers, 2);
	CU_ASSERT_EQUAL(cfg.backend, EVB_EPOLL);
	cwd_join("run/sockserv.pid", want, sizeof(want));
	CU_ASSERT_STRING_EQUAL(cfg.pid_file, want);
	cwd_join("run/sockserv.shm", want, sizeof(want));
	CU_ASSERT_STRING_EQUAL(cfg.stats_path, want);
	cwd_join("etc/sockserv.cfg", want, sizeof(want));
	CU_ASSERT_STRING_EQUAL(cfg.path, want);
	CU_ASSERT_STRING_EQUAL(cfg.user, "");
	CU_ASSERT_STRING_EQUAL(cfg.group, "");
	CU_ASSERT_EQUAL(cfg.hung_timeout_ms, 10000);
	CU_ASSERT_EQUAL(cfg.stats_interval_s, 60);
	CU_ASSERT_EQUAL(cfg.shutdown_timeout_ms, 30000);
	CU_ASSERT_STRING_EQUAL(cfg.log_target, "stderr");
	CU_ASSERT_EQUAL(cfg.log_level, LOG_LVL_INFO);
	CU_ASSERT_EQUAL(cfg.log_facility, LOG_DAEMON);
	CU_ASSERT_EQUAL(cfg.max_connections, 100000);
	CU_ASSERT_EQUAL(cfg.max_frame, 1048576);
	CU_ASSERT_EQUAL(cfg.max_output, 4194304);
	CU_ASSERT_EQUAL(cfg.backlog, 4096);
	CU_ASSERT_EQUAL(cfg.tick_ms, 100);
	CU_ASSERT_EQUAL(cfg.slots, 512);
	CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 5);

	l = &cfg.listeners[0];
	CU_ASSERT_STRING_EQUAL(l->name, "long");
	CU_ASSERT_STRING_EQUAL(l->address, "127.0.0.1");
	CU_ASSERT_EQUAL(l->port, 7000);
	CU_ASSERT_EQUAL(l->codec, CODEC_FRAME);
	CU_ASSERT_STRING_EQUAL(l->handler, "echo");
	CU_ASSERT(l->handler_line > 0);
	CU_ASSERT_EQUAL(l->magic_len, 0);
	CU_ASSERT_EQUAL(l->heartbeat_ms, 30000);
	CU_ASSERT_EQUAL(l->deadline_ms, 0);
	CU_ASSERT_EQUAL(l->frame_timeout_ms, 10000);
	CU_ASSERT_EQUAL(l->write_timeout_ms, 30000);
	CU_ASSERT_EQUAL(l->first_message_ms, 30000);

	l = &cfg.listeners[1];
	CU_ASSERT_STRING_EQUAL(l->name, "short");
	CU_ASSERT_EQUAL(l->port, 7001);
	CU_ASSERT_EQUAL(l->codec, CODEC_RAW);
	CU_ASSERT_STRING_EQUAL(l->handler, "log");
	CU_ASSERT_EQUAL(l->heartbeat_ms, 0);
	CU_ASSERT_EQUAL(l->deadline_ms, 10000);
	CU_ASSERT_EQUAL(l->first_message_ms, 10000);

	l = &cfg.listeners[2];
	CU_ASSERT_STRING_EQUAL(l->name, "compat");
	CU_ASSERT_EQUAL(l->port, 7002);
	CU_ASSERT_EQUAL(l->codec, CODEC_HEADERS);
	CU_ASSERT_STRING_EQUAL(l->handler, "echo");
	CU_ASSERT_EQUAL(l->magic_len, 7);
	CU_ASSERT(memcmp(l->magic, "Headers", 7) == 0);
	CU_ASSERT_EQUAL(l->heartbeat_ms, 0);
	CU_ASSERT_EQUAL(l->first_message_ms, 10000);

	/* the README's heartbeat experiment runs against these two */
	l = &cfg.listeners[3];
	CU_ASSERT_STRING_EQUAL(l->name, "seed");
	CU_ASSERT_EQUAL(l->port, 7010);
	CU_ASSERT_EQUAL(l->codec, CODEC_RAW);
	CU_ASSERT_EQUAL(l->heartbeat_ms, 3000);
	CU_ASSERT_EQUAL(l->first_message_ms, 3000);
	l = &cfg.listeners[4];
	CU_ASSERT_STRING_EQUAL(l->name, "seedf");
	CU_ASSERT_EQUAL(l->port, 7011);
	CU_ASSERT_EQUAL(l->codec, CODEC_FRAME);
	CU_ASSERT_EQUAL(l->heartbeat_ms, 3000);
	config_free(&cfg);
	CU_ASSERT_PTR_NULL(cfg.listeners);
	CU_ASSERT_EQUAL(cfg.nlisteners, 0);
}

static void
test_minimal_config_gets_every_default(void)
{
	struct config cfg;
	char err[512] = "";
	const struct listener_conf *l;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	CU_ASSERT_EQUAL_FATAL(load_text(
	    "listeners = (\n"					/* 1 */
	    "  { name = \"f\"; address = \"127.0.0.1\"; port = 7000; },\n"
	    "  { name = \"r\"; address = \"127.0.0.1\"; port = 7001;\n"
	    "    codec = \"raw\"; },\n"
	    "  { name = \"h\"; address = \"127.0.0.1\"; port = 7002;\n"
	    "    codec = \"headers\"; }\n"
	    ");\n", &cfg, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	/* workers = 0 (the default) resolves to the online CPUs */
	CU_ASSERT(cfg.workers >= 1 && cfg.workers <= 256);
	if (ncpu >= 1 && ncpu <= 256)
		CU_ASSERT_EQUAL(cfg.workers, ncpu);
	CU_ASSERT_EQUAL(cfg.backend, EVB_EPOLL);
	CU_ASSERT_STRING_EQUAL(cfg.pid_file, "/run/sockserv/sockserv.pid");
	CU_ASSERT_STRING_EQUAL(cfg.stats_path, "/run/sockserv/sockserv.shm");
	CU_ASSERT_STRING_EQUAL(cfg.user, "");
	CU_ASSERT_STRING_EQUAL(cfg.group, "");
	CU_ASSERT_EQUAL(cfg.hung_timeout_ms, 10000);
	CU_ASSERT_EQUAL(cfg.stats_interval_s, 60);
	CU_ASSERT_EQUAL(cfg.shutdown_timeout_ms, 30000);
	CU_ASSERT_STRING_EQUAL(cfg.log_target, "stderr");
	CU_ASSERT_EQUAL(cfg.log_level, LOG_LVL_INFO);
	CU_ASSERT_EQUAL(cfg.log_facility, LOG_DAEMON);
	CU_ASSERT_EQUAL(cfg.max_connections, 100000);
	CU_ASSERT_EQUAL(cfg.max_frame, 1048576);
	CU_ASSERT_EQUAL(cfg.max_output, 4194304);
	CU_ASSERT_EQUAL(cfg.backlog, 4096);
	CU_ASSERT_EQUAL(cfg.tick_ms, 100);
	CU_ASSERT_EQUAL(cfg.slots, 512);
	/* nothing written, no line to blame */
	CU_ASSERT_EQUAL(cfg.user_line, 0);
	CU_ASSERT_EQUAL(cfg.group_line, 0);
	CU_ASSERT_EQUAL(cfg.log_target_line, 0);
	CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 3);

	/* frame: heartbeat 30 s, and the first message inherits it */
	l = &cfg.listeners[0];
	CU_ASSERT_EQUAL(l->codec, CODEC_FRAME);
	CU_ASSERT_STRING_EQUAL(l->handler, "echo");
	CU_ASSERT_EQUAL(l->handler_line, 2);	/* defaulted: the group's line */
	CU_ASSERT_EQUAL(l->magic_len, 0);
	CU_ASSERT_EQUAL(l->heartbeat_ms, 30000);
	CU_ASSERT_EQUAL(l->deadline_ms, 0);
	CU_ASSERT_EQUAL(l->frame_timeout_ms, 10000);
	CU_ASSERT_EQUAL(l->write_timeout_ms, 30000);
	CU_ASSERT_EQUAL(l->first_message_ms, 30000);

	/* raw: no heartbeat, so the first message gets 10 s */
	l = &cfg.listeners[1];
	CU_ASSERT_EQUAL(l->codec, CODEC_RAW);
	CU_ASSERT_STRING_EQUAL(l->handler, "echo");
	CU_ASSERT_EQUAL(l->handler_line, 3);
	CU_ASSERT_EQUAL(l->magic_len, 0);
	CU_ASSERT_EQUAL(l->heartbeat_ms, 0);
	CU_ASSERT_EQUAL(l->deadline_ms, 0);
	CU_ASSERT_EQUAL(l->frame_timeout_ms, 10000);
	CU_ASSERT_EQUAL(l->write_timeout_ms, 30000);
	CU_ASSERT_EQUAL(l->first_message_ms, 10000);

	/* headers: like raw, plus the default magic */
	l = &cfg.listeners[2];
	CU_ASSERT_EQUAL(l->codec, CODEC_HEADERS);
	CU_ASSERT_EQUAL(l->magic_len, 7);
	CU_ASSERT(memcmp(l->magic, "Headers", 7) == 0);
	CU_ASSERT_EQUAL(l->heartbeat_ms, 0);
	CU_ASSERT_EQUAL(l->first_message_ms, 10000);
	CU_ASSERT_EQUAL(l->frame_timeout_ms, 10000);
	CU_ASSERT_EQUAL(l->write_timeout_ms, 30000);
	config_free(&cfg);
}

static void
test_seconds_take_floats_and_round_to_ms(void)
{
	struct config cfg;
	char err[512] = "";
	const struct listener_conf *l;

	CU_ASSERT_EQUAL_FATAL(load_text(
	    "hung_timeout = 0.5;\n"
	    "shutdown_timeout = 0;\n"
	    "stats_interval = 0;\n"
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "    heartbeat_timeout = 2.5; deadline = 0.0016;\n"
	    "    frame_timeout = 0.0014; write_timeout = 0; },\n"
	    "  { name = \"b\"; address = \"127.0.0.1\"; port = 7001;\n"
	    "    heartbeat_timeout = 0; first_message_timeout = 2592000;\n"
	    "    deadline = 86400L; }\n"
	    ");\n", &cfg, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(cfg.hung_timeout_ms, 500);
	CU_ASSERT_EQUAL(cfg.shutdown_timeout_ms, 0);
	CU_ASSERT_EQUAL(cfg.stats_interval_s, 0);
	CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 2);
	l = &cfg.listeners[0];
	CU_ASSERT_EQUAL(l->heartbeat_ms, 2500);
	CU_ASSERT_EQUAL(l->first_message_ms, 2500);	/* follows heartbeat */
	CU_ASSERT_EQUAL(l->deadline_ms, 2);
	CU_ASSERT_EQUAL(l->frame_timeout_ms, 1);
	CU_ASSERT_EQUAL(l->write_timeout_ms, 0);
	l = &cfg.listeners[1];
	CU_ASSERT_EQUAL(l->heartbeat_ms, 0);
	CU_ASSERT_EQUAL(l->first_message_ms, 2592000000u);
	CU_ASSERT_EQUAL(l->deadline_ms, 86400000u);
	config_free(&cfg);
}

static void
test_every_key_set_explicitly_is_stored(void)
{
	struct config cfg;
	char err[512] = "";
	const struct listener_conf *l;

	CU_ASSERT_EQUAL_FATAL(load_text(
	    "workers = 3;\n"					/* 1 */
	    "event_backend = \"poll\";\n"
	    "pid_file = \"/var/run/x.pid\";\n"
	    "stats_path = \"/dev/shm/x.shm\";\n"
	    "user = \"nobody\";\n"				/* 5 */
	    "group = \"nogroup\";\n"
	    "hung_timeout = 3600;\n"
	    "stats_interval = 86400;\n"
	    "shutdown_timeout = 1.25;\n"
	    "log = { target = \"syslog\"; level = \"debug\"; facility = \"local7\"; };\n"
	    "limits = { max_connections = 5000000000L; max_frame = 1073741824;\n"
	    "  max_output = 17179869184L; backlog = 65535; };\n"
	    "timer = { tick_ms = 1000; slots = 1048576; };\n"
	    "listeners = (\n"
	    "  { name = \"A-z_0.9\"; address = \"::1\"; port = 65535;\n"	/* 15 */
	    "    codec = \"headers\";\n"
	    "    handler = \"log\";\n"				/* 17 */
	    "    magic = \"0123456789abcdef\";\n"
	    "    first_message_timeout = 0; }\n"
	    ");\n", &cfg, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(cfg.workers, 3);
	CU_ASSERT_EQUAL(cfg.backend, EVB_POLL);
	CU_ASSERT_STRING_EQUAL(cfg.pid_file, "/var/run/x.pid");
	CU_ASSERT_STRING_EQUAL(cfg.stats_path, "/dev/shm/x.shm");
	CU_ASSERT_STRING_EQUAL(cfg.user, "nobody");
	CU_ASSERT_STRING_EQUAL(cfg.group, "nogroup");
	CU_ASSERT_EQUAL(cfg.hung_timeout_ms, 3600000);
	CU_ASSERT_EQUAL(cfg.stats_interval_s, 86400);
	CU_ASSERT_EQUAL(cfg.shutdown_timeout_ms, 1250);
	CU_ASSERT_STRING_EQUAL(cfg.log_target, "syslog");
	CU_ASSERT_EQUAL(cfg.log_level, LOG_LVL_DEBUG);
	CU_ASSERT_EQUAL(cfg.log_facility, LOG_LOCAL7);
	CU_ASSERT_EQUAL(cfg.max_connections, 5000000000ULL);
	CU_ASSERT_EQUAL(cfg.max_frame, 1073741824ULL);
	CU_ASSERT_EQUAL(cfg.max_output, 1ULL << 34);
	CU_ASSERT_EQUAL(cfg.backlog, 65535);
	CU_ASSERT_EQUAL(cfg.tick_ms, 1000);
	CU_ASSERT_EQUAL(cfg.slots, 1048576);
	CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 1);
	l = &cfg.listeners[0];
	CU_ASSERT_STRING_EQUAL(l->name, "A-z_0.9");
	CU_ASSERT_STRING_EQUAL(l->address, "::1");
	CU_ASSERT_EQUAL(l->port, 65535);
	CU_ASSERT_EQUAL(l->codec, CODEC_HEADERS);
	CU_ASSERT_STRING_EQUAL(l->handler, "log");
	CU_ASSERT_EQUAL(l->handler_line, 17);
	CU_ASSERT_EQUAL(l->magic_len, 16);
	CU_ASSERT(memcmp(l->magic, "0123456789abcdef", 16) == 0);
	CU_ASSERT_EQUAL(l->first_message_ms, 0);
	config_free(&cfg);
}

static void
test_relative_paths_are_made_absolute_against_cwd(void)
{
	struct config cfg;
	char err[512] = "", want[PATH_MAX];

	CU_ASSERT_EQUAL_FATAL(load_text(
	    "pid_file = \"run/x.pid\";\n"
	    "stats_path = \"./x.shm\";\n"
	    "log = { target = \"logs/sockserv.log\"; };\n"
	    ONE_LISTENER, &cfg, err, sizeof(err)), 0);
	cwd_join("run/x.pid", want, sizeof(want));
	CU_ASSERT_STRING_EQUAL(cfg.pid_file, want);
	cwd_join("x.shm", want, sizeof(want));
	CU_ASSERT_STRING_EQUAL(cfg.stats_path, want);
	cwd_join("logs/sockserv.log", want, sizeof(want));
	CU_ASSERT_STRING_EQUAL(cfg.log_target, want);
	config_free(&cfg);

	/* absolute paths and the special targets are kept as written */
	CU_ASSERT_EQUAL_FATAL(load_text(
	    "log = { target = \"/var/log/s.log\"; };\n"
	    ONE_LISTENER, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(cfg.log_target, "/var/log/s.log");
	config_free(&cfg);
}

static void
test_addresses_and_shared_ports(void)
{
	struct config cfg;
	char err[512] = "";

	/* distinct specific addresses may share a port, across families too */
	CU_ASSERT_EQUAL_FATAL(load_text(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 7000; },\n"
	    "  { name = \"b\"; address = \"127.0.0.2\"; port = 7000; },\n"
	    "  { name = \"c\"; address = \"::1\"; port = 7000; },\n"
	    "  { name = \"d\"; address = \"*\"; port = 7001; },\n"
	    "  { name = \"e\"; address = \"::\"; port = 7002; },\n"
	    "  { name = \"f\"; address = \"0.0.0.0\"; port = 7003; }\n"
	    ");\n", &cfg, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 6);
	CU_ASSERT_STRING_EQUAL(cfg.listeners[2].address, "::1");
	CU_ASSERT_STRING_EQUAL(cfg.listeners[3].address, "*");
	config_free(&cfg);
}

static void
test_names_of_codecs_and_backends(void)
{
	CU_ASSERT_STRING_EQUAL(config_codec_name(CODEC_FRAME), "frame");
	CU_ASSERT_STRING_EQUAL(config_codec_name(CODEC_RAW), "raw");
	CU_ASSERT_STRING_EQUAL(config_codec_name(CODEC_HEADERS), "headers");
	CU_ASSERT_STRING_EQUAL(config_backend_name(EVB_EPOLL), "epoll");
	CU_ASSERT_STRING_EQUAL(config_backend_name(EVB_POLL), "poll");
}

static void
test_missing_file_is_reported_without_a_line(void)
{
	struct config cfg;
	char path[PATH_MAX], want[PATH_MAX + 64], err[512];

	snprintf(path, sizeof(path), "%s/does-not-exist.cfg", tmpdir);
	snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
	CU_ASSERT_EQUAL(config_load(path, &cfg, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_PTR_NULL(cfg.listeners);

	/* a directory is not a config file either */
	snprintf(want, sizeof(want), "%s: %s", tmpdir, strerror(EISDIR));
	CU_ASSERT_EQUAL(config_load(tmpdir, &cfg, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, want);
}

static void
test_syntax_error_blames_libconfigs_line(void)
{
	EXPECT_ERROR(
	    "workers = 2;\n"
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = ; }\n"
	    ");\n", 3, "syntax error");
	EXPECT_ERROR(
	    "workers = 2;\n"
	    "workers = 3;\n"
	    ONE_LISTENER, 2, "duplicate setting");
}

static void
test_unknown_keys_are_errors_at_every_level(void)
{
	EXPECT_ERROR(
	    "workers = 2;\n"
	    "wrokers = 3;\n"
	    ONE_LISTENER, 2, "unknown key 'wrokers'");
	EXPECT_ERROR(
	    ONE_LISTENER
	    "limits = {\n"
	    "  backlog = 10;\n"
	    "  max_conections = 5;\n"
	    "};\n", 4, "unknown key 'max_conections'");
	EXPECT_ERROR(
	    "log = { level = \"info\"; file = \"x\"; };\n"
	    ONE_LISTENER, 1, "unknown key 'file'");
	EXPECT_ERROR(
	    "timer = { tick = 5; };\n"
	    ONE_LISTENER, 1, "unknown key 'tick'");
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "    heartbeat = 5; }\n"
	    ");\n", 3, "unknown key 'heartbeat'");
}

static void
test_wrong_types_name_the_expected_type(void)
{
	EXPECT_ERROR(
	    ONE_LISTENER
	    "workers = 2.0;\n", 2, "'workers' must be an integer");
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = \"7000\"; }\n"
	    ");\n", 2, "'port' must be an integer");
	EXPECT_ERROR(
	    "stats_interval = 1.5;\n"
	    ONE_LISTENER, 1, "'stats_interval' must be an integer");
	EXPECT_ERROR(
	    "hung_timeout = \"10\";\n"
	    ONE_LISTENER, 1, "'hung_timeout' must be a number");
	EXPECT_ERROR(
	    ONE_LISTENER
	    "pid_file = 5;\n", 2, "'pid_file' must be a string");
	EXPECT_ERROR(
	    "log = \"stderr\";\n"
	    ONE_LISTENER, 1, "'log' must be a group");
	EXPECT_ERROR(
	    "limits = { backlog = true; };\n"
	    ONE_LISTENER, 1, "'backlog' must be an integer");
	EXPECT_ERROR(
	    "listeners = { name = \"a\"; };\n", 1, "'listeners' must be a list");
	EXPECT_ERROR(
	    "listeners = ( 5 );\n", 1, "must be a group");
}

static void
test_out_of_range_values_name_the_range(void)
{
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 70000; }\n"
	    ");\n", 2, "between 1 and 65535");
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 0; }\n"
	    ");\n", 2, "between 1 and 65535");
	EXPECT_ERROR(
	    ONE_LISTENER
	    "timer = {\n"
	    "  tick_ms = 0;\n"
	    "};\n", 3, "'tick_ms' must be between 1 and 1000");
	EXPECT_ERROR(
	    ONE_LISTENER
	    "timer = { slots = 100; };\n", 2, "power of two");
	EXPECT_ERROR(
	    ONE_LISTENER
	    "timer = { slots = 2097152; };\n", 2, "between 1 and 1048576");
	EXPECT_ERROR(
	    "workers = 999;\n"
	    ONE_LISTENER, 1, "'workers' must be between 0 and 256");
	EXPECT_ERROR(
	    "limits = { max_output = 1023; };\n"
	    ONE_LISTENER, 1, "between 1024 and 17179869184");
	EXPECT_ERROR(
	    "limits = { max_connections = 0; };\n"
	    ONE_LISTENER, 1, "'max_connections' must be at least 1");
	EXPECT_ERROR(
	    "hung_timeout = 0;\n"
	    ONE_LISTENER, 1, "greater than 0 and at most 3600");
	EXPECT_ERROR(
	    "shutdown_timeout = -1;\n"
	    ONE_LISTENER, 1, "between 0 and 86400");
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "    write_timeout = 2592000.5; }\n"
	    ");\n", 3, "between 0 and 2592000");
	/* would round to 0 ms, which means "off" */
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "    deadline = 0.0001; }\n"
	    ");\n", 3, "at least 0.001");
}

/* limits.max_buffer_memory: per-worker bytes, 256 MiB unless set, 1 MiB .. 1 TiB */
static void
test_max_buffer_memory_default_range_and_value(void)
{
	struct config cfg;
	char err[512] = "";

	CU_ASSERT_EQUAL_FATAL(load_text(ONE_LISTENER, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg.max_buffer_memory, 268435456);
	config_free(&cfg);
	CU_ASSERT_EQUAL_FATAL(load_text(
	    "limits = { max_buffer_memory = 1099511627776L; };\n"
	    ONE_LISTENER, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg.max_buffer_memory, 1ULL << 40);
	config_free(&cfg);
	CU_ASSERT_EQUAL_FATAL(load_text(
	    "limits = { max_buffer_memory = 1048576; };\n"
	    ONE_LISTENER, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg.max_buffer_memory, 1048576);
	config_free(&cfg);
	EXPECT_ERROR(
	    ONE_LISTENER
	    "limits = {\n"
	    "  max_buffer_memory = 1048575;\n"
	    "};\n", 3, "'max_buffer_memory' must be between 1048576 and 1099511627776");
	EXPECT_ERROR(
	    "limits = { max_buffer_memory = 1099511627777L; };\n"
	    ONE_LISTENER, 1, "between 1048576 and 1099511627776");
	EXPECT_ERROR(
	    "limits = { max_buffer_memory = \"lots\"; };\n"
	    ONE_LISTENER, 1, "max_buffer_memory");
}

/* limits.max_conns_per_ip (0 = off), limits.ip_table_size (16..1048576, 65536), accept_rate/burst */
static void
test_admission_keys_defaults_ranges_and_values(void)
{
	struct config cfg;
	char err[512] = "";

	CU_ASSERT_EQUAL_FATAL(load_text(ONE_LISTENER, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg.max_conns_per_ip, 0);
	CU_ASSERT_EQUAL(cfg.ip_table_size, 65536);
	CU_ASSERT_EQUAL(cfg.listeners[0].accept_rate, 0);
	CU_ASSERT_EQUAL(cfg.listeners[0].accept_burst, 0);
	config_free(&cfg);
	CU_ASSERT_EQUAL_FATAL(load_text(
	    "limits = { max_conns_per_ip = 3; ip_table_size = 16; };\n"
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  accept_rate = 5; accept_burst = 1000000; } );\n", &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg.max_conns_per_ip, 3);
	CU_ASSERT_EQUAL(cfg.ip_table_size, 16);
	CU_ASSERT_EQUAL(cfg.listeners[0].accept_rate, 5);
	CU_ASSERT_EQUAL(cfg.listeners[0].accept_burst, 1000000);
	config_free(&cfg);
	EXPECT_ERROR("limits = { ip_table_size = 15; };\n" ONE_LISTENER, 1,
	    "'ip_table_size' must be between 16 and 1048576");
	EXPECT_ERROR("limits = { ip_table_size = 1048577; };\n" ONE_LISTENER, 1,
	    "'ip_table_size' must be between 16 and 1048576");
	EXPECT_ERROR("limits = { max_conns_per_ip = -1; };\n" ONE_LISTENER, 1,
	    "'max_conns_per_ip' must be between 0 and");
	EXPECT_ERROR(
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  accept_rate = 1000001; } );\n", 2, "'accept_rate' must be between 0 and 1000000");
	EXPECT_ERROR(
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  accept_burst = -1; } );\n", 2, "'accept_burst' must be between 0 and 1000000");
}

static void
test_integer_wider_than_32_bits_needs_L(void)
{
	/* libconfig 1.5 would silently wrap this one to 1024 */
	EXPECT_ERROR(
	    ONE_LISTENER
	    "# 4294968320 in a comment is fine\n"
	    "pid_file = \"/tmp/4294968320\";\n"
	    "limits = { max_output = 4294968320; };\n", 4,
	    "write 4294968320L");
	EXPECT_ERROR(
	    ONE_LISTENER
	    "limits = { max_connections = 99999999999999999999L; };\n", 2,
	    "does not fit in 64 bits");
}

/*
 * An @include'd file is read by the same libconfig that wraps wide
 * integers: its literals are checked too, and the error names that file
 * and its line (4294967297 used to become max_frame 1).
 */
static void
test_integers_in_included_files_are_checked(void)
{
	char inc[PATH_MAX], nested[PATH_MAX], main_text[3 * PATH_MAX], want[PATH_MAX + 64];
	char path[PATH_MAX], err[512];
	struct config cfg;

	write_cfg("# limits for all servers\n"
	    "\n"
	    "max_frame = 4294967297;\n", inc, sizeof(inc));
	snprintf(main_text, sizeof(main_text),
	    ONE_LISTENER
	    "limits = {\n"
	    "  @include \"%s\"\n"
	    "};\n", inc);
	write_cfg(main_text, path, sizeof(path));
	CU_ASSERT_EQUAL(config_load(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:3: integer 4294967297 does not fit in 32 bits", inc);
	CU_ASSERT_NSTRING_EQUAL(err, want, strlen(want));

	/* two levels down, after a directive indented with a tab */
	snprintf(main_text, sizeof(main_text), "\t@include \"%s\"\n", inc);
	write_cfg(main_text, nested, sizeof(nested));
	snprintf(main_text, sizeof(main_text),
	    ONE_LISTENER
	    "limits = {\n"
	    "@include \"%s\"\n"
	    "};\n", nested);
	write_cfg(main_text, path, sizeof(path));
	CU_ASSERT_EQUAL(config_load(path, &cfg, err, sizeof(err)), -1);
	CU_ASSERT_NSTRING_EQUAL(err, want, strlen(want));

	/* a value that fits is range-checked like one in the main file, at its own line */
	write_cfg("\nmax_frame = 0;\n", inc, sizeof(inc));
	snprintf(main_text, sizeof(main_text),
	    ONE_LISTENER "limits = {\n@include \"%s\"\n};\n", inc);
	write_cfg(main_text, path, sizeof(path));
	CU_ASSERT_EQUAL(config_load(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: 'max_frame' must be between 1 and", inc);
	CU_ASSERT_NSTRING_EQUAL(err, want, strlen(want));

	/* and a good included file loads, with the L suffix for 64 bits */
	write_cfg("max_frame = 4096;\nmax_output = 4294968320L;\n", inc, sizeof(inc));
	snprintf(main_text, sizeof(main_text),
	    ONE_LISTENER "limits = {\n@include \"%s\"\n};\n", inc);
	write_cfg(main_text, path, sizeof(path));
	CU_ASSERT_EQUAL_FATAL(config_load(path, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg.max_frame, 4096);
	CU_ASSERT_EQUAL(cfg.max_output, 4294968320ULL);
	config_free(&cfg);
}

/*
 * A healthy idle worker's loop stamp is up to a tick old when the master
 * looks: a hung_timeout inside two ticks plus 200 ms would replace healthy
 * workers in a loop, so it is refused with its line.
 */
static void
test_hung_timeout_must_cover_two_ticks_and_a_margin(void)
{
	struct config cfg;
	char err[512];

	EXPECT_ERROR(
	    ONE_LISTENER
	    "hung_timeout = 1;\n"
	    "timer = { tick_ms = 1000; };\n", 2,
	    "'hung_timeout' must be at least 2 * timer.tick_ms + 200 ms = 2.2 seconds");
	/* the default tick (100 ms): 0.4 s is the least */
	EXPECT_ERROR(
	    "hung_timeout = 0.399;\n"
	    ONE_LISTENER, 1, "must be at least 2 * timer.tick_ms + 200 ms = 0.4 seconds");
	/* the default hung_timeout (10 s) covers the longest tick */
	CU_ASSERT_EQUAL(load_text(ONE_LISTENER
	    "timer = { tick_ms = 1000; };\n", &cfg, err, sizeof(err)), 0);
	config_free(&cfg);
	CU_ASSERT_EQUAL(load_text(ONE_LISTENER
	    "hung_timeout = 2.2;\n"
	    "timer = { tick_ms = 1000; };\n", &cfg, err, sizeof(err)), 0);
	config_free(&cfg);
	CU_ASSERT_EQUAL(load_text("hung_timeout = 0.4;\n" ONE_LISTENER, &cfg, err,
	    sizeof(err)), 0);
	config_free(&cfg);
}

static void
test_unknown_enum_values_are_errors(void)
{
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "    codec = \"json\"; }\n"
	    ");\n", 3, "unknown codec 'json'");
	EXPECT_ERROR(
	    "workers = 1;\n"
	    "event_backend = \"kqueue\";\n"
	    ONE_LISTENER, 2, "unknown event_backend 'kqueue'");
	EXPECT_ERROR(
	    "log = {\n"
	    "  level = \"verbose\";\n"
	    "};\n"
	    ONE_LISTENER, 2, "unknown log level 'verbose'");
	EXPECT_ERROR(
	    "log = { facility = \"local8\"; };\n"
	    ONE_LISTENER, 1, "unknown log facility 'local8'");
}

static void
test_listener_names_must_be_valid_and_unique(void)
{
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 7000; },\n"
	    "  { address = \"127.0.0.1\"; port = 7001;\n"
	    "    name = \"a\"; }\n"
	    ");\n", 4, "duplicate listener name 'a'");
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"has space\"; address = \"127.0.0.1\"; port = 7000; }\n"
	    ");\n", 2, "'name' must be");
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"\"; address = \"127.0.0.1\"; port = 7000; }\n"
	    ");\n", 2, "'name' must be");
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { address = \"127.0.0.1\"; port = 7000; }\n"
	    ");\n", 2, "missing required key 'name'");
}

static void
test_overlapping_ports_are_errors(void)
{
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 7000; },\n"
	    "  { name = \"b\"; address = \"127.0.0.1\";\n"
	    "    port = 7000; }\n"
	    ");\n", 4, "overlaps listener 'a'");
	/* the same address spelt differently is still the same address */
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"::1\"; port = 7000; },\n"
	    "  { name = \"b\"; address = \"0:0::1\"; port = 7000; }\n"
	    ");\n", 3, "overlaps listener 'a'");
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 7000; },\n"
	    "  { name = \"b\"; address = \"*\"; port = 7000; }\n"
	    ");\n", 3, "overlaps listener 'a'");
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"0.0.0.0\"; port = 7000; },\n"
	    "  { name = \"b\"; address = \"::1\"; port = 7000; }\n"
	    ");\n", 3, "overlaps listener 'a'");
}

static void
test_bad_addresses_are_errors(void)
{
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"localhost\"; port = 7000; }\n"
	    ");\n", 2, "'address' must be an IPv4 or IPv6 literal");
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.256\"; port = 7000; }\n"
	    ");\n", 2, "'127.0.0.256'");
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; port = 7000; }\n"
	    ");\n", 2, "missing required key 'address'");
}

static void
test_magic_only_on_headers_and_at_most_16_bytes(void)
{
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "    magic = \"Headers\"; }\n"
	    ");\n", 3, "only allowed with codec \"headers\"");
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "    codec = \"raw\"; magic = \"X\"; }\n"
	    ");\n", 3, "only allowed with codec \"headers\"");
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "    codec = \"headers\";\n"
	    "    magic = \"0123456789abcdefg\"; }\n"
	    ");\n", 4, "'magic' must be 1..16 bytes");
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "    codec = \"headers\"; magic = \"\"; }\n"
	    ");\n", 3, "'magic' must be 1..16 bytes");
}

static void
test_listeners_are_required_and_bounded(void)
{
	char *text, *p;
	size_t size = 64 * 128 + 64;

	EXPECT_ERROR(
	    "workers = 1;\n", 0, "missing required key 'listeners'");
	EXPECT_ERROR(
	    "workers = 1;\n"
	    "listeners = ( );\n", 2, "'listeners' must have between 1 and 64");
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 7000; },\n"
	    "  { name = \"b\";\n"
	    "    address = \"127.0.0.1\"; }\n"
	    ");\n", 3, "listener 'b' is missing required key 'port'");

	/* 65 listeners, one over the limit */
	text = malloc(size);
	CU_ASSERT_FATAL(text != NULL);
	p = text + sprintf(text, "listeners = (\n");
	for (int i = 0; i < 65; i++)
		p += sprintf(p, "{ name = \"l%d\"; address = \"127.0.0.1\"; "
		    "port = %d; }%s\n", i, 7000 + i, i < 64 ? "," : "");
	sprintf(p, ");\n");
	EXPECT_ERROR(text, 1, "between 1 and 64 entries (got 65)");
	free(text);
}

/*
 * user, group and log.target are judged at run time (does the user exist,
 * does the log file open), so their lines are kept for the message then.
 */
static void
test_runtime_keys_remember_their_lines(void)
{
	struct config cfg;
	char err[512] = "";

	CU_ASSERT_EQUAL_FATAL(load_text(
	    "workers = 1;\n"					/* 1 */
	    "\n"						/* 2 */
	    "group = \"daemon\";\n"				/* 3 */
	    "log = {\n"						/* 4 */
	    "  level = \"info\";\n"				/* 5 */
	    "  target = \"/var/log/sockserv.log\";\n"		/* 6 */
	    "};\n"						/* 7 */
	    "user = \"nobody\";\n"				/* 8 */
	    ONE_LISTENER, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg.user_line, 8);
	CU_ASSERT_EQUAL(cfg.group_line, 3);
	CU_ASSERT_EQUAL(cfg.log_target_line, 6);
	config_free(&cfg);

	/* a log group without a target: the target is the default, no line */
	CU_ASSERT_EQUAL_FATAL(load_text(
	    "log = { level = \"debug\"; };\n"
	    "user = \"nobody\";\n"
	    ONE_LISTENER, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg.user_line, 2);
	CU_ASSERT_EQUAL(cfg.group_line, 0);
	CU_ASSERT_EQUAL(cfg.log_target_line, 0);
	config_free(&cfg);
}

/* messages name the file as given; path is absolute for a reload after chdir("/") */
static void
test_display_path_is_the_path_as_given(void)
{
	struct config cfg;
	char path[PATH_MAX], cwd[PATH_MAX], rel[PATH_MAX], want[PATH_MAX + 64];
	char err[512] = "";
	int loaded;

	write_cfg(ONE_LISTENER, path, sizeof(path));
	CU_ASSERT_FATAL(getcwd(cwd, sizeof(cwd)) != NULL);
	CU_ASSERT_FATAL(chdir(tmpdir) == 0);
	/* "./tN.cfg" relative to tmpdir */
	snprintf(rel, sizeof(rel), ".%s", strrchr(path, '/'));
	cwd_join(rel + 2, want, sizeof(want));
	loaded = config_load(rel, &cfg, err, sizeof(err));
	CU_ASSERT_FATAL(chdir(cwd) == 0);
	CU_ASSERT_EQUAL_FATAL(loaded, 0);
	CU_ASSERT_STRING_EQUAL(cfg.display_path, rel);
	CU_ASSERT_STRING_EQUAL(cfg.path, want);
	config_free(&cfg);

	/* and errors name it that way too */
	write_cfg("junk = 1;\n" ONE_LISTENER, path, sizeof(path));
	snprintf(rel, sizeof(rel), ".%s", strrchr(path, '/'));
	snprintf(want, sizeof(want), "%s:1: unknown key 'junk'", rel);
	CU_ASSERT_FATAL(chdir(tmpdir) == 0);
	loaded = config_load(rel, &cfg, err, sizeof(err));
	CU_ASSERT_FATAL(chdir(cwd) == 0);
	CU_ASSERT_EQUAL(loaded, -1);
	CU_ASSERT_STRING_EQUAL(err, want);
}

static void
test_peek_paths_reads_pid_file_and_stats_path(void)
{
	char path[PATH_MAX], pid[CONFIG_PATH_MAX], stats[CONFIG_PATH_MAX];
	char want[PATH_MAX], err[512];

	write_cfg(
	    "pid_file = \"run/x.pid\";\n"
	    "stats_path = \"/var/tmp/x.shm\";\n"
	    ONE_LISTENER, path, sizeof(path));
	CU_ASSERT_EQUAL_FATAL(config_peek_paths(path, pid, stats, sizeof(pid), err,
	    sizeof(err)), 0);
	/* resolved against the cwd exactly as config_load does */
	cwd_join("run/x.pid", want, sizeof(want));
	CU_ASSERT_STRING_EQUAL(pid, want);
	CU_ASSERT_STRING_EQUAL(stats, "/var/tmp/x.shm");

	/* absent: config_load's defaults; either output may be left out */
	write_cfg(ONE_LISTENER, path, sizeof(path));
	CU_ASSERT_EQUAL_FATAL(config_peek_paths(path, pid, NULL, sizeof(pid), err,
	    sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(pid, "/run/sockserv/sockserv.pid");
	CU_ASSERT_EQUAL_FATAL(config_peek_paths(path, NULL, stats, sizeof(stats), err,
	    sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(stats, "/run/sockserv/sockserv.shm");
}

/*
 * An operator halfway through an edit: the file no longer loads, but it
 * still names the running server's files.
 */
static void
test_peek_paths_ignores_mistakes_the_server_would_refuse(void)
{
	static const char *const bad[] = {
		"junk = 1;\n",
		"workers = 9999;\n",
		"log = { level = \"loud\"; };\n",
		"listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 70000; } );\n",
	};
	char path[PATH_MAX], text[1024], pid[CONFIG_PATH_MAX], stats[CONFIG_PATH_MAX];
	char err[512];
	struct config cfg;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
		    "pid_file = \"/srv/a.pid\";\n"
		    "stats_path = \"/srv/a.shm\";\n"
		    "%s%s", bad[i], i == 3 ? "" : ONE_LISTENER);
		write_cfg(text, path, sizeof(path));
		CU_ASSERT_EQUAL(config_load(path, &cfg, err, sizeof(err)), -1);
		pid[0] = stats[0] = '\0';
		CU_ASSERT_EQUAL(config_peek_paths(path, pid, stats, sizeof(pid), err,
		    sizeof(err)), 0);
		CU_ASSERT_STRING_EQUAL(pid, "/srv/a.pid");
		CU_ASSERT_STRING_EQUAL(stats, "/srv/a.shm");
	}
}

static void
test_peek_paths_fails_on_what_it_cannot_parse(void)
{
	char path[PATH_MAX], want[PATH_MAX + 64], pid[CONFIG_PATH_MAX], err[512];

	/* libconfig's syntax error, with its line */
	write_cfg(
	    "pid_file = \"/srv/a.pid\";\n"
	    "limits = { max_connections = ; };\n"
	    ONE_LISTENER, path, sizeof(path));
	CU_ASSERT_EQUAL(config_peek_paths(path, pid, NULL, sizeof(pid), err,
	    sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: ", path);
	CU_ASSERT_NSTRING_EQUAL(err, want, strlen(want));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "syntax error"));

	/* a pid_file that is not a path names nothing */
	write_cfg(
	    "workers = 1;\n"
	    "pid_file = 42;\n"
	    ONE_LISTENER, path, sizeof(path));
	CU_ASSERT_EQUAL(config_peek_paths(path, pid, NULL, sizeof(pid), err,
	    sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: 'pid_file' must be a string", path);
	CU_ASSERT_STRING_EQUAL(err, want);

	/* no file */
	snprintf(path, sizeof(path), "%s/does-not-exist.cfg", tmpdir);
	snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
	CU_ASSERT_EQUAL(config_peek_paths(path, pid, NULL, sizeof(pid), err,
	    sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, want);

	/* an output buffer too small is an error, not a cut path */
	write_cfg("pid_file = \"/a/rather/long/path.pid\";\n", path, sizeof(path));
	CU_ASSERT_EQUAL(config_peek_paths(path, pid, NULL, 8, err, sizeof(err)), -1);
}

static void
test_backends_are_parsed_with_defaults(void)
{
	struct config cfg;
	char err[512] = "", want[PATH_MAX];
	const struct backend_conf *b;

	CU_ASSERT_EQUAL_FATAL(load_text(
	    "node_id = 7;\n"
	    "backends = (\n"
	    "  { name = \"app\"; address = \"unix:run/app.sock\"; },\n"
	    "  { name = \"b2\"; address = \"127.0.0.1:9000\"; on_down = \"close\";\n"
	    "    max_pending = 65536; reconnect_min = 0.5; reconnect_max = 0.5;\n"
	    "    link_timeout = 2.5; },\n"
	    "  { name = \"b3\"; address = \"[::1]:9001\"; on_down = \"refuse\"; }\n"
	    ");\n"
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "    handler = \"backend\"; backend = \"b2\"; },\n"
	    "  { name = \"e\"; address = \"127.0.0.1\"; port = 7001; }\n"
	    ");\n", &cfg, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(cfg.node_id, 7);
	CU_ASSERT_EQUAL_FATAL(cfg.nbackends, 3);
	b = &cfg.backends[0];
	CU_ASSERT_STRING_EQUAL(b->name, "app");
	CU_ASSERT_STRING_EQUAL(b->address, "unix:run/app.sock");
	CU_ASSERT(b->is_unix);
	cwd_join("run/app.sock", want, sizeof(want));
	CU_ASSERT_STRING_EQUAL(b->unix_path, want);
	CU_ASSERT_EQUAL(b->on_down, ON_DOWN_HOLD);
	CU_ASSERT_EQUAL(b->max_pending, 4194304);
	CU_ASSERT_EQUAL(b->reconnect_min_ms, 100);
	CU_ASSERT_EQUAL(b->reconnect_max_ms, 5000);
	CU_ASSERT_EQUAL(b->link_timeout_ms, 10000);
	b = &cfg.backends[1];
	CU_ASSERT(!b->is_unix);
	CU_ASSERT(!b->ip_v6);
	CU_ASSERT_EQUAL(b->port, 9000);
	CU_ASSERT(memcmp(b->ip, "\x7f\0\0\x01", 4) == 0);
	CU_ASSERT_EQUAL(b->on_down, ON_DOWN_CLOSE);
	CU_ASSERT_EQUAL(b->max_pending, 65536);
	CU_ASSERT_EQUAL(b->reconnect_min_ms, 500);
	CU_ASSERT_EQUAL(b->reconnect_max_ms, 500);
	CU_ASSERT_EQUAL(b->link_timeout_ms, 2500);
	b = &cfg.backends[2];
	CU_ASSERT(b->ip_v6);
	CU_ASSERT_EQUAL(b->port, 9001);
	CU_ASSERT_EQUAL(b->on_down, ON_DOWN_REFUSE);
	CU_ASSERT_EQUAL(cfg.listeners[0].backend, 1);
	CU_ASSERT_EQUAL(cfg.listeners[1].backend, -1);
	CU_ASSERT_STRING_EQUAL(config_on_down_name(ON_DOWN_REFUSE), "refuse");
	config_free(&cfg);
	CU_ASSERT_PTR_NULL(cfg.backends);

	/* no backends at all: node 0, none */
	CU_ASSERT_EQUAL_FATAL(load_text(ONE_LISTENER, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg.node_id, 0);
	CU_ASSERT_EQUAL(cfg.nbackends, 0);
	CU_ASSERT_EQUAL(cfg.listeners[0].backend, -1);
	config_free(&cfg);
}

static void
test_backend_mistakes_are_errors_at_their_line(void)
{
	EXPECT_ERROR("node_id = 65536;\n" ONE_LISTENER, 1, "'node_id' must be between 0 and 65535");
	EXPECT_ERROR(
	    "backends = (\n"
	    "  { name = \"app\"; address = \"unix:/a\"; },\n"
	    "  { address = \"unix:/b\";\n"
	    "    name = \"app\"; }\n"
	    ");\n" ONE_LISTENER, 4, "duplicate backend name 'app'");
	EXPECT_ERROR(
	    "backends = ( { name = \"app\";\n"
	    "  address = \"localhost:9000\"; } );\n" ONE_LISTENER, 2, "'address' must be");
	EXPECT_ERROR(
	    "backends = ( { name = \"app\";\n"
	    "  address = \"127.0.0.1:0\"; } );\n" ONE_LISTENER, 2, "'address' must be");
	EXPECT_ERROR(
	    "backends = ( { name = \"app\";\n"
	    "  address = \"::1:9000\"; } );\n" ONE_LISTENER, 2, "'address' must be");
	EXPECT_ERROR(
	    "backends = ( { name = \"app\"; } );\n" ONE_LISTENER, 1,
	    "missing required key 'address'");
	EXPECT_ERROR(
	    "backends = ( { name = \"app\"; address = \"unix:/a\";\n"
	    "  on_down = \"drop\"; } );\n" ONE_LISTENER, 2, "unknown on_down 'drop'");
	EXPECT_ERROR(
	    "backends = ( { name = \"app\"; address = \"unix:/a\";\n"
	    "  max_pending = 100; } );\n" ONE_LISTENER, 2, "'max_pending' must be between");
	EXPECT_ERROR(
	    "backends = ( { name = \"app\"; address = \"unix:/a\";\n"
	    "  reconnect_max = 1;\n"
	    "  reconnect_min = 2; } );\n" ONE_LISTENER, 3, "must not exceed 'reconnect_max'");
	EXPECT_ERROR(
	    "backends = ( { name = \"app\"; address = \"unix:/a\";\n"
	    "  link_timeout = 0; } );\n" ONE_LISTENER, 2, "'link_timeout' must be greater than 0");
	EXPECT_ERROR(
	    "backends = ( { name = \"app\"; address = \"unix:/a\";\n"
	    "  typo = 1; } );\n" ONE_LISTENER, 2, "unknown key 'typo'");
	/* listeners and backends */
	EXPECT_ERROR(
	    "backends = ( { name = \"app\"; address = \"unix:/a\"; } );\n"
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  handler = \"backend\";\n"
	    "  backend = \"other\"; } );\n", 4, "names unknown backend 'other'");
	EXPECT_ERROR(
	    "backends = ( { name = \"app\"; address = \"unix:/a\"; } );\n"
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  handler = \"backend\"; } );\n", 3, "missing required key 'backend'");
	EXPECT_ERROR(
	    "backends = ( { name = \"app\"; address = \"unix:/a\"; } );\n"
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  backend = \"app\"; } );\n", 3,
	    "'backend' is only allowed with handler \"backend\"");
}

/* tcp_keepalive, tcp_user_timeout, sndbuf, rcvbuf: off unless written */
static void
test_tcp_options_are_stored_and_off_by_default(void)
{
	struct config cfg;
	char err[512] = "";
	const struct listener_conf *l;

	CU_ASSERT_EQUAL_FATAL(load_text(
	    "listeners = (\n"
	    "  { name = \"plain\"; address = \"127.0.0.1\"; port = 7000; },\n"
	    "  { name = \"all\"; address = \"127.0.0.1\"; port = 7001;\n"
	    "    tcp_keepalive = { idle = 60; interval = 10; count = 5; };\n"
	    "    tcp_user_timeout = 30; sndbuf = 65536; rcvbuf = 131072; },\n"
	    "  { name = \"part\"; address = \"127.0.0.1\"; port = 7002;\n"
	    "    tcp_keepalive = { interval = 32767; count = 127; };\n"
	    "    tcp_user_timeout = 2.5; sndbuf = 4096; },\n"
	    "  { name = \"bare\"; address = \"127.0.0.1\"; port = 7003;\n"
	    "    tcp_keepalive = { idle = 32767; }; tcp_user_timeout = 0;\n"
	    "    rcvbuf = 1073741824; },\n"
	    "  { name = \"empty\"; address = \"127.0.0.1\"; port = 7004;\n"
	    "    tcp_keepalive = { }; }\n"
	    ");\n", &cfg, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 5);

	l = &cfg.listeners[0];
	CU_ASSERT_EQUAL(l->keepalive, 0);
	CU_ASSERT_EQUAL(l->keepalive_idle_s, 0);
	CU_ASSERT_EQUAL(l->keepalive_interval_s, 0);
	CU_ASSERT_EQUAL(l->keepalive_count, 0);
	CU_ASSERT_EQUAL(l->user_timeout_ms, 0);
	CU_ASSERT_EQUAL(l->sndbuf, 0);
	CU_ASSERT_EQUAL(l->rcvbuf, 0);

	l = &cfg.listeners[1];
	CU_ASSERT_EQUAL(l->keepalive, 1);
	CU_ASSERT_EQUAL(l->keepalive_idle_s, 60);
	CU_ASSERT_EQUAL(l->keepalive_interval_s, 10);
	CU_ASSERT_EQUAL(l->keepalive_count, 5);
	CU_ASSERT_EQUAL(l->user_timeout_ms, 30000);
	CU_ASSERT_EQUAL(l->sndbuf, 65536);
	CU_ASSERT_EQUAL(l->rcvbuf, 131072);

	/* a sub-key left out keeps the kernel's default (0: not set) */
	l = &cfg.listeners[2];
	CU_ASSERT_EQUAL(l->keepalive, 1);
	CU_ASSERT_EQUAL(l->keepalive_idle_s, 0);
	CU_ASSERT_EQUAL(l->keepalive_interval_s, 32767);
	CU_ASSERT_EQUAL(l->keepalive_count, 127);
	CU_ASSERT_EQUAL(l->user_timeout_ms, 2500);
	CU_ASSERT_EQUAL(l->sndbuf, 4096);
	CU_ASSERT_EQUAL(l->rcvbuf, 0);

	l = &cfg.listeners[3];
	CU_ASSERT_EQUAL(l->keepalive, 1);
	CU_ASSERT_EQUAL(l->keepalive_idle_s, 32767);
	CU_ASSERT_EQUAL(l->keepalive_interval_s, 0);
	CU_ASSERT_EQUAL(l->keepalive_count, 0);
	CU_ASSERT_EQUAL(l->user_timeout_ms, 0);
	CU_ASSERT_EQUAL(l->rcvbuf, 1073741824);

	/* an empty group: SO_KEEPALIVE with the kernel's timings */
	l = &cfg.listeners[4];
	CU_ASSERT_EQUAL(l->keepalive, 1);
	CU_ASSERT_EQUAL(l->keepalive_idle_s, 0);
	CU_ASSERT_EQUAL(l->keepalive_interval_s, 0);
	CU_ASSERT_EQUAL(l->keepalive_count, 0);
	config_free(&cfg);
}

/* one listener with the given TCP settings on its third line */
#define TCP_LISTENER(settings) \
	"listeners = (\n" \
	"  { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n" \
	"    " settings "\n" \
	"  }\n" \
	");\n"

static void
test_tcp_option_mistakes_are_errors_at_their_line(void)
{
	/* tcp(7)'s ranges: TCP_KEEPIDLE and TCP_KEEPINTVL 1..32767 s, TCP_KEEPCNT 1..127 */
	EXPECT_ERROR(TCP_LISTENER("tcp_keepalive = { idle = 0; };"), 3,
	    "'idle' must be between 1 and 32767");
	EXPECT_ERROR(TCP_LISTENER("tcp_keepalive = { idle = 32768; };"), 3,
	    "'idle' must be between 1 and 32767");
	EXPECT_ERROR(TCP_LISTENER("tcp_keepalive = { interval = 0; };"), 3,
	    "'interval' must be between 1 and 32767");
	EXPECT_ERROR(TCP_LISTENER("tcp_keepalive = { interval = 40000; };"), 3,
	    "'interval' must be between 1 and 32767");
	EXPECT_ERROR(TCP_LISTENER("tcp_keepalive = { count = 0; };"), 3,
	    "'count' must be between 1 and 127");
	EXPECT_ERROR(TCP_LISTENER("tcp_keepalive = { count = 128; };"), 3,
	    "'count' must be between 1 and 127");
	EXPECT_ERROR(TCP_LISTENER("tcp_keepalive = { idle = -5; };"), 3,
	    "'idle' must be between 1 and 32767");
	/* whole seconds, as the kernel takes them */
	EXPECT_ERROR(TCP_LISTENER("tcp_keepalive = { idle = 1.5; };"), 3,
	    "'idle' must be an integer");
	EXPECT_ERROR(TCP_LISTENER("tcp_keepalive = { count = \"5\"; };"), 3,
	    "'count' must be an integer");
	/* a typo in the group is an error like anywhere else */
	EXPECT_ERROR(
	    "listeners = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "    tcp_keepalive = {\n"
	    "      idle = 60;\n"
	    "      intvl = 10;\n"
	    "    };\n"
	    "  }\n"
	    ");\n", 5, "unknown key 'intvl'");
	EXPECT_ERROR(TCP_LISTENER("tcp_keepalive = true;"), 3,
	    "'tcp_keepalive' must be a group");
	EXPECT_ERROR(TCP_LISTENER("tcp_keepalive = 60;"), 3,
	    "'tcp_keepalive' must be a group");
	EXPECT_ERROR(TCP_LISTENER("tcp_keepalive_idle = 60;"), 3,
	    "unknown key 'tcp_keepalive_idle'");

	/* TCP_USER_TIMEOUT is an int of milliseconds */
	EXPECT_ERROR(TCP_LISTENER("tcp_user_timeout = -1;"), 3,
	    "'tcp_user_timeout' must be between 0 and 2147483 seconds");
	EXPECT_ERROR(TCP_LISTENER("tcp_user_timeout = 2147484;"), 3,
	    "'tcp_user_timeout' must be between 0 and 2147483 seconds");
	EXPECT_ERROR(TCP_LISTENER("tcp_user_timeout = 0.0001;"), 3,
	    "at least 0.001");
	EXPECT_ERROR(TCP_LISTENER("tcp_user_timeout = \"30\";"), 3,
	    "'tcp_user_timeout' must be a number");

	EXPECT_ERROR(TCP_LISTENER("sndbuf = 4095;"), 3,
	    "'sndbuf' must be between 4096 and 1073741824");
	EXPECT_ERROR(TCP_LISTENER("sndbuf = 0;"), 3,
	    "'sndbuf' must be between 4096 and 1073741824");
	EXPECT_ERROR(TCP_LISTENER("sndbuf = 1073741825;"), 3,
	    "'sndbuf' must be between 4096 and 1073741824");
	EXPECT_ERROR(TCP_LISTENER("sndbuf = 65536.0;"), 3,
	    "'sndbuf' must be an integer");
	EXPECT_ERROR(TCP_LISTENER("rcvbuf = 1024;"), 3,
	    "'rcvbuf' must be between 4096 and 1073741824");
	EXPECT_ERROR(TCP_LISTENER("rcvbuf = 4294967296L;"), 3,
	    "'rcvbuf' must be between 4096 and 1073741824");
	EXPECT_ERROR(TCP_LISTENER("rcvbuf = \"64k\";"), 3,
	    "'rcvbuf' must be an integer");
}

static void
test_proxy_protocol_keys_are_parsed(void)
{
	struct config cfg;
	char err[512];
	const struct listener_conf *l;
	int rv = load_text(
	    "listeners = (\n"
	    "  { name = \"plain\"; address = \"127.0.0.1\"; port = 7000; },\n"
	    "  { name = \"pp\"; address = \"127.0.0.1\"; port = 7001; proxy_protocol = true; },\n"
	    "  { name = \"off\"; address = \"127.0.0.1\"; port = 7002; proxy_protocol = false; },\n"
	    "  { name = \"tr\"; address = \"127.0.0.1\"; port = 7003; proxy_protocol = true;\n"
	    "    proxy_trusted = (\"127.0.0.1\", \"10.0.0.0/8\", \"::1\", \"fd00::/8\"); },\n"
	    "  { name = \"arr\"; address = \"127.0.0.1\"; port = 7004; proxy_protocol = true;\n"
	    "    proxy_trusted = [\"192.168.0.0/16\"]; }\n"
	    ");\n", &cfg, err, sizeof(err));

	CU_ASSERT_EQUAL_FATAL(rv, 0);
	if (rv != 0)
		return;
	/* off by default, and no trusted list (any peer) */
	CU_ASSERT_EQUAL(cfg.listeners[0].proxy_protocol, 0);
	CU_ASSERT_EQUAL(cfg.listeners[0].nproxy_trusted, 0);
	CU_ASSERT_EQUAL(cfg.listeners[1].proxy_protocol, 1);
	CU_ASSERT_EQUAL(cfg.listeners[1].nproxy_trusted, 0);
	CU_ASSERT_EQUAL(cfg.listeners[2].proxy_protocol, 0);
	l = &cfg.listeners[3];
	CU_ASSERT_EQUAL(l->proxy_protocol, 1);
	CU_ASSERT_EQUAL_FATAL(l->nproxy_trusted, 4);
	CU_ASSERT_EQUAL(l->proxy_trusted[0].v6, 0);
	CU_ASSERT_EQUAL(l->proxy_trusted[0].prefix, 32);
	CU_ASSERT_EQUAL(l->proxy_trusted[0].addr[0], 127);
	CU_ASSERT_EQUAL(l->proxy_trusted[1].prefix, 8);
	CU_ASSERT_EQUAL(l->proxy_trusted[1].addr[0], 10);
	CU_ASSERT_EQUAL(l->proxy_trusted[2].v6, 1);
	CU_ASSERT_EQUAL(l->proxy_trusted[2].prefix, 128);
	CU_ASSERT_EQUAL(l->proxy_trusted[3].v6, 1);
	CU_ASSERT_EQUAL(l->proxy_trusted[3].prefix, 8);
	CU_ASSERT_EQUAL(l->proxy_trusted[3].addr[0], 0xfd);
	CU_ASSERT_EQUAL(cfg.listeners[4].nproxy_trusted, 1);
	CU_ASSERT_EQUAL(cfg.listeners[4].proxy_trusted[0].prefix, 16);
	config_free(&cfg);
}

static void
test_proxy_protocol_mistakes_are_errors_at_their_line(void)
{
	/* a list that would guard nothing */
	EXPECT_ERROR(
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  proxy_trusted = (\"127.0.0.1\"); } );\n", 2,
	    "'proxy_trusted' needs 'proxy_protocol = true;'");
	EXPECT_ERROR(
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  proxy_protocol = false;\n"
	    "  proxy_trusted = (\"127.0.0.1\"); } );\n", 3,
	    "'proxy_trusted' needs 'proxy_protocol = true;'");
	EXPECT_ERROR(
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  proxy_protocol = 1; } );\n", 2, "'proxy_protocol' must be true or false");
	EXPECT_ERROR(
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  proxy_protocol = \"yes\"; } );\n", 2, "'proxy_protocol' must be true or false");
	EXPECT_ERROR(
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  proxy_protocol = true; proxy_trusted = \"127.0.0.1\"; } );\n", 2,
	    "'proxy_trusted' must be a list of strings");
	EXPECT_ERROR(
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  proxy_protocol = true; proxy_trusted = (); } );\n", 2,
	    "'proxy_trusted' must have between 1 and 64 entries (got 0)");
	EXPECT_ERROR(
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  proxy_protocol = true; proxy_trusted = (\"127.0.0.1\",\n"
	    "  7); } );\n", 3, "'proxy_trusted' entry 2 must be a string");
	/* each bad entry is named, at its own line */
	EXPECT_ERROR(
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  proxy_protocol = true; proxy_trusted = (\"127.0.0.1\",\n"
	    "  \"10.0.0.0/33\"); } );\n", 3, "'proxy_trusted' entry '10.0.0.0/33'");
	EXPECT_ERROR(
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  proxy_protocol = true; proxy_trusted = (\"10.1.0.0/8\"); } );\n", 2,
	    "'proxy_trusted' entry '10.1.0.0/8': address bits set beyond the prefix length");
	EXPECT_ERROR(
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  proxy_protocol = true; proxy_trusted = (\"lb.example\"); } );\n", 2,
	    "'proxy_trusted' entry 'lb.example': not an IPv4 or IPv6 address");
	EXPECT_ERROR(
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  proxy_protocol = true; proxy_trusted = (\"fd00::/129\"); } );\n", 2,
	    "'proxy_trusted' entry 'fd00::/129'");
	EXPECT_ERROR(
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7000;\n"
	    "  proxy_protocol = true; proxy_trusted = (\"010.0.0.1\"); } );\n", 2,
	    "'proxy_trusted' entry '010.0.0.1'");
}

/* drain_timeout: off (0) unless set, seconds with ms precision, 0..86400 */
static void
test_drain_timeout_default_off_value_and_range(void)
{
	struct config cfg;
	char err[512] = "";

	CU_ASSERT_EQUAL_FATAL(load_text(ONE_LISTENER, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg.drain_timeout_ms, 0);
	config_free(&cfg);
	CU_ASSERT_EQUAL_FATAL(config_load("etc/sockserv.cfg", &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg.drain_timeout_ms, 0);	/* the shipped file keeps today's drain */
	config_free(&cfg);
	CU_ASSERT_EQUAL_FATAL(load_text("drain_timeout = 1.5;\n" ONE_LISTENER, &cfg, err,
	    sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(cfg.drain_timeout_ms, 1500);
	CU_ASSERT_EQUAL(cfg.shutdown_timeout_ms, 30000);	/* quit's bound is its own */
	config_free(&cfg);
	CU_ASSERT_EQUAL_FATAL(load_text("drain_timeout = 86400;\n" ONE_LISTENER, &cfg, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg.drain_timeout_ms, 86400000u);
	config_free(&cfg);
	EXPECT_ERROR("drain_timeout = -1;\n" ONE_LISTENER, 1, "'drain_timeout' must be between 0 and 86400");
	EXPECT_ERROR("drain_timeout = 86401;\n" ONE_LISTENER, 1, "between 0 and 86400");
	EXPECT_ERROR("drain_timeout = \"5\";\n" ONE_LISTENER, 1, "'drain_timeout' must be a number");
	EXPECT_ERROR("drain_timeout = 0.0001;\n" ONE_LISTENER, 1, "at least 0.001");
}

void
test_config_register(void)
{
	CU_pSuite s = CU_add_suite("config", suite_init, suite_clean);

	if (s == NULL)
		return;
#define T(f) CU_add_test(s, #f, f)
	T(test_shipped_config_loads_with_its_documented_values);
	T(test_minimal_config_gets_every_default);
	T(test_seconds_take_floats_and_round_to_ms);
	T(test_every_key_set_explicitly_is_stored);
	T(test_relative_paths_are_made_absolute_against_cwd);
	T(test_addresses_and_shared_ports);
	T(test_names_of_codecs_and_backends);
	T(test_missing_file_is_reported_without_a_line);
	T(test_syntax_error_blames_libconfigs_line);
	T(test_unknown_keys_are_errors_at_every_level);
	T(test_wrong_types_name_the_expected_type);
	T(test_out_of_range_values_name_the_range);
	T(test_integer_wider_than_32_bits_needs_L);
	T(test_max_buffer_memory_default_range_and_value);
	T(test_admission_keys_defaults_ranges_and_values);
	T(test_drain_timeout_default_off_value_and_range);
	T(test_integers_in_included_files_are_checked);
	T(test_hung_timeout_must_cover_two_ticks_and_a_margin);
	T(test_unknown_enum_values_are_errors);
	T(test_listener_names_must_be_valid_and_unique);
	T(test_overlapping_ports_are_errors);
	T(test_bad_addresses_are_errors);
	T(test_magic_only_on_headers_and_at_most_16_bytes);
	T(test_listeners_are_required_and_bounded);
	T(test_runtime_keys_remember_their_lines);
	T(test_display_path_is_the_path_as_given);
	T(test_peek_paths_reads_pid_file_and_stats_path);
	T(test_peek_paths_ignores_mistakes_the_server_would_refuse);
	T(test_peek_paths_fails_on_what_it_cannot_parse);
	T(test_backends_are_parsed_with_defaults);
	T(test_backend_mistakes_are_errors_at_their_line);
	T(test_tcp_options_are_stored_and_off_by_default);
	T(test_tcp_option_mistakes_are_errors_at_their_line);
	T(test_proxy_protocol_keys_are_parsed);
	T(test_proxy_protocol_mistakes_are_errors_at_their_line);
#undef T
}
