/*
 * Integration: listeners with proxy_protocol = true, as a load balancer
 * (HAProxy's send-proxy / send-proxy-v2) talks to them.  The test client
 * plays the balancer: it writes the PROXY header itself, then frames.
 * Checked: the echo behind a v1 or v2 header however it is cut; the
 * client address sockserv uses (the debug accept and close lines, the
 * backend link's OPEN); a malformed header closed with no ERROR frame and
 * counted; a cut header closed by first_message_timeout; LOCAL and
 * UNKNOWN keeping the real address; proxy_trusted refusing other peers
 * before reading; the config error of proxy_trusted alone.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../minijson.h"
#include "harness.h"

static const uint8_t V2_SIG[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

#define PP_LISTENER(n, more) { .name = (n), .extra = "proxy_protocol = true; " more }

/* a v2 header: ver_cmd, fam, then the block */
static void
v2_append(struct it_buf *b, uint8_t ver_cmd, uint8_t fam, const void *block, uint16_t blen)
{
	uint8_t h[4] = { ver_cmd, fam, (uint8_t)(blen >> 8), (uint8_t)blen };

	it_buf_add(b, V2_SIG, sizeof(V2_SIG));
	it_buf_add(b, h, sizeof(h));
	if (blen > 0)
		it_buf_add(b, block, blen);
}

/* v2 PROXY TCP over IPv4 or IPv6 (by the form of src), then tlvs */
static void
v2_proxy_append(struct it_buf *b, const char *src, uint16_t sport, const char *dst,
    uint16_t dport, const void *tlvs, uint16_t tlen)
{
	uint8_t block[36 + 64];
	int v6 = strchr(src, ':') != NULL;
	size_t alen = v6 ? 16 : 4;

	IT_ASSERT(tlen <= 64);
	IT_ASSERT(inet_pton(v6 ? AF_INET6 : AF_INET, src, block) == 1);
	IT_ASSERT(inet_pton(v6 ? AF_INET6 : AF_INET, dst, block + alen) == 1);
	block[2 * alen] = (uint8_t)(sport >> 8);
	block[2 * alen + 1] = (uint8_t)sport;
	block[2 * alen + 2] = (uint8_t)(dport >> 8);
	block[2 * alen + 3] = (uint8_t)dport;
	if (tlen > 0)
		memcpy(block + 2 * alen + 4, tlvs, tlen);
	v2_append(b, 0x21, v6 ? 0x21 : 0x11, block, (uint16_t)(2 * alen + 4 + tlen));
}

static void
str_append(struct it_buf *b, const char *s)
{
	it_buf_add(b, s, strlen(s));
}

/* one figure of sockserv-stat's totals; reason names one of "closed" */
static uint64_t
total(struct srv *s, const char *key, const char *reason)
{
	struct mj *root = srv_stat_json(s);
	const struct mj *t = mj_get(root, "totals");
	uint64_t v = 0;

	IT_ASSERT(t != NULL);
	if (reason != NULL)
		t = mj_get(t, key);
	IT_ASSERT(t != NULL);
	IT_ASSERT(mj_uint(t, reason != NULL ? reason : key, &v) == 0);
	mj_free(root);
	return v;
}

/* every accepted connection is open or closed for one reason: nothing lost */
static void
check_accounting(struct srv *s)
{
	static const char *const reasons[] = {
		"peer", "heartbeat", "deadline", "frame_timeout", "write_timeout",
		"first_message_timeout", "protocol_error", "too_large", "server_full",
		"shutdown", "error", "backend", "limit_ip", "limit_rate",
	};
	uint64_t closed = 0;

	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		closed += total(s, "closed", reasons[i]);
	IT_ASSERT_INT(total(s, "accepted", NULL), ==, closed + total(s, "connections", NULL));
}

/* ---- the carried address ---- */

