/* A container as the launcher's modules share it; not part of the library's ABI.
 * launcher.c builds and drives it, child.c is the code its processes run, wire.c carries the job
 * (and a held container's next program) to it, outcome.c says how its run ended, held.c keeps a
 * held container's programs apart. */
#ifndef CORRAL_CONTAINER_H
#define CORRAL_CONTAINER_H

#include "internal.h"

#define STACK_SIZE (256 * 1024)

/* Fixed descriptor numbers inside the container's init and program. */
enum { FD_REPORT = 3, FD_SYNC = 4, FD_CTL = 5, FD_CGDIR = 6, FD_CGROUP = 7 };

/* The descriptors a job carries to the program (-1: absent), in this order on the wire. */
struct dispatch_fds {
	int in, box, out, err;
};

/* What the container's processes read: prepared by the parent before clone, then read-only but
 * for the two flags the init and the parent publish. */
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
	/* Set by the parent before a held container's first job: when a program ends, the init waits
	 * for the next one instead of exiting (read by the init once the program is gone). */
	int hold;
};

/* A held container's state (held.c): the programs it has run, one at a time. */
#define HELD_MAX_STALE 8
struct held {
	int on;                    /* corral_dispatch_held was called: corral_dispatch is refused */
	int64_t program;           /* the caller's number of the last program dispatched */
	int64_t stop_word;         /* (program << 8) | (limit + 1): a stop for that program (corral_stop_held) */
	int wake_fd;               /* an eventfd corral_stop_held writes, so supervision sees a stop at once */
	int box_attached;          /* /box is in place (a program reached execve with it): not sent again */
	int need_next;             /* the next program process is not asked for yet (the init waits) */
	int program_before;        /* a program has run: the next one's timings leave the build out */
	int64_t leaves;            /* v2: program leaves made so far (their names) */
	char stale[HELD_MAX_STALE][512]; /* v2: earlier programs' leaves that were still busy, removed at discard */
	int nstale;
};

/* A container: built by corral_prepare(), used by one corral_dispatch() — or held, by any number
 * of corral_dispatch_held() one after another —, removed by corral_discard(). Shared with the
 * container's processes (CLONE_VM): they read ctx. */
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
	uint32_t id_base;          /* the container's root on the host (v2 program leaves are delegated to it) */
	struct held held;
};

/* child.c: the container's init (clone()'s entry point; arg is the struct child_ctx). */
int container_init(void *arg);

/* wire.c: the job message, parent side (sendmsg) and program side (raw recvmsg; NULL when the
 * container is discarded unused). A held container's init gets a NEXT message before each program
 * after its first (with, on v2, the program's cgroup leaf, which it puts at FD_CGDIR): 1 when it
 * came, 0 when the socket is closed (discarded), -1 for any other message (its fds closed). */
int wire_send_job(struct corral_container *c, const corral_spec *job, const struct dispatch_fds *d, corral_error *e);
const corral_spec *wire_receive_job(struct child_ctx *c, struct dispatch_fds *d);
int wire_send_next(struct corral_container *c, int cgdir_fd, corral_error *e);
int wire_receive_next(void);

/* held.c: asks the init for the next program of a held container (v2: in a fresh cgroup leaf
 * with the job's limits, the previous program's leaf removed); removes leftover leaves at discard. */
int held_next_program(struct corral_container *c, const corral_spec *s, corral_error *e);
void held_release(struct corral_container *c);

/* outcome.c: how a supervised run ended, and what a child's failure report means. */
void outcome_fill(corral_outcome *o, const struct supervision *sv, const struct mount_plan *plan, const corral_spec *s);
void outcome_stopped(corral_outcome *o, int limit);
void describe_failure(corral_error *e, const struct report *r, const struct mount_plan *plan, const corral_spec *s);

#endif
