/*
 * The container's side: what its two processes run, as ordered lists of steps.
 *
 *   init     pid 1 of the new pid namespace. Waits for release, then INIT_STEPS (root of its
 *            user namespace, hostname, lo, the mount plan, the time namespace), spawns the
 *            program, reaps every process of the namespace, and when the program ends kills
 *            whatever is left, reaps it, reports the program's wait status and exits — or, in a
 *            held container, waits for the NEXT message and spawns the next program the same
 *            way, in the same namespaces and mounts (so /box, the writable root and /dev/shm
 *            carry over; no process, descriptor, limit or SysV IPC object does).
 *   program  PROGRAM_STEPS before the job is known (session, cgroup, cgroup namespace, bounding
 *            set), reports READY, waits for the job, then JOB_STEPS (/box, stdio, rlimits, cwd,
 *            sandbox ids without capabilities, seccomp) and execve().
 *
 * Both share the worker's memory (CLONE_VM) and touch only their own stacks and the prepared,
 * read-only context: no malloc, no locks, no stdio, raw syscalls only (rawsys.h) — a glibc
 * wrapper here would write the errno of a worker thread that is busy with other containers. A
 * step returns 0 or -errno; the first failure is reported to the parent as {step, errno} over
 * the report pipe, and the process exits.
 */
#include "container.h"
#include "rawsys.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <linux/mount.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

const char *step_name(int step)
{
	static const char *const names[] = {
		[STEP_SIGNALS] = "reset-signals", [STEP_FDS] = "arrange-descriptors",
		[STEP_SYNC] = "wait-for-release", [STEP_SETID] = "become-namespace-root",
		[STEP_HOSTNAME] = "sethostname", [STEP_LOOPBACK] = "loopback",
		[STEP_TIMENS] = "time-namespace", [STEP_SPAWN] = "spawn-program",
		[STEP_SETSID] = "setsid", [STEP_CG_ATTACH] = "join-cgroup",
		[STEP_CGROUPNS] = "cgroup-namespace", [STEP_RLIMIT] = "setrlimit",
		[STEP_CHDIR] = "chdir", [STEP_GROUPS] = "setgroups",
		[STEP_SETGID] = "setresgid", [STEP_CAPBSET] = "drop-bounding-set",
		[STEP_SETUID] = "setresuid", [STEP_CAPS] = "clear-capabilities",
		[STEP_NO_NEW_PRIVS] = "no-new-privs", [STEP_SECCOMP] = "seccomp",
		[STEP_EXEC] = "execve", [STEP_PIVOT] = "pivot_root", [STEP_DISPATCH] = "receive-job",
		[STEP_BOX] = "attach-box", [STEP_STDIO] = "stdio",
	};
	if (step >= STEP_MOUNT_BASE)
		return "mount-plan";
	if (step > 0 && step < (int)(sizeof names / sizeof *names) && names[step])
		return names[step];
	return "setup";
}

static void report_at(int kind, int step, int err, int value, int64_t t_us)
{
	struct report r = { kind, step, err, value, t_us };
	long n;
	do
		n = rawsys(SYS_write, FD_REPORT, &r, sizeof r);
	while (n == -EINTR);
}

static void report(int kind, int step, int err, int value)
{
	report_at(kind, step, err, value, now_us());
}

/* rc: the failed call's -errno. */
static __attribute__((noreturn)) void fail(int step, long rc)
{
	report(REP_FAIL, step, rc < 0 ? (int)-rc : EIO, 0);
	rawsys_exit(127);
}

/* The job and the descriptors it brought (JOB_STEPS), on the program's own stack: never in a
 * global, since every container's processes share the worker's memory. */
struct job {
	const corral_spec *spec;
	struct dispatch_fds fds;
};

/* A step of building or running the container: 0 or -errno. It may name a finer step in *step
 * (a mount plan operation, one of the privilege drops). `j` is NULL before the job is known. */
struct container_step {
	int id;
	long (*run)(struct child_ctx *c, const struct job *j, int *step);
};

