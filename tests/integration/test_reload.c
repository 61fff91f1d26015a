/*
 * Reload in the foreground: old workers drain with no cut-off, so a
 * long-lived connection established before a reload outlives
 * shutdown_timeout and keeps echoing; new clients go to the new workers.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* rewrite the server's config with workers = n */
static void
set_workers(struct srv *s, int n)
{
	char *text, *p, buf[32];
	FILE *f = fopen(s->cfg_path, "r");
	long len;

	IT_ASSERT(f != NULL);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 64);
	IT_ASSERT(text != NULL && fread(text, 1, (size_t)len, f) == (size_t)len);
	fclose(f);
	p = strstr(text, "workers = ");
	IT_ASSERT(p != NULL);
	snprintf(buf, sizeof(buf), "workers = %d;", n);
	/* replace "workers = N;" in place, the rest unchanged */
	{
		char *end = strchr(p, ';');
		IT_ASSERT(end != NULL);
		char *rest = strdup(end + 1);
		strcpy(p, buf);
		strcat(p, rest);
		free(rest);
	}
	IT_ASSERT(it_write_file(s->cfg_path, text) == 0);
	free(text);
}

static void
test_reload_drains_old_workers_without_cutting_connections(void)
{
	struct srv_opts o = {
		.workers = 1,
		.extra = "shutdown_timeout = 1;",
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo",
		    .extra = "heartbeat_timeout = 30;" } },
	};
	struct srv *s = srv_start(&o);
	int old = cli_connect(srv_addr(s, "long"), srv_port(s, "long")), fresh;

	IT_ASSERT(old >= 0);
	IT_ASSERT_STATUS(cli_send_frame(old, FRAME_DATA, "before", 6), CLI_OK);
	IT_EXPECT_FRAME(old, FRAME_DATA, "before", 6);

	set_workers(s, 2);
	IT_ASSERT(kill(s->pid, SIGHUP) == 0);
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "reload done: generation 2, 2 workers, 1 draining") == 0);

	/* well past shutdown_timeout: the old worker still serves its client */
	it_sleep_ms(2500);
	IT_ASSERT_STATUS(cli_send_frame(old, FRAME_DATA, "after", 5), CLI_OK);
	IT_EXPECT_FRAME(old, FRAME_DATA, "after", 5);
	IT_ASSERT_INT(srv_log_count(s, "close long .* reason shutdown"), ==, 0);

	/* new clients are served by the new generation */
	fresh = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
	IT_ASSERT(fresh >= 0);
	IT_ASSERT_STATUS(cli_send_frame(fresh, FRAME_DATA, "new", 3), CLI_OK);
	IT_EXPECT_FRAME(fresh, FRAME_DATA, "new", 3);

	/* when its last client goes, the old worker leaves by itself */
	close(old);
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "old worker 0 \\(pid [0-9]+\\) exited with status 0") == 0);
	close(fresh);
}


/*
 * Every worker holds every slot's listening socket (to adopt a down
 * slot's clients), so a draining worker must let go of them all: slot 1's
 * socket, gone from a one-worker configuration, would otherwise stay in
 * the SO_REUSEPORT group with nobody accepting, and the clients hashed to
 * it would wait forever.
 */
static void
test_reload_to_fewer_workers_strands_no_client(void)
{
	enum { NHELD = 8, NNEW = 24 };
	struct srv_opts o = {
		.workers = 2,
		.listeners = { { .name = "long", .codec = "frame", .handler = "echo",
		    .extra = "heartbeat_timeout = 30;" } },
	};
	struct srv *s = srv_start(&o);
	int held[NHELD], i;
	char msg[32];

	/* the old workers keep draining (and running) while these are open */
	for (i = 0; i < NHELD; i++) {
		held[i] = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
		IT_ASSERT(held[i] >= 0);
		IT_ASSERT_STATUS(cli_send_frame(held[i], FRAME_DATA, "held", 4), CLI_OK);
		IT_EXPECT_FRAME(held[i], FRAME_DATA, "held", 4);
	}
	set_workers(s, 1);
	IT_ASSERT(kill(s->pid, SIGHUP) == 0);
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "reload done: generation 2, 1 workers, "
	    "[12] draining") == 0);
	IT_ASSERT(srv_log_wait(s, 5000, NULL, 0, "worker 0 running") == 0);
	for (i = 0; i < NNEW; i++) {
		int fd = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
		struct it_frame f;
		int st;

		IT_ASSERT(fd >= 0);
		snprintf(msg, sizeof(msg), "new %d", i);
		IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, msg, (uint32_t)strlen(msg)), CLI_OK);
		/* a client in a queue nobody accepts from would wait forever */
		st = cli_read_frame(fd, &f, 1000);
		if (st != CLI_OK)
			IT_FAIL("new client %d got no echo within 1 s (%s): stranded in a socket "
			    "the reload removed", i, cli_status_name(st));
		IT_ASSERT_INT(f.len, ==, strlen(msg));
		it_frame_free(&f);
		close(fd);
	}
	for (i = 0; i < NHELD; i++) {
		IT_ASSERT_STATUS(cli_send_frame(held[i], FRAME_DATA, "still", 5), CLI_OK);
		IT_EXPECT_FRAME(held[i], FRAME_DATA, "still", 5);
		close(held[i]);
	}
}

static const struct it_test reload_tests[] = {
	{ "test_reload_drains_old_workers_without_cutting_connections",
	    test_reload_drains_old_workers_without_cutting_connections, 0 },
	{ "test_reload_to_fewer_workers_strands_no_client",
	    test_reload_to_fewer_workers_strands_no_client, 0 },
	{ NULL, NULL, 0 }
};
IT_SUITE(reload, reload_tests)
