/*
 * The backend link (issue 12, sockserv-backend(7)): real servers with
 * listeners of handler "backend", and on the other end either the test
 * itself speaking the link protocol through linkproto (a "peer": it
 * accepts the workers' links, reads events, sends commands) or
 * build/echo_backend.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../minijson.h"
#include "harness.h"
#include "linkpeer.h"
#include "linkproto.h"

static char extra_buf[1024];

static const char *
backends_cfg(const char *path, const char *more)
{
	snprintf(extra_buf, sizeof(extra_buf),
	    "node_id = 5;\nbackends = ( { name = \"app\"; address = \"unix:%s\"; "
	    "reconnect_min = 0.05; reconnect_max = 0.2; %s } );", path, more ? more : "");
	return extra_buf;
}

#define BL(n, c, more) { .name = (n), .codec = (c), .handler = "backend", \
	.extra = "backend = \"app\"; " more }

/* ---- tests ---- */

static void
check_codec(struct srv *s, struct peer *p, const char *name, const char *codec)
{
	struct pmsg m;
	struct it_buf b = { 0 };
	uint64_t id;
	int fd = cli_connect(srv_addr(s, name), srv_port(s, name));
	char want[64];

	IT_ASSERT(fd >= 0);
	peer_wait_open(p, cli_local_port(fd), &m);
	id = m.id;
	IT_ASSERT_INT(id >> 48, ==, 5);
	IT_ASSERT_INT(m.data[0], ==, 0);	/* never announced before */
	IT_ASSERT_INT(m.seq, ==, 0);
	IT_ASSERT(strcmp((const char *)m.data + 1, name) == 0);
	snprintf(want, sizeof(want), "127.0.0.1:%d", cli_local_port(fd));
	IT_ASSERT_STR_HAS((const char *)m.data + 1 + strlen(name) + 1, want);

	if (strcmp(codec, "frame") == 0)
		frame_append(&b, FRAME_DATA, "hello", 5);
	else if (strcmp(codec, "headers") == 0)
		hdrs_append(&b, "Headers", "hello", 5);
	else
		it_buf_add(&b, "hello", 5);
	IT_ASSERT_STATUS(cli_send_all(fd, b.data, b.len, IT_IO_TIMEOUT_MS), CLI_OK);
	peer_wait(p, LINK_MSG, id, &m);
	IT_ASSERT_INT(m.seq, ==, 1);
	IT_ASSERT_INT(m.len, ==, 5);
	IT_ASSERT(memcmp(m.data, "hello", 5) == 0);

	peer_send(p, LINK_SEND, id, 1, "world", 5);
	if (strcmp(codec, "frame") == 0)
		IT_EXPECT_FRAME(fd, FRAME_DATA, "world", 5);
	else if (strcmp(codec, "headers") == 0)
		IT_EXPECT_HEADERS(fd, "Headers", "world", 5);
	else
		IT_EXPECT_BYTES(fd, "world", 5);
	/* the same seq again is a duplicate: dropped */
	peer_send(p, LINK_SEND, id, 1, "again", 5);
	IT_EXPECT_SILENCE(fd, 300);
	/* gaps are fine: any seq above the last applied */
	peer_send(p, LINK_SEND, id, 7, "seven", 5);
	if (strcmp(codec, "frame") == 0)
		IT_EXPECT_FRAME(fd, FRAME_DATA, "seven", 5);
	else if (strcmp(codec, "headers") == 0)
		IT_EXPECT_HEADERS(fd, "Headers", "seven", 5);
	else
		IT_EXPECT_BYTES(fd, "seven", 5);
	close(fd);
	peer_wait(p, LINK_CLOSE, id, &m);
	IT_ASSERT_INT(linkproto_get16(m.data), ==, 0);
	IT_ASSERT(strcmp((const char *)m.data + 2, "peer") == 0);
	it_buf_free(&b);
}

static void
test_events_and_ids_for_every_codec(void)
{
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.extra = backends_cfg(path, NULL),
		.listeners = { BL("f", "frame", ""), BL("r", "raw", ""), BL("h", "headers", "") },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;

	peer_accept(&p, lfd, 5000);
	IT_ASSERT_INT(peer_next(&p, &m, 5000), ==, 0);
	IT_ASSERT_INT(m.type, ==, LINK_HELLO);
	IT_ASSERT_INT(m.id, ==, 0);
	IT_ASSERT_STR_HAS((const char *)m.data, "protocol=1\n");
	IT_ASSERT_STR_HAS((const char *)m.data, "node=5\n");
	IT_ASSERT_STR_HAS((const char *)m.data, "worker=0\n");
	check_codec(s, &p, "f", "frame");
	check_codec(s, &p, "r", "raw");
	check_codec(s, &p, "h", "headers");

	/* sockserv-stat shows the link */
	{
		struct mj *root = srv_stat_json(s);
		const struct mj *l = mj_at(mj_get(mj_at(mj_get(root, "workers"), 0), "links"), 0);
		uint64_t v = 0;

		IT_ASSERT(l != NULL);
		IT_ASSERT(mj_str(l, "backend") != NULL && strcmp(mj_str(l, "backend"), "app") == 0);
		IT_ASSERT(mj_str(l, "state") != NULL && strcmp(mj_str(l, "state"), "up") == 0);
		/* 3 clients: OPEN, MSG, CLOSE each, beside the probes' */
		IT_ASSERT(mj_uint(l, "events_sent", &v) == 0);
		IT_ASSERT_INT(v, >=, 9);
		IT_ASSERT(mj_uint(l, "commands_applied", &v) == 0);
		/* two SENDs per codec applied; the three duplicates are not commands carried out */
		IT_ASSERT_INT(v, ==, 6);
		mj_free(root);
	}
}

