/*
 * corral-procview — a FUSE filesystem whose proc/{meminfo,cpuinfo,stat,uptime,loadavg,swaps,
 * diskstats} describe the cgroup of the process that opens them, for binding over a container's
 * /proc (native/src/mount.c, spec.proc_view_dir; worker/sandbox/proc-view.ts runs it).
 *
 * Why not lxcfs (docs/sandbox.md, "A truthful /proc"): lxcfs answers with the cgroups of the
 * reader's pid-namespace init, and Corral's init is deliberately outside the run's cgroups. This
 * daemon answers with the *reader's* own cgroup (fuse_get_context()->pid, a host pid since the
 * daemon runs in the host's pid namespace):
 *   meminfo   MemTotal = the memory limit (the lowest on the cgroup's path; the host's when
 *             none), MemFree = limit - usage, cache/anon/shmem from memory.stat, no swap
 *   cpuinfo   as many processors as the reader may use: its affinity mask, capped by
 *             ceil(CFS quota / period); the host's blocks of those CPUs, renumbered from 0
 *   stat      that many cpuN lines; user/system from the cgroup's CPU accounting, idle the rest
 *             of (uptime × CPUs); the host's other lines (intr, ctxt, btime, processes, …)
 *   uptime    since the oldest process of the reader's cgroup started (the container's)
 *   loadavg   the cgroup's runnable tasks now, for all three averages (no history is kept)
 *   swaps     the header only; diskstats empty
 * Every content is made when the file is opened and served from that buffer (direct_io: no page
 * cache). A reader whose cgroup cannot be read gets EIO, never the host's
 * values. Readers are hostile: every buffer is bounded, every path comes from the kernel.
 *
 * Usage: corral-procview <mountpoint> [fuse options]; proc-view.ts passes -f -o allow_other.
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUT_MAX (256 * 1024) /* a cpuinfo of a large host fits */
#define PATH_LEN 4096

static const char *const files[] = { "meminfo", "cpuinfo", "stat", "uptime", "loadavg", "swaps", "diskstats" };
enum { F_MEMINFO, F_CPUINFO, F_STAT, F_UPTIME, F_LOADAVG, F_SWAPS, F_DISKSTATS, F_COUNT };

/* Where each hierarchy is mounted (found once at start). */
static struct {
	char memory[PATH_LEN], cpu[PATH_LEN], cpuacct[PATH_LEN], unified[PATH_LEN];
} mnt;
static long hz;

struct buf {
	size_t len;
	char data[OUT_MAX];
};

/* Content is made in a per-thread scratch buffer; an open file keeps only its bytes (a 256 KiB
 * allocation per open was an mmap, page faults and an munmap each time). */
static pthread_key_t scratch_key; /* its destructor frees an exiting thread's buffer */

static struct buf *scratch_buf(void)
{
	struct buf *b = pthread_getspecific(scratch_key);
	if (!b && (b = malloc(sizeof *b)) && pthread_setspecific(scratch_key, b) != 0) {
		free(b);
		b = NULL;
	}
	return b;
}

/* What an open file serves. */
struct content {
	size_t len;
	char data[];
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->data + b->len, sizeof b->data - b->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n < sizeof b->data - b->len ? (size_t)n : sizeof b->data - b->len - 1;
}

/* Reads a whole small file into out (NUL-terminated); returns its length or -1. */
static ssize_t slurp(const char *path, char *out, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	size_t len = 0;
	ssize_t n;
	while (len + 1 < cap && (n = read(fd, out + len, cap - 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		len += (size_t)n;
	}
	close(fd);
	out[len] = '\0';
	return (ssize_t)len;
}

static int read_i64(const char *path, int64_t *v)
{
	char s[64];
	if (slurp(path, s, sizeof s) <= 0)
		return -1;
	if (strncmp(s, "max", 3) == 0) {
		*v = INT64_MAX;
		return 0;
	}
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno || end == s)
		return -1;
	*v = x;
	return 0;
}

/* The value of "key value" in a flat-keyed file's text (memory.stat, cpu.stat), or 0. */
static int64_t keyed(const char *text, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
			return strtoll(p + kl + 1, NULL, 10);
	return 0;
}

/* The reader's cgroups: v1 paths per hierarchy, or the v2 path. */
struct cg {
	int v2;
	char memory[PATH_LEN], cpu[PATH_LEN], cpuacct[PATH_LEN], unified[PATH_LEN];
};

static int reader_cgroup(pid_t pid, struct cg *cg)
{
	char path[64], text[8192];
	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
	if (slurp(path, text, sizeof text) <= 0)
		return -1;
	memset(cg, 0, sizeof *cg);
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrls = c1 + 1, *p = c2 + 1;
		char list[256];
		snprintf(list, sizeof list, ",%s,", ctrls);
		struct { const char *name; char *dst; const char *root; } want[] = {
			{ ",memory,", cg->memory, mnt.memory }, { ",cpu,", cg->cpu, mnt.cpu },
			{ ",cpuacct,", cg->cpuacct, mnt.cpuacct },
		};
		for (size_t i = 0; i < sizeof want / sizeof *want; i++)
			if (*want[i].root && strstr(list, want[i].name))
				snprintf(want[i].dst, PATH_LEN, "%s%s", want[i].root, p);
		if (!*ctrls && *mnt.unified)
			snprintf(cg->unified, PATH_LEN, "%s%s", mnt.unified, p);
	}
	/* v1 when the memory hierarchy knows the reader, else v2. */
	if (*cg->memory)
		return 0;
	if (!*cg->unified)
		return -1;
	cg->v2 = 1;
	return 0;
}

