/*
 * TCP options per listener (tcp_keepalive, tcp_user_timeout, sndbuf,
 * rcvbuf), checked where they matter: on the server's own accepted socket.
 * The test takes a duplicate of the worker's descriptor with pidfd_getfd(2)
 * (root, or the same user where ptrace is allowed; skipped otherwise) and
 * reads the options back with getsockopt, its send queue with SIOCOUTQ and
 * its state with TCP_INFO.  tcp_user_timeout is shown ending a connection
 * whose peer vanished: the server and the client sit in two network
 * namespaces the test makes (a veth pair between them), and from one
 * moment on every frame the server sends the client is dropped while the
 * server owes it output.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <unistd.h>

#include "harness.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* ---- the server's side of a client's connection ---- */

static int
same_inet(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in *x = (const struct sockaddr_in *)a;
	const struct sockaddr_in *y = (const struct sockaddr_in *)b;

	return a->ss_family == AF_INET && b->ss_family == AF_INET &&
	    x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
}

/*
 * A duplicate of the socket worker pid accepted for the client socket cli
 * (its local and peer addresses are cli's, swapped), -1 when there is none
 * (yet).  Skips the test when the kernel refuses pidfd_getfd.
 */
static int
server_sock(pid_t pid, int cli)
{
	struct sockaddr_storage cl, cp;
	socklen_t l = sizeof(cl);
	char dir[64];
	struct dirent *de;
	DIR *d;
	int pidfd, found = -1;

	IT_ASSERT(getsockname(cli, (struct sockaddr *)&cl, &l) == 0);
	l = sizeof(cp);
	IT_ASSERT(getpeername(cli, (struct sockaddr *)&cp, &l) == 0);
	if ((pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) == -1) {
		if (errno == ENOSYS)
			IT_SKIP("pidfd_open: %s (kernel older than 5.3)", strerror(errno));
		IT_FAIL("pidfd_open %ld: %s", (long)pid, strerror(errno));
	}
	snprintf(dir, sizeof(dir), "/proc/%ld/fd", (long)pid);
	IT_ASSERT((d = opendir(dir)) != NULL);
	while (found == -1 && (de = readdir(d)) != NULL) {
		struct sockaddr_storage sl, sp;
		char path[320], link[64];
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((n = readlink(path, link, sizeof(link) - 1)) <= 0)
			continue;
		link[n] = '\0';
		if (strncmp(link, "socket:", 7) != 0)
			continue;
		fd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(de->d_name), 0);
		if (fd == -1) {
			if (errno == EPERM || errno == ENOSYS)
				IT_SKIP("pidfd_getfd on the worker: %s (needs root, "
				    "CAP_SYS_PTRACE or ptrace rights, and Linux 5.6)",
				    strerror(errno));
			continue;	/* closed meanwhile */
		}
		l = sizeof(sl);
		if (getsockname(fd, (struct sockaddr *)&sl, &l) == 0) {
			l = sizeof(sp);
			if (getpeername(fd, (struct sockaddr *)&sp, &l) == 0 &&
			    same_inet(&sl, &cp) && same_inet(&sp, &cl)) {
				found = fd;
				continue;
			}
		}
		close(fd);
	}
	closedir(d);
	close(pidfd);
	return found;
}

/* server_sock, waiting up to 5 s for the worker to accept */
static int
server_sock_wait(struct srv *s, int cli)
{
	int64_t end = it_now_ms() + 5000;
	int fd;

	for (;;) {
		for (int w = 0; w < s->nworkers; w++)
			if ((fd = server_sock(s->workers[w], cli)) != -1)
				return fd;
		if (it_now_ms() > end)
			IT_FAIL("no worker holds the accepted socket of the client");
		it_sleep_ms(20);
	}
}

static int
getopt_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof(v);

	IT_ASSERT(getsockopt(fd, level, name, &v, &l) == 0);
	return v;
}