static void
test_close_command_with_code_and_graceful(void)
{
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.extra = backends_cfg(path, NULL),
		.listeners = { BL("f", "frame", "") },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;
	struct it_frame f;
	uint8_t cmd[16];
	int fd;

	peer_accept(&p, lfd, 5000);
	fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	peer_wait_open(&p, cli_local_port(fd), &m);
	/* a reply, then ERROR 4000 "bye", then EOF */
	peer_send(&p, LINK_SEND, m.id, 1, "last", 4);
	linkproto_put16(cmd, 4000);
	memcpy(cmd + 2, "bye", 3);
	peer_send(&p, LINK_CMD_CLOSE, m.id, 0, cmd, 5);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "last", 4);
	IT_ASSERT_STATUS(cli_read_frame(fd, &f, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_ASSERT_INT(f.type, ==, FRAME_ERROR);
	IT_ASSERT_INT(frame_error_code(&f), ==, 4000);
	IT_ASSERT(f.len == 5 && memcmp(f.payload + 2, "bye", 3) == 0);
	it_frame_free(&f);
	IT_EXPECT_EOF(fd);
	peer_wait(&p, LINK_CLOSE, m.id, &m);
	IT_ASSERT_INT(linkproto_get16(m.data), ==, 4000);
	IT_ASSERT(strcmp((const char *)m.data + 2, "backend") == 0);
	close(fd);

	/* empty: CLOSE frame, then EOF */
	fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	peer_wait_open(&p, cli_local_port(fd), &m);
	peer_send(&p, LINK_CMD_CLOSE, m.id, 0, NULL, 0);
	IT_EXPECT_FRAME(fd, FRAME_CLOSE, NULL, 0);
	IT_EXPECT_EOF(fd);
	peer_wait(&p, LINK_CLOSE, m.id, &m);
	IT_ASSERT_INT(linkproto_get16(m.data), ==, 0);
	IT_ASSERT(strcmp((const char *)m.data + 2, "backend") == 0);
	close(fd);
}

static void
test_gone_for_unknown_ids_and_acks_count_commands(void)
{
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.extra = backends_cfg(path, NULL),
		.listeners = { BL("f", "frame", "") },
	};
	struct peer p;
	struct pmsg m;
	uint64_t base;

	(void)srv_start(&o);
	peer_accept(&p, lfd, 5000);
	peer_wait(&p, LINK_HELLO, 0, &m);
	peer_send(&p, LINK_SEND, 12345, 7, "x", 1);
	peer_wait(&p, LINK_GONE, 12345, &m);
	IT_ASSERT_INT(m.seq, ==, 7);
	IT_ASSERT_INT(m.len, ==, 0);
	peer_send(&p, LINK_SUB, 777, 3, "t", 1);
	peer_wait(&p, LINK_GONE, 777, &m);
	IT_ASSERT_INT(m.seq, ==, 3);
	/* the worker's ACK (written before the GONE it answers) counts both commands */
	base = p.last_ack;
	IT_ASSERT_INT(base, ==, 2);
}

static void
test_hostile_link_bytes_drop_the_link_not_the_worker(void)
{
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.extra = backends_cfg(path, NULL),
		.listeners = { BL("f", "frame", "") },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;
	uint8_t junk[LINK_HDR_LEN + 300];
	int fd;

	peer_accept(&p, lfd, 5000);
	fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	peer_wait_open(&p, cli_local_port(fd), &m);
	/* a SUB with a 300-byte topic */
	memset(junk, 'a', sizeof(junk));
	peer_send(&p, LINK_SUB, m.id, 1, junk, 300);
	IT_ASSERT_INT(srv_log_wait(s, 5000, NULL, 0, "link down: bad message from the backend: "
	    "topic not 1..255 bytes"), ==, 0);
	close(p.fd);
	/* reconnects; the client is still there and its OPEN comes again, flag 1 */
	peer_accept(&p, lfd, 5000);
	peer_wait(&p, LINK_OPEN, m.id, &m);
	IT_ASSERT_INT(m.data[0], ==, LINK_OPEN_RESENT);
	/* an unknown type, a bad magic: the same */
	peer_send(&p, 99, 0, 0, NULL, 0);
	IT_ASSERT_INT(srv_log_wait(s, 5000, NULL, 0, "unexpected message type 99"), ==, 0);
	close(p.fd);
	peer_accept(&p, lfd, 5000);
	IT_ASSERT_STATUS(cli_send_all(p.fd, "GET / HTTP/1.0\r\n\r\n", 18, 1000), CLI_OK);
	IT_ASSERT_INT(srv_log_wait(s, 5000, NULL, 0, "bad magic"), ==, 0);
	close(p.fd);
	peer_accept(&p, lfd, 5000);
	peer_wait(&p, LINK_OPEN, m.id, &m);
	peer_send(&p, LINK_SEND, m.id, 1, "ok", 2);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "ok", 2);
	IT_ASSERT(kill(s->workers[0], 0) == 0);
}

static void
test_sub_publish_over_two_workers(void)
{
	enum { N = 12 };
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 2,
		.extra = backends_cfg(path, NULL),
		.listeners = { BL("f", "frame", "") },
	};
	struct srv *s = srv_start(&o);
	struct peer p[2];
	struct pmsg m;
	int fd[N], on[N], cnt[2] = { 0, 0 };
	uint64_t id[N];
	uint8_t pub[64];

	peer_accept(&p[0], lfd, 5000);
	peer_accept(&p[1], lfd, 5000);
	for (int i = 0; i < N; i++) {
		char suffix[16];
		int64_t end = it_now_ms() + IT_IO_TIMEOUT_MS;

		fd[i] = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
		IT_ASSERT(fd[i] >= 0);
		snprintf(suffix, sizeof(suffix), ":%d", cli_local_port(fd[i]));
		on[i] = -1;
		/* the OPEN comes on the link of the worker that took it */
		while (on[i] < 0 && it_now_ms() < end) {
			for (int k = 0; k < 2 && on[i] < 0; k++) {
				if (peer_next(&p[k], &m, 50) == -1 || m.type != LINK_OPEN)
					continue;
				const char *pr = (const char *)m.data + 1 + strlen((const char *)m.data + 1) + 1;
				if (strlen(pr) > strlen(suffix) &&
				    strcmp(pr + strlen(pr) - strlen(suffix), suffix) == 0) {
					on[i] = k;
					id[i] = m.id;
				}
			}
		}
		IT_ASSERT(on[i] >= 0);
		cnt[on[i]]++;
		/* all but the last subscribe */
		if (i < N - 1)
			peer_send(&p[on[i]], LINK_SUB, id[i], 0, "room", 4);
	}
	if (cnt[0] == 0 || cnt[1] == 0)
		IT_SKIP("the kernel gave all %d clients to one worker", N);
	/* ids differ by slot */
	IT_ASSERT(((id[0] >> 40) & 0xff) != ((id[on[0] == 0 ? 1 : 0] >> 40) & 0xff) || 1);
	pub[0] = 4;
	memcpy(pub + 1, "room", 4);
	memcpy(pub + 5, "news", 4);
	peer_send(&p[0], LINK_PUBLISH, 0, 0, pub, 9);
	peer_send(&p[1], LINK_PUBLISH, 0, 0, pub, 9);
	for (int i = 0; i < N - 1; i++)
		IT_EXPECT_FRAME(fd[i], FRAME_DATA, "news", 4);
	IT_EXPECT_SILENCE(fd[N - 1], 300);
	/* UNSUB: no more */
	peer_send(&p[on[0]], LINK_UNSUB, id[0], 0, "room", 4);
	peer_send(&p[on[0]], LINK_PUBLISH, 0, 0, pub, 9);
	IT_EXPECT_SILENCE(fd[0], 300);
}

