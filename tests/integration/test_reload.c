/*
 * Reload in the foreground: old workers drain with no cut-off, so a
 * long-lived connection established before a reload outlives
 * shutdown_timeout and keeps echoing; new clients go to the new workers.
 * Stats slot accounting across reloads (issue 11 hole 3): every boundary
 * of the 256 physical slots, from 1 -> 1 -> 255 (which wrote slots[-1])
 * to a reload refused because draining workers still hold the slots it
 * needs, after which the server goes on serving and a later reload works.
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

/* one echo on a new connection: the server is serving */
static void
served(struct srv *s, const char *text)
{
	int fd = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));

	IT_ASSERT(fd >= 0);
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, text, (uint32_t)strlen(text)), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, text, strlen(text));
	close(fd);
}

/* rewrite workers = n, SIGHUP, and wait for "reload done: generation gen, n workers" */
static void
reload_to(struct srv *s, int n, int gen)
{
	char want[128];

	set_workers(s, n);
	IT_ASSERT(kill(s->pid, SIGHUP) == 0);
	snprintf(want, sizeof(want), "reload done: generation %d, %d workers", gen, n);
	if (srv_log_wait(s, 60000, NULL, 0, "%s", want) == -1) {
		srv_dump_log(s, 30);
		IT_FAIL("no \"%s\"", want);
	}
	/* the master is alive: a dead one would have taken its listeners with it */
	IT_ASSERT(kill(s->pid, 0) == 0);
}

/* until every old worker of the last reload has gone, so the next one starts from here */
static void
drained(struct srv *s, int nold)
{
	if (srv_log_wait_count(s, nold, 60000, "old worker [0-9]+ \\(pid [0-9]+\\) exited") < nold) {
		srv_dump_log(s, 30);
		IT_FAIL("%d old workers did not all exit", nold);
	}
}

static const struct srv_opts one_worker = {
	.workers = 1,
	.listeners = { { .name = "long", .codec = "frame", .handler = "echo" } },
};

/* the audit's sequence: the first slot freed by a drain was never given out again */
static void
test_reload_one_to_one_to_255_workers(void)
{
	struct srv *s = srv_start(&one_worker);

	reload_to(s, 1, 2);
	drained(s, 1);
	served(s, "after 1 -> 1");
	srv_log_mark(s);
	reload_to(s, 255, 3);
	served(s, "after 1 -> 255");
	IT_ASSERT(srv_log_wait_count(s, 255, 60000, "worker [0-9]+ running") == 255);
	/* the one old worker must be gone, or its slot is not free yet (it may
	 * get no CPU while 255 workers start on a 2-core machine) */
	drained(s, 1);
	srv_log_mark(s);
	/* 255 in use leave one slot: 2 new workers do not fit, and that is all it does */
	set_workers(s, 2);
	IT_ASSERT(kill(s->pid, SIGHUP) == 0);
	IT_ASSERT(srv_log_wait(s, 10000, NULL, 0, "reload failed, keeping the running "
	    "configuration: 2 workers need 2 free stats slots and 1 are free") == 0);
	served(s, "after a refused 255 -> 2");
	srv_log_mark(s);
	/* one does: the last free slot; then 255 old workers drain and their slots come back */
	reload_to(s, 1, 4);
	drained(s, 255);
	served(s, "after 255 -> 1");
	srv_log_mark(s);
	reload_to(s, 254, 5);
	served(s, "after 1 -> 254");
}

/* each reload asks for more workers than any earlier generation had, then shrinks */
static void
test_reload_growth_past_every_earlier_count_and_shrink(void)
{
	static const int seq[] = { 2, 3, 5, 9, 17, 4, 1, 33, 1 };
	struct srv *s = srv_start(&one_worker);
	int prev = 1;

	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		char text[32];

		reload_to(s, seq[i], (int)i + 2);
		drained(s, prev);
		snprintf(text, sizeof(text), "after %d -> %d", prev, seq[i]);
		served(s, text);
		srv_log_mark(s);
		prev = seq[i];
	}
}

/*
 * 1 worker with a client, reload to 128: the old worker drains and keeps
 * its slot while its client stays, so 256 - 128 - 1 = 127 slots are free
 * and a reload to 128 must be refused, logged, and change nothing.  Once
 * the client leaves, the same reload works.
 */
static void
test_reload_refused_while_draining_workers_hold_the_slots(void)
{
	struct srv *s = srv_start(&one_worker);
	int held = cli_connect(srv_addr(s, "long"), srv_port(s, "long"));
	char line[1024];

	IT_ASSERT(held >= 0);
	IT_ASSERT_STATUS(cli_send_frame(held, FRAME_DATA, "held", 4), CLI_OK);
	IT_EXPECT_FRAME(held, FRAME_DATA, "held", 4);
	reload_to(s, 128, 2);
	srv_log_mark(s);

	set_workers(s, 128);
	IT_ASSERT(kill(s->pid, SIGHUP) == 0);
	if (srv_log_wait(s, 10000, line, sizeof(line), "reload failed, keeping the running "
	    "configuration: 128 workers need 128 free stats slots and 127 are free \\(1 old "
	    "workers still draining\\)") == -1) {
		srv_dump_log(s, 30);
		IT_FAIL("no reload failure line");
	}
	IT_ASSERT_INT(srv_log_count(s, "reload done"), ==, 0);
	IT_ASSERT(kill(s->pid, 0) == 0);
	/* nothing changed: the draining client and new ones are served */
	IT_ASSERT_STATUS(cli_send_frame(held, FRAME_DATA, "still", 5), CLI_OK);
	IT_EXPECT_FRAME(held, FRAME_DATA, "still", 5);
	served(s, "while refused");
	/* the slots come back with the old worker */
	close(held);
	drained(s, 1);
	srv_log_mark(s);
	reload_to(s, 128, 3);
	served(s, "after the slots came back");
}

static const struct it_test reload_tests[] = {
	{ "test_reload_drains_old_workers_without_cutting_connections",
	    test_reload_drains_old_workers_without_cutting_connections, 0 },
	{ "test_reload_to_fewer_workers_strands_no_client",
	    test_reload_to_fewer_workers_strands_no_client, 0 },
	{ "test_reload_one_to_one_to_255_workers", test_reload_one_to_one_to_255_workers, 180 },
	{ "test_reload_growth_past_every_earlier_count_and_shrink",
	    test_reload_growth_past_every_earlier_count_and_shrink, 180 },
	{ "test_reload_refused_while_draining_workers_hold_the_slots",
	    test_reload_refused_while_draining_workers_hold_the_slots, 120 },
	{ NULL, NULL, 0 }
};
IT_SUITE(reload, reload_tests)
