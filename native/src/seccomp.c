/*
 * The seccomp-bpf filter every program runs under, built once. It refuses (EPERM) what a
 * program inside the box never needs and what the kernel's attack surface is largest in:
 * mounting, namespaces, tracing, BPF, perf, userfaultfd, keyrings, modules, kexec, io_uring,
 * handle-based opens. clone3 answers ENOSYS so libcs fall back to clone, whose flags we can
 * inspect. A foreign syscall ABI (x32, i386 on x86_64) kills the process.
 */
#include "internal.h"
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define CORRAL_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define CORRAL_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "seccomp filter: unsupported architecture"
#endif

static const int denied[] = {
	SYS_mount, SYS_umount2, SYS_pivot_root, SYS_unshare, SYS_setns, SYS_chroot,
	SYS_ptrace, SYS_process_vm_readv, SYS_process_vm_writev, SYS_kcmp,
	SYS_bpf, SYS_perf_event_open, SYS_userfaultfd,
	SYS_keyctl, SYS_add_key, SYS_request_key,
	SYS_kexec_load, SYS_kexec_file_load, SYS_init_module, SYS_finit_module, SYS_delete_module,
	SYS_swapon, SYS_swapoff, SYS_reboot, SYS_syslog, SYS_acct, SYS_quotactl,
	SYS_open_by_handle_at, SYS_name_to_handle_at,
	SYS_io_uring_setup, SYS_io_uring_enter, SYS_io_uring_register,
	SYS_fsopen, SYS_fsconfig, SYS_fsmount, SYS_fspick, SYS_move_mount, SYS_open_tree,
#ifdef SYS_mount_setattr
	SYS_mount_setattr,
#endif
#ifdef SYS_pidfd_getfd
	SYS_pidfd_getfd,
#endif
	SYS_fanotify_init, SYS_lookup_dcookie, SYS_settimeofday, SYS_clock_settime, SYS_clock_adjtime,
	SYS_adjtimex,
#ifdef SYS_uselib
	SYS_uselib,
#endif
#ifdef SYS_iopl
	SYS_iopl, SYS_ioperm,
#endif
};

#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | \
		  CLONE_NEWNET | CLONE_NEWCGROUP)
#define NDENIED (sizeof denied / sizeof *denied)

/*
 * The calls the filter decides on, sorted by number, searched as a balanced binary tree: about
 * seven comparisons for any call instead of a walk past every denied one. That matters twice per
 * container: the kernel, when the filter is loaded, runs it once for every syscall number to
 * learn which ones it always allows (seccomp's action cache, built under a spinlock with
 * interrupts off: ~45 µs for the linear list of 47, measured with perf), and a call it cannot
 * cache (clone reads its flags) runs the filter each time.
 */
enum verdict { V_EPERM, V_CLONE, V_ENOSYS };
struct decided {
	uint32_t nr;
	enum verdict verdict;
};

#define NDECIDED (NDENIED + 2)
/* header (5) + per decided call at most 3 (a leaf's test, a node's split, a leaf's exit) + the
 * clone check (3) + 4 returns */
#define FILTER_MAX (5 + 3 * NDECIDED + 3 + 4)
/* A leaf tests this many calls in a row; larger ranges split in two. */
#define LEAF_MAX 3

static struct sock_filter filter[FILTER_MAX];
static struct sock_fprog program;
static pthread_once_t once = PTHREAD_ONCE_INIT;

#define STMT(code, k) ((struct sock_filter)BPF_STMT(code, k))
#define JUMP(code, k, jt, jf) ((struct sock_filter)BPF_JUMP(code, k, jt, jf))

struct builder {
	size_t n;
	/* Jumps to the blocks at the end, patched once their places are known: instruction index
	 * and which block (enum verdict, or V_ALLOW). */
	struct { size_t at; int to; int cond; } fix[FILTER_MAX];
	size_t nfix;
};
enum { V_ALLOW = 3 };