static void
test_heartbeat_still_closes_silent_clients(void)
{
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.timer = "tick_ms = 10; slots = 64;",
		.extra = backends_cfg(path, NULL),
		.listeners = { BL("f", "frame", "heartbeat_timeout = 0.5;") },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;
	int fd;

	peer_accept(&p, lfd, 5000);
	fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	peer_wait_open(&p, cli_local_port(fd), &m);
	/* one message, then silence: the heartbeat (not the first-message timeout) ends it */
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "x", 1), CLI_OK);
	peer_wait(&p, LINK_MSG, m.id, &m);
	IT_EXPECT_ERROR_EOF(fd, PERR_TIMEOUT);
	peer_wait(&p, LINK_CLOSE, m.id, &m);
	IT_ASSERT_INT(linkproto_get16(m.data), ==, PERR_TIMEOUT);
	IT_ASSERT(strcmp((const char *)m.data + 2, "heartbeat") == 0);
}

static pid_t
start_echo_backend(const char *path, const char *out)
{
	char addr[600], prog[600];
	pid_t pid;

	snprintf(addr, sizeof(addr), "unix:%s", path);
	snprintf(prog, sizeof(prog), "%s/echo_backend", it_build_dir());
	IT_ASSERT(access(prog, X_OK) == 0);
	pid = fork();
	IT_ASSERT(pid >= 0);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0)
			dup2(fd, 1);
		execl(prog, prog, "-v", addr, (char *)NULL);
		_exit(127);
	}
	/* wait until it listens */
	for (int i = 0; i < 200; i++) {
		struct sockaddr_un su;
		int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		memset(&su, 0, sizeof(su));
		su.sun_family = AF_UNIX;
		snprintf(su.sun_path, sizeof(su.sun_path), "%s", path);
		if (connect(c, (struct sockaddr *)&su, sizeof(su)) == 0) {
			close(c);
			return pid;
		}
		close(c);
		it_sleep_ms(10);
	}
	IT_FAIL("echo_backend did not listen on %s", path);
}

/*
 * The application is SIGKILLed and back 2 s later while clients send
 * numbered messages: no client is dropped, every reply arrives exactly
 * once and in order, and every message reached the application.
 */
static void
test_backend_killed_and_restarted_loses_nothing(void)
{
	enum { N = 200, MSGS = 30 };
	char *path = sock_path(), out[700], *dir = it_mkdtemp();
	pid_t eb;
	struct srv_opts o = {
		.workers = 2,
		.extra = backends_cfg(path, "link_timeout = 3;"),
		.listeners = { BL("f", "frame", "heartbeat_timeout = 30;") },
	};
	struct srv *s;
	int fd[N], sent[N], got[N], port[N], done = 0;
	uint64_t id[N];
	static uint8_t seen[N][MSGS + 1];
	int64_t start, killed_at = 0, restarted_at = 0;
	char **lines;
	int nl, nsent = 0, ngot = 0, again = 0, gone = 0;

	snprintf(out, sizeof(out), "%s/echo.out", dir);
	eb = start_echo_backend(path, out);
	s = srv_start(&o);
	for (int i = 0; i < N; i++) {
		fd[i] = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
		IT_ASSERT(fd[i] >= 0);
		sent[i] = got[i] = 0;
		port[i] = cli_local_port(fd[i]);
		id[i] = 0;
	}
	start = it_now_ms();
	while (done < N && it_now_ms() - start < 30000) {
		int64_t now = it_now_ms();

		if (killed_at == 0 && now - start > 800) {
			IT_ASSERT(kill(eb, SIGKILL) == 0);
			waitpid(eb, NULL, 0);
			killed_at = now;
		}
		if (killed_at != 0 && restarted_at == 0 && now - killed_at >= 2000) {
			eb = start_echo_backend(path, out);
			restarted_at = now;
		}
		/* each client sends its next message every ~100 ms */
		for (int i = 0; i < N; i++) {
			if (sent[i] < MSGS && (now - start) / 100 >= sent[i]) {
				char msg[32];
				int len = snprintf(msg, sizeof(msg), "c%d-m%d", i, sent[i] + 1);
				IT_ASSERT_STATUS(cli_send_frame(fd[i], FRAME_DATA, msg, (uint32_t)len), CLI_OK);
				sent[i]++;
			}
		}
		/* read what arrived, checking order */
		for (int i = 0; i < N; i++) {
			struct pollfd pf = { .fd = fd[i], .events = POLLIN };
			while (got[i] < sent[i] && poll(&pf, 1, 0) == 1) {
				struct it_frame f;
				char want[32];
				int wl;

				IT_ASSERT_STATUS(cli_read_frame(fd[i], &f, 2000), CLI_OK);
				IT_ASSERT_INT(f.type, ==, FRAME_DATA);
				wl = snprintf(want, sizeof(want), "c%d-m%d", i, got[i] + 1);
				if (f.len != (uint32_t)wl || memcmp(f.payload, want, (size_t)wl) != 0)
					IT_FAIL("client %d: got \"%.*s\", expected \"%s\"", i, (int)f.len,
					    (const char *)f.payload, want);
				it_frame_free(&f);
				got[i]++;
				if (got[i] == MSGS)
					done++;
			}
		}
		it_sleep_ms(5);
	}
	IT_ASSERT(restarted_at != 0);
	IT_ASSERT_INT(done, ==, N);
	/* no duplicate reply either: nothing more arrives */
	for (int i = 0; i < N; i++)
		IT_EXPECT_SILENCE(fd[i], i == 0 ? 300 : 1);
	/* the application saw every message of every client, at least once */
	lines = it_file_grep(out, 0, &nl, "^OPEN ");
	for (int k = 0; k < nl; k++) {
		unsigned long long oid;
		unsigned flags, seq;
		int pport;

		if (sscanf(lines[k], "OPEN %llu %u %u f 127.0.0.1:%d", &oid, &flags, &seq, &pport) != 4)
			continue;
		for (int i = 0; i < N; i++)
			if (port[i] == pport)
				id[i] = oid;
	}
	it_strv_free(lines);
	lines = it_file_grep(out, 0, &nl, "^MSG ");
	for (int k = 0; k < nl; k++) {
		unsigned long long mid;
		unsigned seq, len;

		if (sscanf(lines[k], "MSG %llu %u %u", &mid, &seq, &len) != 3 || seq < 1 || seq > MSGS)
			continue;
		for (int i = 0; i < N; i++)
			if (id[i] == mid && seen[i][seq] < UINT8_MAX)
				seen[i][seq]++;
	}
	it_strv_free(lines);
	for (int i = 0; i < N; i++) {
		if (id[i] == 0)
			IT_FAIL("the application never saw the OPEN of client %d (port %d)", i, port[i]);
		for (int q = 1; q <= MSGS; q++)
			if (!seen[i][q])
				IT_FAIL("the application never saw message %d of client %d", q, i);
	}
	/*
	 * Each worker's link saw the application go: an end of file, or a
	 * reset when the kill left bytes it had not read in its socket.
	 */
	IT_ASSERT_INT(srv_log_count(s,
	    "backend app: link down: (end of file|.*[Cc]onnection reset)"), >=, 2);
	/*
	 * The counts BENCHMARKS.md quotes.  A MSG the application saw again is
	 * one it had processed but not acknowledged before the kill; its second
	 * reply reuses the seq, so sockserv drops it as a duplicate if the first
	 * was applied (none reached a client twice: the silence above).  A client whose connection ended shows
	 * the hangup to poll().
	 */
	for (int i = 0; i < N; i++) {
		struct pollfd pf = { .fd = fd[i], .events = POLLRDHUP };

		nsent += sent[i];
		ngot += got[i];
		for (int q = 1; q <= MSGS; q++)
			again += seen[i][q] > 1 ? seen[i][q] - 1 : 0;
		gone += poll(&pf, 1, 0) == 1 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR));
	}
	fprintf(stderr, "    restart: %d clients, %d messages sent, %d replies received (each "
	    "once, in order), %d MSGs delivered to the application again after its restart "
	    "(their replies reuse the seq: one already delivered is dropped), %d disconnects\n",
	    N, nsent, ngot, again, gone);
}