static int64_t host_meminfo_kb(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	return p ? strtoll(p + strlen(key), NULL, 10) : 0;
}

static int make_meminfo(const struct cg *cg, struct buf *b)
{
	char host_l[16384], stat_l[16384], path[PATH_LEN + 64];
	if (slurp("/proc/meminfo", host_l, sizeof host_l) <= 0)
		return -EIO;
	int64_t limit = INT64_MAX, usage, v;
	int64_t anon, file, shmem, mapped, act_anon, inact_anon, act_file, inact_file;
	if (!cg->v2) {
		snprintf(path, sizeof path, "%s/memory.limit_in_bytes", cg->memory);
		if (read_i64(path, &limit) < 0)
			return -EIO;
		snprintf(path, sizeof path, "%s/memory.usage_in_bytes", cg->memory);
		if (read_i64(path, &usage) < 0)
			return -EIO;
		snprintf(path, sizeof path, "%s/memory.stat", cg->memory);
		if (slurp(path, stat_l, sizeof stat_l) <= 0)
			return -EIO;
		v = keyed(stat_l, "hierarchical_memory_limit");
		if (v > 0 && v < limit)
			limit = v;
		anon = keyed(stat_l, "total_rss"), file = keyed(stat_l, "total_cache");
		shmem = keyed(stat_l, "total_shmem"), mapped = keyed(stat_l, "total_mapped_file");
		act_anon = keyed(stat_l, "total_active_anon"), inact_anon = keyed(stat_l, "total_inactive_anon");
		act_file = keyed(stat_l, "total_active_file"), inact_file = keyed(stat_l, "total_inactive_file");
	} else {
		/* The lowest memory.max on the way up to the root. */
		char dir[PATH_LEN];
		snprintf(dir, sizeof dir, "%s", cg->unified);
		while (strlen(dir) > strlen(mnt.unified)) {
			snprintf(path, sizeof path, "%s/memory.max", dir);
			if (read_i64(path, &v) == 0 && v < limit)
				limit = v;
			*strrchr(dir, '/') = '\0';
		}
		/* The root cgroup (a host process: the worker's health check) has no memory.current. */
		snprintf(path, sizeof path, "%s/memory.current", cg->unified);
		if (read_i64(path, &usage) < 0)
			usage = (host_meminfo_kb(host_l, "MemTotal:") - host_meminfo_kb(host_l, "MemFree:")) * 1024;
		snprintf(path, sizeof path, "%s/memory.stat", cg->unified);
		if (slurp(path, stat_l, sizeof stat_l) <= 0)
			stat_l[0] = '\0';
		anon = keyed(stat_l, "anon"), file = keyed(stat_l, "file");
		shmem = keyed(stat_l, "shmem"), mapped = keyed(stat_l, "file_mapped");
		act_anon = keyed(stat_l, "active_anon"), inact_anon = keyed(stat_l, "inactive_anon");
		act_file = keyed(stat_l, "active_file"), inact_file = keyed(stat_l, "inactive_file");
	}
	int64_t total_kb = host_meminfo_kb(host_l, "MemTotal:");
	if (limit / 1024 < total_kb)
		total_kb = limit / 1024;
	int64_t used_kb = usage / 1024 < total_kb ? usage / 1024 : total_kb;
	int64_t free_kb = total_kb - used_kb;
	int64_t avail_kb = free_kb + (act_file + inact_file - shmem) / 1024;
	if (avail_kb > total_kb)
		avail_kb = total_kb;
	if (avail_kb < free_kb)
		avail_kb = free_kb;
	struct { const char *key; int64_t kb; } mine[] = {
		{ "MemTotal:", total_kb }, { "MemFree:", free_kb }, { "MemAvailable:", avail_kb },
		{ "Buffers:", 0 }, { "Cached:", (file - shmem > 0 ? file - shmem : 0) / 1024 }, { "SwapCached:", 0 },
		{ "Active:", (act_anon + act_file) / 1024 }, { "Inactive:", (inact_anon + inact_file) / 1024 },
		{ "Active(anon):", act_anon / 1024 }, { "Inactive(anon):", inact_anon / 1024 },
		{ "Active(file):", act_file / 1024 }, { "Inactive(file):", inact_file / 1024 },
		{ "SwapTotal:", 0 }, { "SwapFree:", 0 }, { "AnonPages:", anon / 1024 },
		{ "Mapped:", mapped / 1024 }, { "Shmem:", shmem / 1024 },
	};
	/* The host's lines in the host's order, ours replacing theirs. */
	char *save = NULL;
	for (char *line = strtok_r(host_l, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t i = 0;
		for (; i < sizeof mine / sizeof *mine; i++)
			if (strncmp(line, mine[i].key, strlen(mine[i].key)) == 0)
				break;
		if (i < sizeof mine / sizeof *mine)
			put(b, "%-16s%8" PRId64 " kB\n", mine[i].key, mine[i].kb);
		else
			put(b, "%s\n", line);
	}
	return 0;
}

/* The CPUs the reader may use: its affinity mask, at most ceil(quota/period) of them. */
static int reader_cpus(pid_t pid, const struct cg *cg, cpu_set_t *set)
{
	CPU_ZERO(set);
	if (sched_getaffinity(pid, sizeof *set, set) < 0)
		return -EIO;
	char path[PATH_LEN + 64], text[128];
	int64_t quota = -1, period = 100000;
	if (!cg->v2 && *cg->cpu) {
		snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", cg->cpu);
		read_i64(path, &quota);
		snprintf(path, sizeof path, "%s/cpu.cfs_period_us", cg->cpu);
		read_i64(path, &period);
	} else if (cg->v2) {
		snprintf(path, sizeof path, "%s/cpu.max", cg->unified);
		if (slurp(path, text, sizeof text) > 0 && strncmp(text, "max", 3) != 0)
			sscanf(text, "%" SCNd64 " %" SCNd64, &quota, &period);
	}
	int n = CPU_COUNT(set);
	if (quota > 0 && period > 0) {
		int64_t q = (quota + period - 1) / period;
		if (q < n)
			n = (int)(q < 1 ? 1 : q);
	}
	/* Keep the first n of the mask. */
	for (int cpu = 0, kept = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, set) && ++kept > n)
			CPU_CLR(cpu, set);
	return n;
}

