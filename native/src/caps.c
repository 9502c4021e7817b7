/*
 * Resource limits and privilege drop for the program, child side. After this the process has
 * the sandbox uid/gid, no supplementary groups, an empty bounding and ambient set, no
 * capabilities at all, and no_new_privs — so nothing it executes can regain any.
 */
#include "internal.h"
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>
#include <stdlib.h>

int caps_last_cap(void)
{
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return CAP_LAST_CAP;
	char buf[16] = { 0 };
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	return n > 0 ? atoi(buf) : CAP_LAST_CAP;
}

static int set_limit(int resource, int64_t value)
{
	struct rlimit rl;
	rl.rlim_cur = rl.rlim_max = value > 0 ? (rlim_t)value : RLIM_INFINITY;
	return setrlimit(resource, &rl);
}

int rlimits_apply(const corral_spec *s)
{
	struct rlimit zero = { 0, 0 };
	if (setrlimit(RLIMIT_CORE, &zero) < 0)
		return -1;
	if (set_limit(RLIMIT_FSIZE, s->fsize_bytes) < 0)
		return -1;
	if (s->nofile > 0 && set_limit(RLIMIT_NOFILE, s->nofile) < 0)
		return -1;
	return set_limit(RLIMIT_STACK, s->stack_bytes);
}

/* Runs in the program process, which shares the worker's memory until execve: the id changes
 * are raw syscalls for this task alone. glibc's setgroups/setresgid/setresuid would broadcast
 * them to the worker's threads (the thread list it sees in the shared memory) under a lock that
 * a run killed at that moment never releases (see launcher.c, the init's setresuid). */
int caps_drop_to(uint32_t uid, uint32_t gid, int last_cap, int *step)
{
	*step = STEP_GROUPS;
	gid_t groups[1] = { gid };
	if (syscall(SYS_setgroups, 1, groups) < 0)
		return -1;
	*step = STEP_SETGID;
	if (syscall(SYS_setresgid, gid, gid, gid) < 0)
		return -1;
	*step = STEP_CAPBSET;
	for (int cap = 0; cap <= last_cap; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -1;
	*step = STEP_SETUID;
	if (syscall(SYS_setresuid, uid, uid, uid) < 0) /* clears permitted and effective */
		return -1;
	*step = STEP_CAPS;
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = { { 0, 0, 0 }, { 0, 0, 0 } };
	if (syscall(SYS_capset, &hdr, data) < 0) /* inheritable too */
		return -1;
	*step = STEP_NO_NEW_PRIVS;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}
