/*
 * Checks the seccomp program seccomp.c builds against its own list, for every syscall number:
 * a small classic-BPF interpreter runs the filter in user space (no syscall is made) and each
 * verdict is compared with what the list says — denied calls EPERM, clone with a namespace flag
 * EPERM and without one allowed, clone3 ENOSYS, everything else allowed, a foreign architecture
 * and (x86_64) the x32 ABI killed. Built and run by test/sandbox/seccomp-filter.test.ts; prints
 * "N passed, M failed".
 */
#include "../src/seccomp.c"
#include <signal.h>
#include <stdio.h>
#include <string.h>

static uint32_t run_filter(const struct sock_fprog *p, const struct seccomp_data *d)
{
	uint32_t a = 0;
	for (size_t pc = 0; pc < p->len; pc++) {
		const struct sock_filter *f = &p->filter[pc];
		switch (f->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			if (f->k + 4 > sizeof *d)
				return 0xdead0001;
			memcpy(&a, (const char *)d + f->k, 4);
			break;
		case BPF_JMP | BPF_JA:
			pc += f->k;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += a == f->k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
			pc += a >= f->k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			pc += (a & f->k) ? f->jt : f->jf;
			break;
		case BPF_RET | BPF_K:
			return f->k;
		default:
			return 0xdead0002; /* an instruction this check does not know */
		}
	}
	return 0xdead0003; /* ran off the end */
}

static int passed, failed;

static void expect(const char *what, long nr, uint32_t got, uint32_t want)
{
	if (got == want) {
		passed++;
		return;
	}
	failed++;
	if (failed < 20)
		fprintf(stderr, "%s %ld: got 0x%x, want 0x%x\n", what, nr, got, want);
}

int main(void)
{
	const struct sock_fprog *p = seccomp_program();
	const uint32_t allow = SECCOMP_RET_ALLOW, eperm = SECCOMP_RET_ERRNO | EPERM, enosys = SECCOMP_RET_ERRNO | ENOSYS;
	/* The kernel refuses a program longer than BPF_MAXINSNS; jump offsets fit by construction. */
	expect("length", p->len, p->len > 0 && p->len <= BPF_MAXINSNS, 1);
	for (long nr = 0; nr < 1024; nr++) {
		struct seccomp_data d;
		memset(&d, 0, sizeof d);
		d.arch = CORRAL_AUDIT_ARCH;
		d.nr = (int)nr;
		uint32_t want = allow;
		for (size_t i = 0; i < NDENIED; i++)
			if (denied[i] == nr)
				want = eperm;
		if (nr == SYS_clone3)
			want = enosys;
		if (nr == SYS_clone) {
			d.args[0] = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | SIGCHLD;
			expect("clone (thread)", nr, run_filter(p, &d), allow);
			static const uint64_t ns[] = { CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
						       CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP };
			for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
				d.args[0] = ns[i] | SIGCHLD;
				expect("clone (namespace)", (long)ns[i], run_filter(p, &d), eperm);
			}
			continue;
		}
		expect("syscall", nr, run_filter(p, &d), want);
		d.arch = 0x40000003; /* AUDIT_ARCH_I386 */
		expect("foreign arch", nr, run_filter(p, &d), SECCOMP_RET_KILL_PROCESS);
#if defined(__x86_64__)
		d.arch = CORRAL_AUDIT_ARCH;
		d.nr = (int)(nr | 0x40000000);
		expect("x32", nr, run_filter(p, &d), SECCOMP_RET_KILL_PROCESS);
#endif
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
