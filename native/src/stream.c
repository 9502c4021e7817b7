/*
 * Streamed stdio: the pipes a caller hands to a run (spec.stdin_fd / stdout_fd / stderr_fd) so
 * that it can write the program's stdin and read its output while it runs. Made here rather than
 * by the caller's runtime so they are plain, blocking, close-on-exec pipes whatever the caller
 * (Node.js makes its own ends non-blocking; the program's ends stay blocking, as programs expect).
 */
#include "internal.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int corral_pipe(int32_t fds[2], char *err, int32_t err_len)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(err, (size_t)err_len, "pipe2: %s", strerror(errno));
		return -1;
	}
	fds[0] = p[0];
	fds[1] = p[1];
	return 0;
}
