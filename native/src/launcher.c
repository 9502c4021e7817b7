/*
 * corral_run(): one program in one fresh container.
 *
 * Theory of operation
 * -------------------
 * Three parties, no helper binary and no fork of the (large) Node.js process:
 *
 *   parent  the calling thread (a libuv thread-pool thread). Prepares everything — cgroup and
 *           limits, mount plan, pipes, stacks — then clone()s the init with
 *           CLONE_VM (no page-table copy) and every namespace. It writes the init's uid/gid
 *           maps, releases it through the sync pipe and supervises: stdout/stderr pipes, the
 *           report pipe, the init's pidfd, wall and CPU limits. To stop a run it SIGKILLs the
 *           init; the kernel then kills everything else in the pid namespace.
 *   init    pid 1 of the new pid namespace, sharing the parent's memory but touching only its
 *           own stack and the prepared, read-only data. It waits for release, becomes root of
 *           its user namespace, sets the hostname, brings up lo, walks the mount plan and
 *           pivot_roots. It then clone(CLONE_VM|CLONE_VFORK)s the program, reaps every process
 *           of the namespace, and when the program ends kills whatever is left, reports the
 *           program's wait status and exits. It is not in the run's cgroup, so the cgroup's OOM
 *           killer can never pick it (its mm is the Node process's).
 *   program joins the run's cgroup through fds the parent opened, enters a new cgroup
 *           namespace, empties its bounding and ambient capability sets and waits for the
 *           job; then applies rlimits, drops to the sandbox uid with no capabilities,
 *           no_new_privs and the seccomp filter, reports the moment it execs, and execve()s.
 *
 * The init and the program (before execve) make raw syscalls only (rawsys.h): sharing the
 * parent's memory and thread pointer, a glibc wrapper there would write the errno of a worker
 * thread that is busy with other containers meanwhile.
 *
 * Child-to-parent reports ({kind, step, errno, value, time}) go through a CLOEXEC pipe, so a
 * setup failure says exactly which step failed and why, and a successful execve says nothing.
 *
 * The job reaches the waiting program as one message on the control socket, with its descriptors
 * attached (SCM_RIGHTS): stdin (a sealed memfd, a file, /dev/null, or the caller's pipe when
 * streaming), the detached /box mount, and, when streaming, the caller's stdout/stderr pipes,
 * which replace the container's captured ones as the program's fds 1 and 2. A streamed stream
 * never reaches the supervisor: the caller reads it while the program runs, and stops the run
 * (corral_stop) when it wants to; corral_signal() signals the run's processes through its cgroup.
 */
#include "internal.h"
#include "rawsys.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/mount.h>
#include <linux/sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

#define STACK_SIZE (256 * 1024)

/* Fixed descriptor numbers inside the container's init and program. */
enum { FD_REPORT = 3, FD_SYNC = 4, FD_CTL = 5, FD_CGDIR = 6, FD_CGROUP = 7 };

/* The descriptors a job carries to the program (-1: absent), in this order on the wire; the
 * dispatch message's one byte says which of the optional ones follow stdin. */
struct dispatch_fds {
	int in, box, out, err;
};
enum { DISPATCH_BOX = 1, DISPATCH_OUT = 2, DISPATCH_ERR = 4 };

struct child_ctx {
	/* Copied from the spec: a pooled or cold container outlives the prepare call's memory. */
	char hostname[65];
	int use_time_ns;
	const struct mount_plan *plan;
	int report_w, sync_r, ctl_r, null_fd, out_w, err_w;
	int cg_fds[CG_MAX_DIRS];
	int ncg;
	int cgdir_fd;              /* v2: the program's leaf, for clone3(CLONE_INTO_CGROUP); else -1 */
	int program_in_cgroup;     /* set by the init: the program was born in its cgroup */
	char *exec_stack;
	int last_cap;
	const struct sock_fprog *seccomp;
	/* The job, published by the parent right before it sends the dispatch message. */
	const corral_spec *job;
};

/* A container: built by corral_prepare(), used by one corral_dispatch(), removed by
 * corral_discard(). Shared with the container's processes (CLONE_VM): they read ctx. */
struct corral_container {
	struct child_ctx ctx;
	struct cgroup_run cg;
	struct mount_plan *plan;
	char *stacks;
	int out_r, err_r, rep_r, ctl_w, pidfd;
	pid_t pid;
	int dispatched, exited;
	int cancelled;             /* set by corral_cancel/corral_stop from another thread: limit + 1 */
	struct report fail;        /* a setup failure reported before dispatch */
	int64_t t_ready_us;
	int64_t t_created_us, t_cgroup_us, t_released_us;
};

int corral_abi_version(void)
{
	return CORRAL_ABI_VERSION;
}

void corral_free(void *p)
{
	free(p);
}

