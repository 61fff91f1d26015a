/*
 * upgrade: the environment a new master trusts nothing of (strict syntax,
 * unset whatever it said), the command line an upgrade runs (argv[0] and
 * -c made absolute at start), and the renames of the pid file between its
 * name and NAME.oldbin (a stale file at the target is replaced, a held one
 * never).
 */
#include <CUnit/CUnit.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lockfile.h"
#include "upgrade.h"

void test_upgrade_register(void);

static char dir[512];

static int
suite_init(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/sockserv-upgrade.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
suite_clean(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
take(const char *fds, const char *ready, const char *ids, char *err, size_t errlen)
{
	unsetenv("SOCKSERV_LISTEN_FDS");
	unsetenv("SOCKSERV_UPGRADE_FD");
	unsetenv("SOCKSERV_UPGRADE_IDS");
	if (fds != NULL)
		setenv("SOCKSERV_LISTEN_FDS", fds, 1);
	if (ready != NULL)
		setenv("SOCKSERV_UPGRADE_FD", ready, 1);
	if (ids != NULL)
		setenv("SOCKSERV_UPGRADE_IDS", ids, 1);
	err[0] = '\0';
	return upgrade_take_env(err, errlen);
}

static void
test_env_takes_a_plain_list_and_unsets_it(void)
{
	char err[256];
	int fds[8];
	size_t n;

	CU_ASSERT_EQUAL(take("5,6,40", "7", "4096", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(upgrade_inherited(), 1);
	CU_ASSERT_EQUAL(upgrade_id_floor(), 4096);
	n = upgrade_inherited_fds(fds, 8);
	CU_ASSERT_EQUAL_FATAL(n, 4);
	CU_ASSERT(fds[0] == 5 && fds[1] == 6 && fds[2] == 40 && fds[3] == 7);
	CU_ASSERT_PTR_NULL(getenv("SOCKSERV_LISTEN_FDS"));
	CU_ASSERT_PTR_NULL(getenv("SOCKSERV_UPGRADE_FD"));
	CU_ASSERT_PTR_NULL(getenv("SOCKSERV_UPGRADE_IDS"));
	/* nothing set: an ordinary start */
	CU_ASSERT_EQUAL(take(NULL, NULL, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(upgrade_inherited(), 0);
	CU_ASSERT_EQUAL(upgrade_inherited_fds(fds, 8), 0);
	CU_ASSERT_EQUAL(upgrade_id_floor(), 0);
	/* the ready pipe and the id floor mean nothing without the sockets */
	CU_ASSERT_EQUAL(take(NULL, "7", "99", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(upgrade_inherited_fds(fds, 8), 0);
	CU_ASSERT_EQUAL(upgrade_id_floor(), 0);
}

static void
test_env_refuses_anything_but_descriptors_above_2(void)
{
	static const char *const bad_fds[] = {
		"", ",", "3,", ",3", "2", "0", "3,,4", "3;4", "x", "3 ", " 3", "+3", "-3",
		"3,3", "99999999999", "2147483648", "3a", "9999999999999999999",
		"99999999999999999999999",
	};
	char err[256];
	int fds[8];

	for (size_t i = 0; i < sizeof(bad_fds) / sizeof(bad_fds[0]); i++) {
		CU_ASSERT_EQUAL(take(bad_fds[i], NULL, NULL, err, sizeof(err)), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "SOCKSERV_LISTEN_FDS"));
		CU_ASSERT_EQUAL(upgrade_inherited(), 0);
		CU_ASSERT_EQUAL(upgrade_inherited_fds(fds, 8), 0);
		CU_ASSERT_PTR_NULL(getenv("SOCKSERV_LISTEN_FDS"));
	}
	CU_ASSERT_EQUAL(take("3,4", "4", NULL, err, sizeof(err)), -1);	/* a socket too */
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "SOCKSERV_UPGRADE_FD"));
	CU_ASSERT_EQUAL(take("3,4", "1", NULL, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(take("3,4", "", NULL, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(take("3,4", "5", "x", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "SOCKSERV_UPGRADE_IDS"));
	/* a floor that would leave the counters no room */
	CU_ASSERT_EQUAL(take("3,4", "5", "1099511627776", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(getenv("SOCKSERV_UPGRADE_FD"));
	CU_ASSERT_PTR_NULL(getenv("SOCKSERV_UPGRADE_IDS"));
}

static void
test_command_is_made_absolute_at_start(void)
{
	char cwd[PATH_MAX], want[PATH_MAX + 32], err[256];
	char *argv1[] = { "./build/sockserv", "-f", "-c", "etc/x.cfg", NULL };
	char *argv2[] = { "sh", "-fcetc/x.cfg", NULL };
	char *const *cmd;

	CU_ASSERT_FATAL(getcwd(cwd, sizeof(cwd)) != NULL);
	CU_ASSERT_EQUAL_FATAL(upgrade_set_command(4, argv1, 3, 0, "/abs/etc/x.cfg", err,
	    sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/build/sockserv", cwd);
	CU_ASSERT_STRING_EQUAL(upgrade_binary(), want);
	cmd = upgrade_command();
	CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
	CU_ASSERT_STRING_EQUAL(cmd[0], want);
	CU_ASSERT_STRING_EQUAL(cmd[1], "-f");
	CU_ASSERT_STRING_EQUAL(cmd[2], "-c");
	CU_ASSERT_STRING_EQUAL(cmd[3], "/abs/etc/x.cfg");
	CU_ASSERT_PTR_NULL(cmd[4]);
	/* found through PATH, and the -c value inside a word of options */
	CU_ASSERT_EQUAL_FATAL(upgrade_set_command(2, argv2, 1, 3, "/abs/etc/x.cfg", err,
	    sizeof(err)), 0);
	CU_ASSERT(upgrade_binary()[0] == '/');
	CU_ASSERT_PTR_NOT_NULL(strstr(upgrade_binary(), "/sh"));
	CU_ASSERT_EQUAL(access(upgrade_binary(), X_OK), 0);
	cmd = upgrade_command();
	CU_ASSERT_STRING_EQUAL(cmd[1], "-fc/abs/etc/x.cfg");
	CU_ASSERT_PTR_NULL(cmd[2]);
}

static void
test_rename_replaces_a_stale_file_never_a_held_one(void)
{
	char path[600], oldbin[700], small[5];
	int fd, fd2;

	snprintf(path, sizeof(path), "%s/s.pid", dir);
	CU_ASSERT_EQUAL(upgrade_oldbin_name(path, oldbin, sizeof(oldbin)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(oldbin, "s.pid.oldbin"));
	CU_ASSERT_EQUAL(upgrade_oldbin_name(path, small, sizeof(small)), -1);
	CU_ASSERT_EQUAL_FATAL(lockfile_acquire(path, 0644, &fd), LOCKFILE_OK);
	CU_ASSERT_EQUAL(upgrade_rename(fd, path, oldbin), 0);
	CU_ASSERT(lockfile_is_at(fd, oldbin));
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
	/* not our file at from: nothing moves */
	CU_ASSERT_EQUAL(upgrade_rename(fd, path, oldbin), -1);
	/* a killed new master's file at the name: stale, replaced */
	CU_ASSERT_EQUAL_FATAL(lockfile_acquire(path, 0644, &fd2), LOCKFILE_OK);
	close(fd2);
	CU_ASSERT_EQUAL(upgrade_rename(fd, oldbin, path), 0);
	CU_ASSERT(lockfile_is_at(fd, path));
	CU_ASSERT_EQUAL(access(oldbin, F_OK), -1);
	/* a live one's: kept, and ours stays where it was */
	CU_ASSERT_EQUAL(upgrade_rename(fd, path, oldbin), 0);
	CU_ASSERT_EQUAL_FATAL(lockfile_acquire(path, 0644, &fd2), LOCKFILE_OK);
	CU_ASSERT_EQUAL(upgrade_rename(fd, oldbin, path), -1);
	CU_ASSERT(lockfile_is_at(fd, oldbin));
	CU_ASSERT(lockfile_is_at(fd2, path));
	lockfile_release(path, fd2);
	lockfile_release(oldbin, fd);
}

void
test_upgrade_register(void)
{
	CU_pSuite s = CU_add_suite("upgrade", suite_init, suite_clean);

	if (s == NULL)
		return;
	CU_add_test(s, "test_env_takes_a_plain_list_and_unsets_it",
	    test_env_takes_a_plain_list_and_unsets_it);
	CU_add_test(s, "test_env_refuses_anything_but_descriptors_above_2",
	    test_env_refuses_anything_but_descriptors_above_2);
	CU_add_test(s, "test_command_is_made_absolute_at_start",
	    test_command_is_made_absolute_at_start);
	CU_add_test(s, "test_rename_replaces_a_stale_file_never_a_held_one",
	    test_rename_replaces_a_stale_file_never_a_held_one);
}
