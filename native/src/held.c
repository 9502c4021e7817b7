/*
 * A held container's programs, kept apart (launcher.c has the theory of operation).
 *
 * Between two programs the init has killed and reaped every process of the namespace. Before the
 * next one, the parent asks the init for it with the NEXT message (wire.c); what goes with it
 * depends on the cgroup version:
 *   v1  the program cgroup is kept: it is empty, its limits (and its cpuset.cpus, with placement)
 *       are rewritten per job where they differ, its memory peak is reset (cg_apply_limits) and
 *       CPU time and OOM kills are counted from the job's start.
 *   v2  a fresh leaf beside the init's (<run>/program-<n>) with the job's limits, delegated to
 *       the container's root like the first one, its directory sent with NEXT so the init spawns
 *       the program straight into it (clone3 CLONE_INTO_CGROUP); the previous program's leaf is
 *       removed. The leaf gets its limits and CPUs before NEXT (the last program's; the job's own
 *       are written at dispatch where they differ), so the waiting process is placed from birth.
 *       memory.peak cannot be reset before Linux 6.12, and a fresh leaf also starts with its own
 *       OOM count and its own cgroup.kill.
 * Pages a program left in the container's tmpfs stay charged where they were charged (v1: the
 * program cgroup, against the next program's memory limit; v2: moved up to <run>, which has no
 * limit): they are bounded by the tmpfs sizes, not by the memory limit.
 */
#include "container.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int open_in(const char *dir, const char *file, int flags)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	return open(path, flags | O_CLOEXEC);
}

/* rmdir, waiting a little for tasks that are still leaving (EBUSY); 0 or -1. */
static int remove_leaf(const char *dir)
{
	for (int tries = 0; rmdir(dir) < 0; tries++) {
		if (errno == ENOENT)
			return 0;
		if (errno != EBUSY || tries >= 20)
			return -1;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

static void close_if(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* v2: makes the next program's leaf, puts it in place of the previous one in c->cg (accounting
 * descriptors, limits) and removes the previous one; *dirfd gets the leaf's directory. */
static int next_leaf_v2(struct corral_container *c, const corral_spec *s, int *dirfd, corral_error *e)
{
	struct cgroup_run *cg = &c->cg;
	char leaf[512], path[600];
	/* The run's directory is the first one cg_create_v2 made; the leaves are beside the init's. */
	int n = snprintf(leaf, sizeof leaf, "%s/program-%lld", cg->dirs[0], (long long)++c->held.leaves + 1);
	if (n < 0 || (size_t)n >= sizeof leaf)
		return cerr_set(e, ENAMETOOLONG, "cgroup path %s/program-…", cg->dirs[0]);
	if (mkdir(leaf, 0755) < 0)
		return cerr_set(e, errno, "cgroup: mkdir %s", leaf);
	int fd = open(leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int cpu = open_in(leaf, "cpu.stat", O_RDONLY), peak = open_in(leaf, "memory.peak", O_RDONLY);
	int events = open_in(leaf, "memory.events", O_RDONLY), kill = open_in(leaf, "cgroup.kill", O_WRONLY);
	snprintf(path, sizeof path, "%s/cgroup.procs", leaf);
	if (fd < 0 || cpu < 0 || events < 0 || chown(path, c->id_base, c->id_base) < 0 ||
	    (cg->has_swap_file && (snprintf(path, sizeof path, "%s/memory.swap.max", leaf), write_file_str(path, "0", e) < 0))) {
		if (!e->message[0])
			cerr_set(e, errno, "cgroup: prepare %s", leaf);
		int *fds[] = { &fd, &cpu, &peak, &events, &kill };
		for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
			close_if(fds[i]);
		rmdir(leaf);
		return -1;
	}
	/* The new leaf takes the program's place: its accounting, its limits (none written yet). */
	close_if(&cg->cpu_fd), close_if(&cg->peak_fd), close_if(&cg->events_fd), close_if(&cg->kill_fd);
	cg->cpu_fd = cpu, cg->peak_fd = peak, cg->events_fd = events, cg->kill_fd = kill;
	char previous[512];
	snprintf(previous, sizeof previous, "%s", cg->dirs[cg->prog_index]);
	snprintf(cg->dirs[cg->prog_index], sizeof cg->dirs[cg->prog_index], "%s", leaf);
	cg->lim_memory = cg->lim_processes = cg->lim_quota = -1;
	/* A fresh leaf's cpuset.cpus is empty (the parent's CPUs), whatever the previous leaf had: the
	 * list must be written again, or a program placed like the one before would run on every CPU. */
	cg->lim_cpus[0] = 0;
	if (remove_leaf(previous) < 0) {
		if (c->held.nstale == HELD_MAX_STALE) {
			close(fd);
			return cerr_set(e, errno, "cgroup: rmdir %s (and %d earlier program leaves stay busy)", previous, HELD_MAX_STALE);
		}
		snprintf(c->held.stale[c->held.nstale++], sizeof c->held.stale[0], "%s", previous);
	}
	if (cg_set_limits(cg, s, e) < 0) {
		close(fd);
		return -1;
	}
	*dirfd = fd;
	return 0;
}

int held_next_program(struct corral_container *c, const corral_spec *s, corral_error *e)
{
	int dirfd = -1;
	if (c->cg.version == 2 && next_leaf_v2(c, s, &dirfd, e) < 0)
		return cerr_where(e, CORRAL_E_CGROUP, "held-cgroup");
	/* What the reports say from here on is the next program's. */
	c->t_ready_us = 0;
	memset(&c->fail, 0, sizeof c->fail);
	int rc = wire_send_next(c, dirfd, e);
	close_if(&dirfd);
	return rc;
}

void held_release(struct corral_container *c)
{
	for (int i = 0; i < c->held.nstale; i++)
		remove_leaf(c->held.stale[i]);
	c->held.nstale = 0;
}