static void run_steps(const struct container_step *steps, size_t n, struct child_ctx *c, const struct job *j)
{
	for (size_t i = 0; i < n; i++) {
		int step = steps[i].id;
		long rc = steps[i].run(c, j, &step);
		if (rc < 0)
			fail(step, rc);
	}
}

/* ---- the init's steps ---- */

/* Raw syscalls also for a second reason here: glibc's set*id() broadcasts the change to every
 * thread of the process it believes it is in (the worker's, since we share its memory) under a
 * lock in that shared memory; a container killed mid-broadcast left the lock held and every later
 * container hung in futex_wait. */
static long become_root(struct child_ctx *c, const struct job *j, int *step)
{
	long rc = rawsys(SYS_setresgid, 0, 0, 0);
	return rc < 0 ? rc : rawsys(SYS_setresuid, 0, 0, 0);
}

static long set_hostname(struct child_ctx *c, const struct job *j, int *step)
{
	return rawsys(SYS_sethostname, c->hostname, strlen(c->hostname));
}

static long bring_up_loopback(struct child_ctx *c, const struct job *j, int *step)
{
	return net_loopback_up();
}

static long apply_mount_plan(struct child_ctx *c, const struct job *j, int *step)
{
	int op = 0;
	long rc = mount_plan_apply(c->plan, &op);
	if (rc < 0)
		*step = STEP_MOUNT_BASE + op;
	return rc;
}

static long enter_time_namespace(struct child_ctx *c, const struct job *j, int *step)
{
	return c->use_time_ns ? rawsys(SYS_unshare, CLONE_NEWTIME) : 0;
}

/* Out of the worker's session and process group first: a signal sent to Corral's group (systemd,
 * a terminal's ^C, `kill -TERM -<pgid>`) must not reach the program. The init itself, pid 1 of its
 * namespace, ignores such signals; but the program it spawns inherited the worker's group until
 * its own setsid, and a group SIGTERM landing in that window killed it (a run recorded as a
 * runtime error — seen once in test/faults/up-signals.test.ts under load). */
static long leave_worker_session(struct child_ctx *c, const struct job *j, int *step)
{
	return rawsys(SYS_setsid, 0);
}

/* The container, in the order it is built (mount.c has the mount plan's own list). */
static const struct container_step INIT_STEPS[] = {
	{ STEP_SETSID, leave_worker_session },
	{ STEP_SETID, become_root },
	{ STEP_HOSTNAME, set_hostname },
	{ STEP_LOOPBACK, bring_up_loopback },
	{ STEP_PIVOT, apply_mount_plan },
	{ STEP_TIMENS, enter_time_namespace },
};

/* ---- the program's steps before its job ---- */

static long new_session(struct child_ctx *c, const struct job *j, int *step)
{
	return rawsys(SYS_setsid, 0);
}

static long join_cgroup(struct child_ctx *c, const struct job *j, int *step)
{
	int born_in_cgroup = __atomic_load_n(&c->program_in_cgroup, __ATOMIC_ACQUIRE);
	for (int i = 0; i < c->ncg && !born_in_cgroup; i++) {
		long rc = rawsys(SYS_write, FD_CGROUP + i, "0", 1);
		if (rc != 1)
			return rc < 0 ? rc : -EIO;
	}
	return 0;
}

static long enter_cgroup_namespace(struct child_ctx *c, const struct job *j, int *step)
{
	long rc = rawsys(SYS_unshare, CLONE_NEWCGROUP);
	for (int i = 0; i < c->ncg; i++)
		rawsys(SYS_close, FD_CGROUP + i);
	return rc;
}

static long drop_bounding_set(struct child_ctx *c, const struct job *j, int *step)
{
	return caps_drop_bounding(c->last_cap);
}

/* The costly attach happens while the container is built, not on the job's way. */
static const struct container_step PROGRAM_STEPS[] = {
	{ STEP_SETSID, new_session },
	{ STEP_CG_ATTACH, join_cgroup },
	{ STEP_CGROUPNS, enter_cgroup_namespace },
	{ STEP_CAPBSET, drop_bounding_set },
};

/* ---- the program's steps once its job is known ---- */