static int make_cpuinfo(pid_t pid, const struct cg *cg, struct buf *b)
{
	cpu_set_t set;
	if (reader_cpus(pid, cg, &set) < 0)
		return -EIO;
	char *host = malloc(OUT_MAX);
	if (!host || slurp("/proc/cpuinfo", host, OUT_MAX) <= 0) {
		free(host);
		return -EIO;
	}
	/* Blocks are separated by a blank line; each starts with "processor\t: N". */
	int renumbered = 0;
	for (char *block = host; block && *block;) {
		char *next = strstr(block, "\n\n");
		if (next)
			*next = '\0';
		int cpu = -1;
		if (sscanf(block, "processor : %d", &cpu) == 1 || sscanf(block, "processor\t: %d", &cpu) == 1) {
			if (cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &set)) {
				char *rest = strchr(block, '\n');
				put(b, "processor\t: %d\n%s\n\n", renumbered++, rest ? rest + 1 : "");
			}
		}
		block = next ? next + 2 : NULL;
	}
	free(host);
	return 0;
}

/* Seconds since the oldest process of the reader's cgroup started (the container's start). */
static double cgroup_uptime(pid_t pid, const struct cg *cg)
{
	char path[PATH_LEN + 64], text[16384], line[1024];
	double host_up = 0;
	if (slurp("/proc/uptime", line, sizeof line) > 0)
		host_up = strtod(line, NULL);
	snprintf(path, sizeof path, "%s/cgroup.procs", cg->v2 ? cg->unified : cg->memory);
	long long oldest = -1;
	if (slurp(path, text, sizeof text) > 0) {
		char *save = NULL;
		for (char *p = strtok_r(text, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
			snprintf(path, sizeof path, "/proc/%s/stat", p);
			if (slurp(path, line, sizeof line) <= 0)
				continue;
			/* Field 22 (starttime), counted after the last ')' (comm may hold anything). */
			char *s = strrchr(line, ')');
			unsigned long long start;
			if (s && sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &start) == 1)
				if (oldest < 0 || (long long)start < oldest)
					oldest = (long long)start;
		}
	}
	(void)pid;
	if (oldest < 0)
		return 0;
	double up = host_up - (double)oldest / (double)hz;
	return up > 0 ? up : 0;
}

