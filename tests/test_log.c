/*
 * log: levels, the line format, the three targets (syslog only as far as
 * a unit test can see it: nothing of it lands in a file or on stderr),
 * reopening after a rename, and the rules a root daemon's log file must
 * pass: no symbolic link followed, no directory others may write unless
 * it is sticky, no FIFO, no hard link, a file created only with O_EXCL.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

void test_log_register(void);

static char tmpdir[] = "/tmp/sockserv-log-XXXXXX";
static int tmpdir_made;
static unsigned int nnames;
static enum log_level saved_level;

static int
suite_init(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	tmpdir_made = 1;
	saved_level = log_get_level();
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
	log_close();
	log_init("stderr", saved_level, 0);
	if (!tmpdir_made)
		return 0;
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* the other suites log to stderr at the level they started with */
static void
restore(void)
{
	log_close();
	log_init("stderr", saved_level, 0);
}

/* a fresh name (not created) under tmpdir */
static void
fresh(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "%s/%s%u", tmpdir, what, nnames++);
}

/* a fresh directory of mode under tmpdir */
static void
fresh_dir(char *buf, size_t len, mode_t mode)
{
	fresh(buf, len, "d");
	CU_ASSERT_FATAL(mkdir(buf, 0700) == 0);
	CU_ASSERT_FATAL(chmod(buf, mode) == 0);
}

/* the whole file, NUL-terminated ("" when missing); free it */
static char *
slurp(const char *path)
{
	char *buf = calloc(1, 65536);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = 0, r;

	CU_ASSERT_FATAL(buf != NULL);
	if (fd == -1)
		return buf;
	while (n < 65535 && (r = read(fd, buf + n, (size_t)(65535 - n))) > 0)
		n += r;
	close(fd);
	return buf;
}

static int
count_lines(const char *text)
{
	int n = 0;

	for (; *text != '\0'; text++)
		n += *text == '\n';
	return n;
}

static int
has(const char *path, const char *needle)
{
	char *t = slurp(path);
	int found = strstr(t, needle) != NULL;

	free(t);
	return found;
}

