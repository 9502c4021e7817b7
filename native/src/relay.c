/*
 * The recorded exchange of two connected programs (worker/sandbox/connect.ts with a transcript):
 * one thread of this library reads each program's stdout pipe, records what it read into a
 * transcript bounded by a byte budget, and writes it to the other program's stdin pipe.
 *
 * Why a thread here and not the worker's event loop: relayed through Node's sockets every chunk
 * went through libuv's epoll, a JavaScript callback and the write queue, on the loop that also
 * serves the API and the queue — a one-line round trip cost ×6 of plain pipes on a quiet host.
 * Measured between two containers in the same runs (load 7–9, 10 000 round trips): 30–34 µs per
 * round trip against 60–150 µs (unpinned); pinned as the worker places them, 0.9–1.2× the
 * unrecorded connection against 2.4–4.1×; the worker's CPU 17–24 µs per round trip against 42–62,
 * its event loop's p99 delay 1.2–2.4 ms against 2.0–5.2. Why one thread for both directions: it
 * records in the order it read without ordering two threads, and two threads sleeping in poll()
 * each (tried first) measured 200–300 µs per round trip under load.
 * What a relay in the path cannot avoid: each message takes one hop more than on a direct pipe (a
 * wake-up of this thread and a context switch), which is what a recorded exchange costs
 * (docs/api.md "Interactive problems"; bench:judge prints it).
 *
 * The rules are a plain pipe's (docs/api.md "Interactive problems"):
 *   - backpressure: a direction reads its next chunk only once the last one is written entirely,
 *     so while a program does not read, at most one chunk (RELAY_CHUNK_BYTES) of the other's
 *     waits here and the other blocks in its own write — nothing piles up in the worker;
 *   - an EOF is passed on as EOF (the destination is closed);
 *   - a reader that is gone (EPIPE) closes the source, so the writer's next write fails with
 *     EPIPE/SIGPIPE as it would on a plain pipe.
 * Stoppable: corral_relay_abort makes an eventfd readable, which the thread polls beside the pipes.
 *
 * The transcript: entries {side, length} over one byte buffer, in the order the bytes were read
 * (each is recorded before it is written on, so an answer is never recorded before its question).
 * A run of one side's chunks is one entry; a new entry costs entry_cost bytes of the budget
 * besides its bytes (a byte-by-byte exchange makes one entry per byte, each an object in the
 * result); once the budget is spent the rest passes unrecorded and the transcript is truncated.
 */
#include "internal.h"
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* One read's worth: what the sockets of the relay it replaces read at once (64 KiB), and the
 * most that waits here per direction while its reader does not read. */
#define RELAY_CHUNK_BYTES (64 * 1024)
/* The thread only polls, reads, records and writes: a small stack (the chunks are on the heap). */
#define RELAY_STACK_BYTES (256 * 1024)

struct relay_entry {
	int32_t side;
	int32_t len;
};

struct relay_dir {
	int32_t side; /* 0: the first program's bytes, 1: the second's */
	int src;      /* read end of the program's stdout pipe; -1 once closed */
	int dst;      /* write end of the other program's stdin pipe; -1 once closed */
	uint8_t *buf;
	ssize_t off, len; /* the chunk read and not yet written on: buf[off, len) */
};

struct corral_relay {
	int stop_fd;
	atomic_int stop; /* set with stop_fd: seen between steps when bytes keep moving (no poll) */
	pthread_t thread;
	int running; /* started and not yet joined */
	pthread_mutex_t lock;
	int64_t budget;
	int64_t entry_cost;
	int64_t spent;
	int32_t truncated;
	uint8_t *data;
	int64_t data_len, data_cap;
	struct relay_entry *entries;
	int64_t n_entries, entries_cap;
	struct relay_dir dir[2];
};