static void
test_v1_header_then_frame_echoes_and_logs_the_client_address(void)
{
	struct srv_opts o = { .listeners = { PP_LISTENER("p", "") } };
	struct srv *s = srv_start(&o);
	struct it_buf b = { 0 };
	char hdr[128];
	int fd = cli_connect(srv_addr(s, "p"), srv_port(s, "p"));

	IT_ASSERT(fd >= 0);
	/* header and first frame in one write */
	snprintf(hdr, sizeof(hdr), "PROXY TCP4 203.0.113.9 127.0.0.1 4242 %d\r\n", srv_port(s, "p"));
	str_append(&b, hdr);
	frame_append(&b, FRAME_DATA, "hello", 5);
	IT_ASSERT_STATUS(cli_send_all(fd, b.data, b.len, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "hello", 5);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0, "accept p 203\\.0\\.113\\.9:4242$") == 0);
	/* the real address is never the client's */
	IT_ASSERT_INT(srv_log_count(s, "accept p 127\\.0\\.0\\.1:%d$", cli_local_port(fd)), ==, 0);
	close(fd);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0,
	    "close p 203\\.0\\.113\\.9:4242 reason peer ") == 0);
	it_buf_free(&b);
}

static void
test_v2_ipv6_header_written_byte_by_byte(void)
{
	struct srv_opts o = { .listeners = { PP_LISTENER("p", "") } };
	struct srv *s = srv_start(&o);
	struct it_buf b = { 0 };
	size_t hlen;
	int fd = cli_connect(srv_addr(s, "p"), srv_port(s, "p"));

	IT_ASSERT(fd >= 0);
	v2_proxy_append(&b, "2001:db8::7", 5555, "::1", 7000, NULL, 0);
	hlen = b.len;
	frame_append(&b, FRAME_DATA, "six", 3);
	/* every byte in its own segment, the frame too */
	for (size_t i = 0; i < b.len; i++) {
		if (i == hlen - 1) {
			/* all but the last byte of the header: not established yet */
			it_sleep_ms(200);
			IT_ASSERT_INT(srv_log_count(s, "accept p "), ==, 0);
		}
		IT_ASSERT_STATUS(cli_send_all(fd, b.data + i, 1, IT_IO_TIMEOUT_MS), CLI_OK);
		it_sleep_ms(2);
	}
	IT_EXPECT_FRAME(fd, FRAME_DATA, "six", 3);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0, "accept p \\[2001:db8::7\\]:5555$") == 0);
	IT_ASSERT_INT(srv_log_count(s, "accept p "), ==, 1);
	close(fd);
	it_buf_free(&b);
}

static void
test_v2_header_with_tlvs_and_frames_in_one_write(void)
{
	/* NOOP, UNIQUE_ID, AUTHORITY: skipped */
	static const uint8_t tlvs[] = {
		0x04, 0x00, 0x02, 0, 0,
		0x05, 0x00, 0x04, 'u', 'n', 'i', 'q',
		0x02, 0x00, 0x03, 'a', '.', 'b',
	};
	struct srv_opts o = { .listeners = { PP_LISTENER("p", "") } };
	struct srv *s = srv_start(&o);
	struct it_buf b = { 0 };
	int fd = cli_connect(srv_addr(s, "p"), srv_port(s, "p"));

	IT_ASSERT(fd >= 0);
	v2_proxy_append(&b, "198.51.100.2", 65535, "127.0.0.1", 1, tlvs, sizeof(tlvs));
	frame_append(&b, FRAME_DATA, "one", 3);
	frame_append(&b, FRAME_PING, "p", 1);
	frame_append(&b, FRAME_DATA, "two", 3);
	IT_ASSERT_STATUS(cli_send_all(fd, b.data, b.len, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "one", 3);
	IT_EXPECT_FRAME(fd, FRAME_PONG, "p", 1);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "two", 3);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0, "accept p 198\\.51\\.100\\.2:65535$") == 0);
	close(fd);
	it_buf_free(&b);
}

