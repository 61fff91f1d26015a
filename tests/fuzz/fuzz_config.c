/*
 * fuzz_config: config_load() and config_peek_paths() on arbitrary file
 * contents.  Neither may crash or leak (ASan), and every verdict must keep
 * config.h's promises:
 *   - failure: err is "FILE:LINE: message" or "FILE: message", FILE being
 *     the file loaded or a file it @included, LINE within that file;
 *   - success: every value is within the range config.h documents and the
 *     rest of the server relies on (paths absolute, ports, magic length,
 *     the wheel's geometry, timeouts within conn.c's 30-day stamp window),
 *     and config_peek_paths() reads the same pid_file and stats_path;
 *   - an @included file is judged like the same text written inline: the
 *     input may carry a second file, inc.cfg, after a line "#--inc.cfg--";
 *     where fuzz.cfg includes it, the file with the include replaced by
 *     that text must load or fail alike, to the same values.
 *
 * Each input is written to fuzz.cfg in a private directory that is the cwd
 * while it loads (and only then: libFuzzer opens its corpus paths relative to
 * the cwd it was started in), so relative paths and @include resolve there.  Two small include
 * files sit beside it.  An @include naming anything but a plain file name in
 * that directory is refused (returns -1): "/dev/zero" or "/proc/self/fd/0"
 * would hang the fuzzer, not find a bug.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_config: %s:%d: check failed: %s\n", \
		    __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

#define MAX_TIMEOUT_MS (30u * 24 * 3600 * 1000)	/* conn.c's stamps rely on it */

static char dir[200];
static char path[256];
static char inc_path[256];	/* the input's own include file, inc.cfg */
static char inline_path[256];	/* fuzz.cfg with inc.cfg written in place */
static const char INC_SEP[] = "\n#--inc.cfg--\n";
static const char INC_LINE[] = "@include \"inc.cfg\"";
static int home_fd;	/* the cwd libFuzzer started in */

static const struct { const char *name, *text; } includes[] = {
	{ "top.cfg", "workers = 1;\nevent_backend = \"poll\";\n" },
	{ "listener.cfg", "{ name = \"inc\"; address = \"127.0.0.1\"; port = 7100;\n"
	    "  codec = \"headers\"; magic = \"testHeader\"; handler = \"echo\"; }\n" },
};

