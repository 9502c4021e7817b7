// A SandboxSpec → the launcher's native spec: defaults filled in, paths checked, the init layer
// and PATH candidates prepared, a name unique in the process. Pure but for the init layer, made
// on first use.
import { SANDBOX_ID, type HostContext } from './context.ts';
import { SandboxError } from './errors.ts';
import { initLayerFor } from './init-layer.ts';
import type { NativeSpec } from './native.ts';
import type { SandboxLimits, SandboxSpec } from './types.ts';

const MiB = 1024 * 1024;

/**
 * What a spec gets for a limit it leaves out: the same values as a run's API defaults
 * (services/core/limit-defaults.ts), written here because the sandbox imports nothing above it;
 * test/sandbox/limit-defaults.test.ts fails when the two (or native/cli/corral-run.c) disagree.
 */
export const DEFAULT_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  cpuMs: 2_000,
  wallMs: 5_000,
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

const invalid = (message: string) => new SandboxError('spec', message, { step: 'validate' });

/** Paths overlayfs options can carry: absolute, no ':' ',' or newline. */
function checkLayerPath(path: string): string {
  if (!path.startsWith('/') || /[:,\n\0\\]/.test(path)) throw invalid(`layer path not usable in an overlay: ${JSON.stringify(path)}`);
  return path;
}

function execCandidates(program: string, env: Record<string, string>): string[] {
  if (program.includes('/')) return [program];
  return (env.PATH ?? DEFAULT_PATH).split(':').filter((dir) => dir.startsWith('/')).map((dir) => `${dir}/${program}`);
}

/** Throws SandboxError('spec') naming what is wrong. */
export function checkSpec(spec: SandboxSpec): void {
  if (!spec.layers?.length) throw invalid('spec.layers: at least one image layer is required');
  if (!spec.argv?.length || !spec.argv[0]) throw invalid('spec.argv: a program is required');
  for (const s of [...spec.argv, ...Object.keys(spec.env ?? {}), ...Object.values(spec.env ?? {})]) {
    if (s.includes('\0')) throw invalid('spec.argv/env: strings cannot contain NUL bytes');
  }
  if (Object.keys(spec.env ?? {}).some((k) => !k || k.includes('='))) throw invalid('spec.env: bad variable name');
  if (spec.box?.lowerDirs?.length && !spec.box.workDir) throw invalid('spec.box.workDir is required with lowerDirs');
  if (spec.cpuset !== undefined && (!spec.cpuset.length || spec.cpuset.some((cpu) => !Number.isInteger(cpu) || cpu < 0 || cpu > 4095))) {
    throw invalid('spec.cpuset: a non-empty list of CPU numbers');
  }
  if (spec.hostname !== undefined && !/^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/.test(spec.hostname)) throw invalid('spec.hostname: 1 to 64 letters, digits, dots and dashes');
}

export function shmBytes(diskBytes: number): number {
  return Math.min(diskBytes, 64 * MiB);
}

/** The launcher's spec for this run: container fields (image, hostname, disk) and job fields. */
export function nativeSpecFor(spec: SandboxSpec, host: HostContext): NativeSpec {
  checkSpec(spec);
  const limits: SandboxLimits = { ...DEFAULT_LIMITS, ...spec.limits };
  const hostname = spec.hostname ?? 'corral';
  const env = spec.env ?? { PATH: DEFAULT_PATH, HOME: spec.box ? '/box' : '/tmp', LANG: 'C.UTF-8' };
  const layers = spec.layers.map(checkLayerPath);
  const initLayer = initLayerFor(host, layers, hostname);
  const cg = host.cgroups;
  if (spec.cpuset && !spec.cpuset.every((cpu) => host.placementCpus?.includes(cpu))) {
    throw invalid(host.placementCpus ? `spec.cpuset: CPUs ${spec.cpuset.join(',')} are not all among this host's ${host.placementCpus.join(',')}` : 'spec.cpuset: this host places no CPUs (no cpuset controller, or placement off)');
  }
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
    proc_view_dir: host.procViewDir,
    cg_cpuset: cg.version === 1 ? cg.cpuset ?? null : cg.cpuset ? cg.unified : null,
    cpuset_cpus: spec.cpuset ? [...new Set(spec.cpuset)].sort((a, b) => a - b).join(',') : null,
  };
}