/* a root-owned 0600 file with known content: what an attacker aims a link at */
static void
make_victim(char *buf, size_t len)
{
	int fd;

	fresh(buf, len, "victim");
	fd = open(buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(write(fd, "secret\n", 7) == 7);
	close(fd);
}

static void
assert_victim_untouched(const char *victim)
{
	struct stat sb;
	char *t = slurp(victim);

	CU_ASSERT_STRING_EQUAL(t, "secret\n");
	free(t);
	CU_ASSERT_FATAL(stat(victim, &sb) == 0);
	CU_ASSERT_EQUAL(sb.st_uid, geteuid());
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
}

static void
test_levels_below_the_threshold_are_dropped(void)
{
	char path[256], *t;

	fresh(path, sizeof(path), "levels.log");
	CU_ASSERT_EQUAL_FATAL(log_init(path, LOG_LVL_WARN, 0), 0);
	log_debug("d1");
	log_info("i1");
	log_warnx("w1");
	log_error("e1");
	log_set_level(LOG_LVL_DEBUG);
	CU_ASSERT_EQUAL(log_get_level(), LOG_LVL_DEBUG);
	log_debug("d2");
	log_set_level(LOG_LVL_ERROR);
	log_warnx("w2");
	log_error("e2");
	t = slurp(path);
	CU_ASSERT_PTR_NULL(strstr(t, "d1"));
	CU_ASSERT_PTR_NULL(strstr(t, "i1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "warn: w1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "error: e1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "debug: d2\n"));
	CU_ASSERT_PTR_NULL(strstr(t, "w2"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "error: e2\n"));
	CU_ASSERT_EQUAL(count_lines(t), 4);
	free(t);
	restore();
}

static void
test_level_names_parse(void)
{
	enum log_level l = LOG_LVL_ERROR;

	CU_ASSERT_EQUAL(log_level_parse("debug", &l), 0);
	CU_ASSERT_EQUAL(l, LOG_LVL_DEBUG);
	CU_ASSERT_EQUAL(log_level_parse("warn", &l), 0);
	CU_ASSERT_EQUAL(l, LOG_LVL_WARN);
	CU_ASSERT_EQUAL(log_level_parse("error", &l), 0);
	CU_ASSERT_EQUAL(l, LOG_LVL_ERROR);
	CU_ASSERT_EQUAL(log_level_parse("info", &l), 0);
	CU_ASSERT_EQUAL(l, LOG_LVL_INFO);
	CU_ASSERT_EQUAL(log_level_parse("verbose", &l), -1);
	CU_ASSERT_EQUAL(log_level_parse("", &l), -1);
}

/* "YYYY-mm-dd HH:MM:SS.mmm [PID] LEVEL: message", one write per line */
static void
test_line_format_is_time_pid_level_message(void)
{
	char path[256], re_text[256], *t;
	regex_t re;

	fresh(path, sizeof(path), "format.log");
	CU_ASSERT_EQUAL_FATAL(log_init(path, LOG_LVL_DEBUG, 0), 0);
	log_info("hello %d", 42);
	errno = ENOENT;
	log_warn("open %s", "x");
	CU_ASSERT_EQUAL(errno, ENOENT);	/* logging leaves errno alone */
	t = slurp(path);
	snprintf(re_text, sizeof(re_text),
	    "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} "
	    "\\[%ld\\] info: hello 42\n"
	    "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} "
	    "\\[%ld\\] warn: open x: %s\n$", (long)getpid(), (long)getpid(), strerror(ENOENT));
	CU_ASSERT_EQUAL_FATAL(regcomp(&re, re_text, REG_EXTENDED), 0);
	if (regexec(&re, t, 0, NULL, 0) != 0)
		fprintf(stderr, "\n  log file:\n%s  wanted: %s\n", t, re_text);
	CU_ASSERT_EQUAL(regexec(&re, t, 0, NULL, 0), 0);
	regfree(&re);
	free(t);
	restore();
}

/* a message longer than a line buffer is cut, and the line still ends in a newline */
static void
test_long_message_is_cut_to_one_line(void)
{
	char path[256], *big = malloc(10000), *t;

	CU_ASSERT_FATAL(big != NULL);
	memset(big, 'x', 9999);
	big[9999] = '\0';
	fresh(path, sizeof(path), "long.log");
	CU_ASSERT_EQUAL_FATAL(log_init(path, LOG_LVL_INFO, 0), 0);
	log_info("%s", big);
	t = slurp(path);
	CU_ASSERT_EQUAL(count_lines(t), 1);
	CU_ASSERT(strlen(t) > 1000 && strlen(t) < 9999);
	CU_ASSERT_EQUAL(t[strlen(t) - 1], '\n');
	free(t);
	free(big);
	restore();
}

/* stderr is fd 2 itself; syslog writes neither to a file nor to stderr */
static void
test_stderr_and_syslog_targets(void)
{
	char path[256], errpath[256], *t;
	int saved = dup(STDERR_FILENO), fd;

	CU_ASSERT_FATAL(saved != -1);
	fresh(errpath, sizeof(errpath), "stderr.txt");
	fd = open(errpath, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd != -1);
	fflush(stderr);
	CU_ASSERT_FATAL(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
	close(fd);

	fresh(path, sizeof(path), "switch.log");
	CU_ASSERT_EQUAL(log_init(path, LOG_LVL_INFO, 0), 0);
	log_info("to the file");
	CU_ASSERT_EQUAL(log_init("stderr", LOG_LVL_INFO, 0), 0);
	log_info("to stderr");
	CU_ASSERT_EQUAL(log_init("syslog", LOG_LVL_INFO, LOG_USER), 0);
	log_info("to syslog (sockserv unit test)");
	CU_ASSERT_EQUAL(log_reopen(), 0);	/* nothing to reopen */
	CU_ASSERT_EQUAL(log_created_fd(), -1);

	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	restore();

	t = slurp(path);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "info: to the file\n"));
	CU_ASSERT_EQUAL(count_lines(t), 1);
	free(t);
	t = slurp(errpath);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "info: to stderr\n"));
	CU_ASSERT_EQUAL(count_lines(t), 1);
	free(t);
}

/*
 * logrotate's way: rename, reopen.  The new file is created (0640) and
 * says so through log_created_fd; opening a file that was there does not.
 */
