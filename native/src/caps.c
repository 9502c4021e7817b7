/*
 * Resource limits and privilege drop for the program, child side. After this the process has
 * the sandbox uid/gid, no supplementary groups, an empty bounding and ambient set, no
 * capabilities at all, and no_new_privs — so nothing it executes can regain any. The bounding
 * and ambient sets depend on no job: they are emptied while the container is built
 * (caps_drop_bounding), the rest once the job is known (caps_drop_to).
 */
#include "internal.h"
#include "rawsys.h"
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>

/* The kernel's highest capability number: fixed until a reboot, so read once per process
 * rather than once per container. */
static int last_cap;
static pthread_once_t last_cap_once = PTHREAD_ONCE_INIT;

static void read_last_cap(void)
{
	last_cap = CAP_LAST_CAP;
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char buf[16] = { 0 };
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n > 0)
		last_cap = atoi(buf);
}

int caps_last_cap(void)
{
	pthread_once(&last_cap_once, read_last_cap);
	return last_cap;
}

static long set_limit(int resource, int64_t value)
{
	struct rlimit rl;
	rl.rlim_cur = rl.rlim_max = value > 0 ? (rlim_t)value : RLIM_INFINITY;
	return rawsys(SYS_prlimit64, 0, resource, &rl, NULL);
}

long rlimits_apply(const corral_spec *s)
{
	long rc;
	if ((rc = set_limit(RLIMIT_CORE, 0)) < 0)
		return rc;
	if ((rc = set_limit(RLIMIT_FSIZE, s->fsize_bytes)) < 0)
		return rc;
	if (s->nofile > 0 && (rc = set_limit(RLIMIT_NOFILE, s->nofile)) < 0)
		return rc;
	return set_limit(RLIMIT_STACK, s->stack_bytes);
}

/* Empties the bounding and ambient sets: one prctl per capability (~60 µs for 41 of them
 * measured here), so the program process does it while the container is built, not on the
 * job's way. Its own capabilities stay until caps_drop_to (the bounding set only limits what an
 * execve can grant), and no execve comes in between. Raw syscalls, as below. */
long caps_drop_bounding(int last_cap)
{
	long rc;
	for (int cap = 0; cap <= last_cap; cap++)
		if ((rc = rawsys(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0)) < 0 && rc != -EINVAL)
			return rc;
	if ((rc = rawsys(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)) < 0 && rc != -EINVAL)
		return rc;
	return 0;
}

/* Runs in the program process, which shares the worker's memory until execve: raw syscalls (see
 * rawsys.h), and the id changes for this task alone. glibc's setgroups/setresgid/setresuid would
 * broadcast them to the worker's threads (the thread list it sees in the shared memory) under a
 * lock that a run killed at that moment never releases (see launcher.c, the init's setresuid). */
long caps_drop_to(uint32_t uid, uint32_t gid, int *step)
{
	long rc;
	*step = STEP_GROUPS;
	gid_t groups[1] = { gid };
	if ((rc = rawsys(SYS_setgroups, 1, groups)) < 0)
		return rc;
	*step = STEP_SETGID;
	if ((rc = rawsys(SYS_setresgid, gid, gid, gid)) < 0)
		return rc;
	*step = STEP_SETUID;
	if ((rc = rawsys(SYS_setresuid, uid, uid, uid)) < 0) /* clears permitted and effective */
		return rc;
	*step = STEP_CAPS;
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = { { 0, 0, 0 }, { 0, 0, 0 } };
	if ((rc = rawsys(SYS_capset, &hdr, data)) < 0) /* inheritable too */
		return rc;
	*step = STEP_NO_NEW_PRIVS;
	return rawsys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}
