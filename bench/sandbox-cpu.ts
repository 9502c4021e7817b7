// BENCH_ONLY=cpu npm run bench:sandbox — the host CPU one fresh container costs, per phase: build
// (corral_prepare, waited until ready: what the warm pool does ahead), run of `/bin/true`
// (corral_dispatch, which ends with the init's exit: the container's mounts and namespaces are
// released there) and teardown (corral_discard: the cgroups; then a pause for the kernel's
// deferred work: a network namespace is cleaned up by a kworker after its last task is gone). Phases run as
// batches of BENCH_N containers, one at a time, so each batch's CPU is that phase's alone.
//
// CPU is counted two ways, both per container:
//   machine  busy time of the whole machine (/proc/stat: all but idle and iowait), which
//            includes the kernel's deferred work — and everything else running on this shared
//            machine, so it is only as good as the machine is quiet;
//   process  this process (its threads: the launcher) and its reaped children (the container's
//            init and program), which other load does not touch — but a child's CPU is counted
//            when it is reaped, at teardown, so only the whole cycle's sum is its own.
//
// Before/after in the same run: BENCH_BASELINE_REV=<git rev> (default HEAD) builds that revision's
// native/ into a temporary directory and loads it beside this tree's build (both must have this
// code's ABI); the two take turns, batch by batch, and the ratios are of medians over the rounds.
// BENCH_BASELINE_LIB=<path to a libcorral.so> loads a build you made instead; BENCH_BASELINE=off
// measures this tree's build alone. BENCH_PERF=<dir>: a `perf record -g` of each phase of the
// first round, per library, into <dir>/<library>.data (the phases' times in <library>.phases.json):
// of this process and the containers it starts, or with BENCH_PERF_ALL=1 of the whole machine.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import koffi from 'koffi';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostCpuTicks } from '../loadtest/host-cpu.ts';
import { containerSteps, SandboxHost } from '../worker/sandbox/index.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const PHASES = ['build', 'run', 'teardown'] as const;
type Phase = (typeof PHASES)[number];

/** getrusage(2) through koffi: Node offers RUSAGE_SELF only, and /proc/self/stat counts the
 * children's time in 10 ms clock ticks — too coarse for a batch of containers. */
const libc = koffi.load('libc.so.6');
const getrusage = libc.func('int getrusage(int who, void *usage)');
const RUSAGE_SELF = 0, RUSAGE_CHILDREN = -1;

/** CPU time (user + system, µs) of this process's threads (RUSAGE_SELF) or of its reaped children. */
function rusageUs(who: number): number {
  const r = new BigInt64Array(18); // struct rusage on 64-bit Linux: two timevals, then 14 longs
  if (getrusage(who, r) !== 0) throw new Error('getrusage failed');
  return Number(r[0]! * 1_000_000n + r[1]! + r[2]! * 1_000_000n + r[3]!);
}

/** This process's CPU (its threads: the launcher) and its reaped children's (inits, programs), µs. */
function processCpu(): { selfUs: number; childrenUs: number } {
  return { selfUs: rusageUs(RUSAGE_SELF), childrenUs: rusageUs(RUSAGE_CHILDREN) };
}

const TICK_MS = 1000 / 100; // USER_HZ

interface Sample { machineMs: number; selfMs: number; childrenMs: number }

async function sampled(n: number, work: () => Promise<void>): Promise<Sample> {
  const m0 = hostCpuTicks(), p0 = processCpu();
  await work();
  const m1 = hostCpuTicks(), p1 = processCpu();
  return {
    machineMs: ((m1.busy - m0.busy) * TICK_MS) / n,
    selfMs: (p1.selfUs - p0.selfUs) / 1000 / n,
    childrenMs: (p1.childrenUs - p0.childrenUs) / 1000 / n,
  };
}

/** perf record -g until stopped, or undefined without BENCH_PERF. */
async function perfStart(file: string | undefined): Promise<ChildProcess | undefined> {
  if (!file) return undefined;
  // This process, its threads and the containers' processes they start (perf follows children);
  // BENCH_PERF_ALL=1: the whole machine, which adds the kernel's deferred work (kworkers) and
  // everything else that runs meanwhile.
  const target = process.env.BENCH_PERF_ALL === '1' ? ['-a'] : ['-p', String(process.pid)];
  const child = spawn('perf', ['record', '-q', '-k', 'CLOCK_MONOTONIC', ...target, '-g', '-o', file], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300)); // perf's own start-up, off the measured batch
  return child;
}

async function perfStop(child: ChildProcess | undefined): Promise<void> {
  if (!child) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  await done;
}

