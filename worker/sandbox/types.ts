// The contract between the job pipeline and the native sandbox.
// Units are in the names (Ms, Bytes, Kb); every limit is enforced by the kernel or the
// launcher's supervision loop, never by trusting the program.

export interface SandboxLimits {
  /** CPU time summed over every process of the run (cgroup accounting). */
  cpuMs: number;
  /** Wall clock from the moment the program is released until it ends. */
  wallMs: number;
  /** Memory (RSS + page cache + kernel memory charged to the run's cgroup); swap is off. */
  memoryBytes: number;
  /** Maximum number of tasks (processes + threads) alive at once (pids cgroup). */
  processes: number;
  /** Captured bytes per stream (stdout, stderr); the run is stopped once a cap is hit. */
  outputBytes: number;
  /** Size of the run's writable tmpfs (root filesystem upper layer, /tmp). */
  diskBytes: number;
  /** RLIMIT_FSIZE: largest file the program may write. */
  fileSizeBytes: number;
  /** RLIMIT_NOFILE. */
  openFiles: number;
  /** RLIMIT_STACK (0 = unlimited, as judges usually want for deep recursion). */
  stackBytes: number;
  /** CPU bandwidth: how many CPUs' worth of time per period the run may use (cfs quota). */
  cpus: number;
}

export interface SandboxSpec {
  /** Read-only image layers as absolute host paths, bottom (base) first. */
  layers: string[];
  /** Program and arguments; argv[0] is looked up in PATH (from env) if it has no '/'. */
  argv: string[];
  /** The program's whole environment; nothing is inherited from the host. */
  env?: Record<string, string>;
  /** Working directory inside the container (default /box). */
  cwd?: string;
  /** The job volume: a host directory mounted read-write at /box. */
  box?: {
    dir: string;
    /**
     * Optional read-only lower layers for /box (bottom first). When given, /box is an overlay of
     * these with `dir` as its writable upper layer, so a run cannot change what the next one sees.
     */
    lowerDirs?: string[];
    /** Overlay workdir (empty, same filesystem as dir); required with lowerDirs (Volume.workDir). */
    workDir?: string;
  };
  /** Bytes fed to the program's stdin (default: empty, EOF at once). */
  stdin?: string | Buffer;
  /** Aborting it kills the run; its outcome then says `cancelled`. */
  signal?: AbortSignal;
  /** Send stderr into the stdout stream (Judge0's redirect_stderr_to_stdout). */
  mergeStderr?: boolean;
  limits?: Partial<SandboxLimits>;
  /** The image's name, for the warm pool's metrics. */
  imageName?: string;
  /** Hostname inside the container (default "corral"). */
  hostname?: string;
}

export type SandboxStatus =
  | 'ok'
  | 'runtime_error'
  | 'time_limit'
  | 'memory_limit'
  | 'output_limit'
  | 'internal_error'
  /** The caller aborted it (spec.signal). */
  | 'cancelled';

export interface SandboxTimings {
  /** Creating the cgroup and writing its limits. */
  cgroupMs: number;
  /** clone() of the container init with all namespaces, uid/gid maps, release. */
  namespacesMs: number;
  /** Inside the container: hostname, overlay, /proc, /dev, /box, pivot_root. */
  mountsMs: number;
  /** From release to the program's execve (attach, caps, seccomp, rlimits). */
  execMs: number;
  /** Killing what is left and removing the cgroup: 0 here, because it happens after the outcome, in
   * the background (SandboxHost.teardownMsAvg has the figure). */
  teardownMs: number;
  /** Everything, from the call to the outcome. */
  totalMs: number;
  /** The container came from the warm pool: namespaces, cgroup and mounts were built ahead. */
  pooled?: boolean;
  /** The first container's mount plan failed (before any of the job ran); this is the second. */
  setupRetried?: boolean;
}

export interface SandboxOutcome {
  status: SandboxStatus;
  /** Which limit stopped the run, when one did. */
  limit?: 'cpu' | 'wall' | 'memory' | 'output';
  /** The exit code, when the program exited (null when killed by a signal). */
  exitCode: number | null;
  /** Signal name (e.g. "SIGSEGV") when the program was killed by one. */
  signal: string | null;
  cpuMs: number;
  wallMs: number;
  /** Peak memory of the run's cgroup, in KiB. */
  memoryKb: number;
  stdout: Buffer;
  stderr: Buffer;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** For internal_error: what failed and where (e.g. "mount overlay: Invalid argument"). */
  error?: string;
  timings: SandboxTimings;
}
