/*
 * config: owns everything between the libconfig file and struct config --
 * parsing, the key whitelist at every level, types, ranges, defaults, and
 * the resolution of relative paths against the cwd at load time.  It is the
 * only file that includes libconfig.h; nothing libconfig-shaped escapes.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "admission.h"

#define MAX_LISTENERS		64
_Static_assert(MAX_LISTENERS <= ADM_MAX_LISTENERS, "a token bucket per listener");
#define MAX_TIMEOUT_S		2592000		/* 30 days */
#define MAX_HUNG_S		3600
#define MAX_DAEMON_S		86400
#define MAX_WORKERS		256

/* per-codec defaults, in ms */
#define DEF_HEARTBEAT_FRAME_MS	30000
#define DEF_FRAME_TIMEOUT_MS	10000
#define DEF_WRITE_TIMEOUT_MS	30000
#define DEF_FIRST_MESSAGE_MS	10000	/* when there is no heartbeat */
#define DEF_MAGIC		"Headers"
#define DEF_PID_FILE		"/run/sockserv/sockserv.pid"
#define DEF_STATS_PATH		"/run/sockserv/sockserv.shm"

struct loader {
	const char	*path;		/* as the caller gave it, for messages */
	char		*err;
	size_t		 errlen;
	struct config	*cfg;
};

/* Normalised listen address, so "::1" and "0:0::1" compare equal. */
struct addr_key {
	bool		 wildcard;
	int		 family;
	unsigned char	 bytes[16];
};

static const char *const root_keys[] = {
	"workers", "event_backend", "pid_file", "stats_path", "user", "group",
	"hung_timeout", "stats_interval", "shutdown_timeout", "log", "limits",
	"timer", "listeners", "node_id", "backends",
	"drain_timeout",
	NULL
};
static const char *const log_keys[] = { "target", "level", "facility", NULL };
static const char *const limits_keys[] = {
	"max_connections", "max_frame", "max_output", "backlog", "max_buffer_memory",
	"max_conns_per_ip", "ip_table_size", NULL
};
static const char *const timer_keys[] = { "tick_ms", "slots", NULL };
static const char *const listener_keys[] = {
	"name", "address", "port", "codec", "handler", "magic",
	"heartbeat_timeout", "deadline", "frame_timeout", "write_timeout",
	"first_message_timeout", "backend",
	"tcp_keepalive", "tcp_user_timeout", "sndbuf", "rcvbuf",
	"accept_rate", "accept_burst", "proxy_protocol", "proxy_trusted", NULL
};
static const char *const keepalive_keys[] = { "idle", "interval", "count", NULL };
/* the kernel's limits (tcp(7); MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT) */
#define MAX_KEEPIDLE_S		32767
#define MAX_KEEPINTVL_S		32767
#define MAX_KEEPCNT		127
/* TCP_USER_TIMEOUT is an int of milliseconds */
#define MAX_USER_TIMEOUT_S	2147483
/* SO_SNDBUF / SO_RCVBUF: below the kernel's floor it rounds up anyway; above 1 GiB is a slip */
#define MIN_SOCKBUF		4096
#define MAX_SOCKBUF		1073741824LL
static const char *const backend_keys[] = {
	"name", "address", "on_down", "max_pending", "reconnect_min", "reconnect_max",
	"link_timeout", NULL
};
static const char *const on_down_names[] = {
	[ON_DOWN_HOLD] = "hold", [ON_DOWN_REFUSE] = "refuse", [ON_DOWN_CLOSE] = "close"
};
/* the handler whose listeners talk to a backend (src/backend.c registers it) */
#define BACKEND_HANDLER "backend"
#define MAX_LINK_S 3600

static const char *const codec_names[] = {
	[CODEC_FRAME] = "frame", [CODEC_RAW] = "raw", [CODEC_HEADERS] = "headers"
};
static const char *const backend_names[] = {
	[EVB_EPOLL] = "epoll", [EVB_POLL] = "poll"
};

static const struct {
	const char	*name;
	int		 value;
} facilities[] = {
	{ "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

static void __attribute__((format(printf, 4, 0)))
seterr(struct loader *ld, const char *file, unsigned int line,
    const char *fmt, va_list ap)
{
	char msg[512];

	if (ld->err == NULL || ld->errlen == 0)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line > 0)
		snprintf(ld->err, ld->errlen, "%s:%u: %s", file, line, msg);
	else
		snprintf(ld->err, ld->errlen, "%s: %s", file, msg);
}

/*
 * Report an error at setting s (its file and line), or at the file alone
 * when s is NULL.  Always returns -1 so callers can "return fail(...)".
 */
static int __attribute__((format(printf, 3, 4)))
fail(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	const char *file = ld->path;
	unsigned int line = 0;
	va_list ap;

	if (s != NULL) {
		if (config_setting_source_file(s) != NULL)
			file = config_setting_source_file(s);
		line = config_setting_source_line(s);
	}
	va_start(ap, fmt);
	seterr(ld, file, line, fmt, ap);
	va_end(ap);
	return -1;
}

static int __attribute__((format(printf, 4, 5)))
fail_at(struct loader *ld, const char *file, unsigned int line,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	seterr(ld, file, line, fmt, ap);
	va_end(ap);
	return -1;
}

/* Every member of a group must be on the whitelist: typos must not pass. */
static int
check_keys(struct loader *ld, const config_setting_t *group,
    const char *const *keys)
{
	int n = config_setting_length(group);

	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(group, i);
		const char *name = config_setting_name(m);
		size_t k;

		for (k = 0; keys[k] != NULL; k++)
			if (strcmp(keys[k], name) == 0)
				break;
		if (keys[k] == NULL)
			return fail(ld, m, "unknown key '%s'", name);
	}
	return 0;
}

/* Returns 1 and *out when present, 0 when absent, -1 on a type error. */
static int
get_group(struct loader *ld, const config_setting_t *parent, const char *name,
    config_setting_t **out)
{
	config_setting_t *s = config_setting_get_member(parent, name);

	if (s == NULL)
		return 0;
	if (!config_setting_is_group(s))
		return fail(ld, s, "'%s' must be a group", name);
	*out = s;
	return 1;
}

static int
get_int(struct loader *ld, const config_setting_t *parent, const char *name,
    long long lo, long long hi, long long *out)
{
	config_setting_t *s = config_setting_get_member(parent, name);
	long long v = 0;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return fail(ld, s, "'%s' must be an integer", name);
	v = config_setting_get_int64(s);
	if (v < lo || v > hi) {
		if (hi == LLONG_MAX)
			return fail(ld, s, "'%s' must be at least %lld (got %lld)",
			    name, lo, v);
		return fail(ld, s, "'%s' must be between %lld and %lld (got %lld)",
		    name, lo, hi, v);
	}
	*out = v;
	return 1;
}