/* dup2 without its special case: the fds here are never equal but stay safe if they were. */
static long dup_to(int from, int to)
{
	return from == to ? 0 : rawsys(SYS_dup3, from, to, 0);
}

static long attach_box(struct child_ctx *c, const struct job *j, int *step)
{
	const struct dispatch_fds *d = &j->fds;
	return d->box < 0 ? 0 : rawsys(SYS_move_mount, d->box, "", AT_FDCWD, "/box", MOVE_MOUNT_F_EMPTY_PATH);
}

/* The job's stdin at 0; streamed stdout/stderr replace the container's pipes; merging follows
 * whatever fd 1 is. A descriptor the message announced but did not carry left d->in at -1. */
static long take_stdio(struct child_ctx *c, const struct job *j, int *step)
{
	const struct dispatch_fds *d = &j->fds;
	long rc;
	if (d->in < 0)
		return -EBADF;
	if ((rc = dup_to(d->in, 0)) < 0 || (d->out >= 0 && (rc = dup_to(d->out, 1)) < 0) ||
	    (d->err >= 0 && (rc = dup_to(d->err, 2)) < 0) || (j->spec->merge_stderr && (rc = dup_to(1, 2)) < 0))
		return rc;
	int received[] = { d->in, d->box, d->out, d->err };
	for (size_t i = 0; i < sizeof received / sizeof *received; i++)
		if (received[i] > 2)
			rawsys(SYS_close, received[i]);
	return 0;
}

static long apply_rlimits(struct child_ctx *c, const struct job *j, int *step)
{
	return rlimits_apply(j->spec);
}

static long enter_cwd(struct child_ctx *c, const struct job *j, int *step)
{
	long rc = rawsys(SYS_chdir, j->spec->cwd);
	rawsys(SYS_umask, 022);
	return rc;
}

static long drop_privileges(struct child_ctx *c, const struct job *j, int *step)
{
	const corral_spec *s = j->spec;
	return caps_drop_to(s->sandbox_uid, s->sandbox_gid, step);
}

static long install_seccomp(struct child_ctx *c, const struct job *j, int *step)
{
	return rawsys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, c->seccomp);
}

static const struct container_step JOB_STEPS[] = {
	{ STEP_BOX, attach_box },
	{ STEP_STDIO, take_stdio },
	{ STEP_RLIMIT, apply_rlimits },
	{ STEP_CHDIR, enter_cwd },
	{ STEP_SETUID, drop_privileges },
	{ STEP_SECCOMP, install_seccomp },
};

static int program_main(void *arg)
{
	struct child_ctx *c = arg;
	run_steps(PROGRAM_STEPS, sizeof PROGRAM_STEPS / sizeof *PROGRAM_STEPS, c, NULL);
	report(REP_READY, 0, 0, 0);

	struct job job;
	job.spec = wire_receive_job(c, &job.fds);
	if (!job.spec)
		rawsys_exit(0); /* discarded unused: the parent closed the socket */
	rawsys(SYS_close, FD_CTL);
	run_steps(JOB_STEPS, sizeof JOB_STEPS / sizeof *JOB_STEPS, c, &job);
	report(REP_EXECING, 0, 0, 0);
	long err = -ENOENT;
	for (const char *const *p = job.spec->exec_paths; *p; p++) {
		long rc = rawsys(SYS_execve, *p, job.spec->argv, job.spec->envp);
		if (rc != -ENOENT && rc != -ENOTDIR)
			err = rc; /* e.g. EACCES: more useful than "not found" */
	}
	fail(STEP_EXEC, err);
}

/* ---- the init ---- */

/* Places the descriptors the container needs at fixed numbers and closes every other one the
 * Node.js process had (the fd table was copied by clone). Returns 0 or -errno. */