/* Grows *p to hold `need` items of `size` (doubling, never past `max`); 0, or -1 without memory. */
static int grow(void **p, int64_t *cap, int64_t need, int64_t max, size_t size)
{
	if (need <= *cap)
		return 0;
	int64_t n = *cap ? *cap : 256;
	while (n < need)
		n *= 2;
	if (n > max)
		n = max;
	void *q = realloc(*p, (size_t)n * size);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

static void record(struct corral_relay *r, int32_t side, const uint8_t *bytes, int64_t n)
{
	pthread_mutex_lock(&r->lock);
	if (r->truncated || n == 0)
		goto out;
	int continues = r->n_entries > 0 && r->entries[r->n_entries - 1].side == side;
	int64_t cost = continues ? 0 : r->entry_cost;
	int64_t room = r->budget - r->spent - cost;
	if (room <= 0) {
		r->truncated = 1;
		goto out;
	}
	int64_t kept = n > room ? room : n;
	/* Without memory the recording stops (truncated), never the exchange. */
	if (grow((void **)&r->data, &r->data_cap, r->data_len + kept, r->budget, 1) < 0 ||
	    (!continues && grow((void **)&r->entries, &r->entries_cap, r->n_entries + 1,
				r->budget / (r->entry_cost > 0 ? r->entry_cost : 1) + 1, sizeof *r->entries) < 0)) {
		r->truncated = 1;
		goto out;
	}
	if (kept < n)
		r->truncated = 1;
	r->spent += cost + kept;
	memcpy(r->data + r->data_len, bytes, (size_t)kept);
	r->data_len += kept;
	if (continues)
		r->entries[r->n_entries - 1].len += (int32_t)kept;
	else
		r->entries[r->n_entries++] = (struct relay_entry){ side, (int32_t)kept };
out:
	pthread_mutex_unlock(&r->lock);
}

static void close_dir(struct relay_dir *d)
{
	/* The source closed: its writer's next write fails (EPIPE/SIGPIPE). The destination closed:
	 * its reader reads EOF once the pipe is empty. */
	if (d->src >= 0)
		close(d->src);
	if (d->dst >= 0)
		close(d->dst);
	d->src = d->dst = -1;
}

/* One step of a direction that does not wait: writes what is pending, else reads the next chunk
 * (recorded first, so an answer is never recorded before its question) and writes it. Returns 1
 * when bytes moved, 0 when it must wait (*events says for what: POLLIN on src, POLLOUT on dst),
 * -1 when the direction is over (both its ends closed). */
static int step(struct corral_relay *r, struct relay_dir *d, short *events)
{
	if (d->src < 0)
		return -1;
	int moved = 0;
	if (d->off == d->len) {
		ssize_t n = read(d->src, d->buf, RELAY_CHUNK_BYTES);
		if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
			*events = POLLIN;
			return 0;
		}
		if (n <= 0) { /* EOF, or the pipe failed: passed on as EOF */
			close_dir(d);
			return -1;
		}
		record(r, d->side, d->buf, n);
		d->off = 0;
		d->len = n;
		moved = 1;
	}
	while (d->off < d->len) {
		ssize_t w = write(d->dst, d->buf + d->off, (size_t)(d->len - d->off));
		if (w > 0) {
			d->off += w;
			moved = 1;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && errno == EAGAIN) {
			/* The reader does not read: this direction waits, reading nothing more. */
			*events = POLLOUT;
			return moved;
		} else { /* the reader is gone (EPIPE) */
			close_dir(d);
			return -1;
		}
	}
	*events = POLLIN;
	return 1;
}

static void *pass_on(void *arg)
{
	struct corral_relay *r = arg;
	/* What each direction waits for, and whether poll() said it is ready. A step reads (or
	 * writes) once and then waits in poll() — level-triggered, it returns at once when more is
	 * there — instead of reading until EAGAIN: in a conversation that read would find nothing, and
	 * each message would cost two system calls more. */
	short want[2] = { POLLIN, POLLIN };
	int ready[2] = { 1, 1 };
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		int open = 0;
		for (int i = 0; i < 2; i++) {
			if (ready[i])
				step(r, &r->dir[i], &want[i]);
			open += r->dir[i].src >= 0;
		}
		if (!open)
			break;
		/* Sleep until a pipe or the stop is ready. Never spin here (looking again with
		 * sched_yield() before sleeping was tried): the programs' containers are pinned to the
		 * worker's CPUs and each is a cgroup of its own, so a yield does not reliably give the
		 * CPU to the program just woken on it — round trips of 800 µs were seen — and a slow
		 * interactor would have the worker burn CPU for nothing. */
		struct pollfd p[3];
		int side[3], n = 0;
		for (int i = 0; i < 2; i++) {
			struct relay_dir *d = &r->dir[i];
			ready[i] = 0;
			if (d->src < 0)
				continue;
			side[n] = i;
			p[n++] = (struct pollfd){ .fd = want[i] == POLLOUT ? d->dst : d->src, .events = want[i] };
		}
		p[n] = (struct pollfd){ .fd = r->stop_fd, .events = POLLIN };
		if (poll(p, n + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break; /* cannot wait: stop rather than spin */
		}
		if (p[n].revents)
			break;
		for (int k = 0; k < n; k++)
			ready[side[k]] = p[k].revents != 0;
	}
	for (int i = 0; i < 2; i++)
		close_dir(&r->dir[i]);
	return NULL;
}

static void stop_thread(struct corral_relay *r)
{
	uint64_t one = 1;
	atomic_store(&r->stop, 1);
	/* An eventfd write only fails when its counter would overflow: it is readable then too. */
	while (write(r->stop_fd, &one, sizeof one) < 0 && errno == EINTR)
		;
}