/*
 * A duration in seconds, integer or float, stored as rounded milliseconds.
 * lo_open makes the lower bound exclusive (hung_timeout must be > 0).
 */
static int
get_seconds(struct loader *ld, const config_setting_t *parent,
    const char *name, long long lo, bool lo_open, long long hi,
    uint32_t *out_ms)
{
	config_setting_t *s = config_setting_get_member(parent, name);
	double v;
	bool ok;

	if (s == NULL)
		return 0;
	if (!config_setting_is_number(s))
		return fail(ld, s, "'%s' must be a number", name);
	if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
		v = config_setting_get_float(s);
	else
		v = (double)config_setting_get_int64(s);
	/* written so that NaN fails too */
	ok = (lo_open ? v > (double)lo : v >= (double)lo) && v <= (double)hi;
	if (!ok) {
		if (lo_open)
			return fail(ld, s, "'%s' must be greater than %lld and at "
			    "most %lld seconds (got %.15g)", name, lo, hi, v);
		return fail(ld, s, "'%s' must be between %lld and %lld seconds "
		    "(got %.15g)", name, lo, hi, v);
	}
	/* hi is at most 30 days, so the product fits in uint32_t */
	*out_ms = (uint32_t)(v * 1000.0 + 0.5);
	/* 0 means "off": a tiny non-zero value must not turn a timer off */
	if (v > 0 && *out_ms == 0)
		return fail(ld, s, "'%s' must be 0 or at least 0.001 seconds "
		    "(got %.15g)", name, v);
	return 1;
}

static int
get_string(struct loader *ld, const config_setting_t *parent,
    const char *name, config_setting_t **sp, const char **out)
{
	config_setting_t *s = config_setting_get_member(parent, name);

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(ld, s, "'%s' must be a string", name);
	*out = config_setting_get_string(s);
	if (sp != NULL)
		*sp = s;
	return 1;
}

/* Copy a string value into a fixed buffer, refusing to truncate. */
static int
get_string_buf(struct loader *ld, const config_setting_t *parent,
    const char *name, char *buf, size_t size, bool nonempty)
{
	config_setting_t *s = NULL;
	const char *v = NULL;
	int r;

	if ((r = get_string(ld, parent, name, &s, &v)) <= 0)
		return r;
	if (nonempty && v[0] == '\0')
		return fail(ld, s, "'%s' must not be empty", name);
	if (strlen(v) >= size)
		return fail(ld, s, "'%s' is too long (at most %zu bytes)",
		    name, size - 1);
	memcpy(buf, v, strlen(v) + 1);
	return 1;
}

/* the source line of parent's member name, 0 when it is absent */
static int
member_line(const config_setting_t *parent, const char *name)
{
	const config_setting_t *s = config_setting_get_member(parent, name);

	return s == NULL ? 0 : (int)config_setting_source_line(s);
}

/*
 * Make a relative path absolute against the cwd now: the daemon later does
 * chdir("/"), and a SIGHUP reload must still find the same files.
 */
static int
absolutize(struct loader *ld, const config_setting_t *s, const char *name,
    char *buf, size_t size)
{
	char cwd[PATH_MAX];
	char tmp[CONFIG_PATH_MAX];
	const char *rel = buf;
	int n;

	if (buf[0] == '/')
		return 0;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return fail(ld, s, "cannot resolve relative '%s': %s", name,
		    strerror(errno));
	while (rel[0] == '.' && rel[1] == '/')
		rel += 2;
	n = snprintf(tmp, sizeof(tmp), "%s%s%s", cwd,
	    strcmp(cwd, "/") == 0 ? "" : "/", rel);
	if (n < 0 || (size_t)n >= size || (size_t)n >= sizeof(tmp))
		return fail(ld, s, "'%s' is too long once made absolute "
		    "(at most %zu bytes)", name, size - 1);
	memcpy(buf, tmp, (size_t)n + 1);
	return 0;
}

static int
get_path(struct loader *ld, const config_setting_t *parent, const char *name,
    char *buf, size_t size)
{
	int r = get_string_buf(ld, parent, name, buf, size, true);

	if (r <= 0)
		return r;
	return absolutize(ld, config_setting_get_member(parent, name), name,
	    buf, size) == 0 ? 1 : -1;
}

/*
 * libconfig 1.5 stores a plain integer literal that does not fit in 32 bits
 * wrapped, without an error (3000000000 reads back as -1294967296,
 * 4294967297 as 1), so a slip could become a different valid value.  Look
 * for such literals in the text before any integer is trusted; 64-bit
 * values need the L suffix.  Runs after a successful parse, so the text is
 * known to be well-formed.  An @include'd file is text libconfig read
 * just the same, so it is scanned where its directive stands, and its
 * errors name it and its line (libconfig's getters cannot tell: the value
 * is wrapped before any of them sees it).
 */
#define MAX_INCLUDE_DEPTH 10	/* libconfig 1.5's own limit */

static int check_int_literals(struct loader *ld, const char *file, const char *text,
    size_t len, int depth);
static int read_whole_file(struct loader *ld, const char *path, char **textp, size_t *lenp);

/*
 * The path of an `@include "PATH"` directive starting at text[i], which is
 * the first non-blank of a line (libconfig's rule), copied unescaped into
 * buf; returns the offset just past its closing quote, where libconfig
 * goes on scanning once the file is read, or 0 if there is none at i.
 */
static size_t
include_path(const char *text, size_t len, size_t i, char *buf, size_t size)
{
	static const char kw[] = "@include";
	size_t o = 0;

	if (len - i < sizeof(kw) - 1 || memcmp(text + i, kw, sizeof(kw) - 1) != 0)
		return 0;
	i += sizeof(kw) - 1;
	if (i >= len || (text[i] != ' ' && text[i] != '\t'))
		return 0;
	while (i < len && (text[i] == ' ' || text[i] == '\t'))
		i++;
	if (i >= len || text[i] != '"')
		return 0;
	for (i++; i < len && text[i] != '"'; i++) {
		/* libconfig 1.5 unescapes \\ and \" in an include path, nothing else */
		if (text[i] == '\\' && i + 1 < len && (text[i + 1] == '\\' || text[i + 1] == '"'))
			i++;
		if (o + 1 >= size)
			return 0;
		buf[o++] = text[i];
	}
	buf[o] = '\0';
	return i < len ? i + 1 : 0;
}

/* the integers of the @include'd file path, read as libconfig reads it (relative to the cwd) */
static int
check_included(struct loader *ld, const char *path, int depth)
{
	char *text = NULL;
	size_t len = 0;
	int rv;

	if (depth >= MAX_INCLUDE_DEPTH)
		return 0;	/* libconfig refused it already */
	if (read_whole_file(ld, path, &text, &len) == -1)
		return -1;
	rv = check_int_literals(ld, path, text, len, depth + 1);
	free(text);
	return rv;
}