static long arrange_fds(struct child_ctx *c)
{
	int src[7 + CG_MAX_DIRS], dst[7 + CG_MAX_DIRS];
	int n = 0;
	src[n] = c->null_fd, dst[n++] = 0; /* the job's stdin arrives at dispatch */
	src[n] = c->out_w, dst[n++] = 1;
	src[n] = c->err_w, dst[n++] = 2;
	src[n] = c->report_w, dst[n++] = FD_REPORT;
	src[n] = c->sync_r, dst[n++] = FD_SYNC;
	src[n] = c->ctl_r, dst[n++] = FD_CTL;
	src[n] = c->cgdir_fd >= 0 ? c->cgdir_fd : c->null_fd, dst[n++] = FD_CGDIR;
	for (int i = 0; i < c->ncg; i++)
		src[n] = c->cg_fds[i], dst[n++] = FD_CGROUP + i;
	/* First out of the way (above anything we place), then into place. */
	for (int i = 0; i < n; i++) {
		long fd = rawsys(SYS_fcntl, src[i], F_DUPFD_CLOEXEC, 64);
		if (fd < 0)
			return fd;
		src[i] = (int)fd;
	}
	for (int i = 0; i < n; i++) {
		long rc = rawsys(SYS_dup3, src[i], dst[i], dst[i] > 2 ? O_CLOEXEC : 0);
		if (rc < 0)
			return rc;
	}
	return rawsys(SYS_close_range, FD_CGROUP + c->ncg, ~0U, 0);
}

/* Spawns the program on its own stack, sharing memory (CLONE_VM) but not waiting for its
 * execve: a CLONE_VFORK parent sleeps uninterruptibly (D state) until then, so every warm
 * container — whose program waits for a job that may be minutes away — counted in the host's
 * load average (an idle worker with 8 warm containers showed ~9.5). Without it the init goes
 * straight to reaping, asleep interruptibly. The two never touch each other's stack, and the
 * init only reads the context after this.
 * Born in its cgroup where it can be (v2: no attach); clone3's raw call keeps the init off
 * glibc's errno. Falls back to an attach where CLONE_INTO_CGROUP is refused, and to glibc's
 * clone() where clone3 is missing (kernels before 5.3, architectures without a trampoline): that
 * wrapper writes errno only if it fails, and then the container ends. Returns the pid or -errno. */
static long spawn_program(struct child_ctx *c)
{
	struct clone_args args;
	memset(&args, 0, sizeof args);
	args.flags = CLONE_VM;
	args.exit_signal = SIGCHLD;
	args.stack = (uint64_t)(uintptr_t)c->exec_stack;
	args.stack_size = STACK_SIZE;
	long pid;
	if (c->cgdir_fd >= 0) {
		/* Stored before the clone, so the program reads the right value: only a child that
		 * exists reads it, and one is born only by a clone that succeeded. */
		__atomic_store_n(&c->program_in_cgroup, 1, __ATOMIC_RELEASE);
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = FD_CGDIR;
		pid = corral_clone3_raw(&args, sizeof args, program_main, c);
		if (pid >= 0)
			return pid;
		__atomic_store_n(&c->program_in_cgroup, 0, __ATOMIC_RELEASE);
		args.flags &= ~(uint64_t)CLONE_INTO_CGROUP;
		args.cgroup = 0;
	}
	pid = corral_clone3_raw(&args, sizeof args, program_main, c);
	if (pid == -ENOSYS) {
		pid = clone(program_main, c->exec_stack + STACK_SIZE, CLONE_VM | SIGCHLD, c);
		if (pid < 0)
			pid = errno > 0 ? -errno : -EAGAIN;
	}
	return pid;
}

/* Reaps every process of the namespace until none is left; when the program (main_pid) ends,
 * kills whatever is left (daemons, stray children: nothing of a program outlives it). Returns
 * the program's wait status; *end_us is when it ended (its wall time ends there, not after the
 * reaping). */
static int reap_program(long main_pid, int64_t *end_us)
{
	int main_status = 0, main_done = 0;
	*end_us = 0;
	for (;;) {
		int st;
		long pid = rawsys(SYS_wait4, -1, &st, __WALL, NULL);
		if (pid == -EINTR)
			continue;
		if (pid < 0)
			break; /* ECHILD: nobody left */
		if (pid == main_pid && !main_done) {
			main_done = 1;
			main_status = st;
			*end_us = now_us();
			rawsys(SYS_kill, -1, SIGKILL); /* everything but the init itself */
		}
	}
	if (!*end_us)
		*end_us = now_us();
	return main_status;
}