static void
test_raw_listener_gets_the_bytes_after_the_header(void)
{
	struct srv_opts o = {
		.listeners = { { .name = "r", .codec = "raw", .extra = "proxy_protocol = true;" } },
	};
	struct srv *s = srv_start(&o);
	int fd = cli_connect(srv_addr(s, "r"), srv_port(s, "r"));
	const char *msg = "PROXY TCP4 192.0.2.1 192.0.2.2 1000 2000\r\nraw bytes\r\n";

	IT_ASSERT(fd >= 0);
	IT_ASSERT_STATUS(cli_send_all(fd, msg, strlen(msg), IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_BYTES(fd, "raw bytes\r\n", 11);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0, "accept r 192\\.0\\.2\\.1:1000$") == 0);
	close(fd);
}

static void
test_local_and_unknown_keep_the_real_address(void)
{
	struct srv_opts o = { .listeners = { PP_LISTENER("p", "") } };
	struct srv *s = srv_start(&o);
	static const uint8_t junk[] = "not an address block \xff\x00";

	for (int k = 0; k < 3; k++) {
		struct it_buf b = { 0 };
		int fd = cli_connect(srv_addr(s, "p"), srv_port(s, "p"));

		IT_ASSERT(fd >= 0);
		if (k == 0)
			v2_append(&b, 0x20, 0x00, NULL, 0);	/* HAProxy's health check */
		else if (k == 1)
			v2_append(&b, 0x20, 0x11, junk, sizeof(junk));
		else
			str_append(&b, "PROXY UNKNOWN 10.9.9.9 10.8.8.8 1 2\r\n");
		frame_append(&b, FRAME_DATA, "me", 2);
		IT_ASSERT_STATUS(cli_send_all(fd, b.data, b.len, IT_IO_TIMEOUT_MS), CLI_OK);
		IT_EXPECT_FRAME(fd, FRAME_DATA, "me", 2);
		IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0, "accept p 127\\.0\\.0\\.1:%d$",
		    cli_local_port(fd)) == 0);
		close(fd);
		it_buf_free(&b);
	}
	IT_ASSERT_INT(srv_log_count(s, "accept p 10\\."), ==, 0);
}

