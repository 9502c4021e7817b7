/*
 * clone3() with a new stack, like glibc's clone() does for clone(): the raw syscall returns in
 * the child on a fresh stack, so the child must not return into C code that expects the parent's
 * frame. The trampoline calls fn(arg) on the new stack and exits. The init spawns the program
 * with it: for CLONE_INTO_CGROUP, which only clone3 has, and because it returns -errno instead of
 * writing the errno the init shares with a worker thread (rawsys.h).
 */
#include "internal.h"
#include <linux/sched.h>

#if defined(__x86_64__)
__asm__(".text\n"
	".globl corral_clone3_raw\n"
	".hidden corral_clone3_raw\n"
	".type corral_clone3_raw,@function\n"
	"corral_clone3_raw:\n"
	"	mov %rdx, %r8\n"        /* fn: r8/r9 survive the syscall */
	"	mov %rcx, %r9\n"        /* arg */
	"	mov $435, %eax\n"       /* __NR_clone3 */
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jz 1f\n"
	"	ret\n"                  /* parent (pid) or error (-errno) */
	"1:	xor %ebp, %ebp\n"       /* child, on its new stack */
	"	mov %r9, %rdi\n"
	"	call *%r8\n"
	"	mov %eax, %edi\n"
	"	mov $60, %eax\n"        /* __NR_exit */
	"	syscall\n"
	"	hlt\n");
#else
long corral_clone3_raw(struct clone_args *args, size_t size, int (*fn)(void *), void *arg)
{
	(void)args, (void)size, (void)fn, (void)arg;
	return -ENOSYS;
}
#endif
