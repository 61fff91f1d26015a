/*
 * The foundation's wire behaviour, end to end against a real server: echo
 * over the three codecs, frame boundaries wherever TCP splits them, PING,
 * PONG and CLOSE, each protocol error, frame size limits, the headers
 * codec's silent closes, the log handler, connection limits and IPv6.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define MAX_FRAME 1048576

/*
 * The spec's example server: a frame echo listener, raw echo and raw log
 * listeners, and headers echo listeners with the default and a custom magic.
 */
static struct srv *
start_foundation(void)
{
	struct srv_opts o = {
		.limits = "max_frame = 1048576; max_output = 4194304;",
		.listeners = {
			{ .name = "long", .codec = "frame", .handler = "echo" },
			{ .name = "raw", .codec = "raw", .handler = "echo" },
			{ .name = "short", .codec = "raw", .handler = "log" },
			{ .name = "hdrs", .codec = "headers", .handler = "echo" },
			{ .name = "compat", .codec = "headers", .handler = "echo",
			    .extra = "magic = \"testHeader\";" },
		},
	};

	return srv_start(&o);
}

static int
connect_to(struct srv *s, const char *listener)
{
	int fd = cli_connect(srv_addr(s, listener), srv_port(s, listener));

	IT_ASSERT(fd >= 0);
	return fd;
}

/*
 * The server's close line for our end of a connection (port: our local
 * port, taken while the socket was fresh: a reset socket may forget it).
 */
static int
wait_close_reason(struct srv *s, const char *listener, int port, const char *reason)
{
	return srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0,
	    "close %s 127\\.0\\.0\\.1:%d reason %s age [0-9]", listener, port,
	    reason);
}

static void
test_frame_data_is_echoed_as_data(void)
{
	struct srv *s = start_foundation();
	int fd = connect_to(s, "long");
	uint8_t all[256];
	int i;

	for (i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "hello", 5), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "hello", 5);
	/* every byte value survives, NULs and 0xff included */
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, all, sizeof(all)), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, all, sizeof(all));
	close(fd);
}