/* the application behind the backend link is told the client's address in OPEN */
static void
test_backend_open_carries_the_client_address(void)
{
	char *dir = it_mkdtemp(), path[600], addr[640], out[640], prog[600], extra[900];
	struct srv_opts o = {
		.extra = extra,
		.listeners = { { .name = "f", .handler = "backend",
		    .extra = "backend = \"app\"; proxy_protocol = true;" } },
	};
	struct srv *s;
	struct it_buf b = { 0 };
	pid_t eb;
	int fd;

	snprintf(path, sizeof(path), "%s/app.sock", dir);
	snprintf(addr, sizeof(addr), "unix:%s", path);
	snprintf(out, sizeof(out), "%s/echo.out", dir);
	snprintf(prog, sizeof(prog), "%s/echo_backend", it_build_dir());
	snprintf(extra, sizeof(extra), "backends = ( { name = \"app\"; address = \"%s\"; "
	    "reconnect_min = 0.05; reconnect_max = 0.2; } );", addr);
	IT_ASSERT(access(prog, X_OK) == 0);
	eb = fork();
	IT_ASSERT(eb >= 0);
	if (eb == 0) {
		int ofd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (ofd >= 0)
			dup2(ofd, 1);
		execl(prog, prog, "-v", addr, (char *)NULL);
		_exit(127);
	}
	/* the link connects whenever the application listens (clients wait meanwhile) */
	s = srv_start(&o);
	fd = cli_connect(srv_addr(s, "f"), srv_port(s, "f"));
	IT_ASSERT(fd >= 0);
	v2_proxy_append(&b, "192.0.2.77", 6001, "127.0.0.1", 7000, NULL, 0);
	frame_append(&b, FRAME_DATA, "via app", 7);
	IT_ASSERT_STATUS(cli_send_all(fd, b.data, b.len, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "via app", 7);
	/* the echo came back through the application: it had the OPEN first */
	IT_ASSERT(it_file_wait(out, 0, IT_IO_TIMEOUT_MS, NULL, 0,
	    "^OPEN [0-9]+ 0 [0-9]+ f 192\\.0\\.2\\.77:6001$") == 0);
	close(fd);
	kill(eb, SIGKILL);
	waitpid(eb, NULL, 0);
	it_buf_free(&b);
	free(dir);
}

/* ---- what is refused ---- */

static void
test_malformed_header_closes_without_error_frame_and_counts(void)
{
	struct srv_opts o = { .listeners = { PP_LISTENER("p", "") } };
	struct srv *s = srv_start(&o);
	const int nbad = 6;
	uint64_t before = total(s, "protocol_errors", NULL);

	for (int k = 0; k < nbad; k++) {
		struct it_buf b = { 0 };
		int fd = cli_connect(srv_addr(s, "p"), srv_port(s, "p"));

		IT_ASSERT(fd >= 0);
		switch (k) {
		case 0:	/* a client straight to sockserv: a frame, no header */
			frame_append(&b, FRAME_DATA, "hi", 2);
			break;
		case 1:
			str_append(&b, "PROXY TCP4 1.2.3.4 5.6.7.8 65536 80\r\n");
			break;
		case 2:
			str_append(&b, "PROXY TCP4 1.2.3.04 5.6.7.8 1 80\r\n");
			break;
		case 3:	/* 106 bytes and no CRLF */
			str_append(&b, "PROXY UNKNOWN ");
			for (int i = 0; i < 92; i++)
				it_buf_add(&b, "x", 1);
			break;
		case 4:	/* v2, version 3 */
			v2_append(&b, 0x31, 0x11, "123456789012", 12);
			break;
		case 5:	/* v2 announcing more than 1024 bytes */
			v2_append(&b, 0x21, 0x11, NULL, 0);
			b.data[14] = 0x10;
			break;
		}
		frame_append(&b, FRAME_DATA, "after", 5);
		IT_ASSERT_STATUS(cli_send_all(fd, b.data, b.len, IT_IO_TIMEOUT_MS), CLI_OK);
		/* no ERROR frame: the peer may be a balancer, not a client */
		IT_EXPECT_EOF(fd);
		close(fd);
		it_buf_free(&b);
	}
	IT_ASSERT_INT(srv_log_wait_count(s, nbad, IT_IO_TIMEOUT_MS,
	    "close p 127\\.0\\.0\\.1:[0-9]+ reason protocol_error "), ==, nbad);
	IT_ASSERT_INT(srv_log_count(s, "bad PROXY protocol header"), ==, nbad);
	IT_ASSERT_INT(srv_log_count(s, "accept p "), ==, 0);
	IT_ASSERT_INT(total(s, "protocol_errors", NULL) - before, ==, nbad);
	IT_ASSERT_INT(total(s, "closed", "protocol_error"), ==, nbad);
	check_accounting(s);
}

static void
test_header_cut_by_eof_is_a_protocol_error_a_bare_connect_is_not(void)
{
	struct srv_opts o = { .listeners = { PP_LISTENER("p", "") } };
	struct srv *s = srv_start(&o);
	int fd = cli_connect(srv_addr(s, "p"), srv_port(s, "p"));

	IT_ASSERT(fd >= 0);
	IT_ASSERT_STATUS(cli_send_all(fd, "PROXY TCP4 1.2", 14, IT_IO_TIMEOUT_MS), CLI_OK);
	shutdown(fd, SHUT_WR);
	IT_EXPECT_EOF(fd);
	close(fd);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0, "close p .* reason protocol_error ") == 0);
	/* a balancer's plain TCP check: connect, close */
	fd = cli_connect(srv_addr(s, "p"), srv_port(s, "p"));
	IT_ASSERT(fd >= 0);
	close(fd);
	IT_ASSERT_INT(srv_log_wait_count(s, 1, IT_IO_TIMEOUT_MS, "close p .* reason peer "), ==, 1);
	IT_ASSERT_INT(total(s, "closed", "protocol_error"), ==, 1);
	check_accounting(s);
}

