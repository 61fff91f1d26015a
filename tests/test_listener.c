/*
 * listener: how an endpoint is printed (listener_hostport_str and
 * listener_addr_str, shared by the master's log, listener errors, the
 * connections' peer names and sockserv-client), and the TCP options a
 * listener puts on the sockets it accepts, read back with getsockopt.
 */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"

static void
test_listener_hostport_brackets_only_ipv6(void)
{
	char buf[64];

	CU_ASSERT_STRING_EQUAL(listener_hostport_str("127.0.0.1", 7000, buf, sizeof(buf)),
	    "127.0.0.1:7000");
	CU_ASSERT_STRING_EQUAL(listener_hostport_str("::1", 7000, buf, sizeof(buf)),
	    "[::1]:7000");
	CU_ASSERT_STRING_EQUAL(listener_hostport_str("*", 1, buf, sizeof(buf)), "*:1");
	CU_ASSERT_STRING_EQUAL(listener_hostport_str("localhost", 65535, buf, sizeof(buf)),
	    "localhost:65535");
}

static void
test_listener_hostport_cuts_to_the_buffer(void)
{
	char buf[8];

	CU_ASSERT_PTR_EQUAL(listener_hostport_str("fe80::1", 7000, buf, sizeof(buf)), buf);
	CU_ASSERT_STRING_EQUAL(buf, "[fe80::");
}

/* listener_addr_str() of the socket address of text (a literal of family af) */
static const char *
addr_str(int af, const char *text, int port, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)af;
	if (af == AF_INET) {
		s4->sin_port = htons((uint16_t)port);
		CU_ASSERT_EQUAL(inet_pton(af, text, &s4->sin_addr), 1);
	} else if (af == AF_INET6) {
		s6->sin6_port = htons((uint16_t)port);
		CU_ASSERT_EQUAL(inet_pton(af, text, &s6->sin6_addr), 1);
	}
	return listener_addr_str((struct sockaddr *)&ss, buf, len);
}

static void
test_listener_addr_str_prints_each_family(void)
{
	char buf[64];

	CU_ASSERT_STRING_EQUAL(addr_str(AF_INET, "10.1.2.3", 40274, buf, sizeof(buf)),
	    "10.1.2.3:40274");
	CU_ASSERT_STRING_EQUAL(addr_str(AF_INET6, "2001:db8::5", 7000, buf, sizeof(buf)),
	    "[2001:db8::5]:7000");
	/* an IPv4 client of a dual-stack listener reads as IPv4 */
	CU_ASSERT_STRING_EQUAL(addr_str(AF_INET6, "::ffff:127.0.0.1", 7000, buf, sizeof(buf)),
	    "127.0.0.1:7000");
	CU_ASSERT_STRING_EQUAL(addr_str(AF_UNIX, NULL, 0, buf, sizeof(buf)), "?");
}

static int
sockopt(int fd, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof(v);

	CU_ASSERT_EQUAL(getsockopt(fd, level, name, &v, &l), 0);
	return v;
}

/*
 * A listener on 127.0.0.1 (port picked by the kernel) tuned for lc, a
 * client connected to it and the accepted socket, tuned as a worker does.
 */
