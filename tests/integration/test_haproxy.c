/*
 * The HAProxy recipe, tested (issue 13): a real haproxy in front of two
 * sockserv nodes, both run from the shipped examples/haproxy/ files with
 * only their ports, paths, check interval and (for one test) heartbeat
 * replaced, so the example is what is tested.  haproxy runs in the
 * foreground (-db) as a child of the test, in the test's process group:
 * the runner's kill of the group ends it whatever happens to the test.
 * Skipped, with the reason printed, when haproxy is not installed
 * (`make test` installs Debian's package).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../minijson.h"
#include "harness.h"
#include "linkpeer.h"
#include "linkproto.h"

/* the client's own address: not haproxy's (127.0.0.1), so the nodes must learn it */
#define CLIENT_ADDR "127.0.0.5"
#define CLIENT_ADDR_RE "127\\.0\\.0\\.5"
#define BACKEND "sockserv_nodes"
/* the test's check timing: a dead node is DOWN after 2 checks 200 ms apart */
#define CHECK_TIMING "inter 200ms fall 2 rise 2"
#define STATE_TIMEOUT_MS 5000

static char haproxy_bin[1024];

static void
need_haproxy(void)
{
	/* Debian puts it in /usr/sbin, which a user's PATH may not have */
	const char *cands[] = { "/usr/sbin/haproxy", "/usr/local/sbin/haproxy",
	    "/usr/bin/haproxy", NULL };

	for (int i = 0; cands[i] != NULL; i++)
		if (access(cands[i], X_OK) == 0) {
			snprintf(haproxy_bin, sizeof(haproxy_bin), "%s", cands[i]);
			return;
		}
	IT_SKIP("haproxy is not installed (apt-get install haproxy; make test does): "
	    "the HAProxy recipe is not tested");
}

/* examples/haproxy/NAME, whole (malloc'd) */
static char *
example(const char *name)
{
	char path[4200];
	char *text;

	snprintf(path, sizeof(path), "%s/examples/haproxy/%s", it_src_dir(), name);
	if ((text = it_read_file(path, NULL)) == NULL)
		IT_FAIL("cannot read %s", path);
	return text;
}

/*
 * text with every `from` replaced by `to` (text is freed); the example
 * must contain `from` want times (0 = at least once), so an edited example
 * fails here instead of being tested with the test's values missing.
 */
static char *
subst(char *text, const char *from, const char *to, int want)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	char *out, *o;
	const char *p;

	for (p = text; (p = strstr(p, from)) != NULL; p += fl)
		n++;
	if (n == 0 || (want > 0 && n != (size_t)want))
		IT_FAIL("the example has %zu \"%s\" where the test expects %d: update "
		    "tests/integration/test_haproxy.c to the example", n, from, want);
	out = malloc(strlen(text) + n * tl + 1);
	IT_ASSERT(out != NULL);
	o = out;
	for (p = text;;) {
		const char *hit = strstr(p, from);

		if (hit == NULL) {
			strcpy(o, p);
			break;
		}
		memcpy(o, p, (size_t)(hit - p));
		o += hit - p;
		memcpy(o, to, tl);
		o += tl;
		p = hit + fl;
	}
	free(text);
	return out;
}

/* ---- the nodes: sockserv from examples/haproxy/sockserv-nodeN.cfg ---- */

/*
 * The example node config with this test's port, pid file, stats file,
 * event backend, one worker, the debug log (the harness's readiness wait
 * and the accept lines need it) and heartbeat_timeout hb; with app_sock,
 * handler "backend" to the application listening there; with codec, that
 * codec instead of the example's "frame".
 */
