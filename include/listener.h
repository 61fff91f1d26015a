/*
 * listener: listening sockets.  The master binds one non-blocking
 * SO_REUSEPORT socket per (worker slot, listener) so each worker accepts on
 * its own queue, and keeps them open so a respawned worker gets the same
 * sockets (and the connections waiting in them) back.
 */
#ifndef SOCKSERV_LISTENER_H
#define SOCKSERV_LISTENER_H

#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

/* bind + listen one socket for lc; -1 with err filled ("ADDR:PORT: reason") on failure */
int listener_open(const struct listener_conf *lc, int backlog, char *err, size_t errlen);
/* socket options that follow the listener's settings (re-applied to a socket handed over on reload) */
int listener_tune(int fd, const struct listener_conf *lc);
/*
 * The per-connection options of lc (tcp_keepalive, tcp_user_timeout,
 * sndbuf) on a socket just accepted; a failure is logged (at most once a
 * second) and the connection goes on.  rcvbuf is listener_tune's.
 */
void listener_tune_accepted(int fd, const struct listener_conf *lc);
/* the port a listening socket is actually bound to */
int listener_port(int fd);
/*
 * "HOST:PORT", or "[HOST]:PORT" when HOST has a colon (an IPv6 literal):
 * the one way the server and its tools print an endpoint.  Returns buf.
 */
const char *listener_hostport_str(const char *host, int port, char *buf, size_t len);
/* listener_hostport_str() of an address of any family */
const char *listener_addr_str(const struct sockaddr *sa, char *buf, size_t len);
/* same address and port (so the socket can be handed over on reload) */
int listener_same_endpoint(const struct listener_conf *a, const struct listener_conf *b);
/*
 * 1 when fd is a listening TCP socket with SO_REUSEPORT bound to exactly
 * lc's address and port (a binary upgrade hands its sockets over this way,
 * and a descriptor named in the environment is not trusted), else 0.
 */
int listener_matches(int fd, const struct listener_conf *lc);

#endif
