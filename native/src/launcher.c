/*
 * corral_run(): one program in one fresh container. corral_dispatch_held(): several programs,
 * one after another, in one held container.
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
 *           pivot_roots. It then clone(CLONE_VM)s the program, reaps every process of the
 *           namespace, and when the program ends kills whatever is left, reports the program's
 *           wait status and exits (held: waits for the next program instead, below). It is not
 *           in the run's cgroup, so the cgroup's OOM killer can never pick it (its mm is the Node
 *           process's).
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
 *
 * Held containers. corral_dispatch_held() gives a container its programs one at a time, each a
 * new process the init spawns (the same PROGRAM_STEPS and JOB_STEPS, the same namespaces and
 * mounts). Between two programs the init has killed and reaped every process of the namespace,
 * so nothing of one program runs into the next one's outcome; then it waits on the control
 * socket for the NEXT message, sent as soon as a program's outcome is known (so the next process
 * joins its cgroup and waits for its job ahead of it, like a warm container's). Each program has
 * its own outcome: the dispatch brings its own stdout/stderr pipes (or the caller's), limits are
 * written per program, CPU time is counted from the program's start, and the memory peak is the
 * program's own — on cgroup v2 each program gets a fresh leaf beside the init's (memory.peak
 * cannot be reset before Linux 6.12), on v1 the program cgroup is kept and its peak reset. A limit
 * or a stop (corral_stop_held) kills the program's cgroup, never the init: the container lives on.
 * What persists is what the container is: /box (attached by the first program that reaches
 * execve), the writable root and /dev/shm (tmpfs, each with its size), POSIX message queues
 * (bounded by RLIMIT_MSGQUEUE); the init removes SysV IPC objects between programs (child.c).
 */
#include "container.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

CORRAL_API int corral_abi_version(void)
{
	return CORRAL_ABI_VERSION;
}

CORRAL_API void corral_free(void *p)
{
	free(p);
}

/* ---- parent side ---- */

/* A read-only descriptor of the same memfd, offset 0. */
static int open_readonly_copy(int fd)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* What corral_prepare needs: the container. */
static int validate(const corral_spec *s, corral_error *e)
{
	if (!s->runs_root || !s->name || !s->lowerdirs || !s->hostname || !s->dev_dir || !s->empty_dir)
		cerr_set(e, EINVAL, "spec: runs_root, name, lowerdirs, hostname, dev_dir and empty_dir are required");
	else if (strchr(s->name, '/') || s->name[0] == '.' || s->name[0] == 0)
		cerr_set(e, EINVAL, "spec: bad run name '%s'", s->name);
	else if (strlen(s->hostname) == 0 || strlen(s->hostname) > 64)
		cerr_set(e, EINVAL, "spec: a hostname has 1 to 64 characters");
	else if (s->disk_bytes <= 0 || s->shm_bytes <= 0)
		cerr_set(e, EINVAL, "spec: disk and shm sizes must be positive");
	else
		return 0;
	return cerr_where(e, CORRAL_E_SPEC, "validate");
}

/* What corral_dispatch needs: the job. */
static int validate_job(const corral_spec *s, corral_error *e)
{
	if (!s->argv || !s->argv[0] || !s->envp || !s->exec_paths || !s->exec_paths[0] || !s->cwd)
		cerr_set(e, EINVAL, "job: argv, envp, exec_paths and cwd are required");
	else if (s->box_lowerdirs && (!s->box_dir || !s->box_workdir))
		cerr_set(e, EINVAL, "job: box_lowerdirs needs box_dir and box_workdir");
	else if (s->output_bytes <= 0)
		cerr_set(e, EINVAL, "job: the output cap must be positive");
	else
		return 0;
	return cerr_where(e, CORRAL_E_SPEC, "validate-job");
}

/* The program's stdin: a file, or the request's bytes in a memfd (no disk, no pipe to feed),
 * or /dev/null. A file descriptor, so the program may seek and mmap it like a judge's input. */
