// npm run bench:fairness — CPU placement (docs/sandbox.md#cpu-placement), measured in one run:
//  1. Timing fairness: the CPU time of a fixed ~500 ms CPU-bound program (busybox awk) alone vs.
//     with the other slot busy (a spinning neighbour), with placement (target and neighbour each on
//     a CPU of their own, as a 2-slot worker places them) and without (both on every CPU);
//     rounds interleaved so that the machine's other load falls on all four alike. The spread is
//     |median busy / median alone − 1| per mode (the issue's target: ≤ 3 %).
//  2. Placement's cost per run: cold runs with and without a cpuset cgroup (one more mkdir, join
//     and rmdir), and pooled dispatches whose CPUs differ from the container's (one cpuset.cpus
//     write, which moves the waiting program's affinity) vs. the same CPUs (no write).
// Not a test: it prints ratios, never fails on a number (this machine is shared and noisy).
import { SandboxHost, type SandboxOutcome, type SandboxSpec } from '../worker/sandbox/index.ts';
import { imageLayers } from '../rootfs-images/builder.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const COST_RUNS = Number(process.env.BENCH_N ?? 150);
const TARGET_CPU_MS = 500;

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const p = (xs: number[], q: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]!; };
const f = (x: number, d = 2) => x.toFixed(d);

const busyboxLayers = () => imageLayers('busybox');

function ok(o: SandboxOutcome, what: string): SandboxOutcome {
  if (o.status !== 'ok') throw new Error(`bench: ${what} ended ${o.status}: ${o.error ?? o.stderr.toString()}`);
  return o;
}