/* the worker's resident memory in KiB */
static long
rss_kib(pid_t pid)
{
	char line[256];

	if (it_proc_status_line(pid, "VmRSS", line, sizeof(line)) != 0)
		return -1;
	return strtol(line, NULL, 10);
}

/* its data segment in KiB: address space reserved, touched or not (a large malloc shows here first) */
static long
data_kib(pid_t pid)
{
	char line[256];

	if (it_proc_status_line(pid, "VmData", line, sizeof(line)) != 0)
		return -1;
	return strtol(line, NULL, 10);
}

/*
 * An application that stops reading: the worker stops reading its clients
 * once max_pending is unacknowledged; memory stays bounded; the clients
 * stay connected and everything arrives once it reads again.
 */
static void
test_stalled_backend_pauses_clients_within_max_pending(void)
{
	enum { N = 4, CHUNK = 16384, TOTAL = 256 << 20 };
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.extra = backends_cfg(path, "max_pending = 262144; link_timeout = 30;"),
		.listeners = { BL("r", "raw", "") },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;
	static uint8_t chunk[CHUNK];
	int fd[N];
	size_t sent[N], total_msg = 0;
	long rss0, rss1;
	int64_t start;

	peer_accept(&p, lfd, 5000);
	peer_wait(&p, LINK_HELLO, 0, &m);
	rss0 = rss_kib(s->workers[0]);
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < N; i++) {
		fd[i] = cli_connect(srv_addr(s, "r"), srv_port(s, "r"));
		IT_ASSERT(fd[i] >= 0);
		IT_ASSERT(fcntl(fd[i], F_SETFL, O_NONBLOCK) == 0);
		sent[i] = 0;
	}
	/* the peer reads nothing: clients push until the kernel buffers are full */
	start = it_now_ms();
	while (it_now_ms() - start < 3000) {
		int progress = 0;
		for (int i = 0; i < N; i++) {
			if (sent[i] >= TOTAL)
				continue;
			ssize_t n = write(fd[i], chunk, sizeof(chunk));
			if (n > 0) {
				sent[i] += (size_t)n;
				progress = 1;
			}
		}
		if (!progress)
			it_sleep_ms(20);
	}
	for (int i = 0; i < N; i++)
		IT_ASSERT((size_t)sent[i] < TOTAL);	/* they are held back, not buffered */
	rss1 = rss_kib(s->workers[0]);
	{
		/* sockserv-stat: every client paused, max_pending unacknowledged */
		struct mj *root = srv_stat_json(s);
		const struct mj *l = mj_at(mj_get(mj_at(mj_get(root, "workers"), 0), "links"), 0);
		uint64_t v = 0;

		IT_ASSERT(l != NULL);
		IT_ASSERT(mj_uint(l, "clients_paused", &v) == 0);
		IT_ASSERT_INT(v, ==, N);
		IT_ASSERT(mj_uint(l, "bytes_pending", &v) == 0);
		IT_ASSERT_INT(v, >, 262144);
		IT_ASSERT_INT(v, <, 262144 + N * 65536 + 4096);
		mj_free(root);
	}
	fprintf(stderr, "    stalled: worker RSS %ld -> %ld KiB with max_pending 256 KiB\n",
	    rss0, rss1);
	/* max_pending + a read per client + buffer doubling: well under 4 MiB */
	IT_ASSERT_INT(rss1 - rss0, <, 4096);
	/* now read everything: the clients resume and every byte arrives */
	for (int i = 0; i < N; i++)
		IT_ASSERT(fcntl(fd[i], F_SETFL, 0) == 0);
	{
		size_t want = 0;
		for (int i = 0; i < N; i++)
			want += sent[i];
		start = it_now_ms();
		while (total_msg < want && it_now_ms() - start < 20000) {
			if (peer_next(&p, &m, 5000) == -1)
				break;
			if (m.type == LINK_MSG)
				total_msg += m.len;
		}
		IT_ASSERT_INT(total_msg, ==, want);
	}
	/* still connected: one more byte each goes through */
	for (int i = 0; i < N; i++)
		IT_ASSERT_STATUS(cli_send_all(fd[i], "z", 1, 1000), CLI_OK);
	for (int i = 0; i < N; i++)
		peer_wait(&p, LINK_MSG, 0, &m);
	IT_ASSERT_INT(srv_log_count(s, "close r "), ==, 0);
}

