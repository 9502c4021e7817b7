/*
 * Supervision, parent side: one poll loop over the init's pidfd, the program's stdout/stderr
 * pipes and the report pipe. It enforces the wall-clock limit, the CPU limit (summed over the
 * whole cgroup, sampled no more often than the remaining budget could run out) and the output
 * caps, and stops the run by killing the container's init — which takes every process of the
 * pid namespace with it. A held container's program is stopped by killing its cgroup instead
 * (the init then kills and reaps whatever the program left, and the container lives on). A stream
 * the caller streams (spec.stdout_fd / stderr_fd) is not read here: its cap is the caller's.
 */
#include "internal.h"
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK 65536

static void kill_init(struct supervision *s, int reason)
{
	if (s->killed_for != 0)
		return;
	s->killed_for = reason;
	s->t_killed_us = now_us();
	/* A held program's limit: its cgroup (the init is not in it); the init does the rest. */
	if (s->held && reason > 0)
		cg_kill_all(s->cg);
	else
		syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
}

/* A held program's stop (corral_stop_held), once asked: its limit + 1, or 0. */
static int stop_asked(const struct supervision *s)
{
	if (!s->stop_word)
		return 0;
	int64_t word = __atomic_load_n(s->stop_word, __ATOMIC_ACQUIRE);
	return (word >> 8) == s->program ? (int)(word & 0xff) : 0;
}

/* For a setup timeout: how far the container got, and the kernel function its init sleeps in
 * (/proc/PID/wchan), so a stall on a kernel lock names the lock's waiter, not just "10 s". */
void describe_setup_stall(int pidfd, int built, char *buf, size_t len)
{
	char path[64], line[128], wchan[64] = "?";
	long pid = 0;
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
	FILE *f = fopen(path, "re");
	if (f) {
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "Pid: %ld", &pid) == 1)
				break;
		fclose(f);
	}
	snprintf(path, sizeof path, "/proc/%ld/wchan", pid);
	int fd = pid > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		ssize_t n = read(fd, wchan, sizeof wchan - 1);
		wchan[n > 0 ? n : 0] = 0;
		if (!wchan[0] || strcmp(wchan, "0") == 0)
			snprintf(wchan, sizeof wchan, "(running)");
		close(fd);
	}
	snprintf(buf, len, "%s; its init waits in %s",
		 built ? "the container was built, its program did not reach execve"
		       : "the container was not built yet (namespaces, mounts or cgroup attach)",
		 wchan);
}

/* Appends what the pipe has to the stream's buffer, up to cap; returns 0 at EOF, 1 otherwise. */
static int drain(int fd, void **buf, int64_t *len, int32_t *truncated, size_t cap, struct supervision *s)
{
	char tmp[CHUNK];
	for (;;) {
		ssize_t n = read(fd, tmp, sizeof tmp);
		if (n == 0)
			return 0;
		if (n < 0)
			return (errno == EAGAIN || errno == EINTR) ? 1 : 0;
		size_t keep = (size_t)n;
		if ((size_t)*len + keep > cap) {
			keep = cap - (size_t)*len;
			*truncated = 1;
			kill_init(s, CORRAL_LIMIT_OUTPUT);
		}
		if (keep == 0)
			continue;
		size_t want = (size_t)*len + keep;
		/* grow by doubling, never beyond the cap */
		size_t have = *buf ? (size_t)malloc_usable_size(*buf) : 0;
		if (want > have) {
			size_t size = have ? have : 4096;
			while (size < want)
				size *= 2;
			if (size > cap)
				size = cap;
			void *grown = realloc(*buf, size);
			if (!grown)
				return 1; /* keep what we have; the cap still holds */
			*buf = grown;
		}
		memcpy((char *)*buf + *len, tmp, keep);
		*len += (int64_t)keep;
	}
}

static void read_reports(struct supervision *s)
{
	struct report r;
	for (;;) {
		ssize_t n = read(s->report_fd, &r, sizeof r);
		if (n != (ssize_t)sizeof r)
			return;
		switch (r.kind) {
		case REP_FAIL:
			if (s->fail.kind == 0)
				s->fail = r;
			break;
		case REP_READY:
			s->t_ready_us = r.t_us;
			break;
		case REP_EXECING:
			s->t_exec_us = r.t_us;
			break;
		case REP_EXIT:
			s->got_exit = 1;
			s->exit_status = r.value;
			s->t_exit_us = r.t_us;
			break;
		}
	}
}