static void
test_cut_header_then_silence_is_closed_by_first_message_timeout(void)
{
	struct srv_opts o = {
		.timer = "tick_ms = 10;",
		.listeners = { PP_LISTENER("p", "first_message_timeout = 1; heartbeat_timeout = 30;") },
	};
	struct srv *s = srv_start(&o);
	int64_t t0 = it_now_ms(), tlast, tend;
	int fd = cli_connect(srv_addr(s, "p"), srv_port(s, "p"));
	int st;

	IT_ASSERT(fd >= 0);
	IT_ASSERT_STATUS(cli_send_all(fd, "PROXY TCP6 2001:db8::1 ", 23, IT_IO_TIMEOUT_MS), CLI_OK);
	tlast = it_now_ms();
	/* no ERROR frame before the close either */
	st = cli_wait_eof(fd, 5000);
	tend = it_now_ms();
	IT_ASSERT(st == CLI_EOF || st == CLI_RESET);
	/* the timer runs from accept, which came after t0 and before the last byte */
	IT_ASSERT_INT(tend - t0, >=, 1000);
	IT_ASSERT_INT(tend - tlast, <=, 1000 + 1500);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0,
	    "close p 127\\.0\\.0\\.1:%d reason first_message_timeout ", cli_local_port(fd)) == 0);
	close(fd);
	/* a whole header and then silence: the same timer, the carried address */
	srv_log_mark(s);
	t0 = it_now_ms();
	fd = cli_connect(srv_addr(s, "p"), srv_port(s, "p"));
	IT_ASSERT(fd >= 0);
	IT_ASSERT_STATUS(cli_send_all(fd, "PROXY TCP4 192.0.2.5 127.0.0.1 999 1\r\n", 38,
	    IT_IO_TIMEOUT_MS), CLI_OK);
	/* established now: it is told why, as any client */
	IT_EXPECT_ERROR_EOF(fd, PERR_TIMEOUT);
	IT_ASSERT_INT(it_now_ms() - t0, >=, 1000);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0,
	    "close p 192\\.0\\.2\\.5:999 reason first_message_timeout ") == 0);
	close(fd);
	check_accounting(s);
}

static void
test_untrusted_peer_is_refused_before_a_byte_is_read(void)
{
	struct srv_opts o = {
		.listeners = {
			PP_LISTENER("t", "proxy_trusted = (\"10.0.0.0/8\", \"fd00::/8\");"),
			PP_LISTENER("ok", "proxy_trusted = (\"10.0.0.0/8\", \"127.0.0.0/8\");"),
		},
	};
	struct srv *s = srv_start(&o);
	struct it_buf b = { 0 };
	uint64_t bytes_before = total(s, "bytes_in", NULL);
	uint64_t refused_before = total(s, "closed", "protocol_error");
	int fd;

	str_append(&b, "PROXY TCP4 10.1.1.1 127.0.0.1 1234 80\r\n");
	frame_append(&b, FRAME_DATA, "hi", 2);
	/* the readiness probe was refused already: one protocol_error */
	IT_ASSERT_INT(refused_before, ==, 1);
	fd = cli_connect(srv_addr(s, "t"), srv_port(s, "t"));
	IT_ASSERT(fd >= 0);
	/* closed at accept: whatever it sends is never read, it sees the close */
	(void)cli_send_all(fd, b.data, b.len, 1000);
	IT_EXPECT_EOF(fd);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0,
	    "close t 127\\.0\\.0\\.1:%d reason protocol_error ", cli_local_port(fd)) == 0);
	close(fd);
	IT_ASSERT_INT(total(s, "closed", "protocol_error") - refused_before, ==, 1);
	IT_ASSERT_INT(total(s, "bytes_in", NULL), ==, bytes_before);
	IT_ASSERT_INT(srv_log_count(s, "accept t "), ==, 0);
	/* a trusted balancer on the same server is served */
	fd = cli_connect(srv_addr(s, "ok"), srv_port(s, "ok"));
	IT_ASSERT(fd >= 0);
	IT_ASSERT_STATUS(cli_send_all(fd, b.data, b.len, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "hi", 2);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0, "accept ok 10\\.1\\.1\\.1:1234$") == 0);
	close(fd);
	check_accounting(s);
	it_buf_free(&b);
}

