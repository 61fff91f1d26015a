/*
 * More than one machine (issue 13): one application linked to two sockserv
 * nodes (node_id 1 and 2) over the backend link, as README "Running more
 * than one machine" and sockserv-backend(7) describe.  The test plays the
 * application with linkpeer: each node runs one worker, so one link per
 * node; a SEND goes over the link of the node in the top 16 bits of the
 * connection id (the link its OPEN came on), a PUBLISH over every link.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "linkpeer.h"
#include "linkproto.h"

#define NODES 2

struct node {
	struct srv *s;
	struct peer link;	/* this node's (one worker's) link */
};

static char node_extra[NODES][1024];

/* node_id n, one worker, listener "app" handing its clients to the backend at path */
static struct srv *
node_start(int n, const char *path)
{
	snprintf(node_extra[n - 1], sizeof(node_extra[n - 1]),
	    "node_id = %d;\nbackends = ( { name = \"app\"; address = \"unix:%s\"; "
	    "reconnect_min = 0.05; reconnect_max = 0.2; } );", n, path);
	struct srv_opts o = {
		.workers = 1,
		.extra = node_extra[n - 1],
		.listeners = { { .name = "app", .codec = "frame", .handler = "backend",
		    .extra = "backend = \"app\";" } },
	};
	return srv_start(&o);
}

/*
 * Both nodes up and their links accepted; link i is node i + 1's, told by
 * the node= line of the HELLO each link starts with.
 */
static void
fleet_start(struct node nodes[NODES])
{
	char *path = sock_path();
	int lfd = peer_listen(path);

	for (int n = 1; n <= NODES; n++)
		nodes[n - 1].s = node_start(n, path);
	for (int i = 0; i < NODES; i++) {
		struct peer p;
		int node;

		peer_accept(&p, lfd, 5000);
		node = peer_hello_node(&p);
		IT_ASSERT(node >= 1 && node <= NODES);
		IT_ASSERT(nodes[node - 1].link.fd == 0);
		nodes[node - 1].link = p;
	}
	close(lfd);
	free(path);
}

/* a client of node n: its fd, and its connection id from the OPEN on n's link */
static int
client_on(struct node nodes[NODES], int n, uint64_t *id)
{
	struct node *nd = &nodes[n - 1];
	struct pmsg m;
	int fd = cli_connect(srv_addr(nd->s, "app"), srv_port(nd->s, "app"));

	IT_ASSERT(fd >= 0);
	peer_wait_open(&nd->link, cli_local_port(fd), &m);
	*id = m.id;
	/* the node is in the id: what an application routes by */
	IT_ASSERT_INT(*id >> 48, ==, n);
	return fd;
}

/* the application's routing: a SEND goes over the link of the node in the id */
static void
app_send(struct node nodes[NODES], uint64_t id, uint32_t seq, const char *text)
{
	int n = (int)(id >> 48);

	IT_ASSERT(n >= 1 && n <= NODES);
	peer_send(&nodes[n - 1].link, LINK_SEND, id, seq, text, strlen(text));
}

/* PUBLISH topic text on every link (one per node: one worker each) */
static void
app_publish(struct node nodes[NODES], const char *topic, const char *text)
{
	uint8_t pub[512];
	size_t tl = strlen(topic), ml = strlen(text);

	IT_ASSERT(tl >= 1 && tl <= 255 && 1 + tl + ml <= sizeof(pub));
	pub[0] = (uint8_t)tl;
	memcpy(pub + 1, topic, tl);
	memcpy(pub + 1 + tl, text, ml);
	for (int i = 0; i < NODES; i++)
		peer_send(&nodes[i].link, LINK_PUBLISH, 0, 0, pub, 1 + tl + ml);
}

