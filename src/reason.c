/*
 * reason: names of close reasons, shared by logs, stats and sockserv-stat.
 */
#include "reason.h"

static const char *const names[CLOSE_NREASONS] = {
	[CLOSE_PEER] = "peer",
	[CLOSE_HEARTBEAT] = "heartbeat",
	[CLOSE_DEADLINE] = "deadline",
	[CLOSE_FRAME_TIMEOUT] = "frame_timeout",
	[CLOSE_WRITE_TIMEOUT] = "write_timeout",
	[CLOSE_FIRST_MESSAGE_TIMEOUT] = "first_message_timeout",
	[CLOSE_PROTOCOL_ERROR] = "protocol_error",
	[CLOSE_TOO_LARGE] = "too_large",
	[CLOSE_SERVER_FULL] = "server_full",
	[CLOSE_SHUTDOWN] = "shutdown",
	[CLOSE_ERROR] = "error",
	[CLOSE_BACKEND] = "backend",
	[CLOSE_LIMIT_IP] = "limit_ip",
	[CLOSE_LIMIT_RATE] = "limit_rate",
};

const char *
reason_name(enum close_reason r)
{
	return (unsigned)r < CLOSE_NREASONS ? names[r] : "unknown";
}
