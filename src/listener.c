/*
 * listener: creation of the SO_REUSEPORT listening sockets.
 */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

static int
resolve(const struct listener_conf *lc, struct sockaddr_storage *ss, socklen_t *sl)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strcmp(lc->address, "*") == 0) {
		/* "*" is every address of both families: a dual-stack v6 socket */
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons((uint16_t)lc->port);
		*sl = sizeof(*s6);
		return 0;
	}
	if (inet_pton(AF_INET, lc->address, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)lc->port);
		*sl = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, lc->address, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)lc->port);
		*sl = sizeof(*s6);
		return 0;
	}
	errno = EINVAL;
	return -1;
}

int
listener_tune(int fd, const struct listener_conf *lc)
{
	/*
	 * Message codecs answer small replies at once: no Nagle delay.  Set
	 * on the listener, accepted sockets inherit it (one syscall per
	 * listener instead of one per connection).  Raw streams keep Nagle.
	 */
	int nodelay = lc->codec != CODEC_RAW;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof(nodelay)) == -1)
		return -1;
	/*
	 * rcvbuf goes on the listening socket, not on each accepted one: the
	 * kernel answers a SYN with a window and a window scale taken from
	 * the listener's receive buffer (tcp(7): "the socket buffer size must
	 * be set prior to the listen(2) or connect(2) calls"), and the
	 * accepted socket inherits the buffer.  Set after accept(), the
	 * handshake would already have offered the default window (64 KiB,
	 * scaled for the 6 MB maximum), more than a small buffer holds: the
	 * kernel would drop what the client sent in good faith.  Set here
	 * again on a socket handed over on reload, new handshakes follow the
	 * new value at once.  The kernel has no way back to its autotuned
	 * default once a size is set: removing rcvbuf takes a restart (the
	 * master warns).
	 */
	if (lc->rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &lc->rcvbuf, sizeof(lc->rcvbuf)) == -1)
		return -1;
	return 0;
}

/* log a failed option on an accepted socket, at most once a second per process */
static void
tune_warn(const struct listener_conf *lc, const char *opt)
{
	static uint64_t last;
	static unsigned long skipped;
	uint64_t now = clock_now_ms();
	int e = errno;

	if (last != 0 && now - last < 1000) {
		skipped++;
		return;
	}
	last = now;
	errno = e;
	if (skipped > 0)
		log_warn("%s: setsockopt %s on an accepted socket, the connection goes on "
		    "without it (%lu more failures since the last report)", lc->name, opt,
		    skipped);
	else
		log_warn("%s: setsockopt %s on an accepted socket, the connection goes on "
		    "without it", lc->name, opt);
	skipped = 0;
}

/* one int option, when set (v > 0) */
static void
tune_int(int fd, const struct listener_conf *lc, int level, int name, const char *str, int v)
{
	if (v > 0 && setsockopt(fd, level, name, &v, sizeof(v)) == -1)
		tune_warn(lc, str);
}

/*
 * Options that belong to each connection, set right after accept().  They
 * are set on the accepted socket itself rather than left to inheritance
 * from the listener, as TCP_NODELAY and rcvbuf are: tcp(7) promises no
 * inheritance for them, and a reload's new values then apply exactly to
 * the connections its workers accept (a removed key really is gone; on a
 * listener the kernel keeps what was set).  Nothing is called for an
 * option not configured, so the default accept path costs no syscall.
 * A failure is logged and the connection goes on: keepalive and buffer
 * sizes are tuning, not correctness, and refusing the client would be
 * worse than serving it with the kernel's defaults.
 */
void
listener_tune_accepted(int fd, const struct listener_conf *lc)
{
	if (lc->keepalive) {
		tune_int(fd, lc, SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", 1);
		tune_int(fd, lc, IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", lc->keepalive_idle_s);
		tune_int(fd, lc, IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL",
		    lc->keepalive_interval_s);
		tune_int(fd, lc, IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", lc->keepalive_count);
	}
	/* milliseconds; the config caps it at INT_MAX */
	tune_int(fd, lc, IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT",
	    (int)lc->user_timeout_ms);
	tune_int(fd, lc, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF", lc->sndbuf);
}

int
listener_open(const struct listener_conf *lc, int backlog, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char ep[CONFIG_NAME_MAX + 8];	/* "[address]:65535" */
	int fd, on = 1, off = 0;

	if (resolve(lc, &ss, &sl) == -1) {
		snprintf(err, errlen, "%s: bad address",
		    listener_hostport_str(lc->address, lc->port, ep, sizeof(ep)));
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1)
		goto fail;
	if (ss.ss_family == AF_INET6 && strcmp(lc->address, "*") == 0 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == -1)
		goto fail;
	if (listener_tune(fd, lc) == -1)
		goto fail;
	if (bind(fd, (struct sockaddr *)&ss, sl) == -1)
		goto fail;
	if (listen(fd, backlog) == -1)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "%s: %s",
	    listener_hostport_str(lc->address, lc->port, ep, sizeof(ep)), strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

int
listener_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

const char *
listener_hostport_str(const char *host, int port, char *buf, size_t len)
{
	/* an IPv6 address has colons: brackets keep the port apart from it */
	if (strchr(host, ':') != NULL)
		snprintf(buf, len, "[%s]:%d", host, port);
	else
		snprintf(buf, len, "%s:%d", host, port);
	return buf;
}

const char *
listener_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	int port;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			/* an IPv4 client of a dual-stack ("*") listener: show it as IPv4 */
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], host, sizeof(host));
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
	} else {
		snprintf(buf, len, "?");
		return buf;
	}
	return listener_hostport_str(host, port, buf, len);
}

int
listener_same_endpoint(const struct listener_conf *a, const struct listener_conf *b)
{
	return a->port == b->port && strcmp(a->address, b->address) == 0;
}

/* an int socket option, -1 if it cannot be read */
static int
sockopt_int(int fd, int level, int name)
{
	int v = 0;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, name, &v, &len) == -1 || len != sizeof(v))
		return -1;
	return v;
}

int
listener_matches(int fd, const struct listener_conf *lc)
{
	struct sockaddr_storage want, got;
	socklen_t wl = 0, gl = sizeof(got);
	struct stat st;

	memset(&want, 0, sizeof(want));
	memset(&got, 0, sizeof(got));

	/* a descriptor handed to us by whoever started us: every property checked */
	if (fd < 0 || fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode))
		return 0;
	if (sockopt_int(fd, SOL_SOCKET, SO_TYPE) != SOCK_STREAM ||
	    sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN) != 1 ||
	    sockopt_int(fd, SOL_SOCKET, SO_REUSEPORT) != 1)
		return 0;
	if (resolve(lc, &want, &wl) == -1 ||
	    getsockname(fd, (struct sockaddr *)&got, &gl) == -1 || gl != wl ||
	    got.ss_family != want.ss_family)
		return 0;
	if (want.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&want;
		const struct sockaddr_in *b = (const struct sockaddr_in *)&got;
		return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&want;
	const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)&got;
	if (a->sin6_port != b->sin6_port ||
	    memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) != 0)
		return 0;
	/* "*" is dual-stack: a v6-only socket would leave IPv4 clients out */
	return strcmp(lc->address, "*") != 0 ||
	    sockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY) == 0;
}