/* "*" is dual-stack: an IPv4 balancer shows as ::ffff:a.b.c.d and matches the IPv4 entries */
static void
test_trusted_ranges_on_dual_stack_and_ipv6_listeners(void)
{
	struct srv_opts o = {
		.listeners = {
			{ .name = "any", .address = "*",
			    .extra = "proxy_protocol = true; proxy_trusted = (\"127.0.0.1\");" },
			{ .name = "six", .address = "::1",
			    .extra = "proxy_protocol = true; proxy_trusted = (\"::1/128\");" },
		},
	};
	struct srv *s = srv_start(&o);
	struct it_buf b = { 0 };
	int fd;

	str_append(&b, "PROXY TCP4 192.0.2.8 192.0.2.9 8000 9000\r\n");
	frame_append(&b, FRAME_DATA, "ok", 2);
	fd = cli_connect("127.0.0.1", srv_port(s, "any"));
	IT_ASSERT(fd >= 0);
	IT_ASSERT_STATUS(cli_send_all(fd, b.data, b.len, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "ok", 2);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0, "accept any 192\\.0\\.2\\.8:8000$") == 0);
	close(fd);
	/* over IPv6 to the same listener: ::1 is not listed */
	fd = cli_connect("::1", srv_port(s, "any"));
	IT_ASSERT(fd >= 0);
	(void)cli_send_all(fd, b.data, b.len, 1000);
	IT_EXPECT_EOF(fd);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0,
	    "close any \\[::1\\]:%d reason protocol_error ", cli_local_port(fd)) == 0);
	close(fd);
	fd = cli_connect("::1", srv_port(s, "six"));
	IT_ASSERT(fd >= 0);
	IT_ASSERT_STATUS(cli_send_all(fd, b.data, b.len, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "ok", 2);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0, "accept six 192\\.0\\.2\\.8:8000$") == 0);
	close(fd);
	check_accounting(s);
	it_buf_free(&b);
}

static void
test_proxy_trusted_without_proxy_protocol_is_a_config_error(void)
{
	char *dir = it_mkdtemp(), cfg[600], out[2048], want[700];
	char *argv[] = { (char *)it_sockserv_path(), (char *)"-t", (char *)"-c", cfg, NULL };
	int st;

	snprintf(cfg, sizeof(cfg), "%s/p.cfg", dir);
	IT_ASSERT(it_write_file(cfg,
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7100;\n"
	    "  proxy_trusted = (\"127.0.0.1\"); } );\n") == 0);
	st = it_run(argv, out, sizeof(out), 10000);
	IT_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	snprintf(want, sizeof(want), "%s:2: 'proxy_trusted' needs 'proxy_protocol = true;'", cfg);
	IT_ASSERT_STR_HAS(out, want);
	/* a bad entry is named */
	IT_ASSERT(it_write_file(cfg,
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7100;\n"
	    "  proxy_protocol = true; proxy_trusted = (\"127.0.0.1\", \"10.0.0.0/40\"); } );\n") == 0);
	st = it_run(argv, out, sizeof(out), 10000);
	IT_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	IT_ASSERT_STR_HAS(out, "'proxy_trusted' entry '10.0.0.0/40'");
	IT_ASSERT(it_write_file(cfg,
	    "listeners = ( { name = \"a\"; address = \"127.0.0.1\"; port = 7100;\n"
	    "  proxy_protocol = true; proxy_trusted = (\"127.0.0.1\", \"::1\"); } );\n") == 0);
	st = it_run(argv, out, sizeof(out), 10000);
	IT_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	IT_ASSERT_STR_HAS(out, "configuration ok");
	free(dir);
}

/*
 * limits.max_conns_per_ip counts the address the header carried, not the
 * balancer's: every connection here comes from 127.0.0.1, and only the
 * second one claiming 203.0.113.7 is refused (ERROR 6 naming it).
 */
