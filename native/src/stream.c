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

CORRAL_API int corral_pipe(int32_t fds[2], corral_error *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		cerr_set(err, errno, "pipe2");
		return cerr_where(err, CORRAL_E_HOST, "pipe");
	}
	fds[0] = p[0];
	fds[1] = p[1];
	return 0;
}