static void
write_file(const char *name, const void *data, size_t len)
{
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	CHECK(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

static void
cleanup(void)
{
	char p[320];

	unlink(path);
	unlink(inc_path);
	unlink(inline_path);
	for (size_t i = 0; i < sizeof(includes) / sizeof(includes[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, includes[i].name);
		unlink(p);
	}
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/*
	 * In TMPDIR (run.sh points it into the build tree): libFuzzer ends some
	 * runs with _Exit() or a crash, which skip cleanup(), and the directory
	 * stays behind.
	 */
	const char *tmp = getenv("TMPDIR");

	if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 150)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/fuzz_config.XXXXXX", tmp);
	CHECK(mkdtemp(dir) != NULL);
	CHECK((home_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0);
	CHECK(chdir(dir) == 0);
	snprintf(path, sizeof(path), "%s/fuzz.cfg", dir);
	snprintf(inc_path, sizeof(inc_path), "%s/inc.cfg", dir);
	snprintf(inline_path, sizeof(inline_path), "%s/inline.cfg", dir);
	for (size_t i = 0; i < sizeof(includes) / sizeof(includes[0]); i++)
		write_file(includes[i].name, includes[i].text, strlen(includes[i].text));
	CHECK(fchdir(home_fd) == 0);
	atexit(cleanup);
	/* config.c logs nothing itself, but keep any stray message short */
	log_set_level(LOG_LVL_ERROR);
	return 0;
}

/* every @include names a plain file in dir: letters, digits, '.', '_', '-' */
static int
includes_are_local(const uint8_t *data, size_t size)
{
	static const char kw[] = "@include";
	size_t k = sizeof(kw) - 1;

	for (size_t i = 0; i + k <= size; i++) {
		size_t j;
		if (memcmp(data + i, kw, k) != 0)
			continue;
		j = i + k;
		while (j < size && (data[j] == ' ' || data[j] == '\t'))
			j++;
		if (j >= size || data[j] != '"')
			continue;	/* not an include: libconfig refuses it */
		for (j++; j < size && data[j] != '"'; j++)
			if (!isalnum(data[j]) && data[j] != '.' && data[j] != '_' && data[j] != '-')
				return 0;
	}
	return 1;
}

/* name is one the input @includes: it appears there in quotes */
static int
is_included_name(const char *name, size_t n, const uint8_t *data, size_t size)
{
	for (size_t i = 0; n > 0 && i + n + 2 <= size; i++)
		if (data[i] == '"' && memcmp(data + i + 1, name, n) == 0 && data[i + n + 1] == '"')
			return 1;
	return 0;
}

/* "FILE:LINE: message" or "FILE: message", FILE one this input can reach */
static void
check_error(const char *err, size_t errlen, const uint8_t *data, size_t size, size_t total)
{
	const char *p, *colon;
	size_t lines = 1;

	CHECK(memchr(err, '\0', errlen) != NULL);
	CHECK(err[0] != '\0');
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':') {
		colon = err + strlen(path);
	} else {
		/* an included file, reported by the name the @include gave */
		colon = strchr(err, ':');
		CHECK(colon != NULL);
		CHECK(is_included_name(err, (size_t)(colon - err), data, total));
		lines = 64;	/* the includes are short, but inc.cfg is the input's */
		if (total + 1 > lines)
			lines = total + 1;
	}
	p = colon + 1;
	if (isdigit((unsigned char)*p)) {
		unsigned long line = strtoul(p, (char **)&p, 10);
		CHECK(line >= 1 && line <= lines);
		CHECK(*p == ':');
		p++;
	}
	CHECK(p[0] == ' ' && p[1] != '\0');
}

static int
nul_terminated(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

static void
check_config(const struct config *cfg)
{
	CHECK(nul_terminated(cfg->path, sizeof(cfg->path)) && cfg->path[0] == '/');
	CHECK(nul_terminated(cfg->pid_file, sizeof(cfg->pid_file)) && cfg->pid_file[0] == '/');
	CHECK(nul_terminated(cfg->stats_path, sizeof(cfg->stats_path)) && cfg->stats_path[0] == '/');
	CHECK(nul_terminated(cfg->log_target, sizeof(cfg->log_target)));
	CHECK(strcmp(cfg->log_target, "stderr") == 0 || strcmp(cfg->log_target, "syslog") == 0 ||
	    cfg->log_target[0] == '/');
	CHECK(nul_terminated(cfg->user, sizeof(cfg->user)));
	CHECK(nul_terminated(cfg->group, sizeof(cfg->group)));
	CHECK(cfg->workers >= 1);
	CHECK(cfg->backend == EVB_EPOLL || cfg->backend == EVB_POLL);
	CHECK(cfg->log_level >= LOG_LVL_DEBUG && cfg->log_level <= LOG_LVL_ERROR);
	CHECK(cfg->tick_ms >= 1 && cfg->tick_ms <= 1000);
	CHECK(cfg->slots >= 1 && cfg->slots <= 1048576 && (cfg->slots & (cfg->slots - 1)) == 0);
	CHECK(cfg->backlog >= 1);
	CHECK(cfg->max_connections >= 1);
	CHECK(cfg->hung_timeout_ms > 0);
	CHECK(cfg->nlisteners >= 1 && cfg->listeners != NULL);
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		const struct listener_conf *l = &cfg->listeners[i];
		CHECK(nul_terminated(l->name, sizeof(l->name)) && l->name[0] != '\0');
		CHECK(nul_terminated(l->address, sizeof(l->address)));
		CHECK(nul_terminated(l->handler, sizeof(l->handler)) && l->handler[0] != '\0');
		CHECK(l->port >= 1 && l->port <= 65535);
		CHECK(l->codec == CODEC_FRAME || l->codec == CODEC_RAW || l->codec == CODEC_HEADERS);
		if (l->codec == CODEC_HEADERS)
			CHECK(l->magic_len >= 1 && l->magic_len <= CONFIG_MAGIC_MAX);
		CHECK(l->heartbeat_ms <= MAX_TIMEOUT_MS && l->deadline_ms <= MAX_TIMEOUT_MS &&
		    l->frame_timeout_ms <= MAX_TIMEOUT_MS && l->write_timeout_ms <= MAX_TIMEOUT_MS &&
		    l->first_message_ms <= MAX_TIMEOUT_MS);
		/* names and ports are unique (README: duplicates are refused) */
		for (size_t j = 0; j < i; j++) {
			CHECK(strcmp(cfg->listeners[j].name, l->name) != 0);
		}
	}
}

/*
 * main with every line that is just @include "inc.cfg" (libconfig takes an
 * include only on a line of its own) replaced by inc; NULL when main has no
 * such line.  *outlen is the length.
 */
static char *
inline_include(const uint8_t *main, size_t mlen, const uint8_t *inc, size_t ilen,
    size_t *outlen)
{
	char *out = malloc(mlen + 1 + (mlen / 8 + 1) * (ilen + 1));
	size_t o = 0, i = 0, k = strlen(INC_LINE);
	int found = 0;

	CHECK(out != NULL);
	while (i < mlen) {
		const uint8_t *nl = memchr(main + i, '\n', mlen - i);
		size_t end = nl != NULL ? (size_t)(nl - main) : mlen;
		size_t a = i, z = end;

		while (a < z && (main[a] == ' ' || main[a] == '\t'))
			a++;
		while (z > a && (main[z - 1] == ' ' || main[z - 1] == '\t' || main[z - 1] == '\r'))
			z--;
		if (z - a == k && memcmp(main + a, INC_LINE, k) == 0) {
			memcpy(out + o, inc, ilen);
			o += ilen;
			out[o++] = '\n';
			found = 1;
		} else {
			memcpy(out + o, main + i, end - i);
			o += end - i;
			if (nl != NULL)
				out[o++] = '\n';
		}
		i = end + (nl != NULL);
	}
	if (!found) {
		free(out);
		return NULL;
	}
	*outlen = o;
	return out;
}

/* the values two loads of the same text must agree on */
static void
check_same(const struct config *a, const struct config *b)
{
	CHECK(a->workers == b->workers && a->backend == b->backend);
	CHECK(strcmp(a->pid_file, b->pid_file) == 0 && strcmp(a->stats_path, b->stats_path) == 0);
	CHECK(strcmp(a->log_target, b->log_target) == 0 && a->log_level == b->log_level &&
	    a->log_facility == b->log_facility);
	CHECK(strcmp(a->user, b->user) == 0 && strcmp(a->group, b->group) == 0);
	CHECK(a->max_connections == b->max_connections && a->max_frame == b->max_frame &&
	    a->max_output == b->max_output && a->backlog == b->backlog);
	CHECK(a->tick_ms == b->tick_ms && a->slots == b->slots);
	CHECK(a->hung_timeout_ms == b->hung_timeout_ms && a->stats_interval_s == b->stats_interval_s &&
	    a->shutdown_timeout_ms == b->shutdown_timeout_ms);
	CHECK(a->nlisteners == b->nlisteners);
	for (size_t i = 0; i < a->nlisteners; i++) {
		const struct listener_conf *x = &a->listeners[i], *y = &b->listeners[i];
		CHECK(strcmp(x->name, y->name) == 0 && strcmp(x->address, y->address) == 0);
		CHECK(x->port == y->port && x->codec == y->codec && strcmp(x->handler, y->handler) == 0);
		CHECK(x->magic_len == y->magic_len && memcmp(x->magic, y->magic, x->magic_len) == 0);
		CHECK(x->heartbeat_ms == y->heartbeat_ms && x->deadline_ms == y->deadline_ms &&
		    x->frame_timeout_ms == y->frame_timeout_ms &&
		    x->write_timeout_ms == y->write_timeout_ms &&
		    x->first_message_ms == y->first_message_ms);
	}
}

/* fuzz.cfg and inline.cfg are the same text: same verdict, same values */
static void
check_inline(const uint8_t *main, size_t mlen, const uint8_t *inc, size_t ilen,
    int rv, const struct config *cfg)
{
	struct config icfg;
	char err[1024];
	size_t tlen;
	char *text;
	int irv;

	/* an include inside inc.cfg would need inlining too: not compared */
	if (memmem(inc, ilen, "@include", 8) != NULL)
		return;
	if ((text = inline_include(main, mlen, inc, ilen, &tlen)) == NULL)
		return;
	write_file(inline_path, text, tlen);
	free(text);
	CHECK(chdir(dir) == 0);
	irv = config_load(inline_path, &icfg, err, sizeof(err));
	CHECK(fchdir(home_fd) == 0);
	if (irv != rv) {
		fprintf(stderr, "fuzz_config: @include \"inc.cfg\" %s, the same text inline %s\n",
		    rv == 0 ? "loads" : "fails", irv == 0 ? "loads" : err);
		abort();
	}
	if (rv == 0) {
		check_same(cfg, &icfg);
		config_free(&icfg);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[1024], perr[1024];
	char pid[CONFIG_PATH_MAX], stats[CONFIG_PATH_MAX];
	int rv, prv;

	const uint8_t *inc = NULL;
	size_t ilen = 0, total = size;

	if (!includes_are_local(data, size))
		return -1;
	{
		const uint8_t *sep = memmem(data, size, INC_SEP, sizeof(INC_SEP) - 1);
		if (sep != NULL) {
			inc = sep + sizeof(INC_SEP) - 1;
			ilen = size - (size_t)(inc - data);
			size = (size_t)(sep - data);
		}
	}
	write_file(path, data, size);
	write_file(inc_path, inc, ilen);

	CHECK(chdir(dir) == 0);
	memset(err, 0x5a, sizeof(err));
	rv = config_load(path, &cfg, err, sizeof(err));
	memset(perr, 0x5a, sizeof(perr));
	prv = config_peek_paths(path, pid, stats, sizeof(pid), perr, sizeof(perr));
	CHECK(fchdir(home_fd) == 0);
	CHECK(rv == 0 || rv == -1);
	CHECK(prv == 0 || prv == -1);
	if (prv == -1)
		check_error(perr, sizeof(perr), data, size, total);
	if (rv == -1) {
		check_error(err, sizeof(err), data, size, total);
		if (inc != NULL)
			check_inline(data, size, inc, ilen, rv, &cfg);
		return 0;
	}
	CHECK(err[0] == '\0');
	check_config(&cfg);
	if (inc != NULL)
		check_inline(data, size, inc, ilen, rv, &cfg);
	/* the tools find a running server where the server put it */
	CHECK(prv == 0);
	CHECK(strcmp(pid, cfg.pid_file) == 0);
	CHECK(strcmp(stats, cfg.stats_path) == 0);
	config_free(&cfg);
	return 0;
}
