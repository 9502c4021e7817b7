// runInSandbox(): a SandboxSpec in, a SandboxOutcome out. Fills defaults, prepares what the
// native launcher needs (lowerdir string, init layer, PATH candidates, a unique name) and calls
// corral_run on a libuv thread-pool thread through koffi, so the event loop never blocks.
import { constants } from 'node:os';
import { defaultSandboxHost, SANDBOX_ID, type SandboxHost } from './host.ts';
import { initLayerFor } from './init-layer.ts';
import { loadNative, type NativeOutcome, type NativeSpec } from './native.ts';
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

/**
 * Runs one program in a fresh container: a warm one from the host's pool when it has one for
 * this image (built ahead, used once), else one built now (the cold path). Either way the
 * container is destroyed in the background after the outcome is known, off the request path.
 * `spec.signal` aborts the run: the container is killed and the outcome says `cancelled`.
 */
export async function runInSandbox(spec: SandboxSpec, host: SandboxHost = defaultSandboxHost()): Promise<SandboxOutcome> {
  const nativeSpec = nativeSpecFor(spec, host);
  const native = loadNative();
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 100) / 100;
  if (spec.signal?.aborted) return failedOutcome('cancelled', 'cancelled before it started', 0);
  let container = host.pool?.take(nativeSpec, spec.imageName);
  const pooled = container !== undefined;
  if (!container) {
    try {
      container = await native.prepareNow(nativeSpec);
    } catch (err) {
      return failedOutcome('internal_error', (err as Error).message, elapsed());
    }
  }
  const prepared = container;
  const cancel = () => native.cancel(prepared);
  spec.signal?.addEventListener('abort', cancel, { once: true });
  if (spec.signal?.aborted) cancel(); // aborted while the container was being prepared
  const out: Partial<NativeOutcome> = {};
  try {
    await native.dispatch(prepared, nativeSpec, out);
  } finally {
    spec.signal?.removeEventListener('abort', cancel);
    host.discard(prepared);
  }
  const outcome = toOutcome(out as NativeOutcome);
  outcome.timings.totalMs = elapsed();
  if (pooled) outcome.timings.pooled = true;
  host.pool?.recordRun(nativeSpec, outcome.wallMs);
  return outcome;
}
