/*
 * libcorral — the Corral container launcher.
 *
 * One call, corral_run(), builds a fresh container, runs one program in it, supervises it and
 * tears everything down again. It is loaded into the Node.js worker with koffi and called on a
 * libuv thread-pool thread, so it must never exit, print, or touch global state unsafely:
 * every function returns < 0 and fills an error message instead.
 *
 * The structs below are mirrored field by field in worker/sandbox/native.ts; change both together
 * and bump CORRAL_ABI_VERSION.
 */
#ifndef CORRAL_H
#define CORRAL_H

#include <stddef.h>
#include <stdint.h>

#define CORRAL_ABI_VERSION 11

/* The library's public functions; everything else in libcorral.so is hidden (-fvisibility=hidden). */
#if defined(__GNUC__)
#define CORRAL_API __attribute__((visibility("default")))
#else
#define CORRAL_API
#endif

enum corral_status {
	CORRAL_OK = 0,
	CORRAL_RUNTIME_ERROR = 1,
	CORRAL_TIME_LIMIT = 2,
	CORRAL_MEMORY_LIMIT = 3,
	CORRAL_OUTPUT_LIMIT = 4,
	CORRAL_INTERNAL_ERROR = 5,
	CORRAL_CANCELLED = 6,
};

enum corral_limit {
	CORRAL_LIMIT_NONE = 0,
	CORRAL_LIMIT_CPU = 1,
	CORRAL_LIMIT_WALL = 2,
	CORRAL_LIMIT_MEMORY = 3,
	CORRAL_LIMIT_OUTPUT = 4,
};

/* Why the sandbox itself failed (never the program: a program that fails is an outcome). Stable
 * numbers, mirrored in worker/sandbox/errors.ts; callers switch on them, never on the message. */
enum corral_error_code {
	CORRAL_E_NONE = 0,
	CORRAL_E_SPEC = 1,      /* the spec or job is invalid: the same call always fails */
	CORRAL_E_HOST = 2,      /* a host resource or call failed (memory, descriptors, processes) */
	CORRAL_E_CGROUP = 3,    /* creating, limiting, joining or removing the run's cgroup */
	CORRAL_E_CONTAINER = 4, /* a step of building the container (namespaces, ids, mounts, hardening) */
	CORRAL_E_TIMEOUT = 5,   /* the container was not built within CORRAL_SETUP_TIMEOUT_S */
	CORRAL_E_USED = 6,      /* the container was already given its one job (or is held, or was not) */
	CORRAL_E_FILE = 7,      /* a file or volume operation on the host failed */
	CORRAL_E_NOT_FOUND = 8, /* the file is absent, not a regular file, or behind a symlink */
};

/* Seconds from a container's release until its program must have reached execve. */
#define CORRAL_SETUP_TIMEOUT_S 10

/* An error as the library reports it: a code, the errno of the call that failed, the step it
 * failed in ("cgroup", "mount-plan", "setresuid"…), the operation within the step where there
 * are several ("mount", "bind", "pivot_root"… of the mount plan), and a message for people. The
 * library never prints; context is added on the way up. */
typedef struct corral_error {
	int32_t code;             /* enum corral_error_code */
	int32_t errnum;           /* errno, 0 if none */
	char step[32];
	char op[32];
	char message[512];
} corral_error;

