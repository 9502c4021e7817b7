/*
 * Host-side file access to directories a sandbox could write to (job volumes). Every path is
 * resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS): a symlink
 * anywhere on the path, a ".." escape or a magic link fails instead of being followed, and only
 * regular files are ever read or written (O_NONBLOCK keeps a planted FIFO from hanging us; it is
 * then refused by the S_ISREG check). This is what Judge0's CVE-2024-28185/28189 lacked.
 */
#include "internal.h"
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RESOLVE_SAFE (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

/* Fills err (code CORRAL_E_FILE, or CORRAL_E_NOT_FOUND for a path that is absent, not a regular
 * file or behind a symlink) and returns -1. */
static int report(corral_error *err, int code, const char *step, int errnum, const char *fmt, const char *a, const char *b)
	__attribute__((format(printf, 5, 0)));
static int report(corral_error *err, int code, const char *step, int errnum, const char *fmt, const char *a, const char *b)
{
	if (!err)
		return -1;
	memset(err, 0, sizeof *err);
	int n = snprintf(err->message, sizeof err->message, fmt, a, b);
	if (errnum && n >= 0 && (size_t)n < sizeof err->message)
		snprintf(err->message + n, sizeof err->message - (size_t)n, ": %s", strerror(errnum));
	err->errnum = errnum;
	return cerr_where(err, code, step);
}

static int open_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
	struct open_how how;
	memset(&how, 0, sizeof how);
	how.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = RESOLVE_SAFE;
	int fd;
	do
		fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
	while (fd < 0 && errno == EAGAIN);
	return fd;
}

static int open_root(const char *root)
{
	return open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* Creates the parent directories of rel beneath rootfd, one component at a time. */
static int make_parents(int rootfd, const char *rel, uint32_t uid, uint32_t gid)
{
	char path[4096];
	size_t len = strlen(rel);
	if (len >= sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(path, rel, len + 1);
	for (char *slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = 0;
		int parent = rootfd;
		char *name = path;
		char *last = strrchr(path, '/');
		if (last) {
			*last = 0;
			parent = open_beneath(rootfd, path, O_PATH | O_DIRECTORY, 0);
			*last = '/';
			name = last + 1;
			if (parent < 0)
				return -1;
		}
		int rc = mkdirat(parent, name, 0755);
		int saved = errno;
		if (rc == 0 && fchownat(parent, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			saved = errno, rc = -1;
		else if (rc < 0 && saved == EEXIST)
			rc = 0;
		if (parent != rootfd)
			close(parent);
		*slash = '/';
		if (rc < 0) {
			errno = saved;
			return -1;
		}
	}
	return 0;
}

CORRAL_API int corral_write_beneath(const char *root, const char *rel, const uint8_t *data, int64_t len,
			 uint32_t mode, uint32_t uid, uint32_t gid, corral_error *err)
{
	int rootfd = open_root(root);
	if (rootfd < 0)
		return report(err, CORRAL_E_FILE, "write", errno, "open volume %s%s", root, "");
	int rc = -1;
	if (make_parents(rootfd, rel, uid, gid) < 0) {
		report(err, CORRAL_E_FILE, "write", errno, "create parent directories of %s in %s", rel, root);
		goto out;
	}
	int fd = open_beneath(rootfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK, mode & 07777);
	if (fd < 0) {
		report(err, CORRAL_E_FILE, "write", errno, "open %s in %s", rel, root);
		goto out;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		report(err, CORRAL_E_FILE, "write", EINVAL, "%s in %s is not a regular file", rel, root);
		close(fd);
		goto out;
	}
	int64_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, data + done, (size_t)(len - done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			report(err, CORRAL_E_FILE, "write", errno, "write %s in %s", rel, root);
			close(fd);
			goto out;
		}
		done += n;
	}
	if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode & 07777) < 0) {
		report(err, CORRAL_E_FILE, "write", errno, "chown/chmod %s in %s", rel, root);
		close(fd);
		goto out;
	}
	rc = close(fd);
out:
	close(rootfd);
	return rc;
}

CORRAL_API int64_t corral_read_beneath(const char *root, const char *rel, uint8_t *buf, int64_t max,
			    int64_t *size, corral_error *err)
{
	*size = 0;
	int rootfd = open_root(root);
	if (rootfd < 0)
		return report(err, CORRAL_E_FILE, "read", errno, "open volume %s%s", root, "");
	int fd = open_beneath(rootfd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	int saved = errno;
	close(rootfd);
	if (fd < 0) {
		/* absent, a symlink on the path, an escape, or a special file that refused O_RDONLY */
		int absent = saved == ENOENT || saved == ELOOP || saved == EXDEV || saved == ENOTDIR || saved == ENXIO;
		return report(err, absent ? CORRAL_E_NOT_FOUND : CORRAL_E_FILE, "read", saved, "open %s in %s", rel, root);
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return report(err, CORRAL_E_NOT_FOUND, "read", 0, "%s in %s is not a regular file", rel, root);
	}
	*size = st.st_size;
	int64_t done = 0;
	while (done < max) {
		ssize_t n = read(fd, buf + done, (size_t)(max - done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			saved = errno;
			close(fd);
			return report(err, CORRAL_E_FILE, "read", saved, "read %s in %s", rel, root);
		}
		if (n == 0)
			break;
		done += n;
	}
	close(fd);
	return done;
}

CORRAL_API int corral_volume_create(const char *dir, int64_t size_bytes, uint32_t box_uid, uint32_t box_gid,
			 uint32_t work_uid, uint32_t work_gid, corral_error *err)
{
	if (mkdir(dir, 0755) < 0)
		return report(err, CORRAL_E_FILE, "volume-create", errno, "mkdir %s%s", dir, "");
	char data[128];
	snprintf(data, sizeof data, "size=%lld,mode=0755,uid=0,gid=0", (long long)size_bytes);
	if (mount("corral-volume", dir, "tmpfs", MS_NOSUID | MS_NODEV, data) < 0) {
		int saved = errno;
		rmdir(dir);
		return report(err, CORRAL_E_FILE, "volume-create", saved, "mount tmpfs on %s%s", dir, "");
	}
	/* The new tmpfs is ours alone until this returns: its two directories, relative to it. */
	const char *failed = NULL;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		failed = "open";
	else if (mkdirat(fd, "box", 0755) < 0 || fchownat(fd, "box", box_uid, box_gid, AT_SYMLINK_NOFOLLOW) < 0)
		failed = "box/";
	else if (mkdirat(fd, "work", 0700) < 0 || fchownat(fd, "work", work_uid, work_gid, AT_SYMLINK_NOFOLLOW) < 0)
		failed = "work/";
	int saved = errno;
	if (fd >= 0)
		close(fd);
	if (!failed)
		return 0;
	umount2(dir, MNT_DETACH | UMOUNT_NOFOLLOW);
	rmdir(dir);
	return report(err, CORRAL_E_FILE, "volume-create", saved, "volume %s: %s", dir, failed);
}

CORRAL_API int corral_volume_destroy(const char *dir, corral_error *err)
{
	if (corral_volume_umount(dir, err) < 0)
		return -1;
	if (rmdir(dir) < 0)
		return report(err, CORRAL_E_FILE, "volume-destroy", errno, "rmdir %s%s", dir, "");
	return 0;
}

CORRAL_API int corral_volume_umount(const char *dir, corral_error *err)
{
	if (umount2(dir, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
		return report(err, CORRAL_E_FILE, "volume-umount", errno, "umount %s%s", dir, "");
	return 0;
}