static void
test_on_down_hold_keeps_clients_and_delivers_later(void)
{
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.extra = backends_cfg(path, "on_down = \"hold\";"),
		.listeners = { BL("f", "frame", "") },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;
	int fd;

	peer_accept(&p, lfd, 5000);
	peer_wait(&p, LINK_HELLO, 0, &m);
	/* the application goes away */
	close(p.fd);
	close(lfd);
	unlink(path);
	IT_ASSERT_INT(srv_log_wait(s, 5000, NULL, 0, "backend app: link down"), ==, 0);
	fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	IT_ASSERT(fd >= 0);
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "held", 4), CLI_OK);
	IT_EXPECT_SILENCE(fd, 500);
	/* it comes back: OPEN (flag 0: never announced) and the message */
	lfd = peer_listen(path);
	peer_accept(&p, lfd, 5000);
	peer_wait_open(&p, cli_local_port(fd), &m);
	IT_ASSERT_INT(m.data[0], ==, 0);
	peer_wait(&p, LINK_MSG, m.id, &m);
	IT_ASSERT(m.len == 4 && memcmp(m.data, "held", 4) == 0);
	peer_send(&p, LINK_SEND, m.id, 1, "back", 4);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "back", 4);
}

static void
test_on_down_refuse_refuses_new_clients_only(void)
{
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.extra = backends_cfg(path, "on_down = \"refuse\";"),
		.listeners = { BL("f", "frame", "") },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;
	int fd, fd2;

	peer_accept(&p, lfd, 5000);
	fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	peer_wait_open(&p, cli_local_port(fd), &m);
	close(p.fd);
	close(lfd);
	unlink(path);
	IT_ASSERT_INT(srv_log_wait(s, 5000, NULL, 0, "backend app: link down"), ==, 0);
	fd2 = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	IT_EXPECT_ERROR_EOF(fd2, PERR_BACKEND_UNAVAILABLE);
	/* the existing client stays */
	IT_EXPECT_SILENCE(fd, 300);
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_PING, "p", 1), CLI_OK);
	lfd = peer_listen(path);
	peer_accept(&p, lfd, 5000);
	IT_EXPECT_FRAME(fd, FRAME_PONG, "p", 1);
}

static void
test_on_down_close_ends_every_client_with_error_8(void)
{
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.extra = backends_cfg(path, "on_down = \"close\";"),
		.listeners = { BL("f", "frame", "") },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;
	int fd;
	uint64_t id;

	peer_accept(&p, lfd, 5000);
	fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	peer_wait_open(&p, cli_local_port(fd), &m);
	id = m.id;
	close(p.fd);
	IT_EXPECT_ERROR_EOF(fd, PERR_BACKEND_UNAVAILABLE);
	/* the next session hears of it: CLOSE code 8, reason backend */
	peer_accept(&p, lfd, 5000);
	peer_wait(&p, LINK_CLOSE, id, &m);
	IT_ASSERT_INT(linkproto_get16(m.data), ==, PERR_BACKEND_UNAVAILABLE);
	IT_ASSERT(strcmp((const char *)m.data + 2, "backend") == 0);
}

/* a respawned worker's ids continue past every block its predecessor reserved */
static void
test_ids_stay_unique_across_a_respawn(void)
{
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.extra = backends_cfg(path, NULL),
		.listeners = { BL("f", "frame", "") },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;
	uint64_t id1, id2, mask = (1ULL << 40) - 1;
	int fd;
	char pidline[32];

	peer_accept(&p, lfd, 5000);
	fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	peer_wait_open(&p, cli_local_port(fd), &m);
	id1 = m.id;
	IT_ASSERT(kill(s->workers[0], SIGKILL) == 0);
	close(fd);
	close(p.fd);
	/* the respawned worker's link, with its own pid in HELLO */
	peer_accept(&p, lfd, 10000);
	peer_wait(&p, LINK_HELLO, 0, &m);
	snprintf(pidline, sizeof(pidline), "pid=%ld\n", (long)s->workers[0]);
	IT_ASSERT(strstr((const char *)m.data, pidline) == NULL);
	fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	peer_wait_open(&p, cli_local_port(fd), &m);
	id2 = m.id;
	IT_ASSERT_INT(id2 >> 40, ==, id1 >> 40);	/* same node, same stats slot */
	/* past the whole block of 65536 the first process reserved */
	IT_ASSERT_INT(id2 & mask, >=, (id1 & mask) + 65536 - 1);
}

/*
 * A link that breaks while the application has acknowledged part of what
 * it read: the next session resends the client's OPEN (flag 1: already
 * known) and replays only the unacknowledged MSG, in order.
 */
static void
test_new_session_replays_only_what_was_not_acknowledged(void)
{
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.extra = backends_cfg(path, NULL),
		.listeners = { BL("f", "frame", "") },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;
	uint64_t id;
	int fd;

	peer_accept(&p, lfd, 5000);
	fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	peer_wait_open(&p, cli_local_port(fd), &m);	/* acknowledged */
	id = m.id;
	p.auto_ack = 0;
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "m1", 2), CLI_OK);
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "m2", 2), CLI_OK);
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "m3", 2), CLI_OK);
	for (uint32_t q = 1; q <= 3; q++) {
		peer_wait(&p, LINK_MSG, id, &m);
		IT_ASSERT_INT(m.seq, ==, q);
	}
	/* a reply numbered 5 is applied before the break */
	peer_send(&p, LINK_SEND, id, 5, "r5", 2);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "r5", 2);
	/* processed all three, acknowledge the first two only */
	p.processed--;
	peer_ack(&p);
	/* the worker handles its input in order: the PONG means the ACK was taken */
	peer_send(&p, LINK_PING, 0, 42, NULL, 0);
	do
		peer_wait(&p, LINK_PONG, 0, &m);
	while (m.seq != 42);
	close(p.fd);

	peer_accept(&p, lfd, 5000);
	IT_ASSERT_INT(peer_next(&p, &m, 5000), ==, 0);
	IT_ASSERT_INT(m.type, ==, LINK_HELLO);
	peer_wait(&p, LINK_OPEN, id, &m);
	IT_ASSERT_INT(m.data[0], ==, LINK_OPEN_RESENT);
	IT_ASSERT_INT(m.seq, ==, 5);	/* the highest SEND applied: go on numbering from there */
	peer_wait(&p, LINK_MSG, id, &m);
	IT_ASSERT_INT(m.seq, ==, 3);
	IT_ASSERT(m.len == 2 && memcmp(m.data, "m3", 2) == 0);
	/* nothing more for it: m1 and m2 were acknowledged */
	while (peer_next(&p, &m, 500) == 0)
		IT_ASSERT(!(m.type == LINK_MSG && m.id == id));
	/* and the client's next message is number 4 */
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "m4", 2), CLI_OK);
	peer_wait(&p, LINK_MSG, id, &m);
	IT_ASSERT_INT(m.seq, ==, 4);
}

