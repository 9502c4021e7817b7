// The contract between the sandbox's callers and the native sandbox.
// Units are in the names (Ms, Bytes, Kb); every limit is enforced by the kernel or the
// launcher's supervision loop, never by trusting the program.

import type { SandboxError } from './errors.ts';
import type { Transcript } from './relay.ts';

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
  /**
   * CPU placement: the host CPUs (ids from `host.placementCpus`) the program may run on; its
   * affinity mask, so `nproc`, `sched_getaffinity` and the truthful /proc's CPU count, says as
   * many. Absent: every CPU the host places runs on. The caller chooses them (the worker, from its
   * slots); the sandbox knows nothing of slots. A spec with one on a host without placement is
   * refused.
   */
  cpuset?: readonly number[];
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
  /** For internal_error: what failed and where (e.g. "mount overlay: Invalid argument"); for a
   * program that could not start (runtime_error, exit 127): why; for cancelled: "cancelled". */
  error?: string;
  /** For internal_error: the sandbox's failure, structured (code, errno, step, op). */
  failure?: SandboxError;
  timings: SandboxTimings;
}

/** What a streaming run does with the program's stdio (SandboxHost.stream). */
export interface StreamingOptions {
  /** Give the program a pipe as stdin, written with StreamingRun.write/end (else spec.stdin as usual). */
  stdinPipe?: boolean;
  /** Called with each piece of output as the program writes it, in order, until the cap. */
  onStdout(chunk: Buffer): void;
  onStderr(chunk: Buffer): void;
  /** Most bytes of stdout and stderr together; past it nothing more is passed on and the run is
   * stopped: status output_limit, with the stream that went over marked truncated. */
  maxOutputBytes: number;
}

/** A running program's use of its container so far (its cgroup: the program and its descendants). */
export interface SandboxUsage {
  /** Memory charged now (v1 memory.usage_in_bytes, v2 memory.current: RSS and page cache), bytes. */
  memoryBytes: number;
  /** The most it was charged since the run started (v1 memory.max_usage_in_bytes, v2 memory.peak), bytes; null where the kernel has no peak (v2 before Linux 5.19). */
  memoryPeakBytes: number | null;
  /** CPU time, user + system, ms. */
  cpuMs: number;
}

/** A program running with streamed stdio. */
export interface StreamingRun {
  /** Writes to the program's stdin; false when stdin is not a pipe or is already closed. */
  write(data: string | Buffer): boolean;
  /** Closes the program's stdin (it reads EOF once it has read what was written). */
  end(): void;
  /** Sends a signal (name or number) to every process of the run; false when none got it. */
  kill(signal: string | number): boolean;
  /** What the run has used so far, from its cgroup; undefined while it is not running (before its start, after its end). */
  usage(): SandboxUsage | undefined;
  /** Resolves once the run is over and every byte of its output has been passed on. */
  readonly outcome: Promise<SandboxOutcome>;
}

/** How two programs are connected (SandboxHost.connect). */
export interface ConnectOptions {
  /**
   * Record the exchange, both directions in the order it passed, up to this many bytes (each
   * entry costs TRANSCRIPT_ENTRY_COST_BYTES more). The bytes are then relayed through this process
   * (with backpressure) instead of going from container to container; absent or 0: not recorded.
   */
  transcriptBytes?: number;
}

/** Two programs whose stdio is connected (SandboxHost.connect): each one's stdout is the other's stdin. */
export interface ConnectedOutcome {
  first: SandboxOutcome;
  second: SandboxOutcome;
  /** With ConnectOptions.transcriptBytes: what each wrote to the other, in order. */
  transcript?: Transcript;
  /**
   * When each one ended, in ms from the connect call: when its job was dispatched plus its wall
   * time — one clock for both (their wallMs each start at their own container's release, and the
   * two containers can be ready far apart: one warm, one built cold).
   */
  endedMs: { first: number; second: number };
}

/** What a held container is (SandboxHost.hold): the image, /box, hostname and disk its programs share. */
export interface HoldSpec {
  layers: string[];
  /** The job volume at /box, there for every program (attached by the first that starts). */
  box?: SandboxSpec['box'];
  hostname?: string;
  /** The image's name, for the warm pool's metrics. */
  imageName?: string;
  /** Size of the writable tmpfs (root upper layer, /tmp) that every program shares. */
  diskBytes?: number;
  /**
   * The host CPUs every program runs on (as spec.cpuset: among host.placementCpus). The container
   * is built on them, and each program is placed on them before it starts — on cgroup v2 each
   * program's fresh cgroup leaf gets the list too. A program's own `cpuset` replaces it for that
   * program. Absent: every program on all of the host's placement CPUs (unless it names its own).
   */
  cpuset?: readonly number[];
}

/** One program of a held container: what a SandboxSpec says about the program, not the container. */
export type HeldProgramSpec = Omit<SandboxSpec, 'layers' | 'box' | 'hostname' | 'imageName'>;

/**
 * A container held open across several programs (SandboxHost.hold). Each run() is a new program
 * process in the same namespaces, mounts, /box and cgroup tree, started once the previous program
 * and everything it left running are gone; each has its own outcome and limits. Runs are
 * serialised (a run() called while one is under way starts after it).
 */
export interface HeldContainer {
  run(program: HeldProgramSpec): Promise<SandboxOutcome>;
  /** Programs dispatched so far. */
  readonly programs: number;
  /** The container came from the warm pool. */
  readonly pooled: boolean;
  /** Stops the program under way (its outcome says cancelled), cancels the queued ones, then
   * destroys the container (idempotent). SandboxHost.close() closes those still open. */
  close(): Promise<void>;
}