static int
check_int_literals(struct loader *ld, const char *file, const char *text, size_t len,
    int depth)
{
	unsigned int line = 1;
	size_t i = 0;
	bool line_start = true;	/* only blanks so far on this line */
	char inc[CONFIG_PATH_MAX];
	size_t next;

#define AT(k) ((k) < len ? text[(k)] : '\0')
	while (i < len) {
		unsigned char c = (unsigned char)text[i];
		bool was_line_start = line_start;

		line_start = c == '\n' || (line_start && (c == ' ' || c == '\t'));
		if (c == '@' && was_line_start &&
		    (next = include_path(text, len, i, inc, sizeof(inc))) != 0) {
			if (check_included(ld, inc, depth) == -1)
				return -1;
			i = next;
		} else if (c == '\n') {
			line++;
			i++;
		} else if (c == '#' || (c == '/' && AT(i + 1) == '/')) {
			while (i < len && text[i] != '\n')
				i++;
		} else if (c == '/' && AT(i + 1) == '*') {
			for (i += 2; i < len &&
			    !(text[i] == '*' && AT(i + 1) == '/'); i++)
				if (text[i] == '\n')
					line++;
			i += 2;
		} else if (c == '"') {
			for (i++; i < len && text[i] != '"'; i++) {
				if (text[i] == '\\')
					i++;
				if (AT(i) == '\n')
					line++;
			}
			i++;
		} else if (isalpha(c) || c == '*' || c == '@') {
			/* names may hold digits: "slot2" is not a number */
			for (i++; i < len && (isalnum((unsigned char)text[i]) ||
			    text[i] == '-' || text[i] == '_' || text[i] == '*'); i++)
				;
		} else if (c == '.' && isdigit((unsigned char)AT(i + 1))) {
			/* ".5e3": a float, nothing to check */
			for (i++; isdigit((unsigned char)AT(i)) ||
			    AT(i) == 'e' || AT(i) == 'E' || ((AT(i) == '-' ||
			    AT(i) == '+') && (AT(i - 1) == 'e' ||
			    AT(i - 1) == 'E')); i++)
				;
		} else if (isdigit(c)) {
			size_t start = i, end;
			bool neg = i > 0 && text[i - 1] == '-';
			bool hex = c == '0' && (AT(i + 1) == 'x' || AT(i + 1) == 'X');
			bool big = false;
			unsigned long long v = 0, limit;

			if (hex) {
				for (i += 2; isxdigit((unsigned char)AT(i)); i++) {
					unsigned d = isdigit((unsigned char)text[i]) ?
					    (unsigned)(text[i] - '0') :
					    (unsigned)(tolower((unsigned char)text[i]) - 'a' + 10);
					if (v > (ULLONG_MAX >> 4))
						big = true;
					v = (v << 4) | d;
				}
			} else {
				for (; isdigit((unsigned char)AT(i)); i++) {
					unsigned d = (unsigned)(text[i] - '0');
					if (v > (ULLONG_MAX - d) / 10)
						big = true;
					v = v * 10 + d;
				}
				if (AT(i) == '.' || AT(i) == 'e' || AT(i) == 'E') {
					/* a float: skip its fraction and exponent */
					for (i++; isdigit((unsigned char)AT(i)) ||
					    AT(i) == '.' || AT(i) == 'e' ||
					    AT(i) == 'E' || ((AT(i) == '-' ||
					    AT(i) == '+') && (AT(i - 1) == 'e' ||
					    AT(i - 1) == 'E')); i++)
						;
					continue;
				}
			}
			end = i;
			if (AT(i) == 'L') {
				/* hex is a bit pattern, decimal a signed value */
				limit = hex ? ULLONG_MAX :
				    (unsigned long long)LLONG_MAX + (neg ? 1 : 0);
				while (AT(i) == 'L')
					i++;
				if (big || v > limit)
					return fail_at(ld, file, line,
					    "integer %.*s does not fit in 64 bits",
					    (int)(end - start), text + start);
			} else {
				limit = hex ? UINT_MAX :
				    (unsigned long long)INT_MAX + (neg ? 1 : 0);
				if (big || v > limit)
					return fail_at(ld, file, line,
					    "integer %.*s does not fit in 32 bits; "
					    "write %.*sL for a 64-bit integer",
					    (int)(end - start), text + start,
					    (int)(end - start), text + start);
			}
		} else {
			i++;
		}
	}
#undef AT
	return 0;
}