async function main() {
  const layers = await busyboxLayers();
  const host = SandboxHost.open();
  const unplaced = SandboxHost.open({ cpuPlacement: false });
  const cpus = host.placementCpus;
  if (!cpus || cpus.length < 2) {
    console.log(`bench:fairness needs CPU placement with 2 CPUs or more (this host: ${cpus ? `${cpus.length} CPU` : 'no cpuset controller'})`);
    await Promise.all([host.close(), unplaced.close()]);
    return;
  }
  const [neighbourCpu, targetCpu] = [cpus[0]!, cpus[1]!];
  const awk = (n: number): SandboxSpec => ({ layers, argv: ['awk', `BEGIN { for (i = 0; i < ${n}; i++) s += i * 2; print s }`], limits: { cpus: 1, cpuMs: 20_000, wallMs: 60_000 } });

  // Calibrate the loop to ~500 ms of CPU (alone, placed).
  let n = 2_000_000;
  const probes: number[] = [];
  for (let i = 0; i < 3; i++) probes.push(ok(await host.run({ ...awk(n), cpuset: [targetCpu] }), 'calibration').cpuMs);
  n = Math.round(n * TARGET_CPU_MS / Math.max(1, median(probes)));
  console.log(`bench:fairness — cgroup v${host.cgroups.version}; CPUs ${cpus.join(',')}; target: awk loop of ${n} (${TARGET_CPU_MS} ms CPU); ${ROUNDS} rounds; load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}`);

  const samples = { placedAlone: [] as number[], placedBusy: [] as number[], sharedAlone: [] as number[], sharedBusy: [] as number[] };
  const once = async (placed: boolean, busy: boolean): Promise<number> => {
    const on = placed ? host : unplaced;
    const stop = new AbortController();
    const spin: SandboxSpec = { layers, argv: ['awk', 'BEGIN { for (;;) s++ }'], signal: stop.signal, limits: { cpus: 1, cpuMs: 120_000, wallMs: 120_000 } };
    const neighbour = busy ? on.run(placed ? { ...spin, cpuset: [neighbourCpu] } : spin) : undefined;
    try {
      if (neighbour) await new Promise((r) => setTimeout(r, 100)); // spinning before the target starts
      return ok(await on.run(placed ? { ...awk(n), cpuset: [targetCpu] } : awk(n)), 'target').cpuMs;
    } finally {
      stop.abort();
      await neighbour;
    }
  };
  for (let round = 0; round < ROUNDS; round++) {
    samples.placedAlone.push(await once(true, false));
    samples.placedBusy.push(await once(true, true));
    samples.sharedAlone.push(await once(false, false));
    samples.sharedBusy.push(await once(false, true));
  }
  const spread = (alone: number[], busy: number[]) => median(busy) / median(alone) - 1;
  console.log('\nCPU time of the target (ms): median [p10 – p90]');
  for (const [label, xs] of Object.entries(samples)) console.log(`  ${label.padEnd(12)} ${f(median(xs), 0).padStart(5)}  [${f(p(xs, 0.1), 0)} – ${f(p(xs, 0.9), 0)}]`);
  console.log(`spread, neighbour busy vs alone: with placement ${f(100 * spread(samples.placedAlone, samples.placedBusy), 1)} %, without ${f(100 * spread(samples.sharedAlone, samples.sharedBusy), 1)} % (target ≤ 3 %)`);

  // Placement's cost per run. Cold: a cpuset cgroup holding every CPU (the cgroup work alone: one
  // more mkdir, join and rmdir, the same scheduling freedom) and one pinned to a single CPU (which
  // also takes the scheduler's freedom to move the run to a less busy CPU) vs. no cpuset cgroup.
  const cold = { all: [] as number[], pinned: [] as number[], none: [] as number[] };
  const trueSpec: SandboxSpec = { layers, argv: ['true'] };
  for (let i = 0; i < COST_RUNS; i++) {
    cold.all.push(ok(await host.run({ ...trueSpec, cpuset: cpus }), 'cold, every CPU').timings.totalMs);
    cold.pinned.push(ok(await host.run({ ...trueSpec, cpuset: [cpus[i % 2]!] }), 'cold, pinned').timings.totalMs);
    cold.none.push(ok(await unplaced.run(trueSpec), 'cold, unplaced').timings.totalMs);
  }
  const row = (xs: number[]) => `${f(median(xs))} / ${f(p(xs, 0.99))}`;
  console.log(`\ncold runs of \`true\` (${COST_RUNS} each, interleaved), whole run p50 / p99 ms:`);
  console.log(`  no cpuset cgroup ${row(cold.none)};  cpuset of every CPU ${row(cold.all)} (ratio p50 ${f(median(cold.all) / median(cold.none))});  pinned to one CPU ${row(cold.pinned)} (ratio p50 ${f(median(cold.pinned) / median(cold.none))})`);
  await host.settle();

  // Pooled: two pools, each built on one CPU (its first job's); a dispatch to the pool's own CPU
  // writes nothing, one to the other CPU writes cpuset.cpus (the kernel moves the waiting program).
  const pools = [SandboxHost.open({ pool: { maxWarm: 2, maxPerImage: 2 } }), SandboxHost.open({ pool: { maxWarm: 2, maxPerImage: 2 } })];
  const warm = { same: [] as number[], moved: [] as number[] };
  const waitWarm = async (pool: SandboxHost) => { for (let i = 0; i < 300 && !pool.pool!.stats().some((st) => st.warm > 0); i++) await new Promise((r) => setTimeout(r, 10)); };
  for (const [k, pool] of pools.entries()) ok(await pool.run({ ...trueSpec, cpuset: [cpus[k]!] }), 'pool template');
  for (let i = 0; i < COST_RUNS; i++) {
    for (const [k, pool] of pools.entries()) {
      // Which goes first alternates, so that neither always follows the other's pool refill.
      for (const moved of i % 2 ? [false, true] : [true, false]) {
        await waitWarm(pool);
        const r = ok(await pool.run({ ...trueSpec, cpuset: [cpus[moved ? 1 - k : k]!] }), 'pooled');
        if (r.timings.pooled) (moved ? warm.moved : warm.same).push(r.timings.totalMs);
      }
    }
  }
  console.log(`pooled dispatches (${warm.same.length} / ${warm.moved.length} hits), whole run p50 / p99 ms: on the container's CPU ${row(warm.same)}, on the other (cpuset.cpus written at dispatch) ${row(warm.moved)}; ratio p50 ${f(median(warm.moved) / median(warm.same))}`);
  await Promise.all([...pools.map((h) => h.close()), host.close(), unplaced.close()]);
}

await main();
