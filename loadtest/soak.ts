// npm run soak -- --minutes N --rate R: a steady load over HTTP on a real stack in a process of its
// own (forkStack), sampling every 10 s what would show a leak — the stack process's RSS and open
// descriptors, the embedded Redis's memory, the host's mounts and Corral cgroups — and the
// requests' latency. Prints each sample, then the growth of each per 10 minutes (a least-squares
// slope over the samples after the first minute's warm-up). Never asserts: it is a figure.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cgroupParentOf } from './cgroup-parent.ts';
import { httpClient } from './http-client.ts';
import { forkStack } from './stack.ts';
import { percentiles } from './stats.ts';

const SAMPLE_MS = 10_000;
const WARMUP_MS = 60_000;

interface Sample { atS: number; rssMiB: number; fds: number; redisMiB: number; mounts: number; cgroups: number; p50Ms: number | null; p99Ms: number | null; errors: number }

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

function count(f: () => string[]): number {
  try {
    return f().length;
  } catch {
    return 0;
  }
}

/** This stack's cgroups under every v1 hierarchy and the unified one (a run's leaves included). */
function corralCgroups(parent: string): number {
  let n = 0;
  for (const h of ['memory', 'cpu', 'pids', 'unified']) n += count(() => readdirSync(`/sys/fs/cgroup/${h}/${parent}`).filter((e) => e.startsWith('corral-')));
  return n;
}

/** Least-squares slope of y over x (per unit of x). */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, rate: { type: 'string', default: '20' } } });
  const minutes = Number(values.minutes);
  const rate = Number(values.rate);
  if (!(minutes > 0) || !(rate > 0)) throw new Error('--minutes and --rate must be positive numbers');
  const dir = mkdtempSync(join(tmpdir(), 'corral-soak-'));
  chmodSync(dir, 0o755); // the state directory below must be searchable by the containers' unprivileged user
  // A state directory of its own, so the mounts and cgroups counted are this stack's only, not those
  // of other Corrals on the host (it gets its own cgroup parent).
  const stateDir = join(dir, 'state');
  const cgroupParent = cgroupParentOf(stateDir);
  const stack = await forkStack({ CORRAL_PORT: '0', CORRAL_LOG_LEVEL: 'warn', CORRAL_DATA_DIR: join(dir, 'data'), CORRAL_STATE_DIR: stateDir }, join(dir, 'stack.log'));
  const client = httpClient(stack.url, 30_000);
  const samples: Sample[] = [];
  let latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const end = started + minutes * 60_000;
  const redisInfo = async () => {
    if (!stack.redisPid) return 0;
    return rssMiB(stack.redisPid);
  };
  console.log(`soak: ${minutes} min at ${rate} runs/s (busybox echo through POST /v1/runs?wait=true), a sample every ${SAMPLE_MS / 1000} s`);
  console.log('   t/s   rss/MiB  fds  redis/MiB  mounts  cgroups  p50/ms  p99/ms  errors');
  const sample = async () => {
    const p = percentiles(latencies);
    const s: Sample = {
      atS: Math.round((performance.now() - started) / 1000), rssMiB: rssMiB(stack.pid), fds: count(() => readdirSync(`/proc/${stack.pid}/fd`)),
      redisMiB: await redisInfo(), mounts: count(() => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`${stateDir}/`))),
      cgroups: corralCgroups(cgroupParent), p50Ms: p.p50, p99Ms: p.p99, errors,
    };
    samples.push(s);
    latencies = [];
    errors = 0;
    const f = (n: number | null, d = 1) => (n === null ? '-' : n.toFixed(d));
    console.log(`${String(s.atS).padStart(6)}  ${f(s.rssMiB).padStart(8)}  ${String(s.fds).padStart(3)}  ${f(s.redisMiB).padStart(9)}  ${String(s.mounts).padStart(6)}  ${String(s.cgroups).padStart(7)}  ${f(s.p50Ms).padStart(6)}  ${f(s.p99Ms).padStart(6)}  ${String(s.errors).padStart(6)}`);
  };
  const timer = setInterval(() => void sample(), SAMPLE_MS);
  const inFlight = new Set<Promise<void>>();
  try {
    for (let i = 0; performance.now() < end; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const t0 = performance.now();
      const req: Promise<void> = client.request('POST', '/v1/runs?wait=true', { language: 'busybox-echo', source: '' }).then(
        (r) => { if (r.status === 200) latencies.push(performance.now() - t0); else errors++; },
        () => { errors++; },
      ).finally(() => inFlight.delete(req));
      inFlight.add(req);
    }
    await Promise.all([...inFlight]);
  } finally {
    clearInterval(timer);
    await sample();
    client.close();
    await stack.stop();
    // The stack's cgroup parent (its own, for its own state directory) goes with it.
    for (const h of ['memory', 'cpu', 'cpuacct', 'cpuset', 'pids', 'freezer', 'blkio', 'devices', 'unified', '']) try { rmdirSync(`/sys/fs/cgroup/${h}/${cgroupParent}`); } catch { /* not in this hierarchy, or busy */ }
    rmSync(dir, { recursive: true, force: true });
  }
  const steady = samples.filter((s) => s.atS * 1000 >= WARMUP_MS);
  const per10 = (pick: (s: Sample) => number) => slope(steady.map((s) => s.atS), steady.map(pick)) * 600;
  console.log(`\ngrowth per 10 minutes after the first minute (${steady.length} samples): rss ${per10((s) => s.rssMiB).toFixed(1)} MiB, fds ${per10((s) => s.fds).toFixed(1)}, redis ${per10((s) => s.redisMiB).toFixed(1)} MiB, mounts ${per10((s) => s.mounts).toFixed(1)}, cgroups ${per10((s) => s.cgroups).toFixed(1)}`);
}

main().catch((err) => {
  console.error(`soak: ${err instanceof Error ? err.stack : String(err)}`);
  process.exitCode = 1;
});