static int
read_whole_file(struct loader *ld, const char *path, char **textp, size_t *lenp)
{
	FILE *fp;
	char *text = NULL;
	size_t len = 0, cap = 0;

	if ((fp = fopen(path, "r")) == NULL)
		return fail_at(ld, path, 0, "%s", strerror(errno));
	for (;;) {
		size_t n;

		if (cap - len < 4096) {
			char *nt = realloc(text, cap + 65536);
			if (nt == NULL) {
				free(text);
				fclose(fp);
				return fail_at(ld, path, 0, "out of memory");
			}
			text = nt;
			cap += 65536;
		}
		n = fread(text + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		int e = errno;
		free(text);
		fclose(fp);
		return fail_at(ld, path, 0, "%s", strerror(e));
	}
	fclose(fp);
	*textp = text;
	*lenp = len;
	return 0;
}

static int
parse_top(struct loader *ld, const config_setting_t *root)
{
	struct config *cfg = ld->cfg;
	config_setting_t *s = NULL;
	const char *str = NULL;
	long long v = 0;
	int r;

	if (check_keys(ld, root, root_keys) == -1)
		return -1;

	if ((r = get_int(ld, root, "workers", 0, MAX_WORKERS, &v)) == -1)
		return -1;
	if (r == 1)
		cfg->workers = (int)v;
	if (cfg->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cfg->workers = n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
	}

	if ((r = get_string(ld, root, "event_backend", &s, &str)) == -1)
		return -1;
	if (r == 1) {
		if (strcmp(str, "epoll") == 0)
			cfg->backend = EVB_EPOLL;
		else if (strcmp(str, "poll") == 0)
			cfg->backend = EVB_POLL;
		else
			return fail(ld, s, "unknown event_backend '%s' "
			    "(expected \"epoll\" or \"poll\")", str);
	}

	if (get_path(ld, root, "pid_file", cfg->pid_file,
	    sizeof(cfg->pid_file)) == -1 ||
	    get_path(ld, root, "stats_path", cfg->stats_path,
	    sizeof(cfg->stats_path)) == -1 ||
	    get_string_buf(ld, root, "user", cfg->user, sizeof(cfg->user),
	    false) == -1 ||
	    get_string_buf(ld, root, "group", cfg->group, sizeof(cfg->group),
	    false) == -1)
		return -1;
	cfg->user_line = member_line(root, "user");
	cfg->group_line = member_line(root, "group");

	if (get_seconds(ld, root, "hung_timeout", 0, true, MAX_HUNG_S,
	    &cfg->hung_timeout_ms) == -1)
		return -1;
	if ((r = get_int(ld, root, "stats_interval", 0, MAX_DAEMON_S, &v)) == -1)
		return -1;
	if (r == 1)
		cfg->stats_interval_s = (uint32_t)v;
	if (get_seconds(ld, root, "shutdown_timeout", 0, false, MAX_DAEMON_S,
	    &cfg->shutdown_timeout_ms) == -1)
		return -1;
	/* 0 (the default) keeps a reload's drain unbounded */
	if (get_seconds(ld, root, "drain_timeout", 0, false, MAX_DAEMON_S,
	    &cfg->drain_timeout_ms) == -1)
		return -1;
	return 0;
}

static int
parse_log(struct loader *ld, const config_setting_t *root)
{
	struct config *cfg = ld->cfg;
	config_setting_t *g = NULL, *s = NULL;
	const char *str = NULL;
	int r;

	if ((r = get_group(ld, root, "log", &g)) <= 0)
		return r;
	if (check_keys(ld, g, log_keys) == -1)
		return -1;

	if ((r = get_string_buf(ld, g, "target", cfg->log_target,
	    sizeof(cfg->log_target), true)) == -1)
		return -1;
	if (r == 1 && strcmp(cfg->log_target, "stderr") != 0 &&
	    strcmp(cfg->log_target, "syslog") != 0 &&
	    absolutize(ld, config_setting_get_member(g, "target"), "target",
	    cfg->log_target, sizeof(cfg->log_target)) == -1)
		return -1;
	cfg->log_target_line = member_line(g, "target");

	if ((r = get_string(ld, g, "level", &s, &str)) == -1)
		return -1;
	if (r == 1 && log_level_parse(str, &cfg->log_level) == -1)
		return fail(ld, s, "unknown log level '%s' (expected debug, "
		    "info, warn or error)", str);

	if ((r = get_string(ld, g, "facility", &s, &str)) == -1)
		return -1;
	if (r == 1) {
		size_t i;

		for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
			if (strcmp(str, facilities[i].name) == 0)
				break;
		if (i == sizeof(facilities) / sizeof(facilities[0]))
			return fail(ld, s, "unknown log facility '%s' (expected "
			    "daemon, user or local0..local7)", str);
		cfg->log_facility = facilities[i].value;
	}
	return 0;
}

/* limits.max_conns_per_ip and limits.ip_table_size (admission.h) */
static int
parse_admission_limits(struct loader *ld, const config_setting_t *g)
{
	struct config *cfg = ld->cfg;
	long long v = 0;
	int r;

	if ((r = get_int(ld, g, "max_conns_per_ip", 0, UINT32_MAX - 1LL, &v)) == -1)
		return -1;
	if (r == 1)
		cfg->max_conns_per_ip = (uint32_t)v;
	if ((r = get_int(ld, g, "ip_table_size", ADM_MIN_ENTRIES, ADM_MAX_ENTRIES, &v)) == -1)
		return -1;
	if (r == 1)
		cfg->ip_table_size = (uint32_t)v;
	return 0;
}

static int
parse_limits(struct loader *ld, const config_setting_t *root)
{
	struct config *cfg = ld->cfg;
	config_setting_t *g = NULL;
	long long v = 0;
	int r;

	if ((r = get_group(ld, root, "limits", &g)) <= 0)
		return r;
	if (check_keys(ld, g, limits_keys) == -1)
		return -1;
	if ((r = get_int(ld, g, "max_connections", 1, LLONG_MAX, &v)) == -1)
		return -1;
	if (r == 1)
		cfg->max_connections = (uint64_t)v;
	if ((r = get_int(ld, g, "max_frame", 1, 1073741824LL, &v)) == -1)
		return -1;
	if (r == 1)
		cfg->max_frame = (uint64_t)v;
	if ((r = get_int(ld, g, "max_output", 1024, 1LL << 34, &v)) == -1)
		return -1;
	if (r == 1)
		cfg->max_output = (uint64_t)v;
	if ((r = get_int(ld, g, "backlog", 1, 65535, &v)) == -1)
		return -1;
	if (r == 1)
		cfg->backlog = (int)v;
	if ((r = get_int(ld, g, "max_buffer_memory", 1048576, 1LL << 40, &v)) == -1)
		return -1;
	if (r == 1)
		cfg->max_buffer_memory = (uint64_t)v;
	return parse_admission_limits(ld, g);
}

static int
parse_timer(struct loader *ld, const config_setting_t *root)
{
	struct config *cfg = ld->cfg;
	config_setting_t *g = NULL;
	long long v = 0;
	int r;

	if ((r = get_group(ld, root, "timer", &g)) <= 0)
		return r;
	if (check_keys(ld, g, timer_keys) == -1)
		return -1;
	if ((r = get_int(ld, g, "tick_ms", 1, 1000, &v)) == -1)
		return -1;
	if (r == 1)
		cfg->tick_ms = (uint32_t)v;
	if ((r = get_int(ld, g, "slots", 1, 1048576, &v)) == -1)
		return -1;
	if (r == 1) {
		/* the wheel masks with slots - 1 instead of dividing */
		if ((v & (v - 1)) != 0)
			return fail(ld, config_setting_get_member(g, "slots"),
			    "'slots' must be a power of two between 1 and "
			    "1048576 (got %lld)", v);
		cfg->slots = (uint32_t)v;
	}
	return 0;
}

/*
 * A worker stamps its loop at least once a wheel tick when idle, and the
 * master looks every 100 ms: a healthy worker's stamp can be a tick and
 * some scheduling delay old.  A hung_timeout inside that window kills
 * healthy workers in a loop, so it must cover two ticks plus 200 ms.
 * Checked once both values are known (either may come from a default).
 */
#define HUNG_MARGIN_MS 200

static int
check_hung_timeout(struct loader *ld, const config_setting_t *root)
{
	const struct config *cfg = ld->cfg;
	uint32_t min_ms = 2 * cfg->tick_ms + HUNG_MARGIN_MS;

	if (cfg->hung_timeout_ms >= min_ms)
		return 0;
	return fail(ld, config_setting_get_member(root, "hung_timeout"),
	    "'hung_timeout' must be at least 2 * timer.tick_ms + %d ms = %.3g seconds "
	    "(got %.3g; tick_ms is %u)", HUNG_MARGIN_MS, min_ms / 1000.0,
	    cfg->hung_timeout_ms / 1000.0, cfg->tick_ms);
}

static bool
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > CONFIG_NAME_MAX - 1)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' &&
		    *s != '-')
			return false;
	return true;
}