static struct srv *
node_start(int n, int hb, const char *app_sock, const char *codec)
{
	struct srv_opts o = { .workers = 1, .listeners = { { .name = "app" } } };
	struct srv *s = srv_prepare(&o);
	char name[32], buf[700], *text;

	snprintf(name, sizeof(name), "sockserv-node%d.cfg", n);
	text = example(name);
	snprintf(buf, sizeof(buf), "workers = 1;\nevent_backend = \"%s\";", it_backend());
	text = subst(text, "workers = 0;", buf, 1);
	snprintf(name, sizeof(name), "\"run/node%d.pid\"", n);
	snprintf(buf, sizeof(buf), "\"%s\"", s->pid_path);
	text = subst(text, name, buf, 1);
	snprintf(name, sizeof(name), "\"run/node%d.shm\"", n);
	snprintf(buf, sizeof(buf), "\"%s\"", s->stats_path);
	text = subst(text, name, buf, 1);
	text = subst(text, "level = \"info\";", "level = \"debug\";", 1);
	snprintf(name, sizeof(name), "port = 720%d;", n);
	snprintf(buf, sizeof(buf), "port = %d;", srv_port(s, "app"));
	text = subst(text, name, buf, 1);
	snprintf(buf, sizeof(buf), "heartbeat_timeout = %d;", hb);
	text = subst(text, "heartbeat_timeout = 30;", buf, 1);
	if (codec != NULL) {
		snprintf(buf, sizeof(buf), "codec = \"%s\";", codec);
		text = subst(text, "codec = \"frame\";", buf, 1);
	}
	if (app_sock != NULL) {
		/* the clients go to one application over the backend link */
		snprintf(name, sizeof(name), "node_id = %d;", n);
		snprintf(buf, sizeof(buf), "node_id = %d;\nbackends = ( { name = \"app\"; "
		    "address = \"unix:%s\"; reconnect_min = 0.05; reconnect_max = 0.2; } );",
		    n, app_sock);
		text = subst(text, name, buf, 1);
		text = subst(text, "handler = \"echo\";",
		    "handler = \"backend\"; backend = \"app\";", 1);
	}
	IT_ASSERT(it_write_file(s->cfg_path, text) == 0);
	free(text);
	IT_ASSERT(srv_launch(s) == 0);
	if (srv_wait_ready(s, SRV_READY_TIMEOUT_MS) != 0) {
		srv_dump_log(s, 30);
		IT_FAIL("node %d (examples/haproxy/sockserv-node%d.cfg) did not start", n, n);
	}
	return s;
}

/* ---- haproxy from examples/haproxy/haproxy.cfg ---- */

struct hap {
	pid_t pid;
	int port;		/* the frontend */
	int stats_port;		/* the stats socket (TCP) */
	char cfg_path[600];
	char log_path[600];	/* its stdout and stderr */
};

/* `show stat` from the stats socket into buf (NUL terminated); 0 or -1 */
static int
hap_show_stat(const struct hap *h, char *buf, size_t len)
{
	int fd = cli_connect("127.0.0.1", h->stats_port), st;
	size_t got = 0;

	if (fd < 0)
		return -1;
	if (cli_send_all(fd, "show stat\n", 10, IT_IO_TIMEOUT_MS) != CLI_OK) {
		close(fd);
		return -1;
	}
	/* haproxy answers one command and closes */
	st = cli_read_exact(fd, buf, len - 1, IT_IO_TIMEOUT_MS, &got);
	close(fd);
	buf[got] = '\0';
	return st == CLI_EOF && got > 0 ? 0 : -1;
}

/*
 * Field `field` of server `sv` of the backend in `show stat`'s CSV (header
 * "# pxname,svname,...") into out; 0, or -1 if there is no such row or column.
 */
