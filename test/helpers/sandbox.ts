// Shared by the sandbox tests: the host, the busybox image, and before/after snapshots of
// everything a run could leave behind (mounts, cgroups, run dirs, volumes, processes).
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  SandboxHost, type ConnectOptions, type ConnectedOutcome, type SandboxOutcome, type SandboxSpec, type StreamingOptions, type StreamingRun, type Volume,
} from '../../worker/sandbox/index.ts';
import { cgroupParentDirs } from '../../worker/sandbox/cgroups.ts';
import { imageLayers } from '../../rootfs-images/builder.ts';

let host: SandboxHost | undefined;

/** The test process's sandbox host, opened on first use (the product has no default host: the
 * worker opens its own and passes it down; a test file shares one, as a worker does). */
export function testHost(): SandboxHost {
  host ??= SandboxHost.open();
  return host;
}

/**
 * Under the cgroup v2 test kernel (User-Mode-Linux: every fork and exec takes ~30 ms), the time
 * limits a spec leaves out are more generous than a run's defaults (2 s CPU, 5 s wall), so a
 * shell loop of a few dozen commands is not cut short; elsewhere nothing changes.
 */
export function slowHostLimits(): { cpuMs?: number; wallMs?: number } {
  return process.env.CG2_VM ? { cpuMs: 10_000, wallMs: 20_000 } : {};
}

function withSlowHostLimits(spec: SandboxSpec): SandboxSpec {
  return process.env.CG2_VM ? { ...spec, limits: { ...slowHostLimits(), ...spec.limits } } : spec;
}

/** host.run, on the test host unless another is given. */
export function runInSandbox(spec: SandboxSpec, on: SandboxHost = testHost()): Promise<SandboxOutcome> {
  return on.run(withSlowHostLimits(spec));
}

/** host.stream, on the test host unless another is given. */
export function runStreaming(spec: SandboxSpec, options: StreamingOptions, on: SandboxHost = testHost()): StreamingRun {
  return on.stream(withSlowHostLimits(spec), options);
}

/** host.connect, on the test host. */
export function connectInSandbox(first: SandboxSpec, second: SandboxSpec, signal?: AbortSignal, options?: ConnectOptions): Promise<ConnectedOutcome> {
  return testHost().connect(withSlowHostLimits(first), withSlowHostLimits(second), signal, options);
}

/** host.createVolume, on the test host unless another is given. */
export function createVolume(options: { sizeBytes: number; host?: SandboxHost }): Promise<Volume> {
  return (options.host ?? testHost()).createVolume({ sizeBytes: options.sizeBytes });
}

/** The busybox test image's layers, built on first use (a second or two). */
export function busyboxLayers(): Promise<string[]> {
  return imageLayers('busybox');
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Processes whose cgroup is one of this host's runs. */
export function processesInOurRuns(h: SandboxHost): number[] {
  const pids: number[] = [];
  for (const pid of list('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`corral-${h.tag}-`)) pids.push(Number(pid));
    } catch {
      /* exited while we looked */
    }
  }
  return pids;
}

/** The filesystem type mounted at `dir` in this process's namespace (the topmost), or undefined. */
export function fsTypeMountedAt(dir: string): string | undefined {
  let type: string | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [fields, after] = line.split(' - ');
    if (fields?.split(' ')[4] === dir) type = after?.split(' ')[0];
  }
  return type;
}

/** Everything named after this process's runs: identical before and after a clean run. */
export function snapshot(h: SandboxHost): string {
  const mine = (name: string) => name.includes(`corral-${h.tag}-`);
  // A container's scratch is mounted over the runs directory in its own namespace only: a mount
  // there in ours would be one that propagated out.
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '')
    .filter((m) => mine(m) || m === h.runsDir || m.startsWith(`${h.runsDir}/`));
  const cgroups = cgroupParentDirs(h.cgroups).flatMap((d) => list(d).filter(mine).map((n) => join(d, n)));
  const runs = list(h.runsDir).filter(mine);
  const volumes = list(h.volumesDir).filter(mine);
  return JSON.stringify({ mounts, cgroups, runs, volumes, processes: processesInOurRuns(h) });
}

/** The snapshot once every background teardown of the host has finished. */
export async function settledSnapshot(h: SandboxHost): Promise<string> {
  await h.settle();
  return snapshot(h);
}

/**
 * Inside a describe(): snapshots the test host once the suite's earlier before() hooks have run,
 * and at the suite's end checks, once every background teardown has finished, that its runs left
 * nothing behind.
 */
export function expectNothingLeftBehind(message = 'a run left something behind'): void {
  let start: string;
  before(() => { start = snapshot(testHost()); });
  after(async () => assert.equal(await settledSnapshot(testHost()), start, message));
}

export const NAMESPACES = ['pid', 'mnt', 'uts', 'ipc', 'net', 'user', 'cgroup', 'time'] as const;

/** The host's namespace ids, e.g. { pid: 'pid:[4026531836]', … }. */
export function hostNamespaces(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const ns of NAMESPACES) if (existsSync(`/proc/self/ns/${ns}`)) out[ns] = readlinkSync(`/proc/self/ns/${ns}`);
  return out;
}