/* user and system CPU time of the cgroup, in USER_HZ ticks. */
static void cgroup_cpu_ticks(const struct cg *cg, int64_t *user, int64_t *sys)
{
	char path[PATH_LEN + 64], text[4096];
	*user = *sys = 0;
	if (!cg->v2) {
		snprintf(path, sizeof path, "%s/cpuacct.stat", *cg->cpuacct ? cg->cpuacct : cg->cpu);
		if (slurp(path, text, sizeof text) > 0)
			*user = keyed(text, "user"), *sys = keyed(text, "system");
	} else {
		snprintf(path, sizeof path, "%s/cpu.stat", cg->unified);
		if (slurp(path, text, sizeof text) > 0)
			*user = keyed(text, "user_usec") * hz / 1000000, *sys = keyed(text, "system_usec") * hz / 1000000;
	}
}

static int make_stat(pid_t pid, const struct cg *cg, struct buf *b)
{
	cpu_set_t set;
	int n = reader_cpus(pid, cg, &set);
	if (n < 1)
		return -EIO;
	int64_t user, sys;
	cgroup_cpu_ticks(cg, &user, &sys);
	int64_t idle = (int64_t)(cgroup_uptime(pid, cg) * (double)hz) * n - user - sys;
	if (idle < 0)
		idle = 0;
	put(b, "cpu  %" PRId64 " 0 %" PRId64 " %" PRId64 " 0 0 0 0 0 0\n", user, sys, idle);
	for (int i = 0; i < n; i++)
		put(b, "cpu%d %" PRId64 " 0 %" PRId64 " %" PRId64 " 0 0 0 0 0 0\n", i, user / n, sys / n, idle / n);
	char host[65536];
	if (slurp("/proc/stat", host, sizeof host) <= 0)
		return -EIO;
	char *save = NULL;
	for (char *line = strtok_r(host, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "cpu", 3) != 0)
			put(b, "%s\n", line);
	return 0;
}

static int make_loadavg(const struct cg *cg, struct buf *b)
{
	char path[PATH_LEN + 64], text[16384], line[1024];
	snprintf(path, sizeof path, "%s/tasks", cg->v2 ? "" : cg->memory);
	if (cg->v2)
		snprintf(path, sizeof path, "%s/cgroup.threads", cg->unified);
	int running = 0, total = 0;
	if (slurp(path, text, sizeof text) > 0) {
		char *save = NULL;
		for (char *p = strtok_r(text, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
			total++;
			snprintf(path, sizeof path, "/proc/%s/stat", p);
			char *s;
			if (slurp(path, line, sizeof line) > 0 && (s = strrchr(line, ')')) && s[1] == ' ' && s[2] == 'R')
				running++;
		}
	}
	put(b, "%d.00 %d.00 %d.00 %d/%d 0\n", running, running, running, running, total);
	return 0;
}

static int file_index(const char *path)
{
	if (strncmp(path, "/proc/", 6) != 0)
		return -1;
	for (int i = 0; i < F_COUNT; i++)
		if (strcmp(path + 6, files[i]) == 0)
			return i;
	return -1;
}

/* Makes file f's content for the process pid into b. */
static int generate(int f, pid_t pid, struct buf *b)
{
	struct cg cg;
	if (reader_cgroup(pid, &cg) < 0)
		return -EIO;
	b->len = 0;
	switch (f) {
	case F_MEMINFO: return make_meminfo(&cg, b);
	case F_CPUINFO: return make_cpuinfo(pid, &cg, b);
	case F_STAT: return make_stat(pid, &cg, b);
	case F_UPTIME: {
		double up = cgroup_uptime(pid, &cg);
		cpu_set_t set;
		int n = reader_cpus(pid, &cg, &set);
		int64_t user, sys;
		cgroup_cpu_ticks(&cg, &user, &sys);
		double idle = up * (n > 0 ? n : 1) - (double)(user + sys) / (double)hz;
		put(b, "%.2f %.2f\n", up, idle > 0 ? idle : 0);
		return 0;
	}
	case F_LOADAVG: return make_loadavg(&cg, b);
	case F_SWAPS: put(b, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"); return 0;
	case F_DISKSTATS: return 0;
	}
	return -ENOENT;
}

/* st_size is the caller's content length, made now: splice and sendfile (busybox cat) read a
 * FUSE file through the page cache up to i_size even with direct_io (fixed upstream by "fuse:
 * use copy_splice_read for FOPEN_DIRECT_IO"), so procfs's size 0 would read as empty there. */
static int pv_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	memset(st, 0, sizeof *st);
	if (strcmp(path, "/") == 0 || strcmp(path, "/proc") == 0) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	}
	int f = file_index(path);
	if (f < 0)
		return -ENOENT;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	struct buf *b = scratch_buf();
	if (b && generate(f, fuse_get_context()->pid, b) == 0)
		st->st_size = (off_t)b->len;
	return 0;
}