/* ---- child side: no malloc, no locks, no stdio; only raw syscalls (rawsys.h) ---- */

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

/* dup2 without its special case: the fds here are never equal but stay safe if they were. */
static long dup_to(int from, int to)
{
	return from == to ? 0 : rawsys(SYS_dup3, from, to, 0);
}

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

/* Waits for the dispatch message; returns the job and the descriptors it carries. A descriptor
 * the message announces but does not carry leaves d->in at -1, which fails STEP_STDIO. */
static const corral_spec *wait_dispatch(struct child_ctx *c, struct dispatch_fds *d)
{
	char flags;
	char control[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { &flags, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
	long n;
	do
		n = rawsys(SYS_recvmsg, FD_CTL, &msg, MSG_CMSG_CLOEXEC);
	while (n == -EINTR);
	if (n != 1)
		return NULL; /* discarded unused: the parent closed the socket */
	d->in = d->box = d->out = d->err = -1;
	int fds[4] = { -1, -1, -1, -1 };
	size_t count = 0, next = 0;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
		count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (count > 4)
			count = 4;
		memcpy(fds, CMSG_DATA(cm), count * sizeof(int));
	}
	int *wanted[] = { &d->in, (flags & DISPATCH_BOX) ? &d->box : NULL, (flags & DISPATCH_OUT) ? &d->out : NULL,
			  (flags & DISPATCH_ERR) ? &d->err : NULL };
	for (size_t i = 0; i < 4; i++) {
		if (!wanted[i])
			continue;
		if (next >= count) {
			d->in = -1;
			break;
		}
		*wanted[i] = fds[next++];
	}
	return __atomic_load_n(&c->job, __ATOMIC_ACQUIRE);
}

/* The job's stdin at 0; streamed stdout/stderr replace the container's pipes; merging follows
 * whatever fd 1 is. Returns 0 or -errno. */
static long take_stdio(const corral_spec *s, const struct dispatch_fds *d)
{
	long rc;
	if (d->in < 0)
		return -EBADF;
	if ((rc = dup_to(d->in, 0)) < 0 || (d->out >= 0 && (rc = dup_to(d->out, 1)) < 0) ||
	    (d->err >= 0 && (rc = dup_to(d->err, 2)) < 0) || (s->merge_stderr && (rc = dup_to(1, 2)) < 0))
		return rc;
	int received[] = { d->in, d->box, d->out, d->err };
	for (size_t i = 0; i < sizeof received / sizeof *received; i++)
		if (received[i] > 2)
			rawsys(SYS_close, received[i]);
	return 0;
}

/* The program's process. Before the job is known it joins the cgroup and its namespace (the
 * costly attach happens while the container is built); then it waits for the job. */
static int child_exec(void *arg)
{
	struct child_ctx *c = arg;
	long rc;
	if ((rc = rawsys(SYS_setsid, 0)) < 0)
		fail(STEP_SETSID, rc);
	for (int i = 0; i < c->ncg && !c->program_in_cgroup; i++)
		if ((rc = rawsys(SYS_write, FD_CGROUP + i, "0", 1)) != 1)
			fail(STEP_CG_ATTACH, rc);
	if ((rc = rawsys(SYS_unshare, CLONE_NEWCGROUP)) < 0)
		fail(STEP_CGROUPNS, rc);
	for (int i = 0; i < c->ncg; i++)
		rawsys(SYS_close, FD_CGROUP + i);
	if ((rc = caps_drop_bounding(c->last_cap)) < 0)
		fail(STEP_CAPBSET, rc);
	report(REP_READY, 0, 0, 0);

	struct dispatch_fds d;
	const corral_spec *s = wait_dispatch(c, &d);
	if (!s)
		rawsys_exit(0);
	rawsys(SYS_close, FD_CTL);
	if (d.box >= 0 && (rc = rawsys(SYS_move_mount, d.box, "", AT_FDCWD, "/box", MOVE_MOUNT_F_EMPTY_PATH)) < 0)
		fail(STEP_BOX, rc);
	if ((rc = take_stdio(s, &d)) < 0)
		fail(STEP_STDIO, rc);
	if ((rc = rlimits_apply(s)) < 0)
		fail(STEP_RLIMIT, rc);
	if ((rc = rawsys(SYS_chdir, s->cwd)) < 0)
		fail(STEP_CHDIR, rc);
	rawsys(SYS_umask, 022);
	int step;
	if ((rc = caps_drop_to(s->sandbox_uid, s->sandbox_gid, &step)) < 0)
		fail(step, rc);
	if ((rc = rawsys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, c->seccomp)) < 0)
		fail(STEP_SECCOMP, rc);
	report(REP_EXECING, 0, 0, 0);
	long err = -ENOENT;
	for (const char *const *p = s->exec_paths; *p; p++) {
		rc = rawsys(SYS_execve, *p, s->argv, s->envp);
		if (rc != -ENOENT && rc != -ENOTDIR)
			err = rc; /* e.g. EACCES: more useful than "not found" */
	}
	fail(STEP_EXEC, err);
}

