// runInSandbox(): a SandboxSpec in, a SandboxOutcome out. Fills defaults, prepares what the
// native launcher needs (lowerdir string, init layer, PATH candidates, a unique name) and calls
// corral_run on a libuv thread-pool thread through koffi, so the event loop never blocks.
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { defaultSandboxHost, SANDBOX_ID, type SandboxHost } from './host.ts';
import { initLayerFor } from './init-layer.ts';
import { loadNative, type NativeContainer, type NativeOutcome, type NativeSpec } from './native.ts';
import type { SandboxLimits, SandboxOutcome, SandboxSpec, SandboxStatus } from './types.ts';

const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  cpuMs: 5000,
  wallMs: 10000,
  memoryBytes: 256 * MiB,
  processes: 64,
  outputBytes: 1 * MiB,
  diskBytes: 64 * MiB,
  fileSizeBytes: 64 * MiB,
  openFiles: 256,
  stackBytes: 0,
  cpus: 1,
});

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const STATUS: SandboxStatus[] = ['ok', 'runtime_error', 'time_limit', 'memory_limit', 'output_limit', 'internal_error', 'cancelled'];
const LIMIT = [undefined, 'cpu', 'wall', 'memory', 'output'] as const;
// First name wins: SIGABRT rather than its alias SIGIOT.
const SIGNAL_NAMES = new Map<number, string>();
for (const [name, num] of Object.entries(constants.signals)) if (!SIGNAL_NAMES.has(num)) SIGNAL_NAMES.set(num, name);

/** Paths overlayfs options can carry: absolute, no ':' ',' or newline. */
function checkLayerPath(path: string): string {
  if (!path.startsWith('/') || /[:,\n\0\\]/.test(path)) throw new RangeError(`layer path not usable in an overlay: ${JSON.stringify(path)}`);
  return path;
}

function execCandidates(program: string, env: Record<string, string>): string[] {
  if (program.includes('/')) return [program];
  return (env.PATH ?? DEFAULT_PATH).split(':').filter((dir) => dir.startsWith('/')).map((dir) => `${dir}/${program}`);
}

function checkSpec(spec: SandboxSpec): void {
  if (!spec.layers?.length) throw new RangeError('spec.layers: at least one image layer is required');
  if (!spec.argv?.length || !spec.argv[0]) throw new RangeError('spec.argv: a program is required');
  for (const s of [...spec.argv, ...Object.keys(spec.env ?? {}), ...Object.values(spec.env ?? {})]) {
    if (s.includes('\0')) throw new RangeError('spec.argv/env: strings cannot contain NUL bytes');
  }
  if (Object.keys(spec.env ?? {}).some((k) => !k || k.includes('='))) throw new RangeError('spec.env: bad variable name');
  if (spec.box?.lowerDirs?.length && !spec.box.workDir) throw new RangeError('spec.box.workDir is required with lowerDirs');
  if (spec.hostname !== undefined && !/^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/.test(spec.hostname)) throw new RangeError('spec.hostname: 1 to 64 letters, digits, dots and dashes');
}

