/*
 * One fresh cgroup per run, on cgroup v1 (one directory per controller hierarchy) or v2 (one
 * directory). The parent creates it and writes the limits; the child joins it by writing "0"
 * to cgroup.procs fds opened here — the kernel checks the opener's credentials (since 5.16), so
 * the child can join after it has entered its user namespace.
 */
#include "internal.h"
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static int cg_open(const char *dir, const char *file, int flags)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	return open(path, flags | O_CLOEXEC);
}

static int cg_write(const char *dir, const char *file, const char *value, corral_error *e)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	return write_file_str(path, value, e);
}

static int cg_write_i64(const char *dir, const char *file, int64_t v, corral_error *e)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%lld", (long long)v);
	return cg_write(dir, file, buf, e);
}

/* A short cgroup file's text, without its trailing newline. */
static int read_file_str(const char *path, char *buf, size_t size, corral_error *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cerr_set(e, errno, "open %s", path);
	ssize_t n = read(fd, buf, size - 1);
	int saved = errno;
	close(fd);
	if (n < 0)
		return cerr_set(e, saved, "read %s", path);
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* Creates <parent>/<name>, remembers it for teardown; returns its index or -1. */
static int cg_add_dir(struct cgroup_run *cg, const char *parent, const char *name, corral_error *e)
{
	for (int i = 0; i < cg->ndirs; i++) {
		char existing[512];
		snprintf(existing, sizeof existing, "%s/%s", parent, name);
		if (strcmp(existing, cg->dirs[i]) == 0)
			return i; /* co-mounted controllers (cpu,cpuacct) share a directory */
	}
	if (cg->ndirs == CG_MAX_DIRS)
		return cerr_set(e, 0, "cgroup: too many hierarchies");
	int i = cg->ndirs;
	int n = snprintf(cg->dirs[i], sizeof cg->dirs[i], "%s/%s", parent, name);
	if (n < 0 || (size_t)n >= sizeof cg->dirs[i])
		return cerr_set(e, ENAMETOOLONG, "cgroup path %s/%s", parent, name);
	if (mkdir(cg->dirs[i], 0755) < 0)
		return cerr_set(e, errno, "cgroup: mkdir %s", cg->dirs[i]);
	cg->ndirs++;
	cg->procs_fd[i] = cg_open(cg->dirs[i], "cgroup.procs", O_WRONLY);
	if (cg->procs_fd[i] < 0)
		return cerr_set(e, errno, "cgroup: open %s/cgroup.procs", cg->dirs[i]);
	return i;
}

/* Whether the kernel has a cgroup file that only exists with swap accounting (v1
 * memory.memsw.limit_in_bytes, v2 memory.swap.max): the same for every run until a reboot, so it
 * is looked up once per process. 0: not yet, 1: there, 2: absent. */
static int swap_file_v1, swap_file_v2;

static int has_file_cached(int *cache, const char *dir, const char *file)
{
	int known = __atomic_load_n(cache, __ATOMIC_RELAXED);
	if (known)
		return known == 1;
	char path[600];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	known = access(path, F_OK) == 0 ? 1 : 2;
	__atomic_store_n(cache, known, __ATOMIC_RELAXED);
	return known == 1;
}

static int cg_create_v1(struct cgroup_run *cg, const corral_spec *s, corral_error *e)
{
	if (!s->cg_memory || !s->cg_cpu || !s->cg_cpuacct || !s->cg_pids)
		return cerr_set(e, 0, "cgroup v1: a memory, cpu, cpuacct and pids parent are all required");
	int mem = cg_add_dir(cg, s->cg_memory, s->name, e);
	if (mem < 0)
		return -1;
	/* memsw is only there with swap accounting; without it there is no swap to limit. The run's
	 * memory.swappiness is its parent's, copied at mkdir (the worker gives the parent 0:
	 * worker/sandbox/cgroups.ts), so it is not written per run. */
	cg->mem_dir = mem;
	cg->has_swap_file = has_file_cached(&swap_file_v1, cg->dirs[mem], "memory.memsw.limit_in_bytes");
	/* Read for the peak, written "0" to reset it at dispatch (cg_apply_limits). */
	cg->peak_fd = cg_open(cg->dirs[mem], "memory.max_usage_in_bytes", O_RDWR);
	cg->events_fd = cg_open(cg->dirs[mem], "memory.oom_control", O_RDONLY);
	if (cg->peak_fd < 0 || cg->events_fd < 0)
		return cerr_set(e, errno, "cgroup v1: open memory accounting in %s", cg->dirs[mem]);

	int cpu = cg_add_dir(cg, s->cg_cpu, s->name, e);
	if (cpu < 0)
		return -1;
	/* cpu.cfs_period_us is the kernel's default, 100000 µs, in a new cgroup (not inherited): the
	 * quota (cg_set_limits) is written per 100 ms without writing the period. */
	cg->cpu_dir = cpu;
	int acct = cg_add_dir(cg, s->cg_cpuacct, s->name, e);
	if (acct < 0)
		return -1;
	cg->cpu_fd = cg_open(cg->dirs[acct], "cpuacct.usage", O_RDONLY);
	if (cg->cpu_fd < 0)
		return cerr_set(e, errno, "cgroup v1: open %s/cpuacct.usage", cg->dirs[acct]);

	int pids = cg_add_dir(cg, s->cg_pids, s->name, e);
	if (pids < 0)
		return -1;
	cg->pids_dir = pids;
	/* A v1 cpuset starts with no CPUs and no memory nodes and refuses tasks; the parent's
	 * cgroup.clone_children (set by the host) makes mkdir copy the parent's, so only a placed
	 * run's cpuset.cpus is written (cg_set_limits). */
	if (s->cg_cpuset) {
		int cpus = cg_add_dir(cg, s->cg_cpuset, s->name, e);
		if (cpus < 0)
			return -1;
		cg->cpuset_dir = cpus;
	}
	return 0;
}

/*
 * v2: <parent>/<run>/ with two leaves. The program and its descendants live in `prog`, which
 * carries the limits and the accounting; the container's init lives in `init`, so that the OOM
 * killer of `prog` can never pick it (it shares the worker's memory). Both are entered at birth
 * with clone3(CLONE_INTO_CGROUP) — no attach, so no wait for the threadgroup rwsem. The init
 * creates the program after it has become root of its user namespace, so `prog` and the common
 * ancestor `<run>` are delegated to the container's root (their cgroup.procs chowned to id_base).
 */
static int cg_create_v2(struct cgroup_run *cg, const corral_spec *s, corral_error *e)
{
	if (!s->cg_unified)
		return cerr_set(e, 0, "cgroup v2: a parent directory is required");
	int run = cg_add_dir(cg, s->cg_unified, s->name, e);
	if (run < 0)
		return -1;
	if (cg_write(cg->dirs[run], "cgroup.subtree_control", s->cg_cpuset ? "+cpu +memory +pids +cpuset" : "+cpu +memory +pids", e) < 0)
		return -1;
	char parent[512];
	snprintf(parent, sizeof parent, "%s", cg->dirs[run]);
	int init = cg_add_dir(cg, parent, "init", e);
	int prog = init < 0 ? -1 : cg_add_dir(cg, parent, "prog", e);
	if (prog < 0)
		return -1;
	/* Only the program's leaf is ever written to ("0" when clone3 is unavailable). */
	close(cg->procs_fd[run]);
	close(cg->procs_fd[init]);
	cg->procs_fd[run] = cg->procs_fd[init] = -1;
	cg->prog_index = prog;
	const char *dir = cg->dirs[prog];
	char path[600];
	snprintf(path, sizeof path, "%s/cgroup.procs", cg->dirs[run]);
	if (chown(path, s->id_base, s->id_base) < 0)
		return cerr_set(e, errno, "cgroup v2: delegate %s", path);
	snprintf(path, sizeof path, "%s/cgroup.procs", dir);
	if (chown(path, s->id_base, s->id_base) < 0)
		return cerr_set(e, errno, "cgroup v2: delegate %s", path);
	cg->init_dirfd = open(cg->dirs[init], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cg->prog_dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->init_dirfd < 0 || cg->prog_dirfd < 0)
		return cerr_set(e, errno, "cgroup v2: open %s", dir);
	cg->mem_dir = cg->cpu_dir = cg->pids_dir = prog;
	if (s->cg_cpuset)
		cg->cpuset_dir = prog; /* an empty cpuset.cpus in v2 means the parent's */
	/* memory.swap.max is absent when the kernel has no swap accounting: nothing to disable. */
	cg->has_swap_file = has_file_cached(&swap_file_v2, dir, "memory.swap.max");
	if (cg->has_swap_file && cg_write(dir, "memory.swap.max", "0", e) < 0)
		return -1;
	cg->cpu_fd = cg_open(dir, "cpu.stat", O_RDONLY);
	cg->peak_fd = cg_open(dir, "memory.peak", O_RDONLY); /* Linux >= 5.19 */
	cg->events_fd = cg_open(dir, "memory.events", O_RDONLY);
	cg->kill_fd = cg_open(dir, "cgroup.kill", O_WRONLY); /* Linux >= 5.14 */
	if (cg->cpu_fd < 0 || cg->events_fd < 0)
		return cerr_set(e, errno, "cgroup v2: open accounting files in %s (are the cpu and memory controllers enabled in the parent's cgroup.subtree_control?)", dir);
	return 0;
}

static int v1_set_memory(const char *mem, int64_t bytes, int has_memsw, corral_error *e)
{
	if (!has_memsw)
		return cg_write_i64(mem, "memory.limit_in_bytes", bytes, e);
	/* memsw must stay >= the memory limit: lower the memory limit first, raise memsw first. */
	if (cg_write_i64(mem, "memory.limit_in_bytes", bytes, e) == 0)
		return cg_write_i64(mem, "memory.memsw.limit_in_bytes", bytes, e);
	if (cg_write_i64(mem, "memory.memsw.limit_in_bytes", bytes, e) < 0)
		return -1;
	return cg_write_i64(mem, "memory.limit_in_bytes", bytes, e);
}

/* A limit value for pids.max and the v2 files: "max" for none. */
static int cg_write_limit(const char *dir, const char *file, int64_t v, corral_error *e)
{
	return v < 0 ? cg_write(dir, file, "max", e) : cg_write_i64(dir, file, v, e);
}

/* Places the program on `cpus` ("" or NULL: all of the parent's). v2 takes "" for the parent's
 * (a lone newline: a write of no bytes never reaches the kernel's handler); a v1 cpuset cannot be
 * empty, so there the parent's list is copied. Changing it moves the affinity of every task in
 * the cgroup (a pooled container's program, already in it). */
static int cg_set_cpus(struct cgroup_run *cg, const char *cpus, corral_error *e)
{
	if (!cpus)
		cpus = "";
	if (cg->cpuset_dir < 0 || strcmp(cpus, cg->lim_cpus) == 0)
		return 0;
	if (strlen(cpus) >= sizeof cg->lim_cpus)
		return cerr_set(e, EINVAL, "cgroup: cpuset list too long");
	const char *dir = cg->dirs[cg->cpuset_dir];
	char parent_cpus[256];
	const char *value = *cpus ? cpus : "\n";
	if (!*cpus && cg->version == 1) {
		char path[600];
		snprintf(path, sizeof path, "%s/../cpuset.cpus", dir);
		if (read_file_str(path, parent_cpus, sizeof parent_cpus, e) < 0)
			return -1;
		value = parent_cpus;
	}
	if (cg_write(dir, "cpuset.cpus", value, e) < 0)
		return -1;
	snprintf(cg->lim_cpus, sizeof cg->lim_cpus, "%s", cpus);
	return 0;
}

/* Gives the cgroup the limits of `s` (none where a field is <= 0), writing only those that
 * differ from what it has. A container is built with its spec's limits (a pooled one with its
 * template's: the first job of that image), so a job with the same limits, the usual case, writes
 * none at dispatch: five cgroup writes cost ~30 µs back to back and ~100 µs after an idle moment
 * here. */
int cg_set_limits(struct cgroup_run *cg, const corral_spec *s, corral_error *e)
{
	const char *mem = cg->dirs[cg->mem_dir], *cpu = cg->dirs[cg->cpu_dir], *pids = cg->dirs[cg->pids_dir];
	int64_t memory = s->memory_bytes > 0 ? s->memory_bytes : -1;
	int64_t processes = s->processes > 0 ? s->processes : -1;
	int64_t quota = s->cpu_quota_us > 0 ? s->cpu_quota_us : -1;
	if (memory != cg->lim_memory) {
		int rc = cg->version == 1 ? v1_set_memory(mem, memory, cg->has_swap_file, e) : cg_write_limit(mem, "memory.max", memory, e);
		if (rc < 0)
			return -1;
		cg->lim_memory = memory;
	}
	if (processes != cg->lim_processes) {
		if (cg_write_limit(pids, "pids.max", processes, e) < 0)
			return -1;
		cg->lim_processes = processes;
	}
	if (quota != cg->lim_quota) {
		char v[64];
		if (cg->version == 1)
			snprintf(v, sizeof v, "%lld", (long long)quota);
		else if (quota > 0)
			snprintf(v, sizeof v, "%lld 100000", (long long)quota);
		else
			snprintf(v, sizeof v, "max 100000");
		if (cg_write(cpu, cg->version == 1 ? "cpu.cfs_quota_us" : "cpu.max", v, e) < 0)
			return -1;
		cg->lim_quota = quota;
	}
	return cg_set_cpus(cg, s->cpuset_cpus, e);
}

/* The job's limits, at dispatch (a pooled container's cgroup exists before its job). */
int cg_apply_limits(struct cgroup_run *cg, const corral_spec *s, corral_error *e)
{
	if (cg_set_limits(cg, s, e) < 0)
		return -1;
	/* v1: the peak so far is the container's setup, not the program's. */
	if (cg->version == 1 && cg->peak_fd >= 0 && pwrite(cg->peak_fd, "0", 1, 0) < 0) {
		/* best effort, as before: the peak then includes the setup */
	}
	return 0;
}

int cg_create(struct cgroup_run *cg, const corral_spec *spec, corral_error *e)
{
	memset(cg, 0, sizeof *cg);
	cg->version = spec->cgroup_version;
	cg->init_dirfd = cg->prog_dirfd = cg->prog_index = -1;
	for (int i = 0; i < CG_MAX_DIRS; i++)
		cg->procs_fd[i] = -1;
	cg->cpu_fd = cg->peak_fd = cg->events_fd = cg->kill_fd = -1;
	cg->lim_memory = cg->lim_processes = cg->lim_quota = -1;
	cg->cpuset_dir = -1;
	cg->lim_cpus[0] = 0;
	if (spec->cgroup_version == 1)
		return cg_create_v1(cg, spec, e);
	if (spec->cgroup_version == 2)
		return cg_create_v2(cg, spec, e);
	return cerr_set(e, 0, "cgroup: unknown version %d", spec->cgroup_version);
}

static ssize_t pread_all(int fd, char *buf, size_t len)
{
	if (fd < 0)
		return -1;
	ssize_t n = pread(fd, buf, len - 1, 0);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return n;
}

/* "key value" lines (cpu.stat, memory.events, memory.oom_control). */
static int64_t keyed_value(const char *text, const char *key)
{
	size_t klen = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
			return strtoll(p + klen + 1, NULL, 10);
	return -1;
}

int64_t cg_cpu_us(const struct cgroup_run *cg)
{
	char buf[1024];
	if (pread_all(cg->cpu_fd, buf, sizeof buf) < 0)
		return -1;
	if (cg->version == 1)
		return strtoll(buf, NULL, 10) / 1000;
	return keyed_value(buf, "usage_usec");
}

int64_t cg_peak_bytes(const struct cgroup_run *cg)
{
	char buf[64];
	if (pread_all(cg->peak_fd, buf, sizeof buf) < 0)
		return -1;
	return strtoll(buf, NULL, 10);
}

/* The run's memory use now (v1 memory.usage_in_bytes, v2 memory.current), or -1: read by path,
 * since it is only asked for now and then (a session's live usage), never on a run's own path. */
int64_t cg_current_bytes(const struct cgroup_run *cg)
{
	if (cg->mem_dir < 0 || cg->mem_dir >= cg->ndirs)
		return -1;
	int fd = cg_open(cg->dirs[cg->mem_dir], cg->version == 1 ? "memory.usage_in_bytes" : "memory.current", O_RDONLY);
	if (fd < 0)
		return -1;
	char buf[64];
	ssize_t n = pread_all(fd, buf, sizeof buf);
	close(fd);
	return n < 0 ? -1 : strtoll(buf, NULL, 10);
}

int cg_oom_kills(const struct cgroup_run *cg)
{
	char buf[512];
	if (pread_all(cg->events_fd, buf, sizeof buf) < 0)
		return 0;
	int64_t v = keyed_value(buf, "oom_kill");
	return v > 0 ? (int)v : 0;
}

/* True when /proc/<pid>/cgroup puts the process in the run's cgroup (named like the run's first
 * directory; the program's cgroup namespace does not change what the host reads there). */
static int in_run_cgroup(pid_t pid, const char *run_name)
{
	char path[64], text[4096];
	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = 0;
	size_t len = strlen(run_name);
	for (const char *p = strstr(text, run_name); p; p = strstr(p + 1, run_name))
		if (p > text && p[-1] == '/' && (p[len] == '/' || p[len] == '\n' || p[len] == 0))
			return 1;
	return 0;
}

/*
 * Signals the program and its descendants: every pid in the program's cgroup (v1: any hierarchy
 * holds them all; v2: the program's leaf; the init is in neither). Each pid is pinned with a
 * pidfd and then checked to still be one of the run's, so a pid that was reused by another
 * process between the read and the signal is never hit.
 */
int cg_signal_all(const struct cgroup_run *cg, int sig)
{
	if (cg->ndirs == 0)
		return -1;
	const char *run_name = strrchr(cg->dirs[0], '/');
	run_name = run_name ? run_name + 1 : cg->dirs[0];
	char path[600];
	snprintf(path, sizeof path, "%s/cgroup.procs", cg->dirs[cg->pids_dir]);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[16384];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof buf - 1)
			break; /* more processes than the pids limit allows: the first ones */
	}
	close(fd);
	buf[len] = 0;
	int count = 0;
	for (char *p = buf; *p;) {
		char *end;
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		p = end;
		while (*p == '\n')
			p++;
		if (pid <= 0)
			continue;
		int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
		if (pidfd < 0)
			continue; /* already gone */
		if (in_run_cgroup((pid_t)pid, run_name) && syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0)
			count++;
		close(pidfd);
	}
	return count;
}