static int
accept_one(struct listener_conf *lc, int *cli, int *srv)
{
	struct sockaddr_in sa;
	char err[128] = "";
	int lfd;

	snprintf(lc->address, sizeof(lc->address), "127.0.0.1");
	snprintf(lc->name, sizeof(lc->name), "t");
	lc->port = 0;
	lfd = listener_open(lc, 8, err, sizeof(err));
	CU_ASSERT_FATAL(lfd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)listener_port(lfd));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*cli = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(*cli >= 0);
	CU_ASSERT_FATAL(connect(*cli, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	/* the listener is non-blocking; the handshake is done once connect() returns */
	*srv = accept(lfd, NULL, NULL);
	CU_ASSERT_FATAL(*srv >= 0);
	listener_tune_accepted(*srv, lc);
	return lfd;
}

static void
test_accepted_socket_gets_the_listeners_tcp_options(void)
{
	struct listener_conf lc;
	int lfd, cli, srv;

	memset(&lc, 0, sizeof(lc));
	lc.codec = CODEC_FRAME;
	lc.keepalive = 1;
	lc.keepalive_idle_s = 61;
	lc.keepalive_interval_s = 11;
	lc.keepalive_count = 4;
	lc.user_timeout_ms = 2500;
	lc.sndbuf = 65536;
	lc.rcvbuf = 32768;
	lfd = accept_one(&lc, &cli, &srv);
	CU_ASSERT_EQUAL(sockopt(srv, SOL_SOCKET, SO_KEEPALIVE), 1);
	CU_ASSERT_EQUAL(sockopt(srv, IPPROTO_TCP, TCP_KEEPIDLE), 61);
	CU_ASSERT_EQUAL(sockopt(srv, IPPROTO_TCP, TCP_KEEPINTVL), 11);
	CU_ASSERT_EQUAL(sockopt(srv, IPPROTO_TCP, TCP_KEEPCNT), 4);
	CU_ASSERT_EQUAL(sockopt(srv, IPPROTO_TCP, TCP_USER_TIMEOUT), 2500);
	/* the kernel doubles a buffer size for its bookkeeping */
	CU_ASSERT_EQUAL(sockopt(srv, SOL_SOCKET, SO_SNDBUF), 2 * 65536);
	/* set on the listener before listen(), inherited by the accepted socket */
	CU_ASSERT_EQUAL(sockopt(lfd, SOL_SOCKET, SO_RCVBUF), 2 * 32768);
	CU_ASSERT_EQUAL(sockopt(srv, SOL_SOCKET, SO_RCVBUF), 2 * 32768);
	CU_ASSERT_EQUAL(sockopt(srv, IPPROTO_TCP, TCP_NODELAY), 1);
	close(srv);
	close(cli);
	close(lfd);
}

static void
test_unset_tcp_options_leave_the_kernel_defaults(void)
{
	struct listener_conf lc;
	int lfd, cli, srv, plain;

	memset(&lc, 0, sizeof(lc));
	lc.codec = CODEC_RAW;
	lfd = accept_one(&lc, &cli, &srv);
	/* a socket nobody tuned is the reference for "default" */
	plain = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(plain >= 0);
	CU_ASSERT_EQUAL(sockopt(srv, SOL_SOCKET, SO_KEEPALIVE), 0);
	CU_ASSERT_EQUAL(sockopt(srv, IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
	CU_ASSERT_EQUAL(sockopt(srv, IPPROTO_TCP, TCP_KEEPIDLE),
	    sockopt(plain, IPPROTO_TCP, TCP_KEEPIDLE));
	CU_ASSERT_EQUAL(sockopt(srv, IPPROTO_TCP, TCP_NODELAY), 0);
	CU_ASSERT_EQUAL(sockopt(lfd, SOL_SOCKET, SO_RCVBUF), sockopt(plain, SOL_SOCKET, SO_RCVBUF));
	close(plain);
	close(srv);
	close(cli);
	close(lfd);
}

/* a socket that refuses the options: the call logs and returns, the socket is untouched */
static void
test_failing_tcp_option_does_not_stop_the_connection(void)
{
	struct listener_conf lc;
	int sv[2];

	memset(&lc, 0, sizeof(lc));
	snprintf(lc.name, sizeof(lc.name), "t");
	lc.keepalive = 1;
	lc.keepalive_idle_s = 60;
	lc.user_timeout_ms = 1000;
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	listener_tune_accepted(sv[0], &lc);
	listener_tune_accepted(sv[0], &lc);
	CU_ASSERT_EQUAL(write(sv[0], "x", 1), 1);
	close(sv[0]);
	close(sv[1]);
}

/*
 * listener_matches: what a new master accepts as a socket handed over by
 * an upgrade (SOCKSERV_LISTEN_FDS is hostile input): only a listening,
 * SO_REUSEPORT TCP socket on exactly the configured address and port.
 */
static void
test_listener_matches_only_its_own_listening_socket(void)
{
	struct listener_conf lc, other;
	char err[256];
	int fd, plain, conn_fd, file_fd, pfd[2];
	struct sockaddr_in sa;

	memset(&lc, 0, sizeof(lc));
	snprintf(lc.address, sizeof(lc.address), "127.0.0.1");
	/* a free port: bind 0, read it, let it go, then open the listener there */
	plain = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(plain != -1);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(bind(plain, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	lc.port = listener_port(plain);
	close(plain);
	fd = listener_open(&lc, 16, err, sizeof(err));
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL(listener_matches(fd, &lc), 1);

	other = lc;
	other.port = lc.port == 65535 ? 65534 : lc.port + 1;
	CU_ASSERT_EQUAL(listener_matches(fd, &other), 0);	/* another port */
	other = lc;
	snprintf(other.address, sizeof(other.address), "127.0.0.2");
	CU_ASSERT_EQUAL(listener_matches(fd, &other), 0);	/* another address */
	other = lc;
	snprintf(other.address, sizeof(other.address), "*");
	CU_ASSERT_EQUAL(listener_matches(fd, &other), 0);	/* another family */

	/* bound but not listening, and without SO_REUSEPORT */
	plain = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(plain != -1);
	CU_ASSERT_EQUAL(listener_matches(plain, &lc), 0);
	sa.sin_port = 0;
	CU_ASSERT_FATAL(bind(plain, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CU_ASSERT_FATAL(listen(plain, 1) == 0);
	other = lc;
	other.port = listener_port(plain);
	CU_ASSERT_EQUAL(listener_matches(plain, &other), 0);	/* no SO_REUSEPORT */

	/* a connected socket to the listener, a pipe, a file, a closed descriptor */
	conn_fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_port = htons((uint16_t)lc.port);
	CU_ASSERT_FATAL(connect(conn_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CU_ASSERT_EQUAL(listener_matches(conn_fd, &lc), 0);
	CU_ASSERT_FATAL(pipe(pfd) == 0);
	CU_ASSERT_EQUAL(listener_matches(pfd[0], &lc), 0);
	file_fd = open("/dev/null", O_RDONLY);
	CU_ASSERT_EQUAL(listener_matches(file_fd, &lc), 0);
	close(pfd[0]);
	CU_ASSERT_EQUAL(listener_matches(pfd[0], &lc), 0);
	CU_ASSERT_EQUAL(listener_matches(-1, &lc), 0);
	close(pfd[1]);
	close(file_fd);
	close(conn_fd);
	close(plain);
	close(fd);
}

void test_listener_register(void);

void
test_listener_register(void)
{
	CU_pSuite s = CU_add_suite("listener", NULL, NULL);

	CU_add_test(s, "test_listener_hostport_brackets_only_ipv6",
	    test_listener_hostport_brackets_only_ipv6);
	CU_add_test(s, "test_listener_hostport_cuts_to_the_buffer",
	    test_listener_hostport_cuts_to_the_buffer);
	CU_add_test(s, "test_listener_addr_str_prints_each_family",
	    test_listener_addr_str_prints_each_family);
	CU_add_test(s, "test_accepted_socket_gets_the_listeners_tcp_options",
	    test_accepted_socket_gets_the_listeners_tcp_options);
	CU_add_test(s, "test_unset_tcp_options_leave_the_kernel_defaults",
	    test_unset_tcp_options_leave_the_kernel_defaults);
	CU_add_test(s, "test_failing_tcp_option_does_not_stop_the_connection",
	    test_failing_tcp_option_does_not_stop_the_connection);
	CU_add_test(s, "test_listener_matches_only_its_own_listening_socket",
	    test_listener_matches_only_its_own_listening_socket);
}
