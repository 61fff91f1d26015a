/*
 * linkpeer: the integration tests' side of the backend link
 * (sockserv-backend(7)), speaking it through linkproto: a Unix socket the
 * workers' links connect to, and a "peer" per accepted link that reads
 * events (answering PINGs, acknowledging what it read) and sends commands.
 * Used by the backend suite and by the fleet suite (one application linked
 * to several nodes).  Everything here runs in the test child and fails the
 * test (IT_FAIL) on a broken stream or a timeout, unless it says otherwise.
 */
#ifndef SOCKSERV_IT_LINKPEER_H
#define SOCKSERV_IT_LINKPEER_H

#include <stddef.h>
#include <stdint.h>

struct peer {
	int fd;
	uint8_t *buf;
	size_t len, cap;
	uint64_t processed;	/* id'd messages read this session */
	int auto_ack;		/* ACK after every message read */
	uint64_t last_ack;	/* the worker's latest ACK */
};

struct pmsg {
	uint8_t type;
	uint64_t id;
	uint32_t seq;
	uint32_t len;
	uint8_t data[4096];	/* payload, NUL-terminated (cut at 4095) */
};

/* a listening Unix socket at path (removed first); its fd */
int peer_listen(const char *path);
/* accept one worker's link on lfd into p (auto_ack on) */
void peer_accept(struct peer *p, int lfd, int timeout_ms);
/* one link message */
void peer_send(struct peer *p, uint8_t type, uint64_t id, uint32_t seq, const void *data,
    size_t len);
/* a CMD_ACK of every id'd message read so far */
void peer_ack(struct peer *p);
/* the next message, PINGs answered; 0, or -1 on timeout or EOF */
int peer_next(struct peer *p, struct pmsg *m, int timeout_ms);
/* the next message of type (and id, unless 0), skipping others */
void peer_wait(struct peer *p, uint8_t type, uint64_t id, struct pmsg *m);
/* the OPEN of the client whose local port is port */
void peer_wait_open(struct peer *p, int port, struct pmsg *m);
/* the node_id in the HELLO a new link starts with (read from p) */
int peer_hello_node(struct peer *p);
/* DIR/app.sock in a fresh test directory (malloc'd) */
char *sock_path(void);

#endif