static int by_nr(const void *a, const void *b)
{
	const struct decided *x = a, *y = b;
	return x->nr < y->nr ? -1 : x->nr > y->nr;
}

/* A conditional jump whose true branch goes to block `to` (jf falls through). */
static void emit_test(struct builder *b, uint32_t nr, int to)
{
	b->fix[b->nfix++] = (typeof(b->fix[0])){ b->n, to, 1 };
	filter[b->n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 0);
}

static void emit_goto(struct builder *b, int to)
{
	b->fix[b->nfix++] = (typeof(b->fix[0])){ b->n, to, 0 };
	filter[b->n++] = STMT(BPF_JMP | BPF_JA, 0);
}

/* The calls d[0..count), the accumulator holding the call's number. */
static void emit_tree(struct builder *b, const struct decided *d, size_t count)
{
	if (count <= LEAF_MAX) {
		for (size_t i = 0; i < count; i++)
			emit_test(b, d[i].nr, (int)d[i].verdict);
		emit_goto(b, V_ALLOW);
		return;
	}
	size_t half = count / 2;
	size_t split = b->n++;
	emit_tree(b, d, half);
	/* >= the upper half's first number: jump over the lower half's instructions. */
	filter[split] = JUMP(BPF_JMP | BPF_JGE | BPF_K, d[half].nr, (uint8_t)(b->n - split - 1), 0);
	emit_tree(b, d + half, count - half);
}

static void build(void)
{
	struct decided d[NDECIDED];
	for (size_t i = 0; i < NDENIED; i++)
		d[i] = (struct decided){ (uint32_t)denied[i], V_EPERM };
	d[NDENIED] = (struct decided){ SYS_clone, V_CLONE };
	d[NDENIED + 1] = (struct decided){ SYS_clone3, V_ENOSYS };
	qsort(d, NDECIDED, sizeof *d, by_nr);

	struct builder b = { 0 };
	size_t kill_jumps[2], nkill = 0;
	filter[b.n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	filter[b.n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, CORRAL_AUDIT_ARCH, 1, 0);
	kill_jumps[nkill++] = b.n;
	filter[b.n++] = STMT(BPF_JMP | BPF_JA, 0);
	filter[b.n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
	/* x32 syscalls carry bit 30: refuse that whole ABI. */
	kill_jumps[nkill++] = b.n;
	filter[b.n++] = JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 0);
#endif
	emit_tree(&b, d, NDECIDED);
	/* clone: refuse any namespace flag; otherwise allow. */
	size_t clone_at = b.n;
	filter[b.n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
	filter[b.n++] = JUMP(BPF_JMP | BPF_JSET | BPF_K, NS_FLAGS, 1, 0);
	emit_goto(&b, V_ALLOW);
	size_t allow = b.n, eperm = b.n + 1, enosys = b.n + 2, kill = b.n + 3;
	filter[b.n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	filter[b.n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
	filter[b.n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
	filter[b.n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	/* The JSET above jumps over the goto to EPERM, the block right after the allow return... */
	filter[clone_at + 1].jt = (uint8_t)(eperm - (clone_at + 1) - 1);
	for (size_t i = 0; i < b.nfix; i++) {
		size_t at = b.fix[i].at;
		int to = b.fix[i].to;
		size_t target = to == V_ALLOW ? allow : to == V_EPERM ? eperm : to == V_ENOSYS ? enosys : clone_at;
		if (b.fix[i].cond)
			filter[at].jt = (uint8_t)(target - at - 1);
		else
			filter[at].k = (uint32_t)(target - at - 1);
	}
	filter[kill_jumps[0]].k = (uint32_t)(kill - kill_jumps[0] - 1);
#if defined(__x86_64__)
	filter[kill_jumps[1]].jt = (uint8_t)(kill - kill_jumps[1] - 1);
#endif
	program.len = (unsigned short)b.n;
	program.filter = filter;
}

const struct sock_fprog *seccomp_program(void)
{
	pthread_once(&once, build);
	return &program;
}