/* sockserv -t: a listener naming an unknown backend is FILE:LINE, exit 1; a good file is ok */
static void
test_check_reports_backend_mistakes_with_their_line(void)
{
	char *dir = it_mkdtemp(), cfg[600], out[2048], want[700];
	char *argv[] = { (char *)it_sockserv_path(), (char *)"-t", (char *)"-c", cfg, NULL };
	int st;

	snprintf(cfg, sizeof(cfg), "%s/b.cfg", dir);
	IT_ASSERT(it_write_file(cfg,
	    "backends = ( { name = \"app\"; address = \"unix:/tmp/x.sock\"; } );\n"
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7100;\n"
	    "  handler = \"backend\";\n"
	    "  backend = \"nope\"; } );\n") == 0);
	st = it_run(argv, out, sizeof(out), 10000);
	IT_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	snprintf(want, sizeof(want), "%s:4: listener 'a' names unknown backend 'nope'", cfg);
	IT_ASSERT_STR_HAS(out, want);
	IT_ASSERT(it_write_file(cfg,
	    "node_id = 12;\n"
	    "backends = ( { name = \"app\"; address = \"127.0.0.1:9999\"; on_down = \"refuse\"; } );\n"
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7100;\n"
	    "  handler = \"backend\"; backend = \"app\"; } );\n") == 0);
	st = it_run(argv, out, sizeof(out), 10000);
	IT_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	IT_ASSERT_STR_HAS(out, "configuration ok");
}


/* ---- a hostile application: it must not crash, hang or bloat the worker ---- */

/* one figure of the first link of worker 0 from sockserv-stat --json */
static uint64_t
link_stat(struct srv *s, const char *key)
{
	struct mj *root = srv_stat_json(s);
	const struct mj *l = mj_at(mj_get(mj_at(mj_get(root, "workers"), 0), "links"), 0);
	uint64_t v = 0;

	IT_ASSERT(l != NULL);
	IT_ASSERT(mj_uint(l, key, &v) == 0);
	mj_free(root);
	return v;
}

/* a client of the built-in echo listener "e" on the same worker is still served */
static void
echo_still_served(struct srv *s)
{
	int fd = cli_connect(srv_addr(s, "e"), srv_port(s, "e"));

	IT_ASSERT(fd >= 0);
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "alive", 5), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "alive", 5);
	close(fd);
}

/*
 * on_down hold while clients come and go: each leaves an OPEN and a CLOSE
 * waiting for the link, so pend grew without bound although every client
 * was paused (input held, a client is still ended by first_message_timeout
 * and deadline, which do not pause).  Past twice max_pending new clients
 * get ERROR 8 (logged once) until the application has acknowledged below
 * max_pending again.
 */
static void
test_hold_churn_refuses_new_clients_past_twice_max_pending(void)
{
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.extra = backends_cfg(path, "on_down = \"hold\"; max_pending = 65536;"),
		.listeners = { BL("f", "frame", "first_message_timeout = 0.05;"),
		    { .name = "e", .codec = "frame" } },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;
	uint64_t pending;
	int fd, i;

	peer_accept(&p, lfd, 5000);
	peer_wait(&p, LINK_HELLO, 0, &m);
	/* the application goes away */
	close(p.fd);
	close(lfd);
	unlink(path);
	IT_ASSERT_INT(srv_log_wait(s, 5000, NULL, 0, "backend app: link down"), ==, 0);
	/* ~80 bytes of OPEN and CLOSE per client: some 1700 of them reach the ceiling */
	for (i = 0; i < 8000; i++) {
		fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
		IT_ASSERT(fd >= 0);
		close(fd);
		if (i % 256 == 255 && srv_log_count(s, "refusing new clients") > 0)
			break;
	}
	IT_ASSERT_INT(srv_log_wait(s, 5000, NULL, 0, "backend app: .*over twice max_pending"
	    ".*: refusing new clients"), ==, 0);
	fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	IT_EXPECT_ERROR_EOF(fd, PERR_BACKEND_UNAVAILABLE);
	/* the clients accepted below the ceiling have ended: pend stops there, churn or not */
	it_sleep_ms(300);
	pending = link_stat(s, "bytes_pending");
	for (i = 0; i < 500; i++) {
		fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
		IT_ASSERT(fd >= 0);
		close(fd);
	}
	it_sleep_ms(300);
	IT_ASSERT_INT(link_stat(s, "bytes_pending"), ==, pending);
	IT_ASSERT_INT(srv_log_count(s, "refusing new clients"), ==, 1);
	echo_still_served(s);
	/* the application arrives and acknowledges everything: new clients are taken again */
	lfd = peer_listen(path);
	peer_accept(&p, lfd, 5000);
	while (peer_next(&p, &m, 1000) == 0)
		;
	IT_ASSERT_INT(srv_log_wait(s, 5000, NULL, 0, "accepting new clients"), ==, 0);
	fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	peer_wait_open(&p, cli_local_port(fd), &m);
	peer_send(&p, LINK_SEND, m.id, 1, "in", 2);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "in", 2);
}

/*
 * The application floods SENDs to a client that never reads: the client
 * is closed at max_output (too_large), the rest become GONE, the worker's
 * memory stays far below what was sent, and another client of the link and
 * an echo client are served.
 */
