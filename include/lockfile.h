/*
 * lockfile: files that belong to whoever holds an exclusive flock(2) on
 * them, for as long as that process lives.  The pid file and the stats
 * segment are both such files: "is a server running?" is "does anyone
 * hold the lock?", which no timing can fool, unlike a check of a pid
 * followed by a write.  The kernel drops the lock with the last
 * descriptor, so a crashed server leaves a stale file, never a held one.
 *
 * The owner's file is always one it created (O_CREAT | O_EXCL |
 * O_NOFOLLOW): a stale file is unlinked, never written through, so a
 * symlink or hard link planted at the path cannot make the owner write a
 * file of someone else's choosing.  Readers probe with LOCK_SH; a file
 * locked by readers only is owned by nobody, so whoever can read a stale
 * file cannot keep a server from starting by holding LOCK_SH on it.
 */
#ifndef SOCKSERV_LOCKFILE_H
#define SOCKSERV_LOCKFILE_H

#include <sys/types.h>

enum lockfile_result {
	LOCKFILE_OK,		/* *fd holds the lock on a file we just created */
	LOCKFILE_BUSY,		/* a live process holds the lock on the file at path */
	LOCKFILE_ERROR,		/* errno says why (ELOOP: path is a symbolic link) */
};

/*
 * Create path afresh with mode (whatever the umask) and hold LOCK_EX on
 * it; *fd is O_RDWR and close-on-exec.  A stale file is replaced.
 */
enum lockfile_result lockfile_acquire(const char *path, mode_t mode, int *fd);

/*
 * 1 when a process holds the lock on the file at path, 0 when nobody does
 * (no file, or a stale one), -1 with errno when it cannot be told.  With
 * fdp and a result of 1, *fdp is a read-only descriptor of that file for
 * the caller to read and close.
 */
int lockfile_held(const char *path, int *fdp);

/*
 * 1 when the file fd refers to is still the one at path: a file we hold
 * the lock on but that was unlinked or replaced meanwhile is not ours to
 * trust or remove.
 */
int lockfile_is_at(int fd, const char *path);

/* the owner's exit: unlink path if it is still our file, then drop the lock */
void lockfile_release(const char *path, int fd);

#endif
