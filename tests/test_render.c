/*
 * render tests: hand-built snapshots rendered as JSON (parsed back field by
 * field, and one exact string that pins the format), Prometheus text
 * (HELP/TYPE once per metric, label syntax, values) and the table (a row per
 * slot, the total row, aligned columns); and a snapshot taken from a real
 * segment.
 */
#include <CUnit/CUnit.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "minijson.h"
#include "render.h"

void test_render_register(void);

#define NOW_MS 5000000ULL
#define START_MS (NOW_MS - 3723500ULL)	/* up 1 h 02 min 03.5 s */

static struct render_snapshot snap;

static struct stats_slot *
add_slot(struct render_snapshot *sn, uint32_t phys, uint32_t worker, int32_t pid,
    uint32_t state, uint64_t cfg_gen)
{
	struct stats_slot *s = &sn->slot[sn->nslots];

	memset(s, 0, sizeof(*s));
	sn->phys[sn->nslots++] = phys;
	s->worker = worker;
	s->pid = pid;
	s->state = state;
	s->config_generation = cfg_gen;
	s->generation = 1;
	s->started_ms = START_MS + 10;
	s->loop_ms = NOW_MS;
	return s;
}

/*
 * A server after a reload to generation 2 with three workers: worker 0's
 * old process still drains beside its successor, worker 1 died twice
 * before, worker 2 is dead and waiting out a crash backoff.  The slots are
 * listed out of order, as free physical slots are handed out.
 */
static void
build(struct render_snapshot *sn)
{
	struct stats_slot *s;

	memset(sn, 0, sizeof(*sn));
	sn->master_pid = 4242;
	sn->workers_configured = 3;
	sn->start_time = 1700000000;
	sn->start_mono_ms = START_MS;
	sn->config_generation = 2;
	sn->now_ms = NOW_MS;

	/* worker 1: two earlier processes died, one held 4 connections */
	s = add_slot(sn, 3, 1, 301, WS_RUNNING, 2);
	s->generation = 3;
	s->restarts = 2;
	s->loop_ms = NOW_MS - 1234;
	s->dead.accepted = 40;
	s->dead.closed[CLOSE_PEER] = 36;
	s->dead.closed[CLOSE_ERROR] = 4;
	s->dead.messages_in = 400;
	s->dead.messages_out = 400;
	s->dead.bytes_in = 4000;
	s->dead.bytes_out = 4000;
	s->cur.accepted = 6;
	s->cur.closed[CLOSE_PEER] = 6;
	s->cur.messages_in = 60;
	s->cur.messages_out = 60;
	s->cur.bytes_in = 600;
	s->cur.bytes_out = 600;

	/* worker 0, generation 1, draining */
	s = add_slot(sn, 0, 0, 100, WS_DRAINING, 1);
	s->loop_ms = NOW_MS - 50;
	s->connections = 3;
	s->cur.accepted = 10;
	s->cur.closed[CLOSE_PEER] = 7;
	s->cur.messages_in = 20;
	s->cur.messages_out = 21;
	s->cur.bytes_in = 200;
	s->cur.bytes_out = 210;
	s->cur.protocol_errors = 1;

	/* worker 2: exited, respawn pending */
	s = add_slot(sn, 5, 2, 250, WS_EXITED, 2);
	s->generation = 7;
	s->restarts = 6;
	s->loop_ms = NOW_MS - 900;
	s->dead.accepted = 2;
	s->dead.closed[CLOSE_ERROR] = 2;

	/* worker 0, generation 2 */
	s = add_slot(sn, 2, 0, 200, WS_RUNNING, 2);
	s->connections = 3;
	s->cur.accepted = 5;
	s->cur.closed[CLOSE_HEARTBEAT] = 2;
	s->cur.messages_in = 8;
	s->cur.messages_out = 8;
	s->cur.bytes_in = 80;
	s->cur.bytes_out = 80;
}

