/*
 * handler: the registry of named handlers and the built-in ones.
 *   echo     sends every message back (framed like it came).
 *   log      logs "NAME ADDR:PORT received N bytes: <text>" and sends nothing.
 *   backend  hands every event to an application over the link (backend.c).
 */
#include "handler.h"

#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "escape.h"
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

static void
log_message(struct conn *c, const uint8_t *data, size_t len)
{
	/* the text is cut at LOG_TEXT_MAX input bytes and then ends in "..." */
	char text[ESCAPE_SIZE(LOG_TEXT_MAX) + 3], peer[64];
	size_t o = escape_bytes(text, sizeof(text), data, len < LOG_TEXT_MAX ? len : LOG_TEXT_MAX);

	if (len > LOG_TEXT_MAX)
		memcpy(text + o, "...", 4);
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
	/*
	 * Only a full registry can refuse them here; a listener naming the
	 * missing one is then reported by the configuration check.
	 */
	if (handler_find("echo") == NULL)
		(void)!handler_register(&echo_handler);
	if (handler_find("log") == NULL)
		(void)!handler_register(&log_handler);
	if (handler_find("backend") == NULL)
		(void)!handler_register(backend_handler());
}