static void
test_reopen_after_rename_writes_a_new_file(void)
{
	char path[256], moved[300];
	struct stat sb;

	fresh(path, sizeof(path), "rot.log");
	CU_ASSERT_EQUAL_FATAL(log_init(path, LOG_LVL_INFO, 0), 0);
	CU_ASSERT(log_created_fd() >= 0);
	log_info("before");
	snprintf(moved, sizeof(moved), "%s.1", path);
	CU_ASSERT_FATAL(rename(path, moved) == 0);
	log_info("still the old file");
	CU_ASSERT_EQUAL(log_reopen(), 0);
	CU_ASSERT(log_created_fd() >= 0);
	log_info("after");
	CU_ASSERT(has(moved, "info: before\n") && has(moved, "info: still the old file\n"));
	CU_ASSERT(!has(moved, "after"));
	CU_ASSERT(has(path, "info: after\n"));
	CU_ASSERT_FATAL(stat(path, &sb) == 0);
	CU_ASSERT_EQUAL(sb.st_mode & 0777 & ~(mode_t)0640, 0);
	CU_ASSERT(S_ISREG(sb.st_mode));
	/* a reopen of a file that is still there creates nothing */
	CU_ASSERT_EQUAL(log_reopen(), 0);
	CU_ASSERT_EQUAL(log_created_fd(), -1);
	log_info("same file");
	CU_ASSERT(has(path, "info: same file\n"));
	restore();
	/* nor does an init on it */
	CU_ASSERT_EQUAL(log_init(path, LOG_LVL_INFO, 0), 0);
	CU_ASSERT_EQUAL(log_created_fd(), -1);
	restore();
}

/*
 * A link planted at the log's name leads nowhere: log_init refuses it and
 * keeps the target it had; a reopen refuses it, says so in the file still
 * open, and keeps writing there.  The file the link names is not touched.
 */