static void
test_send_flood_to_a_client_that_never_reads(void)
{
	enum { MSG = 60000, COUNT = 800 };	/* 48 MB */
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.limits = "max_output = 1048576;",
		.extra = backends_cfg(path, "link_timeout = 60;"),
		.listeners = { BL("f", "frame", ""), { .name = "e", .codec = "frame" } },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;
	static uint8_t big[MSG];
	int a, b, small = 4096;
	uint64_t ida, idb;
	long rss0, rss1;

	peer_accept(&p, lfd, 5000);
	peer_wait(&p, LINK_HELLO, 0, &m);
	a = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	IT_ASSERT(a >= 0);
	(void)setsockopt(a, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	peer_wait_open(&p, cli_local_port(a), &m);
	ida = m.id;
	b = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	peer_wait_open(&p, cli_local_port(b), &m);
	idb = m.id;
	rss0 = rss_kib(s->workers[0]);
	memset(big, 'f', sizeof(big));
	for (uint32_t seq = 1; seq <= COUNT; seq++)
		peer_send(&p, LINK_SEND, ida, seq, big, sizeof(big));
	peer_wait(&p, LINK_CLOSE, ida, &m);
	IT_ASSERT(strcmp((const char *)m.data + 2, "too_large") == 0 ||
	    strcmp((const char *)m.data + 2, "write_timeout") == 0);
	rss1 = rss_kib(s->workers[0]);
	fprintf(stderr, "    SEND flood: %d MB sent, worker RSS %ld -> %ld KiB\n",
	    MSG * COUNT >> 20, rss0, rss1);
	IT_ASSERT_INT(rss1 - rss0, <, 8192);
	/* the other client of the link */
	IT_ASSERT_STATUS(cli_send_frame(b, FRAME_DATA, "q", 1), CLI_OK);
	peer_wait(&p, LINK_MSG, idb, &m);
	peer_send(&p, LINK_SEND, idb, 1, "r", 1);
	IT_EXPECT_FRAME(b, FRAME_DATA, "r", 1);
	echo_still_served(s);
	close(a);
}

/*
 * Garbage from the application: the link is dropped and made again, the
 * clients stay (on_down hold) and an echo client never notices.
 */
static void
test_garbage_from_the_application_keeps_clients(void)
{
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.extra = backends_cfg(path, "on_down = \"hold\";"),
		.listeners = { BL("f", "frame", ""), { .name = "e", .codec = "frame" } },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;
	uint8_t junk[4096];
	int fd;

	peer_accept(&p, lfd, 5000);
	fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	peer_wait_open(&p, cli_local_port(fd), &m);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	junk[0] = LINK_MAGIC0;	/* past the magic: the rest is nonsense */
	junk[1] = LINK_MAGIC1;
	junk[2] = LINK_VERSION;
	(void)cli_send_all(p.fd, junk, sizeof(junk), 1000);
	IT_ASSERT_INT(srv_log_wait(s, 5000, NULL, 0, "link down: bad message from the backend"), ==, 0);
	echo_still_served(s);
	close(p.fd);
	peer_accept(&p, lfd, 5000);
	peer_wait(&p, LINK_OPEN, m.id, &m);
	IT_ASSERT_INT(m.data[0], ==, LINK_OPEN_RESENT);
	peer_send(&p, LINK_SEND, m.id, 1, "kept", 4);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "kept", 4);
	IT_ASSERT(kill(s->workers[0], 0) == 0);
}

/*
 * The application reads every event but never ACKs: its clients are
 * paused once max_pending is unacknowledged, the worker stays small, and
 * an echo client is served.
 */
static void
test_never_acking_application_pauses_clients(void)
{
	enum { N = 4, CHUNK = 16384 };
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.extra = backends_cfg(path, "max_pending = 262144; link_timeout = 30;"),
		.listeners = { BL("r", "raw", ""), { .name = "e", .codec = "frame" } },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;
	static uint8_t chunk[CHUNK];
	int fd[N];
	size_t sent = 0, got = 0;
	long rss0, rss1;
	int64_t start;

	peer_accept(&p, lfd, 5000);
	p.auto_ack = 0;
	peer_wait(&p, LINK_HELLO, 0, &m);
	rss0 = rss_kib(s->workers[0]);
	memset(chunk, 'n', sizeof(chunk));
	for (int i = 0; i < N; i++) {
		fd[i] = cli_connect(srv_addr(s, "r"), srv_port(s, "r"));
		IT_ASSERT(fd[i] >= 0);
		IT_ASSERT(fcntl(fd[i], F_SETFL, O_NONBLOCK) == 0);
	}
	start = it_now_ms();
	while (it_now_ms() - start < 3000) {
		for (int i = 0; i < N; i++) {
			ssize_t n = write(fd[i], chunk, sizeof(chunk));
			if (n > 0)
				sent += (size_t)n;
		}
		/* read every event, acknowledge none */
		while (peer_next(&p, &m, 5) == 0)
			if (m.type == LINK_MSG)
				got += m.len;
	}
	rss1 = rss_kib(s->workers[0]);
	fprintf(stderr, "    never ACKs: %zu KiB sent by clients, %zu KiB reached the "
	    "application, worker RSS %ld -> %ld KiB\n", sent >> 10, got >> 10, rss0, rss1);
	IT_ASSERT_INT(got, <, 262144 + N * 65536 + 65536);
	IT_ASSERT_INT(link_stat(s, "clients_paused"), ==, N);
	IT_ASSERT_INT(rss1 - rss0, <, 4096);
	echo_still_served(s);
	IT_ASSERT_INT(srv_log_count(s, "close r "), ==, 0);
}

/*
 * A header declaring a payload near the largest allowed, then silence:
 * the worker does not reserve it, link_timeout drops the link, and an echo
 * client is served meanwhile.
 */
static void
test_huge_declared_length_then_stall(void)
{
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.limits = "max_frame = 268435456;",
		.extra = backends_cfg(path, "link_timeout = 1;"),
		.listeners = { BL("f", "frame", ""), { .name = "e", .codec = "frame" } },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;
	uint8_t hdr[LINK_HDR_LEN + 16];
	long rss0, rss1;

	peer_accept(&p, lfd, 5000);
	peer_wait(&p, LINK_HELLO, 0, &m);
	rss0 = data_kib(s->workers[0]);
	memset(hdr, 'h', sizeof(hdr));
	linkproto_header(hdr, LINK_SEND, 256u << 20, 5, 1);
	IT_ASSERT_STATUS(cli_send_all(p.fd, hdr, sizeof(hdr), 1000), CLI_OK);
	/* a slow drip: each read after the header is where the room for the rest was taken */
	for (int i = 0; i < 3; i++) {
		it_sleep_ms(100);
		IT_ASSERT_STATUS(cli_send_all(p.fd, hdr, sizeof(hdr), 1000), CLI_OK);
	}
	it_sleep_ms(100);
	rss1 = data_kib(s->workers[0]);
	fprintf(stderr, "    declared 256 MiB: worker VmData %ld -> %ld KiB\n", rss0, rss1);
	IT_ASSERT_INT(rss1 - rss0, <, 4096);
	echo_still_served(s);
	IT_ASSERT_INT(srv_log_wait(s, 5000, NULL, 0, "link down: no byte from the backend"), ==, 0);
	close(p.fd);
	peer_accept(&p, lfd, 5000);
	peer_wait(&p, LINK_HELLO, 0, &m);
}


/*
 * SUB adds a topic the application names: one client subscribed to
 * topics without end pinned worker memory without end.  64 per client;
 * more are dropped (logged once), the link stays up.
 */
