/*
 * harness: the integration tests' process-level toolkit.  It owns
 *   - the test registry and the per-test child process: libuv's habit, every
 *     test body runs in its own forked process that leads its own process
 *     group; servers it starts stay in that group, and the runner always
 *     SIGKILLs the whole group afterwards, so nothing outlives its test even
 *     when the test crashes, fails or hangs (per-test time limit);
 *   - the assertion macros used inside that child (they print file:line, the
 *     expression and the values to stderr; the child's exit status carries
 *     the verdict back to the CUnit test in the runner);
 *   - starting real sockserv servers from a generated configuration on ports
 *     picked at run time, waiting until they are ready, stopping them;
 *   - client helpers: sockets, frames, headers messages, log files.
 *
 * A test file looks like this (one CUnit suite per IT_SUITE):
 *
 *	static void
 *	test_echo_over_frame(void)
 *	{
 *		struct srv_opts o = {
 *			.listeners = { { .name = "long", .codec = "frame" } },
 *		};
 *		struct srv *s = srv_start(&o);
 *		int fd = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
 *
 *		IT_ASSERT(fd >= 0);
 *		IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "hi", 2), CLI_OK);
 *		IT_EXPECT_FRAME(fd, FRAME_DATA, "hi", 2);
 *	}
 *
 *	static const struct it_test echo_tests[] = {
 *		{ "test_echo_over_frame", test_echo_over_frame, 0 },
 *		{ NULL, NULL, 0 }
 *	};
 *	IT_SUITE(echo, echo_tests)
 *
 * Conventions: everything here runs inside the test child unless it says
 * otherwise.  Helpers that can fail return a status (or -1) and leave a
 * one-line explanation that the next failing assertion prints, so the test
 * decides what is a failure.  The IT_EXPECT_* macros read and check in one
 * step and abort the test on a mismatch.  Servers need no explicit stop:
 * the runner kills the test's process group; srv_stop() is for tests about
 * stopping.  Temporary directories live under one per-test directory that
 * the runner removes when the test passes and keeps (and prints, with the
 * tail of every *.log in it) when it fails.  A sanitizer report (ASan, LSan,
 * UBSan) in the log of any server the test started fails the test when its
 * body returns.  Processes that leave the process group on purpose (daemon
 * tests) are the test's own to kill, by pid file; the runner is a
 * subreaper, so they are reaped once killed.
 *
 * Running: build/test_integration [SUITE | TEST | SUITE:TEST].
 *
 * Environment: SOCKSERV_BUILD (directory holding the sockserv binary,
 * default "build"), SOCKSERV_BACKEND (event_backend, default "epoll"),
 * TMPDIR (where per-test directories go, default /tmp).
 */
#ifndef SOCKSERV_IT_HARNESS_H
#define SOCKSERV_IT_HARNESS_H

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto.h"

/* ------------------------------------------------------------------ */
/* registry and runner                                                 */

struct it_test {
	const char *name;	/* the CUnit test name: says the behaviour */
	void (*fn)(void);	/* runs in a forked child */
	int timeout_s;		/* per-test limit; 0 = IT_DEFAULT_TIMEOUT_S */
};

struct it_suite {
	const char *name;
	const struct it_test *tests;	/* terminated by a NULL name */
	struct it_suite *next;
};

#define IT_DEFAULT_TIMEOUT_S 60

/* called by IT_SUITE's constructor; suites run in registration (link) order */
void it_register_suite(struct it_suite *suite);
/* the registered suites (it_main.c turns them into CUnit suites) */
struct it_suite *it_suites(void);
/* the CUnit test function of every registered test: finds the current test and forks it */
void it_cu_run(void);
/* runner-side set-up: absolute SOCKSERV_BUILD, subreaper; call once from main */
int it_runner_init(void);