typedef struct corral_spec {
	/* An existing host directory the container mounts its scratch tmpfs over, in its own mount
	 * namespace (so nothing is created on the host's filesystem per run; every container uses
	 * the same directory); and the run's name, which names its cgroup, tagged by the caller so a
	 * sweep can find leftovers. */
	const char *runs_root;
	const char *name;

	/* Image: overlay lowerdir string, top layer first, ':'-separated (validated by the caller). */
	const char *lowerdirs;
	/* Job volume mounted at /box: a host directory; with box_lowerdirs, the writable upper of an
	 * overlay whose workdir is box_workdir (same filesystem as box_dir). NULL: no /box volume. */
	const char *box_dir;
	const char *box_lowerdirs;
	const char *box_workdir;

	const char *const *argv;       /* NULL-terminated */
	const char *const *envp;       /* NULL-terminated, the whole environment */
	const char *const *exec_paths; /* NULL-terminated candidates for argv[0], tried in order */
	const char *cwd;
	const char *hostname;
	/* Prepared once on the host: a /dev template (device nodes, fd links, shm mount point),
	 * bound read-only as the container's /dev, and an empty directory that hides /proc dirs. */
	const char *dev_dir;
	const char *empty_dir;
	const char *stdin_path;        /* NULL: stdin_data, or /dev/null when that is empty */
	const uint8_t *stdin_data;     /* bytes fed to the program (through a sealed memfd) */
	int64_t stdin_len;
	int32_t merge_stderr;          /* stderr goes to the stdout pipe */
	/* Streaming: descriptors the caller made (corral_pipe) that the program gets as its fd 0, 1
	 * and 2, sent to the container with the job. A streamed stdin replaces stdin_path/stdin_data;
	 * a streamed stdout or stderr is not captured (its buffer stays empty, output_bytes does not
	 * apply: the caller reads the pipe and enforces its own cap, stopping the run with
	 * corral_stop). -1: not streamed. corral_dispatch() and corral_run() own these descriptors:
	 * they close them, whatever happens, so the caller must not. */
	int32_t stdin_fd;
	int32_t stdout_fd;
	int32_t stderr_fd;

	/* Host ids: container uid/gid 0..65535 map onto host [id_base, id_base + 65536). The program
	 * runs as sandbox_uid/sandbox_gid inside. */
	uint32_t id_base;
	uint32_t sandbox_uid;
	uint32_t sandbox_gid;

	/* Cgroups: version 1 or 2. v1: parent directories in each controller hierarchy (cpu and
	 * cpuacct may be the same directory when co-mounted). v2: the parent directory. */
	int32_t cgroup_version;
	const char *cg_memory;
	const char *cg_cpu;
	const char *cg_cpuacct;
	const char *cg_pids;
	const char *cg_unified;

	/* Limits. 0 means "none" only where noted. */
	int64_t cpu_ms;
	int64_t wall_ms;
	int64_t memory_bytes;
	int64_t processes;
	int64_t output_bytes;     /* per stream */
	int64_t disk_bytes;       /* tmpfs size of the writable root layer */
	int64_t shm_bytes;        /* /dev/shm tmpfs size */
	int64_t fsize_bytes;      /* RLIMIT_FSIZE */
	int64_t nofile;           /* RLIMIT_NOFILE */
	int64_t stack_bytes;      /* RLIMIT_STACK, 0 = unlimited */
	int64_t cpu_quota_us;     /* per 100 ms period; 0 = no bandwidth limit */
	int32_t use_time_ns;      /* unshare a time namespace (kernel >= 5.6) */

	/* A truthful /proc: the mount point of a proc-view daemon (lxcfs-style) whose proc/<file>
	 * (meminfo, cpuinfo, stat, uptime, loadavg, swaps, diskstats) are bound read-only over the
	 * container's /proc/<file> (mount.c). NULL: none, the container's /proc is the kernel's. */
	const char *proc_view_dir;

	/* CPU placement (cgroup.c): the CPUs the program may run on, as a cpuset list ("1", "0-1",
	 * "0,2"), written to the run's cpuset.cpus, so its affinity mask (nproc, sched_getaffinity)
	 * says what it gets. cg_cpuset: v1 the parent directory in the cpuset hierarchy (its
	 * cgroup.clone_children set, so a run's directory starts with the parent's CPUs and memory
	 * nodes); v2 the same as cg_unified, asking for the cpuset controller in the run's subtree.
	 * NULL: no cpuset at all (the worker's CPUs). cpuset_cpus NULL or "": all of the parent's. A
	 * pooled container gets its job's list at dispatch (the kernel moves its tasks' affinity). */
	const char *cg_cpuset;
	const char *cpuset_cpus;
} corral_spec;