static bool
parse_address(const char *s, struct addr_key *k)
{
	static const unsigned char zero[16];
	static const unsigned char v4mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};

	memset(k, 0, sizeof(*k));
	if (strcmp(s, "*") == 0) {
		k->wildcard = true;
		return true;
	}
	if (inet_pton(AF_INET, s, k->bytes) == 1) {
		k->family = AF_INET;
		k->wildcard = memcmp(k->bytes, zero, 4) == 0;
		return true;
	}
	if (inet_pton(AF_INET6, s, k->bytes) == 1) {
		k->family = AF_INET6;
		if (memcmp(k->bytes, v4mapped, 12) == 0) {
			/* "::ffff:127.0.0.1" is 127.0.0.1 */
			memmove(k->bytes, k->bytes + 12, 4);
			memset(k->bytes + 4, 0, 12);
			k->family = AF_INET;
			k->wildcard = memcmp(k->bytes, zero, 4) == 0;
		} else
			k->wildcard = memcmp(k->bytes, zero, 16) == 0;
		return true;
	}
	return false;
}

static bool
addr_overlap(const struct addr_key *a, const struct addr_key *b)
{
	if (a->wildcard || b->wildcard)
		return true;
	return a->family == b->family &&
	    memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/*
 * A listener's "backend" key: required by handler "backend", refused
 * anywhere else (a key that would silently do nothing is a mistake).
 * handler_s is the handler key (NULL when defaulted).
 */
static int
parse_listener_backend(struct loader *ld, config_setting_t *g,
    const config_setting_t *handler_s, struct listener_conf *l)
{
	const struct config *cfg = ld->cfg;
	config_setting_t *s = NULL;
	const char *str = NULL;
	int r;

	l->backend = -1;
	if ((r = get_string(ld, g, "backend", &s, &str)) == -1)
		return -1;
	if (strcmp(l->handler, BACKEND_HANDLER) != 0) {
		if (r == 1)
			return fail(ld, s, "'backend' is only allowed with handler "
			    "\"" BACKEND_HANDLER "\" (listener '%s' uses \"%s\")",
			    l->name, l->handler);
		return 0;
	}
	if (r == 0)
		return fail(ld, handler_s != NULL ? handler_s : g, "listener '%s' with "
		    "handler \"" BACKEND_HANDLER "\" is missing required key 'backend'",
		    l->name);
	for (size_t i = 0; i < cfg->nbackends; i++)
		if (strcmp(cfg->backends[i].name, str) == 0) {
			l->backend = (int)i;
			return 0;
		}
	return fail(ld, s, "listener '%s' names unknown backend '%s'", l->name, str);
}

/*
 * A listener's TCP options: tcp_keepalive = { idle; interval; count; }
 * (the group turns SO_KEEPALIVE on; a sub-key left out keeps the kernel's
 * sysctl default), tcp_user_timeout (seconds, 0 = off), sndbuf, rcvbuf.
 */
static int
parse_listener_tcp(struct loader *ld, const config_setting_t *g, struct listener_conf *l)
{
	config_setting_t *ka = NULL;
	long long v = 0;
	int r;

	if ((r = get_group(ld, g, "tcp_keepalive", &ka)) == -1)
		return -1;
	if (r == 1) {
		if (check_keys(ld, ka, keepalive_keys) == -1)
			return -1;
		l->keepalive = 1;
		if ((r = get_int(ld, ka, "idle", 1, MAX_KEEPIDLE_S, &v)) == -1)
			return -1;
		if (r == 1)
			l->keepalive_idle_s = (int)v;
		if ((r = get_int(ld, ka, "interval", 1, MAX_KEEPINTVL_S, &v)) == -1)
			return -1;
		if (r == 1)
			l->keepalive_interval_s = (int)v;
		if ((r = get_int(ld, ka, "count", 1, MAX_KEEPCNT, &v)) == -1)
			return -1;
		if (r == 1)
			l->keepalive_count = (int)v;
	}
	if (get_seconds(ld, g, "tcp_user_timeout", 0, false, MAX_USER_TIMEOUT_S,
	    &l->user_timeout_ms) == -1)
		return -1;
	if ((r = get_int(ld, g, "sndbuf", MIN_SOCKBUF, MAX_SOCKBUF, &v)) == -1)
		return -1;
	if (r == 1)
		l->sndbuf = (int)v;
	if ((r = get_int(ld, g, "rcvbuf", MIN_SOCKBUF, MAX_SOCKBUF, &v)) == -1)
		return -1;
	if (r == 1)
		l->rcvbuf = (int)v;
	return 0;
}

/* a listener's accept_rate and accept_burst (admission.h) */
static int
parse_listener_admission(struct loader *ld, config_setting_t *g, struct listener_conf *l)
{
	long long v = 0;
	int r;

	if ((r = get_int(ld, g, "accept_rate", 0, ADM_MAX_RATE, &v)) == -1)
		return -1;
	if (r == 1)
		l->accept_rate = (uint32_t)v;
	if ((r = get_int(ld, g, "accept_burst", 0, ADM_MAX_RATE, &v)) == -1)
		return -1;
	if (r == 1)
		l->accept_burst = (uint32_t)v;
	return 0;
}

/*
 * proxy_protocol (a bool) and proxy_trusted (a list of addresses and CIDR
 * ranges, only with proxy_protocol on: without it the list would guard
 * nothing, a mistake to report rather than ignore).
 */
static int
parse_listener_proxy(struct loader *ld, config_setting_t *g, struct listener_conf *l)
{
	config_setting_t *pp = config_setting_get_member(g, "proxy_protocol");
	config_setting_t *list = config_setting_get_member(g, "proxy_trusted");
	int n;

	if (pp != NULL) {
		if (config_setting_type(pp) != CONFIG_TYPE_BOOL)
			return fail(ld, pp, "'proxy_protocol' must be true or false");
		l->proxy_protocol = config_setting_get_bool(pp) != 0;
	}
	if (list == NULL)
		return 0;
	if (!l->proxy_protocol)
		return fail(ld, list, "'proxy_trusted' needs 'proxy_protocol = true;' "
		    "(listener '%s')", l->name);
	if (!config_setting_is_list(list) && !config_setting_is_array(list))
		return fail(ld, list, "'proxy_trusted' must be a list of strings");
	n = config_setting_length(list);
	if (n < 1 || n > CONFIG_MAX_TRUSTED)
		return fail(ld, list, "'proxy_trusted' must have between 1 and %d "
		    "entries (got %d); leave it out to accept any peer",
		    CONFIG_MAX_TRUSTED, n);
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, (unsigned int)i);
		const char *why = NULL;

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return fail(ld, e, "'proxy_trusted' entry %d must be a string", i + 1);
		if (proxyproto_net_parse(config_setting_get_string(e),
		    &l->proxy_trusted[i], &why) == -1)
			return fail(ld, e, "'proxy_trusted' entry '%s': %s (expected an "
			    "address such as \"10.0.0.1\" or a range such as \"10.0.0.0/8\")",
			    config_setting_get_string(e), why);
	}
	l->nproxy_trusted = (size_t)n;
	return 0;
}

