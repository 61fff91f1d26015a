/*
 * conn: the handler API in one process, over real loopback sockets and a
 * real event loop, no server processes: what a handler does from open(),
 * or to another connection, reaches the client; data stays readable after
 * conn_close().
 */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "listener.h"

void test_conn_register(void);

enum mode { M_GREET, M_CLOSE_IN_OPEN, M_FORWARD, M_CLOSE_THEN_READ };

static enum mode mode;
static struct conn *opened[4];
static int nopened;
static uint8_t seen[256];
static size_t nseen;

static int
t_open(struct conn *c)
{
	if (nopened < 4)
		opened[nopened++] = c;
	if (mode == M_GREET)
		return conn_send(c, "hello", 5);
	if (mode == M_CLOSE_IN_OPEN)
		conn_close(c, CLOSE_PEER);
	return 0;
}

static void
t_message(struct conn *c, const uint8_t *data, size_t len)
{
	if (mode == M_FORWARD && nopened == 2) {
		/* to the other connection: not the one whose event this is */
		conn_send(opened[0] == c ? opened[1] : opened[0], data, len);
	} else if (mode == M_CLOSE_THEN_READ) {
		conn_close(c, CLOSE_PEER);
		/* the handler still owns data for the rest of this call */
		nseen = len < sizeof(seen) ? len : sizeof(seen);
		memcpy(seen, data, nseen);
	}
}

static const struct handler t_handler = { .name = "t", .open = t_open, .message = t_message };

struct fixture {
	struct evloop *loop;
	struct twheel *wheel;
	struct conn_env env;
	struct listener_conf lc;
	struct wlistener wl;
	int lfd;
};

static struct stats_slot slot;

static void
setup(struct fixture *f, enum codec codec)
{
	char err[128];

	memset(f, 0, sizeof(*f));
	memset(&slot, 0, sizeof(slot));
	nopened = 0;
	nseen = 0;
	snprintf(f->lc.name, sizeof(f->lc.name), "t");
	snprintf(f->lc.address, sizeof(f->lc.address), "127.0.0.1");
	f->lc.port = 0;	/* any free port: the kernel picks */
	f->lc.codec = codec;
	f->loop = evloop_create(EVB_EPOLL, 1024);
	f->wheel = twheel_create(100, 64, clock_now_ms());
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->loop);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->wheel);
	conn_env_init(&f->env, f->loop, f->wheel, &slot, 1 << 20, 100);
	f->lfd = listener_open(&f->lc, 16, err, sizeof(err));
	CU_ASSERT_FATAL(f->lfd >= 0);
	f->wl.conf = &f->lc;
	f->wl.handler = &t_handler;
	f->wl.codec.codec = codec;
	f->wl.codec.max_frame = 1 << 20;
	f->wl.env = &f->env;
	f->wl.fd = f->lfd;
	CU_ASSERT_FATAL(evloop_add(f->loop, f->lfd, EV_READ, conn_accept_cb, &f->wl) == 0);
}

static void
teardown(struct fixture *f)
{
	int max = evloop_maxfd(f->loop);

	for (int fd = 0; fd < max; fd++) {
		evloop_cb *cb;
		void *data;
		if (evloop_get(f->loop, fd, &cb, &data) == 0 && conn_is_conn_cb(cb))
			conn_shutdown(data);
	}
	evloop_del(f->loop, f->lfd);
	close(f->lfd);
	conn_env_free(&f->env);
	twheel_free(f->wheel);
	evloop_free(f->loop);
}

static int
client(struct fixture *f)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_port = htons((uint16_t)listener_port(f->lfd));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

/* run the loop a few rounds: enough for accept, read, write on loopback */
static void
pump(struct fixture *f)
{
	for (int i = 0; i < 10; i++) {
		f->env.now_ms = clock_now_ms();
		evloop_run_once(f->loop, 20);
	}
}

/* what the client can read now: bytes, 0 for EOF, -1 for nothing (yet) */
static ssize_t
client_read(int fd, void *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, 200) != 1)
		return -1;
	return read(fd, buf, len);
}

static void
test_greeting_sent_from_open_reaches_the_client(void)
{
	struct fixture f;
	char buf[16];
	int fd;

	mode = M_GREET;
	setup(&f, CODEC_RAW);
	fd = client(&f);
	pump(&f);
	CU_ASSERT_EQUAL(client_read(fd, buf, sizeof(buf)), 5);
	CU_ASSERT(memcmp(buf, "hello", 5) == 0);
	close(fd);
	teardown(&f);
}

static void
test_close_from_open_ends_the_connection_at_once(void)
{
	struct fixture f;
	char buf[16];
	int fd;

	mode = M_CLOSE_IN_OPEN;
	setup(&f, CODEC_RAW);
	fd = client(&f);
	pump(&f);
	CU_ASSERT_EQUAL(client_read(fd, buf, sizeof(buf)), 0);	/* EOF */
	close(fd);
	teardown(&f);
}

static void
test_send_to_another_connection_is_delivered(void)
{
	struct fixture f;
	char buf[16];
	int a, b;

	mode = M_FORWARD;
	setup(&f, CODEC_RAW);
	a = client(&f);
	b = client(&f);
	pump(&f);
	CU_ASSERT_EQUAL_FATAL(nopened, 2);
	CU_ASSERT_EQUAL(write(a, "relay", 5), 5);
	pump(&f);
	CU_ASSERT_EQUAL(client_read(b, buf, sizeof(buf)), 5);
	CU_ASSERT(memcmp(buf, "relay", 5) == 0);
	close(a);
	close(b);
	teardown(&f);
}

static void
test_message_data_stays_valid_after_conn_close(void)
{
	struct fixture f;
	uint8_t frame[FRAME_HDR_LEN + 100];
	uint8_t payload[100];
	int fd;

	mode = M_CLOSE_THEN_READ;
	setup(&f, CODEC_FRAME);
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	proto_frame_header(frame, FRAME_DATA, sizeof(payload));
	memcpy(frame + FRAME_HDR_LEN, payload, sizeof(payload));
	fd = client(&f);
	pump(&f);
	/* in two reads: the message is gathered in the connection's own buffer */
	CU_ASSERT_EQUAL(write(fd, frame, 50), 50);
	pump(&f);
	CU_ASSERT_EQUAL(write(fd, frame + 50, sizeof(frame) - 50), (ssize_t)(sizeof(frame) - 50));
	pump(&f);
	CU_ASSERT_EQUAL(nseen, sizeof(payload));
	CU_ASSERT(memcmp(seen, payload, sizeof(payload)) == 0);
	close(fd);
	teardown(&f);
}

void
test_conn_register(void)
{
	CU_pSuite s = CU_add_suite("conn", NULL, NULL);

	CU_add_test(s, "test_greeting_sent_from_open_reaches_the_client",
	    test_greeting_sent_from_open_reaches_the_client);
	CU_add_test(s, "test_close_from_open_ends_the_connection_at_once",
	    test_close_from_open_ends_the_connection_at_once);
	CU_add_test(s, "test_send_to_another_connection_is_delivered",
	    test_send_to_another_connection_is_delivered);
	CU_add_test(s, "test_message_data_stays_valid_after_conn_close",
	    test_message_data_stays_valid_after_conn_close);
}
