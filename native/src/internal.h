/* Shared between the launcher's modules; not part of the library's ABI. */
#ifndef CORRAL_INTERNAL_H
#define CORRAL_INTERNAL_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/filter.h>
#include "../include/corral.h"

/* ---- errors (error.c): the parent side fills a corral_error, never prints ----
 * Lower layers say what failed (errno and message: cerr_set); the orchestrating caller adds where
 * and what kind (code and step: cerr_where), in the manner of crun's returned errors. */
int cerr_set(corral_error *e, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sets the code and step of an error whose message is already set, unless they are set already
 * (the innermost context wins); returns -1. */
int cerr_where(corral_error *e, int code, const char *step);
void cerr_copy(corral_error *to, const corral_error *from);
int64_t now_us(void);
int write_file_str(const char *path, const char *value, corral_error *e);

/* From a container's release until its program reaches execve (supervise.c, launcher.c). */
#define SETUP_TIMEOUT_US ((int64_t)CORRAL_SETUP_TIMEOUT_S * 1000000)

/* ---- child → parent reports over a CLOEXEC pipe (child.c) ---- */
enum report_kind { REP_FAIL = 1, REP_READY = 2, REP_EXECING = 3, REP_EXIT = 4 };

enum step {
	STEP_SIGNALS = 1, STEP_FDS, STEP_SYNC, STEP_SETID, STEP_HOSTNAME, STEP_LOOPBACK,
	STEP_TIMENS, STEP_SPAWN, STEP_SETSID, STEP_CG_ATTACH, STEP_CGROUPNS, STEP_RLIMIT,
	STEP_CHDIR, STEP_GROUPS, STEP_SETGID, STEP_CAPBSET, STEP_SETUID, STEP_CAPS,
	STEP_NO_NEW_PRIVS, STEP_SECCOMP, STEP_EXEC, STEP_PIVOT, STEP_DISPATCH, STEP_BOX, STEP_STDIO,
	STEP_MOUNT_BASE = 100, /* + index of the mount op */
};

struct report {
	int32_t kind;
	int32_t step;
	int32_t err;
	int32_t value;
	int64_t t_us;
};

/* A step's name as errors report it ("sethostname", "mount-plan"…). */
const char *step_name(int step);

/* ---- mount plan (mount.c): data built in the parent, executed by the child ---- */
enum mount_op_kind {
	MOP_PRIVATE,   /* make every mount private, recursively */
	MOP_MOUNT,     /* mount(src, dst, fstype, flags, data) */
	MOP_MKDIR,     /* mkdir(dst, mode), EEXIST is fine */
	MOP_BIND,      /* bind src on dst, then remount with flags */
	MOP_MKFILE,    /* create an empty file dst (a bind target) */
	MOP_SYMLINK,   /* symlink(src, dst) */
	MOP_MASK,      /* bind /dev/null (a file) or src (a directory) over dst if it exists (proc
		        * masking); mode: what the host says dst is (mount.c, enum mask_hint) */
	MOP_PIVOT,     /* pivot_root into dst and detach the old root */
};

struct mount_op {
	int kind;
	const char *src;
	const char *dst;
	const char *fstype;
	unsigned long flags;
	const char *data;
	unsigned mode;
};

#define MAX_MOUNT_OPS 64

struct mount_plan {
	struct mount_op ops[MAX_MOUNT_OPS];
	int n;
	char arena[16384]; /* every path and option string of the plan */
	size_t used;
	int overflow;
};

int mount_plan_build(struct mount_plan *plan, const corral_spec *spec, corral_error *e);
/* Child side: returns 0, or -errno with *failed_op set. */
long mount_plan_apply(const struct mount_plan *plan, int *failed_op);
const char *mount_op_name(int kind);

/* ---- cgroups (cgroup.c) ---- */
#define CG_MAX_DIRS 5 /* v1: memory, cpu, cpuacct, pids, cpuset */

struct cgroup_run {
	int version;
	int ndirs;
	char dirs[CG_MAX_DIRS][512]; /* created directories, removed at teardown */
	int procs_fd[CG_MAX_DIRS];   /* cgroup.procs of each, written by the child ("0") */
	int cpu_fd;                  /* cpuacct.usage (v1, ns) or cpu.stat (v2) */
	int peak_fd;                 /* memory.max_usage_in_bytes (v1) or memory.peak (v2) */
	int events_fd;               /* memory.oom_control (v1) or memory.events (v2) */
	int kill_fd;                 /* cgroup.kill (v2, when present) */
	int mem_dir, cpu_dir, pids_dir; /* indexes into dirs */
	int has_swap_file;           /* memory.memsw.limit_in_bytes (v1) / memory.swap.max (v2) */
	int init_dirfd, prog_dirfd;  /* v2: the init's and the program's leaves, for CLONE_INTO_CGROUP */
	int prog_index;              /* v2: index of the program's leaf in dirs */
	/* The limits the cgroup has now, -1 for none (as created): a write is made only to change one. */
	int64_t lim_memory, lim_processes, lim_quota;
	int cpuset_dir;              /* index of the directory whose cpuset.cpus places the program; -1: none */
	char lim_cpus[256];          /* its cpuset.cpus as last written; "": the parent's (as created) */
};

int cg_create(struct cgroup_run *cg, const corral_spec *spec, corral_error *e);
int cg_set_limits(struct cgroup_run *cg, const corral_spec *spec, corral_error *e);
int cg_apply_limits(struct cgroup_run *cg, const corral_spec *spec, corral_error *e);
int64_t cg_cpu_us(const struct cgroup_run *cg);
int64_t cg_peak_bytes(const struct cgroup_run *cg);
int64_t cg_current_bytes(const struct cgroup_run *cg);
int cg_oom_kills(const struct cgroup_run *cg);
void cg_kill_all(const struct cgroup_run *cg);
/* Sends sig to every process of the program's cgroup; returns how many, or -1. */
int cg_signal_all(const struct cgroup_run *cg, int sig);
int cg_destroy(struct cgroup_run *cg, corral_error *e);

/* ---- clone3 with a new stack (clone3.c): returns the pid, or -errno (never touches errno: the
 * init calls it); the child runs fn(arg) and exits with its return value. -ENOSYS where no
 * trampoline exists for the arch. ---- */
struct clone_args;
long corral_clone3_raw(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);

/* ---- user namespace (userns.c) ---- */
int userns_write_maps(pid_t pid, uint32_t id_base, corral_error *e);

/* ---- hardening (seccomp.c, caps.c) ---- */
const struct sock_fprog *seccomp_program(void);
int caps_last_cap(void);
/* Child side: the bounding and ambient sets are emptied while the container is built; once the
 * job is known, rlimits, then the drop to the sandbox ids with no capabilities. All return 0 or
 * -errno (raw syscalls, see rawsys.h). */
long rlimits_apply(const corral_spec *spec);
long caps_drop_bounding(int last_cap);
long caps_drop_to(uint32_t uid, uint32_t gid, int *step);

/* ---- the job volume at /box (box.c): a detached mount made by the parent ---- */
int box_mount_fd(const corral_spec *spec, corral_error *e);

/* ---- network (net.c): child side, 0 or -errno ---- */
long net_loopback_up(void);

/* ---- supervision (supervise.c) ---- */
struct supervision {
	int pidfd;
	int out_fd, err_fd, report_fd; /* out_fd/err_fd -1: streamed by the caller, not read */
	const corral_spec *spec;
	const struct cgroup_run *cg;
	corral_outcome *out;
	/* filled in */
	struct report fail;      /* first REP_FAIL, kind == 0 if none */
	int got_exit;
	int exit_status;         /* wait status of the main program */
	int64_t t_go_us, t_ready_us, t_exec_us, t_exit_us, t_end_us;
	int killed_for;          /* enum corral_limit, or -1 for a setup timeout */
	char stall[200];         /* with a setup timeout: how far the container got, where it waited */
	int init_reaped;         /* the init has been waited for (else discard does it) */
	size_t out_cap, err_cap;
	/* A held container's program (launcher.c): a limit or a stop kills the program's cgroup, not
	 * the init; CPU time counts from cpu_base_us; a stop for `program` is read from *stop_word
	 * ((program << 8) | (limit + 1)), and wake_fd (an eventfd, or -1) is written when one comes. */
	int held;
	int64_t program;
	const int64_t *stop_word;
	int wake_fd;
	int64_t cpu_base_us;
	int stopping;            /* a stop came: the program's cgroup is killed until the program is gone */
	int64_t t_killed_us;
};

int supervise(struct supervision *s, corral_error *e);
/* How far a container that ran into the setup timeout got, and where its init sleeps. */
void describe_setup_stall(int pidfd, int built, char *buf, size_t len);

#endif
