/*
 * handler registry and the built-in handlers, driven without sockets.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "handler.h"

/* never called: the registry stores and finds handlers, it does not run them */
static void
custom_message(struct conn *c, const uint8_t *data, size_t len)
{
	(void)c;
	(void)data;
	(void)len;
}

static const struct handler custom = { .name = "custom", .message = custom_message };
static const struct handler custom_again = { .name = "custom", .message = custom_message };
static const struct handler nameless = { .name = "", .message = custom_message };
static const struct handler no_message = { .name = "silent" };

static void
test_builtins_are_found_by_name(void)
{
	handler_register_builtins();
	CU_ASSERT_PTR_NOT_NULL_FATAL(handler_find("echo"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(handler_find("log"));
	CU_ASSERT_STRING_EQUAL(handler_find("echo")->name, "echo");
	CU_ASSERT_STRING_EQUAL(handler_find("log")->name, "log");
	CU_ASSERT_PTR_NULL(handler_find("nope"));
	CU_ASSERT_PTR_NULL(handler_find("ech"));
}

static void
test_builtins_register_once(void)
{
	const struct handler *echo;

	handler_register_builtins();
	echo = handler_find("echo");
	handler_register_builtins();
	CU_ASSERT_PTR_EQUAL(handler_find("echo"), echo);
}

static const struct handler other = { .name = "custom2", .message = custom_message };

/* found by its exact name, as the very struct registered (handlers are kept by pointer) */
static void
test_custom_handler_is_found_by_exact_name(void)
{
	CU_ASSERT_PTR_NULL(handler_find("custom"));
	CU_ASSERT_EQUAL(handler_register(&custom), 0);
	CU_ASSERT_PTR_EQUAL(handler_find("custom"), &custom);
	CU_ASSERT_EQUAL(handler_register(&other), 0);
	CU_ASSERT_PTR_EQUAL(handler_find("custom2"), &other);
	CU_ASSERT_PTR_EQUAL(handler_find("custom"), &custom);
	/* no prefix or case matching */
	CU_ASSERT_PTR_NULL(handler_find("custo"));
	CU_ASSERT_PTR_NULL(handler_find("custom22"));
	CU_ASSERT_PTR_NULL(handler_find("Custom"));
	CU_ASSERT_PTR_NULL(handler_find(""));
	/* the built-ins are still there, unchanged */
	CU_ASSERT_STRING_EQUAL(handler_find("echo")->name, "echo");
}

static void
test_duplicate_name_is_refused(void)
{
	handler_register(&custom);
	CU_ASSERT_EQUAL(handler_register(&custom_again), -1);
	CU_ASSERT_PTR_EQUAL(handler_find("custom"), &custom);
}

static void
test_invalid_handlers_are_refused(void)
{
	CU_ASSERT_EQUAL(handler_register(NULL), -1);
	CU_ASSERT_EQUAL(handler_register(&nameless), -1);
	CU_ASSERT_EQUAL(handler_register(&no_message), -1);
	CU_ASSERT_PTR_NULL(handler_find("silent"));
}

/*
 * The table has a bound and says so: once one registration is refused for
 * room, every later one is too, nothing registered before is lost or
 * overwritten, and a refused handler is not found.  Runs last: it fills
 * the registry for the rest of the process.
 */
static void
test_registry_has_a_bound(void)
{
	static struct handler many[64];
	static char names[64][16];
	int ok = 0, first_refused = -1;

	for (int i = 0; i < 64; i++) {
		snprintf(names[i], sizeof(names[i]), "h%d", i);
		many[i].name = names[i];
		many[i].message = custom_message;
		if (handler_register(&many[i]) == 0) {
			ok++;
			CU_ASSERT_EQUAL(first_refused, -1);	/* no success after a refusal */
		} else if (first_refused == -1) {
			first_refused = i;
		}
	}
	CU_ASSERT(ok > 0);
	CU_ASSERT_FATAL(first_refused > 0);
	for (int i = 0; i < 64; i++) {
		if (i < first_refused) {
			CU_ASSERT_PTR_EQUAL(handler_find(names[i]), &many[i]);
		} else {
			CU_ASSERT_PTR_NULL(handler_find(names[i]));
		}
	}
	CU_ASSERT_PTR_EQUAL(handler_find("custom"), &custom);
	CU_ASSERT_PTR_NOT_NULL(handler_find("echo"));
	CU_ASSERT_PTR_NOT_NULL(handler_find("log"));
	/* full: a duplicate is still a duplicate, and builtins stay idempotent */
	CU_ASSERT_EQUAL(handler_register(&custom_again), -1);
	handler_register_builtins();
	CU_ASSERT_PTR_NOT_NULL(handler_find("echo"));
}

void test_handler_register(void);

void
test_handler_register(void)
{
	CU_pSuite s = CU_add_suite("handler", NULL, NULL);

	CU_add_test(s, "test_builtins_are_found_by_name", test_builtins_are_found_by_name);
	CU_add_test(s, "test_builtins_register_once", test_builtins_register_once);
	CU_add_test(s, "test_custom_handler_is_found_by_exact_name",
	    test_custom_handler_is_found_by_exact_name);
	CU_add_test(s, "test_duplicate_name_is_refused", test_duplicate_name_is_refused);
	CU_add_test(s, "test_invalid_handlers_are_refused", test_invalid_handlers_are_refused);
	CU_add_test(s, "test_registry_has_a_bound", test_registry_has_a_bound);
}
