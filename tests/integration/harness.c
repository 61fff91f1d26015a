/*
 * harness: runs each integration test in its own process group, starts and
 * stops sockserv servers for it, and gives it client-side helpers.  The API
 * and its conventions are described in harness.h.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <CUnit/CUnit.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "../minijson.h"

#define MAX_SERVERS 32
#define START_ATTEMPTS 5
#define FRAME_PLAUSIBLE_MAX (64u << 20)	/* larger lengths mean a broken stream */
#define DUMP_LINES 40

int it_failures;

static struct it_suite *suites_head;
static struct it_suite **suites_tail = &suites_head;

static char build_dir[PATH_MAX] = "build";
static char sockserv_path[PATH_MAX + 16] = "build/sockserv";
static int subreaper;
static char test_dir[PATH_MAX];		/* the current test's directory */
static char note[1024];			/* last helper note (see harness.h) */
static struct srv *servers[MAX_SERVERS];	/* started by this test child */
static int nservers;

/* ------------------------------------------------------------------ */
/* small utilities                                                     */

int64_t
it_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
it_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* milliseconds left until deadline, clamped for poll() */
static int
left_ms(int64_t deadline)
{
	int64_t left = deadline - it_now_ms();

	if (left < 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

const char *
it_sockserv_path(void)
{
	return sockserv_path;
}

const char *
it_build_dir(void)
{
	return build_dir;
}

const char *
it_backend(void)
{
	const char *b = getenv("SOCKSERV_BACKEND");

	return b != NULL && *b != '\0' ? b : "epoll";
}

const char *
it_status_str(int st)
{
	static char buf[96];

	if (st == -1)
		return "timeout";
	if (WIFEXITED(st))
		snprintf(buf, sizeof(buf), "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, sizeof(buf), "signal %d (%s)", WTERMSIG(st),
		    strsignal(WTERMSIG(st)));
	else
		snprintf(buf, sizeof(buf), "wait status 0x%x", st);
	return buf;
}

char *
it_mkdtemp(void)
{
	const char *base = test_dir;
	char *path;

	if (*base == '\0') {
		/* used outside the runner: fall back to TMPDIR */
		base = getenv("TMPDIR");
		if (base == NULL || *base == '\0')
			base = "/tmp";
	}
	if (asprintf(&path, "%s/srv.XXXXXX", base) == -1 || mkdtemp(path) == NULL) {
		it_report(__FILE__, __LINE__, "mkdtemp under %s: %s", base,
		    strerror(errno));
		it_abort();
	}
	return path;
}

int
it_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	int rc = 0;

	if (f == NULL) {
		it_note("fopen %s: %s", path, strerror(errno));
		return -1;
	}
	if (fputs(text, f) == EOF)
		rc = -1;
	if (fclose(f) == EOF)
		rc = -1;
	if (rc == -1)
		it_note("write %s: %s", path, strerror(errno));
	return rc;
}

/* printable preview of bytes for failure messages (static storage) */
static const char *
preview(const uint8_t *p, size_t n)
{
	static char buf[256];
	size_t i, o = 0;

	buf[o++] = '"';
	for (i = 0; i < n && i < 48 && o < sizeof(buf) - 8; i++) {
		if (isprint(p[i]) && p[i] != '"' && p[i] != '\\')
			buf[o++] = (char)p[i];
		else
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x", p[i]);
	}
	buf[o++] = '"';
	if (i < n)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "...");
	buf[o] = '\0';
	return buf;
}

int
it_run(char *const argv[], char *out, size_t outlen, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	size_t n = 0;
	int p[2], st, timed_out = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1) {
		it_note("pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	if ((pid = fork()) == -1) {
		it_note("fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		if (nul == -1 || dup2(nul, 0) == -1 || dup2(p[1], 1) == -1 ||
		    dup2(p[1], 2) == -1)
			_exit(126);
		execv(argv[0], argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		struct pollfd pfd = { p[0], POLLIN, 0 };
		char tmp[4096];
		ssize_t r;

		if (left_ms(deadline) == 0) {
			timed_out = 1;
			break;
		}
		r = poll(&pfd, 1, left_ms(deadline));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		r = read(p[0], tmp, sizeof(tmp));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (out != NULL && outlen > 1 && n < outlen - 1) {
			size_t k = (size_t)r < outlen - 1 - n ? (size_t)r : outlen - 1 - n;

			memcpy(out + n, tmp, k);
			n += k;
		}
	}
	close(p[0]);
	if (out != NULL && outlen > 0)
		out[n] = '\0';
	/* the output can end before the process does (a daemon closes it early) */
	while (!timed_out) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (r == -1 && errno != EINTR) {
			it_note("waitpid %s: %s", argv[0], strerror(errno));
			return -1;
		}
		if (left_ms(deadline) == 0)
			timed_out = 1;
		else
			it_sleep_ms(5);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	it_note("%s still running after %d ms (killed)", argv[0], timeout_ms);
	return -1;
}

/* ------------------------------------------------------------------ */
/* assertions                                                          */

void
it_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(note, sizeof(note), fmt, ap);
	va_end(ap);
}

void
it_note_clear(void)
{
	note[0] = '\0';
}

void
it_report(const char *file, int line, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s:%d: FAIL: %s\n", file, line, msg);
	if (note[0] != '\0')
		fprintf(stderr, "    (last helper note: %s)\n", note);
	it_failures++;
}

void
it_abort(void)
{
	fflush(NULL);
	_exit(it_failures > 0 ? 1 : 0);
}

void
it_skip(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "SKIP: %s\n", msg);
	it_abort();
}

long
it_memdiff(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	size_t i;

	for (i = 0; i < n; i++)
		if (x[i] != y[i])
			return (long)i;
	return -1;
}

/* ------------------------------------------------------------------ */
/* log files                                                           */