static int
parse_listener(struct loader *ld, config_setting_t *g, size_t idx,
    struct addr_key *keys)
{
	struct listener_conf *l = &ld->cfg->listeners[idx];
	config_setting_t *s = NULL, *name_s = NULL, *port_s = NULL;
	const char *str = NULL;
	long long v = 0;
	int r;

	if (!config_setting_is_group(g))
		return fail(ld, g, "each element of 'listeners' must be a group");
	if (check_keys(ld, g, listener_keys) == -1)
		return -1;

	if ((r = get_string(ld, g, "name", &name_s, &str)) == -1)
		return -1;
	if (r == 0)
		return fail(ld, g, "listener is missing required key 'name'");
	if (!valid_name(str))
		return fail(ld, name_s, "'name' must be 1..%d characters of "
		    "A-Z a-z 0-9 _ . - (got '%s')", CONFIG_NAME_MAX - 1, str);
	memcpy(l->name, str, strlen(str) + 1);
	for (size_t i = 0; i < idx; i++)
		if (strcmp(ld->cfg->listeners[i].name, l->name) == 0)
			return fail(ld, name_s, "duplicate listener name '%s'",
			    l->name);

	if ((r = get_string(ld, g, "address", &s, &str)) == -1)
		return -1;
	if (r == 0)
		return fail(ld, g, "listener '%s' is missing required key "
		    "'address'", l->name);
	if (strlen(str) >= sizeof(l->address) || !parse_address(str, &keys[idx]))
		return fail(ld, s, "'address' must be an IPv4 or IPv6 literal "
		    "or \"*\" (got '%s')", str);
	memcpy(l->address, str, strlen(str) + 1);

	if ((r = get_int(ld, g, "port", 1, 65535, &v)) == -1)
		return -1;
	if (r == 0)
		return fail(ld, g, "listener '%s' is missing required key "
		    "'port'", l->name);
	l->port = (int)v;
	port_s = config_setting_get_member(g, "port");
	for (size_t i = 0; i < idx; i++) {
		const struct listener_conf *o = &ld->cfg->listeners[i];

		if (o->port == l->port && addr_overlap(&keys[i], &keys[idx]))
			return fail(ld, port_s, "port %d on '%s' overlaps "
			    "listener '%s' (%s port %d)", l->port, l->address,
			    o->name, o->address, o->port);
	}

	l->codec = CODEC_FRAME;
	if ((r = get_string(ld, g, "codec", &s, &str)) == -1)
		return -1;
	if (r == 1) {
		size_t c;

		for (c = 0; c < sizeof(codec_names) / sizeof(codec_names[0]); c++)
			if (strcmp(str, codec_names[c]) == 0)
				break;
		if (c == sizeof(codec_names) / sizeof(codec_names[0]))
			return fail(ld, s, "unknown codec '%s' (expected "
			    "\"frame\", \"raw\" or \"headers\")", str);
		l->codec = (enum codec)c;
	}

	s = NULL;
	if ((r = get_string(ld, g, "handler", &s, &str)) == -1)
		return -1;
	if (r == 0)
		str = "echo";
	if (str[0] == '\0' || strlen(str) >= sizeof(l->handler))
		return fail(ld, s, "'handler' must be 1..%zu bytes",
		    sizeof(l->handler) - 1);
	memcpy(l->handler, str, strlen(str) + 1);
	/* the caller resolves the handler later and needs a line to blame */
	l->handler_line = (int)config_setting_source_line(s != NULL ? s : g);
	if (parse_listener_backend(ld, g, s, l) == -1)
		return -1;

	if ((r = get_string(ld, g, "magic", &s, &str)) == -1)
		return -1;
	if (r == 1) {
		size_t n = strlen(str);

		if (l->codec != CODEC_HEADERS)
			return fail(ld, s, "'magic' is only allowed with codec "
			    "\"headers\" (listener '%s' uses \"%s\")", l->name,
			    codec_names[l->codec]);
		if (n < 1 || n > CONFIG_MAGIC_MAX)
			return fail(ld, s, "'magic' must be 1..%d bytes (got %zu)",
			    CONFIG_MAGIC_MAX, n);
		memcpy(l->magic, str, n);
		l->magic_len = n;
	} else if (l->codec == CODEC_HEADERS) {
		l->magic_len = strlen(DEF_MAGIC);
		memcpy(l->magic, DEF_MAGIC, l->magic_len);
	}

	l->heartbeat_ms = l->codec == CODEC_FRAME ? DEF_HEARTBEAT_FRAME_MS : 0;
	l->deadline_ms = 0;
	l->frame_timeout_ms = DEF_FRAME_TIMEOUT_MS;
	l->write_timeout_ms = DEF_WRITE_TIMEOUT_MS;
	if (get_seconds(ld, g, "heartbeat_timeout", 0, false, MAX_TIMEOUT_S,
	    &l->heartbeat_ms) == -1 ||
	    get_seconds(ld, g, "deadline", 0, false, MAX_TIMEOUT_S,
	    &l->deadline_ms) == -1 ||
	    get_seconds(ld, g, "frame_timeout", 0, false, MAX_TIMEOUT_S,
	    &l->frame_timeout_ms) == -1 ||
	    get_seconds(ld, g, "write_timeout", 0, false, MAX_TIMEOUT_S,
	    &l->write_timeout_ms) == -1)
		return -1;
	if (parse_listener_admission(ld, g, l) == -1)
		return -1;
	/* after the heartbeat is known: the first message defaults to it */
	l->first_message_ms = l->heartbeat_ms != 0 ? l->heartbeat_ms :
	    DEF_FIRST_MESSAGE_MS;
	if (get_seconds(ld, g, "first_message_timeout", 0, false, MAX_TIMEOUT_S,
	    &l->first_message_ms) == -1)
		return -1;
	if (parse_listener_tcp(ld, g, l) == -1)
		return -1;
	if (parse_listener_proxy(ld, g, l) == -1)
		return -1;
	return 0;
}

