/*
 * The container's filesystem, as data. The parent builds an ordered list of mount operations
 * (every path and option string prepared in an arena); the child, inside its new mount and user
 * namespaces, only walks the list and makes syscalls.
 *
 *   <runs_root>        tmpfs (the run's disk limit), mounted over the host's directory in the
 *                      container's own namespace: every container uses the same directory, and
 *                      nothing is made on the host's filesystem (an ext4 mkdir + rmdir of three
 *                      run directories cost ~7 % of the service's throughput at saturation)
 *     upper, work      of the root overlay
 *     root             overlay: lowerdir = image layers (top first), upper on the tmpfs
 *   root/proc          a fresh, read-only procfs of the run's pid namespace, sensitive files masked,
 *                      and, with a proc view, the daemon's meminfo, cpuinfo, stat, … bound over it
 *   root/dev           the host's /dev template (null, zero, full, random, urandom, fd links),
 *                      read-only; a size-limited tmpfs on /dev/shm
 *   pivot_root into <runs_root>/root, old root detached.
 * The job volume is attached at /box later, at dispatch, from a detached mount (box.c), so a
 * container can be built before its job is known.
 */
#include "internal.h"
#include "rawsys.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *arena_printf(struct mount_plan *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static const char *arena_printf(struct mount_plan *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = sizeof p->arena - p->used;
	int n = vsnprintf(p->arena + p->used, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		p->overflow = 1;
		return "";
	}
	const char *s = p->arena + p->used;
	p->used += (size_t)n + 1;
	return s;
}

static void add(struct mount_plan *p, int kind, const char *src, const char *dst, const char *fstype,
		unsigned long flags, const char *data, unsigned mode)
{
	if (p->n == MAX_MOUNT_OPS) {
		p->overflow = 1;
		return;
	}
	p->ops[p->n++] = (struct mount_op){ kind, src, dst, fstype, flags, data, mode };
}

/* Files of /proc that leak host information or offer knobs; masked with /dev/null (files)
 * or an empty read-only tmpfs (directories), as runc and bubblewrap do. */
static const char *const proc_masked[] = {
	"kcore", "sysrq-trigger", "keys", "key-users", "timer_list", "sched_debug", "latency_stats",
	"kallsyms", "kmsg", "config.gz", "acpi", "scsi", "irq", "bus", "fs", "sysvipc", "driver", "tty",
};

#define NMASKED (sizeof proc_masked / sizeof *proc_masked)

/* What each masked entry is in the host's /proc (procfs has the same entries in every instance:
 * they are the kernel's), looked up once per process so that a container's init need not stat
 * each one in its fresh /proc before it binds over it (18 lookups per container). A hint only:
 * a bind of the wrong kind fails (ENOTDIR) and the init then looks for itself. */
enum mask_hint { HINT_UNKNOWN = 0, HINT_FILE = 1, HINT_DIR = 2 };
static unsigned char mask_hints[NMASKED];
static pthread_once_t mask_hints_once = PTHREAD_ONCE_INIT;

static void read_mask_hints(void)
{
	for (size_t i = 0; i < NMASKED; i++) {
		char path[64];
		struct stat st;
		snprintf(path, sizeof path, "/proc/%s", proc_masked[i]);
		if (lstat(path, &st) == 0)
			mask_hints[i] = S_ISDIR(st.st_mode) ? HINT_DIR : S_ISREG(st.st_mode) ? HINT_FILE : HINT_UNKNOWN;
	}
}

/* Files of /proc a proc-view daemon serves, bound from <proc_view_dir>/proc/<name> (lxcfs's layout);
 * worker/sandbox/proc-view.ts PROC_VIEW_FILES names the same. */
static const char *const proc_view_files[] = {
	"meminfo", "cpuinfo", "stat", "uptime", "loadavg", "swaps", "diskstats",
};

