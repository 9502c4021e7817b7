/*
 * corral-run: the launcher without Node.js, for operators and for measuring (strace, perf).
 *   corral-run -l LOWERDIRS [-b BOXDIR] [-t CPU_MS] [-w WALL_MS] [-m MEM_BYTES] [-n RUNS] -- PROGRAM ARGS...
 * Needs cgroup v1 parents at /sys/fs/cgroup/{memory,cpu,cpuacct,pids}/corral (made by
 * `corral sandbox` on first use) and a runs directory (default /var/lib/corral/runs).
 * PROGRAM must be an absolute path. Prints one line of numbers per run.
 */
#include "../include/corral.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	corral_spec s;
	memset(&s, 0, sizeof s);
	s.runs_root = "/var/lib/corral/runs";
	s.cwd = "/";
	s.hostname = "corral";
	s.dev_dir = "/var/lib/corral/dev";
	s.empty_dir = "/var/lib/corral/empty";
	s.id_base = 1000000, s.sandbox_uid = 1000, s.sandbox_gid = 1000;
	s.cgroup_version = 1;
	s.cg_memory = "/sys/fs/cgroup/memory/corral";
	s.cg_cpu = "/sys/fs/cgroup/cpu/corral";
	s.cg_cpuacct = "/sys/fs/cgroup/cpuacct/corral";
	s.cg_pids = "/sys/fs/cgroup/pids/corral";
	/* A run's defaults, as in services/core/limit-defaults.ts (test/sandbox/limit-defaults.test.ts
	 * checks they agree). */
	s.cpu_ms = 2000, s.wall_ms = 5000, s.memory_bytes = 256 << 20, s.processes = 64;
	s.output_bytes = 1 << 20, s.disk_bytes = 64 << 20, s.shm_bytes = 64 << 20, s.nofile = 256;
	s.fsize_bytes = 64 << 20;
	s.cpu_quota_us = 100000;
	s.stdin_fd = s.stdout_fd = s.stderr_fd = -1; /* not streamed: stdin empty, output captured */
	int runs = 1, opt;
	while ((opt = getopt(argc, argv, "l:b:t:w:m:n:r:")) != -1) {
		switch (opt) {
		case 'l': s.lowerdirs = optarg; break;
		case 'b': s.box_dir = optarg; s.cwd = "/box"; break;
		case 't': s.cpu_ms = atoll(optarg); break;
		case 'w': s.wall_ms = atoll(optarg); break;
		case 'm': s.memory_bytes = atoll(optarg); break;
		case 'n': runs = atoi(optarg); break;
		case 'r': s.runs_root = optarg; break;
		default: fprintf(stderr, "usage: corral-run -l LOWERDIRS [-b BOX] [-t CPU_MS] [-w WALL_MS] [-m BYTES] [-n RUNS] -- PROGRAM ARGS...\n"); return 2;
		}
	}
	if (!s.lowerdirs || optind >= argc || argv[optind][0] != '/') {
		fprintf(stderr, "corral-run: -l LOWERDIRS and an absolute PROGRAM are required\n");
		return 2;
	}
	const char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	const char *paths[] = { argv[optind], NULL };
	s.argv = (const char *const *)&argv[optind];
	s.envp = envp;
	s.exec_paths = paths;
	char name[64];
	int rc = 0;
	for (int i = 0; i < runs; i++) {
		snprintf(name, sizeof name, "corral-%d-0-%d", (int)getpid(), i); /* owner pid, no start time */
		s.name = name;
		corral_outcome o;
		corral_run(&s, &o);
		if (runs == 1) {
			fwrite(o.stdout_buf, 1, (size_t)o.stdout_len, stdout);
			fwrite(o.stderr_buf, 1, (size_t)o.stderr_len, stderr);
		}
		printf("status=%d exit=%d signal=%d cpu_us=%lld wall_us=%lld mem=%lld total_us=%lld cg=%lld ns=%lld mnt=%lld exec=%lld td=%lld %s\n",
		       o.status, o.exit_code, o.signal, (long long)o.cpu_us, (long long)o.wall_us,
		       (long long)o.memory_peak_bytes, (long long)o.t_total_us, (long long)o.t_cgroup_us,
		       (long long)o.t_namespaces_us, (long long)o.t_mounts_us, (long long)o.t_exec_us,
		       (long long)o.t_teardown_us, o.error.message);
		corral_free(o.stdout_buf);
		corral_free(o.stderr_buf);
		if (o.status == CORRAL_INTERNAL_ERROR)
			rc = 1;
	}
	return rc;
}