/** The launcher's spec for this run: container fields (image, hostname, disk) and job fields. */
export function nativeSpecFor(spec: SandboxSpec, host: SandboxHost): NativeSpec {
  checkSpec(spec);
  const limits: SandboxLimits = { ...DEFAULT_LIMITS, ...spec.limits };
  const hostname = spec.hostname ?? 'corral';
  const env = spec.env ?? { PATH: DEFAULT_PATH, HOME: spec.box ? '/box' : '/tmp', LANG: 'C.UTF-8' };
  const layers = spec.layers.map(checkLayerPath);
  const initLayer = initLayerFor(host, layers, hostname);
  const cg = host.cgroups;
  const stdin = typeof spec.stdin === 'string' ? Buffer.from(spec.stdin) : spec.stdin;
  return {
    runs_root: host.runsDir,
    name: host.nextName(),
    lowerdirs: [initLayer, ...[...layers].reverse()].join(':'),
    box_dir: spec.box?.dir ?? null,
    box_lowerdirs: spec.box?.lowerDirs?.length ? [...spec.box.lowerDirs].reverse().map(checkLayerPath).join(':') : null,
    box_workdir: spec.box?.lowerDirs?.length ? spec.box.workDir! : null,
    argv: [...spec.argv, null],
    envp: [...Object.entries(env).map(([k, v]) => `${k}=${v}`), null],
    exec_paths: [...execCandidates(spec.argv[0]!, env), null],
    cwd: spec.cwd ?? (spec.box ? '/box' : '/'),
    hostname,
    dev_dir: host.devDir,
    empty_dir: host.emptyDir,
    stdin_path: null,
    stdin_data: stdin?.length ? stdin : null,
    stdin_len: stdin?.length ?? 0,
    merge_stderr: spec.mergeStderr ? 1 : 0,
    stdin_fd: -1,
    stdout_fd: -1,
    stderr_fd: -1,
    id_base: host.idBase,
    sandbox_uid: SANDBOX_ID,
    sandbox_gid: SANDBOX_ID,
    cgroup_version: cg.version,
    cg_memory: cg.version === 1 ? cg.memory : null,
    cg_cpu: cg.version === 1 ? cg.cpu : null,
    cg_cpuacct: cg.version === 1 ? cg.cpuacct : null,
    cg_pids: cg.version === 1 ? cg.pids : null,
    cg_unified: cg.version === 2 ? cg.unified : null,
    cpu_ms: limits.cpuMs,
    wall_ms: limits.wallMs,
    memory_bytes: limits.memoryBytes,
    processes: limits.processes,
    output_bytes: limits.outputBytes,
    disk_bytes: limits.diskBytes,
    shm_bytes: shmBytes(limits.diskBytes),
    fsize_bytes: limits.fileSizeBytes,
    nofile: limits.openFiles,
    stack_bytes: limits.stackBytes,
    cpu_quota_us: Math.round(limits.cpus * 100_000),
    use_time_ns: host.hasTimeNamespace ? 1 : 0,
    proc_view_dir: null,
  };
}

export function shmBytes(diskBytes: number): number {
  return Math.min(diskBytes, 64 * MiB);
}

/** Copies the native outcome (and frees its buffers). */
export function toOutcome(o: NativeOutcome): SandboxOutcome {
  const native = loadNative();
  const stdout = native.view(o.stdout_buf, Number(o.stdout_len));
  const stderr = native.view(o.stderr_buf, Number(o.stderr_len));
  native.free(o.stdout_buf);
  native.free(o.stderr_buf);
  const ms = (us: number) => Math.round(Number(us) / 10) / 100;
  const outcome: SandboxOutcome = {
    status: STATUS[o.status] ?? 'internal_error',
    exitCode: o.exited ? o.exit_code : null,
    signal: o.signal ? (SIGNAL_NAMES.get(o.signal) ?? `SIG${o.signal}`) : null,
    cpuMs: ms(o.cpu_us),
    wallMs: ms(o.wall_us),
    memoryKb: Math.round(Number(o.memory_peak_bytes) / 1024),
    stdout,
    stderr,
    stdoutTruncated: o.stdout_truncated !== 0,
    stderrTruncated: o.stderr_truncated !== 0,
    timings: {
      cgroupMs: ms(o.t_cgroup_us),
      namespacesMs: ms(o.t_namespaces_us),
      mountsMs: ms(o.t_mounts_us),
      execMs: ms(o.t_exec_us),
      teardownMs: ms(o.t_teardown_us),
      totalMs: ms(o.t_total_us),
    },
  };
  const limit = LIMIT[o.limit];
  if (limit) outcome.limit = limit;
  if (o.error) outcome.error = o.error;
  return outcome;
}

function failedOutcome(status: 'internal_error' | 'cancelled', error: string, totalMs: number): SandboxOutcome {
  return {
    status, exitCode: null, signal: null, cpuMs: 0, wallMs: 0, memoryKb: 0,
    stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), stdoutTruncated: false, stderrTruncated: false, error,
    timings: { cgroupMs: 0, namespacesMs: 0, mountsMs: 0, execMs: 0, teardownMs: 0, totalMs },
  };
}

