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

/* header (5) + 2 per denied call + clone (4) + clone3 (2) + 4 returns */
static struct sock_filter filter[5 + 2 * NDENIED + 4 + 2 + 4];
static struct sock_fprog program;
static pthread_once_t once = PTHREAD_ONCE_INIT;

#define STMT(code, k) ((struct sock_filter)BPF_STMT(code, k))
#define JUMP(code, k, jt, jf) ((struct sock_filter)BPF_JUMP(code, k, jt, jf))

static void build(void)
{
	size_t n = 0;
	const size_t total = sizeof filter / sizeof *filter;
	/* The four return statements close the program. */
	const size_t allow = total - 4, eperm = total - 3, enosys = total - 2, kill = total - 1;
#define TO(label) ((uint32_t)((label) - n - 1))
	filter[n] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)); n++;
	filter[n] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, CORRAL_AUDIT_ARCH, 1, 0); n++;
	filter[n] = STMT(BPF_JMP | BPF_JA, TO(kill)); n++;
	filter[n] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)); n++;
#if defined(__x86_64__)
	/* x32 syscalls carry bit 30: refuse that whole ABI. */
	filter[n] = JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, (uint8_t)TO(kill), 0); n++;
#else
	filter[n] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)); n++;
#endif
	for (size_t i = 0; i < NDENIED; i++) {
		filter[n] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)denied[i], 0, 1); n++;
		filter[n] = STMT(BPF_JMP | BPF_JA, TO(eperm)); n++;
	}
	/* clone: refuse any namespace flag; otherwise allow. */
	filter[n] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3); n++;
	filter[n] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])); n++;
	filter[n] = JUMP(BPF_JMP | BPF_JSET | BPF_K, NS_FLAGS, 0, (uint8_t)TO(allow)); n++;
	filter[n] = STMT(BPF_JMP | BPF_JA, TO(eperm)); n++;
	/* clone3 passes its flags in memory a filter cannot read: ENOSYS makes libcs use clone. */
	filter[n] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1); n++;
	filter[n] = STMT(BPF_JMP | BPF_JA, TO(enosys)); n++;
	filter[n] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW); n++;
	filter[n] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)); n++;
	filter[n] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)); n++;
	filter[n] = STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS); n++;
#undef TO
	program.len = (unsigned short)n;
	program.filter = filter;
}

const struct sock_fprog *seccomp_program(void)
{
	pthread_once(&once, build);
	return &program;
}