/* the file from byte offset from on, NUL-terminated (NULL if it cannot be read) */
static char *
slurp(const char *path, off_t from, size_t *lenp)
{
	struct stat sb;
	char *buf;
	size_t cap, n = 0;
	int fd;

	*lenp = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &sb) == -1) {
		close(fd);
		return NULL;
	}
	cap = sb.st_size > from ? (size_t)(sb.st_size - from) : 0;
	if ((buf = malloc(cap + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	while (n < cap) {
		ssize_t r = pread(fd, buf + n, cap - n, from + (off_t)n);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*lenp = n;
	return buf;
}

static void __attribute__((format(printf, 2, 0)))
compile_re(regex_t *re, const char *fmt, va_list ap, char *src, size_t srclen)
{
	int rc;

	vsnprintf(src, srclen, fmt, ap);
	if ((rc = regcomp(re, src, REG_EXTENDED | REG_NOSUB)) != 0) {
		char err[256];

		regerror(rc, re, err, sizeof(err));
		it_report(__FILE__, __LINE__, "bad pattern /%s/: %s", src, err);
		it_abort();
	}
}

/*
 * Call fn on every complete line of buf matching re, until it returns
 * non-zero.  Lines are NUL-terminated in place while fn looks at them.
 */
static int
each_line(char *buf, size_t len, const regex_t *re,
    int (*fn)(const char *line, void *arg), void *arg)
{
	char *p = buf, *end = buf + len, *nl;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		int stop = 0;

		*nl = '\0';
		if (regexec(re, p, 0, NULL, 0) == 0)
			stop = fn(p, arg);
		*nl = '\n';
		if (stop)
			return 1;
		p = nl + 1;
	}
	return 0;
}

struct first_line {
	char *buf;
	size_t buflen;
};

static int
take_first(const char *line, void *arg)
{
	struct first_line *fl = arg;

	if (fl->buf != NULL && fl->buflen > 0)
		snprintf(fl->buf, fl->buflen, "%s", line);
	return 1;
}

struct strv {
	char **v;
	int n;
};

static int
collect(const char *line, void *arg)
{
	struct strv *sv = arg;
	char **nv = realloc(sv->v, sizeof(*sv->v) * (size_t)(sv->n + 2));

	if (nv == NULL)
		return 1;
	sv->v = nv;
	if ((sv->v[sv->n] = strdup(line)) != NULL)
		sv->n++;
	sv->v[sv->n] = NULL;
	return 0;
}

static int __attribute__((format(printf, 6, 0)))
vfile_wait(const char *path, off_t from, int timeout_ms, char *buf, size_t buflen,
    const char *fmt, va_list ap)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	struct first_line fl = { buf, buflen };
	char src[1024];
	regex_t re;

	compile_re(&re, fmt, ap, src, sizeof(src));
	for (;;) {
		size_t len;
		char *data = slurp(path, from, &len);
		int found = data != NULL && each_line(data, len, &re, take_first, &fl);

		free(data);
		if (found) {
			regfree(&re);
			it_note_clear();
			return 0;
		}
		if (left_ms(deadline) == 0)
			break;
		it_sleep_ms(10);
	}
	regfree(&re);
	it_note("no line matching /%s/ in %s within %d ms", src, path, timeout_ms);
	return -1;
}

static char ** __attribute__((format(printf, 4, 0)))
vfile_grep(const char *path, off_t from, int *n, const char *fmt, va_list ap)
{
	struct strv sv = { NULL, 0 };
	char src[1024];
	regex_t re;
	size_t len;
	char *data;

	compile_re(&re, fmt, ap, src, sizeof(src));
	data = slurp(path, from, &len);
	if (data != NULL)
		each_line(data, len, &re, collect, &sv);
	free(data);
	regfree(&re);
	if (sv.v == NULL && (sv.v = calloc(1, sizeof(*sv.v))) == NULL) {
		it_report(__FILE__, __LINE__, "out of memory");
		it_abort();
	}
	if (n != NULL)
		*n = sv.n;
	return sv.v;
}

int
it_file_wait(const char *path, off_t from, int timeout_ms, char *buf, size_t buflen,
    const char *refmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, refmt);
	rc = vfile_wait(path, from, timeout_ms, buf, buflen, refmt, ap);
	va_end(ap);
	return rc;
}

char **
it_file_grep(const char *path, off_t from, int *n, const char *refmt, ...)
{
	va_list ap;
	char **v;

	va_start(ap, refmt);
	v = vfile_grep(path, from, n, refmt, ap);
	va_end(ap);
	return v;
}