static char *
lines_find(char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	for (char *p = text; p != NULL && *p != '\0'; ) {
		if (strncmp(p, prefix, n) == 0)
			return p;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

/* the value of the sample line "series value" in Prometheus text, -1 if absent */
static double
prom_value(char *text, const char *series)
{
	char prefix[256];
	char *line;

	snprintf(prefix, sizeof(prefix), "%s ", series);
	line = lines_find(text, prefix);
	return line != NULL ? strtod(line + strlen(prefix), NULL) : -1;
}

/* ---- JSON ---- */

static const char *const reasons[CLOSE_NREASONS] = {
	"peer", "heartbeat", "deadline", "frame_timeout", "write_timeout",
	"first_message_timeout", "protocol_error", "too_large", "server_full", "shutdown", "error",
	"backend", "limit_ip", "limit_rate",
};

static uint64_t
u(const struct mj *v, const char *key)
{
	uint64_t x = UINT64_MAX;

	CU_ASSERT_EQUAL(mj_uint(v, key, &x), 0);
	if (mj_uint(v, key, &x) != 0)
		fprintf(stderr, "\n    no integer \"%s\"\n", key);
	return x;
}

static void
check_worker(const struct mj *w, uint64_t slot, uint64_t pid, const char *state,
    uint64_t conns, uint64_t acc, const uint64_t closed[CLOSE_NREASONS], uint64_t restarts,
    uint64_t loop_age)
{
	const struct mj *c = mj_get(w, "closed");

	CU_ASSERT_EQUAL(u(w, "slot"), slot);
	CU_ASSERT_EQUAL(u(w, "pid"), pid);
	CU_ASSERT_STRING_EQUAL(mj_str(w, "state") ? mj_str(w, "state") : "(none)", state);
	CU_ASSERT_EQUAL(u(w, "connections"), conns);
	CU_ASSERT_EQUAL(u(w, "accepted"), acc);
	CU_ASSERT_EQUAL(u(w, "restarts"), restarts);
	CU_ASSERT_EQUAL(u(w, "loop_age_ms"), loop_age);
	CU_ASSERT_FATAL(c != NULL && c->type == MJ_OBJ);
	CU_ASSERT_EQUAL(c->n, CLOSE_NREASONS);
	for (int r = 0; r < CLOSE_NREASONS; r++)
		CU_ASSERT_EQUAL(u(c, reasons[r]), closed[r]);
}

static void
test_json_parses_back_field_by_field(void)
{
	char *text, err[200];
	struct mj *root;
	const struct mj *ws, *w, *t, *tw;
	uint64_t c0old[CLOSE_NREASONS] = { [CLOSE_PEER] = 7 };
	uint64_t c0[CLOSE_NREASONS] = { [CLOSE_HEARTBEAT] = 2 };
	uint64_t c1[CLOSE_NREASONS] = { [CLOSE_PEER] = 42, [CLOSE_ERROR] = 4 };
	uint64_t c2[CLOSE_NREASONS] = { [CLOSE_ERROR] = 2 };

	build(&snap);
	text = render_string(RENDER_JSON, &snap);
	CU_ASSERT_FATAL(text != NULL);
	/* one object on one line */
	CU_ASSERT_PTR_EQUAL(strchr(text, '\n'), text + strlen(text) - 1);
	root = mj_parse(text, err, sizeof(err));
	if (root == NULL)
		fprintf(stderr, "\n    %s in %s\n", err, text);
	CU_ASSERT_FATAL(root != NULL);
	CU_ASSERT_EQUAL(u(root, "master_pid"), 4242);
	CU_ASSERT_EQUAL(u(root, "uptime_s"), 3723);
	CU_ASSERT_EQUAL(u(root, "start_time"), 1700000000);
	CU_ASSERT_EQUAL(u(root, "config_generation"), 2);
	CU_ASSERT_EQUAL(u(root, "workers_configured"), 3);

	ws = mj_get(root, "workers");
	CU_ASSERT_FATAL(ws != NULL && ws->type == MJ_ARR && ws->n == 4);
	/* by worker number; the draining predecessor before its successor */
	check_worker(mj_at(ws, 0), 0, 100, "draining", 3, 10, c0old, 0, 50);
	check_worker(mj_at(ws, 1), 0, 200, "running", 3, 5, c0, 0, 0);
	check_worker(mj_at(ws, 2), 1, 301, "running", 0, 46, c1, 2, 1234);
	check_worker(mj_at(ws, 3), 2, 250, "exited", 0, 2, c2, 6, 900);

	w = mj_at(ws, 2);
	CU_ASSERT_EQUAL(u(w, "messages_in"), 460);
	CU_ASSERT_EQUAL(u(w, "messages_out"), 460);
	CU_ASSERT_EQUAL(u(w, "bytes_in"), 4600);
	CU_ASSERT_EQUAL(u(w, "bytes_out"), 4600);
	CU_ASSERT_EQUAL(u(w, "generation"), 3);
	CU_ASSERT_EQUAL(u(w, "config_generation"), 2);
	/* this process alone: the dead ones' counters are not in it */
	tw = mj_get(w, "this_worker");
	CU_ASSERT_FATAL(tw != NULL && tw->type == MJ_OBJ);
	CU_ASSERT_EQUAL(u(tw, "accepted"), 6);
	CU_ASSERT_EQUAL(u(tw, "closed"), 6);
	CU_ASSERT_EQUAL(u(tw, "messages_in"), 60);
	CU_ASSERT_EQUAL(u(tw, "bytes_out"), 600);
	CU_ASSERT_EQUAL(u(tw, "protocol_errors"), 0);
	CU_ASSERT_EQUAL(u(mj_at(ws, 0), "protocol_errors"), 1);
	CU_ASSERT_EQUAL(u(mj_at(ws, 0), "bytes_out"), 210);

	t = mj_get(root, "totals");
	CU_ASSERT_FATAL(t != NULL && t->type == MJ_OBJ);
	CU_ASSERT_EQUAL(u(t, "connections"), 6);
	CU_ASSERT_EQUAL(u(t, "accepted"), 63);
	CU_ASSERT_EQUAL(u(t, "messages_in"), 488);
	CU_ASSERT_EQUAL(u(t, "messages_out"), 489);
	CU_ASSERT_EQUAL(u(t, "bytes_in"), 4880);
	CU_ASSERT_EQUAL(u(t, "bytes_out"), 4890);
	CU_ASSERT_EQUAL(u(t, "protocol_errors"), 1);
	CU_ASSERT_EQUAL(u(t, "restarts"), 8);
	CU_ASSERT_PTR_NULL(mj_get(t, "loop_age_ms"));
	{
		const struct mj *tc = mj_get(t, "closed");
		uint64_t sum = 0;

		CU_ASSERT_FATAL(tc != NULL && tc->type == MJ_OBJ && tc->n == CLOSE_NREASONS);
		CU_ASSERT_EQUAL(u(tc, "peer"), 49);
		CU_ASSERT_EQUAL(u(tc, "heartbeat"), 2);
		CU_ASSERT_EQUAL(u(tc, "error"), 6);
		for (size_t i = 0; i < tc->n; i++)
			sum += tc->items[i].u;
		/* accepted == closed + open, summed over every slot */
		CU_ASSERT_EQUAL(sum + u(t, "connections"), u(t, "accepted"));
	}
	mj_free(root);
	free(text);
}

static void
test_json_exact_for_one_worker(void)
{
	struct stats_slot *s;
	char *text;
	const char *want =
	    "{\"master_pid\":7,\"uptime_s\":61,\"start_time\":1700000000,"
	    "\"config_generation\":1,\"workers_configured\":1,\"workers\":["
	    "{\"slot\":0,\"pid\":8,\"state\":\"running\",\"connections\":1,\"accepted\":3,"
	    "\"closed\":{\"peer\":1,\"heartbeat\":1,\"deadline\":0,\"frame_timeout\":0,"
	    "\"write_timeout\":0,\"first_message_timeout\":0,\"protocol_error\":0,"
	    "\"too_large\":0,\"server_full\":0,\"shutdown\":0,\"error\":0,\"backend\":0,"
	    "\"limit_ip\":0,\"limit_rate\":0},"
	    "\"messages_in\":4,\"messages_out\":4,\"bytes_in\":48,\"bytes_out\":48,"
	    "\"protocol_errors\":0,\"restarts\":0,\"loop_age_ms\":12,\"generation\":1,"
	    "\"config_generation\":1,\"this_worker\":{\"accepted\":3,\"closed\":2,"
	    "\"messages_in\":4,\"messages_out\":4,\"bytes_in\":48,\"bytes_out\":48,"
	    "\"protocol_errors\":0},\"links\":[]}],"
	    "\"totals\":{\"connections\":1,\"accepted\":3,"
	    "\"closed\":{\"peer\":1,\"heartbeat\":1,\"deadline\":0,\"frame_timeout\":0,"
	    "\"write_timeout\":0,\"first_message_timeout\":0,\"protocol_error\":0,"
	    "\"too_large\":0,\"server_full\":0,\"shutdown\":0,\"error\":0,\"backend\":0,"
	    "\"limit_ip\":0,\"limit_rate\":0},"
	    "\"messages_in\":4,\"messages_out\":4,\"bytes_in\":48,\"bytes_out\":48,"
	    "\"protocol_errors\":0,\"restarts\":0}}\n";

	memset(&snap, 0, sizeof(snap));
	snap.master_pid = 7;
	snap.workers_configured = 1;
	snap.start_time = 1700000000;
	snap.config_generation = 1;
	snap.start_mono_ms = 1000;
	snap.now_ms = 62999;
	s = add_slot(&snap, 0, 0, 8, WS_RUNNING, 1);
	s->loop_ms = snap.now_ms - 12;
	s->connections = 1;
	s->cur.accepted = 3;
	s->cur.closed[CLOSE_PEER] = 1;
	s->cur.closed[CLOSE_HEARTBEAT] = 1;
	s->cur.messages_in = s->cur.messages_out = 4;
	s->cur.bytes_in = s->cur.bytes_out = 48;
	text = render_string(RENDER_JSON, &snap);
	CU_ASSERT_FATAL(text != NULL);
	CU_ASSERT_STRING_EQUAL(text, want);
	if (strcmp(text, want) != 0)
		fprintf(stderr, "\n    got  %s    want %s", text, want);
	free(text);
}

static void
test_json_without_workers_is_valid(void)
{
	char *text, err[200];
	struct mj *root;
	const struct mj *t;

	memset(&snap, 0, sizeof(snap));
	snap.master_pid = 1;
	snap.now_ms = 10;
	snap.start_mono_ms = 20;	/* a clock oddity must not wrap the uptime */
	text = render_string(RENDER_JSON, &snap);
	CU_ASSERT_FATAL(text != NULL);
	root = mj_parse(text, err, sizeof(err));
	CU_ASSERT_FATAL(root != NULL);
	CU_ASSERT_EQUAL(u(root, "uptime_s"), 0);
	CU_ASSERT_EQUAL(mj_get(root, "workers")->n, 0);
	t = mj_get(root, "totals");
	CU_ASSERT_EQUAL(u(t, "accepted"), 0);
	CU_ASSERT_EQUAL(u(t, "connections"), 0);
	mj_free(root);
	free(text);
}

static void
test_minijson_rejects_bad_json(void)
{
	static const char *const bad[] = {
		"{\"a\":1,}", "[1,2,]", "{\"a\":1}x", "{\"a\" 1}", "{a:1}", "[01]", "[1.]",
		"[\"\x01\"]", "{\"a\":1,\"a\":2}", "[tru]", "", "[\"abc]", "[1e]", "[-]",
	};
	char err[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mj *v = mj_parse(bad[i], err, sizeof(err));
		CU_ASSERT_PTR_NULL(v);
		if (v != NULL)
			fprintf(stderr, "\n    accepted bad JSON %s\n", bad[i]);
		mj_free(v);
	}
	{
		struct mj *v = mj_parse(" {\"a\":[1,-2.5e1,\"x\\u00e9\\n\",true,null,"
		    "18446744073709551615]} ", err, sizeof(err));
		const struct mj *a;

		CU_ASSERT_FATAL(v != NULL);
		a = mj_get(v, "a");
		CU_ASSERT_EQUAL(a->n, 6);
		CU_ASSERT_EQUAL(a->items[1].d, -25.0);
		CU_ASSERT_STRING_EQUAL(a->items[2].s, "x\xc3\xa9\n");
		CU_ASSERT_EQUAL(a->items[5].u, UINT64_MAX);
		CU_ASSERT(a->items[5].is_uint);
		mj_free(v);
	}
}

/* ---- Prometheus ---- */

static void
test_prometheus_help_type_once_and_label_syntax(void)
{
	char *text, *save = NULL, *line;
	regex_t sample, labels;
	char names[64][80], cur[80] = "";
	int help[64] = { 0 }, type[64] = { 0 }, seen[64] = { 0 }, nnames = 0;
	int nsamples = 0;

	build(&snap);
	text = render_string(RENDER_PROMETHEUS, &snap);
	CU_ASSERT_FATAL(text != NULL);
	CU_ASSERT_FATAL(regcomp(&sample, "^(sockserv_[a-z_]+)(\\{[^}]*\\})? "
	    "(0|[1-9][0-9]*)(\\.[0-9]+)?$", REG_EXTENDED) == 0);
	CU_ASSERT_FATAL(regcomp(&labels, "^\\{[a-z_]+=\"[a-z0-9_]+\"(,[a-z_]+=\"[a-z0-9_]+\")*\\}$",
	    REG_EXTENDED | REG_NOSUB) == 0);
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char name[80], what[8];
		regmatch_t m[5];
		int i;

		if (line[0] == '#') {
			CU_ASSERT_FATAL(sscanf(line, "# %7s %79s", what, name) == 2);
			for (i = 0; i < nnames && strcmp(names[i], name) != 0; i++)
				;
			if (i == nnames && nnames < 64)
				snprintf(names[nnames++], sizeof(names[0]), "%s", name);
			if (strcmp(what, "HELP") == 0) {
				help[i]++;
				/* a HELP line has some text after the name */
				CU_ASSERT(strlen(line) > strlen("# HELP ") + strlen(name) + 2);
			} else {
				CU_ASSERT_STRING_EQUAL(what, "TYPE");
				type[i]++;
				CU_ASSERT(strstr(line, " counter") != NULL ||
				    strstr(line, " gauge") != NULL);
				/* a counter's name ends in _total, a gauge's does not */
				CU_ASSERT_EQUAL(strstr(line, " counter") != NULL,
				    strlen(name) > 6 && strcmp(name + strlen(name) - 6, "_total") == 0);
			}
			continue;
		}
		nsamples++;
		if (regexec(&sample, line, 5, m, 0) != 0) {
			CU_FAIL("sample line syntax");
			fprintf(stderr, "\n    bad line: %s\n", line);
			continue;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
		if (m[2].rm_so != -1) {
			char lab[200];
			snprintf(lab, sizeof(lab), "%.*s", (int)(m[2].rm_eo - m[2].rm_so),
			    line + m[2].rm_so);
			CU_ASSERT(regexec(&labels, lab, 0, NULL, 0) == 0);
			CU_ASSERT_PTR_NOT_NULL(strstr(lab, "worker=\""));
		}
		for (i = 0; i < nnames && strcmp(names[i], name) != 0; i++)
			;
		/* declared before its first sample, and its samples in one group */
		CU_ASSERT_FATAL(i < nnames);
		CU_ASSERT(type[i] == 1 && help[i] == 1);
		if (strcmp(cur, name) != 0) {
			CU_ASSERT_EQUAL(seen[i], 0);
			seen[i] = 1;
			snprintf(cur, sizeof(cur), "%s", name);
		}
	}
	for (int i = 0; i < nnames; i++) {
		CU_ASSERT_EQUAL(help[i], 1);
		CU_ASSERT_EQUAL(type[i], 1);
	}
	CU_ASSERT(nnames >= 14);
	CU_ASSERT(nsamples > 60);
	regfree(&sample);
	regfree(&labels);
	free(text);
}

static void
test_prometheus_values_per_worker(void)
{
	char *text;

	build(&snap);
	text = render_string(RENDER_PROMETHEUS, &snap);
	CU_ASSERT_FATAL(text != NULL);
	CU_ASSERT_EQUAL(prom_value(text, "sockserv_uptime_seconds"), 3723.5);
	CU_ASSERT_EQUAL(prom_value(text, "sockserv_config_generation"), 2);
	CU_ASSERT_EQUAL(prom_value(text, "sockserv_workers_configured"), 3);
	CU_ASSERT_EQUAL(prom_value(text, "sockserv_start_time_seconds"), 1700000000);
	/* worker 0's counters: the draining predecessor and its successor together */
	CU_ASSERT_EQUAL(prom_value(text, "sockserv_accepted_total{worker=\"0\"}"), 15);
	CU_ASSERT_EQUAL(prom_value(text, "sockserv_connections{worker=\"0\"}"), 6);
	CU_ASSERT_EQUAL(prom_value(text, "sockserv_closed_total{worker=\"0\",reason=\"peer\"}"), 7);
	CU_ASSERT_EQUAL(prom_value(text,
	    "sockserv_closed_total{worker=\"0\",reason=\"heartbeat\"}"), 2);
	CU_ASSERT_EQUAL(prom_value(text, "sockserv_closed_total{worker=\"1\",reason=\"error\"}"), 4);
	CU_ASSERT_EQUAL(prom_value(text, "sockserv_closed_total{worker=\"2\",reason=\"shutdown\"}"),
	    0);
	CU_ASSERT_EQUAL(prom_value(text, "sockserv_messages_out_total{worker=\"0\"}"), 29);
	CU_ASSERT_EQUAL(prom_value(text, "sockserv_bytes_in_total{worker=\"1\"}"), 4600);
	CU_ASSERT_EQUAL(prom_value(text, "sockserv_protocol_errors_total{worker=\"0\"}"), 1);
	CU_ASSERT_EQUAL(prom_value(text, "sockserv_restarts_total{worker=\"1\"}"), 2);
	CU_ASSERT_EQUAL(prom_value(text, "sockserv_restarts_total{worker=\"2\"}"), 6);
	CU_ASSERT_EQUAL(prom_value(text, "sockserv_worker_up{worker=\"0\"}"), 1);
	CU_ASSERT_EQUAL(prom_value(text, "sockserv_worker_up{worker=\"2\"}"), 0);
	/* per process: the pid keeps the two worker-0 processes apart */
	CU_ASSERT_EQUAL(prom_value(text,
	    "sockserv_worker_state{worker=\"0\",pid=\"100\",state=\"draining\"}"), 1);
	CU_ASSERT_EQUAL(prom_value(text,
	    "sockserv_worker_state{worker=\"0\",pid=\"100\",state=\"running\"}"), 0);
	CU_ASSERT_EQUAL(prom_value(text,
	    "sockserv_worker_state{worker=\"0\",pid=\"200\",state=\"running\"}"), 1);
	CU_ASSERT_EQUAL(prom_value(text,
	    "sockserv_worker_state{worker=\"2\",pid=\"250\",state=\"exited\"}"), 1);
	CU_ASSERT_EQUAL(prom_value(text,
	    "sockserv_worker_loop_age_seconds{worker=\"1\",pid=\"301\"}"), 1.234);
	CU_ASSERT_EQUAL(prom_value(text,
	    "sockserv_worker_loop_age_seconds{worker=\"0\",pid=\"100\"}"), 0.05);
	/* a dead process has no loop to be late */
	CU_ASSERT_PTR_NULL(lines_find(text, "sockserv_worker_loop_age_seconds{worker=\"2\""));
	/* each worker number once per per-worker series */
	CU_ASSERT_PTR_NULL(strstr(strstr(text, "sockserv_accepted_total{worker=\"0\"}") + 1,
	    "sockserv_accepted_total{worker=\"0\"}"));
	free(text);
}

/* ---- table ---- */

static int
split(char *line, char **tok, int max)
{
	int n = 0;
	char *save = NULL;

	for (char *t = strtok_r(line, " ", &save); t != NULL && n < max; t = strtok_r(NULL, " ", &save))
		tok[n++] = t;
	return n;
}

static void
test_table_rows_and_total(void)
{
	char *text, *save = NULL, *line, *lines[16], copy[256], *tok[16];
	size_t len[16];
	int n = 0;
	static const char *const want[][9] = {
		{ "slot", "pid", "state", "conns", "accepted", "closed", "hb_close", "restarts",
		    "loop_age" },
		{ "0", "100", "draining", "3", "10", "7", "0", "0", "50" },
		{ "0", "200", "running", "3", "5", "2", "2", "0", "0" },
		{ "1", "301", "running", "0", "46", "46", "0", "2", "1234" },
		{ "2", "250", "exited", "0", "2", "2", "0", "6", "-" },
		{ "total", "6", "63", "57", "2", "8" },
	};

	build(&snap);
	text = render_string(RENDER_TABLE, &snap);
	CU_ASSERT_FATAL(text != NULL);
	for (line = strtok_r(text, "\n", &save); line != NULL && n < 16;
	    line = strtok_r(NULL, "\n", &save)) {
		lines[n] = line;
		len[n++] = strlen(line);
	}
	CU_ASSERT_EQUAL_FATAL(n, 7);
	CU_ASSERT_PTR_NOT_NULL(strstr(lines[0], "master 4242"));
	CU_ASSERT_PTR_NOT_NULL(strstr(lines[0], "up 1h 02m 03s"));
	CU_ASSERT_PTR_NOT_NULL(strstr(lines[0], "config generation 2"));
	CU_ASSERT_PTR_NOT_NULL(strstr(lines[0], "3 workers configured"));
	for (int i = 1; i < n; i++) {
		int cols = i == n - 1 ? 6 : 9;

		snprintf(copy, sizeof(copy), "%s", lines[i]);
		CU_ASSERT_EQUAL_FATAL(split(copy, tok, 16), cols);
		for (int c = 0; c < cols; c++)
			CU_ASSERT_STRING_EQUAL(tok[c], want[i - 1][c]);
		/* no trailing blanks */
		CU_ASSERT_NOT_EQUAL(lines[i][len[i] - 1], ' ');
	}
	/* aligned: headings and rows end together; numbers are right-aligned */
	for (int i = 2; i < n - 1; i++)
		CU_ASSERT_EQUAL(len[i], len[1]);
	CU_ASSERT_EQUAL(strstr(lines[1], "accepted") + 8 - lines[1],
	    strstr(lines[4], " 46 ") + 3 - lines[4]);
	/* the total row's sums sit under their columns */
	CU_ASSERT_EQUAL(strstr(lines[6], " 63") + 3 - lines[6],
	    strstr(lines[1], "accepted") + 8 - lines[1]);
	free(text);
}

static void
test_table_columns_grow_for_big_counters(void)
{
	struct stats_slot *s;
	char *text, *l1, *l2, *l3;

	memset(&snap, 0, sizeof(snap));
	snap.now_ms = 1000;
	s = add_slot(&snap, 0, 0, 1234567, WS_RUNNING, 1);
	s->cur.accepted = 18446744073709551615ULL;
	s->loop_ms = 1000;
	text = render_string(RENDER_TABLE, &snap);
	CU_ASSERT_FATAL(text != NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, " 18446744073709551615 "));
	l1 = strchr(text, '\n') + 1;
	l2 = strchr(l1, '\n') + 1;
	l3 = strchr(l2, '\n') + 1;
	/* headings and the row are equally long */
	CU_ASSERT_EQUAL(l2 - l1, l3 - l2);
	free(text);
}

/* ---- snapshot from a segment ---- */

/* what sockserv-stat maps of the segment at path */
static void
open_seg(struct stats_seg *r, const char *path)
{
	char err[1024] = "";

	CU_ASSERT_FATAL(stats_open(r, path, err, sizeof(err)) == 0);
}

/* a fresh segment of n slots in a temporary directory; path and dir for the clean-up */
static void
make_seg(struct stats_seg *seg, uint32_t n, char *dir, size_t dirlen, char *path, size_t pathlen)
{
	const char *base = getenv("TMPDIR");
	char err[1024] = "";

	snprintf(dir, dirlen, "%s/sockserv-render.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, pathlen, "%s/seg.shm", dir);
	CU_ASSERT_FATAL(stats_create(seg, path, n, err, sizeof(err)) == 0);
}

static void
test_snapshot_copies_slots_in_use(void)
{
	struct stats_seg seg, r;
	char dir[512], path[600];

	make_seg(&seg, 6, dir, sizeof(dir), path, sizeof(path));
	seg.hdr->nworkers = 2;
	seg.hdr->config_generation = 3;
	stats_slot_at(&seg, 1)->state = WS_RUNNING;
	stats_slot_at(&seg, 1)->pid = 11;
	stats_slot_at(&seg, 1)->worker = 0;
	stats_slot_at(&seg, 1)->cur.accepted = 5;
	stats_slot_at(&seg, 1)->dead.closed[CLOSE_ERROR] = 2;
	stats_slot_at(&seg, 4)->state = WS_STARTING;
	stats_slot_at(&seg, 4)->pid = 44;
	stats_slot_at(&seg, 4)->worker = 1;
	stats_slot_at(&seg, 4)->restarts = 9;
	stats_slot_at(&seg, 2)->pid = 99;	/* empty: not copied whatever else it holds */

	memset(&snap, 0xff, sizeof(snap));
	open_seg(&r, path);
	/* the header counts are the reader's copy: later changes do not reach this snapshot */
	seg.hdr->nworkers = 77;
	CU_ASSERT_EQUAL(render_snapshot_take(&snap, &r), 0);
	stats_close(&r);
	CU_ASSERT_EQUAL(snap.master_pid, getpid());
	CU_ASSERT_EQUAL(snap.workers_configured, 2);
	CU_ASSERT_EQUAL(snap.config_generation, 3);
	CU_ASSERT_EQUAL(snap.start_mono_ms, seg.hdr->start_mono_ms);
	CU_ASSERT(snap.now_ms >= snap.start_mono_ms && snap.now_ms <= clock_now_ms());
	CU_ASSERT_EQUAL_FATAL(snap.nslots, 2);
	CU_ASSERT_EQUAL(snap.phys[0], 1);
	CU_ASSERT_EQUAL(snap.phys[1], 4);
	CU_ASSERT_EQUAL(snap.slot[0].pid, 11);
	CU_ASSERT_EQUAL(snap.slot[0].cur.accepted, 5);
	CU_ASSERT_EQUAL(snap.slot[0].dead.closed[CLOSE_ERROR], 2);
	CU_ASSERT_EQUAL(snap.slot[1].state, WS_STARTING);
	CU_ASSERT_EQUAL(snap.slot[1].restarts, 9);
	CU_ASSERT_EQUAL(snap.slot[1].cur.accepted, 0);
	stats_destroy(&seg, path);
	rmdir(dir);
}

/* the slot count is the reader's own: a header rewritten later cannot send it past the mapping */
static void
test_snapshot_ignores_a_slot_count_rewritten_after_open(void)
{
	struct stats_seg seg, r;
	char dir[512], path[600];

	make_seg(&seg, 3, dir, sizeof(dir), path, sizeof(path));
	stats_slot_at(&seg, 2)->state = WS_RUNNING;
	open_seg(&r, path);
	seg.hdr->nslots = 0xffffffffu;
	seg.hdr->nworkers = 0xffffffffu;
	CU_ASSERT_EQUAL(render_snapshot_take(&snap, &r), 0);
	stats_close(&r);
	CU_ASSERT_EQUAL(snap.workers_configured, 0);
	CU_ASSERT_EQUAL(snap.nslots, 1);
	CU_ASSERT_EQUAL(snap.phys[0], 2);
	stats_destroy(&seg, path);
	rmdir(dir);
}

static void
test_snapshot_of_a_file_that_shrank_fails_cleanly(void)
{
	struct stats_seg seg, r;
	char dir[512], path[600];

	make_seg(&seg, 4, dir, sizeof(dir), path, sizeof(path));
	stats_slot_at(&seg, 3)->state = WS_RUNNING;
	open_seg(&r, path);
	CU_ASSERT_FATAL(truncate(path, (off_t)seg.stride) == 0);
	CU_ASSERT_EQUAL(render_snapshot_take(&snap, &r), -1);
	CU_ASSERT_EQUAL(snap.nslots, 0);
	stats_close(&r);
	stats_destroy(&seg, path);
	rmdir(dir);
}

static void
test_render_reports_write_errors(void)
{
	FILE *f = fopen("/dev/full", "w");

	if (f == NULL) {
		CU_PASS("no /dev/full here");
		return;
	}
	build(&snap);
	/* fully buffered output only fails at the flush: make it unbuffered */
	setvbuf(f, NULL, _IONBF, 0);
	CU_ASSERT_EQUAL(render(f, RENDER_JSON, &snap), -1);
	fclose(f);
}

/* one running worker with a backend link, one exited with a stale one */
static void
build_links(struct render_snapshot *sn)
{
	struct stats_slot *s;

	memset(sn, 0, sizeof(*sn));
	sn->master_pid = 7;
	sn->workers_configured = 2;
	sn->start_mono_ms = 1000;
	sn->now_ms = 2000;
	s = add_slot(sn, 0, 0, 8, WS_RUNNING, 1);
	s->nlinks = 1;
	snprintf(s->links[0].name, sizeof(s->links[0].name), "app");
	s->links[0].state = SLINK_UP;
	s->links[0].reconnects = 3;
	s->links[0].events_sent = 1234567;
	s->links[0].commands_applied = 42;
	s->links[0].bytes_pending = 99;
	s->links[0].clients_paused = 5;
	s = add_slot(sn, 1, 1, 9, WS_EXITED, 1);
	s->nlinks = 1;
	snprintf(s->links[0].name, sizeof(s->links[0].name), "app");
}

static void
test_backend_links_in_every_format(void)
{
	char *text, err[128];
	struct mj *root;
	const struct mj *w, *l;

	build_links(&snap);
	text = render_string(RENDER_TABLE, &snap);
	CU_ASSERT_FATAL(text != NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "backend  link  reconnects   events  commands  pending  paused"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "   0    8  app      up             3  1234567        42       99       5\n"));
	/* an exited process's links mean nothing any more */
	CU_ASSERT_PTR_NULL(strstr(text, "   1    9  app"));
	if (strstr(text, "   0    8  app      up") == NULL)
		fprintf(stderr, "\n%s", text);
	free(text);

	text = render_string(RENDER_JSON, &snap);
	CU_ASSERT_FATAL(text != NULL);
	root = mj_parse(text, err, sizeof(err));
	CU_ASSERT_FATAL(root != NULL);
	w = mj_at(mj_get(root, "workers"), 0);
	CU_ASSERT_FATAL(w != NULL);
	l = mj_at(mj_get(w, "links"), 0);
	CU_ASSERT_FATAL(l != NULL);
	CU_ASSERT_STRING_EQUAL(mj_str(l, "backend"), "app");
	CU_ASSERT_STRING_EQUAL(mj_str(l, "state"), "up");
	CU_ASSERT_EQUAL(u(l, "reconnects"), 3);
	CU_ASSERT_EQUAL(u(l, "events_sent"), 1234567);
	CU_ASSERT_EQUAL(u(l, "commands_applied"), 42);
	CU_ASSERT_EQUAL(u(l, "bytes_pending"), 99);
	CU_ASSERT_EQUAL(u(l, "clients_paused"), 5);
	mj_free(root);
	free(text);

	text = render_string(RENDER_PROMETHEUS, &snap);
	CU_ASSERT_FATAL(text != NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
	    "sockserv_backend_link_up{worker=\"0\",pid=\"8\",backend=\"app\"} 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
	    "sockserv_backend_events_sent_total{worker=\"0\",pid=\"8\",backend=\"app\"} 1234567\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
	    "sockserv_backend_clients_paused{worker=\"0\",pid=\"8\",backend=\"app\"} 5\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "# TYPE sockserv_backend_reconnects_total counter\n"));
	CU_ASSERT_PTR_NULL(strstr(text, "pid=\"9\",backend"));
	free(text);
}

/* a worker writes its own slot: a bad link count or name cannot break a reader's output */
static void
test_snapshot_sanitizes_link_names_and_counts(void)
{
	struct stats_seg seg, r;
	char dir[512], path[600];
	struct stats_slot *s;
	char *text, err[128];
	struct mj *root;

	make_seg(&seg, 2, dir, sizeof(dir), path, sizeof(path));
	s = stats_slot_at(&seg, 0);
	s->state = WS_RUNNING;
	s->pid = 11;
	s->nlinks = 0xffffffffu;
	memset(s->links[0].name, '"', sizeof(s->links[0].name));	/* no NUL at all */
	memcpy(s->links[1].name, "a\"}\n,x", 7);
	open_seg(&r, path);
	CU_ASSERT_EQUAL(render_snapshot_take(&snap, &r), 0);
	stats_close(&r);
	CU_ASSERT_EQUAL_FATAL(snap.nslots, 1);
	CU_ASSERT_EQUAL(snap.slot[0].nlinks, STATS_MAX_LINKS);
	CU_ASSERT_EQUAL(strlen(snap.slot[0].links[0].name), sizeof(s->links[0].name) - 1);
	CU_ASSERT_STRING_EQUAL(snap.slot[0].links[1].name, "a????x");
	text = render_string(RENDER_JSON, &snap);
	CU_ASSERT_FATAL(text != NULL);
	root = mj_parse(text, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(root);
	mj_free(root);
	free(text);
	stats_destroy(&seg, path);
	rmdir(dir);
}

#define ADD(f) CU_add_test(s, #f, f)

void
test_render_register(void)
{
	CU_pSuite s;

	if ((s = CU_add_suite("render", NULL, NULL)) == NULL)
		return;
	ADD(test_json_parses_back_field_by_field);
	ADD(test_json_exact_for_one_worker);
	ADD(test_json_without_workers_is_valid);
	ADD(test_minijson_rejects_bad_json);
	ADD(test_prometheus_help_type_once_and_label_syntax);
	ADD(test_prometheus_values_per_worker);
	ADD(test_table_rows_and_total);
	ADD(test_table_columns_grow_for_big_counters);
	ADD(test_snapshot_copies_slots_in_use);
	ADD(test_snapshot_ignores_a_slot_count_rewritten_after_open);
	ADD(test_snapshot_of_a_file_that_shrank_fails_cleanly);
	ADD(test_render_reports_write_errors);
	ADD(test_backend_links_in_every_format);
	ADD(test_snapshot_sanitizes_link_names_and_counts);
}