static int
hap_field(const struct hap *h, const char *sv, const char *field, char *out, size_t outlen)
{
	static char csv[65536];
	char *line, *save, *hdr = NULL;
	int col = -1;

	if (hap_show_stat(h, csv, sizeof(csv)) == -1)
		return -1;
	for (line = strtok_r(csv, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *f, *fs;
		int i = 0;

		if (strncmp(line, "# ", 2) == 0) {
			hdr = line + 2;
			for (f = strtok_r(hdr, ",", &fs); f != NULL; f = strtok_r(NULL, ",", &fs), i++)
				if (strcmp(f, field) == 0)
					col = i;
			continue;
		}
		if (col < 0)
			return -1;
		/* empty fields: walk by hand, strtok would merge ",," */
		const char *p = line, *px = p, *svp;
		size_t pxl = strcspn(px, ",");

		if (px[pxl] != ',' || pxl != strlen(BACKEND) || strncmp(px, BACKEND, pxl) != 0)
			continue;
		svp = px + pxl + 1;
		if (strncmp(svp, sv, strlen(sv)) != 0 || svp[strlen(sv)] != ',')
			continue;
		for (i = 0; i < col && p != NULL; i++)
			p = (p = strchr(p, ',')) != NULL ? p + 1 : NULL;
		if (p == NULL)
			return -1;
		snprintf(out, outlen, "%.*s", (int)strcspn(p, ","), p);
		return 0;
	}
	return -1;
}

/*
 * wait until server sv's status is `status` ("UP", "DOWN") and, if check,
 * its last check result contains check ("L7OK"; "* L7OK" while the next runs)
 */
static int
hap_wait_state(const struct hap *h, const char *sv, const char *status, const char *check,
    int timeout_ms)
{
	int64_t end = it_now_ms() + timeout_ms;
	char st[64] = "", ck[64] = "";

	for (;;) {
		if (hap_field(h, sv, "status", st, sizeof(st)) == 0 &&
		    strcmp(st, status) == 0 && (check == NULL ||
		    (hap_field(h, sv, "check_status", ck, sizeof(ck)) == 0 &&
		    strstr(ck, check) != NULL)))
			return 0;
		if (it_now_ms() > end) {
			it_note("haproxy: server %s is \"%s\" (last check \"%s\"), not \"%s\" "
			    "after %d ms", sv, st, ck, status, timeout_ms);
			return -1;
		}
		it_sleep_ms(20);
	}
}

static long
hap_int(const struct hap *h, const char *sv, const char *field)
{
	char v[64];

	if (hap_field(h, sv, field, v, sizeof(v)) == -1)
		IT_FAIL("haproxy's show stat has no %s for %s", field, sv);
	return strtol(v, NULL, 10);
}

static void
hap_dump_log(const struct hap *h)
{
	it_file_tail(h->log_path, 30, "  haproxy: ");
}

/*
 * haproxy -db on the example config, its frontend and stats socket on
 * ports picked now, its servers the two nodes, its checks CHECK_TIMING;
 * returns once node1 passed a PING/PONG check (L7OK) and is UP, and node2
 * is in state st2 after a check with result ck2 ("UP", "L7OK" normally).
 */
static void
hap_start(struct hap *h, struct srv *n1, struct srv *n2, const char *st2, const char *ck2)
{
	char *dir = it_mkdtemp(), buf[128];

	for (int attempt = 1;; attempt++) {
		char *text = example("haproxy.cfg");

		memset(h, 0, sizeof(*h));
		h->port = it_pick_port("127.0.0.1");
		h->stats_port = it_pick_port("127.0.0.1");
		IT_ASSERT(h->port > 0 && h->stats_port > 0 && h->port != h->stats_port);
		snprintf(h->cfg_path, sizeof(h->cfg_path), "%s/haproxy.cfg", dir);
		snprintf(h->log_path, sizeof(h->log_path), "%s/haproxy.log", dir);
		snprintf(buf, sizeof(buf), "bind 127.0.0.1:%d\n", h->port);
		text = subst(text, "bind :7200\n", buf, 1);
		snprintf(buf, sizeof(buf), "ipv4@127.0.0.1:%d ", h->stats_port);
		text = subst(text, "ipv4@127.0.0.1:7209 ", buf, 1);
		snprintf(buf, sizeof(buf), "server node1 127.0.0.1:%d ", srv_port(n1, "app"));
		text = subst(text, "server node1 127.0.0.1:7201 ", buf, 1);
		snprintf(buf, sizeof(buf), "server node2 127.0.0.1:%d ", srv_port(n2, "app"));
		text = subst(text, "server node2 127.0.0.1:7202 ", buf, 1);
		text = subst(text, "inter 2s fall 3 rise 2", CHECK_TIMING, 2);
		IT_ASSERT(it_write_file(h->cfg_path, text) == 0);
		free(text);

		fflush(NULL);
		h->pid = fork();
		IT_ASSERT(h->pid >= 0);
		if (h->pid == 0) {
			int fd = open(h->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
			int nul = open("/dev/null", O_RDONLY);

			if (fd == -1 || nul == -1 || dup2(nul, 0) == -1 || dup2(fd, 1) == -1 ||
			    dup2(fd, 2) == -1)
				_exit(126);
			execl(haproxy_bin, haproxy_bin, "-db", "-f", h->cfg_path, (char *)NULL);
			_exit(127);
		}
		int64_t end = it_now_ms() + 10000;
		int st;

		while (it_now_ms() < end) {
			if (waitpid(h->pid, &st, WNOHANG) == h->pid) {
				h->pid = -1;
				break;
			}
			if (hap_wait_state(h, "node1", "UP", "L7OK", 0) == 0 &&
			    hap_wait_state(h, "node2", st2, ck2, 0) == 0)
				return;
			it_sleep_ms(20);
		}
		if (h->pid == -1 && attempt < 3 && it_file_wait(h->log_path, 0, 0, NULL, 0,
		    "[Aa]ddress already in use|cannot bind") == 0) {
			fprintf(stderr, "hap_start: a port was taken, retrying\n");
			continue;
		}
		hap_dump_log(h);
		IT_FAIL("haproxy %s: node1 not UP with a passed check (L7OK) or node2 not "
		    "%s (%s) within 10 s", h->pid == -1 ? "exited" : "started but", st2, ck2);
	}
}

/* ---- the fleet ---- */

struct fleet {
	struct srv *node[2];
	struct hap hap;
};

static void
fleet_start_app(struct fleet *f, int hb, const char *app_sock)
{
	need_haproxy();
	f->node[0] = node_start(1, hb, app_sock, NULL);
	f->node[1] = node_start(2, hb, app_sock, NULL);
	hap_start(&f->hap, f->node[0], f->node[1], "UP", "L7OK");
	for (int i = 0; i < 2; i++)
		srv_log_mark(f->node[i]);
}

static void
fleet_start(struct fleet *f, int hb)
{
	fleet_start_app(f, hb, NULL);
}

/* a client from CLIENT_ADDR through haproxy whose echo came back; its fd */
static int
client_echo(struct fleet *f, const char *text)
{
	int fd = cli_connect_from(CLIENT_ADDR, "127.0.0.1", f->hap.port);

	IT_ASSERT(fd >= 0);
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_DATA, text, (uint32_t)strlen(text)), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_DATA, text, strlen(text));
	return fd;
}

