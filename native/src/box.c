/*
 * The job volume, as a detached mount the parent makes and hands to the container at
 * dispatch (over the control socket, SCM_RIGHTS); the program's process attaches it at /box
 * with move_mount() before it drops its capabilities. So a container can be built before its
 * job is known, and the host's mount table never sees the overlay of a test run.
 *   plain:    open_tree(dir, OPEN_TREE_CLONE) — a private copy of the volume's mount
 *   layered:  fsopen("overlay") with the volume as upperdir over read-only lower volumes
 */
#include "internal.h"
#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fsconfig_str(int fd, const char *key, const char *value)
{
	return (int)syscall(SYS_fsconfig, fd, FSCONFIG_SET_STRING, key, value, 0);
}

int box_mount_fd(const corral_spec *s, corral_error *e)
{
	if (!s->box_lowerdirs) {
		int fd = (int)syscall(SYS_open_tree, AT_FDCWD, s->box_dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		return fd < 0 ? cerr_set(e, errno, "open_tree %s", s->box_dir) : fd;
	}
	int fs = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
	if (fs < 0)
		return cerr_set(e, errno, "fsopen overlay for /box");
	int rc = -1, mnt = -1;
	if (fsconfig_str(fs, "lowerdir", s->box_lowerdirs) < 0) {
		cerr_set(e, errno, "/box overlay: lowerdir=%s", s->box_lowerdirs);
	} else if (fsconfig_str(fs, "upperdir", s->box_dir) < 0) {
		cerr_set(e, errno, "/box overlay: upperdir=%s", s->box_dir);
	} else if (fsconfig_str(fs, "workdir", s->box_workdir) < 0) {
		cerr_set(e, errno, "/box overlay: workdir=%s", s->box_workdir);
	} else if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		cerr_set(e, errno, "/box overlay: create");
	} else {
		mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
		if (mnt < 0)
			cerr_set(e, errno, "/box overlay: fsmount");
		else
			rc = mnt;
	}
	close(fs);
	return rc;
}
