/*
 * The job's way into a built container: one message on the control socket (a SOCK_SEQPACKET
 * pair made at prepare), its descriptors attached with SCM_RIGHTS.
 *
 *   byte 0     which optional descriptors follow stdin: DISPATCH_BOX | DISPATCH_OUT | DISPATCH_ERR
 *   fds        stdin (a sealed memfd, a file, /dev/null, or the caller's pipe when streaming),
 *              then in this order those the byte announces: the detached /box mount, the
 *              caller's (or, held, the dispatch's own) stdout and stderr pipes
 * The job itself (argv, env, limits…) is not serialised: the program shares the worker's memory
 * and reads the spec the parent published in the context right before the message.
 *
 * A held container's init reads the same socket between two programs, and only then: the NEXT
 * message (byte 0 = DISPATCH_NEXT), with on cgroup v2 the next program's cgroup leaf as its one
 * descriptor. The two kinds never cross: the init reads only once the program is gone, and a
 * program only after the init has spawned it. A job whose program died before reading it is read
 * by the init, which recognises it by its byte and drops it.
 */
#include "container.h"
#include "rawsys.h"
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>

enum { DISPATCH_BOX = 1, DISPATCH_OUT = 2, DISPATCH_ERR = 4, DISPATCH_NEXT = 8 };
#define WIRE_MAX_FDS 4

static int send_message(struct corral_container *c, char flags, const int *fds, int nfds, corral_error *e)
{
	char control[CMSG_SPACE(WIRE_MAX_FDS * sizeof(int))];
	memset(control, 0, sizeof control);
	struct iovec iov = { &flags, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds > 0) {
		msg.msg_control = control;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	ssize_t n;
	do
		n = sendmsg(c->ctl_w, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	/* A container that already failed its setup cannot take the job; supervision reports why. */
	if (n != 1 && errno != EPIPE && errno != ECONNREFUSED && errno != ECONNRESET) {
		cerr_set(e, errno, "send the job to the container");
		return cerr_where(e, CORRAL_E_HOST, "dispatch");
	}
	return 0;
}

int wire_send_job(struct corral_container *c, const corral_spec *job, const struct dispatch_fds *d, corral_error *e)
{
	__atomic_store_n(&c->ctx.job, job, __ATOMIC_RELEASE);
	char flags = 0;
	int fds[WIRE_MAX_FDS] = { d->in };
	int nfds = 1;
	if (d->box >= 0)
		flags |= DISPATCH_BOX, fds[nfds++] = d->box;
	if (d->out >= 0)
		flags |= DISPATCH_OUT, fds[nfds++] = d->out;
	if (d->err >= 0)
		flags |= DISPATCH_ERR, fds[nfds++] = d->err;
	return send_message(c, flags, fds, nfds, e);
}

int wire_send_next(struct corral_container *c, int cgdir_fd, corral_error *e)
{
	return send_message(c, DISPATCH_NEXT, &cgdir_fd, cgdir_fd >= 0 ? 1 : 0, e);
}

/* Receives one message: its byte, and up to WIRE_MAX_FDS descriptors (the count in *count). */
static long receive(char *flags, int fds[WIRE_MAX_FDS], size_t *count)
{
	char control[CMSG_SPACE(WIRE_MAX_FDS * sizeof(int))];
	struct iovec iov = { flags, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
	long n;
	do
		n = rawsys(SYS_recvmsg, FD_CTL, &msg, MSG_CMSG_CLOEXEC);
	while (n == -EINTR);
	*count = 0;
	if (n != 1)
		return n;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
		*count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (*count > WIRE_MAX_FDS)
			*count = WIRE_MAX_FDS;
		memcpy(fds, CMSG_DATA(cm), *count * sizeof(int));
	}
	return n;
}

/* Init side (raw syscalls). */
int wire_receive_next(void)
{
	char flags = 0;
	int fds[WIRE_MAX_FDS] = { -1, -1, -1, -1 };
	size_t count = 0;
	if (receive(&flags, fds, &count) != 1)
		return 0; /* discarded: the parent closed the socket */
	if (!(flags & DISPATCH_NEXT)) {
		for (size_t i = 0; i < count; i++)
			rawsys(SYS_close, fds[i]);
		return -1; /* a job whose program had died before it came */
	}
	if (count >= 1) {
		long rc = rawsys(SYS_dup3, fds[0], FD_CGDIR, O_CLOEXEC);
		for (size_t i = 0; i < count; i++)
			rawsys(SYS_close, fds[i]);
		if (rc < 0)
			return 0;
	}
	return 1;
}

/* Program side (raw syscalls). A descriptor the message announces but does not carry leaves
 * d->in at -1, which the stdio step refuses. */
const corral_spec *wire_receive_job(struct child_ctx *c, struct dispatch_fds *d)
{
	char flags = 0;
	int fds[WIRE_MAX_FDS] = { -1, -1, -1, -1 };
	size_t count = 0, next = 0;
	if (receive(&flags, fds, &count) != 1 || (flags & DISPATCH_NEXT)) {
		for (size_t i = 0; i < count; i++)
			rawsys(SYS_close, fds[i]);
		return NULL; /* discarded unused: the parent closed the socket */
	}
	d->in = d->box = d->out = d->err = -1;
	int *wanted[] = { &d->in, (flags & DISPATCH_BOX) ? &d->box : NULL, (flags & DISPATCH_OUT) ? &d->out : NULL,
			  (flags & DISPATCH_ERR) ? &d->err : NULL };
	for (size_t i = 0; i < WIRE_MAX_FDS; i++) {
		if (!wanted[i])
			continue;
		if (next >= count) {
			d->in = -1;
			break;
		}
		*wanted[i] = fds[next++];
	}
	return __atomic_load_n(&c->job, __ATOMIC_ACQUIRE);
}
