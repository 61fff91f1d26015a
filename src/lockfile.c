/*
 * lockfile: create-and-lock, probe and release of flock-owned files.
 */
#include "lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* rounds of "the file changed under us" before giving up: only a hostile loop gets there */
#define ACQUIRE_TRIES 50

enum lock_outcome { LOCKED, OWNED_ELSEWHERE, READERS_ONLY, LOCK_FAILED };

/*
 * LOCK_EX, or why not.  When it is refused, a LOCK_SH tells an owner
 * (LOCK_EX, which refuses it too) from readers (LOCK_SH: any user who can
 * read the file, probing it or squatting on it to keep us from starting).
 * Readers do not make a file owned.
 */
static enum lock_outcome
lock_ex(int fd)
{
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return LOCK_FAILED;
		while (flock(fd, LOCK_SH | LOCK_NB) == -1) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? OWNED_ELSEWHERE : LOCK_FAILED;
		}
		flock(fd, LOCK_UN);
		return READERS_ONLY;
	}
	return LOCKED;
}

int
lockfile_is_at(int fd, const char *path)
{
	struct stat fs, ps;

	return fstat(fd, &fs) == 0 && fs.st_nlink > 0 && lstat(path, &ps) == 0 &&
	    fs.st_dev == ps.st_dev && fs.st_ino == ps.st_ino;
}

enum lockfile_result
lockfile_acquire(const char *path, mode_t mode, int *out)
{
	struct stat st;

	*out = -1;
	for (int i = 0; i < ACQUIRE_TRIES; i++) {
		int created = 1, saved;
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

		if (fd == -1) {
			if (errno != EEXIST)
				return LOCKFILE_ERROR;
			/*
			 * Someone's file: only looked at.  Read-only, non-blocking
			 * (a planted FIFO must not hang us), not through a symlink.
			 */
			created = 0;
			fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
			if (fd == -1) {
				if (errno == ENOENT)
					continue;	/* removed meanwhile */
				return LOCKFILE_ERROR;
			}
			saved = fstat(fd, &st) == -1 ? errno : S_ISREG(st.st_mode) ? 0 : EINVAL;
			if (saved != 0) {
				close(fd);
				errno = saved;
				return LOCKFILE_ERROR;
			}
		}
		switch (lock_ex(fd)) {
		case LOCKED:
			break;
		case OWNED_ELSEWHERE:
			close(fd);
			errno = EWOULDBLOCK;
			return LOCKFILE_BUSY;
		case READERS_ONLY:
			/* nobody owns it: replaced, the readers keep the old inode */
			if (lockfile_is_at(fd, path) && unlink(path) == -1 && errno != ENOENT) {
				saved = errno;
				close(fd);
				errno = saved;
				return LOCKFILE_ERROR;
			}
			close(fd);
			continue;
		default:
			saved = errno;
			close(fd);
			if (created)
				unlink(path);	/* ours, and useless: do not leave it */
			errno = saved;
			return LOCKFILE_ERROR;
		}
		/*
		 * Locked, but maybe an inode another owner unlinked between our
		 * open and our lock: only the file still at path counts.
		 */
		if (!lockfile_is_at(fd, path)) {
			close(fd);
			continue;
		}
		if (created) {
			/* readable by all, whatever the umask: tools run as anyone */
			if (fchmod(fd, mode) == -1) {
				saved = errno;
				lockfile_release(path, fd);
				errno = saved;
				return LOCKFILE_ERROR;
			}
			*out = fd;
			return LOCKFILE_OK;
		}
		/*
		 * Stale: its owner is gone.  Its name goes while we hold its
		 * lock, so a rival that opened it too finds it unlinked after
		 * locking it and starts over; then we create our own.
		 */
		if (unlink(path) == -1 && errno != ENOENT) {
			saved = errno;
			close(fd);
			errno = saved;
			return LOCKFILE_ERROR;
		}
		close(fd);
	}
	errno = EAGAIN;
	return LOCKFILE_ERROR;
}

int
lockfile_held(const char *path, int *fdp)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fdp != NULL)
		*fdp = -1;
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	while (flock(fd, LOCK_SH | LOCK_NB) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK) {
			if (fdp != NULL)
				*fdp = fd;
			else
				close(fd);
			return 1;
		}
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	/* nobody had it: let go at once, an owner may be about to take it */
	flock(fd, LOCK_UN);
	close(fd);
	return 0;
}

void
lockfile_release(const char *path, int fd)
{
	if (fd == -1)
		return;
	/* before the lock goes: a successor's file must never be removed */
	if (lockfile_is_at(fd, path))
		unlink(path);
	close(fd);
}