/*
 * The node (0 or 1) that logged accepting the client on fd with the
 * client's own address and port (from the PROXY header), or -1.
 */
static int
node_of(struct fleet *f, int fd, int timeout_ms)
{
	int port = cli_local_port(fd);
	int64_t end = it_now_ms() + timeout_ms;

	do {
		for (int i = 0; i < 2; i++)
			if (srv_log_count(f->node[i], "accept app " CLIENT_ADDR_RE ":%d$", port) > 0)
				return i;
		it_sleep_ms(10);
	} while (it_now_ms() < end);
	return -1;
}

/* ---- tests ---- */

static void
test_example_configs_check_as_written(void)
{
	char out[8192], path[4200];
	char *argv[] = { haproxy_bin, (char *)"-c", (char *)"-f", path, NULL };
	int st;

	need_haproxy();
	snprintf(path, sizeof(path), "%s/examples/haproxy/haproxy.cfg", it_src_dir());
	st = it_run(argv, out, sizeof(out), 10000);
	if (st != 0)
		IT_FAIL("haproxy -c -f %s: %s\n%s", path, it_status_str(st), out);
	for (int n = 1; n <= 2; n++) {
		char *targv[] = { (char *)it_sockserv_path(), (char *)"-t", (char *)"-c", path, NULL };

		snprintf(path, sizeof(path), "%s/examples/haproxy/sockserv-node%d.cfg",
		    it_src_dir(), n);
		st = it_run(targv, out, sizeof(out), 10000);
		if (st != 0)
			IT_FAIL("sockserv -t -c %s: %s\n%s", path, it_status_str(st), out);
	}
}

static void
test_echo_through_haproxy_with_the_clients_own_address(void)
{
	struct fleet f;
	int fd, node;
	char line[512];

	fleet_start(&f, 30);
	fd = client_echo(&f, "hello through haproxy");
	/* the node logs the client's address and port, not haproxy's 127.0.0.1 */
	node = node_of(&f, fd, 5000);
	if (node < 0) {
		srv_dump_log(f.node[0], 10);
		srv_dump_log(f.node[1], 10);
		IT_FAIL("no node logged \"accept app %s:%d\"", CLIENT_ADDR, cli_local_port(fd));
	}
	IT_ASSERT_INT(srv_log_count(f.node[!node], "accept app " CLIENT_ADDR_RE ":"), ==, 0);
	/* a PING answered end to end, then the close is the client's */
	IT_ASSERT_STATUS(cli_send_frame(fd, FRAME_PING, "p", 1), CLI_OK);
	IT_EXPECT_FRAME(fd, FRAME_PONG, "p", 1);
	close(fd);
	IT_ASSERT(srv_log_wait(f.node[node], 5000, line, sizeof(line),
	    "close app " CLIENT_ADDR_RE ":[0-9]+ reason ") == 0);
}