/* Spawns the program (CLONE_VFORK: the init sleeps until its execve or exit). Born in its cgroup
 * where it can be (v2: no attach); clone3's raw call keeps the init off glibc's errno. Falls back
 * to an attach where CLONE_INTO_CGROUP is refused, and to glibc's clone() where clone3 is
 * missing (kernels before 5.3, architectures without a trampoline): that wrapper writes errno
 * only if it fails, and then the container ends. Returns the pid or -errno. */
static long spawn_program(struct child_ctx *c)
{
	struct clone_args args;
	memset(&args, 0, sizeof args);
	args.flags = CLONE_VM | CLONE_VFORK;
	args.exit_signal = SIGCHLD;
	args.stack = (uint64_t)(uintptr_t)c->exec_stack;
	args.stack_size = STACK_SIZE;
	long pid = -ENOSYS;
	if (c->cgdir_fd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = FD_CGDIR;
		c->program_in_cgroup = 1;
		pid = corral_clone3_raw(&args, sizeof args, child_exec, c);
		c->program_in_cgroup = pid >= 0;
		args.flags &= ~(uint64_t)CLONE_INTO_CGROUP;
		args.cgroup = 0;
	}
	if (pid < 0)
		pid = corral_clone3_raw(&args, sizeof args, child_exec, c);
	if (pid == -ENOSYS) {
		pid = clone(child_exec, c->exec_stack + STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, c);
		if (pid < 0)
			pid = errno > 0 ? -errno : -EAGAIN;
	}
	return pid;
}

static int child_init(void *arg)
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

	/* Raw syscalls also for a second reason here: glibc's set*id() broadcasts the change to every
	 * thread of the process it believes it is in (the worker's, since we share its memory) under
	 * a lock in that shared memory; a container killed mid-broadcast left the lock held and every
	 * later container hung in futex_wait. */
	if ((rc = rawsys(SYS_setresgid, 0, 0, 0)) < 0 || (rc = rawsys(SYS_setresuid, 0, 0, 0)) < 0)
		fail(STEP_SETID, rc);
	if ((rc = rawsys(SYS_sethostname, c->hostname, strlen(c->hostname))) < 0)
		fail(STEP_HOSTNAME, rc);
	if ((rc = net_loopback_up()) < 0)
		fail(STEP_LOOPBACK, rc);
	int op;
	if ((rc = mount_plan_apply(c->plan, &op)) < 0)
		fail(STEP_MOUNT_BASE + op, rc);
	if (c->use_time_ns && (rc = rawsys(SYS_unshare, CLONE_NEWTIME)) < 0)
		fail(STEP_TIMENS, rc);

	long main_pid = spawn_program(c);
	if (main_pid < 0)
		fail(STEP_SPAWN, main_pid);
	/* The program has exec'd (or failed to, or the container was discarded unused): drop our
	 * copies of its stdio, control and cgroup fds. */
	int ours[] = { 0, 1, 2, FD_CTL, FD_CGDIR };
	for (size_t i = 0; i < sizeof ours / sizeof *ours; i++)
		rawsys(SYS_close, ours[i]);
	for (int i = 0; i < c->ncg; i++)
		rawsys(SYS_close, FD_CGROUP + i);

	int main_status = 0, main_done = 0;
	int64_t main_end_us = 0;
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
			main_end_us = now_us(); /* the program's wall time ends here, not after the reaping */
			rawsys(SYS_kill, -1, SIGKILL); /* daemons and stray children end with the program */
		}
	}
	report_at(REP_EXIT, 0, 0, main_status, main_end_us ? main_end_us : now_us());
	rawsys_exit(0);
}

/* ---- parent side ---- */

/* A read-only descriptor of the same memfd, offset 0. */
static int open_readonly_copy(int fd)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	return open(path, O_RDONLY | O_CLOEXEC);
}

static const char *step_name(int step)
{
	static const char *const names[] = {
		[STEP_SIGNALS] = "reset signals", [STEP_FDS] = "arrange descriptors",
		[STEP_SYNC] = "wait for release", [STEP_SETID] = "become namespace root",
		[STEP_HOSTNAME] = "sethostname", [STEP_LOOPBACK] = "bring up lo",
		[STEP_TIMENS] = "unshare time namespace", [STEP_SPAWN] = "spawn program",
		[STEP_SETSID] = "setsid", [STEP_CG_ATTACH] = "join cgroup",
		[STEP_CGROUPNS] = "unshare cgroup namespace", [STEP_RLIMIT] = "setrlimit",
		[STEP_CHDIR] = "chdir to working directory", [STEP_GROUPS] = "setgroups",
		[STEP_SETGID] = "setresgid", [STEP_CAPBSET] = "drop bounding capabilities",
		[STEP_SETUID] = "setresuid", [STEP_CAPS] = "clear capabilities",
		[STEP_NO_NEW_PRIVS] = "no_new_privs", [STEP_SECCOMP] = "install seccomp filter",
		[STEP_EXEC] = "execve", [STEP_PIVOT] = "pivot_root", [STEP_DISPATCH] = "receive the job",
		[STEP_BOX] = "attach /box", [STEP_STDIO] = "set up stdin/stderr",
	};
	if (step > 0 && step < (int)(sizeof names / sizeof *names) && names[step])
		return names[step];
	return "setup";
}