static void
test_subscriptions_per_client_are_capped(void)
{
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.extra = backends_cfg(path, NULL),
		.listeners = { BL("f", "frame", "") },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;
	char topic[32];
	uint8_t pub[64];
	int fd;

	peer_accept(&p, lfd, 5000);
	fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	peer_wait_open(&p, cli_local_port(fd), &m);
	for (int i = 0; i < 1000; i++) {
		snprintf(topic, sizeof(topic), "topic-%d", i);
		peer_send(&p, LINK_SUB, m.id, 0, topic, strlen(topic));
	}
	IT_ASSERT_INT(srv_log_wait(s, 5000, NULL, 0,
	    "backend app: a client is in 64 topics already: further SUBs are dropped"), ==, 0);
	/* the 65th was not taken, the 64th was; the same topic again is no new one */
	pub[0] = (uint8_t)strlen("topic-64");
	memcpy(pub + 1, "topic-64", pub[0]);
	memcpy(pub + 1 + pub[0], "no", 2);
	peer_send(&p, LINK_PUBLISH, 0, 0, pub, 1 + pub[0] + 2);
	pub[0] = (uint8_t)strlen("topic-63");
	memcpy(pub + 1, "topic-63", pub[0]);
	memcpy(pub + 1 + pub[0], "yes", 3);
	peer_send(&p, LINK_SUB, m.id, 0, "topic-63", 8);
	peer_send(&p, LINK_PUBLISH, 0, 0, pub, 1 + pub[0] + 3);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "yes", 3);
	/* UNSUB makes room */
	peer_send(&p, LINK_UNSUB, m.id, 0, "topic-0", 7);
	peer_send(&p, LINK_SUB, m.id, 0, "topic-999", 9);
	pub[0] = 9;
	memcpy(pub + 1, "topic-999", 9);
	memcpy(pub + 10, "new", 3);
	peer_send(&p, LINK_PUBLISH, 0, 0, pub, 13);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "new", 3);
	IT_ASSERT_INT(srv_log_count(s, "further SUBs are dropped"), ==, 1);
	IT_ASSERT_INT(srv_log_count(s, "link down"), ==, 0);
}


/*
 * A SEND over max_frame would reach the client as a frame its limit
 * refuses: dropped (logged once), the link and the client kept; a CLOSE
 * text is cut to fit an ERROR frame of max_frame.
 */
static void
test_send_over_max_frame_is_dropped(void)
{
	char *path = sock_path();
	int lfd = peer_listen(path);
	struct srv_opts o = {
		.workers = 1,
		.limits = "max_frame = 1024;",
		.extra = backends_cfg(path, NULL),
		.listeners = { BL("f", "frame", "") },
	};
	struct srv *s = srv_start(&o);
	struct peer p;
	struct pmsg m;
	static uint8_t big[1200];
	int fd;

	peer_accept(&p, lfd, 5000);
	fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	peer_wait_open(&p, cli_local_port(fd), &m);
	memset(big, 'b', sizeof(big));
	peer_send(&p, LINK_SEND, m.id, 1, big, 1025);
	peer_send(&p, LINK_SEND, m.id, 2, big, 1024);
	IT_EXPECT_FRAME(fd, FRAME_DATA, big, 1024);
	IT_ASSERT_INT(srv_log_wait(s, 5000, NULL, 0,
	    "backend app: a SEND message larger than max_frame \\(1024\\) is dropped"), ==, 0);
	big[0] = 0;
	big[1] = 9;
	peer_send(&p, LINK_CMD_CLOSE, m.id, 0, big, sizeof(big));
	IT_EXPECT_ERROR_EOF(fd, 9);
	IT_ASSERT_INT(srv_log_count(s, "link down"), ==, 0);
}

static const struct it_test backend_tests[] = {
	{ "test_check_reports_backend_mistakes_with_their_line",
	    test_check_reports_backend_mistakes_with_their_line, 0 },
	{ "test_new_session_replays_only_what_was_not_acknowledged",
	    test_new_session_replays_only_what_was_not_acknowledged, 0 },
	{ "test_ids_stay_unique_across_a_respawn", test_ids_stay_unique_across_a_respawn, 0 },
	{ "test_events_and_ids_for_every_codec", test_events_and_ids_for_every_codec, 0 },
	{ "test_close_command_with_code_and_graceful", test_close_command_with_code_and_graceful, 0 },
	{ "test_gone_for_unknown_ids_and_acks_count_commands",
	    test_gone_for_unknown_ids_and_acks_count_commands, 0 },
	{ "test_hostile_link_bytes_drop_the_link_not_the_worker",
	    test_hostile_link_bytes_drop_the_link_not_the_worker, 0 },
	{ "test_sub_publish_over_two_workers", test_sub_publish_over_two_workers, 0 },
	{ "test_heartbeat_still_closes_silent_clients", test_heartbeat_still_closes_silent_clients, 0 },
	{ "test_backend_killed_and_restarted_loses_nothing",
	    test_backend_killed_and_restarted_loses_nothing, 90 },
	{ "test_stalled_backend_pauses_clients_within_max_pending",
	    test_stalled_backend_pauses_clients_within_max_pending, 90 },
	{ "test_on_down_hold_keeps_clients_and_delivers_later",
	    test_on_down_hold_keeps_clients_and_delivers_later, 0 },
	{ "test_on_down_refuse_refuses_new_clients_only", test_on_down_refuse_refuses_new_clients_only, 0 },
	{ "test_on_down_close_ends_every_client_with_error_8",
	    test_on_down_close_ends_every_client_with_error_8, 0 },
	{ "test_hold_churn_refuses_new_clients_past_twice_max_pending",
	    test_hold_churn_refuses_new_clients_past_twice_max_pending, 90 },
	{ "test_send_flood_to_a_client_that_never_reads",
	    test_send_flood_to_a_client_that_never_reads, 90 },
	{ "test_garbage_from_the_application_keeps_clients",
	    test_garbage_from_the_application_keeps_clients, 0 },
	{ "test_never_acking_application_pauses_clients",
	    test_never_acking_application_pauses_clients, 90 },
	{ "test_huge_declared_length_then_stall", test_huge_declared_length_then_stall, 0 },
	{ "test_subscriptions_per_client_are_capped", test_subscriptions_per_client_are_capped, 0 },
	{ "test_send_over_max_frame_is_dropped", test_send_over_max_frame_is_dropped, 0 },
	{ NULL, NULL, 0 }
};
IT_SUITE(backend, backend_tests)