static void
test_connections_spread_across_both_nodes(void)
{
	enum { N = 10 };
	struct fleet f;
	int fd[N], on[2] = { 0, 0 };

	fleet_start(&f, 30);
	for (int i = 0; i < N; i++) {
		char text[32];
		int node;

		snprintf(text, sizeof(text), "client %d", i);
		fd[i] = client_echo(&f, text);
		IT_ASSERT((node = node_of(&f, fd[i], 5000)) >= 0);
		on[node]++;
	}
	/* leastconn over connections held open: the two nodes take turns */
	IT_ASSERT_INT(on[0], >=, N / 2 - 1);
	IT_ASSERT_INT(on[1], >=, N / 2 - 1);
	IT_ASSERT_INT(on[0] + on[1], ==, N);
	/* each node's statistics and haproxy's agree */
	for (int i = 0; i < 2; i++) {
		struct mj *root = srv_stat_json(f.node[i]);
		uint64_t conns = 0;

		IT_ASSERT(mj_uint(mj_get(root, "totals"), "connections", &conns) == 0);
		IT_ASSERT_INT(conns, ==, on[i]);
		mj_free(root);
		IT_ASSERT_INT(hap_int(&f.hap, i == 0 ? "node1" : "node2", "scur"), ==, on[i]);
	}
	for (int i = 0; i < N; i++)
		close(fd[i]);
}

static void
test_stopped_node_is_marked_down_and_back_up(void)
{
	struct fleet f;
	struct srv *n2;
	int held[256], nheld = 0, node, fd;
	int64_t t0, t_down, t_up;

	fleet_start(&f, 30);
	n2 = f.node[1];
	IT_ASSERT_INT(srv_stop(n2, SIGTERM, 5000), !=, -1);
	t0 = it_now_ms();
	/*
	 * Clients keep arriving while haproxy has not noticed yet: every one
	 * is served (a refused connect to node2 is retried on node1).
	 */
	for (;;) {
		char st[64];

		/* one client per 50 ms or more until DOWN: 5 s at most */
		IT_ASSERT(nheld < 200);
		held[nheld++] = client_echo(&f, "during");
		if (hap_field(&f.hap, "node2", "status", st, sizeof(st)) == 0 &&
		    strcmp(st, "DOWN") == 0)
			break;
		if (it_now_ms() - t0 > STATE_TIMEOUT_MS) {
			hap_dump_log(&f.hap);
			IT_FAIL("node2 stopped %d ms ago and haproxy still says %s",
			    STATE_TIMEOUT_MS, st);
		}
		it_sleep_ms(50);
	}
	t_down = it_now_ms() - t0;
	fprintf(stderr, "node2 DOWN %lld ms after its stop; %d clients served meanwhile\n",
	    (long long)t_down, nheld);
	IT_ASSERT(it_file_wait(f.hap.log_path, 0, 2000, NULL, 0,
	    "Server " BACKEND "/node2 is DOWN") == 0);
	/* all new clients go to node1, and none is refused */
	for (int i = 0; i < 6; i++) {
		held[nheld] = client_echo(&f, "after");
		IT_ASSERT_INT(node_of(&f, held[nheld], 5000), ==, 0);
		nheld++;
	}
	IT_ASSERT_INT(srv_log_count(f.node[0], "accept app " CLIENT_ADDR_RE ":"), ==, nheld);
	IT_ASSERT_INT(hap_int(&f.hap, "node1", "scur"), ==, nheld);

	/* started again: UP after rise checks, and leastconn sends it the next client */
	IT_ASSERT(srv_launch(n2) == 0);
	IT_ASSERT(srv_wait_ready(n2, SRV_READY_TIMEOUT_MS) == 0);
	srv_log_mark(n2);
	t0 = it_now_ms();
	if (hap_wait_state(&f.hap, "node2", "UP", "L7OK", STATE_TIMEOUT_MS) != 0) {
		hap_dump_log(&f.hap);
		IT_FAIL("node2 was started again and haproxy did not mark it UP");
	}
	t_up = it_now_ms() - t0;
	fprintf(stderr, "node2 UP %lld ms after it was ready again\n", (long long)t_up);
	IT_ASSERT(it_file_wait(f.hap.log_path, 0, 2000, NULL, 0,
	    "Server " BACKEND "/node2 is UP") == 0);
	fd = client_echo(&f, "back");
	IT_ASSERT_INT((node = node_of(&f, fd, 5000)), ==, 1);
	close(fd);
	for (int i = 0; i < nheld; i++)
		close(held[i]);
}