static void
test_send_by_id_reaches_the_client_on_its_own_node(void)
{
	struct node nodes[NODES];
	struct pmsg m;
	uint64_t id1, id2;
	int fd1, fd2;

	memset(nodes, 0, sizeof(nodes));
	fleet_start(nodes);
	fd1 = client_on(nodes, 1, &id1);
	fd2 = client_on(nodes, 2, &id2);
	/* two nodes, two id spaces: the ids differ in the node bits whatever the rest */
	IT_ASSERT(id1 != id2);

	/* each client's message arrives on its own node's link only */
	IT_ASSERT_STATUS(cli_send_frame(fd1, FRAME_DATA, "from 1", 6), CLI_OK);
	peer_wait(&nodes[0].link, LINK_MSG, id1, &m);
	IT_ASSERT(m.len == 6 && memcmp(m.data, "from 1", 6) == 0);
	IT_ASSERT_STATUS(cli_send_frame(fd2, FRAME_DATA, "from 2", 6), CLI_OK);
	peer_wait(&nodes[1].link, LINK_MSG, id2, &m);
	IT_ASSERT(m.len == 6 && memcmp(m.data, "from 2", 6) == 0);

	/* SENDs routed by id: each client gets its own message and nothing else */
	app_send(nodes, id2, 1, "to 2");
	app_send(nodes, id1, 1, "to 1");
	IT_EXPECT_FRAME(fd1, FRAME_DATA, "to 1", 4);
	IT_EXPECT_FRAME(fd2, FRAME_DATA, "to 2", 4);
	IT_EXPECT_SILENCE(fd1, 300);
	IT_EXPECT_SILENCE(fd2, 300);

	/*
	 * An id sent to the wrong node is not a client there: GONE, and the
	 * client it names (on the other node) gets nothing.
	 */
	peer_send(&nodes[1].link, LINK_SEND, id1, 2, "astray", 6);
	peer_wait(&nodes[1].link, LINK_GONE, id1, &m);
	IT_ASSERT_INT(m.seq, ==, 2);
	IT_EXPECT_SILENCE(fd1, 300);
	IT_EXPECT_SILENCE(fd2, 0);

	/* the close reaches the application on the client's own node */
	close(fd2);
	peer_wait(&nodes[1].link, LINK_CLOSE, id2, &m);
	app_send(nodes, id1, 3, "still here");
	IT_EXPECT_FRAME(fd1, FRAME_DATA, "still here", 10);
	close(fd1);
}

static void
test_publish_reaches_subscribers_on_both_nodes(void)
{
	struct node nodes[NODES];
	uint64_t id[4];
	int fd[4];

	memset(nodes, 0, sizeof(nodes));
	fleet_start(nodes);
	/* two subscribers and one bystander on node 1, one subscriber on node 2 */
	fd[0] = client_on(nodes, 1, &id[0]);
	fd[1] = client_on(nodes, 1, &id[1]);
	fd[2] = client_on(nodes, 2, &id[2]);
	fd[3] = client_on(nodes, 1, &id[3]);
	for (int i = 0; i < 3; i++)
		peer_send(&nodes[(id[i] >> 48) - 1].link, LINK_SUB, id[i], 0, "room", 4);
	/* SUB has no reply: a round trip on each link proves it was applied */
	for (int i = 0; i < 3; i++) {
		char text[32];

		snprintf(text, sizeof(text), "hi %d", i);
		app_send(nodes, id[i], 1, text);
		IT_EXPECT_FRAME(fd[i], FRAME_DATA, text, strlen(text));
	}

	app_publish(nodes, "room", "news");
	for (int i = 0; i < 3; i++)
		IT_EXPECT_FRAME(fd[i], FRAME_DATA, "news", 4);
	/* once per subscriber, though the PUBLISH went to every node */
	for (int i = 0; i < 3; i++)
		IT_EXPECT_SILENCE(fd[i], i == 0 ? 300 : 0);
	IT_EXPECT_SILENCE(fd[3], 0);

	/* a topic nobody on node 2 holds: node 1's subscribers only */
	peer_send(&nodes[0].link, LINK_SUB, id[3], 0, "lobby", 5);
	app_send(nodes, id[3], 1, "sync");
	IT_EXPECT_FRAME(fd[3], FRAME_DATA, "sync", 4);
	app_publish(nodes, "lobby", "door");
	IT_EXPECT_FRAME(fd[3], FRAME_DATA, "door", 4);
	IT_EXPECT_SILENCE(fd[2], 300);
	IT_EXPECT_SILENCE(fd[0], 0);
	for (int i = 0; i < 4; i++)
		close(fd[i]);
}

static const struct it_test fleet_tests[] = {
	{ "test_send_by_id_reaches_the_client_on_its_own_node",
	    test_send_by_id_reaches_the_client_on_its_own_node, 0 },
	{ "test_publish_reaches_subscribers_on_both_nodes",
	    test_publish_reaches_subscribers_on_both_nodes, 0 },
	{ NULL, NULL, 0 }
};
IT_SUITE(fleet, fleet_tests)
