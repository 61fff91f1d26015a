/*
 * handler: the registry of named handlers and the two built-in ones.
 *   echo  sends every message back (framed like it came).
 *   log   logs "NAME ADDR:PORT received N bytes: <text>" and sends nothing.
 */
#include "handler.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

#define HANDLER_MAX 32
#define LOG_TEXT_MAX 256

static const struct handler *registry[HANDLER_MAX];
static size_t nregistered;

int
handler_register(const struct handler *h)
{
	if (h == NULL || h->name == NULL || h->name[0] == '\0' || h->message == NULL)
		return -1;
	if (handler_find(h->name) != NULL || nregistered == HANDLER_MAX)
		return -1;
	registry[nregistered++] = h;
	return 0;
}

const struct handler *
handler_find(const char *name)
{
	for (size_t i = 0; i < nregistered; i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

static void
echo_message(struct conn *c, const uint8_t *data, size_t len)
{
	conn_send(c, data, len);
}

/* printable ASCII as is, everything else as \n, \t, \\ or \xNN; cut at LOG_TEXT_MAX input bytes */
static void
escape_text(const uint8_t *data, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len && i < LOG_TEXT_MAX && o + 5 < outlen; i++) {
		uint8_t ch = data[i];
		if (ch == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
		} else if (ch == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (ch == '\r') {
			out[o++] = '\\';
			out[o++] = 'r';
		} else if (ch == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
		} else if (ch >= 0x20 && ch < 0x7f) {
			out[o++] = (char)ch;
		} else {
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", ch);
		}
	}
	if (len > LOG_TEXT_MAX && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static void
log_message(struct conn *c, const uint8_t *data, size_t len)
{
	char text[LOG_TEXT_MAX * 4 + 8], peer[64];

	escape_text(data, len, text, sizeof(text));
	log_info("%s %s received %zu bytes: %s", conn_listener_name(c),
	    conn_peer_str(c, peer, sizeof(peer)), len, text);
}

static const struct handler echo_handler = {
	.name = "echo",
	.message = echo_message,
};

static const struct handler log_handler = {
	.name = "log",
	.message = log_message,
};

void
handler_register_builtins(void)
{
	if (handler_find("echo") == NULL)
		handler_register(&echo_handler);
	if (handler_find("log") == NULL)
		handler_register(&log_handler);
}