static int open_stdin(const corral_spec *s, corral_error *e)
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

static void container_free(struct corral_container *c)
{
	if (c->cg.ndirs) {
		cg_kill_all(&c->cg);
		held_release(c);
		corral_error ignored;
		cg_destroy(&c->cg, &ignored);
	}
	close_fd(&c->held.wake_fd);
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
static int wait_ready(struct corral_container *c, corral_error *e)
{
	int64_t deadline = now_us() + SETUP_TIMEOUT_US;
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
				describe_failure(e, &r, c->plan, NULL);
				return -1;
			}
			continue;
		}
		int64_t left = deadline - now_us();
		if (left <= 0) {
			char stall[200];
			describe_setup_stall(c->pidfd, 0, stall, sizeof stall);
			cerr_set(e, ETIMEDOUT, "container setup did not finish within %d s: %s", CORRAL_SETUP_TIMEOUT_S, stall);
			return cerr_where(e, CORRAL_E_TIMEOUT, "setup-timeout");
		}
		struct pollfd fds[2] = { { c->rep_r, POLLIN, 0 }, { c->pidfd, POLLIN, 0 } };
		if (poll(fds, 2, (int)(left / 1000) + 1) < 0 && errno != EINTR) {
			cerr_set(e, errno, "poll while building the container");
			return cerr_where(e, CORRAL_E_HOST, "wait-ready");
		}
		if (fds[1].revents && !(fds[0].revents & POLLIN)) {
			cerr_set(e, 0, "the container's init ended during setup");
			return cerr_where(e, CORRAL_E_CONTAINER, "wait-ready");
		}
	}
}