static int
parse_listeners(struct loader *ld, const config_setting_t *root)
{
	struct config *cfg = ld->cfg;
	struct addr_key keys[MAX_LISTENERS];
	config_setting_t *list;
	int n;

	if ((list = config_setting_get_member(root, "listeners")) == NULL)
		return fail(ld, NULL, "missing required key 'listeners'");
	if (!config_setting_is_list(list))
		return fail(ld, list, "'listeners' must be a list");
	n = config_setting_length(list);
	if (n < 1 || n > MAX_LISTENERS)
		return fail(ld, list, "'listeners' must have between 1 and %d "
		    "entries (got %d)", MAX_LISTENERS, n);
	if ((cfg->listeners = calloc((size_t)n, sizeof(*cfg->listeners))) == NULL)
		return fail(ld, list, "out of memory");
	for (int i = 0; i < n; i++) {
		cfg->nlisteners = (size_t)i + 1;
		if (parse_listener(ld, config_setting_get_elem(list,
		    (unsigned int)i), (size_t)i, keys) == -1)
			return -1;
	}
	return 0;
}

/*
 * "unix:/path" or "HOST:PORT" with HOST an IPv4 literal or a bracketed
 * IPv6 one: the worker connects without a resolver (a lookup would block
 * its loop), so a name is refused here rather than failing at run time.
 */
static int
parse_backend_address(struct loader *ld, const config_setting_t *s, const char *str,
    struct backend_conf *b)
{
	const char *colon, *host;
	char hostbuf[64], *end;
	size_t hlen;
	long port;

	if (strncmp(str, "unix:", 5) == 0) {
		if (str[5] == '\0' || strlen(str + 5) >= sizeof(b->unix_path))
			return fail(ld, s, "'address' unix path must be 1..%zu bytes",
			    sizeof(b->unix_path) - 1);
		b->is_unix = 1;
		memcpy(b->unix_path, str + 5, strlen(str + 5) + 1);
		/* the daemon chdir()s to /: a relative path must mean what it meant here */
		return absolutize(ld, s, "address", b->unix_path, sizeof(b->unix_path));
	}
	colon = strrchr(str, ':');
	if (colon == NULL || colon == str)
		goto bad;
	host = str;
	hlen = (size_t)(colon - str);
	if (host[0] == '[') {
		if (hlen < 3 || host[hlen - 1] != ']')
			goto bad;
		host++;
		hlen -= 2;
	}
	if (hlen >= sizeof(hostbuf))
		goto bad;
	memcpy(hostbuf, host, hlen);
	hostbuf[hlen] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 1 || port > 65535)
		goto bad;
	b->port = (int)port;
	if (str[0] != '[' && inet_pton(AF_INET, hostbuf, b->ip) == 1)
		return 0;
	if (str[0] == '[' && inet_pton(AF_INET6, hostbuf, b->ip) == 1) {
		b->ip_v6 = 1;
		return 0;
	}
bad:
	return fail(ld, s, "'address' must be \"unix:/PATH\", \"IPV4:PORT\" or "
	    "\"[IPV6]:PORT\" (got '%s')", str);
}

static int
parse_backend(struct loader *ld, config_setting_t *g, size_t idx)
{
	struct backend_conf *b = &ld->cfg->backends[idx];
	config_setting_t *s = NULL, *name_s = NULL;
	const char *str = NULL;
	long long v = 0;
	int r;

	if (!config_setting_is_group(g))
		return fail(ld, g, "each element of 'backends' must be a group");
	if (check_keys(ld, g, backend_keys) == -1)
		return -1;
	if ((r = get_string(ld, g, "name", &name_s, &str)) == -1)
		return -1;
	if (r == 0)
		return fail(ld, g, "backend is missing required key 'name'");
	if (!valid_name(str))
		return fail(ld, name_s, "'name' must be 1..%d characters of "
		    "A-Z a-z 0-9 _ . - (got '%s')", CONFIG_NAME_MAX - 1, str);
	memcpy(b->name, str, strlen(str) + 1);
	for (size_t i = 0; i < idx; i++)
		if (strcmp(ld->cfg->backends[i].name, b->name) == 0)
			return fail(ld, name_s, "duplicate backend name '%s'", b->name);

	if ((r = get_string(ld, g, "address", &s, &str)) == -1)
		return -1;
	if (r == 0)
		return fail(ld, g, "backend '%s' is missing required key 'address'", b->name);
	if (strlen(str) >= sizeof(b->address))
		return fail(ld, s, "'address' is too long");
	memcpy(b->address, str, strlen(str) + 1);
	if (parse_backend_address(ld, s, str, b) == -1)
		return -1;

	b->on_down = ON_DOWN_HOLD;
	if ((r = get_string(ld, g, "on_down", &s, &str)) == -1)
		return -1;
	if (r == 1) {
		size_t c;

		for (c = 0; c < sizeof(on_down_names) / sizeof(on_down_names[0]); c++)
			if (strcmp(str, on_down_names[c]) == 0)
				break;
		if (c == sizeof(on_down_names) / sizeof(on_down_names[0]))
			return fail(ld, s, "unknown on_down '%s' (expected \"hold\", "
			    "\"refuse\" or \"close\")", str);
		b->on_down = (enum backend_on_down)c;
	}
	b->max_pending = 4194304;
	if ((r = get_int(ld, g, "max_pending", 65536, 1LL << 40, &v)) == -1)
		return -1;
	if (r == 1)
		b->max_pending = (uint64_t)v;
	b->reconnect_min_ms = 100;
	b->reconnect_max_ms = 5000;
	b->link_timeout_ms = 10000;
	if (get_seconds(ld, g, "reconnect_min", 0, true, MAX_LINK_S, &b->reconnect_min_ms) == -1 ||
	    get_seconds(ld, g, "reconnect_max", 0, true, MAX_LINK_S, &b->reconnect_max_ms) == -1 ||
	    get_seconds(ld, g, "link_timeout", 0, true, MAX_LINK_S, &b->link_timeout_ms) == -1)
		return -1;
	if (b->reconnect_min_ms > b->reconnect_max_ms)
		return fail(ld, config_setting_get_member(g, "reconnect_min") != NULL ?
		    config_setting_get_member(g, "reconnect_min") :
		    config_setting_get_member(g, "reconnect_max"),
		    "'reconnect_min' (%.3g s) must not exceed 'reconnect_max' (%.3g s)",
		    b->reconnect_min_ms / 1000.0, b->reconnect_max_ms / 1000.0);
	/* a ping every third of it must still be a tick apart */
	if (b->link_timeout_ms < 30)
		return fail(ld, config_setting_get_member(g, "link_timeout"),
		    "'link_timeout' must be at least 0.03 seconds");
	return 0;
}