static void describe_failure(char *buf, size_t len, const struct report *r, const struct mount_plan *plan,
			     const corral_spec *s)
{
	if (r->step >= STEP_MOUNT_BASE && r->step - STEP_MOUNT_BASE < plan->n) {
		const struct mount_op *op = &plan->ops[r->step - STEP_MOUNT_BASE];
		snprintf(buf, len, "container setup: %s %s%s%s: %s", mount_op_name(op->kind),
			 op->fstype ? op->fstype : "", op->fstype ? " on " : "", op->dst, strerror(r->err));
	} else if (r->step == STEP_EXEC && s) {
		snprintf(buf, len, "execve %s: %s", s->argv[0], strerror(r->err));
	} else {
		snprintf(buf, len, "container setup: %s: %s", step_name(r->step), strerror(r->err));
	}
}

/* What corral_prepare needs: the container. */
static int validate(const corral_spec *s, struct cerr *e)
{
	if (!s->runs_root || !s->name || !s->lowerdirs || !s->hostname || !s->dev_dir || !s->empty_dir)
		return cerr_set(e, EINVAL, "spec: runs_root, name, lowerdirs, hostname, dev_dir and empty_dir are required");
	if (strchr(s->name, '/') || s->name[0] == '.' || s->name[0] == 0)
		return cerr_set(e, EINVAL, "spec: bad run name '%s'", s->name);
	if (strlen(s->hostname) == 0 || strlen(s->hostname) > 64)
		return cerr_set(e, EINVAL, "spec: a hostname has 1 to 64 characters");
	if (s->disk_bytes <= 0 || s->shm_bytes <= 0)
		return cerr_set(e, EINVAL, "spec: disk and shm sizes must be positive");
	return 0;
}

/* What corral_dispatch needs: the job. */
static int validate_job(const corral_spec *s, struct cerr *e)
{
	if (!s->argv || !s->argv[0] || !s->envp || !s->exec_paths || !s->exec_paths[0] || !s->cwd)
		return cerr_set(e, EINVAL, "job: argv, envp, exec_paths and cwd are required");
	if (s->box_lowerdirs && (!s->box_dir || !s->box_workdir))
		return cerr_set(e, EINVAL, "job: box_lowerdirs needs box_dir and box_workdir");
	if (s->output_bytes <= 0)
		return cerr_set(e, EINVAL, "job: the output cap must be positive");
	return 0;
}

/* The program's stdin: a file, or the request's bytes in a memfd (no disk, no pipe to feed),
 * or /dev/null. A file descriptor, so the program may seek and mmap it like a judge's input. */
