/*
 * The benchmark's floor: the same CLONE_VM spawn + execve + wait the launcher uses, without any
 * namespace, cgroup or mount. `npm run bench:sandbox` prints full-container runs as a ratio of it.
 */
#include "internal.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

struct bare_ctx {
	const char *path;
	char *const *argv;
};

static int bare_child(void *arg)
{
	struct bare_ctx *c = arg;
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
	}
	static char *const envp[] = { NULL };
	execve(c->path, c->argv, envp);
	_exit(127);
}

/* Returns the program's wait status, or -1. */
CORRAL_API int corral_bare_spawn(const char *path, const char *argv0)
{
	const size_t size = 64 * 1024;
	char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return -1;
	char *argv[] = { (char *)argv0, NULL };
	struct bare_ctx ctx = { path, argv };
	pid_t pid = clone(bare_child, stack + size, CLONE_VM | CLONE_VFORK | SIGCHLD, &ctx);
	int status = -1;
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	munmap(stack, size);
	return status;
}