/* Last resort at teardown: normally the pid namespace is gone with its init. */
void cg_kill_all(const struct cgroup_run *cg)
{
	if (cg->kill_fd >= 0 && pwrite(cg->kill_fd, "1", 1, 0) == 1)
		return;
	cg_signal_all(cg, SIGKILL);
}

int cg_destroy(struct cgroup_run *cg, corral_error *e)
{
	int rc = 0;
	int fds[] = { cg->cpu_fd, cg->peak_fd, cg->events_fd, cg->kill_fd, cg->init_dirfd, cg->prog_dirfd };
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	cg->cpu_fd = cg->peak_fd = cg->events_fd = cg->kill_fd = cg->init_dirfd = cg->prog_dirfd = -1;
	for (int i = cg->ndirs - 1; i >= 0; i--) {
		if (cg->procs_fd[i] >= 0)
			close(cg->procs_fd[i]);
		cg->procs_fd[i] = -1;
		/* A cgroup whose last task just exited can report EBUSY for a moment (v1). */
		int tries = 0;
		while (rmdir(cg->dirs[i]) < 0) {
			if (errno == ENOENT)
				break;
			if (errno != EBUSY || ++tries > 200) {
				if (rc == 0)
					rc = cerr_set(e, errno, "cgroup: rmdir %s", cg->dirs[i]);
				break;
			}
			if (tries == 20)
				cg_kill_all(cg);
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	cg->ndirs = 0;
	return rc;
}
