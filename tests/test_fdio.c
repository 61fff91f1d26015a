/*
 * fdio: the write loop's three outcomes on a real socket pair.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdio.h"

static int
nb_pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return -1;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	return 0;
}

static void
test_fdio_writes_everything_the_kernel_takes(void)
{
	int sv[2];
	char out[100], in[100];
	size_t done = 12345;

	CU_ASSERT_FATAL(nb_pair(sv) == 0);
	memset(out, 'x', sizeof(out));
	CU_ASSERT_EQUAL(fdio_write(sv[0], out, sizeof(out), &done), FDIO_DONE);
	CU_ASSERT_EQUAL(done, sizeof(out));
	CU_ASSERT_EQUAL(read(sv[1], in, sizeof(in)), (ssize_t)sizeof(in));
	CU_ASSERT(memcmp(in, out, sizeof(in)) == 0);
	close(sv[0]);
	close(sv[1]);
}

static void
test_fdio_stops_at_eagain_and_says_how_much_went(void)
{
	static char big[4 << 20];
	int sv[2], sz = 4096;
	size_t done = 0;

	CU_ASSERT_FATAL(nb_pair(sv) == 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	CU_ASSERT_EQUAL(fdio_write(sv[0], big, sizeof(big), &done), FDIO_AGAIN);
	CU_ASSERT(done > 0 && done < sizeof(big));
	close(sv[0]);
	close(sv[1]);
}

static void
test_fdio_reports_a_closed_peer_as_an_error_without_sigpipe(void)
{
	int sv[2];
	size_t done = 99;

	CU_ASSERT_FATAL(nb_pair(sv) == 0);
	close(sv[1]);
	/* no SIGPIPE handler is installed here: MSG_NOSIGNAL is what keeps us alive */
	CU_ASSERT_EQUAL(fdio_write(sv[0], "abc", 3, &done), FDIO_ERROR);
	CU_ASSERT_EQUAL(errno, EPIPE);
	CU_ASSERT_EQUAL(done, 0);
	close(sv[0]);
}

void test_fdio_register(void);

void
test_fdio_register(void)
{
	CU_pSuite s = CU_add_suite("fdio", NULL, NULL);

	CU_add_test(s, "test_fdio_writes_everything_the_kernel_takes",
	    test_fdio_writes_everything_the_kernel_takes);
	CU_add_test(s, "test_fdio_stops_at_eagain_and_says_how_much_went",
	    test_fdio_stops_at_eagain_and_says_how_much_went);
	CU_add_test(s, "test_fdio_reports_a_closed_peer_as_an_error_without_sigpipe",
	    test_fdio_reports_a_closed_peer_as_an_error_without_sigpipe);
}
