/*
 * The job's way into a built container: one message on the control socket (a SOCK_SEQPACKET
 * pair made at prepare), its descriptors attached with SCM_RIGHTS.
 *
 *   byte 0     which optional descriptors follow stdin: DISPATCH_BOX | DISPATCH_OUT | DISPATCH_ERR
 *   fds        stdin (a sealed memfd, a file, /dev/null, or the caller's pipe when streaming),
 *              then in this order those the byte announces: the detached /box mount, the
 *              caller's stdout and stderr pipes (streaming)
 * The job itself (argv, env, limits…) is not serialised: the program shares the worker's memory
 * and reads the spec the parent published in the context right before the message.
 */
#include "container.h"
#include "rawsys.h"
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>

enum { DISPATCH_BOX = 1, DISPATCH_OUT = 2, DISPATCH_ERR = 4 };
#define WIRE_MAX_FDS 4

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
	char control[CMSG_SPACE(WIRE_MAX_FDS * sizeof(int))];
	memset(control, 0, sizeof control);
	struct iovec iov = { &flags, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			      .msg_controllen = CMSG_SPACE(nfds * sizeof(int)) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
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

/* Program side (raw syscalls). A descriptor the message announces but does not carry leaves
 * d->in at -1, which the stdio step refuses. */
const corral_spec *wire_receive_job(struct child_ctx *c, struct dispatch_fds *d)
{
	char flags;
	char control[CMSG_SPACE(WIRE_MAX_FDS * sizeof(int))];
	struct iovec iov = { &flags, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
	long n;
	do
		n = rawsys(SYS_recvmsg, FD_CTL, &msg, MSG_CMSG_CLOEXEC);
	while (n == -EINTR);
	if (n != 1)
		return NULL; /* discarded unused: the parent closed the socket */
	d->in = d->box = d->out = d->err = -1;
	int fds[WIRE_MAX_FDS] = { -1, -1, -1, -1 };
	size_t count = 0, next = 0;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
		count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (count > WIRE_MAX_FDS)
			count = WIRE_MAX_FDS;
		memcpy(fds, CMSG_DATA(cm), count * sizeof(int));
	}
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