/* a frame echoed back: the worker has accepted and tuned the connection */
static int
echoed_client(struct srv *s, const char *listener)
{
	int fd = cli_connect(srv_addr(s, listener), srv_port(s, listener));

	IT_ASSERT(fd >= 0);
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, "hi", 2), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, "hi", 2);
	return fd;
}

static void
test_tcp_options_read_back_on_the_servers_accepted_socket(void)
{
	struct srv_opts o = {
		.workers = 2,
		.listeners = {
			{ .name = "tuned", .extra =
			    "tcp_keepalive = { idle = 60; interval = 10; count = 5; }; "
			    "tcp_user_timeout = 30; sndbuf = 65536; rcvbuf = 131072;" },
			{ .name = "partial", .codec = "raw", .extra =
			    "tcp_keepalive = { idle = 7; }; tcp_user_timeout = 2.5; "
			    "rcvbuf = 16384;" },
			{ .name = "plain" },
		},
	};
	struct srv *s = srv_start(&o);
	int c, fd, ref = socket(AF_INET, SOCK_STREAM, 0);

	IT_ASSERT(ref >= 0);	/* an untouched socket: the kernel's defaults */

	c = echoed_client(s, "tuned");
	fd = server_sock_wait(s, c);
	IT_ASSERT_INT(getopt_int(fd, SOL_SOCKET, SO_KEEPALIVE), ==, 1);
	IT_ASSERT_INT(getopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), ==, 60);
	IT_ASSERT_INT(getopt_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), ==, 10);
	IT_ASSERT_INT(getopt_int(fd, IPPROTO_TCP, TCP_KEEPCNT), ==, 5);
	IT_ASSERT_INT(getopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), ==, 30000);
	/* the kernel doubles a size it is given (socket(7)) */
	IT_ASSERT_INT(getopt_int(fd, SOL_SOCKET, SO_SNDBUF), ==, 2 * 65536);
	IT_ASSERT_INT(getopt_int(fd, SOL_SOCKET, SO_RCVBUF), ==, 2 * 131072);
	fprintf(stderr, "tuned: keepalive 1 idle %d intvl %d cnt %d user_timeout %d ms "
	    "sndbuf %d rcvbuf %d\n", getopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE),
	    getopt_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), getopt_int(fd, IPPROTO_TCP, TCP_KEEPCNT),
	    getopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), getopt_int(fd, SOL_SOCKET, SO_SNDBUF),
	    getopt_int(fd, SOL_SOCKET, SO_RCVBUF));
	close(fd);
	close(c);

	/* sub-keys left out keep the kernel's values */
	c = cli_connect(srv_addr(s, "partial"), srv_port(s, "partial"));
	IT_ASSERT(c >= 0);
	IT_ASSERT_STATUS(cli_send_all(c, "x", 1, IT_IO_TIMEOUT_MS), CLI_OK);
	IT_EXPECT_BYTES(c, "x", 1);
	fd = server_sock_wait(s, c);
	IT_ASSERT_INT(getopt_int(fd, SOL_SOCKET, SO_KEEPALIVE), ==, 1);
	IT_ASSERT_INT(getopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), ==, 7);
	IT_ASSERT_INT(getopt_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), ==,
	    getopt_int(ref, IPPROTO_TCP, TCP_KEEPINTVL));
	IT_ASSERT_INT(getopt_int(fd, IPPROTO_TCP, TCP_KEEPCNT), ==,
	    getopt_int(ref, IPPROTO_TCP, TCP_KEEPCNT));
	IT_ASSERT_INT(getopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), ==, 2500);
	IT_ASSERT_INT(getopt_int(fd, SOL_SOCKET, SO_RCVBUF), ==, 2 * 16384);
	/* no sndbuf: the kernel autotunes it (megabytes on loopback) */
	IT_ASSERT_INT(getopt_int(fd, SOL_SOCKET, SO_SNDBUF), >, 2 * 65536);
	close(fd);
	close(c);

	/* nothing configured: nothing set */
	c = echoed_client(s, "plain");
	fd = server_sock_wait(s, c);
	IT_ASSERT_INT(getopt_int(fd, SOL_SOCKET, SO_KEEPALIVE), ==, 0);
	IT_ASSERT_INT(getopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), ==, 0);
	IT_ASSERT_INT(getopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), ==,
	    getopt_int(ref, IPPROTO_TCP, TCP_KEEPIDLE));
	close(fd);
	close(c);
	close(ref);
}