typedef struct corral_outcome {
	int32_t status;           /* enum corral_status */
	int32_t limit;            /* enum corral_limit */
	int32_t exited;           /* 1: exit_code is valid */
	int32_t exit_code;
	int32_t signal;           /* killing signal number, 0 if none */
	int32_t stdout_truncated;
	int32_t stderr_truncated;
	int32_t oom_kills;
	int64_t cpu_us;
	int64_t wall_us;
	int64_t memory_peak_bytes;
	void *stdout_buf;         /* malloc'ed; release with corral_free() */
	int64_t stdout_len;
	void *stderr_buf;
	int64_t stderr_len;
	int64_t t_cgroup_us;
	int64_t t_namespaces_us;
	int64_t t_mounts_us;
	int64_t t_exec_us;
	int64_t t_teardown_us;
	int64_t t_total_us;
	corral_error error;       /* for CORRAL_INTERNAL_ERROR: what failed; for an execve failure
				   * (CORRAL_RUNTIME_ERROR, exit 127): why the program could not start */
} corral_outcome;

CORRAL_API int corral_abi_version(void);

/* Runs one program in a fresh container. Returns 0 when an outcome was produced (the program
 * itself may have failed; see out->status), < 0 when the sandbox could not even be set up
 * (out->status is CORRAL_INTERNAL_ERROR and out->error says what failed and where). */
CORRAL_API int corral_run(const corral_spec *spec, corral_outcome *out);

CORRAL_API void corral_free(void *p);

/* The same run in three steps, for a warm pool: build a container ahead of need (everything but
 * the job: namespaces, cgroup with the program's process already in it, overlay root, /proc,
 * /dev), give it exactly one job, then remove it. corral_run() is the three in a row.
 * prepare reads the container fields of spec (image, hostname, cgroups, disk); dispatch the job
 * fields (argv, env, cwd, stdin, box, limits). */
typedef struct corral_container corral_container;
CORRAL_API int corral_prepare(const corral_spec *spec, int32_t wait_until_ready, corral_container **out,
			      corral_error *err);
CORRAL_API int corral_dispatch(corral_container *c, const corral_spec *spec, corral_outcome *out);
CORRAL_API void corral_discard(corral_container *c);
/* Stops a dispatched run from another thread (the run's outcome says cancelled). Call only
 * between corral_dispatch's start and corral_discard. */
CORRAL_API void corral_cancel(corral_container *c);
/* The same stop for a limit the caller enforces (enum corral_limit, e.g. CORRAL_LIMIT_OUTPUT for
 * a streamed output cap): the outcome then reports that limit instead of cancelled. */
CORRAL_API void corral_stop(corral_container *c, int32_t limit);
/* Sends sig to every process of a dispatched run (the program and its descendants, found in the
 * run's cgroup; never the container's init). Returns how many were signalled, or -1. Same
 * window as corral_cancel. */
CORRAL_API int corral_signal(corral_container *c, int32_t sig);
/* A dispatched run's use so far, read from its cgroup: memory now and at its peak (bytes), CPU
 * time (µs); each -1 when unknown (v2 before Linux 5.19 has no memory.peak). Same window as
 * corral_signal. */
CORRAL_API int corral_usage(corral_container *c, int64_t *memory_bytes, int64_t *memory_peak_bytes, int64_t *cpu_us);

/* A held container: any number of programs, one after another, in the same namespaces, mounts,
 * /box and cgroup tree, each a new process the container's init spawns once the previous program
 * and everything it started are gone (killed and reaped). A prepared container becomes held with
 * its first corral_dispatch_held (it then refuses corral_dispatch, and a dispatched one refuses
 * this). `program` numbers the programs, increasing from 1 (a number that does not increase is a
 * CORRAL_E_SPEC error). Each program has its own outcome — its exit, signal, limits, CPU time,
 * memory peak (v2: a cgroup leaf of its own), wall time and output — and a limit or a stop kills
 * the program, never the container. /box (spec.box_*) is attached by the first program that
 * reaches execve and stays; the writable root, /dev/shm and the IPC namespace carry over. When the
 * container itself ended (a setup timeout, a failed supervision), every later call returns
 * CORRAL_INTERNAL_ERROR with CORRAL_E_CONTAINER, step "held". corral_discard ends it. Not to be
 * called twice at once on one container; corral_signal refuses a held container. */
