/*
 * lockfile tests: the owner always holds a file it created (mode whatever
 * the umask), a second owner is turned away while the first lives, a stale
 * file is replaced and never written through (hard link, symlink, FIFO),
 * a rival that locked an inode just unlinked starts over, readers see held
 * or not, and release removes only our own file.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lockfile.h"

void test_lockfile_register(void);

static char dir[512];
static char path[600];
static char victim[600];

static int
suite_init(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/sockserv-lockfile.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/f.lock", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	return 0;
}

static int
suite_clean(void)
{
	unlink(path);
	unlink(victim);
	return rmdir(dir);
}

static void
write_victim(void)
{
	FILE *f = fopen(victim, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("precious\n", f);
	fclose(f);
}

static int
victim_intact(void)
{
	char buf[32] = "";
	FILE *f = fopen(victim, "r");
	int ok;

	if (f == NULL)
		return 0;
	ok = fgets(buf, sizeof(buf), f) != NULL && strcmp(buf, "precious\n") == 0 &&
	    fgetc(f) == EOF;
	fclose(f);
	return ok;
}

static void
test_acquire_creates_a_locked_file_with_its_mode(void)
{
	struct stat sb;
	mode_t old = umask(077);
	int fd, probe;

	CU_ASSERT_EQUAL_FATAL(lockfile_acquire(path, 0644, &fd), LOCKFILE_OK);
	umask(old);
	CU_ASSERT_EQUAL(fstat(fd, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0644);
	CU_ASSERT_EQUAL(sb.st_uid, geteuid());
	CU_ASSERT_EQUAL(sb.st_size, 0);
	CU_ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	CU_ASSERT((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
	/* another open file description cannot lock it */
	probe = open(path, O_RDONLY);
	CU_ASSERT_FATAL(probe != -1);
	CU_ASSERT_EQUAL(flock(probe, LOCK_SH | LOCK_NB), -1);
	close(probe);
	CU_ASSERT_EQUAL(lockfile_held(path, NULL), 1);
	lockfile_release(path, fd);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
	CU_ASSERT_EQUAL(lockfile_held(path, NULL), 0);
}

static void
test_second_acquire_is_busy_and_changes_nothing(void)
{
	struct stat before, after;
	int fd, fd2 = 12345;

	CU_ASSERT_EQUAL_FATAL(lockfile_acquire(path, 0644, &fd), LOCKFILE_OK);
	CU_ASSERT_EQUAL(write(fd, "1\n", 2), 2);
	CU_ASSERT_EQUAL(fstat(fd, &before), 0);
	CU_ASSERT_EQUAL(lockfile_acquire(path, 0644, &fd2), LOCKFILE_BUSY);
	CU_ASSERT_EQUAL(fd2, -1);
	CU_ASSERT_EQUAL(stat(path, &after), 0);
	CU_ASSERT_EQUAL(before.st_ino, after.st_ino);
	CU_ASSERT_EQUAL(after.st_size, 2);
	lockfile_release(path, fd);
}

static void
test_held_hands_the_reader_a_descriptor(void)
{
	char buf[8] = "";
	int fd, rfd;

	CU_ASSERT_EQUAL_FATAL(lockfile_acquire(path, 0644, &fd), LOCKFILE_OK);
	CU_ASSERT_EQUAL(write(fd, "42\n", 3), 3);
	CU_ASSERT_EQUAL(lockfile_held(path, &rfd), 1);
	CU_ASSERT_FATAL(rfd >= 0);
	CU_ASSERT_EQUAL(read(rfd, buf, sizeof(buf) - 1), 3);
	CU_ASSERT_STRING_EQUAL(buf, "42\n");
	CU_ASSERT(lockfile_is_at(rfd, path));
	close(rfd);
	lockfile_release(path, fd);
	/* no holder: 0 and no descriptor */
	CU_ASSERT_EQUAL(lockfile_held(path, &rfd), 0);
	CU_ASSERT_EQUAL(rfd, -1);
}