static void
test_reload_applies_new_tcp_options_to_new_connections(void)
{
	struct srv_opts o = {
		.listeners = { { .name = "t", .extra =
		    "tcp_keepalive = { idle = 7; }; rcvbuf = 16384;" } },
	};
	struct srv *s = srv_start(&o);
	char line[512];
	const char *m;
	pid_t oldw = s->workers[0];
	int old, fresh, fd;

	old = echoed_client(s, "t");
	fd = server_sock_wait(s, old);
	IT_ASSERT_INT(getopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), ==, 7);
	IT_ASSERT_INT(getopt_int(fd, SOL_SOCKET, SO_RCVBUF), ==, 2 * 16384);
	close(fd);

	srv_cfg_replace(s, "tcp_keepalive = { idle = 7; }; rcvbuf = 16384;",
	    "tcp_keepalive = { idle = 9; }; tcp_user_timeout = 4; sndbuf = 32768;");
	srv_log_mark(s);
	IT_ASSERT(kill(s->pid, SIGHUP) == 0);
	IT_ASSERT(srv_log_wait(s, 5000, line, sizeof(line), "worker 0 started \\(pid [0-9]+\\)") == 0);
	m = strstr(line, "(pid ");
	IT_ASSERT(m != NULL);
	s->workers[0] = (pid_t)atol(m + 5);
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "reload done: generation 2") == 0);
	/* from here on only the new worker accepts */
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "\\[%ld\\] info: worker 0 draining",
	    (long)oldw) == 0);
	/* the kernel cannot unset a listening socket's size: said, not hidden */
	IT_ASSERT(srv_log_count(s, "warn: t: rcvbuf removed: its listening sockets keep "
	    "16384 bytes until sockserv restarts") == 1);

	fresh = echoed_client(s, "t");
	fd = server_sock_wait(s, fresh);
	IT_ASSERT_INT(getopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), ==, 9);
	IT_ASSERT_INT(getopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), ==, 4000);
	IT_ASSERT_INT(getopt_int(fd, SOL_SOCKET, SO_SNDBUF), ==, 2 * 32768);
	IT_ASSERT_INT(getopt_int(fd, SOL_SOCKET, SO_RCVBUF), ==, 2 * 16384);
	close(fd);
	/* the old worker's connection keeps what it was accepted with, and works */
	s->workers[0] = oldw;
	fd = server_sock_wait(s, old);
	IT_ASSERT_INT(getopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), ==, 7);
	IT_ASSERT_INT(getopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), ==, 0);
	close(fd);
	IT_ASSERT_STATUS(cli_send_frame(old, FRAME_DATA, "still", 5), CLI_OK);
	IT_EXPECT_FRAME(old, FRAME_DATA, "still", 5);
	close(old);
	close(fresh);
}

/* ---- sndbuf bounds what the kernel holds for a client that never reads ---- */

/* SIOCOUTQ of fd (bytes sent but not yet acknowledged by the peer) */
static int
outq(int fd)
{
	int n = -1;

	IT_ASSERT(ioctl(fd, SIOCOUTQ, &n) == 0);
	return n;
}

/* what the kernel holds for one connection, in bytes */
struct queues {
	int send_q;	/* server socket: sent, not yet acknowledged (SIOCOUTQ) */
	int recv_q;	/* server socket: arrived, not yet read by the worker (SIOCINQ) */
	int cli_recv_q;	/* the client's own receive queue (on loopback the same machine) */
};

/*
 * Send 256 KiB frames to listener and never read, until the server stops
 * taking them for a second (its output passed max_output, it paused
 * reading, and every queue on the way is full); then wait for the server
 * socket's queues to settle and return them.  The client socket is left
 * open: closing it would let the server drop what it holds.
 */