static void
test_raw_bytes_are_echoed_as_is(void)
{
	struct srv *s = start_foundation();
	int fd = connect_to(s, "raw");
	static const char msg[] = "raw bytes\0with a NUL\xff and SS\x01\x01";

	IT_ASSERT_STATUS(cli_send_all(fd, msg, sizeof(msg), IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_BYTES(fd, msg, sizeof(msg));
	IT_ASSERT_STATUS(cli_send_all(fd, "again", 5, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_BYTES(fd, "again", 5);
	close(fd);
}

static void
headers_echo(const char *listener, const char *magic)
{
	struct srv *s = start_foundation();
	int fd = connect_to(s, listener);
	struct it_buf b = { NULL, 0, 0 };

	hdrs_append(&b, magic, "first message", 13);
	hdrs_append(&b, magic, "second", 6);
	IT_ASSERT_STATUS(cli_send_all(fd, b.data, b.len, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_HEADERS(fd, magic, "first message", 13);
	IT_EXPECT_HEADERS(fd, magic, "second", 6);
	it_buf_free(&b);
	close(fd);
}

static void
test_headers_echo_with_default_magic(void)
{
	headers_echo("hdrs", "Headers");
}

static void
test_headers_echo_with_configured_magic(void)
{
	headers_echo("compat", "testHeader");
}

static void
test_frames_split_at_every_offset_are_echoed_in_order(void)
{
	static const char *const payloads[] = { "a", "hello world", "0123456789abcdef0123" };
	struct srv *s = start_foundation();
	struct it_buf b = { NULL, 0, 0 };
	int fd = connect_to(s, "long");
	size_t cut;
	int i;

	for (i = 0; i < 3; i++)
		frame_append(&b, FRAME_DATA, payloads[i], (uint32_t)strlen(payloads[i]));
	for (cut = 1; cut < b.len; cut++) {
		IT_ASSERT_STATUS(cli_send_all(fd, b.data, cut, IT_IO_TIMEOUT_MS), CLI_OK);
		/* give the server a chance to read the first part on its own */
		it_sleep_ms(2);
		IT_ASSERT_STATUS(cli_send_all(fd, b.data + cut, b.len - cut,
		    IT_IO_TIMEOUT_MS), CLI_OK);
		for (i = 0; i < 3; i++)
			IT_EXPECT_FRAME(fd, FRAME_DATA, payloads[i], strlen(payloads[i]));
	}
	it_buf_free(&b);
	close(fd);
}

static void
test_many_frames_in_one_write_are_echoed_in_order(void)
{
	enum { NFRAMES = 1000 };
	struct srv *s = start_foundation();
	struct it_buf b = { NULL, 0, 0 };
	uint8_t *in;
	size_t off = 0;
	char p[64];
	int fd = connect_to(s, "long"), i;

	for (i = 0; i < NFRAMES; i++) {
		int n = snprintf(p, sizeof(p), "frame %d %.*s", i, i % 37,
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");

		frame_append(&b, FRAME_DATA, p, (uint32_t)n);
	}
	/* the echoes are byte for byte the frames sent: same headers, same order */
	in = malloc(b.len);
	IT_ASSERT(in != NULL);
	IT_ASSERT_STATUS(cli_exchange(fd, b.data, b.len, in, b.len, 10000, NULL, NULL),
	    CLI_OK);
	for (i = 0; i < NFRAMES; i++) {
		uint32_t len = (uint32_t)in[off + 4] << 24 | (uint32_t)in[off + 5] << 16 |
		    (uint32_t)in[off + 6] << 8 | in[off + 7];

		if (it_memdiff(in + off, b.data + off, FRAME_HDR_LEN + len) >= 0)
			IT_FAIL("echo %d differs from frame %d (offset %zu)", i, i, off);
		off += FRAME_HDR_LEN + len;
	}
	IT_ASSERT_INT(off, ==, b.len);
	free(in);
	it_buf_free(&b);
	close(fd);
}

static void
test_ping_gets_pong_with_the_same_payload(void)
{
	struct srv *s = start_foundation();
	int fd = connect_to(s, "long");

	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_PING, "are you there", 13), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_PONG, "are you there", 13);
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_PING, NULL, 0), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_PONG, NULL, 0);
	close(fd);
}

static void
test_pong_gets_no_reply(void)
{
	struct srv *s = start_foundation();
	struct it_buf b = { NULL, 0, 0 };
	int fd = connect_to(s, "long");

	frame_append(&b, FRAME_PONG, "unsolicited", 11);
	frame_append(&b, FRAME_DATA, "next", 4);
	IT_ASSERT_STATUS(cli_send_all(fd, b.data, b.len, IT_IO_TIMEOUT_MS), CLI_OK);
	/* a reply to the PONG would be read here instead of the echo */
	IT_EXPECT_FRAME(fd, FRAME_DATA, "next", 4);
	IT_EXPECT_SILENCE(fd, 100);
	it_buf_free(&b);
	close(fd);
}

static void
test_close_flushes_echoes_then_sends_close_then_eof(void)
{
	struct srv *s = start_foundation();
	struct it_buf b = { NULL, 0, 0 };
	int fd = connect_to(s, "long");

	frame_append(&b, FRAME_DATA, "one", 3);
	frame_append(&b, FRAME_DATA, "two", 3);
	frame_append(&b, FRAME_CLOSE, NULL, 0);
	IT_ASSERT_STATUS(cli_send_all(fd, b.data, b.len, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "one", 3);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "two", 3);
	IT_EXPECT_FRAME(fd, FRAME_CLOSE, NULL, 0);
	IT_EXPECT_EOF(fd);
	it_buf_free(&b);
	close(fd);
}

/* send raw header bytes on a frame connection: ERROR code, EOF, logged reason */
static void
protocol_error(const uint8_t *bytes, size_t len, int code, const char *reason)
{
	struct srv *s = start_foundation();
	int fd = connect_to(s, "long"), port = cli_local_port(fd);

	IT_ASSERT_STATUS(cli_send_all(fd, bytes, len, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_ERROR_EOF(fd, code);
	IT_ASSERT(wait_close_reason(s, "long", port, reason) == 0);
	close(fd);
}

static void
test_bad_magic_gets_error_1_then_eof(void)
{
	static const uint8_t h[] = { 'X', 'S', 1, FRAME_DATA, 0, 0, 0, 1, 'x' };

	protocol_error(h, sizeof(h), PERR_BAD_MAGIC, "protocol_error");
}

static void
test_unsupported_version_gets_error_2_then_eof(void)
{
	static const uint8_t h[] = { 'S', 'S', 2, FRAME_DATA, 0, 0, 0, 1, 'x' };

	protocol_error(h, sizeof(h), PERR_BAD_VERSION, "protocol_error");
}

static void
test_unknown_type_gets_error_3_then_eof(void)
{
	static const uint8_t h[] = { 'S', 'S', 1, 9, 0, 0, 0, 1, 'x' };

	protocol_error(h, sizeof(h), PERR_UNKNOWN_TYPE, "protocol_error");
}

static void
test_frame_over_max_frame_gets_error_4_on_its_header(void)
{
	uint8_t h[FRAME_HDR_LEN];

	/* no payload follows: the ERROR must not wait for it */
	proto_frame_header(h, FRAME_DATA, MAX_FRAME + 1);
	protocol_error(h, sizeof(h), PERR_TOO_LARGE, "too_large");
}

static void
test_8mib_frame_is_rejected_with_error_4(void)
{
	const size_t len = 8u << 20;
	struct srv *s = start_foundation();
	struct it_buf b = { NULL, 0, 0 };
	uint8_t *payload = calloc(1, len);
	int fd = connect_to(s, "long"), port = cli_local_port(fd);

	IT_ASSERT(payload != NULL);
	frame_append(&b, FRAME_DATA, payload, (uint32_t)len);
	/* the server may stop reading (and reset) long before all of it is sent */
	cli_exchange(fd, b.data, b.len, NULL, 0, 5000, NULL, NULL);
	IT_EXPECT_ERROR_EOF(fd, PERR_TOO_LARGE);
	IT_ASSERT(wait_close_reason(s, "long", port, "too_large") == 0);
	free(payload);
	it_buf_free(&b);
	close(fd);
}

static void
test_1mib_frame_is_echoed_byte_exact(void)
{
	const size_t len = MAX_FRAME;
	struct srv *s = start_foundation();
	struct it_buf b = { NULL, 0, 0 };
	uint8_t *payload = malloc(len), *in = malloc(len + FRAME_HDR_LEN);
	uint32_t x = 2463534242u;
	size_t i;
	int fd = connect_to(s, "long");

	IT_ASSERT(payload != NULL && in != NULL);
	for (i = 0; i < len; i++) {
		/* xorshift: no repeating pattern to hide a misplaced chunk */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		payload[i] = (uint8_t)x;
	}
	frame_append(&b, FRAME_DATA, payload, (uint32_t)len);
	IT_ASSERT_STATUS(cli_exchange(fd, b.data, b.len, in, b.len, 20000, NULL, NULL),
	    CLI_OK);
	IT_ASSERT_MEM(in, b.data, FRAME_HDR_LEN);
	IT_ASSERT_MEM(in + FRAME_HDR_LEN, payload, len);
	free(payload);
	free(in);
	it_buf_free(&b);
	close(fd);
}

static void
test_headers_bad_magic_closes_without_reply(void)
{
	struct srv *s = start_foundation();
	int fd = connect_to(s, "hdrs");

	IT_ASSERT_STATUS(cli_send_all(fd, "Hxaders\0\0\0\1x", 12, IT_IO_TIMEOUT_MS),
	    CLI_OK);
	IT_EXPECT_EOF(fd);
	close(fd);
}

static void
test_headers_too_large_closes_without_reply(void)
{
	struct srv *s = start_foundation();
	uint8_t msg[16] = "testHeader";
	int fd = connect_to(s, "compat");
	uint32_t big = htonl(MAX_FRAME + 1);

	memcpy(msg + 10, &big, 4);
	IT_ASSERT_STATUS(cli_send_all(fd, msg, 14, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_EOF(fd);
	close(fd);
}

static void
test_log_handler_logs_byte_count_and_text(void)
{
	struct srv *s = start_foundation();
	char line[1024], longmsg[300];
	int fd = connect_to(s, "short"), port = cli_local_port(fd);

	IT_ASSERT_STATUS(cli_send_all(fd, "hello world", 11, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, line, sizeof(line),
	    "short 127\\.0\\.0\\.1:%d received 11 bytes: hello world$", port) == 0);
	IT_ASSERT_INT(it_log_line_pid(line), >, 0);
	/* the log handler answers nothing */
	IT_EXPECT_SILENCE(fd, 100);

	/* long messages are counted in full and cut in the text */
	memset(longmsg, 'a', sizeof(longmsg));
	IT_ASSERT_STATUS(cli_send_all(fd, longmsg, sizeof(longmsg), IT_IO_TIMEOUT_MS),
	    CLI_OK);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, line, sizeof(line),
	    "short 127\\.0\\.0\\.1:%d received 300 bytes: a{256}", port) == 0);
	IT_ASSERT(strstr(line, "bytes: ") != NULL);
	IT_ASSERT_INT(strspn(strstr(line, "bytes: ") + 7, "a"), ==, 256);

	close(fd);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0,
	    "close short 127\\.0\\.0\\.1:%d reason peer age [0-9]", port) == 0);
}

/*
 * A client that sends and resets at once (SO_LINGER 0) is still named in
 * the log handler's line and the close line: the address comes from accept,
 * not from a getpeername() that would fail by then.  On a "*" listener an
 * IPv4 client is shown as IPv4, not as ::ffff:a.b.c.d.
 */
static void
test_log_lines_name_a_client_that_reset(void)
{
	struct srv_opts o = {
		.workers = 1,
		.listeners = { { .name = "any", .address = "*", .codec = "raw", .handler = "log" } },
	};
	struct srv *s = srv_start(&o);
	struct linger lg = { 1, 0 };
	int fd = cli_connect("127.0.0.1", srv_port(s, "any")), port = cli_local_port(fd);

	IT_ASSERT(fd >= 0);
	IT_ASSERT_STATUS(cli_send_all(fd, "hello-rst", 9, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_ASSERT(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
	close(fd);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0,
	    "any 127\\.0\\.0\\.1:%d received 9 bytes: hello-rst$", port) == 0);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0,
	    "close any 127\\.0\\.0\\.1:%d reason (peer|error) age", port) == 0);
}

/* workers = 1 and max_connections = 2: the third connection is refused */
static void
test_server_full_gets_error_6_on_frame_and_eof_on_raw(void)
{
	struct srv_opts o = {
		.workers = 1,
		.limits = "max_connections = 2;",
		.listeners = {
			{ .name = "long", .codec = "frame", .handler = "echo" },
			{ .name = "raw", .codec = "raw", .handler = "echo" },
		},
	};
	struct srv *s = srv_start(&o);
	int a = connect_to(s, "long"), b = connect_to(s, "raw"), c, port;

	/* an echo proves the server holds (and counts) each connection */
	IT_ASSERT_STATUS(cli_send_frame(a, FRAME_DATA, "a", 1), CLI_OK);
	IT_EXPECT_FRAME(a, FRAME_DATA, "a", 1);
	IT_ASSERT_STATUS(cli_send_all(b, "b", 1, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_BYTES(b, "b", 1);

	c = connect_to(s, "long");
	IT_EXPECT_ERROR_EOF(c, PERR_SERVER_FULL);
	close(c);
	c = connect_to(s, "raw");
	IT_EXPECT_EOF(c);
	close(c);

	/* the held connections were not disturbed, and a freed slot is reused */
	IT_ASSERT_STATUS(cli_send_frame(a, FRAME_DATA, "still", 5), CLI_OK);
	IT_EXPECT_FRAME(a, FRAME_DATA, "still", 5);
	port = cli_local_port(b);
	close(b);
	IT_ASSERT(wait_close_reason(s, "raw", port, "peer") == 0);
	c = connect_to(s, "raw");
	IT_ASSERT_STATUS(cli_send_all(c, "room", 4, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_BYTES(c, "room", 4);
	close(c);
	close(a);
}

/*
 * max_connections is for the whole server: 3 over 2 workers is 2 + 1, never
 * 2 + 2.  Twenty clients spread over both workers by SO_REUSEPORT (all on one
 * is a 1 in 50000 chance); exactly 3 are served, the rest get ERROR 6.
 * Nothing is sent before the refusals are in: a refused socket closed with
 * our bytes unread would be reset.
 */
static void
test_max_connections_caps_the_whole_server_over_its_workers(void)
{
	enum { NCLI = 20, CAP = 3 };
	struct srv_opts o = {
		.workers = 2,
		.limits = "max_connections = 3;",
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo" } },
	};
	struct srv *s = srv_start(&o);
	int fds[NCLI], i, held = 0, refused = 0;

	for (i = 0; i < NCLI; i++)
		fds[i] = connect_to(s, "long");
	/* the log line follows the ERROR frame's write */
	IT_ASSERT_INT(srv_log_wait_count(s, NCLI - CAP, 10000,
	    "close long .* reason server_full"), ==, NCLI - CAP);
	for (i = 0; i < NCLI; i++) {
		struct pollfd p = { fds[i], POLLIN, 0 };

		if (poll(&p, 1, 300) == 1) {
			IT_EXPECT_ERROR_EOF(fds[i], PERR_SERVER_FULL);
			refused++;
		} else {
			IT_ASSERT_STATUS(cli_send_frame(fds[i], FRAME_DATA, "x", 1), CLI_OK);
			IT_EXPECT_FRAME(fds[i], FRAME_DATA, "x", 1);
			held++;
		}
	}
	IT_ASSERT_INT(held, ==, CAP);
	IT_ASSERT_INT(refused, ==, NCLI - CAP);
	IT_ASSERT_INT(srv_log_count(s, "close long .* reason server_full"), ==, NCLI - CAP);
	for (i = 0; i < NCLI; i++)
		close(fds[i]);
}

static int
have_ipv6_loopback(char *why, size_t len)
{
	struct sockaddr_in6 sin6;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd == -1) {
		snprintf(why, len, "no IPv6 sockets: %s", strerror(errno));
		return 0;
	}
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	ok = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
	if (!ok)
		snprintf(why, len, "cannot bind [::1]: %s", strerror(errno));
	close(fd);
	return ok;
}

static void
test_ipv6_loopback_listener_echoes(void)
{
	struct srv_opts o = {
		.listeners = { { .name = "v6", .address = "::1", .codec = "frame" } },
	};
	struct srv *s;
	char why[128];
	int fd, port;

	if (!have_ipv6_loopback(why, sizeof(why)))
		IT_SKIP("%s", why);
	s = srv_start(&o);
	fd = cli_connect("::1", srv_port(s, "v6"));
	IT_ASSERT(fd >= 0);
	port = cli_local_port(fd);
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "over six", 8), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "over six", 8);
	close(fd);
	IT_ASSERT(srv_log_wait(s, IT_IO_TIMEOUT_MS, NULL, 0,
	    "close v6 \\[::1\\]:%d reason peer", port) == 0);
}

static const struct it_test basic_tests[] = {
	{ "test_frame_data_is_echoed_as_data", test_frame_data_is_echoed_as_data, 0 },
	{ "test_raw_bytes_are_echoed_as_is", test_raw_bytes_are_echoed_as_is, 0 },
	{ "test_headers_echo_with_default_magic", test_headers_echo_with_default_magic, 0 },
	{ "test_headers_echo_with_configured_magic",
	    test_headers_echo_with_configured_magic, 0 },
	{ "test_frames_split_at_every_offset_are_echoed_in_order",
	    test_frames_split_at_every_offset_are_echoed_in_order, 0 },
	{ "test_many_frames_in_one_write_are_echoed_in_order",
	    test_many_frames_in_one_write_are_echoed_in_order, 0 },
	{ "test_ping_gets_pong_with_the_same_payload",
	    test_ping_gets_pong_with_the_same_payload, 0 },
	{ "test_pong_gets_no_reply", test_pong_gets_no_reply, 0 },
	{ "test_close_flushes_echoes_then_sends_close_then_eof",
	    test_close_flushes_echoes_then_sends_close_then_eof, 0 },
	{ "test_bad_magic_gets_error_1_then_eof", test_bad_magic_gets_error_1_then_eof, 0 },
	{ "test_unsupported_version_gets_error_2_then_eof",
	    test_unsupported_version_gets_error_2_then_eof, 0 },
	{ "test_unknown_type_gets_error_3_then_eof",
	    test_unknown_type_gets_error_3_then_eof, 0 },
	{ "test_frame_over_max_frame_gets_error_4_on_its_header",
	    test_frame_over_max_frame_gets_error_4_on_its_header, 0 },
	{ "test_8mib_frame_is_rejected_with_error_4", test_8mib_frame_is_rejected_with_error_4, 0 },
	{ "test_1mib_frame_is_echoed_byte_exact", test_1mib_frame_is_echoed_byte_exact, 0 },
	{ "test_headers_bad_magic_closes_without_reply",
	    test_headers_bad_magic_closes_without_reply, 0 },
	{ "test_headers_too_large_closes_without_reply",
	    test_headers_too_large_closes_without_reply, 0 },
	{ "test_log_handler_logs_byte_count_and_text",
	    test_log_handler_logs_byte_count_and_text, 0 },
	{ "test_log_lines_name_a_client_that_reset", test_log_lines_name_a_client_that_reset, 0 },
	{ "test_max_connections_caps_the_whole_server_over_its_workers",
	    test_max_connections_caps_the_whole_server_over_its_workers, 0 },
	{ "test_server_full_gets_error_6_on_frame_and_eof_on_raw",
	    test_server_full_gets_error_6_on_frame_and_eof_on_raw, 0 },
	{ "test_ipv6_loopback_listener_echoes", test_ipv6_loopback_listener_echoes, 0 },
	{ NULL, NULL, 0 }
};

IT_SUITE(basic, basic_tests)