void
it_strv_free(char **v)
{
	char **p;

	if (v == NULL)
		return;
	for (p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

void
it_file_tail(const char *path, int nlines, const char *prefix)
{
	size_t len;
	char *data = slurp(path, 0, &len), *p, *start;
	int seen = 0;

	if (data == NULL) {
		fprintf(stderr, "%s(cannot read %s: %s)\n", prefix, path, strerror(errno));
		return;
	}
	/* walk back over nlines newlines (a last line without one counts too) */
	start = data;
	p = data + len;
	if (p > data && p[-1] == '\n')
		p--;
	while (p > data) {
		if (p[-1] == '\n' && ++seen == nlines) {
			start = p;
			break;
		}
		p--;
	}
	for (p = start; *p != '\0';) {
		char *nl = strchr(p, '\n');
		int n = nl != NULL ? (int)(nl - p) : (int)strlen(p);

		fprintf(stderr, "%s%.*s\n", prefix, n, p);
		p += n + (nl != NULL);
	}
	free(data);
}

pid_t
it_log_line_pid(const char *line)
{
	const char *p = strchr(line, '[');
	char *end;
	long v;

	if (p == NULL)
		return -1;
	v = strtol(p + 1, &end, 10);
	if (end == p + 1 || *end != ']' || v <= 0)
		return -1;
	return (pid_t)v;
}

const char *
it_log_line_msg(const char *line)
{
	const char *p = strstr(line, "] "), *q;

	if (p == NULL)
		return line;
	q = strstr(p + 2, ": ");
	return q != NULL ? q + 2 : p + 2;
}

/* ------------------------------------------------------------------ */
/* servers                                                             */

/* one socket address from a numeric "127.0.0.1", "::1", "[::1]", "*" */
static int
parse_addr(const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(addr);

	memset(ss, 0, sizeof(*ss));
	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']' && n - 2 < sizeof(host)) {
		memcpy(host, addr + 1, n - 2);
		host[n - 2] = '\0';
	} else
		snprintf(host, sizeof(host), "%s", addr);
	if (strcmp(host, "*") == 0)
		snprintf(host, sizeof(host), "0.0.0.0");
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

/*
 * Bind a socket to addr with port 0 and keep it bound while the other
 * listeners pick theirs, so one config never gets the same port twice.
 */
static int
reserve_port(const char *addr, int *port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (parse_addr(addr, 0, &ss, &len) == -1) {
		it_note("listener address %s is not numeric", addr);
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		it_note("picking a port on %s: %s", addr, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	*port = ntohs(ss.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* where the current srv_start was called, for its failure message */
static const char *start_file = __FILE__;
static int start_line;

static void __attribute__((noreturn))
srv_fail(struct srv *s, const char *what)
{
	char why[sizeof(note)];

	/* no log dump here: the runner prints every log of a failed test */
	snprintf(why, sizeof(why), "%s", what);
	it_note_clear();
	if (s != NULL)
		srv_kill(s);
	it_report(start_file, start_line, "server did not start: %s", why);
	it_abort();
}

static void
write_config(struct srv *s, const struct srv_opts *o)
{
	FILE *f = fopen(s->cfg_path, "we");
	int i;

	if (f == NULL) {
		it_note("fopen %s: %s", s->cfg_path, strerror(errno));
		srv_fail(s, note);
	}
	fprintf(f, "# written by the integration test harness\n");
	fprintf(f, "workers = %d;\n", s->nworkers);
	fprintf(f, "event_backend = \"%s\";\n", o->backend ? o->backend : it_backend());
	fprintf(f, "pid_file = \"%s\";\n", s->pid_path);
	fprintf(f, "stats_path = \"%s\";\n", s->stats_path);
	/* a file target is the very file stderr goes to: both append */
	fprintf(f, "log = { target = \"%s\"; level = \"%s\"; };\n",
	    o->log_to_file ? s->log_path : "stderr",
	    o->log_level ? o->log_level : "debug");
	if (o->limits != NULL)
		fprintf(f, "limits = { %s };\n", o->limits);
	if (o->timer != NULL)
		fprintf(f, "timer = { %s };\n", o->timer);
	if (o->extra != NULL)
		fprintf(f, "%s\n", o->extra);
	fprintf(f, "listeners = (\n");
	for (i = 0; i < s->nlisteners; i++) {
		const struct srv_lst *l = &s->listeners[i];
		const char *extra = o->listeners[i].extra;

		fprintf(f, "  { name = \"%s\"; address = \"%s\"; port = %d; "
		    "codec = \"%s\"; handler = \"%s\";%s%s }%s\n",
		    l->name, l->address, l->port, l->codec, l->handler,
		    extra ? " " : "", extra ? extra : "",
		    i + 1 < s->nlisteners ? "," : "");
	}
	fprintf(f, ");\n");
	if (fclose(f) == EOF) {
		it_note("write %s: %s", s->cfg_path, strerror(errno));
		srv_fail(s, note);
	}
}

/* a fresh directory, fresh ports and the config for one start attempt */
static void
setup(struct srv *s, const struct srv_opts *o)
{
	int fds[SRV_MAX_LISTENERS];
	char *dir = it_mkdtemp();
	int i;

	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	free(dir);
	snprintf(s->cfg_path, sizeof(s->cfg_path), "%s/sockserv.cfg", s->dir);
	snprintf(s->log_path, sizeof(s->log_path), "%s/server.log", s->dir);
	snprintf(s->pid_path, sizeof(s->pid_path), "%s/sockserv.pid", s->dir);
	snprintf(s->stats_path, sizeof(s->stats_path), "%s/sockserv.shm", s->dir);
	s->mark = 0;
	s->pid = -1;
	memset(s->workers, 0, sizeof(s->workers));
	for (i = 0; i < s->nlisteners; i++) {
		fds[i] = -1;
		s->listeners[i].port = o->listeners[i].port;
		if (s->listeners[i].port == 0 &&
		    (fds[i] = reserve_port(s->listeners[i].address,
		    &s->listeners[i].port)) == -1)
			srv_fail(s, note);
	}
	for (i = 0; i < s->nlisteners; i++)
		if (fds[i] != -1)
			close(fds[i]);
	write_config(s, o);
}

static struct srv *
srv_new(const struct srv_opts *o)
{
	struct srv *s = calloc(1, sizeof(*s));
	int i;

	if (s == NULL)
		srv_fail(NULL, "out of memory");
	s->pid = -1;
	s->nworkers = o->workers > 0 ? o->workers : 1;
	if (s->nworkers > SRV_MAX_WORKERS)
		srv_fail(s, "too many workers for the harness");
	for (i = 0; i < SRV_MAX_LISTENERS && o->listeners[i].name != NULL; i++) {
		const struct srv_listener *in = &o->listeners[i];
		struct srv_lst *l = &s->listeners[i];

		snprintf(l->name, sizeof(l->name), "%s", in->name);
		snprintf(l->address, sizeof(l->address), "%s",
		    in->address ? in->address : "127.0.0.1");
		snprintf(l->codec, sizeof(l->codec), "%s", in->codec ? in->codec : "frame");
		snprintf(l->handler, sizeof(l->handler), "%s",
		    in->handler ? in->handler : "echo");
	}
	s->nlisteners = i;
	if (s->nlisteners == 0)
		srv_fail(s, "srv_opts has no listener");
	if (nservers < MAX_SERVERS)
		servers[nservers++] = s;
	return s;
}

struct srv *
srv_prepare(const struct srv_opts *o)
{
	struct srv *s = srv_new(o);

	setup(s, o);
	return s;
}

/*
 * SOCKSERV_WRAP (make valgrind): words put in front of the server's command
 * line, "valgrind --leak-check=full ...".  The wrapper must run the server
 * in its own process, as valgrind does, so the pid, the signals and the exit
 * status the tests see stay the server's.  Returns only if it is unset.
 */
static void
wrap_exec(char *const argv[])
{
	const char *wrap = getenv("SOCKSERV_WRAP");
	char *copy, *save, *w, *nargv[64];
	int n = 0;

	if (wrap == NULL || wrap[0] == '\0' || (copy = strdup(wrap)) == NULL)
		return;
	for (w = strtok_r(copy, " \t", &save); w != NULL && n < 58; w = strtok_r(NULL, " \t", &save))
		nargv[n++] = w;
	for (int i = 0; argv[i] != NULL && n < 63; i++)
		nargv[n++] = argv[i];
	nargv[n] = NULL;
	execvp(nargv[0], nargv);
	dprintf(2, "exec %s: %s\n", nargv[0], strerror(errno));
	_exit(127);
}

int
srv_launch(struct srv *s)
{
	char *argv[] = { sockserv_path, (char *)"-c", s->cfg_path, (char *)"-f", NULL };
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) == -1) {
		it_note("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int nul = open("/dev/null", O_RDONLY);
		sigset_t none;

		/* the server should see what a shell would give it */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (fd == -1 || nul == -1 || dup2(nul, 0) == -1 || dup2(fd, 1) == -1 ||
		    dup2(fd, 2) == -1)
			_exit(126);
		if (fd > 2)
			close(fd);
		if (nul > 2)
			close(nul);
		wrap_exec(argv);
		execv(argv[0], argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	s->pid = pid;
	return 0;
}

/* the master has exited (it is reaped here if it was ours) */
static int
master_gone(struct srv *s)
{
	pid_t r;
	int st;

	if (s->pid <= 0)
		return 1;
	r = waitpid(s->pid, &st, WNOHANG);
	if (r == s->pid) {
		s->status = st;
		s->pid = -1;
		return 1;
	}
	/* not our child (srv_prepare users may set pid themselves) */
	if (r == -1 && errno == ECHILD && kill(s->pid, 0) == -1 && errno == ESRCH) {
		s->pid = -1;
		return 1;
	}
	return 0;
}

/* 1 when every worker logged "started" (master) and "running" (itself) */
static int
workers_running(struct srv *s, int *nstarted, int *nrunning)
{
	int started_slot[SRV_MAX_WORKERS], running_slot[SRV_MAX_WORKERS];
	int ns = 0, nr = 0, i;
	size_t len;
	char *data = slurp(s->log_path, 0, &len), *p, *nl;

	for (p = data; p != NULL && (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		const char *msg;
		int slot, pid, n = 0;

		*nl = '\0';
		msg = it_log_line_msg(p);
		if (sscanf(msg, "worker %d started (pid %d)%n", &slot, &pid, &n) == 2 &&
		    n > 0) {
			for (i = 0; i < ns && started_slot[i] != slot; i++)
				;
			if (i == ns && ns < s->nworkers) {
				started_slot[ns] = slot;
				s->workers[ns++] = pid;
			}
		} else if (sscanf(msg, "worker %d running%n", &slot, &n) == 1 && n > 0) {
			for (i = 0; i < nr && running_slot[i] != slot; i++)
				;
			if (i == nr && nr < s->nworkers)
				running_slot[nr++] = slot;
		}
	}
	free(data);
	*nstarted = ns;
	*nrunning = nr;
	return ns == s->nworkers && nr == s->nworkers;
}

int
srv_wait_ready(struct srv *s, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	int i, ns = 0, nr = 0;

	while (!workers_running(s, &ns, &nr)) {
		if (master_gone(s)) {
			it_note("sockserv exited before it was ready (%s)",
			    it_status_str(s->status));
			return -1;
		}
		if (left_ms(deadline) == 0) {
			it_note("after %d ms, %d of %d workers logged \"worker SLOT "
			    "started (pid P)\" and %d \"worker SLOT running\"",
			    timeout_ms, ns, s->nworkers, nr);
			return -1;
		}
		it_sleep_ms(10);
	}
	/*
	 * A probe per listener proves it accepts; waiting for the probe's
	 * close line means no half-counted probe is left to skew a test
	 * about connection limits.
	 */
	for (i = 0; i < s->nlisteners; i++) {
		const struct srv_lst *l = &s->listeners[i];
		int fd, lport;

		while ((fd = cli_connect(srv_addr(s, l->name), l->port)) == -1) {
			if (master_gone(s)) {
				it_note("sockserv exited before it was ready (%s)",
				    it_status_str(s->status));
				return -1;
			}
			if (left_ms(deadline) == 0) {
				it_note("listener %s (%s:%d) accepts no connection "
				    "within %d ms", l->name, l->address, l->port,
				    timeout_ms);
				return -1;
			}
			it_sleep_ms(10);
		}
		lport = cli_local_port(fd);
		close(fd);
		if (it_file_wait(s->log_path, 0, left_ms(deadline), NULL, 0,
		    "close %s .*:%d reason ", l->name, lport) == -1) {
			it_note("listener %s: no \"close %s ADDR:%d reason ...\" line "
			    "for the readiness probe within %d ms", l->name, l->name,
			    lport, timeout_ms);
			return -1;
		}
	}
	srv_log_mark(s);
	it_note_clear();
	return 0;
}

static int
log_says_port_taken(struct srv *s)
{
	int n;

	it_strv_free(it_file_grep(s->log_path, 0, &n, "[Aa]ddress already in use|EADDRINUSE"));
	return n > 0;
}

struct srv *
srv_start_at(const char *file, int line, const struct srv_opts *o)
{
	int timeout = o->ready_timeout_ms > 0 ? o->ready_timeout_ms : SRV_READY_TIMEOUT_MS;
	int attempt, picked = 0, i;
	struct srv *s;

	start_file = file;
	start_line = line;
	s = srv_new(o);

	for (i = 0; i < s->nlisteners; i++)
		picked |= o->listeners[i].port == 0;
	for (attempt = 1;; attempt++) {
		setup(s, o);
		if (srv_launch(s) == -1)
			srv_fail(s, note);
		if (srv_wait_ready(s, timeout) == 0)
			return s;
		/* someone took a picked port between our probe bind and the server's */
		if (s->pid == -1 && picked && attempt < START_ATTEMPTS &&
		    log_says_port_taken(s)) {
			fprintf(stderr, "srv_start: a port was taken, retrying with new "
			    "ports (%s kept)\n", s->log_path);
			continue;
		}
		srv_fail(s, note);
	}
}

static const struct srv_lst *
find_listener(const struct srv *s, const char *name)
{
	int i;

	for (i = 0; i < s->nlisteners; i++)
		if (strcmp(s->listeners[i].name, name) == 0)
			return &s->listeners[i];
	it_report(__FILE__, __LINE__, "the server has no listener \"%s\"", name);
	it_abort();
}

int
srv_port(const struct srv *s, const char *name)
{
	return find_listener(s, name)->port;
}

const char *
srv_addr(const struct srv *s, const char *name)
{
	const char *a = find_listener(s, name)->address;

	/* wildcard listeners are reached over loopback */
	if (strcmp(a, "*") == 0 || strcmp(a, "0.0.0.0") == 0)
		return "127.0.0.1";
	if (strcmp(a, "::") == 0)
		return "::1";
	return a;
}

int
srv_stop(struct srv *s, int sig, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	if (s->pid <= 0)
		return s->status;
	if (kill(s->pid, sig) == -1) {
		it_note("kill %d: %s", (int)s->pid, strerror(errno));
		return -1;
	}
	for (;;) {
		if (master_gone(s))
			return s->status;
		if (left_ms(deadline) == 0) {
			it_note("sockserv (pid %d) still running %d ms after signal %d",
			    (int)s->pid, timeout_ms, sig);
			return -1;
		}
		it_sleep_ms(5);
	}
}

void
srv_kill(struct srv *s)
{
	int i, st;

	/* only processes still in our group can be our workers */
	for (i = 0; i < s->nworkers; i++)
		if (s->workers[i] > 0 && getpgid(s->workers[i]) == getpgrp())
			kill(s->workers[i], SIGKILL);
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		if (waitpid(s->pid, &st, 0) == s->pid)
			s->status = st;
		s->pid = -1;
	}
}

void
srv_dump_log(const struct srv *s, int nlines)
{
	fprintf(stderr, "---- %s (last %d lines) ----\n", s->log_path, nlines);
	it_file_tail(s->log_path, nlines, "  | ");
	fprintf(stderr, "---- end of %s ----\n", s->log_path);
}

off_t
srv_log_mark(struct srv *s)
{
	struct stat sb;

	s->mark = stat(s->log_path, &sb) == 0 ? sb.st_size : 0;
	return s->mark;
}

int
srv_log_wait(struct srv *s, int timeout_ms, char *buf, size_t buflen,
    const char *refmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, refmt);
	rc = vfile_wait(s->log_path, s->mark, timeout_ms, buf, buflen, refmt, ap);
	va_end(ap);
	return rc;
}

int
srv_log_count(struct srv *s, const char *refmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, refmt);
	it_strv_free(vfile_grep(s->log_path, s->mark, &n, refmt, ap));
	va_end(ap);
	return n;
}

int
srv_log_wait_count(struct srv *s, int n, int timeout_ms, const char *refmt, ...)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	int have;

	for (;;) {
		va_list ap;

		va_start(ap, refmt);
		it_strv_free(vfile_grep(s->log_path, s->mark, &have, refmt, ap));
		va_end(ap);
		if (have >= n) {
			it_note_clear();
			return have;
		}
		if (left_ms(deadline) == 0)
			break;
		it_sleep_ms(10);
	}
	it_note("%d of %d expected log lines after %d ms (pattern starts \"%.60s\")",
	    have, n, timeout_ms, refmt);
	return -1;
}

char **
srv_log_grep(struct srv *s, int *n, const char *refmt, ...)
{
	va_list ap;
	char **v;

	va_start(ap, refmt);
	v = vfile_grep(s->log_path, s->mark, n, refmt, ap);
	va_end(ap);
	return v;
}

int
it_proc_status_line(pid_t pid, const char *name, char *line, size_t len)
{
	char path[64], buf[256];
	size_t nl = strlen(name);
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (!found && fgets(buf, sizeof(buf), f) != NULL) {
		if (strncmp(buf, name, nl) == 0 && buf[nl] == ':') {
			snprintf(line, len, "%s", buf + nl + 1);
			found = 1;
		}
	}
	fclose(f);
	return found ? 0 : -1;
}

#define STAT_TIMEOUT_MS 10000
#define STAT_OUT_MAX (256 * 1024)

const char *
it_stat_prog(void)
{
	static char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/sockserv-stat", build_dir);
	if (access(path, X_OK) == -1)
		IT_FAIL("%s: %s", path, strerror(errno));
	return path;
}

int
it_run_va(const char *prog, char *out, size_t outlen, int timeout_ms, va_list ap)
{
	char *argv[16];
	int n = 0;

	argv[n++] = (char *)prog;
	while (n < 15 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	argv[n] = NULL;
	return it_run(argv, out, outlen, timeout_ms);
}

int
it_stat_run(char *out, size_t outlen, ...)
{
	va_list ap;
	int st;

	va_start(ap, outlen);
	st = it_run_va(it_stat_prog(), out, outlen, STAT_TIMEOUT_MS, ap);
	va_end(ap);
	return st;
}

struct mj *
srv_stat_json(struct srv *s)
{
	static char out[STAT_OUT_MAX];
	char err[200];
	struct mj *root;
	int st = it_stat_run(out, sizeof(out), "-c", s->cfg_path, "--json", (char *)NULL);

	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		IT_FAIL("sockserv-stat --json: %s, output:\n%s", it_status_str(st), out);
	if ((root = mj_parse(out, err, sizeof(err))) == NULL)
		IT_FAIL("sockserv-stat --json printed bad JSON (%s):\n%s", err, out);
	return root;
}

uint64_t
it_json_u64(const struct mj *v, const char *key)
{
	uint64_t x;

	if (mj_uint(v, key, &x) == -1)
		IT_FAIL("no integer \"%s\" in the JSON", key);
	return x;
}

void
srv_cfg_replace(struct srv *s, const char *from, const char *to)
{
	char text[16384], out[16384 + 256], *p;
	FILE *f = fopen(s->cfg_path, "r");
	size_t n;

	IT_ASSERT(f != NULL);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	IT_ASSERT((p = strstr(text, from)) != NULL);
	IT_ASSERT(n + strlen(to) < sizeof(out) + strlen(from));
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
	IT_ASSERT(it_write_file(s->cfg_path, out) == 0);
}

/* at the end of a test: a sanitizer report in any server log is a failure */
static void
check_sanitizer_reports(void)
{
	int i, n;

	for (i = 0; i < nservers; i++) {
		char **v = it_file_grep(servers[i]->log_path, 0, &n,
		    "AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|"
		    "runtime error:");

		if (n > 0) {
			it_report(__FILE__, __LINE__, "sanitizer report in %s: %s",
			    servers[i]->log_path, v[0]);
		}
		it_strv_free(v);
	}
}

/* ------------------------------------------------------------------ */
/* clients                                                             */

const char *
cli_status_name(int st)
{
	static const char *const names[] = {
		"CLI_OK", "CLI_EOF", "CLI_RESET", "CLI_TIMEOUT", "CLI_DATA", "CLI_ERROR",
	};

	if (st < 0 || (size_t)st >= sizeof(names) / sizeof(names[0]))
		return "CLI_?";
	return names[st];
}

int
cli_connect(const char *addr, int port)
{
	return cli_connect_from(NULL, addr, port);
}

int
cli_connect_from(const char *src, const char *addr, int port)
{
	struct sockaddr_storage ss, sa;
	socklen_t sl, al, errlen = sizeof(int);
	struct pollfd pfd;
	int fd, err = 0, one = 1, flags, r;

	if (parse_addr(addr, port, &ss, &sl) == -1) {
		it_note("connect: %s is not a numeric address", addr);
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1) {
		it_note("socket: %s", strerror(errno));
		return -1;
	}
	if (src != NULL && (parse_addr(src, 0, &sa, &al) == -1 ||
	    bind(fd, (struct sockaddr *)&sa, al) == -1)) {
		it_note("bind %s: %s", src, strerror(errno));
		close(fd);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) == -1 && errno != EINPROGRESS) {
		it_note("connect %s:%d: %s", addr, port, strerror(errno));
		close(fd);
		return -1;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	while ((r = poll(&pfd, 1, IT_IO_TIMEOUT_MS)) == -1 && errno == EINTR)
		;
	if (r <= 0) {
		it_note("connect %s:%d: no answer within %d ms", addr, port,
		    IT_IO_TIMEOUT_MS);
		close(fd);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) == -1 || err != 0) {
		it_note("connect %s:%d: %s", addr, port, strerror(err ? err : errno));
		close(fd);
		return -1;
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1) {
		it_note("socket options: %s", strerror(errno));
		close(fd);
		return -1;
	}
	it_note_clear();
	return fd;
}

int
cli_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int
cli_send_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	const uint8_t *p = buf;
	size_t off = 0;

	while (off < len) {
		ssize_t r = send(fd, p + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		struct pollfd pfd = { fd, POLLOUT, 0 };

		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (left_ms(deadline) == 0) {
				it_note("send: %zu of %zu bytes went in %d ms", off, len,
				    timeout_ms);
				return CLI_TIMEOUT;
			}
			poll(&pfd, 1, left_ms(deadline));
			continue;
		}
		it_note("send: %zu of %zu bytes, then %s", off, len, strerror(errno));
		return errno == EPIPE || errno == ECONNRESET ? CLI_RESET : CLI_ERROR;
	}
	it_note_clear();
	return CLI_OK;
}

/* one recv of at most n (> 0) bytes before deadline; 0 with *st set when none */
static ssize_t
recv_some(int fd, void *buf, size_t n, int64_t deadline, int *st)
{
	for (;;) {
		ssize_t r = recv(fd, buf, n, MSG_DONTWAIT);
		struct pollfd pfd = { fd, POLLIN, 0 };

		if (r > 0)
			return r;
		if (r == 0) {
			*st = CLI_EOF;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == ECONNRESET || errno == EPIPE) {
			*st = CLI_RESET;
			return 0;
		}
		if (errno != EAGAIN) {
			it_note("recv: %s", strerror(errno));
			*st = CLI_ERROR;
			return 0;
		}
		if (left_ms(deadline) == 0) {
			*st = CLI_TIMEOUT;
			return 0;
		}
		poll(&pfd, 1, left_ms(deadline));
	}
}

static int
read_exact_until(int fd, void *buf, size_t n, int64_t deadline, size_t *got)
{
	uint8_t *p = buf;
	size_t off = 0;
	int st = CLI_OK;

	while (off < n) {
		ssize_t r = recv_some(fd, p + off, n - off, deadline, &st);

		if (r == 0)
			break;
		off += (size_t)r;
	}
	if (got != NULL)
		*got = off;
	if (off < n) {
		if (st != CLI_ERROR)
			it_note("read: %zu of %zu bytes arrived, then %s", off, n,
			    cli_status_name(st));
		return st;
	}
	it_note_clear();
	return CLI_OK;
}

int
cli_read_exact(int fd, void *buf, size_t n, int timeout_ms, size_t *got)
{
	return read_exact_until(fd, buf, n, it_now_ms() + timeout_ms, got);
}

int
cli_wait_eof(int fd, int timeout_ms)
{
	uint8_t tmp[512];
	int st = CLI_OK;
	ssize_t r = recv_some(fd, tmp, sizeof(tmp), it_now_ms() + timeout_ms, &st);

	if (r > 0) {
		it_note("%zd bytes arrived where EOF was expected: %s", r,
		    preview(tmp, (size_t)r));
		return CLI_DATA;
	}
	if (st == CLI_TIMEOUT)
		it_note("no EOF within %d ms", timeout_ms);
	return st;
}

int
cli_wait_silence(int fd, int ms)
{
	uint8_t tmp[512];
	int st = CLI_OK;
	ssize_t r = recv_some(fd, tmp, sizeof(tmp), it_now_ms() + ms, &st);

	if (r > 0) {
		it_note("%zd bytes arrived where silence was expected: %s", r,
		    preview(tmp, (size_t)r));
		return CLI_DATA;
	}
	if (st != CLI_TIMEOUT)
		it_note("%s where silence was expected", cli_status_name(st));
	return st;
}

int
cli_exchange(int fd, const void *out, size_t outlen, void *in, size_t inlen,
    int timeout_ms, size_t *sentp, size_t *gotp)
{
	return cli_exchange_at(fd, out, outlen, in, inlen, timeout_ms, sentp, gotp, NULL);
}

int
cli_exchange_at(int fd, const void *out, size_t outlen, void *in, size_t inlen,
    int timeout_ms, size_t *sentp, size_t *gotp, int64_t *sent_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	const uint8_t *o = out;
	uint8_t *i = in;
	size_t sent = 0, got = 0;
	int sending = outlen > 0, st = CLI_OK;

	if (sent_ms != NULL)
		*sent_ms = it_now_ms();

	while (sending || got < inlen) {
		struct pollfd pfd = { fd, 0, 0 };
		ssize_t r;

		if (left_ms(deadline) == 0) {
			st = CLI_TIMEOUT;
			break;
		}
		pfd.events = (short)((sending ? POLLOUT : 0) | (got < inlen ? POLLIN : 0));
		if (poll(&pfd, 1, left_ms(deadline)) == -1) {
			if (errno == EINTR)
				continue;
			st = CLI_ERROR;
			break;
		}
		if (sending && pfd.revents != 0) {
			r = send(fd, o + sent, outlen - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (r > 0 && (sent += (size_t)r) == outlen) {
				sending = 0;
				if (sent_ms != NULL)
					*sent_ms = it_now_ms();
			} else if (r == -1 && (errno == EPIPE || errno == ECONNRESET))
				sending = 0;	/* what the peer sent before is still readable */
			else if (r == -1 && errno != EAGAIN && errno != EINTR) {
				it_note("send: %s", strerror(errno));
				st = CLI_ERROR;
				break;
			}
		}
		if (got < inlen && pfd.revents != 0) {
			r = recv(fd, i + got, inlen - got, MSG_DONTWAIT);
			if (r > 0)
				got += (size_t)r;
			else if (r == 0) {
				st = CLI_EOF;
				break;
			} else if (errno == ECONNRESET || errno == EPIPE) {
				st = CLI_RESET;
				break;
			} else if (errno != EAGAIN && errno != EINTR) {
				it_note("recv: %s", strerror(errno));
				st = CLI_ERROR;
				break;
			}
		}
	}
	if (sentp != NULL)
		*sentp = sent;
	if (gotp != NULL)
		*gotp = got;
	if (got == inlen && st != CLI_ERROR) {
		it_note_clear();
		return CLI_OK;
	}
	if (st != CLI_ERROR)
		it_note("exchange: sent %zu of %zu, received %zu of %zu, then %s",
		    sent, outlen, got, inlen, cli_status_name(st));
	return st;
}

void
it_buf_add(struct it_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *d;

		while (cap < b->len + n)
			cap *= 2;
		if ((d = realloc(b->data, cap)) == NULL) {
			it_report(__FILE__, __LINE__, "out of memory (%zu bytes)", cap);
			it_abort();
		}
		b->data = d;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

void
it_buf_free(struct it_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void
frame_append(struct it_buf *b, uint8_t type, const void *payload, uint32_t len)
{
	uint8_t hdr[FRAME_HDR_LEN];

	proto_frame_header(hdr, type, len);
	it_buf_add(b, hdr, sizeof(hdr));
	it_buf_add(b, payload, len);
}

void
hdrs_append(struct it_buf *b, const char *magic, const void *payload, uint32_t len)
{
	uint8_t be[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16),
	    (uint8_t)(len >> 8), (uint8_t)len };

	it_buf_add(b, magic, strlen(magic));
	it_buf_add(b, be, sizeof(be));
	it_buf_add(b, payload, len);
}

void
it_frame_free(struct it_frame *f)
{
	free(f->payload);
	f->payload = NULL;
}

int
frame_error_code(const struct it_frame *f)
{
	if (f->len < 2 || f->payload == NULL)
		return -1;
	return f->payload[0] << 8 | f->payload[1];
}

int
cli_send_frame(int fd, uint8_t type, const void *payload, uint32_t len)
{
	struct it_buf b = { NULL, 0, 0 };
	int st;

	frame_append(&b, type, payload, len);
	st = cli_send_all(fd, b.data, b.len, IT_IO_TIMEOUT_MS);
	it_buf_free(&b);
	return st;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* read len payload bytes into a fresh NUL-terminated f->payload */
static int
read_payload(int fd, struct it_frame *f, int64_t deadline)
{
	if (f->len > FRAME_PLAUSIBLE_MAX) {
		it_note("message length %u is not plausible: the stream is out of step",
		    f->len);
		return CLI_ERROR;
	}
	if ((f->payload = malloc((size_t)f->len + 1)) == NULL) {
		it_note("out of memory");
		return CLI_ERROR;
	}
	f->payload[f->len] = '\0';
	return read_exact_until(fd, f->payload, f->len, deadline, NULL);
}

int
cli_read_frame(int fd, struct it_frame *f, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	uint8_t h[FRAME_HDR_LEN];
	int st;

	memset(f, 0, sizeof(*f));
	if ((st = read_exact_until(fd, h, sizeof(h), deadline, NULL)) != CLI_OK)
		return st;
	f->magic[0] = h[0];
	f->magic[1] = h[1];
	f->version = h[2];
	f->type = h[3];
	f->len = be32(h + 4);
	return read_payload(fd, f, deadline);
}

int
cli_read_headers(int fd, const char *magic, struct it_frame *f, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	size_t mlen = strlen(magic);
	uint8_t h[64 + 4];
	int st;

	memset(f, 0, sizeof(*f));
	if (mlen > 64) {
		it_note("magic too long");
		return CLI_ERROR;
	}
	if ((st = read_exact_until(fd, h, mlen + 4, deadline, NULL)) != CLI_OK)
		return st;
	if (memcmp(h, magic, mlen) != 0) {
		it_note("headers message starts with %s, not the magic \"%s\"",
		    preview(h, mlen + 4), magic);
		return CLI_ERROR;
	}
	f->type = FRAME_DATA;
	f->len = be32(h + mlen);
	return read_payload(fd, f, deadline);
}

static const char *
type_name(int type)
{
	static const char *const names[] = { "?", "DATA", "PING", "PONG", "ERROR", "CLOSE" };

	return type >= 1 && type <= 5 ? names[type] : "unknown-type";
}

/* "ERROR len 17 code 4 "frame too large"" style description of a frame */
static const char *
describe(const struct it_frame *f)
{
	static char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf), "%s (type %d) len %u", type_name(f->type),
	    f->type, f->len);
	if (f->magic[0] != FRAME_MAGIC0 || f->magic[1] != FRAME_MAGIC1 ||
	    f->version != FRAME_VERSION)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n,
		    " [header %02x %02x version %d]", f->magic[0], f->magic[1],
		    f->version);
	if (f->type == FRAME_ERROR && f->len >= 2)
		snprintf(buf + n, sizeof(buf) - (size_t)n, " code %d %s",
		    frame_error_code(f), preview(f->payload + 2, f->len - 2));
	else if (f->payload != NULL)
		snprintf(buf + n, sizeof(buf) - (size_t)n, " %s",
		    preview(f->payload, f->len));
	return buf;
}

/* got and want differ at offset d: show both from a little before it */
static void
report_diff(const char *file, int line, const char *what, const uint8_t *got,
    const void *want, size_t len, long d)
{
	size_t from = d > 16 ? (size_t)d - 16 : 0;
	char g[256];

	snprintf(g, sizeof(g), "%s", preview(got + from, len - from));
	it_report(file, line, "%s payload of %zu bytes differs at offset %ld; from "
	    "offset %zu got %s, expected %s", what, len, d, from, g,
	    preview((const uint8_t *)want + from, len - from));
}

static void
check_frame(const char *file, int line, const struct it_frame *f, int type,
    const void *payload, size_t len)
{
	long d;

	if (f->magic[0] != FRAME_MAGIC0 || f->magic[1] != FRAME_MAGIC1 ||
	    f->version != FRAME_VERSION || f->type != type || f->len != len) {
		it_report(file, line, "expected %s len %zu, got %s", type_name(type),
		    len, describe(f));
		it_abort();
	}
	if (len > 0 && (d = it_memdiff(f->payload, payload, len)) >= 0) {
		report_diff(file, line, type_name(type), f->payload, payload, len, d);
		it_abort();
	}
}

void
it_expect_frame_at(const char *file, int line, int fd, int type,
    const void *payload, size_t len)
{
	struct it_frame f;
	int st = cli_read_frame(fd, &f, IT_IO_TIMEOUT_MS);

	if (st != CLI_OK) {
		it_report(file, line, "expected a %s frame of %zu bytes, got %s",
		    type_name(type), len, cli_status_name(st));
		it_abort();
	}
	check_frame(file, line, &f, type, payload, len);
	it_frame_free(&f);
}

void
it_expect_error_eof_at(const char *file, int line, int fd, int code)
{
	struct it_frame f;
	int st = cli_read_frame(fd, &f, IT_IO_TIMEOUT_MS);

	if (st != CLI_OK) {
		it_report(file, line, "expected an ERROR frame (code %d), got %s",
		    code, cli_status_name(st));
		it_abort();
	}
	if (f.type != FRAME_ERROR || frame_error_code(&f) != code ||
	    f.magic[0] != FRAME_MAGIC0 || f.magic[1] != FRAME_MAGIC1) {
		it_report(file, line, "expected ERROR code %d, got %s", code,
		    describe(&f));
		it_abort();
	}
	it_frame_free(&f);
	st = cli_wait_eof(fd, IT_IO_TIMEOUT_MS);
	if (st != CLI_EOF && st != CLI_RESET) {
		it_report(file, line, "expected EOF after ERROR %d, got %s", code,
		    cli_status_name(st));
		it_abort();
	}
}

void
it_expect_bytes_at(const char *file, int line, int fd, const void *want, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	size_t got = 0;
	long d;
	int st;

	if (buf == NULL) {
		it_report(file, line, "out of memory");
		it_abort();
	}
	st = cli_read_exact(fd, buf, len, IT_IO_TIMEOUT_MS, &got);
	if (st != CLI_OK) {
		it_report(file, line, "expected %zu bytes, got %zu (%s) %s", len, got,
		    cli_status_name(st), preview(buf, got));
		it_abort();
	}
	if ((d = it_memdiff(buf, want, len)) >= 0) {
		report_diff(file, line, "bytes", buf, want, len, d);
		it_abort();
	}
	free(buf);
}

void
it_expect_headers_at(const char *file, int line, int fd, const char *magic,
    const void *payload, size_t len)
{
	struct it_frame f;
	int st = cli_read_headers(fd, magic, &f, IT_IO_TIMEOUT_MS);
	long d;

	if (st != CLI_OK) {
		it_report(file, line, "expected a \"%s\" message of %zu bytes, got %s",
		    magic, len, cli_status_name(st));
		it_abort();
	}
	if (f.len != len) {
		it_report(file, line, "expected a \"%s\" message of %zu bytes, got %u: %s",
		    magic, len, f.len, preview(f.payload, f.len));
		it_abort();
	}
	if (len > 0 && (d = it_memdiff(f.payload, payload, len)) >= 0) {
		report_diff(file, line, magic, f.payload, payload, len, d);
		it_abort();
	}
	it_frame_free(&f);
}

void
it_expect_eof_at(const char *file, int line, int fd)
{
	int st = cli_wait_eof(fd, IT_IO_TIMEOUT_MS);

	if (st != CLI_EOF && st != CLI_RESET) {
		it_report(file, line, "expected EOF, got %s", cli_status_name(st));
		it_abort();
	}
}

void
it_expect_silence_at(const char *file, int line, int fd, int ms)
{
	int st = cli_wait_silence(fd, ms);

	if (st != CLI_TIMEOUT) {
		it_report(file, line, "expected nothing for %d ms, got %s", ms,
		    cli_status_name(st));
		it_abort();
	}
}

/* ------------------------------------------------------------------ */
/* the runner side                                                     */

void
it_register_suite(struct it_suite *suite)
{
	suite->next = NULL;
	*suites_tail = suite;
	suites_tail = &suite->next;
}

struct it_suite *
it_suites(void)
{
	return suites_head;
}

/* the running test's process group (it and the servers it started), 0 between tests */
static volatile sig_atomic_t current_pgid;

/*
 * The runner itself is stopped (^C, a CI timeout, kill): take the running
 * test's servers down with it instead of leaving them listening.
 */
static void
on_runner_signal(int sig)
{
	pid_t g = (pid_t)current_pgid;

	if (g > 0)
		kill(-g, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

int
it_runner_init(void)
{
	const char *b = getenv("SOCKSERV_BUILD");
	char *abs;

	if (b == NULL || *b == '\0')
		b = "build";
	/* absolute, because a daemonised server changes its directory */
	if ((abs = realpath(b, NULL)) == NULL) {
		fprintf(stderr, "test_integration: SOCKSERV_BUILD=%s: %s\n", b,
		    strerror(errno));
		return -1;
	}
	snprintf(build_dir, sizeof(build_dir), "%s", abs);
	free(abs);
	snprintf(sockserv_path, sizeof(sockserv_path), "%s/sockserv", build_dir);
	if (access(sockserv_path, X_OK) == -1) {
		fprintf(stderr, "test_integration: %s: %s\n", sockserv_path,
		    strerror(errno));
		return -1;
	}
	/*
	 * Orphans of a test (workers whose master died first, daemons that
	 * left the group on purpose) become ours, so they are reaped instead of
	 * lingering as zombies that still answer kill(pid, 0).
	 */
	subreaper = prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
	signal(SIGTERM, on_runner_signal);
	signal(SIGINT, on_runner_signal);
	signal(SIGHUP, on_runner_signal);
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static int
dump_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	size_t n = strlen(path);

	(void)sb;
	(void)ftw;
	if (flag == FTW_F && n > 4 && strcmp(path + n - 4, ".log") == 0) {
		fprintf(stderr, "  ---- %s (last %d lines) ----\n", path, DUMP_LINES);
		it_file_tail(path, DUMP_LINES, "  | ");
	}
	return 0;
}

/*
 * Under SOCKSERV_WRAP (valgrind), servers the test left running are stopped
 * with SIGTERM, not killed with the group: valgrind checks for leaks only in
 * a process that exits.  One that does not stop in time is killed as usual.
 */
static void
wrap_stop_servers(void)
{
	const char *wrap = getenv("SOCKSERV_WRAP");

	if (wrap == NULL || wrap[0] == '\0')
		return;
	for (int i = 0; i < nservers; i++)
		if (servers[i]->pid > 0)
			srv_stop(servers[i], SIGTERM, 20000);
}

/* SIGKILL everything left in the test's group and reap what became ours */
static void
kill_group(pid_t pgid)
{
	int64_t deadline = it_now_ms() + 2000;
	int st;

	while (kill(-pgid, SIGKILL) == 0 && subreaper && left_ms(deadline) > 0) {
		while (waitpid(-1, &st, WNOHANG) > 0)
			;
		it_sleep_ms(2);
	}
	while (waitpid(-1, &st, WNOHANG) > 0)
		;
}

static void __attribute__((noreturn))
run_child(const struct it_test *t)
{
	setpgid(0, 0);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	it_failures = 0;
	t->fn();
	wrap_stop_servers();
	check_sanitizer_reports();
	it_abort();
}

/* fork the test, wait for it within its limit, then clean up; 0 if it passed */
static int
run_test(const struct it_test *t, char *msg, size_t msglen)
{
	int timeout_s = t->timeout_s > 0 ? t->timeout_s : IT_DEFAULT_TIMEOUT_S;
	const char *tmp = getenv("TMPDIR");
	int64_t deadline;
	int st = 0, timed_out = 0, ok;
	pid_t pid;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(test_dir, sizeof(test_dir), "%s/sockserv-it.%s.XXXXXX", tmp, t->name);
	if (mkdtemp(test_dir) == NULL) {
		snprintf(msg, msglen, "%.100s: mkdtemp %.200s: %s", t->name, test_dir,
		    strerror(errno));
		return -1;
	}
	fflush(NULL);
	if ((pid = fork()) == -1) {
		snprintf(msg, msglen, "%s: fork: %s", t->name, strerror(errno));
		return -1;
	}
	if (pid == 0)
		run_child(t);
	/* from both sides, so the group exists before anyone signals it */
	setpgid(pid, pid);
	current_pgid = pid;
	deadline = it_now_ms() + (int64_t)timeout_s * 1000;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (r == -1 && errno != EINTR) {
			st = -1;
			break;
		}
		if (left_ms(deadline) == 0) {
			timed_out = 1;
			kill(-pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
		it_sleep_ms(5);
	}
	kill_group(pid);
	current_pgid = 0;
	ok = !timed_out && st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	if (ok) {
		nftw(test_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		return 0;
	}
	if (timed_out)
		snprintf(msg, msglen, "%s: no verdict within %d s (test killed)",
		    t->name, timeout_s);
	else
		snprintf(msg, msglen, "%s: test process ended with %s", t->name,
		    st == -1 ? "a lost status" : it_status_str(st));
	fprintf(stderr, "  %s\n", msg);
	nftw(test_dir, dump_entry, 16, FTW_PHYS);
	fprintf(stderr, "  kept %s\n", test_dir);
	return -1;
}

void
it_cu_run(void)
{
	CU_pSuite cs = CU_get_current_suite();
	CU_pTest ct = CU_get_current_test();
	const struct it_suite *is;
	const struct it_test *t;
	char msg[512];

	for (is = suites_head; cs != NULL && ct != NULL && is != NULL; is = is->next) {
		if (strcmp(is->name, cs->pName) != 0)
			continue;
		for (t = is->tests; t->name != NULL; t++) {
			if (strcmp(t->name, ct->pName) != 0)
				continue;
			int passed;

			msg[0] = '\0';
			passed = run_test(t, msg, sizeof(msg)) == 0;
			CU_assertImplementation(passed, __LINE__,
			    passed ? "test passed" : msg, __FILE__, "", CU_FALSE);
			return;
		}
	}
	CU_assertImplementation(CU_FALSE, __LINE__,
	    "integration test missing from the harness registry", __FILE__, "",
	    CU_FALSE);
}

void
it_need_root_and_nobody(uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	if (geteuid() != 0)
		IT_SKIP("the privilege drop needs root (CI runs as root)");
	if ((pw = getpwnam("nobody")) == NULL)
		IT_SKIP("no user nobody on this system");
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
}

/* ---- issue 13: helpers for suites that run other programs' configs ---- */

char *
it_read_file(const char *path, size_t *lenp)
{
	size_t len = 0;
	char *data = slurp(path, 0, &len);

	if (lenp != NULL)
		*lenp = len;
	return data;
}

int
it_pick_port(const char *addr)
{
	int port = 0, fd = reserve_port(addr, &port);

	if (fd == -1)
		return -1;
	close(fd);
	return port;
}

const char *
it_src_dir(void)
{
	static char dir[4096];
	char cand[4096], probe[4200], *slash;

	if (dir[0] != '\0')
		return dir;
	/* the tests run from the top of the tree, or the build directory is inside it */
	snprintf(cand, sizeof(cand), "%s", it_build_dir());
	for (int up = 0; up < 4; up++) {
		const char *c = up == 0 ? "." : cand;

		snprintf(probe, sizeof(probe), "%s/src/sockserv.c", c);
		if (access(probe, R_OK) == 0) {
			char *abs = realpath(c, NULL);

			if (abs == NULL)
				break;
			snprintf(dir, sizeof(dir), "%s", abs);
			free(abs);
			return dir;
		}
		if (up > 0 && (slash = strrchr(cand, '/')) != NULL)
			*slash = '\0';
	}
	IT_FAIL("the source tree (src/sockserv.c) is neither under . nor above %s",
	    it_build_dir());
}
