// npm run bench:sandbox — full-container runs of a static `true`, against two baselines
// measured in the same process and run: a bare CLONE_VM spawn of the same binary (the floor)
// and Node's child_process.spawn of it, unsandboxed; and the next program of a held container
// (host.hold) against a fresh container, cold and warm; and the truthful /proc's added cost per
// run, cold and warm (hosts with and without the view, interleaved). Not a test: it prints, it
// never fails on a number (this machine is shared and noisy).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { bareSpawn, procViewAvailable, SandboxHost, type SandboxTimings } from '../worker/sandbox/index.ts';
import { imageLayers } from '../rootfs-images/builder.ts';
import { cpuPerContainer } from './sandbox-cpu.ts';

const N = Number(process.env.BENCH_N ?? 200);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
// A worker is a long-lived Node process with a real heap, and the cost of fork-based spawning
// grows with it (page tables are copied): measure with one, as the reference figures were.
const HEAP_MB = Number(process.env.BENCH_HEAP_MB ?? 200);
const heap: unknown[] = [];

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

async function measure(label: string, once: () => Promise<unknown>, n: number, concurrency: number, gapMs = 0) {
  for (let i = 0; i < Math.min(10, n); i++) await once(); // warm-up
  const latencies: number[] = [];
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) {
        const t = performance.now();
        await once();
        latencies.push(performance.now() - t);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { label, concurrency, gapMs, ...stats(latencies), runsPerSecond: gapMs ? NaN : n / seconds };
}

/** This process's CPU time and that of its reaped children (utime, stime, cutime, cstime), ms. */
function processCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14-17 of /proc/<pid>/stat, in clock ticks (USER_HZ, 100 on Linux).
  return fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) * 10;
}

function allocateHeap(mb: number): void {
  for (let i = 0; i < mb; i++) heap.push(Array.from({ length: 1024 * 16 }, (_, j) => ({ j }))); // ~1 MiB each, touched
}

/**
 * The truthful /proc's added cost per run (issue 20's target: ≤ 0.2 ms p50, cold and warm pool):
 * runs of `true` on two hosts, one binding the view's files over each container's /proc and one
 * not, cold and from a warm pool, interleaved a run of each kind every 20 ms in turn (so a noisy
 * moment of this shared machine falls on all four alike). Cold, the binds are in the container's
 * build (mountsMs); warm, they were made ahead, off the request path.
 */
async function procViewCost(layers: string[], rounds: number): Promise<void> {
  const unavailable = procViewAvailable();
  if (unavailable) {
    console.log(`
the truthful /proc's cost per run: not measured (${unavailable})`);
    return;
  }
  const pool = { maxWarm: 2, maxPerImage: 2 };
  const plain = { cold: SandboxHost.open(), warm: SandboxHost.open({ pool }) };
  const view = { cold: SandboxHost.open(), warm: SandboxHost.open({ pool }) };
  await Promise.all([view.cold.startProcView(), view.warm.startProcView()]);
  const kinds: Array<[string, SandboxHost]> = [['cold, no view', plain.cold], ['cold, view', view.cold], ['warm pool, no view', plain.warm], ['warm pool, view', view.warm]];
  const total = new Map<string, number[]>(kinds.map(([k]) => [k, []]));
  const mounts = new Map<string, number[]>(kinds.map(([k]) => [k, []]));
  const execs = new Map<string, number[]>(kinds.map(([k]) => [k, []]));
  const misses = new Map<string, number>(kinds.map(([k]) => [k, 0]));
  try {
    for (let i = 0; i < rounds + 5; i++) {
      // Alternate which of a pair goes first, so neither is always the one after a gap.
      const order = i % 2 ? [1, 0, 3, 2] : [0, 1, 2, 3];
      for (const [kind, host] of order.map((j) => kinds[j]!)) {
        const t = performance.now();
        const r = await host.run({ layers, argv: ['/bin/true'] });
        const ms = performance.now() - t;
        if (r.status !== 'ok') throw new Error(`bench: ${kind} run failed: ${r.error ?? r.status}`);
        if (i >= 5) {
          // A warm-pool kind counts only its pool hits (a miss is a cold run).
          if (kind.startsWith('warm') && !r.timings.pooled) misses.set(kind, misses.get(kind)! + 1);
          else {
            total.get(kind)!.push(ms);
            mounts.get(kind)!.push(r.timings.mountsMs);
            execs.get(kind)!.push(r.timings.execMs);
          }
        }
        await new Promise((res) => setTimeout(res, 20));
      }
    }
  } finally {
    await Promise.all([plain.cold, plain.warm, view.cold, view.warm].map((h) => h.close()));
  }
  const fmt = (n: number) => n.toFixed(2).padStart(8);
  console.log(`
the truthful /proc's cost per run (${rounds} rounds, a run of each in turn every 20 ms; warm: pool hits only):`);
  console.log(`${''.padEnd(22)}   whole run p50      p99   mountsMs p50 (the build: cold only)  execMs p50 (job → execve)`);
  for (const [kind] of kinds) {
    const st = stats(total.get(kind)!);
    console.log(`${kind.padEnd(22)} ${fmt(st.p50)} ${fmt(st.p99)} ${fmt(stats(mounts.get(kind)!).p50)} ${fmt(stats(execs.get(kind)!).p50)}   (${total.get(kind)!.length} runs${misses.get(kind) ? `, ${misses.get(kind)} pool misses left out` : ''})`);
  }
  for (const pair of ['cold', 'warm pool']) {
    const a = stats(total.get(`${pair}, no view`)!), b = stats(total.get(`${pair}, view`)!);
    console.log(`added by the view, ${pair}: p50 ${(b.p50 - a.p50).toFixed(3)} ms (ratio ${(b.p50 / a.p50).toFixed(3)}), p99 ${(b.p99 - a.p99).toFixed(3)} ms — target ≤ 0.2 ms p50`);
  }
  const ma = stats(mounts.get('cold, no view')!).p50, mb = stats(mounts.get('cold, view')!).p50;
  console.log(`added to a cold build's mounts: p50 ${(mb - ma).toFixed(3)} ms`);
}