static void
test_stale_file_is_replaced_not_written_through(void)
{
	struct stat vb, sb;
	int fd;

	/* a hard link to someone's file, left where our file was */
	write_victim();
	CU_ASSERT_FATAL(link(victim, path) == 0);
	CU_ASSERT_EQUAL(lockfile_held(path, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(lockfile_acquire(path, 0644, &fd), LOCKFILE_OK);
	CU_ASSERT_EQUAL(write(fd, "mine\n", 5), 5);
	CU_ASSERT(victim_intact());
	CU_ASSERT_EQUAL(stat(victim, &vb), 0);
	CU_ASSERT_EQUAL(vb.st_nlink, 1);
	CU_ASSERT_EQUAL(stat(path, &sb), 0);
	CU_ASSERT(sb.st_ino != vb.st_ino);
	lockfile_release(path, fd);
	unlink(victim);
}

static void
test_symlink_is_refused_and_its_target_untouched(void)
{
	int fd;

	write_victim();
	CU_ASSERT_FATAL(symlink(victim, path) == 0);
	CU_ASSERT_EQUAL(lockfile_acquire(path, 0644, &fd), LOCKFILE_ERROR);
	CU_ASSERT_EQUAL(errno, ELOOP);
	CU_ASSERT(victim_intact());
	/* dangling: the target is not created */
	unlink(victim);
	CU_ASSERT_EQUAL(lockfile_acquire(path, 0644, &fd), LOCKFILE_ERROR);
	CU_ASSERT_EQUAL(access(victim, F_OK), -1);
	/* readers do not follow it either */
	CU_ASSERT_EQUAL(lockfile_held(path, NULL), -1);
	unlink(path);
}

static void
test_a_fifo_at_the_path_is_refused_without_hanging(void)
{
	int fd;

	CU_ASSERT_FATAL(mkfifo(path, 0644) == 0);
	alarm(5);	/* a blocking open would hang the suite: fail loudly instead */
	CU_ASSERT_EQUAL(lockfile_acquire(path, 0644, &fd), LOCKFILE_ERROR);
	alarm(0);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	unlink(path);
}

/*
 * The classic race, staged: a rival opened the old file and locks it only
 * after its owner unlinked it.  The rival must see that the inode it
 * locked is no longer at the path and take the file that is.
 */
static void
test_a_lock_on_an_unlinked_inode_does_not_count(void)
{
	int old, fd, rfd;

	CU_ASSERT_EQUAL_FATAL(lockfile_acquire(path, 0644, &old), LOCKFILE_OK);
	rfd = open(path, O_RDONLY);
	CU_ASSERT_FATAL(rfd != -1);
	lockfile_release(path, old);	/* unlinked, lock dropped */
	CU_ASSERT_EQUAL(flock(rfd, LOCK_EX | LOCK_NB), 0);	/* the stale inode: lockable */
	CU_ASSERT(!lockfile_is_at(rfd, path));
	/* the rival holding the old inode does not make the path busy */
	CU_ASSERT_EQUAL(lockfile_acquire(path, 0644, &fd), LOCKFILE_OK);
	CU_ASSERT(lockfile_is_at(fd, path));
	close(rfd);
	lockfile_release(path, fd);
}

static void
test_lock_outlives_the_locker_in_a_forked_child(void)
{
	int fd, fd2;
	pid_t pid;
	int p[2];
	char c;

	CU_ASSERT_FATAL(pipe(p) == 0);
	CU_ASSERT_EQUAL_FATAL(lockfile_acquire(path, 0644, &fd), LOCKFILE_OK);
	pid = fork();
	CU_ASSERT_FATAL(pid != -1);
	if (pid == 0) {
		/* like daemon_detach's grandchild: it keeps the inherited lock */
		close(p[1]);
		(void)!read(p[0], &c, 1);
		_exit(0);
	}
	close(p[0]);
	close(fd);
	CU_ASSERT_EQUAL(lockfile_held(path, NULL), 1);
	CU_ASSERT_EQUAL(lockfile_acquire(path, 0644, &fd2), LOCKFILE_BUSY);
	close(p[1]);
	waitpid(pid, NULL, 0);
	CU_ASSERT_EQUAL(lockfile_held(path, NULL), 0);
	CU_ASSERT_EQUAL(lockfile_acquire(path, 0644, &fd2), LOCKFILE_OK);
	lockfile_release(path, fd2);
}

/* any user who can read a stale file can hold LOCK_SH on it forever: that owns nothing */
static void
test_readers_squatting_a_stale_file_do_not_block_the_owner(void)
{
	struct stat before, after;
	int sq, fd;

	CU_ASSERT_EQUAL_FATAL(lockfile_acquire(path, 0644, &fd), LOCKFILE_OK);
	close(fd);	/* the owner crashed: stale */
	CU_ASSERT_EQUAL(stat(path, &before), 0);
	sq = open(path, O_RDONLY);
	CU_ASSERT_FATAL(sq != -1);
	CU_ASSERT_EQUAL_FATAL(flock(sq, LOCK_SH | LOCK_NB), 0);
	CU_ASSERT_EQUAL(lockfile_held(path, NULL), 0);
	CU_ASSERT_EQUAL(lockfile_acquire(path, 0644, &fd), LOCKFILE_OK);
	CU_ASSERT_EQUAL(stat(path, &after), 0);
	CU_ASSERT(before.st_ino != after.st_ino);
	/* and now the path is owned: a squatter on the new file cannot get in */
	close(sq);
	sq = open(path, O_RDONLY);
	CU_ASSERT_FATAL(sq != -1);
	CU_ASSERT_EQUAL(flock(sq, LOCK_SH | LOCK_NB), -1);
	close(sq);
	lockfile_release(path, fd);
}

static void
test_release_removes_only_our_own_file(void)
{
	char other[700];
	int fd;
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(lockfile_acquire(path, 0644, &fd), LOCKFILE_OK);
	snprintf(other, sizeof(other), "%s/other", dir);
	f = fopen(other, "w");
	CU_ASSERT_FATAL(f != NULL);
	fclose(f);
	CU_ASSERT_FATAL(rename(other, path) == 0);
	lockfile_release(path, fd);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	unlink(path);
	lockfile_release(path, -1);	/* nothing held: nothing happens */
}

#define ADD(f) CU_add_test(s, #f, f)

void
test_lockfile_register(void)
{
	CU_pSuite s;

	if ((s = CU_add_suite("lockfile", suite_init, suite_clean)) == NULL)
		return;
	ADD(test_acquire_creates_a_locked_file_with_its_mode);
	ADD(test_second_acquire_is_busy_and_changes_nothing);
	ADD(test_held_hands_the_reader_a_descriptor);
	ADD(test_stale_file_is_replaced_not_written_through);
	ADD(test_symlink_is_refused_and_its_target_untouched);
	ADD(test_a_fifo_at_the_path_is_refused_without_hanging);
	ADD(test_a_lock_on_an_unlinked_inode_does_not_count);
	ADD(test_lock_outlives_the_locker_in_a_forked_child);
	ADD(test_readers_squatting_a_stale_file_do_not_block_the_owner);
	ADD(test_release_removes_only_our_own_file);
}