static void
test_heartbeat_closes_silent_clients_through_haproxy(void)
{
	enum { HB_S = 1 };
	struct fleet f;
	struct it_buf b = { 0 };
	uint8_t echo[FRAME_HDR_LEN + 4];
	int64_t sent_ms, closed_ms;
	struct it_frame fr;
	int fd, st;

	fleet_start(&f, HB_S);
	fd = cli_connect_from(CLIENT_ADDR, "127.0.0.1", f.hap.port);
	IT_ASSERT(fd >= 0);
	frame_append(&b, FRAME_DATA, "last", 4);
	IT_ASSERT_STATUS(cli_exchange_at(fd, b.data, b.len, echo, sizeof(echo),
	    IT_IO_TIMEOUT_MS, NULL, NULL, &sent_ms), CLI_OK);
	/* then silence: sockserv, not haproxy (timeout client 60s), ends it */
	st = cli_read_frame(fd, &fr, 5000);
	closed_ms = it_now_ms();
	IT_ASSERT_STATUS(st, CLI_OK);
	IT_ASSERT_INT(fr.type, ==, FRAME_ERROR);
	IT_ASSERT_INT(frame_error_code(&fr), ==, PERR_TIMEOUT);
	it_frame_free(&fr);
	IT_EXPECT_EOF(fd);
	/* timed from the client's last byte: never early, late by at most a margin */
	fprintf(stderr, "ERROR 5 %lld ms after the last byte (heartbeat %d s)\n",
	    (long long)(closed_ms - sent_ms), HB_S);
	IT_ASSERT_INT(closed_ms - sent_ms, >=, HB_S * 1000 - 1);
	IT_ASSERT_INT(closed_ms - sent_ms, <=, HB_S * 1000 + 1500);
	/* the node counted a heartbeat close of the client's own address */
	IT_ASSERT(srv_log_wait(f.node[0], 0, NULL, 0, "close app " CLIENT_ADDR_RE
	    ":[0-9]+ reason heartbeat") == 0 || srv_log_wait(f.node[1], 0, NULL, 0,
	    "close app " CLIENT_ADDR_RE ":[0-9]+ reason heartbeat") == 0);
	it_buf_free(&b);
}


/*
 * The whole picture: clients -> haproxy -> two nodes -> one application
 * linked to both.  The application sees each client's own address in the
 * OPEN, answers by id over the node the id names, and one PUBLISH per node
 * reaches everyone.
 */
