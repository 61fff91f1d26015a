/*
 * config: reads the libconfig file and hands the rest of the server a plain,
 * fully validated struct.  Only config.c includes libconfig.h.
 * Every error is reported as "FILE:LINE: message" (the key's line).
 */
#ifndef SOCKSERV_CONFIG_H
#define SOCKSERV_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "evloop.h"
#include "log.h"
#include "proto.h"
#include "proxyproto.h"

#define CONFIG_NAME_MAX 64
#define CONFIG_PATH_MAX 1024
#define CONFIG_MAGIC_MAX PROTO_MAGIC_MAX
#define CONFIG_MAX_BACKENDS 16
#define CONFIG_UNIX_PATH_MAX 108	/* sizeof(sun_path) */
#define CONFIG_MAX_TRUSTED 64		/* proxy_trusted entries per listener */

/* what a worker does with its clients while its link to the backend is down */
enum backend_on_down {
	ON_DOWN_HOLD,	/* keep clients, accept new ones; their events wait */
	ON_DOWN_REFUSE,	/* keep clients; new ones get ERROR 8 (frame) or a close */
	ON_DOWN_CLOSE,	/* also end the existing ones with ERROR 8 */
};

/* one application behind sockserv (sockserv-backend(7)) */
struct backend_conf {
	char name[CONFIG_NAME_MAX];
	char address[CONFIG_PATH_MAX];	/* as written, for logs */
	int is_unix;			/* "unix:/path" */
	char unix_path[CONFIG_UNIX_PATH_MAX];	/* absolute */
	unsigned char ip[16];		/* a literal: 4 bytes (IPv4) or 16 (IPv6) */
	int ip_v6;
	int port;
	enum backend_on_down on_down;
	uint64_t max_pending;		/* bytes toward the backend before reading stops */
	uint32_t reconnect_min_ms;	/* doubling backoff, min..max */
	uint32_t reconnect_max_ms;
	uint32_t link_timeout_ms;	/* no byte from the backend this long: reconnect */
};

struct listener_conf {
	char name[CONFIG_NAME_MAX];
	char address[CONFIG_NAME_MAX];	/* as written: "127.0.0.1", "::1", "*" */
	int port;			/* 1..65535 */
	enum codec codec;
	char handler[CONFIG_NAME_MAX];	/* existence checked by the caller */
	int handler_line;		/* line of the handler key, for errors */
	unsigned char magic[CONFIG_MAGIC_MAX];	/* headers codec only */
	size_t magic_len;
	/* timeouts in milliseconds, 0 = off (already defaulted) */
	uint32_t heartbeat_ms;
	uint32_t deadline_ms;
	uint32_t frame_timeout_ms;
	uint32_t write_timeout_ms;
	uint32_t first_message_ms;
	int backend;			/* index in config.backends (handler "backend"), else -1 */
	/*
	 * TCP options (listener_tune / listener_tune_accepted); 0 = not set,
	 * the kernel's default applies.
	 */
	int keepalive;			/* tcp_keepalive group present: SO_KEEPALIVE */
	int keepalive_idle_s;		/* TCP_KEEPIDLE 1..32767 */
	int keepalive_interval_s;	/* TCP_KEEPINTVL 1..32767 */
	int keepalive_count;		/* TCP_KEEPCNT 1..127 */
	uint32_t user_timeout_ms;	/* TCP_USER_TIMEOUT */
	int sndbuf;			/* SO_SNDBUF bytes, as written (the kernel doubles it) */
	int rcvbuf;			/* SO_RCVBUF bytes, as written */
	uint32_t accept_rate;		/* connections/s over the whole server, 0 = off */
	uint32_t accept_burst;		/* 0 = accept_rate */
	/* every connection starts with a PROXY protocol header (proxyproto.h) */
	int proxy_protocol;
	/* peers allowed to connect when proxy_protocol is on; none listed = any peer */
	struct proxyproto_net proxy_trusted[CONFIG_MAX_TRUSTED];
	size_t nproxy_trusted;
};

struct config {
	char path[CONFIG_PATH_MAX];	/* the file this came from, absolute */
	char display_path[CONFIG_PATH_MAX];	/* the same as the caller gave it: for messages */
	int workers;			/* resolved: 0 in the file = online CPUs */
	enum ev_backend backend;
	char pid_file[CONFIG_PATH_MAX];	/* absolute (resolved against cwd) */
	char stats_path[CONFIG_PATH_MAX];	/* absolute */
	char log_target[CONFIG_PATH_MAX];	/* "stderr", "syslog" or absolute path */
	enum log_level log_level;
	int log_facility;		/* syslog LOG_DAEMON etc. */
	char user[CONFIG_NAME_MAX];	/* "" = do not change */
	char group[CONFIG_NAME_MAX];
	/*
	 * Source lines of user, group and log.target (0 when defaulted): their
	 * values are judged only at run time (daemon_check_runtime), which
	 * still needs a line to blame.
	 */
	int user_line;
	int group_line;
	int log_target_line;
	uint64_t max_connections;
	uint64_t max_frame;
	uint64_t max_output;
	uint64_t max_buffer_memory;	/* per worker: every connection's in + out buffers */
	uint32_t max_conns_per_ip;	/* whole server, per IPv4 address or IPv6 /64; 0 = off */
	uint32_t ip_table_size;		/* entries of the per-address table (admission.h) */
	int backlog;
	uint32_t tick_ms;		/* timer.tick_ms 1..1000 */
	uint32_t slots;			/* timer.slots, power of two */
	uint32_t hung_timeout_ms;	/* default 10 s */
	uint32_t stats_interval_s;	/* default 60, 0 = off */
	uint32_t shutdown_timeout_ms;	/* default 30 s */
	/*
	 * After a reload or an upgrade, old workers still holding connections
	 * this long are told to cut them (ERROR 7, reason shutdown); 0 = never.
	 */
	uint32_t drain_timeout_ms;
	struct listener_conf *listeners;
	size_t nlisteners;
	uint32_t node_id;		/* 0..65535: top 16 bits of every connection id */
	struct backend_conf *backends;
	size_t nbackends;
};

/*
 * Parse and validate path into *cfg.  On error returns -1 and writes
 * "FILE:LINE: message" (or "FILE: message" when there is no line) into err.
 */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);
void config_free(struct config *cfg);
/*
 * Only pid_file and stats_path of path (defaults as config_load, relative
 * ones resolved against the cwd the same way), skipping every other check:
 * the tools that find a running server through them must keep working
 * while the file has a mistake the server would refuse.  A file libconfig
 * cannot parse still fails, with "FILE:LINE: message" in err.  Either
 * output buffer may be NULL.
 */
int config_peek_paths(const char *path, char *pid_file, char *stats_path,
    size_t len, char *err, size_t errlen);
const char *config_codec_name(enum codec c);
const char *config_backend_name(enum ev_backend b);
const char *config_on_down_name(enum backend_on_down d);

#endif