int mount_plan_build(struct mount_plan *p, const corral_spec *s, corral_error *e)
{
	memset(p, 0, sizeof *p);
	const unsigned long safe = MS_NOSUID | MS_NODEV;
	const char *scratch = arena_printf(p, "%s", s->runs_root);
	const char *root = arena_printf(p, "%s/root", scratch);

	/* Private first: the scratch mounted over the shared directory must never propagate. */
	add(p, MOP_PRIVATE, NULL, "/", NULL, 0, NULL, 0);
	add(p, MOP_MOUNT, "corral", scratch, "tmpfs", safe,
	    arena_printf(p, "size=%lld,mode=0755", (long long)s->disk_bytes), 0);
	static const char *const scratch_dirs[] = { "upper", "work", "root" };
	for (size_t i = 0; i < sizeof scratch_dirs / sizeof *scratch_dirs; i++)
		add(p, MOP_MKDIR, NULL, arena_printf(p, "%s/%s", scratch, scratch_dirs[i]), NULL, 0, NULL, 0755);
	add(p, MOP_MOUNT, "corral", root, "overlay", safe,
	    arena_printf(p, "userxattr,lowerdir=%s,upperdir=%s/upper,workdir=%s/work", s->lowerdirs,
			 scratch, scratch), 0);
	static const char *const dirs[] = { "proc", "dev", "box" };
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
		add(p, MOP_MKDIR, NULL, arena_printf(p, "%s/%s", root, dirs[i]), NULL, 0, NULL,
		    strcmp(dirs[i], "tmp") == 0 ? 01777 : 0755);

	const char *proc = arena_printf(p, "%s/proc", root);
	const char *empty = arena_printf(p, "%s", s->empty_dir);
	/* hidepid: the program sees only its own processes, not the init (whose cmdline is the worker's). */
	add(p, MOP_MOUNT, "proc", proc, "proc", safe | MS_NOEXEC | MS_RDONLY, "hidepid=invisible", 0);
	pthread_once(&mask_hints_once, read_mask_hints);
	for (size_t i = 0; i < NMASKED; i++)
		add(p, MOP_MASK, empty, arena_printf(p, "%s/%s", proc, proc_masked[i]), NULL, 0, NULL, mask_hints[i]);
	/* The proc view: files that describe the run's own cgroup limits instead of the host
	 * (docs/sandbox.md, "A truthful /proc"). The daemon's FUSE mount was copied into this mount
	 * namespace with the worker's; a dead daemon fails the bind (ENOTCONN): no run sees the host. */
	if (s->proc_view_dir)
		for (size_t i = 0; i < sizeof proc_view_files / sizeof *proc_view_files; i++)
			add(p, MOP_BIND, arena_printf(p, "%s/proc/%s", s->proc_view_dir, proc_view_files[i]),
			    arena_printf(p, "%s/%s", proc, proc_view_files[i]), NULL,
			    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0);

	/* /dev: the host's template, read-only — one bind instead of a tmpfs and a bind per node. */
	const char *dev = arena_printf(p, "%s/dev", root);
	add(p, MOP_BIND, arena_printf(p, "%s", s->dev_dir), dev, NULL, MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL, 0);
	add(p, MOP_MOUNT, "corral", arena_printf(p, "%s/shm", dev), "tmpfs", safe,
	    arena_printf(p, "size=%lld,mode=1777", (long long)s->shm_bytes), 0);

	add(p, MOP_PIVOT, NULL, root, NULL, 0, NULL, 0);
	if (p->overflow)
		return cerr_set(e, E2BIG, "mount plan: paths or options too long");
	return 0;
}

const char *mount_op_name(int kind)
{
	switch (kind) {
	case MOP_PRIVATE: return "make-private";
	case MOP_MOUNT: return "mount";
	case MOP_MKDIR: return "mkdir";
	case MOP_BIND: return "bind";
	case MOP_MKFILE: return "create";
	case MOP_SYMLINK: return "symlink";
	case MOP_MASK: return "mask";
	case MOP_PIVOT: return "pivot_root";
	}
	return "?";
}

/* ---- child side: raw syscalls only from here on (rawsys.h); 0 or -errno ---- */