CORRAL_API int corral_prepare(const corral_spec *s, int32_t wait_until_ready, corral_container **out, corral_error *err)
{
	corral_error e;
	memset(&e, 0, sizeof e);
	*out = NULL;
	struct corral_container *c = calloc(1, sizeof *c);
	if (!c) {
		cerr_set(err, ENOMEM, "container");
		return cerr_where(err, CORRAL_E_HOST, "prepare");
	}
	c->out_r = c->err_r = c->rep_r = c->ctl_w = c->pidfd = c->held.wake_fd = -1;
	c->id_base = s->id_base;
	c->cg.cpu_fd = c->cg.peak_fd = c->cg.events_fd = c->cg.kill_fd = -1;
	for (int i = 0; i < CG_MAX_DIRS; i++)
		c->cg.procs_fd[i] = -1;
	c->stacks = MAP_FAILED;
	int out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 }, rep_p[2] = { -1, -1 }, sync_p[2] = { -1, -1 };
	int ctl[2] = { -1, -1 }, null_fd = -1;
	c->t_created_us = now_us();

	if (validate(s, &e) < 0)
		goto fail;
	if (cg_create(&c->cg, s, &e) < 0 || cg_set_limits(&c->cg, s, &e) < 0) {
		cerr_where(&e, CORRAL_E_CGROUP, "cgroup");
		goto fail;
	}
	c->t_cgroup_us = now_us();
	c->plan = malloc(sizeof *c->plan);
	if (!c->plan) {
		cerr_set(&e, ENOMEM, "mount plan");
		cerr_where(&e, CORRAL_E_HOST, "mount-plan");
		goto fail;
	}
	if (mount_plan_build(c->plan, s, &e) < 0) {
		cerr_where(&e, CORRAL_E_SPEC, "mount-plan");
		goto fail;
	}
	if (pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0 || pipe2(rep_p, O_CLOEXEC | O_DIRECT) < 0 ||
	    pipe2(sync_p, O_CLOEXEC) < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
		cerr_set(&e, errno, "pipes");
		cerr_where(&e, CORRAL_E_HOST, "prepare");
		goto fail;
	}
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	c->stacks = mmap(NULL, 2 * STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (null_fd < 0 || c->stacks == MAP_FAILED) {
		cerr_set(&e, errno, "open /dev/null or map stacks");
		cerr_where(&e, CORRAL_E_HOST, "prepare");
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
	/* The init starts with a copy of the worker's signal handlers (Node's: they write to libuv's
	 * signal pipe, whose fd the init also has) until it resets them; a signal in that window —
	 * say a SIGTERM to the whole process group, which the init is in — would run Node's handler
	 * and reach the worker as a second signal. So every signal is blocked in this thread around
	 * the clone: the init is born with them blocked, resets its handlers, then unblocks, and what
	 * arrived meanwhile meets the default action, which pid 1 of a namespace ignores. */
	sigset_t all, before;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &before);
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
		long pid = corral_clone3_raw(&args, sizeof args, container_init, &c->ctx);
		c->pid = pid < 0 ? -1 : (pid_t)pid; /* refused: the attach path below */
	}
	if (c->pid < 0)
		c->pid = clone(container_init, c->stacks + STACK_SIZE, flags, &c->ctx, &c->pidfd);
	int clone_errno = errno;
	pthread_sigmask(SIG_SETMASK, &before, NULL);
	errno = clone_errno;
	if (c->pid < 0) {
		cerr_set(&e, errno, "clone container init");
		cerr_where(&e, errno == EAGAIN || errno == ENOMEM || errno == ENOSPC ? CORRAL_E_HOST : CORRAL_E_CONTAINER, "clone");
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
	/* The release time is read before the release: a parent descheduled right after its write
	 * (one CPU) would read it after the container reported READY, and mounts would come out < 0. */
	if (userns_write_maps(c->pid, s->id_base, &e) < 0 || (c->t_released_us = now_us(), write(sync_p[1], "g", 1) != 1)) {
		if (!e.message[0])
			cerr_set(&e, errno, "release container init");
		cerr_where(&e, CORRAL_E_CONTAINER, "id-maps");
		goto fail;
	}
	close_fd(&sync_p[1]);
	if (wait_until_ready && wait_ready(c, &e) < 0)
		goto fail;
	*out = c;
	return 0;

fail:
	if (!e.message[0])
		cerr_set(&e, 0, "container setup failed");
	cerr_where(&e, CORRAL_E_CONTAINER, "prepare");
	cerr_copy(err, &e);
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

/* Whether the init has ended (reaped or not). */
static int init_gone(struct corral_container *c)
{
	if (c->exited || c->pidfd < 0)
		return 1;
	struct pollfd p = { c->pidfd, POLLIN, 0 };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* The stop asked for this held program (corral_stop_held): its limit + 1, or 0. */
static int held_stop_for(struct corral_container *c, int64_t program)
{
	int64_t word = __atomic_load_n(&c->held.stop_word, __ATOMIC_ACQUIRE);
	return (word >> 8) == program ? (int)(word & 0xff) : 0;
}

/* A program's outcome that never ran: the sandbox failed (e), or it was stopped before it started. */
static int refuse(corral_outcome *o, struct dispatch_fds *d, corral_error *e, int code, const char *step, int64_t t0)
{
	close_dispatch_fds(d);
	cerr_where(e, code, step);
	cerr_copy(&o->error, e);
	o->status = CORRAL_INTERNAL_ERROR;
	o->t_total_us = now_us() - t0;
	return -1;
}

/* One program, start to outcome, in a one-shot container (program 0) or as the given program of
 * a held one. Owns the descriptors in d. */
static int run_job(struct corral_container *c, const corral_spec *s, corral_outcome *o, struct dispatch_fds *d,
		   int64_t t0, int64_t program)
{
	corral_error e;
	memset(&e, 0, sizeof e);
	const int held = program > 0;
	int rc = -1, sent = 0;
	int own_out[2] = { -1, -1 }, own_err[2] = { -1, -1 };
	int64_t cpu_before = 0, oom_before = 0;
	if (validate_job(s, &e) < 0)
		goto out;
	if (held && c->held.need_next) {
		if (held_next_program(c, s, &e) < 0)
			goto out;
		c->held.need_next = 0;
	}
	if (cg_apply_limits(&c->cg, s, &e) < 0) {
		cerr_where(&e, CORRAL_E_CGROUP, "cgroup-limits");
		goto out;
	}
	cpu_before = cg_cpu_us(&c->cg);
	if (cpu_before < 0)
		cpu_before = 0;
	oom_before = cg_oom_kills(&c->cg);
	if (d->in < 0 && (d->in = open_stdin(s, &e)) < 0) {
		cerr_where(&e, s->stdin_path ? CORRAL_E_FILE : CORRAL_E_HOST, "stdin");
		goto out;
	}
	/* A held container's /box stays where its first program put it. */
	if (s->box_dir && !(held && c->held.box_attached) && (d->box = box_mount_fd(s, &e)) < 0) {
		cerr_where(&e, CORRAL_E_FILE, "box");
		goto out;
	}
	/* A held program's output: pipes of this dispatch (the container's own carry the first
	 * program's only), unless the caller streams it. */
	if (held && ((d->out < 0 && pipe2(own_out, O_CLOEXEC) < 0) || (d->err < 0 && pipe2(own_err, O_CLOEXEC) < 0))) {
		cerr_set(&e, errno, "output pipes");
		cerr_where(&e, CORRAL_E_HOST, "dispatch");
		goto out;
	}
	if (own_out[1] >= 0) {
		d->out = own_out[1], own_out[1] = -1;
		fcntl(own_out[0], F_SETFL, O_NONBLOCK);
	}
	if (own_err[1] >= 0) {
		d->err = own_err[1], own_err[1] = -1;
		fcntl(own_err[0], F_SETFL, O_NONBLOCK);
	}
	int box_sent = d->box >= 0;
	if (wire_send_job(c, s, d, &e) < 0)
		goto out;
	sent = 1;
	close_dispatch_fds(d);
	if (!held)
		close_fd(&c->ctl_w);

	struct supervision sv;
	memset(&sv, 0, sizeof sv);
	/* A streamed stream is the caller's to read; its container pipe only reports EOF. */
	sv.pidfd = c->pidfd, sv.report_fd = c->rep_r;
	sv.out_fd = s->stdout_fd >= 0 ? -1 : held ? own_out[0] : c->out_r;
	sv.err_fd = s->stderr_fd >= 0 ? -1 : held ? own_err[0] : c->err_r;
	sv.spec = s, sv.cg = &c->cg, sv.out = o;
	sv.out_cap = (size_t)s->output_bytes, sv.err_cap = (size_t)s->output_bytes;
	sv.t_go_us = t0;
	sv.t_ready_us = c->t_ready_us;
	sv.fail = c->fail;
	sv.wake_fd = -1;
	if (held) {
		sv.held = 1, sv.program = program, sv.stop_word = &c->held.stop_word;
		sv.wake_fd = c->held.wake_fd;
		sv.cpu_base_us = cpu_before;
	}
	if (supervise(&sv, &e) < 0) {
		cerr_where(&e, CORRAL_E_HOST, "supervise");
		kill_and_reap(c);
		goto out;
	}
	c->exited = sv.init_reaped;
	int64_t cpu = cg_cpu_us(&c->cg);
	o->cpu_us = cpu > cpu_before ? cpu - cpu_before : 0;
	o->memory_peak_bytes = cg_peak_bytes(&c->cg);
	if (o->memory_peak_bytes < 0)
		o->memory_peak_bytes = 0;
	o->oom_kills = cg_oom_kills(&c->cg) - (int)oom_before;
	if (o->oom_kills < 0)
		o->oom_kills = 0;
	/* The container's build belongs to its first program; a later one's starts at its job. */
	int first = !held || !c->held.program_before;
	o->t_cgroup_us = first ? c->t_cgroup_us - c->t_created_us : 0;
	o->t_namespaces_us = first ? c->t_released_us - c->t_cgroup_us : 0;
	/* Built ahead (pool) or while the job was on its way (cold): exec counts from whichever
	 * came last, the container being ready or the job arriving. */
	int64_t ready = c->t_ready_us ? c->t_ready_us : sv.t_ready_us;
	o->t_mounts_us = first && ready ? ready - c->t_released_us : 0;
	int64_t exec_from = ready > t0 ? ready : t0;
	o->t_exec_us = sv.t_exec_us && sv.t_exec_us > exec_from ? sv.t_exec_us - exec_from : 0;
	outcome_fill(o, &sv, c->plan, s);
	int stopped = held ? held_stop_for(c, program) : __atomic_load_n(&c->cancelled, __ATOMIC_ACQUIRE);
	if (stopped)
		outcome_stopped(o, stopped - 1);
	if (held) {
		if (box_sent && sv.t_exec_us)
			c->held.box_attached = 1;
		/* The program and everything it started are gone: ask for the next one now, off the
		 * next job's way. A failure here is tried again at the next dispatch. */
		if (sv.got_exit && !c->exited) {
			c->held.program_before = 1;
			corral_error later;
			memset(&later, 0, sizeof later);
			c->held.need_next = held_next_program(c, s, &later) < 0;
		}
	}
	rc = o->status == CORRAL_INTERNAL_ERROR ? -1 : 0;
out:
	o->t_total_us = now_us() - t0; /* corral_run overwrites it with prepare + dispatch + discard */
	close_dispatch_fds(d);
	int *ours[] = { &own_out[0], &own_out[1], &own_err[0], &own_err[1] };
	for (size_t i = 0; i < sizeof ours / sizeof *ours; i++)
		close_fd(ours[i]);
	if (rc < 0 && o->status != CORRAL_INTERNAL_ERROR) {
		o->status = CORRAL_INTERNAL_ERROR;
		if (!e.message[0])
			cerr_set(&e, 0, "unknown failure");
		cerr_where(&e, CORRAL_E_HOST, "dispatch");
		cerr_copy(&o->error, &e);
		/* A held program whose job never left keeps waiting for the next one: the container
		 * is intact. Anything else ends the container. */
		if (!held || sent)
			kill_and_reap(c);
	}
	return rc;
}

CORRAL_API int corral_dispatch(corral_container *c, const corral_spec *s, corral_outcome *o)
{
	memset(o, 0, sizeof *o);
	int64_t t0 = now_us();
	/* The caller's streamed descriptors are ours from here on, whatever happens. */
	struct dispatch_fds d = { s->stdin_fd, -1, s->stdout_fd, s->stderr_fd };
	if (c->dispatched) {
		corral_error e;
		memset(&e, 0, sizeof e);
		cerr_set(&e, 0, c->held.on ? "container is held: its programs go through corral_dispatch_held"
					   : "container already used: each serves exactly one run");
		return refuse(o, &d, &e, CORRAL_E_USED, "dispatch", t0);
	}
	c->dispatched = 1;
	return run_job(c, s, o, &d, t0, 0);
}

CORRAL_API int corral_dispatch_held(corral_container *c, int64_t program, const corral_spec *s, corral_outcome *o)
{
	memset(o, 0, sizeof *o);
	int64_t t0 = now_us();
	struct dispatch_fds d = { s->stdin_fd, -1, s->stdout_fd, s->stderr_fd };
	corral_error e;
	memset(&e, 0, sizeof e);
	if (c->dispatched && !c->held.on) {
		cerr_set(&e, 0, "container already used for a one-shot run: it cannot be held");
		return refuse(o, &d, &e, CORRAL_E_USED, "held", t0);
	}
	if (program <= c->held.program) {
		cerr_set(&e, EINVAL, "held program %lld after program %lld: the numbers must increase", (long long)program,
			 (long long)c->held.program);
		return refuse(o, &d, &e, CORRAL_E_SPEC, "held", t0);
	}
	if (init_gone(c)) {
		cerr_set(&e, 0, "the held container has ended (its init is gone)");
		return refuse(o, &d, &e, CORRAL_E_CONTAINER, "held", t0);
	}
	if (!c->held.on) {
		int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (wake < 0) {
			cerr_set(&e, errno, "eventfd");
			return refuse(o, &d, &e, CORRAL_E_HOST, "held", t0);
		}
		__atomic_store_n(&c->held.wake_fd, wake, __ATOMIC_RELEASE);
		c->held.on = 1;
		c->dispatched = 1;
		/* Read by the init once this first program has ended. */
		__atomic_store_n(&c->ctx.hold, 1, __ATOMIC_RELEASE);
	}
	c->held.program = program;
	int stopped = held_stop_for(c, program);
	if (stopped) { /* stopped before it started: its job is not sent, the next program takes the process */
		close_dispatch_fds(&d);
		outcome_stopped(o, stopped - 1);
		o->t_total_us = now_us() - t0;
		return 0;
	}
	return run_job(c, s, o, &d, t0, program);
}

CORRAL_API void corral_stop_held(corral_container *c, int64_t program, int32_t limit)
{
	if (!c || program <= 0)
		return;
	if (limit < CORRAL_LIMIT_NONE || limit > CORRAL_LIMIT_OUTPUT)
		limit = CORRAL_LIMIT_NONE;
	int64_t want = (program << 8) | (limit + 1);
	int64_t word = __atomic_load_n(&c->held.stop_word, __ATOMIC_ACQUIRE);
	/* The first stop of a program wins; a later program's stop replaces an earlier one's. */
	while ((word >> 8) < program) {
		if (__atomic_compare_exchange_n(&c->held.stop_word, &word, want, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			int wake = __atomic_load_n(&c->held.wake_fd, __ATOMIC_ACQUIRE);
			uint64_t one = 1;
			if (wake >= 0 && write(wake, &one, sizeof one) < 0) {
				/* the counter is full: supervision is woken already */
			}
			return;
		}
	}
}

CORRAL_API void corral_stop(corral_container *c, int32_t limit)
{
	int none = 0;
	if (limit < CORRAL_LIMIT_NONE || limit > CORRAL_LIMIT_OUTPUT)
		limit = CORRAL_LIMIT_NONE;
	/* The first stop wins; its reason is stored with the flag, so a racing one cannot change it. */
	if (!c || !__atomic_compare_exchange_n(&c->cancelled, &none, limit + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
}

CORRAL_API void corral_cancel(corral_container *c)
{
	corral_stop(c, CORRAL_LIMIT_NONE);
}

CORRAL_API int corral_signal(corral_container *c, int32_t sig)
{
	/* Not for a held container: its program's cgroup changes between programs. */
	if (!c || sig <= 0 || sig >= _NSIG || c->held.on)
		return -1;
	return cg_signal_all(&c->cg, sig);
}

CORRAL_API int corral_usage(corral_container *c, int64_t *memory_bytes, int64_t *memory_peak_bytes, int64_t *cpu_us)
{
	if (!c)
		return -1;
	*memory_bytes = cg_current_bytes(&c->cg);
	*memory_peak_bytes = cg_peak_bytes(&c->cg);
	*cpu_us = cg_cpu_us(&c->cg);
	return 0;
}

CORRAL_API void corral_discard(corral_container *c)
{
	if (!c)
		return;
	kill_and_reap(c);
	container_free(c);
}

CORRAL_API int corral_run(const corral_spec *s, corral_outcome *o)
{
	int64_t t0 = now_us();
	corral_container *c;
	corral_error err;
	memset(&err, 0, sizeof err);
	if (corral_prepare(s, 0, &c, &err) < 0) {
		struct dispatch_fds d = { s->stdin_fd, -1, s->stdout_fd, s->stderr_fd };
		close_dispatch_fds(&d); /* ours, as if dispatched */
		memset(o, 0, sizeof *o);
		o->status = CORRAL_INTERNAL_ERROR;
		cerr_copy(&o->error, &err);
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