/** A warm container from the host's pool (or the next one its pool is building), else one prepared now; or why none could be built. */
async function acquire(spec: NativeSpec, imageName: string | undefined, host: SandboxHost): Promise<{ container: NativeContainer; pooled: boolean } | { error: string }> {
  const warm = host.pool?.take(spec, imageName) ?? await host.pool?.awaitBuilding(spec);
  if (warm) return { container: warm, pooled: true };
  try {
    return { container: await loadNative().prepareNow(spec), pooled: false };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/**
 * Runs one program in a fresh container: a warm one from the host's pool when it has one for
 * this image (built ahead, used once), else one built now (the cold path). Either way the
 * container is destroyed in the background after the outcome is known, off the request path.
 * `spec.signal` aborts the run: the container is killed and the outcome says `cancelled`.
 */
export async function runInSandbox(spec: SandboxSpec, host: SandboxHost = defaultSandboxHost()): Promise<SandboxOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 100) / 100;
  let outcome = await runOnce(spec, host, elapsed);
  if (!outcome.timings.pooled && isMountPlanFailure(outcome) && !spec.signal?.aborted) {
    // Seen about once in several thousand cold containers under load, never reproduced on
    // demand (mkdir of /proc in the fresh overlay: ENOENT or EINVAL); most likely the init's
    // EEXIST read back as the building thread's errno, gone since the container's side makes
    // raw syscalls (native/src/rawsys.h). Kept as a safety net: the container is discarded
    // before the program process exists, so one more container, built from scratch, is safe.
    host.setupRetries++;
    outcome = await runOnce(spec, host, elapsed);
    outcome.timings.setupRetried = true;
  }
  outcome.timings.totalMs = elapsed();
  return outcome;
}

/** A failure of the container's mount plan (docs/sandbox.md): nothing of the job has run yet. */
function isMountPlanFailure(o: SandboxOutcome): boolean {
  return o.status === 'internal_error' && /^container setup: (make-private|mount|mkdir|bind|create|symlink|mask|pivot_root) /.test(o.error ?? '');
}

async function runOnce(spec: SandboxSpec, host: SandboxHost, elapsed: () => number): Promise<SandboxOutcome> {
  const nativeSpec = nativeSpecFor(spec, host);
  if (spec.signal?.aborted) return failedOutcome('cancelled', 'cancelled before it started', 0);
  const got = await acquire(nativeSpec, spec.imageName, host);
  if ('error' in got) return failedOutcome('internal_error', got.error, elapsed());
  return dispatchJob(got, nativeSpec, spec.signal, host);
}

/**
 * Runs the job in the container `got` (used once): a cancel on `signal` kills it, then the
 * container is destroyed in the background and its run time feeds the pool's sizing. `onActive`
 * sees the container while the job runs (for stop and signal), then undefined.
 */
async function dispatchJob(got: { container: NativeContainer; pooled: boolean }, nativeSpec: NativeSpec, signal: AbortSignal | undefined,
  host: SandboxHost, onActive?: (container: NativeContainer | undefined) => void): Promise<SandboxOutcome> {
  const native = loadNative();
  const { container: prepared, pooled } = got;
  const cancel = () => native.cancel(prepared);
  signal?.addEventListener('abort', cancel, { once: true });
  if (signal?.aborted) cancel(); // aborted while the container was being prepared
  onActive?.(prepared);
  const out: Partial<NativeOutcome> = {};
  try {
    await native.dispatch(prepared, nativeSpec, out);
  } finally {
    onActive?.(undefined);
    signal?.removeEventListener('abort', cancel);
    host.discard(prepared);
  }
  const outcome = toOutcome(out as NativeOutcome);
  if (pooled) outcome.timings.pooled = true;
  host.pool?.recordRun(nativeSpec, outcome.wallMs);
  return outcome;
}

/** What a streaming run does with the program's stdio (runStreaming). */
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

/** A program running with streamed stdio. */
export interface StreamingRun {
  /** Writes to the program's stdin; false when stdin is not a pipe or is already closed. */
  write(data: string | Buffer): boolean;
  /** Closes the program's stdin (it reads EOF once it has read what was written). */
  end(): void;
  /** Sends a signal (name or number) to every process of the run; false when none got it. */
  kill(signal: string | number): boolean;
  /** Resolves once the run is over and every byte of its output has been passed on. */
  readonly outcome: Promise<SandboxOutcome>;
}

const LIMIT_OUTPUT = 4; // enum corral_limit
/** After the run's end every writer of its pipes is gone; EOF is only waited for this long. */
const EOF_GRACE_MS = 2000;

function closed(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), EOF_GRACE_MS);
    socket.once('close', () => { clearTimeout(timer); resolve(); });
  });
}

/**
 * Runs one program like runInSandbox, but with its stdout and stderr passed on while it runs
 * (and, with `stdinPipe`, its stdin written while it runs): the pipes are made by the launcher
 * (corral_pipe) and given to the program as fds 0/1/2 with the job. The output cap is enforced
 * here, and hitting it stops the run through the launcher's stop (the outcome says output_limit).
 */
