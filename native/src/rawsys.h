/*
 * System calls for the container's side (the init and the program before its execve): they
 * return the result or -errno and touch nothing else, not errno, not glibc's thread state.
 *
 * Why: those processes share the worker's memory (CLONE_VM) and, without CLONE_SETTLS, the
 * thread pointer of the worker thread that built them, so glibc's errno of that thread is
 * theirs too. That thread does not wait for them: it returns to libuv's pool and builds or
 * supervises other containers. A failing glibc wrapper in a container (a mkdir that finds its
 * directory, the signal reset's EINVALs, a missing PATH candidate, the init's last ECHILD) wrote
 * that thread's errno under its feet: a dispatch whose sendmsg got EPIPE from a cancelled
 * container read "File exists" from another container's setup and failed its run. Cancellation
 * points (read, write, waitpid, ...) would also flip the thread's cancellation bits.
 */
#ifndef CORRAL_RAWSYS_H
#define CORRAL_RAWSYS_H

#include <sys/syscall.h>

static inline long rawsys6(long nr, long a, long b, long c, long d, long e, long f)
{
#if defined(__x86_64__)
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory", "cc");
	return ret;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory", "cc");
	return x0;
#else
#error "rawsys.h: add the raw system call sequence for this architecture (see the comment above)"
#endif
}

/* rawsys(SYS_x, args...): one to six arguments, each cast to long. */
#define RAWSYS_ARGS6(a, b, c, d, e, f, ...) (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f)
#define rawsys(nr, ...) rawsys6((nr), RAWSYS_ARGS6(__VA_ARGS__, 0, 0, 0, 0, 0, 0))

/* The container's way out. */
static inline __attribute__((noreturn)) void rawsys_exit(int code)
{
	for (;;)
		rawsys(SYS_exit_group, code);
}

#endif