CORRAL_API void corral_relay_abort(corral_relay *r)
{
	if (r)
		stop_thread(r);
}

CORRAL_API void corral_relay_free(corral_relay *r)
{
	if (!r)
		return;
	if (r->running) {
		stop_thread(r);
		pthread_join(r->thread, NULL);
	}
	for (int i = 0; i < 2; i++) {
		close_dir(&r->dir[i]); /* the thread's exit closed them, unless it never started */
		free(r->dir[i].buf);
	}
	if (r->stop_fd >= 0)
		close(r->stop_fd);
	pthread_mutex_destroy(&r->lock);
	free(r->data);
	free(r->entries);
	free(r);
}

CORRAL_API int corral_relay_start(const int32_t fds[4], int64_t budget_bytes, int64_t entry_cost_bytes,
				  corral_relay **out, corral_error *err)
{
	*out = NULL;
	corral_relay *r = NULL;
	if (budget_bytes < 1 || budget_bytes > INT32_MAX || entry_cost_bytes < 0) {
		cerr_set(err, 0, "relay: budget %lld / entry cost %lld out of range", (long long)budget_bytes,
			 (long long)entry_cost_bytes);
		cerr_where(err, CORRAL_E_SPEC, "relay");
		goto fail;
	}
	r = calloc(1, sizeof *r);
	if (!r) {
		cerr_set(err, ENOMEM, "relay");
		cerr_where(err, CORRAL_E_HOST, "relay");
		goto fail;
	}
	for (int i = 0; i < 2; i++) {
		struct relay_dir *d = &r->dir[i];
		d->side = i;
		d->src = fds[2 * i];
		d->dst = fds[2 * i + 1];
	}
	/* From here on the ends are the relay's: corral_relay_free closes them. */
	r->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&r->lock, NULL);
	r->budget = budget_bytes;
	r->entry_cost = entry_cost_bytes;
	if (r->stop_fd < 0) {
		cerr_set(err, errno, "eventfd");
		cerr_where(err, CORRAL_E_HOST, "relay");
		goto fail_relay;
	}
	for (int i = 0; i < 2; i++) {
		struct relay_dir *d = &r->dir[i];
		d->buf = malloc(RELAY_CHUNK_BYTES);
		if (!d->buf) {
			cerr_set(err, ENOMEM, "relay buffer");
			cerr_where(err, CORRAL_E_HOST, "relay");
			goto fail_relay;
		}
		/* Our ends only (each end of a pipe is a file description of its own): the programs'
		 * ends stay blocking, as programs expect. */
		for (int k = 0; k < 2; k++) {
			int fd = fds[2 * i + k];
			int fl = fcntl(fd, F_GETFL);
			if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
				cerr_set(err, errno, "fcntl O_NONBLOCK on relay fd %d", fd);
				cerr_where(err, CORRAL_E_HOST, "relay");
				goto fail_relay;
			}
		}
	}
	/* The thread takes no signal (the worker's main thread handles them; a write to a gone
	 * reader is EPIPE, and Node ignores SIGPIPE). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, RELAY_STACK_BYTES);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&r->thread, &attr, pass_on, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		cerr_set(err, rc, "pthread_create");
		cerr_where(err, CORRAL_E_HOST, "relay");
		goto fail_relay;
	}
	r->running = 1;
	*out = r;
	return 0;
fail:
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	return -1;
fail_relay:
	corral_relay_free(r);
	return -1;
}

CORRAL_API int corral_relay_finish(corral_relay *r, int64_t grace_ms)
{
	if (!r->running)
		return 0;
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += grace_ms / 1000;
	deadline.tv_nsec += (grace_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	int stopped = 0;
	if (pthread_timedjoin_np(r->thread, NULL, &deadline) != 0) {
		stop_thread(r);
		stopped = 1;
		pthread_join(r->thread, NULL);
	}
	r->running = 0;
	return stopped;
}

CORRAL_API int64_t corral_relay_transcript_size(corral_relay *r, int64_t *entries, int32_t *truncated)
{
	pthread_mutex_lock(&r->lock);
	int64_t bytes = r->data_len;
	*entries = r->n_entries;
	*truncated = r->truncated;
	pthread_mutex_unlock(&r->lock);
	return bytes;
}

CORRAL_API void corral_relay_transcript(corral_relay *r, uint8_t *data, int32_t *entries)
{
	pthread_mutex_lock(&r->lock);
	if (r->data_len)
		memcpy(data, r->data, (size_t)r->data_len);
	for (int64_t i = 0; i < r->n_entries; i++) {
		entries[2 * i] = r->entries[i].side;
		entries[2 * i + 1] = r->entries[i].len;
	}
	pthread_mutex_unlock(&r->lock);
}