static int open_stdin(const corral_spec *s, struct cerr *e)
{
	if (s->stdin_path) {
		int fd = open(s->stdin_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		return fd < 0 ? cerr_set(e, errno, "open stdin %s", s->stdin_path) : fd;
	}
	if (s->stdin_len <= 0 || !s->stdin_data) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return fd < 0 ? cerr_set(e, errno, "open /dev/null") : fd;
	}
	int fd = memfd_create("stdin", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return cerr_set(e, errno, "memfd_create stdin");
	for (int64_t done = 0; done < s->stdin_len;) {
		ssize_t n = write(fd, s->stdin_data + done, (size_t)(s->stdin_len - done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int saved = errno;
			close(fd);
			return cerr_set(e, saved, "write stdin memfd");
		}
		done += n;
	}
	/* Sealed and read-only: the program cannot change the input it shares with nobody else. */
	fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
	int ro = open_readonly_copy(fd);
	close(fd);
	if (ro < 0)
		return cerr_set(e, errno, "reopen stdin memfd read-only");
	return ro;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void close_dispatch_fds(struct dispatch_fds *d)
{
	close_fd(&d->in);
	close_fd(&d->box);
	close_fd(&d->out);
	close_fd(&d->err);
}

static void fill_result(corral_outcome *o, const struct supervision *sv, const struct mount_plan *plan,
			const corral_spec *s)
{
	int64_t end = sv->got_exit && sv->t_exit_us ? sv->t_exit_us : sv->t_end_us;
	o->wall_us = sv->t_exec_us ? end - sv->t_exec_us : 0;
	if (sv->got_exit) {
		if (WIFEXITED(sv->exit_status)) {
			o->exited = 1;
			o->exit_code = WEXITSTATUS(sv->exit_status);
		} else if (WIFSIGNALED(sv->exit_status)) {
			o->signal = WTERMSIG(sv->exit_status);
		}
	} else if (sv->killed_for) {
		o->signal = SIGKILL;
	}
	if (sv->fail.kind && sv->fail.step != STEP_EXEC) {
		o->status = CORRAL_INTERNAL_ERROR;
		describe_failure(o->error, sizeof o->error, &sv->fail, plan, s);
		o->exited = 0, o->signal = 0;
		return;
	}
	if (sv->killed_for == -1) {
		o->status = CORRAL_INTERNAL_ERROR;
		snprintf(o->error, sizeof o->error, "container setup did not finish within %lld s: %s",
			 (long long)(10), sv->stall);
		return;
	}
	if (sv->killed_for == CORRAL_LIMIT_OUTPUT) {
		o->status = CORRAL_OUTPUT_LIMIT, o->limit = CORRAL_LIMIT_OUTPUT;
		return;
	}
	if (sv->killed_for == CORRAL_LIMIT_CPU || sv->killed_for == CORRAL_LIMIT_WALL) {
		o->status = CORRAL_TIME_LIMIT, o->limit = sv->killed_for;
		return;
	}
	if (o->oom_kills > 0) {
		o->status = CORRAL_MEMORY_LIMIT, o->limit = CORRAL_LIMIT_MEMORY;
		return;
	}
	if (sv->fail.kind) { /* execve failed: the program could not start */
		o->status = CORRAL_RUNTIME_ERROR;
		o->exited = 1, o->exit_code = 127, o->signal = 0;
		describe_failure(o->error, sizeof o->error, &sv->fail, plan, s);
		return;
	}
	if (!sv->got_exit) {
		o->status = CORRAL_INTERNAL_ERROR;
		snprintf(o->error, sizeof o->error, "container init ended without reporting the program's status");
		return;
	}
	/* Limits overshot between two samples still count. */
	if (s->cpu_ms > 0 && o->cpu_us > s->cpu_ms * 1000) {
		o->status = CORRAL_TIME_LIMIT, o->limit = CORRAL_LIMIT_CPU;
		return;
	}
	if (s->wall_ms > 0 && o->wall_us > s->wall_ms * 1000) {
		o->status = CORRAL_TIME_LIMIT, o->limit = CORRAL_LIMIT_WALL;
		return;
	}
	o->status = (o->exited && o->exit_code == 0) ? CORRAL_OK : CORRAL_RUNTIME_ERROR;
}

static void container_free(struct corral_container *c)
{
	if (c->cg.ndirs) {
		cg_kill_all(&c->cg);
		struct cerr ignored;
		cg_destroy(&c->cg, &ignored);
	}
	int *fds[] = { &c->cg.cpu_fd, &c->cg.peak_fd, &c->cg.events_fd, &c->cg.kill_fd, &c->out_r, &c->err_r,
		       &c->rep_r, &c->ctl_w, &c->pidfd };
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		close_fd(fds[i]);
	for (int i = 0; i < CG_MAX_DIRS; i++)
		if (c->cg.procs_fd[i] >= 0)
			close(c->cg.procs_fd[i]);
	if (c->stacks && c->stacks != MAP_FAILED)
		munmap(c->stacks, 2 * STACK_SIZE);
	free(c->plan);
	free(c);
}

static void kill_and_reap(struct corral_container *c)
{
	if (c->pidfd < 0 || c->exited)
		return;
	syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
	siginfo_t si;
	while (waitid((idtype_t)P_PIDFD, (id_t)c->pidfd, &si, WEXITED | __WALL) < 0 && errno == EINTR)
		;
	c->exited = 1;
}

/* Waits (bounded) until the container is built: READY, a setup failure, or its end. */
static int wait_ready(struct corral_container *c, struct cerr *e)
{
	int64_t deadline = now_us() + 10 * 1000000LL;
	for (;;) {
		struct report r;
		ssize_t n = read(c->rep_r, &r, sizeof r);
		if (n == (ssize_t)sizeof r) {
			if (r.kind == REP_READY) {
				c->t_ready_us = r.t_us;
				return 0;
			}
			if (r.kind == REP_FAIL) {
				c->fail = r;
				describe_failure(e->msg, sizeof e->msg, &r, c->plan, NULL);
				return -1;
			}
			continue;
		}
		int64_t left = deadline - now_us();
		if (left <= 0) {
			char stall[200];
			describe_setup_stall(c->pidfd, 0, stall, sizeof stall);
			return cerr_set(e, ETIMEDOUT, "container setup did not finish within 10 s: %s", stall);
		}
		struct pollfd fds[2] = { { c->rep_r, POLLIN, 0 }, { c->pidfd, POLLIN, 0 } };
		if (poll(fds, 2, (int)(left / 1000) + 1) < 0 && errno != EINTR)
			return cerr_set(e, errno, "poll while building the container");
		if (fds[1].revents && !(fds[0].revents & POLLIN))
			return cerr_set(e, 0, "the container's init ended during setup");
	}
}

int corral_prepare(const corral_spec *s, int32_t wait_until_ready, corral_container **out, char *err, int32_t err_len)
{
	struct cerr e = { { 0 } };
	*out = NULL;
	struct corral_container *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, (size_t)err_len, "out of memory");
		return -1;
	}
	c->out_r = c->err_r = c->rep_r = c->ctl_w = c->pidfd = -1;
	c->cg.cpu_fd = c->cg.peak_fd = c->cg.events_fd = c->cg.kill_fd = -1;
	for (int i = 0; i < CG_MAX_DIRS; i++)
		c->cg.procs_fd[i] = -1;
	c->stacks = MAP_FAILED;
	int out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 }, rep_p[2] = { -1, -1 }, sync_p[2] = { -1, -1 };
	int ctl[2] = { -1, -1 }, null_fd = -1;
	c->t_created_us = now_us();

	if (validate(s, &e) < 0 || cg_create(&c->cg, s, &e) < 0 || cg_set_limits(&c->cg, s, &e) < 0)
		goto fail;
	c->t_cgroup_us = now_us();
	c->plan = malloc(sizeof *c->plan);
	if (!c->plan) {
		cerr_set(&e, ENOMEM, "mount plan");
		goto fail;
	}
	if (mount_plan_build(c->plan, s, &e) < 0)
		goto fail;
	if (pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0 || pipe2(rep_p, O_CLOEXEC | O_DIRECT) < 0 ||
	    pipe2(sync_p, O_CLOEXEC) < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
		cerr_set(&e, errno, "pipes");
		goto fail;
	}
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	c->stacks = mmap(NULL, 2 * STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (null_fd < 0 || c->stacks == MAP_FAILED) {
		cerr_set(&e, errno, "open /dev/null or map stacks");
		goto fail;
	}
	/* The parent's ends now belong to the container (closed by container_free). */
	c->out_r = out_p[0], c->err_r = err_p[0], c->rep_r = rep_p[0], c->ctl_w = ctl[0];
	out_p[0] = err_p[0] = rep_p[0] = ctl[0] = -1;
	fcntl(c->out_r, F_SETFL, O_NONBLOCK);
	fcntl(c->err_r, F_SETFL, O_NONBLOCK);
	fcntl(c->rep_r, F_SETFL, O_NONBLOCK);
	c->ctx = (struct child_ctx){
		.use_time_ns = s->use_time_ns, .plan = c->plan,
		.report_w = rep_p[1], .sync_r = sync_p[0], .ctl_r = ctl[1], .null_fd = null_fd,
		.out_w = out_p[1], .err_w = err_p[1],
		.cgdir_fd = c->cg.prog_dirfd, .exec_stack = c->stacks + STACK_SIZE,
		.last_cap = caps_last_cap(), .seccomp = seccomp_program(),
	};
	snprintf(c->ctx.hostname, sizeof c->ctx.hostname, "%s", s->hostname);
	for (int i = 0; i < c->cg.ndirs; i++)
		if (c->cg.procs_fd[i] >= 0)
			c->ctx.cg_fds[c->ctx.ncg++] = c->cg.procs_fd[i];

	int flags = CLONE_VM | CLONE_PIDFD | CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS |
		    CLONE_NEWIPC | CLONE_NEWNET;
	c->pid = -1;
	if (c->cg.init_dirfd >= 0) {
		/* v2: the init is born in its own leaf, outside the program's limits. */
		struct clone_args args;
		memset(&args, 0, sizeof args);
		args.flags = (uint64_t)flags | CLONE_INTO_CGROUP;
		args.pidfd = (uint64_t)(uintptr_t)&c->pidfd;
		args.exit_signal = 0;
		args.stack = (uint64_t)(uintptr_t)c->stacks;
		args.stack_size = STACK_SIZE;
		args.cgroup = (uint64_t)c->cg.init_dirfd;
		long pid = corral_clone3_raw(&args, sizeof args, child_init, &c->ctx);
		c->pid = pid < 0 ? -1 : (pid_t)pid; /* refused: the attach path below */
	}
	if (c->pid < 0)
		c->pid = clone(child_init, c->stacks + STACK_SIZE, flags, &c->ctx, &c->pidfd);
	if (c->pid < 0) {
		cerr_set(&e, errno, "clone container init");
		goto fail;
	}
	int *child_ends[] = { &out_p[1], &err_p[1], &rep_p[1], &sync_p[0], &ctl[1], &null_fd };
	for (size_t i = 0; i < sizeof child_ends / sizeof *child_ends; i++)
		close_fd(child_ends[i]);
	/* The program process keeps its cgroup fds; ours are not needed any more. */
	for (int i = 0; i < c->cg.ndirs; i++)
		close_fd(&c->cg.procs_fd[i]);
	close_fd(&c->cg.init_dirfd);
	close_fd(&c->cg.prog_dirfd);
	if (userns_write_maps(c->pid, s->id_base, &e) < 0 || write(sync_p[1], "g", 1) != 1) {
		if (!e.msg[0])
			cerr_set(&e, errno, "release container init");
		goto fail;
	}
	close_fd(&sync_p[1]);
	c->t_released_us = now_us();
	if (wait_until_ready && wait_ready(c, &e) < 0)
		goto fail;
	*out = c;
	return 0;

fail:
	snprintf(err, (size_t)err_len, "%s", e.msg[0] ? e.msg : "container setup failed");
	{
		int *fds[] = { &out_p[0], &out_p[1], &err_p[0], &err_p[1], &rep_p[0], &rep_p[1], &sync_p[0],
			       &sync_p[1], &ctl[0], &ctl[1], &null_fd };
		for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
			close_fd(fds[i]);
	}
	kill_and_reap(c);
	container_free(c);
	return -1;
}

/* Sends the job; the descriptors ride along (SCM_RIGHTS). */
static int send_dispatch(struct corral_container *c, const corral_spec *job, const struct dispatch_fds *d, struct cerr *e)
{
	__atomic_store_n(&c->ctx.job, job, __ATOMIC_RELEASE);
	char flags = 0;
	int fds[4] = { d->in };
	int nfds = 1;
	if (d->box >= 0)
		flags |= DISPATCH_BOX, fds[nfds++] = d->box;
	if (d->out >= 0)
		flags |= DISPATCH_OUT, fds[nfds++] = d->out;
	if (d->err >= 0)
		flags |= DISPATCH_ERR, fds[nfds++] = d->err;
	char control[CMSG_SPACE(4 * sizeof(int))];
	memset(control, 0, sizeof control);
	struct iovec iov = { &flags, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			      .msg_controllen = CMSG_SPACE(nfds * sizeof(int)) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	ssize_t n;
	do
		n = sendmsg(c->ctl_w, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	/* A container that already failed its setup cannot take the job; supervision reports why. */
	if (n != 1 && errno != EPIPE && errno != ECONNREFUSED && errno != ECONNRESET)
		return cerr_set(e, errno, "send the job to the container");
	return 0;
}

/* How a run stopped from outside (corral_cancel, corral_stop) is reported. */
static void apply_stop(corral_outcome *o, int limit)
{
	static const int status_of[] = {
		[CORRAL_LIMIT_NONE] = CORRAL_CANCELLED, [CORRAL_LIMIT_CPU] = CORRAL_TIME_LIMIT,
		[CORRAL_LIMIT_WALL] = CORRAL_TIME_LIMIT, [CORRAL_LIMIT_MEMORY] = CORRAL_MEMORY_LIMIT,
		[CORRAL_LIMIT_OUTPUT] = CORRAL_OUTPUT_LIMIT,
	};
	if (limit < CORRAL_LIMIT_NONE || limit > CORRAL_LIMIT_OUTPUT)
		limit = CORRAL_LIMIT_NONE;
	o->status = status_of[limit], o->limit = limit;
	if (limit == CORRAL_LIMIT_NONE) {
		snprintf(o->error, sizeof o->error, "cancelled");
		return;
	}
	/* Killed with the container (its init got SIGKILL), unless it had ended by itself. */
	o->error[0] = 0;
	if (!o->exited && !o->signal)
		o->signal = SIGKILL;
}

int corral_dispatch(corral_container *c, const corral_spec *s, corral_outcome *o)
{
	memset(o, 0, sizeof *o);
	int64_t t0 = now_us();
	struct cerr e = { { 0 } };
	/* The caller's streamed descriptors are ours from here on, whatever happens. */
	struct dispatch_fds d = { s->stdin_fd, -1, s->stdout_fd, s->stderr_fd };
	int rc = -1;
	if (c->dispatched) {
		close_dispatch_fds(&d);
		snprintf(o->error, sizeof o->error, "container already used: each serves exactly one run");
		o->status = CORRAL_INTERNAL_ERROR;
		return -1;
	}
	c->dispatched = 1;
	int64_t cpu_before = 0;
	if (validate_job(s, &e) < 0 || cg_apply_limits(&c->cg, s, &e) < 0)
		goto out;
	cpu_before = cg_cpu_us(&c->cg);
	if (cpu_before < 0)
		cpu_before = 0;
	if (d.in < 0 && (d.in = open_stdin(s, &e)) < 0)
		goto out;
	if (s->box_dir && (d.box = box_mount_fd(s, &e)) < 0)
		goto out;
	if (send_dispatch(c, s, &d, &e) < 0)
		goto out;
	close_dispatch_fds(&d);
	close_fd(&c->ctl_w);

	struct supervision sv;
	memset(&sv, 0, sizeof sv);
	/* A streamed stream is the caller's to read; its container pipe only reports EOF. */
	sv.pidfd = c->pidfd, sv.report_fd = c->rep_r;
	sv.out_fd = s->stdout_fd >= 0 ? -1 : c->out_r;
	sv.err_fd = s->stderr_fd >= 0 ? -1 : c->err_r;
	sv.spec = s, sv.cg = &c->cg, sv.out = o;
	sv.out_cap = (size_t)s->output_bytes, sv.err_cap = (size_t)s->output_bytes;
	sv.t_go_us = t0;
	sv.t_ready_us = c->t_ready_us;
	sv.fail = c->fail;
	if (supervise(&sv, &e) < 0) {
		kill_and_reap(c);
		goto out;
	}
	c->exited = sv.init_reaped;
	int64_t cpu = cg_cpu_us(&c->cg);
	o->cpu_us = cpu > cpu_before ? cpu - cpu_before : 0;
	o->memory_peak_bytes = cg_peak_bytes(&c->cg);
	if (o->memory_peak_bytes < 0)
		o->memory_peak_bytes = 0;
	o->oom_kills = cg_oom_kills(&c->cg);
	o->t_cgroup_us = c->t_cgroup_us - c->t_created_us;
	o->t_namespaces_us = c->t_released_us - c->t_cgroup_us;
	/* Built ahead (pool) or while the job was on its way (cold): exec counts from whichever
	 * came last, the container being ready or the job arriving. */
	int64_t ready = c->t_ready_us ? c->t_ready_us : sv.t_ready_us;
	o->t_mounts_us = ready ? ready - c->t_released_us : 0;
	int64_t exec_from = ready > t0 ? ready : t0;
	o->t_exec_us = sv.t_exec_us && sv.t_exec_us > exec_from ? sv.t_exec_us - exec_from : 0;
	fill_result(o, &sv, c->plan, s);
	int stopped = __atomic_load_n(&c->cancelled, __ATOMIC_ACQUIRE);
	if (stopped)
		apply_stop(o, stopped - 1);
	rc = o->status == CORRAL_INTERNAL_ERROR ? -1 : 0;
out:
	o->t_total_us = now_us() - t0; /* corral_run overwrites it with prepare + dispatch + discard */
	close_dispatch_fds(&d);
	if (rc < 0 && o->status != CORRAL_INTERNAL_ERROR) {
		o->status = CORRAL_INTERNAL_ERROR;
		snprintf(o->error, sizeof o->error, "%s", e.msg[0] ? e.msg : "unknown failure");
		kill_and_reap(c);
	}
	return rc;
}

void corral_stop(corral_container *c, int32_t limit)
{
	int none = 0;
	if (limit < CORRAL_LIMIT_NONE || limit > CORRAL_LIMIT_OUTPUT)
		limit = CORRAL_LIMIT_NONE;
	/* The first stop wins; its reason is stored with the flag, so a racing one cannot change it. */
	if (!c || !__atomic_compare_exchange_n(&c->cancelled, &none, limit + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
}

void corral_cancel(corral_container *c)
{
	corral_stop(c, CORRAL_LIMIT_NONE);
}

int corral_signal(corral_container *c, int32_t sig)
{
	if (!c || sig <= 0 || sig >= _NSIG)
		return -1;
	return cg_signal_all(&c->cg, sig);
}

void corral_discard(corral_container *c)
{
	if (!c)
		return;
	kill_and_reap(c);
	container_free(c);
}

int corral_run(const corral_spec *s, corral_outcome *o)
{
	int64_t t0 = now_us();
	corral_container *c;
	char err[512];
	if (corral_prepare(s, 0, &c, err, sizeof err) < 0) {
		struct dispatch_fds d = { s->stdin_fd, -1, s->stdout_fd, s->stderr_fd };
		close_dispatch_fds(&d); /* ours, as if dispatched */
		memset(o, 0, sizeof *o);
		o->status = CORRAL_INTERNAL_ERROR;
		snprintf(o->error, sizeof o->error, "%s", err);
		o->t_total_us = now_us() - t0;
		return -1;
	}
	int rc = corral_dispatch(c, s, o);
	int64_t t_td = now_us();
	corral_discard(c);
	o->t_teardown_us = now_us() - t_td;
	o->t_total_us = now_us() - t0;
	return rc;
}