static void
test_symbolic_link_is_never_followed(void)
{
	char path[256], moved[300], first[256], victim[256];

	make_victim(victim, sizeof(victim));
	fresh(path, sizeof(path), "link.log");
	CU_ASSERT_FATAL(symlink(victim, path) == 0);
	fresh(first, sizeof(first), "first.log");
	CU_ASSERT_EQUAL_FATAL(log_init(first, LOG_LVL_INFO, 0), 0);
	CU_ASSERT_EQUAL(log_init(path, LOG_LVL_INFO, 0), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(log_open_error(), "symbolic link"));
	log_info("kept the first target");
	CU_ASSERT(has(first, "info: kept the first target\n"));
	CU_ASSERT_EQUAL(log_check_file(path, moved, sizeof(moved)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(moved, "symbolic link"));
	assert_victim_untouched(victim);

	/* rotated away, then a link in its place before the reopen */
	snprintf(moved, sizeof(moved), "%s.1", first);
	CU_ASSERT_FATAL(rename(first, moved) == 0);
	CU_ASSERT_FATAL(symlink(victim, first) == 0);
	CU_ASSERT_EQUAL(log_reopen(), -1);
	CU_ASSERT_EQUAL(log_created_fd(), -1);
	log_info("after the refused reopen");
	CU_ASSERT(has(moved, "not reopened"));
	CU_ASSERT(has(moved, "symbolic link"));
	CU_ASSERT(has(moved, "info: after the refused reopen\n"));
	assert_victim_untouched(victim);
	restore();
}

/*
 * sshd's and logrotate's rule: a directory others may write is refused
 * unless it is sticky, and so is one on the way to it.
 */
static void
test_directory_others_may_write_is_refused_unless_sticky(void)
{
	char dir[256], sub[300], path[400], err[512];

	fresh_dir(dir, sizeof(dir), 0777);
	snprintf(path, sizeof(path), "%s/x.log", dir);
	CU_ASSERT_EQUAL(log_init(path, LOG_LVL_INFO, 0), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(log_open_error(), "writable by everyone and not sticky"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log_open_error(), dir));
	CU_ASSERT_EQUAL(log_check_file(path, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);

	/* below it, a directory of ours is no better: the one above can swap it */
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	CU_ASSERT_FATAL(mkdir(sub, 0755) == 0);
	snprintf(path, sizeof(path), "%s/x.log", sub);
	CU_ASSERT_EQUAL(log_init(path, LOG_LVL_INFO, 0), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(log_open_error(), "writable by everyone"));

	/* sticky: others may add names but not move ours */
	CU_ASSERT_FATAL(chmod(dir, 01777) == 0);
	CU_ASSERT_EQUAL(log_init(path, LOG_LVL_INFO, 0), 0);
	restore();

	if (geteuid() == 0 && getpwnam("nobody") != NULL) {
		struct passwd *pw = getpwnam("nobody");
		uid_t nuid = pw->pw_uid;
		gid_t ngid = pw->pw_gid;

		/* a group other than root's may write: refused unless sticky */
		fresh_dir(dir, sizeof(dir), 0775);
		CU_ASSERT_FATAL(chown(dir, 0, ngid) == 0);
		CU_ASSERT_FATAL(chmod(dir, 0775) == 0);
		snprintf(path, sizeof(path), "%s/x.log", dir);
		CU_ASSERT_EQUAL(log_init(path, LOG_LVL_INFO, 0), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(log_open_error(), "writable by group"));
		CU_ASSERT_FATAL(chmod(dir, 01775) == 0);
		CU_ASSERT_EQUAL(log_init(path, LOG_LVL_INFO, 0), 0);
		restore();

		/* a directory of another user is refused even when sticky: it is its owner's */
		fresh_dir(dir, sizeof(dir), 01755);
		CU_ASSERT_FATAL(chown(dir, nuid, ngid) == 0);
		CU_ASSERT_FATAL(chmod(dir, 01755) == 0);
		snprintf(path, sizeof(path), "%s/x.log", dir);
		CU_ASSERT_EQUAL(log_init(path, LOG_LVL_INFO, 0), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(log_open_error(), "belongs to uid"));
		CU_ASSERT_EQUAL(access(path, F_OK), -1);
	}
	restore();
}

/* a FIFO would block the open (or the writes); a hard link may name anyone's file */
static void
test_fifo_and_hard_link_are_refused(void)
{
	char path[256], victim[256], err[512];

	fresh(path, sizeof(path), "fifo.log");
	CU_ASSERT_FATAL(mkfifo(path, 0600) == 0);
	CU_ASSERT_EQUAL(log_init(path, LOG_LVL_INFO, 0), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(log_open_error(), "FIFO"));
	CU_ASSERT_EQUAL(log_check_file(path, err, sizeof(err)), -1);

	make_victim(victim, sizeof(victim));
	fresh(path, sizeof(path), "hard.log");
	CU_ASSERT_FATAL(link(victim, path) == 0);
	CU_ASSERT_EQUAL(log_init(path, LOG_LVL_INFO, 0), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(log_open_error(), "hard links"));
	assert_victim_untouched(victim);

	/* a character device is fine: /dev/null */
	CU_ASSERT_EQUAL(log_init("/dev/null", LOG_LVL_INFO, 0), 0);
	CU_ASSERT_EQUAL(log_created_fd(), -1);
	restore();
}

/* the -t check opens what is there and creates nothing */
static void
test_check_file_creates_nothing(void)
{
	char path[256], err[512];
	int fd;

	fresh(path, sizeof(path), "check.log");
	CU_ASSERT_EQUAL(log_check_file(path, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
	CU_ASSERT_FATAL(fd != -1);
	close(fd);
	CU_ASSERT_EQUAL(log_check_file(path, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/no/such/dir/x.log", tmpdir);
	CU_ASSERT_EQUAL(log_check_file(path, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, strerror(ENOENT)));
}

void
test_log_register(void)
{
	CU_pSuite s = CU_add_suite("log", suite_init, suite_clean);

	if (s == NULL)
		return;
#define T(f) CU_add_test(s, #f, f)
	T(test_levels_below_the_threshold_are_dropped);
	T(test_level_names_parse);
	T(test_line_format_is_time_pid_level_message);
	T(test_long_message_is_cut_to_one_line);
	T(test_stderr_and_syslog_targets);
	T(test_reopen_after_rename_writes_a_new_file);
	T(test_symbolic_link_is_never_followed);
	T(test_directory_others_may_write_is_refused_unless_sticky);
	T(test_fifo_and_hard_link_are_refused);
	T(test_check_file_creates_nothing);
#undef T
}