static int
parse_backends(struct loader *ld, const config_setting_t *root)
{
	struct config *cfg = ld->cfg;
	config_setting_t *list;
	long long v = 0;
	int n, r;

	if ((r = get_int(ld, root, "node_id", 0, 65535, &v)) == -1)
		return -1;
	if (r == 1)
		cfg->node_id = (uint32_t)v;
	if ((list = config_setting_get_member(root, "backends")) == NULL)
		return 0;
	if (!config_setting_is_list(list))
		return fail(ld, list, "'backends' must be a list");
	n = config_setting_length(list);
	if (n > CONFIG_MAX_BACKENDS)
		return fail(ld, list, "'backends' must have at most %d entries (got %d)",
		    CONFIG_MAX_BACKENDS, n);
	if (n == 0)
		return 0;
	if ((cfg->backends = calloc((size_t)n, sizeof(*cfg->backends))) == NULL)
		return fail(ld, list, "out of memory");
	for (int i = 0; i < n; i++) {
		cfg->nbackends = (size_t)i + 1;
		if (parse_backend(ld, config_setting_get_elem(list, (unsigned int)i),
		    (size_t)i) == -1)
			return -1;
	}
	return 0;
}

static void
set_defaults(struct config *cfg)
{
	cfg->workers = 0;
	cfg->backend = EVB_EPOLL;
	snprintf(cfg->pid_file, sizeof(cfg->pid_file), "%s", DEF_PID_FILE);
	snprintf(cfg->stats_path, sizeof(cfg->stats_path), "%s", DEF_STATS_PATH);
	snprintf(cfg->log_target, sizeof(cfg->log_target), "%s", "stderr");
	cfg->log_level = LOG_LVL_INFO;
	cfg->log_facility = LOG_DAEMON;
	cfg->max_connections = 100000;
	cfg->max_frame = 1048576;
	cfg->max_output = 4194304;
	cfg->backlog = 4096;
	cfg->max_buffer_memory = 268435456;
	cfg->ip_table_size = ADM_DEFAULT_ENTRIES;
	cfg->tick_ms = 100;
	cfg->slots = 512;
	cfg->hung_timeout_ms = 10000;
	cfg->stats_interval_s = 60;
	cfg->shutdown_timeout_ms = 30000;
}

/* libconfig's parse of ld->path into lc; its errors as "FILE:LINE: message" */
static int
parse_file(struct loader *ld, config_t *lc)
{
	if (config_read_file(lc, ld->path) == CONFIG_TRUE)
		return 0;
	if (config_error_type(lc) == CONFIG_ERR_FILE_IO &&
	    config_error_line(lc) <= 0)
		return fail(ld, NULL, "%s", config_error_text(lc));
	return fail_at(ld, config_error_file(lc) != NULL ?
	    config_error_file(lc) : ld->path,
	    (unsigned int)config_error_line(lc), "%s", config_error_text(lc));
}

int
config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	struct loader ld = { path, err, errlen, NULL };
	config_t lc;
	char *text = NULL;
	size_t len = 0;
	int rv = -1;

	memset(cfg, 0, sizeof(*cfg));
	ld.cfg = cfg;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	set_defaults(cfg);
	if (strlen(path) >= sizeof(cfg->path)) {
		fail(&ld, NULL, "path is too long");
		memset(cfg, 0, sizeof(*cfg));
		return -1;
	}
	memcpy(cfg->path, path, strlen(path) + 1);
	memcpy(cfg->display_path, path, strlen(path) + 1);
	/* kept absolute so a reload after chdir("/") reads the same file */
	if (absolutize(&ld, NULL, "path", cfg->path, sizeof(cfg->path)) == -1) {
		memset(cfg, 0, sizeof(*cfg));
		return -1;
	}

	/*
	 * Read it ourselves first: libconfig reports a missing file only as
	 * "file I/O error", and the integer check needs the text anyway.
	 */
	if (read_whole_file(&ld, ld.path, &text, &len) == -1) {
		memset(cfg, 0, sizeof(*cfg));
		return -1;
	}

	config_init(&lc);
	if (parse_file(&ld, &lc) == -1)
		goto out;
	if (check_int_literals(&ld, ld.path, text, len, 0) == -1)
		goto out;

	if (parse_top(&ld, config_root_setting(&lc)) == -1 ||
	    parse_log(&ld, config_root_setting(&lc)) == -1 ||
	    parse_limits(&ld, config_root_setting(&lc)) == -1 ||
	    parse_timer(&ld, config_root_setting(&lc)) == -1 ||
	    check_hung_timeout(&ld, config_root_setting(&lc)) == -1 ||
	    parse_backends(&ld, config_root_setting(&lc)) == -1 ||
	    parse_listeners(&ld, config_root_setting(&lc)) == -1)
		goto out;
	rv = 0;
out:
	/* messages were formatted from libconfig's strings: safe to destroy */
	config_destroy(&lc);
	free(text);
	if (rv == -1) {
		config_free(cfg);
		memset(cfg, 0, sizeof(*cfg));
	}
	return rv;
}

int
config_peek_paths(const char *path, char *pid_file, char *stats_path,
    size_t len, char *err, size_t errlen)
{
	struct loader ld = { path, err, errlen, NULL };
	char pid[CONFIG_PATH_MAX] = DEF_PID_FILE;
	char stats[CONFIG_PATH_MAX] = DEF_STATS_PATH;
	config_setting_t *root;
	config_t lc;
	char *text = NULL;
	size_t tlen = 0;
	int rv = -1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	/* for config_load's messages about a missing file or a directory */
	if (read_whole_file(&ld, ld.path, &text, &tlen) == -1)
		return -1;
	free(text);
	config_init(&lc);
	if (parse_file(&ld, &lc) == -1)
		goto out;
	root = config_root_setting(&lc);
	if (get_path(&ld, root, "pid_file", pid, sizeof(pid)) == -1 ||
	    get_path(&ld, root, "stats_path", stats, sizeof(stats)) == -1)
		goto out;
	if ((pid_file != NULL && strlen(pid) >= len) ||
	    (stats_path != NULL && strlen(stats) >= len)) {
		fail(&ld, NULL, "pid_file or stats_path is longer than %zu bytes",
		    len == 0 ? 0 : len - 1);
		goto out;
	}
	if (pid_file != NULL)
		memcpy(pid_file, pid, strlen(pid) + 1);
	if (stats_path != NULL)
		memcpy(stats_path, stats, strlen(stats) + 1);
	rv = 0;
out:
	config_destroy(&lc);
	return rv;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->listeners);
	cfg->listeners = NULL;
	cfg->nlisteners = 0;
	free(cfg->backends);
	cfg->backends = NULL;
	cfg->nbackends = 0;
}

const char *
config_codec_name(enum codec c)
{
	if ((size_t)c < sizeof(codec_names) / sizeof(codec_names[0]))
		return codec_names[c];
	return "unknown";
}

const char *
config_on_down_name(enum backend_on_down d)
{
	if ((size_t)d < sizeof(on_down_names) / sizeof(on_down_names[0]))
		return on_down_names[d];
	return "unknown";
}

const char *
config_backend_name(enum ev_backend b)
{
	if ((size_t)b < sizeof(backend_names) / sizeof(backend_names[0]))
		return backend_names[b];
	return "unknown";
}