/* registers table as the CUnit suite called sym */
#define IT_SUITE(sym, table)						\
	static struct it_suite it_suite_##sym = { #sym, (table), NULL };	\
	__attribute__((constructor)) static void			\
	it_suite_ctor_##sym(void)					\
	{								\
		it_register_suite(&it_suite_##sym);			\
	}

/* ------------------------------------------------------------------ */
/* assertions (inside the test child)                                  */

/* number of failures reported so far in this test */
extern int it_failures;

/* print "file:line: FAIL: message" (and the last helper note) and count a failure */
void it_report(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* end the test now with the verdict so far (a failure if anything was reported) */
void it_abort(void) __attribute__((noreturn));
/* end the test now as passed, printing "SKIP: reason" */
void it_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* leave / clear the one-line explanation printed with the next failure */
void it_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void it_note_clear(void);
/* first differing offset of a and b, or -1 when the n bytes are equal */
long it_memdiff(const void *a, const void *b, size_t n);

#define IT_FAIL(...)							\
	do {								\
		it_report(__FILE__, __LINE__, __VA_ARGS__);		\
		it_abort();						\
	} while (0)

/* abort the test unless expr holds */
#define IT_ASSERT(expr)							\
	do {								\
		if (!(expr))						\
			IT_FAIL("%s", #expr);				\
	} while (0)

/* report, but carry on, unless expr holds */
#define IT_CHECK(expr)							\
	do {								\
		if (!(expr))						\
			it_report(__FILE__, __LINE__, "%s", #expr);	\
	} while (0)

/* integer comparison printing both values: IT_ASSERT_INT(n, >=, 2) */
#define IT_ASSERT_INT(a, op, b)						\
	do {								\
		long long it_a_ = (long long)(a), it_b_ = (long long)(b); \
		if (!(it_a_ op it_b_))					\
			IT_FAIL("%s %s %s (%lld vs %lld)", #a, #op, #b,	\
			    it_a_, it_b_);				\
	} while (0)

/* a cli_* status: IT_ASSERT_STATUS(cli_send_all(...), CLI_OK) */
#define IT_ASSERT_STATUS(expr, want)					\
	do {								\
		int it_s_ = (expr);					\
		if (it_s_ != (want))					\
			IT_FAIL("%s is %s, expected %s", #expr,		\
			    cli_status_name(it_s_), cli_status_name(want)); \
	} while (0)

/* NUL-terminated hay contains needle */
#define IT_ASSERT_STR_HAS(hay, needle)					\
	do {								\
		const char *it_h_ = (hay), *it_n_ = (needle);		\
		if (it_h_ == NULL || strstr(it_h_, it_n_) == NULL)	\
			IT_FAIL("%s does not contain \"%s\"; it is:\n%.3000s", \
			    #hay, it_n_, it_h_ ? it_h_ : "(null)");	\
	} while (0)

/* n bytes at a and b are equal; prints the first differing offset */
#define IT_ASSERT_MEM(a, b, n)						\
	do {								\
		long it_d_ = it_memdiff((a), (b), (n));			\
		if (it_d_ >= 0)						\
			IT_FAIL("%s and %s differ at offset %ld of %zu", \
			    #a, #b, it_d_, (size_t)(n));		\
	} while (0)

#define IT_SKIP(...) it_skip(__VA_ARGS__)

/* ------------------------------------------------------------------ */
/* small utilities                                                     */

int64_t it_now_ms(void);		/* CLOCK_MONOTONIC */
void it_sleep_ms(int ms);
/* "$SOCKSERV_BUILD/sockserv" as an absolute path */
const char *it_sockserv_path(void);
/* $SOCKSERV_BUILD as an absolute path (for other programs: sockserv-stat ...) */
const char *it_build_dir(void);
/* $SOCKSERV_BACKEND or "epoll" */
const char *it_backend(void);
/* a fresh directory under this test's directory (removed with it); malloc'd path */
char *it_mkdtemp(void);
/* write text to path (created 0644, truncated); -1 on error */
int it_write_file(const char *path, const char *text);
/* "exit 0", "signal 9", "timeout" (-1): for messages */
const char *it_status_str(int wstatus);

/*
 * Run argv[0] (a path) with stdout and stderr together into out (NUL
 * terminated, truncated to outlen - 1), stdin /dev/null.  Returns the wait
 * status, or -1 if it could not be started or was still running after
 * timeout_ms (it is killed then); the note says which.
 */
int it_run(char *const argv[], char *out, size_t outlen, int timeout_ms);
/* the value of field name ("Uid", ...) in /proc/PID/status, after the colon; 0 or -1 */
int it_proc_status_line(pid_t pid, const char *name, char *line, size_t len);

/* it_run of prog with the NULL-terminated char * arguments in ap (at most 14) */
int it_run_va(const char *prog, char *out, size_t outlen, int timeout_ms, va_list ap);

/* nobody's uid and gid; skips the test where there is no root or no user nobody */
void it_need_root_and_nobody(uid_t *uid, gid_t *gid);

/* the path of build/sockserv-stat (the test fails if it is not there) */
const char *it_stat_prog(void);
/* it_run of sockserv-stat with the NULL-terminated arguments after it */
int it_stat_run(char *out, size_t outlen, ...);

/* the whole file (NUL terminated; *len bytes, if len) malloc'd, NULL if it cannot be read */
char *it_read_file(const char *path, size_t *len);
/* a port free on addr right now (bound, then released), or -1 with a note */
int it_pick_port(const char *addr);
/* the source tree (where src/sockserv.c is: ".", or above $SOCKSERV_BUILD), absolute */
const char *it_src_dir(void);

/* ------------------------------------------------------------------ */
/* servers                                                             */

#define SRV_MAX_LISTENERS 8
#define SRV_MAX_WORKERS 64
#define SRV_READY_TIMEOUT_MS 10000

struct srv_listener {
	const char *name;	/* required */
	const char *address;	/* NULL = "127.0.0.1" */
	const char *codec;	/* NULL = "frame" */
	const char *handler;	/* NULL = "echo" */
	const char *extra;	/* raw settings inside the group: "magic = \"x\";" */
	int port;		/* 0 = a free port picked at start */
};

/*
 * What srv_start writes into the config.  Zero means the default, so tests
 * write only what they care about with designated initialisers.  The raw
 * fragments are pasted verbatim: limits and timer inside their groups, extra
 * at top level.
 */
struct srv_opts {
	int workers;			/* 0 = 1 */
	const char *backend;		/* NULL = it_backend() */
	const char *log_level;		/* NULL = "debug" (the readiness wait needs debug) */
	int log_to_file;		/* log target DIR/server.log (a file) instead of
					 * "stderr": for servers that detach from stderr */
	const char *limits;		/* "max_connections = 2; max_frame = 1048576;" */
	const char *timer;		/* "tick_ms = 10; slots = 64;" */
	const char *extra;		/* other top-level settings */
	struct srv_listener listeners[SRV_MAX_LISTENERS];	/* up to the first NULL name */
	int ready_timeout_ms;		/* 0 = SRV_READY_TIMEOUT_MS */
};

struct srv_lst {
	char name[64];
	char address[64];
	char codec[16];
	char handler[64];
	int port;			/* the port actually configured */
};

struct srv {
	pid_t pid;			/* master; -1 once it has been reaped */
	int status;			/* its wait status once reaped */
	int nworkers;			/* configured workers */
	pid_t workers[SRV_MAX_WORKERS];	/* from "worker SLOT started (pid P)", in log order */
	int nlisteners;
	struct srv_lst listeners[SRV_MAX_LISTENERS];
	char dir[512];			/* this server's directory */
	char cfg_path[600];		/* DIR/sockserv.cfg */
	char log_path[600];		/* DIR/server.log: the server's stdout + stderr */
	char pid_path[600];		/* DIR/sockserv.pid (pid_file) */
	char stats_path[600];		/* DIR/sockserv.shm (stats_path) */
	off_t mark;			/* log offset the srv_log_* helpers start from */
};

/*
 * Write the config, start `sockserv -c CFG -f` with its output in
 * DIR/server.log, and wait until every worker has logged "worker SLOT
 * running" and every listener has accepted (and logged the close of) a
 * probe connection; then set the log mark past all of that.  If the server
 * exits early because a picked port was taken meanwhile, it starts again
 * with new ports.  Any other failure ends the test with the log tail.
 */
#define srv_start(o) srv_start_at(__FILE__, __LINE__, (o))
struct srv *srv_start_at(const char *file, int line, const struct srv_opts *o);
/* only the config (ports picked), for tests that run sockserv themselves */
struct srv *srv_prepare(const struct srv_opts *o);
/* start the prepared server in the foreground; 0, or -1 if it cannot be spawned */
int srv_launch(struct srv *s);
/* the readiness wait of srv_start; 0 when ready, -1 (with a note) if not */
int srv_wait_ready(struct srv *s, int timeout_ms);

/* the configured port / address of listener name (the test fails if there is none) */
int srv_port(const struct srv *s, const char *name);
const char *srv_addr(const struct srv *s, const char *name);

/*
 * Send sig to the master and wait up to timeout_ms for it to exit.
 * Returns its wait status, or -1 if it is still running.
 */
int srv_stop(struct srv *s, int sig, int timeout_ms);
/* SIGKILL the master and its workers now and reap the master */
void srv_kill(struct srv *s);
/* print the last nlines of the server's log to stderr */
void srv_dump_log(const struct srv *s, int nlines);

/*
 * Log helpers.  Patterns are POSIX extended regular expressions built
 * printf-style; they match anywhere in a line, and only complete lines
 * written after s->mark count.
 */
/* move the mark to the current end of the log; returns it */
off_t srv_log_mark(struct srv *s);
/* wait for a matching line; 0 (line copied to buf if buf) or -1 on timeout */
int srv_log_wait(struct srv *s, int timeout_ms, char *buf, size_t buflen,
    const char *refmt, ...) __attribute__((format(printf, 5, 6)));
/* number of matching lines */
int srv_log_count(struct srv *s, const char *refmt, ...)
    __attribute__((format(printf, 2, 3)));
/* wait until at least n lines match; the count reached, or -1 on timeout */
int srv_log_wait_count(struct srv *s, int n, int timeout_ms, const char *refmt, ...)
    __attribute__((format(printf, 4, 5)));
/* the matching lines, NULL-terminated, *n of them (free with it_strv_free) */
char **srv_log_grep(struct srv *s, int *n, const char *refmt, ...)
    __attribute__((format(printf, 3, 4)));

/* `sockserv-stat -c CFG --json` of s, parsed (mj_free it); the test fails on anything else */
struct mj;
struct mj *srv_stat_json(struct srv *s);
/* the unsigned integer member key of JSON object v; the test fails if there is none */
uint64_t it_json_u64(const struct mj *v, const char *key);
/* replace the first from in s's config file with to (before a reload); the test fails without one */
void srv_cfg_replace(struct srv *s, const char *from, const char *to);

/* the same on any file, from byte offset from */
int it_file_wait(const char *path, off_t from, int timeout_ms, char *buf,
    size_t buflen, const char *refmt, ...) __attribute__((format(printf, 6, 7)));
char **it_file_grep(const char *path, off_t from, int *n, const char *refmt, ...)
    __attribute__((format(printf, 4, 5)));
/* print the last nlines of path to stderr, each prefixed with prefix */
void it_file_tail(const char *path, int nlines, const char *prefix);
void it_strv_free(char **v);

/* parts of a log line "YYYY-mm-dd HH:MM:SS.mmm [PID] LEVEL: message" */
pid_t it_log_line_pid(const char *line);	/* -1 if there is no [PID] */
const char *it_log_line_msg(const char *line);	/* points into line */

/* ------------------------------------------------------------------ */
/* clients                                                             */

enum cli_status {
	CLI_OK,		/* done */
	CLI_EOF,	/* the peer closed */
	CLI_RESET,	/* ECONNRESET / EPIPE */
	CLI_TIMEOUT,	/* the time limit passed first */
	CLI_DATA,	/* bytes arrived where none were expected */
	CLI_ERROR,	/* anything else (see the note) */
};

#define IT_IO_TIMEOUT_MS 5000	/* a generous default for "the reply arrives" */

const char *cli_status_name(int st);

/*
 * Connect to addr:port ("127.0.0.1", "::1"), optionally binding the source
 * address first (any 127.0.0.N).  The socket is blocking, close-on-exec,
 * TCP_NODELAY.  Returns the fd, or -1 with a note.
 */
int cli_connect(const char *addr, int port);
int cli_connect_from(const char *src, const char *addr, int port);
/* the local port of a connected socket (what the server logs as PEERPORT) */
int cli_local_port(int fd);

/* all timeouts are in milliseconds and cover the whole call */
int cli_send_all(int fd, const void *buf, size_t len, int timeout_ms);
/* read exactly n bytes; *got (if not NULL) says how many arrived */
int cli_read_exact(int fd, void *buf, size_t n, int timeout_ms, size_t *got);
/* wait for the peer's EOF (CLI_EOF or CLI_RESET); CLI_DATA if bytes arrive instead */
int cli_wait_eof(int fd, int timeout_ms);
/* nothing arrives (no bytes, no EOF) for ms: returns CLI_TIMEOUT when silent */
int cli_wait_silence(int fd, int ms);
/*
 * Send out while reading exactly inlen bytes into in, so neither side's
 * buffers can deadlock a large exchange.  Sending stops (without failing)
 * if the peer resets; sent and got (if not NULL) say how far each side got.
 * CLI_OK when inlen bytes arrived (the send may be incomplete then).
 */
int cli_exchange(int fd, const void *out, size_t outlen, void *in, size_t inlen,
    int timeout_ms, size_t *sent, size_t *got);
/* the same; *sent_ms (it_now_ms) is when the last byte of out went to the kernel (the call's start when outlen is 0) */
int cli_exchange_at(int fd, const void *out, size_t outlen, void *in, size_t inlen,
    int timeout_ms, size_t *sent, size_t *got, int64_t *sent_ms);

/* growable byte buffer for building streams of messages */
struct it_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};
void it_buf_add(struct it_buf *b, const void *p, size_t n);
void it_buf_free(struct it_buf *b);
/* append one frame (header from proto_frame_header) / one headers-codec message */
void frame_append(struct it_buf *b, uint8_t type, const void *payload, uint32_t len);
void hdrs_append(struct it_buf *b, const char *magic, const void *payload, uint32_t len);

/* a received frame (or headers message: type is FRAME_DATA) */
struct it_frame {
	uint8_t magic[2];
	uint8_t version;
	uint8_t type;
	uint32_t len;
	uint8_t *payload;	/* malloc'd, len bytes plus a NUL; free with it_frame_free */
};
void it_frame_free(struct it_frame *f);
/* the u16 code of an ERROR frame's payload, -1 if it is too short */
int frame_error_code(const struct it_frame *f);

int cli_send_frame(int fd, uint8_t type, const void *payload, uint32_t len);
int cli_read_frame(int fd, struct it_frame *f, int timeout_ms);
int cli_read_headers(int fd, const char *magic, struct it_frame *f, int timeout_ms);

/*
 * Read-and-check in one step; they abort the test on any mismatch, printing
 * what arrived instead.  The timeout is IT_IO_TIMEOUT_MS.
 */
#define IT_EXPECT_FRAME(fd, type, payload, len)				\
	it_expect_frame_at(__FILE__, __LINE__, (fd), (type), (payload), (len))
/* an ERROR frame with this code, then EOF */
#define IT_EXPECT_ERROR_EOF(fd, code)					\
	it_expect_error_eof_at(__FILE__, __LINE__, (fd), (code))
#define IT_EXPECT_BYTES(fd, want, len)					\
	it_expect_bytes_at(__FILE__, __LINE__, (fd), (want), (len))
#define IT_EXPECT_HEADERS(fd, magic, payload, len)			\
	it_expect_headers_at(__FILE__, __LINE__, (fd), (magic), (payload), (len))
/* EOF (or reset) with no bytes before it */
#define IT_EXPECT_EOF(fd)						\
	it_expect_eof_at(__FILE__, __LINE__, (fd))
/* nothing at all arrives for ms */
#define IT_EXPECT_SILENCE(fd, ms)					\
	it_expect_silence_at(__FILE__, __LINE__, (fd), (ms))

void it_expect_frame_at(const char *file, int line, int fd, int type,
    const void *payload, size_t len);
void it_expect_error_eof_at(const char *file, int line, int fd, int code);
void it_expect_bytes_at(const char *file, int line, int fd, const void *want, size_t len);
void it_expect_headers_at(const char *file, int line, int fd, const char *magic,
    const void *payload, size_t len);
void it_expect_eof_at(const char *file, int line, int fd);
void it_expect_silence_at(const char *file, int line, int fd, int ms);

#endif