CORRAL_API int corral_dispatch_held(corral_container *c, int64_t program, const corral_spec *spec, corral_outcome *out);
/* Stops held program `program` from another thread (enum corral_limit; NONE: cancelled): at once
 * when it runs, before it starts when its dispatch has not begun, never another program. Call
 * only before corral_discard. */
CORRAL_API void corral_stop_held(corral_container *c, int64_t program, int32_t limit);

/* A pipe for streaming (spec.stdin_fd / stdout_fd / stderr_fd): fds[0] reads, fds[1] writes,
 * both close-on-exec and blocking (the caller may make its own end non-blocking). */
CORRAL_API int corral_pipe(int32_t fds[2], corral_error *err);

/* The recorded exchange of two connected programs (relay.c): a thread of the library passes
 * fds[0] → fds[1] (the first program's stdout pipe to the second's stdin pipe) and fds[2] →
 * fds[3] (back), with a plain pipe's backpressure, EOF and EPIPE, recording what passes up to
 * budget_bytes (each entry — a run of one side's bytes — costs entry_cost_bytes more). The relay
 * owns the four descriptors from the call on (closed even when it fails). finish waits up to
 * grace_ms for both directions to end by themselves (both writers gone), then stops them; it
 * returns 1 when it had to stop one (blocking: call it on the thread pool). abort stops both at
 * once from any thread. The transcript is read after finish: its size (bytes; entries; whether it
 * was truncated), then the bytes and, per entry, {side 0|1, length}. free stops and joins what
 * still runs. */
typedef struct corral_relay corral_relay;
CORRAL_API int corral_relay_start(const int32_t fds[4], int64_t budget_bytes, int64_t entry_cost_bytes,
				  corral_relay **out, corral_error *err);
CORRAL_API int corral_relay_finish(corral_relay *r, int64_t grace_ms);
CORRAL_API void corral_relay_abort(corral_relay *r);
CORRAL_API int64_t corral_relay_transcript_size(corral_relay *r, int64_t *entries, int32_t *truncated);
CORRAL_API void corral_relay_transcript(corral_relay *r, uint8_t *data, int32_t *entries);
CORRAL_API void corral_relay_free(corral_relay *r);

/* Job volumes, each one call on the thread pool (a pool hop costs more than the small steps):
 * create makes the directory dir, mounts a size-limited tmpfs (nosuid, nodev; root-owned, 0755)
 * on it and makes box/ (0755, box_uid:box_gid) and work/ (0700, work_uid:work_gid) in it, or
 * leaves nothing; destroy unmounts it (detached, never through a symlink) and removes dir;
 * umount only unmounts (the start-up sweep's). */
CORRAL_API int corral_volume_create(const char *dir, int64_t size_bytes, uint32_t box_uid, uint32_t box_gid,
				    uint32_t work_uid, uint32_t work_gid, corral_error *err);
CORRAL_API int corral_volume_destroy(const char *dir, corral_error *err);
CORRAL_API int corral_volume_umount(const char *dir, corral_error *err);

/* Files in a directory a sandbox could write to, never following a symlink anywhere on the
 * path (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) and never opening
 * anything but a regular file. */
CORRAL_API int corral_write_beneath(const char *root, const char *rel, const uint8_t *data, int64_t len,
				    uint32_t mode, uint32_t uid, uint32_t gid, corral_error *err);
/* Reads at most max bytes into buf; *size gets the file's full size. Returns bytes read, or -1
 * with err->code CORRAL_E_NOT_FOUND when the path does not exist, is not a regular file or is
 * behind a symlink, CORRAL_E_FILE on another error. */
CORRAL_API int64_t corral_read_beneath(const char *root, const char *rel, uint8_t *buf, int64_t max,
				       int64_t *size, corral_error *err);

/* Benchmark floor: CLONE_VM spawn + execve + wait, no isolation. Returns the wait status. */
CORRAL_API int corral_bare_spawn(const char *path, const char *argv0);

/* 1 when a container may have a time namespace of its own (use_time_ns): the kernel lets a task
 * that unshared one spawn with CLONE_VM (Linux 6.3 and later; 5.6 to 6.2 refuse it). Probed
 * once in a throw-away process, then cached (timens.c). */
CORRAL_API int corral_time_namespace_usable(void);

#endif