/* Between a held container's programs: SysV IPC objects go with the program that made them, like
 * its processes. Left in the container's IPC namespace they would be the one thing a program
 * leaves that no size bounds (the tmpfs mounts have theirs), and on cgroup v2 their memory would
 * stay out of every later program's accounting. The init, root of the container's user
 * namespace, may see and remove any of them; nobody is attached any more. (POSIX message queues
 * stay, bounded by RLIMIT_MSGQUEUE.) The buffer only receives what the kernel writes. */
static void remove_sysv_ipc(void)
{
	long buf[64];
	long max = rawsys(SYS_shmctl, 0, SHM_INFO, buf);
	for (long i = 0; i <= max; i++) {
		long id = rawsys(SYS_shmctl, i, SHM_STAT, buf);
		if (id >= 0)
			rawsys(SYS_shmctl, id, IPC_RMID, NULL);
	}
	max = rawsys(SYS_semctl, 0, 0, SEM_INFO, buf);
	for (long i = 0; i <= max; i++) {
		long id = rawsys(SYS_semctl, i, 0, SEM_STAT, buf);
		if (id >= 0)
			rawsys(SYS_semctl, id, 0, IPC_RMID, 0);
	}
	max = rawsys(SYS_msgctl, 0, MSG_INFO, buf);
	for (long i = 0; i <= max; i++) {
		long id = rawsys(SYS_msgctl, i, MSG_STAT, buf);
		if (id >= 0)
			rawsys(SYS_msgctl, id, IPC_RMID, NULL);
	}
}

int container_init(void *arg)
{
	struct child_ctx *c = arg;
	/* Node's handlers must not run here; SIGKILL and SIGSTOP refuse (EINVAL), which is fine.
	 * The kernel's sigaction: handler, flags, restorer, mask. */
	struct { unsigned long handler, flags, restorer, mask; } dfl = { 0, 0, 0, 0 };
	for (int sig = 1; sig < _NSIG; sig++)
		rawsys(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
	unsigned long none = 0;
	rawsys(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
	rawsys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL); /* if the worker thread dies, so does the container */
	rawsys(SYS_umask, 0);
	long rc = arrange_fds(c);
	if (rc < 0) {
		struct report r = { REP_FAIL, STEP_FDS, (int)-rc, 0, now_us() };
		rawsys(SYS_write, c->report_w, &r, sizeof r);
		rawsys_exit(127);
	}
	char go;
	do
		rc = rawsys(SYS_read, FD_SYNC, &go, 1);
	while (rc == -EINTR);
	if (rc != 1)
		rawsys_exit(127); /* the parent gave up before releasing us */
	rawsys(SYS_close, FD_SYNC);

	run_steps(INIT_STEPS, sizeof INIT_STEPS / sizeof *INIT_STEPS, c, NULL);

	for (;;) {
		long main_pid = spawn_program(c);
		if (main_pid < 0)
			fail(STEP_SPAWN, main_pid);
		/* The program has its own descriptor table (no CLONE_FILES). The init keeps the control
		 * socket and the cgroup descriptors for a next program (close-on-exec in the program's
		 * copy, closed by it before execve), and /dev/null on 0, 1 and 2 instead of the
		 * container's output pipes, which must reach EOF when the program's processes are gone
		 * (and so that descriptors a next program receives never land on 0, 1 or 2). */
		rawsys(SYS_dup3, 0, 1, 0);
		rawsys(SYS_dup3, 0, 2, 0);
		int64_t end_us;
		int status = reap_program(main_pid, &end_us);
		report_at(REP_EXIT, 0, 0, status, end_us);
		if (!__atomic_load_n(&c->hold, __ATOMIC_ACQUIRE))
			rawsys_exit(0);
		remove_sysv_ipc();
		for (;;) {
			int next = wire_receive_next();
			if (next == 0)
				rawsys_exit(0); /* discarded */
			if (next == 1)
				break;
		}
	}
}