static void
test_application_behind_two_nodes_through_haproxy(void)
{
	enum { N = 4 };
	struct fleet f;
	struct peer link[2];
	char *path;
	int lfd, fd[N], on[N], cnt[2] = { 0, 0 };
	uint64_t id[N];
	uint8_t pub[16];

	need_haproxy();
	path = sock_path();
	lfd = peer_listen(path);
	fleet_start_app(&f, 30, path);
	memset(link, 0, sizeof(link));
	for (int i = 0; i < 2; i++) {
		struct peer p;
		int node;

		peer_accept(&p, lfd, 5000);
		node = peer_hello_node(&p);
		IT_ASSERT(node == 1 || node == 2);
		IT_ASSERT(link[node - 1].fd == 0);
		link[node - 1] = p;
	}
	for (int i = 0; i < N; i++) {
		char want[64];
		int64_t end = it_now_ms() + IT_IO_TIMEOUT_MS;

		fd[i] = cli_connect_from(CLIENT_ADDR, "127.0.0.1", f.hap.port);
		IT_ASSERT(fd[i] >= 0);
		/* the OPEN carries the client's address and port, not haproxy's */
		snprintf(want, sizeof(want), "%s:%d", CLIENT_ADDR, cli_local_port(fd[i]));
		on[i] = -1;
		while (on[i] < 0 && it_now_ms() < end) {
			for (int k = 0; k < 2 && on[i] < 0; k++) {
				struct pmsg m;

				/* haproxy's checks come and go on the links too */
				if (peer_next(&link[k], &m, 20) == -1 || m.type != LINK_OPEN)
					continue;
				const char *peer = (const char *)m.data + 1 +
				    strlen((const char *)m.data + 1) + 1;
				if (strcmp(peer, want) == 0) {
					on[i] = k;
					id[i] = m.id;
				}
			}
		}
		if (on[i] < 0)
			IT_FAIL("no OPEN from %s on either node", want);
		IT_ASSERT_INT(id[i] >> 48, ==, on[i] + 1);
		cnt[on[i]]++;
		peer_send(&link[on[i]], LINK_SUB, id[i], 0, "all", 3);
	}
	/* leastconn: both nodes have clients */
	IT_ASSERT_INT(cnt[0], >=, 1);
	IT_ASSERT_INT(cnt[1], >=, 1);
	/* a SEND by id, over the link of the id's node, reaches that client only */
	for (int i = 0; i < N; i++) {
		char text[32];

		snprintf(text, sizeof(text), "you are %d", i);
		peer_send(&link[(id[i] >> 48) - 1], LINK_SEND, id[i], 1, text, strlen(text));
	}
	for (int i = 0; i < N; i++) {
		char text[32];

		snprintf(text, sizeof(text), "you are %d", i);
		IT_EXPECT_FRAME(fd[i], FRAME_DATA, text, strlen(text));
	}
	pub[0] = 3;
	memcpy(pub + 1, "all", 3);
	memcpy(pub + 4, "news", 4);
	for (int k = 0; k < 2; k++)
		peer_send(&link[k], LINK_PUBLISH, 0, 0, pub, 8);
	for (int i = 0; i < N; i++)
		IT_EXPECT_FRAME(fd[i], FRAME_DATA, "news", 4);
	for (int i = 0; i < N; i++)
		IT_EXPECT_SILENCE(fd[i], i == 0 ? 300 : 0);
	for (int i = 0; i < N; i++)
		close(fd[i]);
	close(lfd);
	free(path);
}

/*
 * The check wants a PONG, not an open port: a node whose listener echoes
 * raw bytes accepts the check and answers it, but with the PING itself;
 * haproxy waits for the PONG until `timeout check` (L7TOUT), marks the node
 * DOWN and serves every client from the frame node.
 */
static void
test_check_wants_a_pong_not_an_open_port(void)
{
	struct fleet f;
	char ck[64];
	int fd[4];

	need_haproxy();
	f.node[0] = node_start(1, 30, NULL, NULL);
	f.node[1] = node_start(2, 30, NULL, "raw");
	hap_start(&f.hap, f.node[0], f.node[1], "DOWN", "L7TOUT");
	srv_log_mark(f.node[0]);
	srv_log_mark(f.node[1]);
	/* the raw node accepted the checks (Layer 7, not a refused connect) */
	IT_ASSERT(hap_field(&f.hap, "node2", "check_status", ck, sizeof(ck)) == 0);
	IT_ASSERT_STR_HAS(ck, "L7TOUT");
	for (int i = 0; i < 4; i++) {
		fd[i] = client_echo(&f, "frames only");
		IT_ASSERT_INT(node_of(&f, fd[i], 5000), ==, 0);
	}
	IT_ASSERT_INT(hap_int(&f.hap, "node2", "stot"), ==, 0);
	for (int i = 0; i < 4; i++)
		close(fd[i]);
}

static const struct it_test haproxy_tests[] = {
	{ "test_example_configs_check_as_written", test_example_configs_check_as_written, 0 },
	{ "test_echo_through_haproxy_with_the_clients_own_address",
	    test_echo_through_haproxy_with_the_clients_own_address, 0 },
	{ "test_connections_spread_across_both_nodes",
	    test_connections_spread_across_both_nodes, 0 },
	{ "test_stopped_node_is_marked_down_and_back_up",
	    test_stopped_node_is_marked_down_and_back_up, 0 },
	{ "test_heartbeat_closes_silent_clients_through_haproxy",
	    test_heartbeat_closes_silent_clients_through_haproxy, 0 },
	{ "test_check_wants_a_pong_not_an_open_port",
	    test_check_wants_a_pong_not_an_open_port, 0 },
	{ "test_application_behind_two_nodes_through_haproxy",
	    test_application_behind_two_nodes_through_haproxy, 0 },
	{ NULL, NULL, 0 }
};
IT_SUITE(haproxy, haproxy_tests)
