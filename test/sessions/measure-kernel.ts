// Figures for a kernel session through the real sandbox, printed (never asserted; the machine is
// shared and noisy): bridge + kernel start to the first `1+1` answer, the `1+1` cell round trip
// over a live channel, and the memory of an idle kernel container. For comparison, a fresh
// `python3 -c 'print(1+1)'` run in the same image.
//   UV_THREADPOOL_SIZE=32 node --import tsx test/sessions/measure-kernel.ts [sessions=5] [cells=50]
import { readFileSync } from 'node:fs';
import { executeCell } from '../../worker/sessions/execute-cell.ts';
import { processesInOurRuns, settledSnapshot, testHost } from '../helpers/sandbox.ts';
import { kernelImage, openSession, type KernelImage } from './helpers.ts';

const sessions = Number(process.argv[2] ?? 5);
const cells = Number(process.argv[3] ?? 50);
const image = kernelImage();
if ('skip' in image) {
  console.log(`skipped: ${image.skip}`);
  process.exit(0);
}
const img = image as KernelImage;
const host = testHost();

console.log(`load average before: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} on ${(await import('node:os')).availableParallelism()} CPUs`);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function kib(pid: number, file: string, key: string): number {
  try {
    const m = readFileSync(`/proc/${pid}/${file}`, 'utf8').match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The run's memory cgroup usage (v1 memory.usage_in_bytes, v2 memory.current), from a process in it. */
function cgroupMemoryBytes(pid: number): number | undefined {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const cg = host.cgroups;
  const v2 = cg.version === 2;
  const rel = v2 ? lines.find((l) => l.startsWith('0::'))?.slice(3) : lines.find((l) => /^\d+:memory:/.test(l))?.split(':')[2];
  const mount = v2 ? cg.unified : cg.memory;
  // The mount point of the hierarchy: the layout's parent dir minus the part /proc/<pid>/cgroup shows.
  const parentRel = rel?.split('/').slice(0, 2).join('/') ?? '';
  const root = mount.slice(0, mount.length - parentRel.length);
  try {
    return Number(readFileSync(`${root}${rel}/${v2 ? 'memory.current' : 'memory.usage_in_bytes'}`, 'utf8'));
  } catch {
    return undefined;
  }
}

const CLK_TCK = 100;
/** CPU ticks (user + system) of each process of our runs, by its command (bridge, kernel). */
function cpuByProcess(): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of processesInOurRuns(host)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kernel-bridge') ? 'bridge' : 'kernel';
      out.set(cmd, (out.get(cmd) ?? 0) + Number(fields[11]) + Number(fields[12]));
    } catch { /* gone */ }
  }
  return out;
}
const perCellCpu: string[] = [];

const fresh: number[] = [];
for (let i = 0; i < 10; i++) {
  const t = performance.now();
  const o = await host.run({ layers: img.layers, argv: ['python3', '-c', 'print(1+1)'], env: img.env });
  if (o.status === 'ok') fresh.push(performance.now() - t);
}

const toReady: number[] = [];
const toFirst: number[] = [];
const roundTrips: number[] = [];
const memory: Array<{ cgroup?: number; rss: number; pss: number; peakKb: number; procs: number; cpuMs: number }> = [];
for (let i = 0; i < sessions; i++) {
  const started = performance.now();
  const s = await openSession(img);
  await s.channel.ready;
  toReady.push(performance.now() - started);
  const first = await executeCell(s.channel, '1+1');
  toFirst.push(performance.now() - started);
  if (first.status !== 'ok') throw new Error(`1+1 failed: ${JSON.stringify(first)}`);
  if (i === 0) {
    const before = cpuByProcess();
    for (let c = 0; c < cells; c++) {
      const t = performance.now();
      await executeCell(s.channel, '1+1');
      roundTrips.push(performance.now() - t);
    }
    const afterCells = cpuByProcess();
    for (const [name, ticks] of afterCells) perCellCpu.push(`${name} ${ms(((ticks - (before.get(name) ?? 0)) * 1000 / CLK_TCK) / cells)}`);
  }
  await new Promise((r) => setTimeout(r, 1000)); // idle
  const pids = processesInOurRuns(host);
  const cgroup = pids.length ? cgroupMemoryBytes(pids[0]!) : undefined;
  const rss = pids.reduce((n, p) => n + kib(p, 'status', 'VmRSS'), 0) * 1024;
  const pss = pids.reduce((n, p) => n + kib(p, 'smaps_rollup', 'Pss'), 0) * 1024;
  const reason = await s.end();
  memory.push({ cgroup, rss, pss, peakKb: reason.outcome?.memoryKb ?? 0, procs: pids.length, cpuMs: reason.outcome?.cpuMs ?? 0 });
}
await settledSnapshot(host);

console.log(`fresh python3 -c 'print(1+1)' run:        p50 ${ms(pct(fresh, 50))} (n=${fresh.length})`);
console.log(`session start → kernel ready:             p50 ${ms(pct(toReady, 50))}, min ${ms(Math.min(...toReady))}, max ${ms(Math.max(...toReady))} (n=${sessions})`);
console.log(`session start → first 1+1 answered:       p50 ${ms(pct(toFirst, 50))}, min ${ms(Math.min(...toFirst))}, max ${ms(Math.max(...toFirst))}`);
console.log(`1+1 cell round trip (live kernel):        p50 ${ms(pct(roundTrips, 50))}, p90 ${ms(pct(roundTrips, 90))}, min ${ms(Math.min(...roundTrips))} (n=${roundTrips.length})`);
console.log(`CPU per 1+1 cell, by process:             ${perCellCpu.join(', ')}`);
for (const [i, m] of memory.entries()) {
  console.log(`idle session ${i + 1}: cgroup usage ${m.cgroup === undefined ? '?' : mib(m.cgroup)}, RSS sum ${mib(m.rss)}, PSS sum ${mib(m.pss)} over ${m.procs} processes; cgroup peak over the session ${mib(m.peakKb * 1024)}, CPU over the session ${ms(m.cpuMs)}${i === 0 ? ` (with the ${cells} cells)` : ''}`);
}
process.exit(0);
