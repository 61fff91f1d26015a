/*
 * listener: how an endpoint is printed (listener_hostport_str and
 * listener_addr_str, shared by the master's log, listener errors, the
 * connections' peer names and sockserv-client).
 */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <string.h>

#include "listener.h"

static void
test_listener_hostport_brackets_only_ipv6(void)
{
	char buf[64];

	CU_ASSERT_STRING_EQUAL(listener_hostport_str("127.0.0.1", 7000, buf, sizeof(buf)),
	    "127.0.0.1:7000");
	CU_ASSERT_STRING_EQUAL(listener_hostport_str("::1", 7000, buf, sizeof(buf)),
	    "[::1]:7000");
	CU_ASSERT_STRING_EQUAL(listener_hostport_str("*", 1, buf, sizeof(buf)), "*:1");
	CU_ASSERT_STRING_EQUAL(listener_hostport_str("localhost", 65535, buf, sizeof(buf)),
	    "localhost:65535");
}

static void
test_listener_hostport_cuts_to_the_buffer(void)
{
	char buf[8];

	CU_ASSERT_PTR_EQUAL(listener_hostport_str("fe80::1", 7000, buf, sizeof(buf)), buf);
	CU_ASSERT_STRING_EQUAL(buf, "[fe80::");
}

/* listener_addr_str() of the socket address of text (a literal of family af) */
static const char *
addr_str(int af, const char *text, int port, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)af;
	if (af == AF_INET) {
		s4->sin_port = htons((uint16_t)port);
		CU_ASSERT_EQUAL(inet_pton(af, text, &s4->sin_addr), 1);
	} else if (af == AF_INET6) {
		s6->sin6_port = htons((uint16_t)port);
		CU_ASSERT_EQUAL(inet_pton(af, text, &s6->sin6_addr), 1);
	}
	return listener_addr_str((struct sockaddr *)&ss, buf, len);
}

static void
test_listener_addr_str_prints_each_family(void)
{
	char buf[64];

	CU_ASSERT_STRING_EQUAL(addr_str(AF_INET, "10.1.2.3", 40274, buf, sizeof(buf)),
	    "10.1.2.3:40274");
	CU_ASSERT_STRING_EQUAL(addr_str(AF_INET6, "2001:db8::5", 7000, buf, sizeof(buf)),
	    "[2001:db8::5]:7000");
	/* an IPv4 client of a dual-stack listener reads as IPv4 */
	CU_ASSERT_STRING_EQUAL(addr_str(AF_INET6, "::ffff:127.0.0.1", 7000, buf, sizeof(buf)),
	    "127.0.0.1:7000");
	CU_ASSERT_STRING_EQUAL(addr_str(AF_UNIX, NULL, 0, buf, sizeof(buf)), "?");
}

void test_listener_register(void);

void
test_listener_register(void)
{
	CU_pSuite s = CU_add_suite("listener", NULL, NULL);

	CU_add_test(s, "test_listener_hostport_brackets_only_ipv6",
	    test_listener_hostport_brackets_only_ipv6);
	CU_add_test(s, "test_listener_hostport_cuts_to_the_buffer",
	    test_listener_hostport_cuts_to_the_buffer);
	CU_add_test(s, "test_listener_addr_str_prints_each_family",
	    test_listener_addr_str_prints_each_family);
}