async function main() {
  allocateHeap(HEAP_MB);
  const layers = await imageLayers('busybox');
  // BENCH_ONLY=cpu: host CPU per container build, run and teardown, against a baseline build
  // (bench/sandbox-cpu.ts; BENCH_N containers per batch, default 50 here; BENCH_ROUNDS, default 10).
  if (process.env.BENCH_ONLY === 'cpu') {
    await cpuPerContainer(layers, Number(process.env.BENCH_N ?? 50), Number(process.env.BENCH_ROUNDS ?? 10));
    return;
  }
  // BENCH_ONLY=proc-view: only the truthful /proc's cost (BENCH_N rounds, default 200).
  if (process.env.BENCH_ONLY === 'proc-view') {
    console.log(`bench:sandbox (BENCH_ONLY=proc-view) — load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    await procViewCost(layers, N);
    console.log(`load average at the end: ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    return;
  }
  const host = SandboxHost.open();
  const busybox = layers.map((l) => join(l, 'bin/busybox')).find(existsSync);
  if (!busybox) throw new Error('bench: no bin/busybox in the busybox image');
  const timings: SandboxTimings[] = [];

  const container = async () => {
    const r = await host.run({ layers, argv: ['/bin/true'] });
    if (r.status !== 'ok') throw new Error(`bench: run failed: ${r.status} ${r.error ?? ''}`);
    timings.push(r.timings);
  };
  const bare = async () => {
    if ((await bareSpawn(busybox, 'true')) !== 0) throw new Error('bench: bare spawn failed');
  };
  const nodeSpawn = () =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(busybox, [], { argv0: 'true', stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
    });

  const heapMb = Math.round(process.memoryUsage().heapUsed / 2 ** 20);
  console.log(`bench:sandbox — ${N} runs of a static \`true\` (busybox) per row; cgroup v${host.cgroups.version}; ${process.env.UV_THREADPOOL_SIZE ?? 4} libuv threads; Node heap ${heapMb} MiB (BENCH_HEAP_MB)`);
  const rows = [];
  for (const concurrency of [1, CONCURRENCY]) {
    rows.push(await measure('bare CLONE_VM spawn (floor)', bare, N, concurrency));
    rows.push(await measure('child_process.spawn, unsandboxed', nodeSpawn, N, concurrency));
    timings.length = 0;
    rows.push(await measure('Corral full container', container, N, concurrency));
  }
  // The interactive pattern (a run every 20 ms, not a tight loop): here the cgroup attach of a
  // cold container waits for an RCU grace period; the warm pool has done it ahead of time.
  const pooledHost = SandboxHost.open({ pool: { maxWarm: 4, maxPerImage: 4 } });
  const gapRows = [
    await measure('cold, one run every 20 ms', container, Math.min(N, 100), 1, 20),
    await measure('warm pool, one run every 20 ms', async () => {
      const r = await pooledHost.run({ layers, argv: ['/bin/true'] });
      if (r.status !== 'ok') throw new Error(`bench: pooled run failed: ${r.error ?? r.status}`);
    }, Math.min(N, 100), 1, 20),
  ];
  const [poolStats] = pooledHost.pool!.stats();
  await pooledHost.close();
  // A held container's next program: a new process in the same container (its previous
  // program's processes killed and reaped first), against a fresh container per program above.
  const held = await host.hold({ layers });
  const heldProgram = async () => {
    const r = await held.run({ argv: ['/bin/true'] });
    if (r.status !== 'ok') throw new Error(`bench: held program failed: ${r.error ?? r.status}`);
  };
  gapRows.push(await measure('held container, next program', heldProgram, N, 1));
  // The same three, interleaved (a round of each every 20 ms, in turn), so a noisy moment of
  // the shared machine falls on all three alike.
  const warmHost = SandboxHost.open({ pool: { maxWarm: 4, maxPerImage: 4 } });
  const kinds: Array<[string, () => Promise<unknown>]> = [
    ['held, next program', heldProgram],
    ['fresh container, warm pool', () => warmHost.run({ layers, argv: ['/bin/true'] })],
    ['fresh container, cold', () => host.run({ layers, argv: ['/bin/true'] })],
  ];
  const interleaved = new Map<string, number[]>(kinds.map(([k]) => [k, []]));
  for (let i = 0; i < Math.min(N, 100) + 5; i++) {
    for (const [kind, once] of kinds) {
      const t = performance.now();
      await once();
      if (i >= 5) interleaved.get(kind)!.push(performance.now() - t); // the first rounds warm up
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  await Promise.all([held.close(), warmHost.close()]);
  // CPU per program, everything counted: this process (the launcher's threads, the teardowns, the
  // pool's builds) and its reaped children (each container's init and program): what a held
  // container saves beyond latency is the build and the teardown of a container per program.
  const cpuPerRun = async (kind: string, open: () => Promise<{ once: () => Promise<unknown>; close: () => Promise<void> }>) => {
    const subject = await open();
    for (let i = 0; i < 5; i++) await subject.once();
    await host.settle();
    const before = processCpuMs();
    const n = Math.min(N, 100);
    for (let i = 0; i < n; i++) await subject.once();
    await subject.close();
    await host.settle();
    return { kind, cpuMsPerRun: (processCpuMs() - before) / n };
  };
  const cpuRows = [
    await cpuPerRun('held, next program', async () => {
      const h = await host.hold({ layers });
      return { once: () => h.run({ argv: ['/bin/true'] }), close: () => h.close() };
    }),
    await cpuPerRun('fresh container, warm pool', async () => {
      const w = SandboxHost.open({ pool: { maxWarm: 4, maxPerImage: 4 } });
      return { once: () => w.run({ layers, argv: ['/bin/true'] }), close: () => w.close() };
    }),
    await cpuPerRun('fresh container, cold', async () => ({ once: () => host.run({ layers, argv: ['/bin/true'] }), close: async () => {} })),
  ];
  const fmt = (n: number) => n.toFixed(2).padStart(8);
  console.log(`\n${'configuration'.padEnd(36)} conc      p50      p90      p99   runs/s`);
  for (const r of [...rows, ...gapRows]) {
    console.log(`${r.label.padEnd(36)} ${String(r.concurrency).padStart(4)} ${fmt(r.p50)} ${fmt(r.p90)} ${fmt(r.p99)} ${(Number.isNaN(r.runsPerSecond) ? '-' : r.runsPerSecond.toFixed(0)).padStart(8)}`);
  }
  console.log(`warm pool: ${poolStats?.hits} hits, ${poolStats?.misses} misses, build ${poolStats?.buildMsAvg} ms on average (off the request path)`);
  console.log('\nCPU per run (this process and its reaped children: launcher, containers, teardowns, pool builds):');
  for (const r of cpuRows) console.log(`${r.kind.padEnd(36)} ${fmt(r.cpuMsPerRun)} ms`);
  console.log('\ninterleaved, a run of each in turn every 20 ms:');
  for (const [kind, samples] of interleaved) {
    const st = stats(samples);
    console.log(`${kind.padEnd(36)} ${fmt(st.p50)} ${fmt(st.p90)} ${fmt(st.p99)}   (p50 p90 p99 ms, ${samples.length} runs)`);
  }
  for (const concurrency of [1, CONCURRENCY]) {
    const [floor, node, full] = rows.filter((r) => r.concurrency === concurrency);
    console.log(`\nconcurrency ${concurrency}: container p50 = ${(full!.p50 / floor!.p50).toFixed(1)}× the bare spawn, ${(full!.p50 / node!.p50).toFixed(2)}× child_process.spawn`);
  }
  const split = (key: Exclude<keyof SandboxTimings, 'pooled' | 'setupRetried'>) => stats(timings.map((t) => t[key])).p50.toFixed(2);
  console.log(`\nsplit (p50 ms, concurrency ${CONCURRENCY}): cgroup ${split('cgroupMs')}, namespaces ${split('namespacesMs')}, mounts ${split('mountsMs')}, exec ${split('execMs')}, teardown ${host.teardownMsAvg.toFixed(2)} (average, in the background), total ${split('totalMs')}`);
  console.log('targets (issue 2): full-container p50 <= 5 ms sequential (stretch 3 ms), faster than child_process.spawn, >= 3x faster than isolate (9.3-10.4 ms measured here)');
  await host.close();
  await procViewCost(layers, Math.min(N, 100));
  console.log(`load average at the end: ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
