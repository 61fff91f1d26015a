/*
 * reason: why a connection ended.  Every close carries one; stats count them
 * and sockserv-stat prints them under these names.
 */
#ifndef SOCKSERV_REASON_H
#define SOCKSERV_REASON_H

enum close_reason {
	CLOSE_PEER,			/* the client closed (EOF or CLOSE frame) */
	CLOSE_HEARTBEAT,		/* silent longer than heartbeat_timeout */
	CLOSE_DEADLINE,			/* absolute lifetime reached */
	CLOSE_FRAME_TIMEOUT,		/* a started frame did not finish in time */
	CLOSE_WRITE_TIMEOUT,		/* pending output made no progress */
	CLOSE_FIRST_MESSAGE_TIMEOUT,	/* nothing sent after accept */
	CLOSE_PROTOCOL_ERROR,		/* bad magic, version or type */
	CLOSE_TOO_LARGE,		/* frame over max_frame or output over max_output */
	CLOSE_SERVER_FULL,		/* max_connections reached */
	CLOSE_SHUTDOWN,			/* server stopping */
	CLOSE_ERROR,			/* I/O error */
	CLOSE_BACKEND,			/* the backend application closed it, or its link is down */
	CLOSE_LIMIT_IP,			/* refused: its address holds limits.max_conns_per_ip */
	CLOSE_LIMIT_RATE,		/* refused: over its listener's accept_rate */
	CLOSE_NREASONS
};

/* "peer", "heartbeat", ... the names used by stats and logs */
const char *reason_name(enum close_reason r);

#endif