static struct queues
fill_non_reader(struct srv *s, const char *listener)
{
	enum { CHUNK = 256 * 1024 };
	static uint8_t payload[CHUNK];
	struct it_buf frame = { 0 };
	struct queues q = { -1, -1, -1 }, prev = { -2, -2, -2 };
	int c = cli_connect(srv_addr(s, listener), srv_port(s, listener));
	int fd;
	size_t off = 0, total = 0;
	int64_t stalled = it_now_ms(), end = it_now_ms() + 30000;

	IT_ASSERT(c >= 0);
	fd = server_sock_wait(s, c);
	frame_append(&frame, FRAME_DATA, payload, CHUNK);
	IT_ASSERT(fcntl(c, F_SETFL, O_NONBLOCK) == 0);
	while (it_now_ms() - stalled < 1000) {
		struct pollfd p = { .fd = c, .events = POLLOUT };
		ssize_t n;

		IT_ASSERT(it_now_ms() < end);
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = send(c, frame.data + off, frame.len - off, MSG_NOSIGNAL);
		if (n <= 0) {
			IT_ASSERT(n == -1 && errno == EAGAIN);
			continue;
		}
		total += (size_t)n;
		off = (off + (size_t)n) % frame.len;
		stalled = it_now_ms();
	}
	/* the last echoes may still be on their way into the queues */
	while (memcmp(&q, &prev, sizeof(q)) != 0) {
		IT_ASSERT(it_now_ms() < end);
		prev = q;
		it_sleep_ms(300);
		q.send_q = outq(fd);
		IT_ASSERT(ioctl(fd, SIOCINQ, &q.recv_q) == 0);
		IT_ASSERT(ioctl(c, SIOCINQ, &q.cli_recv_q) == 0);
	}
	fprintf(stderr, "%s: client sent %zu bytes and read none; server socket SO_SNDBUF "
	    "%d SO_RCVBUF %d, Send-Q %d, Recv-Q %d; client Recv-Q %d\n", listener, total,
	    getopt_int(fd, SOL_SOCKET, SO_SNDBUF), getopt_int(fd, SOL_SOCKET, SO_RCVBUF),
	    q.send_q, q.recv_q, q.cli_recv_q);
	it_buf_free(&frame);
	close(fd);
	return q;
}

static void
test_sndbuf_bounds_the_send_queue_of_a_client_that_never_reads(void)
{
	struct srv_opts o = {
		.listeners = {
			{ .name = "bounded", .extra = "sndbuf = 65536; heartbeat_timeout = 0;" },
			{ .name = "both", .extra =
			    "sndbuf = 65536; rcvbuf = 65536; heartbeat_timeout = 0;" },
			{ .name = "default", .extra = "heartbeat_timeout = 0;" },
		},
	};
	struct srv *s = srv_start(&o);
	struct queues b, bb, d;

	b = fill_non_reader(s, "bounded");
	bb = fill_non_reader(s, "both");
	d = fill_non_reader(s, "default");
	fprintf(stderr, "sndbuf: the server socket's Send-Q for one client that never "
	    "reads: %d bytes with sndbuf = 65536, %d bytes (%.1f MB) without\n",
	    b.send_q, d.send_q, d.send_q / 1e6);
	fprintf(stderr, "sndbuf: kernel memory on the server's socket (Send-Q + Recv-Q): "
	    "%.2f MB with sndbuf = rcvbuf = 65536, %.2f MB with only sndbuf, %.2f MB "
	    "with neither\n", (bb.send_q + bb.recv_q) / 1e6, (b.send_q + b.recv_q) / 1e6,
	    (d.send_q + d.recv_q) / 1e6);
	/*
	 * The doubled size bounds the queue, overhead included; the kernel
	 * checks it before it queues a segment, so one more (at most 64 KiB)
	 * may pass.
	 */
	IT_ASSERT_INT(b.send_q, >, 0);
	IT_ASSERT_INT(b.send_q, <=, 2 * 65536 + 65536);
	IT_ASSERT_INT(bb.send_q, <=, 2 * 65536 + 65536);
	/* rcvbuf bounds what waits while the worker does not read (output over max_output) */
	IT_ASSERT_INT(bb.recv_q, >, 0);
	IT_ASSERT_INT(bb.recv_q, <=, 2 * 65536);
	/* autotuning lets an unbounded one grow to megabytes (tcp_wmem's maximum) */
	IT_ASSERT_INT(d.send_q, >=, 8 * b.send_q);
	IT_ASSERT_INT(d.send_q, >=, 1000000);
}