static int pv_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	if (strcmp(path, "/") == 0)
		fill(buf, "proc", NULL, 0, 0);
	else if (strcmp(path, "/proc") == 0)
		for (int i = 0; i < F_COUNT; i++)
			fill(buf, files[i], NULL, 0, 0);
	else
		return -ENOENT;
	return 0;
}

static int pv_open(const char *path, struct fuse_file_info *fi)
{
	int f = file_index(path);
	if (f < 0)
		return -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	struct buf *b = scratch_buf();
	if (!b)
		return -ENOMEM;
	int rc = generate(f, fuse_get_context()->pid, b);
	if (rc < 0)
		return rc;
	struct content *c = malloc(sizeof *c + b->len);
	if (!c)
		return -ENOMEM;
	c->len = b->len;
	memcpy(c->data, b->data, b->len);
	fi->fh = (uint64_t)(uintptr_t)c;
	fi->direct_io = 1;
	return 0;
}

static int pv_read(const char *path, char *out, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct content *c = (struct content *)(uintptr_t)fi->fh;
	if (!c || off < 0 || (size_t)off >= c->len)
		return 0;
	size_t n = c->len - (size_t)off < size ? c->len - (size_t)off : size;
	memcpy(out, c->data + off, n);
	return (int)n;
}

static int pv_release(const char *path, struct fuse_file_info *fi)
{
	free((void *)(uintptr_t)fi->fh);
	return 0;
}

static void *pv_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->direct_io = 1;
	/* Sizes differ by reader: never reuse one reader's attributes for another. Names never change. */
	cfg->attr_timeout = 0;
	cfg->entry_timeout = cfg->negative_timeout = 1.0;
	return NULL;
}

/* The cgroup hierarchies' mount points, from our mountinfo. */
static void find_mounts(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	char line[4096];
	while (fgets(line, sizeof line, f)) {
		char point[PATH_LEN], *sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1)
			continue;
		char type[64], source[256], opts[1024];
		if (sscanf(sep + 3, "%63s %255s %1023s", type, source, opts) != 3)
			continue;
		char list[1100];
		snprintf(list, sizeof list, ",%s,", opts);
		if (strcmp(type, "cgroup2") == 0 && !*mnt.unified)
			snprintf(mnt.unified, sizeof mnt.unified, "%s", point);
		if (strcmp(type, "cgroup") != 0)
			continue;
		if (strstr(list, ",memory,"))
			snprintf(mnt.memory, sizeof mnt.memory, "%s", point);
		if (strstr(list, ",cpu,"))
			snprintf(mnt.cpu, sizeof mnt.cpu, "%s", point);
		if (strstr(list, ",cpuacct,"))
			snprintf(mnt.cpuacct, sizeof mnt.cpuacct, "%s", point);
	}
	fclose(f);
}

static const struct fuse_operations ops = {
	.init = pv_init,
	.getattr = pv_getattr,
	.readdir = pv_readdir,
	.open = pv_open,
	.read = pv_read,
	.release = pv_release,
};

int main(int argc, char *argv[])
{
	hz = sysconf(_SC_CLK_TCK);
	if (pthread_key_create(&scratch_key, free) != 0)
		return 1;
	find_mounts();
	if (!*mnt.memory && !*mnt.unified) {
		fprintf(stderr, "corral-procview: no cgroup hierarchy found in /proc/self/mountinfo\n");
		return 1;
	}
	return fuse_main(argc, argv, &ops, NULL);
}