static void
test_max_conns_per_ip_counts_the_carried_address(void)
{
	struct srv_opts o = {
		.workers = 1, .limits = "max_conns_per_ip = 1;",
		.listeners = { PP_LISTENER("p", "heartbeat_timeout = 60;") },
	};
	struct srv *s = srv_start(&o);
	const char *src[3] = { "203.0.113.7", "203.0.113.8", "203.0.113.7" };
	static const char want[] = "too many connections from 203.0.113.7";
	struct it_frame f;
	int fd[3];

	for (int i = 0; i < 3; i++) {
		struct it_buf b = { 0 };

		fd[i] = cli_connect(srv_addr(s, "p"), srv_port(s, "p"));
		IT_ASSERT(fd[i] >= 0);
		v2_proxy_append(&b, src[i], (uint16_t)(4000 + i), "127.0.0.1", 7000, NULL, 0);
		frame_append(&b, FRAME_DATA, "hi", 2);
		IT_ASSERT_STATUS(cli_send_all(fd[i], b.data, b.len, IT_IO_TIMEOUT_MS), CLI_OK);
		it_buf_free(&b);
		if (i < 2)
			IT_EXPECT_FRAME(fd[i], FRAME_DATA, "hi", 2);
	}
	IT_ASSERT_STATUS(cli_read_frame(fd[2], &f, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_ASSERT_INT(f.type, ==, FRAME_ERROR);
	IT_ASSERT_INT(f.len, ==, 2 + strlen(want));
	IT_ASSERT(memcmp(f.payload + 2, want, strlen(want)) == 0);
	it_frame_free(&f);
	IT_ASSERT(cli_wait_eof(fd[2], IT_IO_TIMEOUT_MS) != CLI_DATA);
	IT_ASSERT_INT(total(s, "closed", "limit_ip"), ==, 1);
	/* the first two are still served */
	for (int i = 0; i < 2; i++) {
		IT_ASSERT_STATUS(cli_send_frame(fd[i], FRAME_DATA, "again", 5), CLI_OK);
		IT_EXPECT_FRAME(fd[i], FRAME_DATA, "again", 5);
		close(fd[i]);
	}
	close(fd[2]);
}

static const struct it_test proxy_tests[] = {
	{ "test_v1_header_then_frame_echoes_and_logs_the_client_address",
	    test_v1_header_then_frame_echoes_and_logs_the_client_address, 0 },
	{ "test_v2_ipv6_header_written_byte_by_byte", test_v2_ipv6_header_written_byte_by_byte, 0 },
	{ "test_v2_header_with_tlvs_and_frames_in_one_write",
	    test_v2_header_with_tlvs_and_frames_in_one_write, 0 },
	{ "test_raw_listener_gets_the_bytes_after_the_header",
	    test_raw_listener_gets_the_bytes_after_the_header, 0 },
	{ "test_local_and_unknown_keep_the_real_address",
	    test_local_and_unknown_keep_the_real_address, 0 },
	{ "test_backend_open_carries_the_client_address",
	    test_backend_open_carries_the_client_address, 0 },
	{ "test_malformed_header_closes_without_error_frame_and_counts",
	    test_malformed_header_closes_without_error_frame_and_counts, 0 },
	{ "test_header_cut_by_eof_is_a_protocol_error_a_bare_connect_is_not",
	    test_header_cut_by_eof_is_a_protocol_error_a_bare_connect_is_not, 0 },
	{ "test_cut_header_then_silence_is_closed_by_first_message_timeout",
	    test_cut_header_then_silence_is_closed_by_first_message_timeout, 0 },
	{ "test_untrusted_peer_is_refused_before_a_byte_is_read",
	    test_untrusted_peer_is_refused_before_a_byte_is_read, 0 },
	{ "test_trusted_ranges_on_dual_stack_and_ipv6_listeners",
	    test_trusted_ranges_on_dual_stack_and_ipv6_listeners, 0 },
	{ "test_proxy_trusted_without_proxy_protocol_is_a_config_error",
	    test_proxy_trusted_without_proxy_protocol_is_a_config_error, 0 },
	{ "test_max_conns_per_ip_counts_the_carried_address",
	    test_max_conns_per_ip_counts_the_carried_address, 0 },
	{ NULL, NULL, 0 }
};
IT_SUITE(proxy, proxy_tests)