/* ---- tcp_user_timeout ends a connection whose peer vanished ---- */

static const char *
ip_path(void)
{
	static const char *const paths[] = { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" };

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* run `ip ARGS...` in the calling thread's network namespace; the test fails on an error */
static void
ip_run(const char *ip, ...)
{
	char out[1024];
	va_list ap;
	int st;

	va_start(ap, ip);
	st = it_run_va(ip, out, sizeof(out), 5000, ap);
	va_end(ap);
	if (st != 0)
		IT_FAIL("ip: %s: %s", it_status_str(st), out);
}

static void
netns_enter(int nsfd)
{
	IT_ASSERT(setns(nsfd, CLONE_NEWNET) == 0);
}

/* a client socket with a small receive buffer, so the server's output backs up at once */
static int
small_window_client(const char *addr, int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rcv = 4096;

	IT_ASSERT(fd >= 0);
	IT_ASSERT(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) == 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	IT_ASSERT(inet_pton(AF_INET, addr, &sa.sin_addr) == 1);
	IT_ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

/* TCP_INFO's state of fd (TCP_ESTABLISHED while the connection lives) */
static int
tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	IT_ASSERT(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0);
	return ti.tcpi_state;
}

/*
 * A child process that keeps a stream of frames going through fd and reads
 * every echo: a healthy, busy client.  It runs until killed (the runner
 * kills the test's process group anyway).
 */
static pid_t
pump(int fd)
{
	pid_t pid = fork();

	IT_ASSERT(pid >= 0);
	if (pid == 0) {
		static uint8_t in[65536], payload[16384];
		struct it_buf frame = { 0 };
		size_t off = 0;

		frame_append(&frame, FRAME_DATA, payload, sizeof(payload));
		if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
			_exit(1);
		for (;;) {
			struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
			ssize_t n;

			if (poll(&p, 1, 1000) == -1 && errno != EINTR)
				_exit(1);
			if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
				n = read(fd, in, sizeof(in));
				if (n == 0 || (n == -1 && errno != EAGAIN))
					_exit(0);
			}
			if (p.revents & POLLOUT) {
				n = send(fd, frame.data + off, frame.len - off, MSG_NOSIGNAL);
				if (n > 0)
					off = (off + (size_t)n) % frame.len;
			}
			/* a few MB/s is traffic enough; the machine is shared */
			usleep(2000);
		}
	}
	return pid;
}

static void
test_tcp_user_timeout_closes_a_connection_whose_peer_vanished(void)
{
	enum { BIG = 512 * 1024 };
	static uint8_t payload[BIG];
	struct srv_opts o = {
		.listeners = {
			/* no heartbeat and no write timeout: only TCP may end these */
			{ .name = "ut", .address = "10.201.0.1", .extra =
			    "tcp_user_timeout = 2; heartbeat_timeout = 0; write_timeout = 0;" },
			{ .name = "plain", .address = "10.201.0.1", .extra =
			    "heartbeat_timeout = 0; write_timeout = 0;" },
		},
	};
	const char *ip = ip_path();
	char line[512], nspath[64];
	struct srv *s;
	int nsa, nsb, cut, cplain, clive, cshut, sut, splain, slive, sshut, n;
	int64_t t_down, t_close;
	pid_t pumper;
	char **lines;

	if (geteuid() != 0)
		IT_SKIP("dropping a peer's packets needs network namespaces: root only");
	if (ip == NULL)
		IT_SKIP("no ip(8) (iproute2) to make the veth pair between the namespaces");
	/*
	 * Two namespaces of our own: the server's (A, this process from now
	 * on, inherited by the server it starts) and the clients' (B).  They
	 * live only as long as the processes in them: the runner's kill of
	 * the test's process group removes them, veth pair included, however
	 * the test ends.  No host interface, address or rule is touched.
	 */
	if (unshare(CLONE_NEWNET) == -1)
		IT_SKIP("unshare(CLONE_NEWNET): %s", strerror(errno));
	IT_ASSERT((nsa = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) >= 0);
	IT_ASSERT(unshare(CLONE_NEWNET) == 0);
	/* not close-on-exec: ip(8) finds B through this descriptor */
	IT_ASSERT((nsb = open("/proc/self/ns/net", O_RDONLY)) >= 0);
	netns_enter(nsa);
	snprintf(nspath, sizeof(nspath), "/proc/%ld/fd/%d", (long)getpid(), nsb);
	ip_run(ip, "link", "set", "lo", "up", NULL);
	ip_run(ip, "link", "add", "vsrv", "type", "veth", "peer", "name", "vcli",
	    "netns", nspath, NULL);
	ip_run(ip, "addr", "add", "10.201.0.1/24", "dev", "vsrv", NULL);
	ip_run(ip, "link", "set", "vsrv", "up", NULL);
	netns_enter(nsb);
	ip_run(ip, "link", "set", "lo", "up", NULL);
	ip_run(ip, "addr", "add", "10.201.0.2/24", "dev", "vcli", NULL);
	ip_run(ip, "link", "set", "vcli", "up", NULL);
	netns_enter(nsa);

	s = srv_start(&o);
	/* a socket belongs to the namespace it was made in, wherever it is used from */
	netns_enter(nsb);
	cut = cli_connect("10.201.0.1", srv_port(s, "ut"));
	cplain = cli_connect("10.201.0.1", srv_port(s, "plain"));
	netns_enter(nsa);
	/* two clients in A, which nothing cuts off: one reads, one never does */
	clive = cli_connect("10.201.0.1", srv_port(s, "ut"));
	cshut = small_window_client("10.201.0.1", srv_port(s, "ut"));
	IT_ASSERT(cut >= 0 && cplain >= 0 && clive >= 0);
	sut = server_sock_wait(s, cut);
	splain = server_sock_wait(s, cplain);
	slive = server_sock_wait(s, clive);
	sshut = server_sock_wait(s, cshut);
	IT_ASSERT_INT(getopt_int(sut, IPPROTO_TCP, TCP_USER_TIMEOUT), ==, 2000);
	IT_ASSERT_INT(getopt_int(splain, IPPROTO_TCP, TCP_USER_TIMEOUT), ==, 0);

	pumper = pump(clive);
	IT_ASSERT_STATUS(cli_send_frame(cshut, FRAME_DATA, payload, BIG), CLI_OK);
	IT_ASSERT_STATUS(cli_send_frame(cut, FRAME_DATA, "a", 1), CLI_OK);
	IT_EXPECT_FRAME(cut, FRAME_DATA, "a", 1);
	IT_ASSERT_STATUS(cli_send_frame(cplain, FRAME_DATA, "a", 1), CLI_OK);
	IT_EXPECT_FRAME(cplain, FRAME_DATA, "a", 1);

	/*
	 * The clients' host vanishes as far as the server can tell: from now
	 * on every frame the server sends them goes to a link-layer address
	 * nobody has, and is dropped.  Nothing tells the server (no FIN, no
	 * RST, no ICMP).  Each client asks for one more echo, which the
	 * server owes it from then on: output that is never acknowledged.
	 */
	ip_run(ip, "neigh", "replace", "10.201.0.2", "lladdr", "02:00:00:00:00:01",
	    "dev", "vsrv", "nud", "permanent", NULL);
	srv_log_mark(s);
	/* small: the server's acknowledgements are lost too, so the client's window stays where it was */
	IT_ASSERT_STATUS(cli_send_frame(cut, FRAME_DATA, payload, 1000), CLI_OK);
	IT_ASSERT_STATUS(cli_send_frame(cplain, FRAME_DATA, payload, 1000), CLI_OK);
	t_down = it_now_ms();
	for (int64_t end = t_down + 5000; outq(sut) == 0 || outq(splain) == 0;) {
		IT_ASSERT(it_now_ms() < end);
		it_sleep_ms(10);
	}
	fprintf(stderr, "user timeout: server output unacknowledged by the vanished "
	    "peers: %d bytes (ut), %d bytes (plain)\n", outq(sut), outq(splain));

	if (srv_log_wait(s, 15000, line, sizeof(line),
	    "close ut 10\\.201\\.0\\.2:[0-9]+ reason ") == -1)
		IT_FAIL("the ut connection was not closed within 15 s of its peer vanishing");
	t_close = it_now_ms();
	fprintf(stderr, "user timeout: tcp_user_timeout = 2 closed it %.2f s after the "
	    "peer vanished: %s\n", (t_close - t_down) / 1000.0, it_log_line_msg(line));
	IT_ASSERT_STR_HAS(line, "reason error");
	/* output unacknowledged for 2 s, not sooner (it was sent after t_down) */
	IT_ASSERT_INT(t_close - t_down, >=, 1900);
	IT_ASSERT_INT(t_close - t_down, <=, 10000);

	/* without the option the kernel keeps retransmitting (minutes, tcp_retries2) */
	while (it_now_ms() - t_down < 6000)
		it_sleep_ms(100);
	IT_ASSERT_INT(srv_log_count(s, "close plain "), ==, 0);
	IT_ASSERT_INT(tcp_state(splain), ==, TCP_ESTABLISHED);
	IT_ASSERT_INT(outq(splain), >, 0);
	fprintf(stderr, "user timeout: without it the connection is still established "
	    "%.1f s after the peer vanished, %d bytes unacknowledged\n",
	    (it_now_ms() - t_down) / 1000.0, outq(splain));
	/* a client that keeps acknowledging is untouched by the same setting */
	IT_ASSERT_INT(tcp_state(slive), ==, TCP_ESTABLISHED);
	IT_ASSERT_INT(srv_log_count(s, "close ut 10\\.201\\.0\\.1:%d ", cli_local_port(clive)),
	    ==, 0);
	/*
	 * A reachable client that acknowledges the zero-window probes but
	 * never reads: Linux 5.11 and later count the user timeout from the
	 * first probe and end it too (older kernels keep it).  Kernel
	 * behaviour, not ours: shown, not asserted; the README quotes it.
	 */
	lines = srv_log_grep(s, &n, "close ut 10\\.201\\.0\\.1:%d ", cli_local_port(cshut));
	fprintf(stderr, "user timeout: a reachable client that keeps its window shut, "
	    "tcp_user_timeout = 2: %s\n", n > 0 ? it_log_line_msg(lines[0]) :
	    "still connected");
	it_strv_free(lines);
	kill(pumper, SIGKILL);
	close(sut);
	close(splain);
	close(slive);
	close(sshut);
}

static const struct it_test tcpopts_tests[] = {
	{ "test_tcp_options_read_back_on_the_servers_accepted_socket",
	    test_tcp_options_read_back_on_the_servers_accepted_socket, 0 },
	{ "test_reload_applies_new_tcp_options_to_new_connections",
	    test_reload_applies_new_tcp_options_to_new_connections, 0 },
	{ "test_sndbuf_bounds_the_send_queue_of_a_client_that_never_reads",
	    test_sndbuf_bounds_the_send_queue_of_a_client_that_never_reads, 90 },
	{ "test_tcp_user_timeout_closes_a_connection_whose_peer_vanished",
	    test_tcp_user_timeout_closes_a_connection_whose_peer_vanished, 60 },
	{ NULL, NULL, 0 }
};
IT_SUITE(tcpopts, tcpopts_tests)