export function runStreaming(spec: SandboxSpec, options: StreamingOptions, host: SandboxHost = defaultSandboxHost()): StreamingRun {
  const nativeSpec = nativeSpecFor(spec, host);
  const native = loadNative();
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 100) / 100;
  // Our ends are sockets; the program's ends travel with the job (dispatch owns them from then on).
  const ours: number[] = [];
  const theirs: number[] = [];
  const pipe = (): [number, number] => {
    const fds = native.pipe();
    ours.push(fds[0], fds[1]);
    return fds;
  };
  let out: [number, number], err: [number, number], inp: [number, number] | undefined;
  try {
    out = pipe();
    err = pipe();
    inp = options.stdinPipe ? pipe() : undefined;
  } catch (e) {
    for (const fd of ours) closeSync(fd);
    throw e;
  }
  nativeSpec.stdout_fd = out[1];
  nativeSpec.stderr_fd = err[1];
  theirs.push(out[1], err[1]);
  if (inp) {
    nativeSpec.stdin_fd = inp[0];
    theirs.push(inp[0]);
  }
  const stdout = new Socket({ fd: out[0], readable: true, writable: false });
  const stderr = new Socket({ fd: err[0], readable: true, writable: false });
  const stdin = inp ? new Socket({ fd: inp[1], readable: false, writable: true }) : undefined;
  stdin?.on('error', () => { /* EPIPE: the program is gone or closed its stdin */ });
  const closeTheirs = () => { for (const fd of theirs.splice(0)) closeSync(fd); };

  let active: NativeContainer | undefined;
  let streamed = 0;
  let overCap = false;
  let stopWanted = false;
  const truncated = { stdout: false, stderr: false };
  const stopForOutput = () => {
    stopWanted = true;
    if (active) native.stop(active, LIMIT_OUTPUT);
  };
  const pass = (stream: 'stdout' | 'stderr', deliver: (chunk: Buffer) => void) => (chunk: Buffer) => {
    if (overCap) return; // the run is being stopped; what is left is drained and dropped
    const room = options.maxOutputBytes - streamed;
    if (chunk.length > room) {
      chunk = chunk.subarray(0, room);
      overCap = true;
      truncated[stream] = true;
    }
    streamed += chunk.length;
    if (chunk.length > 0) deliver(chunk);
    if (overCap) stopForOutput();
  };
  stdout.on('data', pass('stdout', options.onStdout));
  stderr.on('data', pass('stderr', options.onStderr));
  stdout.on('error', () => {});
  stderr.on('error', () => {});

  const outcome = (async (): Promise<SandboxOutcome> => {
    const finish = async (o: SandboxOutcome) => {
      await Promise.all([closed(stdout), closed(stderr)]);
      stdin?.destroy();
      return o;
    };
    const giveUp = (status: 'internal_error' | 'cancelled', why: string) => {
      closeTheirs();
      stdout.destroy();
      stderr.destroy();
      return finish(failedOutcome(status, why, elapsed()));
    };
    if (spec.signal?.aborted) return giveUp('cancelled', 'cancelled before it started');
    const got = await acquire(nativeSpec, spec.imageName, host);
    if ('error' in got) return giveUp('internal_error', got.error);
    theirs.length = 0; // dispatch owns them now, on every path
    const o = await dispatchJob(got, nativeSpec, spec.signal, host, (container) => {
      active = container;
      if (container && stopWanted) native.stop(container, LIMIT_OUTPUT);
    });
    // Every process of the run is gone: the pipes hold what is left, then EOF.
    await Promise.all([closed(stdout), closed(stderr)]);
    o.timings.totalMs = elapsed();
    o.stdoutTruncated = truncated.stdout;
    o.stderrTruncated = truncated.stderr;
    // Over the cap but ended by itself before the stop took effect: still an output limit.
    if (overCap && o.status !== 'internal_error' && o.status !== 'cancelled') {
      o.status = 'output_limit';
      o.limit = 'output';
    }
    return finish(o);
  })();

  return {
    write: (data) => (stdin && stdin.writable && !stdin.writableEnded ? (stdin.write(data), true) : false),
    end: () => { stdin?.end(); },
    kill(signal) {
      const num = typeof signal === 'number' ? signal : constants.signals[signal as keyof typeof constants.signals];
      if (!active || !Number.isInteger(num) || num <= 0) return false;
      return native.signal(active, num) > 0;
    },
    outcome,
  };
}