int supervise(struct supervision *s, corral_error *e)
{
	const corral_spec *spec = s->spec;
	corral_outcome *o = s->out;
	/* -1: the caller streams that stream (spec.stdout_fd / stderr_fd), the supervisor never reads it. */
	int out_open = s->out_fd >= 0, err_open = s->err_fd >= 0;
	int64_t cpu_limit_us = spec->cpu_ms > 0 ? spec->cpu_ms * 1000 : -1;
	int64_t wall_limit_us = spec->wall_ms > 0 ? spec->wall_ms * 1000 : -1;
	int64_t cpus = spec->cpu_quota_us > 0 ? (spec->cpu_quota_us + 99999) / 100000 : sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		cpus = 1;
	int64_t next_cpu_check = 0;
	int exited = 0;

	/* The run is over when the init reports the program's end (it has killed and reaped every
	 * other process by then) or when the init itself is gone. The init's own exit — tearing down
	 * its namespaces, which can take milliseconds — is left to discard, off the request path. */
	while (!exited && !s->got_exit) {
		int64_t now = now_us();
		int64_t timeout_us = 100000;
		if (s->killed_for == 0) {
			if (s->t_exec_us == 0 && now - s->t_go_us > SETUP_TIMEOUT_US) {
				describe_setup_stall(s->pidfd, s->t_ready_us != 0, s->stall, sizeof s->stall);
				kill_init(s, -1);
			}
			if (s->t_exec_us && wall_limit_us > 0) {
				int64_t left = s->t_exec_us + wall_limit_us - now;
				if (left <= 0)
					kill_init(s, CORRAL_LIMIT_WALL);
				else if (left < timeout_us)
					timeout_us = left;
			}
			if (s->t_exec_us && cpu_limit_us > 0 && now >= next_cpu_check) {
				int64_t used = cg_cpu_us(s->cg) - s->cpu_base_us;
				if (used > cpu_limit_us)
					kill_init(s, CORRAL_LIMIT_CPU);
				/* The budget cannot run out sooner than (left / cpus) from now. */
				int64_t wait = (cpu_limit_us - used) / cpus;
				if (wait < 2000)
					wait = 2000;
				if (wait > 100000)
					wait = 100000;
				next_cpu_check = now + wait;
			}
			if (s->t_exec_us && cpu_limit_us > 0 && next_cpu_check - now < timeout_us)
				timeout_us = next_cpu_check - now;
		}
		if (s->held) {
			if (!s->stopping && stop_asked(s)) {
				s->stopping = 1;
				if (!s->killed_for)
					s->t_killed_us = now;
			}
			/* Again until the program is gone: it may not have joined its cgroup yet. */
			if (s->stopping) {
				cg_kill_all(s->cg);
				if (timeout_us > 10000)
					timeout_us = 10000;
			}
			/* Killed but not ending (a process that cannot die): the container goes. */
			if ((s->killed_for > 0 || s->stopping) && now - s->t_killed_us > SETUP_TIMEOUT_US)
				syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
		}
		struct pollfd fds[5] = {
			{ s->pidfd, POLLIN, 0 },
			{ out_open ? s->out_fd : -1, POLLIN, 0 },
			{ err_open ? s->err_fd : -1, POLLIN, 0 },
			{ s->report_fd, POLLIN, 0 },
			{ s->held ? s->wake_fd : -1, POLLIN, 0 },
		};
		int ms = (int)((timeout_us + 999) / 1000);
		int rc = poll(fds, 5, ms < 1 ? 1 : ms);
		if (rc < 0 && errno != EINTR)
			return cerr_set(e, errno, "supervise: poll");
		if (fds[4].revents) {
			uint64_t count;
			if (read(s->wake_fd, &count, sizeof count) < 0) {
				/* drained already */
			}
		}
		if (fds[3].revents)
			read_reports(s);
		if (out_open && fds[1].revents)
			out_open = drain(s->out_fd, &o->stdout_buf, &o->stdout_len, &o->stdout_truncated, s->out_cap, s);
		if (err_open && fds[2].revents)
			err_open = drain(s->err_fd, &o->stderr_buf, &o->stderr_len, &o->stderr_truncated, s->err_cap, s);
		if (fds[0].revents)
			exited = 1;
	}
	s->t_end_us = now_us();
	if (exited) {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		while (waitid((idtype_t)P_PIDFD, (id_t)s->pidfd, &si, WEXITED | __WALL) < 0 && errno == EINTR)
			;
		s->init_reaped = 1;
	}
	/* Every process that could write to the pipes is gone (the init closed its copies before
	 * the program started): they hold what is left and then report EOF. */
	read_reports(s);
	if (out_open)
		drain(s->out_fd, &o->stdout_buf, &o->stdout_len, &o->stdout_truncated, s->out_cap, s);
	if (err_open)
		drain(s->err_fd, &o->stderr_buf, &o->stderr_len, &o->stderr_truncated, s->err_cap, s);
	return 0;
}
