/*
 * Whether this kernel lets a container's init give its program a time namespace of its own.
 *
 * The init unshares CLONE_NEWTIME (its children's time namespace) and then spawns the program
 * with CLONE_VM (child.c, spawn_program). Linux 5.6 to 6.2 refuse that pair with EINVAL
 * (copy_namespaces: CLONE_VM while time_ns_for_children differs from the task's own); 6.3 moved
 * the switch to exec and allows it. On those kernels — Debian 12's 6.1, Ubuntu 22.04's 5.15 —
 * every run would fail at the spawn-program step, so the host asks once and goes without the time
 * namespace where it is refused (the proc view serves /proc/uptime either way).
 *
 * The question is asked the way the init does it, in a throw-away process: a CLONE_VM|CLONE_VFORK
 * prober unshares a time namespace and spawns, with CLONE_VM, a child that exits at once; the
 * answer comes back through the memory they share. Signals stay blocked in the calling thread
 * meanwhile (the prober starts with Node's handlers, as the init would — launcher.c).
 */
#include "internal.h"
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define PROBE_STACK_BYTES (64 * 1024)

struct probe {
	char *child_stack;
	volatile int answer; /* 1: the spawn into the new time namespace worked; 0: refused */
};

static int probe_child(void *arg)
{
	(void)arg;
	syscall(SYS_exit, 0);
	return 0;
}

static int prober(void *arg)
{
	struct probe *p = arg;
	if (syscall(SYS_unshare, CLONE_NEWTIME) != 0)
		syscall(SYS_exit, 0);
	long pid = clone(probe_child, p->child_stack + PROBE_STACK_BYTES, CLONE_VM | SIGCHLD, NULL);
	if (pid > 0) {
		int status; /* signals are blocked here (inherited mask): no EINTR */
		syscall(SYS_wait4, pid, &status, 0, NULL);
		p->answer = 1;
	}
	syscall(SYS_exit, 0);
	return 0;
}

CORRAL_API int corral_time_namespace_usable(void)
{
	static int cached = -1;
	if (cached >= 0)
		return cached;
	char *stacks = mmap(NULL, 2 * PROBE_STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stacks == MAP_FAILED)
		return 0; /* not cached: a later call may have the memory */
	struct probe p = { .child_stack = stacks + PROBE_STACK_BYTES, .answer = 0 };
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	/* No exit signal: nothing of this reaches Node's SIGCHLD handler; __WALL waits for it. */
	long pid = clone(prober, stacks + PROBE_STACK_BYTES, CLONE_VM | CLONE_VFORK, &p);
	if (pid > 0) {
		int status;
		while (waitpid((pid_t)pid, &status, __WALL) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	munmap(stacks, 2 * PROBE_STACK_BYTES);
	cached = pid > 0 ? p.answer : 0;
	return cached;
}
