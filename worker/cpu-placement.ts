// CPU placement (docs/sandbox.md#cpu-placement): which host CPUs each run of this worker may use.
// The sandbox only applies a list (spec.cpuset); this module chooses it from the worker's slots.
// With slots <= CPUs, every run that holds a slot gets CPUs no other run holds — so a neighbour's
// load does not change its CPU time, and `nproc`, `sched_getaffinity`, Java's
// availableProcessors() and the truthful /proc count what it really gets. More slots than CPUs:
// no placement at all (pinning would leave a CPU idle while two runs share another).
import type { Launcher } from './launcher.ts';
import { DEFAULT_LIMITS, type HeldContainer, type HeldProgramSpec, type HoldSpec, type SandboxSpec } from './sandbox/index.ts';

export interface CpuLease {
  readonly cpus: readonly number[];
  release(): void;
}

/**
 * The worker's CPUs and how many runs are placed on each. A lease takes the CPUs with the fewest
 * runs (lowest number first), so runs that together want no more CPUs than there are never share
 * one; past that (an interactor's second container, a notebook session, or interactive sessions
 * next to busy slots), a run shares the least busy CPUs rather than wait.
 */
export class CpuLeases {
  private readonly runsOn = new Map<number, number>();

  constructor(readonly cpus: readonly number[]) {
    if (!cpus.length) throw new Error('CpuLeases: no CPUs to place runs on');
    for (const cpu of cpus) this.runsOn.set(cpu, 0);
  }

  /** Leases `count` CPUs (at least 1, at most all of them), least busy first. */
  take(count: number): CpuLease {
    const wanted = Math.min(this.cpus.length, Math.max(1, Math.ceil(count)));
    const chosen = [...this.runsOn.entries()].sort(([a, ra], [b, rb]) => ra - rb || a - b).slice(0, wanted).map(([cpu]) => cpu).sort((a, b) => a - b);
    for (const cpu of chosen) this.runsOn.set(cpu, this.runsOn.get(cpu)! + 1);
    let released = false;
    return {
      cpus: chosen,
      release: () => {
        if (released) return;
        released = true;
        for (const cpu of chosen) this.runsOn.set(cpu, this.runsOn.get(cpu)! - 1);
      },
    };
  }

  /** Runs placed on each CPU now (for tests and logs). */
  load(): Record<number, number> {
    return Object.fromEntries(this.runsOn);
  }
}

export type CpuPlacementMode = 'auto' | 'off';

/**
 * The worker's placement, or why there is none: off by configuration, no cpuset controller on
 * this host (the sandbox reports no CPUs to place on), or more run slots than CPUs.
 */
export function cpuPlacement(mode: CpuPlacementMode, hostCpus: readonly number[] | null, slots: number): { leases: CpuLeases } | { off: string } {
  if (mode === 'off') return { off: 'CORRAL_CPU_PLACEMENT=off' };
  if (!hostCpus?.length) return { off: 'no cpuset controller on this host' };
  if (slots > hostCpus.length) return { off: `${slots} run slots on ${hostCpus.length} CPUs: runs share every CPU` };
  return { leases: new CpuLeases(hostCpus) };
}

/** How many CPUs a spec's run may use (its CFS bandwidth, rounded up). */
function cpusOf(spec: Pick<SandboxSpec, 'limits'>): number {
  return spec.limits?.cpus ?? DEFAULT_LIMITS.cpus;
}

/**
 * The launcher with every run placed: each run, streamed run and each side of a connected pair
 * leases its CPUs for as long as it runs (a spec that already names its CPUs keeps them).
 */
export function placingLauncher(launcher: Launcher, leases: CpuLeases): Launcher {
  const place = (spec: SandboxSpec): { spec: SandboxSpec; lease?: CpuLease } => {
    if (spec.cpuset) return { spec };
    const lease = leases.take(cpusOf(spec));
    return { spec: { ...spec, cpuset: lease.cpus }, lease };
  };
  return {
    createVolume: (opts) => launcher.createVolume(opts),
    async run(spec, signal) {
      const placed = place(spec);
      try {
        return await launcher.run(placed.spec, signal);
      } finally {
        placed.lease?.release();
      }
    },
    stream(spec, options) {
      const placed = place(spec);
      try {
        const run = launcher.stream(placed.spec, options);
        run.outcome.then(() => placed.lease?.release(), () => placed.lease?.release());
        return run;
      } catch (err) {
        placed.lease?.release();
        throw err;
      }
    },
    async connect(first, second, signal, options) {
      const a = place(first);
      const b = place(second);
      try {
        return await launcher.connect(a.spec, b.spec, signal, options);
      } finally {
        a.lease?.release();
        b.lease?.release();
      }
    },
  };
}

/**
 * SandboxHost.hold with every program placed. The worker's Launcher has no hold today (sessions
 * stream, judging runs one-shot programs), so nothing in the worker calls this yet; whoever gives
 * the Launcher a hold wraps it here, or a held container's programs would run on every CPU, beside
 * the placed runs of the other slots.
 *
 * A held container leases per program, not for its lifetime: between programs it is an idle init,
 * and a container held across a session's idle minutes must not keep a CPU from the other slots.
 * Each program leases ⌈cpus⌉ CPUs for as long as it runs, like a one-shot run; the sandbox writes
 * them into that program's cgroup before it starts (on v2 a fresh leaf per program). A hold spec
 * or program that already names its CPUs keeps them and leases nothing.
 */
export function placingHold(hold: (spec: HoldSpec) => Promise<HeldContainer>, leases: CpuLeases): (spec: HoldSpec) => Promise<HeldContainer> {
  return async (spec) => {
    const held = await hold(spec);
    if (spec.cpuset) return held;
    return {
      get programs() { return held.programs; },
      get pooled() { return held.pooled; },
      close: () => held.close(),
      async run(program: HeldProgramSpec) {
        if (program.cpuset) return held.run(program);
        // Leased when the program is handed over, not when it starts: run() calls queue, so an
        // overlapping caller holds its CPUs while it waits (held programs never run at once).
        const lease = leases.take(cpusOf(program));
        try {
          return await held.run({ ...program, cpuset: lease.cpus });
        } finally {
          lease.release();
        }
      },
    };
  };
}