function buildBaseline(rev: string): { lib: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'corral-baseline-'));
  execFileSync('sh', ['-c', `git -C "${REPO}" archive "${rev}" native | tar -x -C "${dir}" && make -s -C "${dir}/native"`], { stdio: 'inherit' });
  return { lib: join(dir, 'native/build/libcorral.so'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function cpuPerContainer(layers: string[], n: number, rounds: number): Promise<void> {
  // BENCH_EXTRA_FDS: descriptors held open meanwhile, like a worker's (its connections, and each
  // warm container's pipes and cgroup files, ~8 per container): each container's init starts
  // with a copy of the table it was cloned from.
  const extra = Array.from({ length: Number(process.env.BENCH_EXTRA_FDS ?? 0) }, () => openSync('/dev/null', 'r'));
  const host = SandboxHost.open();
  let baseline: { lib: string; cleanup: () => void } | undefined;
  const libs: Array<[string, string | undefined]> = [['new', undefined]]; // undefined: this tree's build
  if (process.env.BENCH_BASELINE !== 'off') {
    if (process.env.BENCH_BASELINE_LIB) baseline = { lib: process.env.BENCH_BASELINE_LIB, cleanup: () => {} };
    else baseline = buildBaseline(process.env.BENCH_BASELINE_REV ?? 'HEAD');
    libs.unshift(['old', baseline.lib]);
  }
  const perfDir = process.env.BENCH_PERF;
  const samples = new Map<string, Map<Phase, Sample[]>>(libs.map(([k]) => [k, new Map(PHASES.map((p) => [p, []]))]));

  console.log(`bench:sandbox (BENCH_ONLY=cpu) — host CPU per container, ${rounds} rounds of ${n} per phase per library, ${extra.length} extra descriptors open (${libs.map(([k, p]) => `${k}: ${p ?? "this tree's native/build"}`).join(', ')}); cgroup v${host.cgroups.version}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  try {
    for (let round = 0; round <= rounds; round++) { // round 0 warms up, uncounted
      const order = round % 2 ? [...libs].reverse() : libs;
      for (const [kind, path] of order) {
        const containers = Array.from({ length: n }, () => containerSteps(host, { layers, argv: ['/bin/true'] }, path));
        // One recording for the three phases (a container's processes are followed from their
        // birth), split by time afterwards: <kind>.phases.json has each phase's start and end
        // (CLOCK_MONOTONIC ns, perf's clock here).
        const perfFile = perfDir && round === 1 ? join(perfDir, `${kind}.data`) : undefined;
        const perf = await perfStart(perfFile);
        const bounds: Record<string, [string, string]> = {};
        const phase = async (name: Phase, work: () => Promise<void>) => {
          const t0 = process.hrtime.bigint();
          const s = await sampled(n, work);
          bounds[name] = [String(t0), String(process.hrtime.bigint())];
          if (round > 0) samples.get(kind)!.get(name)!.push(s);
        };
        await phase('build', async () => {
          for (const c of containers) await c.build();
        });
        await phase('run', async () => {
          for (const c of containers) {
            const code = await c.run();
            if (code !== 0) throw new Error(`bench: /bin/true exited ${code}`);
          }
        });
        await phase('teardown', async () => {
          for (const c of containers) await c.teardown();
          await new Promise((r) => setTimeout(r, 100)); // the kernel's deferred cleanup (netns, RCU)
        });
        await perfStop(perf);
        if (perfFile) writeFileSync(`${perfFile.slice(0, -'.data'.length)}.phases.json`, JSON.stringify({ n, bounds }));
      }
    }
  } finally {
    await host.close();
    baseline?.cleanup();
    for (const fd of extra) closeSync(fd);
  }
  const fmt = (x: number) => x.toFixed(3).padStart(8);
  console.log(`\nmedian over ${rounds} rounds, ms of CPU per container (machine: /proc/stat busy, includes others' load; self: this process's threads; children: reaped inits and programs, counted at teardown)`);
  console.log(`${'library'.padEnd(8)} ${'phase'.padEnd(9)} machine     self children`);
  for (const [kind] of libs) {
    let sumMachine = 0, sumProcess = 0;
    for (const p of PHASES) {
      const s = samples.get(kind)!.get(p)!;
      const m = median(s.map((x) => x.machineMs)), self = median(s.map((x) => x.selfMs)), ch = median(s.map((x) => x.childrenMs));
      sumMachine += m, sumProcess += self + ch;
      console.log(`${kind.padEnd(8)} ${p.padEnd(9)} ${fmt(m)} ${fmt(self)} ${fmt(ch)}`);
    }
    console.log(`${kind.padEnd(8)} ${'cycle'.padEnd(9)} ${fmt(sumMachine)} ${fmt(sumProcess)} (self + children)`);
  }
  if (libs.length === 2) {
    console.log('\nnew / old, median of the per-round ratios (the two take turns, so a noisy moment falls on both):');
    for (const p of [...PHASES, 'cycle' as const]) {
      const ratios = (get: (s: Sample) => number) => {
        const r: number[] = [];
        for (let i = 0; i < rounds; i++) {
          const at = (kind: string) => (p === 'cycle' ? PHASES.reduce((a, q) => a + get(samples.get(kind)!.get(q)![i]!), 0) : get(samples.get(kind)!.get(p)![i]!));
          if (at('old') > 0) r.push(at('new') / at('old'));
        }
        return r.length ? median(r).toFixed(3) : '-';
      };
      console.log(`${p.padEnd(9)} machine ${ratios((s) => s.machineMs)}  process (self + children) ${ratios((s) => s.selfMs + s.childrenMs)}`);
    }
  }
  console.log(`load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
}