static long do_bind(const char *src, const char *dst, unsigned long flags)
{
	long rc = rawsys(SYS_mount, src, dst, NULL, MS_BIND, NULL);
	if (rc < 0)
		return rc;
	return rawsys(SYS_mount, NULL, dst, NULL, MS_REMOUNT | MS_BIND | flags, NULL);
}

/* Files are hidden behind /dev/null, directories behind the host's empty directory (a bind
 * is cheaper than a new tmpfs superblock). The first masked directory gets the read-only,
 * nosuid, nodev, noexec remount; the others are binds of it, which carry its mount flags: one
 * mount call each instead of two. *masked_dir remembers it. */
static long mask_as(int is_dir, const char *empty, const char *dst, const char **masked_dir)
{
	if (!is_dir)
		return rawsys(SYS_mount, "/dev/null", dst, NULL, MS_BIND, NULL);
	if (*masked_dir)
		return rawsys(SYS_mount, *masked_dir, dst, NULL, MS_BIND, NULL);
	long rc = do_bind(empty, dst, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
	if (rc == 0)
		*masked_dir = dst;
	return rc;
}

/* With the host's hint the bind comes first. A bind of the wrong kind fails with ENOTDIR before
 * anything is mounted, and a missing entry (or source) with ENOENT: then the entry is looked at
 * as without a hint — absent is fine, anything else is bound by its kind or fails the build. */
static long do_mask(const char *empty, const char *dst, unsigned hint, const char **masked_dir)
{
	if (hint == HINT_FILE || hint == HINT_DIR) {
		long rc = mask_as(hint == HINT_DIR, empty, dst, masked_dir);
		if (rc == 0)
			return 0;
		if (rc != -ENOTDIR && rc != -ENOENT)
			return rc;
	}
	struct stat st;
	long rc = rawsys(SYS_newfstatat, AT_FDCWD, dst, &st, AT_SYMLINK_NOFOLLOW);
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	return mask_as(S_ISDIR(st.st_mode), empty, dst, masked_dir);
}

static long do_pivot(const char *root)
{
	long rc;
	if ((rc = rawsys(SYS_chdir, root)) < 0)
		return rc;
	/* pivot_root(".", "."): the old root ends up on top of the new one, then is detached. */
	if ((rc = rawsys(SYS_pivot_root, ".", ".")) < 0)
		return rc;
	if ((rc = rawsys(SYS_umount2, ".", MNT_DETACH)) < 0)
		return rc;
	return rawsys(SYS_chdir, "/");
}

static long do_mkfile(const char *dst, unsigned mode)
{
	long fd = rawsys(SYS_openat, AT_FDCWD, dst, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
	return fd < 0 ? fd : rawsys(SYS_close, fd);
}

long mount_plan_apply(const struct mount_plan *p, int *failed_op)
{
	const char *masked_dir = NULL;
	for (int i = 0; i < p->n; i++) {
		const struct mount_op *op = &p->ops[i];
		long rc = 0;
		switch (op->kind) {
		case MOP_PRIVATE:
			rc = rawsys(SYS_mount, NULL, op->dst, NULL, MS_REC | MS_PRIVATE, NULL);
			break;
		case MOP_MOUNT:
			rc = rawsys(SYS_mount, op->src, op->dst, op->fstype, op->flags, op->data);
			break;
		case MOP_MKDIR:
			rc = rawsys(SYS_mkdirat, AT_FDCWD, op->dst, op->mode);
			if (rc == -EEXIST)
				rc = 0;
			break;
		case MOP_MKFILE:
			rc = do_mkfile(op->dst, op->mode);
			break;
		case MOP_BIND:
			rc = do_bind(op->src, op->dst, op->flags);
			break;
		case MOP_SYMLINK:
			rc = rawsys(SYS_symlinkat, op->src, AT_FDCWD, op->dst);
			break;
		case MOP_MASK:
			rc = do_mask(op->src, op->dst, op->mode, &masked_dir);
			break;
		case MOP_PIVOT:
			rc = do_pivot(op->dst);
			break;
		}
		if (rc < 0) {
			*failed_op = i;
			return rc;
		}
	}
	return 0;
}
