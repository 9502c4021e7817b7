// npm run bench:judge — judging real submissions through the whole stack (HTTP → queue → worker →
// sandbox), in a stack process of its own (forkStack), printed as ratios measured in the same run:
//   - a mix of submissions (C++ with <bits/stdc++.h> and 20 tests, C and Python with 20 tests,
//     Java with 10 when its image is built, a wrong answer that stops at test 3, a TLE), one at a
//     time (latency p50/p90 per kind) and all at once (submissions per minute at saturation);
//   - the same C++ submission with its precompiled header defeated (a declaration before the
//     include makes g++ parse the header: what every compile cost before the PCH) — the ratio is
//     the PCH's gain on the compile the judge waits for;
//   - a test judged by a trivial C checker, and by the same check in C++ with iostreams (testlib's
//     style), against the built-in comparison — the checker's cost per test (a 21-test submission
//     less a 1-test one, so the checker's compile is left out), with where it goes: the stack's own
//     CPU per test, how idle the host's CPUs were, the checker's own CPU; each checker linked as
//     judge programs are (statically) and as gcc links by default (dynamic), in the same rounds;
//   - a submission's tests side by side (parallelTests) against one after the other, and the whole
//     mix at saturation with the PCH and tests side by side against both off.
//   - 100 000 one-line round trips between a C solution and a C interactor (each in its own
//     container, connected by pipes) against the same two programs built on the host and
//     connected by plain pipes outside any sandbox; and the same with a transcript (relayed by a
//     native thread of the worker: one hop more per message).
// Never a timed assertion: the machine is shared; figures vary by ±30 %.
//   BENCH_REPEATS (default 3) rounds of the mix; BENCH_SATURATE (default 12) submissions at once;
//   BENCH_ONLY=saturation skips everything before the saturation figures (a quicker run);
//   BENCH_ONLY=checker runs only the checker's cost per test (BENCH_REPEATS rounds, default 10),
//   then the checkers' compiles static and dynamic (BENCH_COMPILES rounds, default 5);
//   BENCH_ROUNDS (default 2) pairs of saturation rounds;
//   BENCH_AB (with BENCH_ONLY=checker): variants of the stack's environment, `;`-separated, each
//   `KEY=VALUE,KEY=VALUE` (an empty one: the environment as it is) — one stack per variant, all
//   started at once, the rounds taking turns among them (the order rotating each round), so a
//   load that drifts weighs on each; each variant's figures are printed with the load.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostCpuTicks } from './host-cpu.ts';
import { httpClient } from './http-client.ts';
import { forkStack, type RunningStack } from './stack.ts';
import { percentiles } from './stats.ts';

const ONLY_SATURATION = process.env.BENCH_ONLY === 'saturation';
const ONLY_CHECKER = process.env.BENCH_ONLY === 'checker';
const REPEATS = Number(process.env.BENCH_REPEATS ?? (ONLY_CHECKER ? 10 : 3));
const SATURATE = Number(process.env.BENCH_SATURATE ?? 12);
/** Pairs of saturation rounds (one with both improvements, one with both off). */
const SAT_ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
/**
 * CPU time the stack's own processes have used, ms: the stack process (API, worker, and the
 * sandbox set-up it does in its threads) and its Redis — the host's cost beside the programs'.
 */
function hostCpuMs(stack: { pid: number; redisPid: number | undefined }): number {
  const ticks = (pid: number | undefined) => {
    if (!pid) return 0;
    try {
      // Fields after the command (which may hold spaces): utime and stime are the 12th and 13th.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
      return Number(fields[11]) + Number(fields[12]);
    } catch {
      return 0;
    }
  };
  return ((ticks(stack.pid) + ticks(stack.redisPid)) * 1000) / CLOCK_TICKS_PER_S;
}
/** The kernel's USER_HZ (sysconf(_SC_CLK_TCK)), 100 on Linux. */
const CLOCK_TICKS_PER_S = 100;
/** The host's 1-minute load average (other work on the machine moves every figure). */
const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0]!;

const CPP = `#include <bits/stdc++.h>
using namespace std;
int main() { long long a, b; cin >> a >> b; vector<long long> v{a, b}; cout << accumulate(v.begin(), v.end(), 0LL) << "\\n"; }
`;
/** The same program with the precompiled header defeated: any declaration before the include. */
const CPP_NO_PCH = `struct corral_bench_no_pch;\n${CPP}`;
const C = '#include <stdio.h>\nint main(void) { long long a, b; if (scanf("%lld %lld", &a, &b) != 2) return 1; printf("%lld\\n", a + b); return 0; }\n';
const PY = 'a, b = map(int, input().split())\nprint(a + b)\n';
const JAVA = 'import java.util.*;\npublic class Main { public static void main(String[] x) { Scanner s = new Scanner(System.in); long a = s.nextLong(), b = s.nextLong(); System.out.println(a + b); } }\n';
const WRONG = '#include <stdio.h>\nint main(void) { long long a, b; scanf("%lld %lld", &a, &b); printf("%lld\\n", a + b + (a == 3)); return 0; }\n';
const TLE = '#include <stdio.h>\nint main(void) { volatile unsigned long x = 0; for (;;) x++; }\n';
/** testlib's convention without testlib: exit 0 when output.txt's number equals answer.txt's. */
const CHECKER = '#include <stdio.h>\nint main(int c, char **v) { long long o, a; FILE *f = fopen(v[2], "r"), *g = fopen(v[3], "r");\n'
  + 'if (!f || !g || fscanf(g, "%lld", &a) != 1) return 3; if (fscanf(f, "%lld", &o) != 1) return 2; fprintf(stderr, o == a ? "ok\\n" : "wrong\\n"); return o == a ? 0 : 1; }\n';
/** The same check in testlib's style: iostreams (most real judges' checkers are C++ on testlib). */
const CPP_CHECKER = '#include <fstream>\n#include <iostream>\nint main(int c, char **v) { std::ifstream out(v[2]), ans(v[3]); long long o, a;\n'
  + 'if (!(ans >> a)) return 3; if (!(out >> o)) return 2; std::cerr << (o == a ? "ok" : "wrong") << std::endl; return o == a ? 0 : 1; }\n';
/**
 * The checked kinds of the checker's cost: each checker linked as a judge program is by default
 * (statically: the gcc languages' judgeProgram flags, -static-pie) and as gcc links any program
 * by default (a dynamic PIE: `-pie`, a link of the user's own, leaves the judge-program flags out
 * and changes nothing else), measured in the same rounds.
 */
const CHECKED: Array<{ name: string; checker: Record<string, unknown> }> = [
  { name: 'C, static', checker: { language: 'c', source: CHECKER } },
  { name: 'C, dynamic', checker: { language: 'c', source: CHECKER, compilerArgs: ['-pie'] } },
  { name: 'C++, static', checker: { language: 'cpp', source: CPP_CHECKER } },
  { name: 'C++, dynamic', checker: { language: 'cpp', source: CPP_CHECKER, compilerArgs: ['-pie'] } },
];

const ROUND_TRIPS = Number(process.env.BENCH_ROUND_TRIPS ?? 100_000);
/** Answers each number with the next one, until -1. */
const PONG = '#include <stdio.h>\nint main(void) { long x; while (scanf("%ld", &x) == 1 && x >= 0) { printf("%ld\\n", x + 1); fflush(stdout); } return 0; }\n';
/** The interactor: asks ROUND_TRIPS times, checks every answer; testlib's exit codes. */
const pingOf = (trips: number) => `#include <stdio.h>\nint main(int c, char **v) { long y; for (long i = 0; i < ${trips}; i++) { printf("%ld\\n", i); fflush(stdout);
  if (scanf("%ld", &y) != 1 || y != i + 1) { fprintf(stderr, "bad answer at %ld\\n", i); return 1; } } printf("-1\\n"); fflush(stdout); return 0; }\n`;
const PING = pingOf(ROUND_TRIPS);
/** Relayed through the worker's relay thread: as many round trips (compared per round trip). */
const RELAYED_TRIPS = ROUND_TRIPS;

/** The same two programs on the host, connected by plain pipes; resolves with the wall time, ms. */
function barePingPong(dir: string): Promise<number> {
  writeFileSync(join(dir, 'pong.c'), PONG);
  writeFileSync(join(dir, 'ping.c'), PING);
  execFileSync('cc', ['-O2', '-o', join(dir, 'pong'), join(dir, 'pong.c')]);
  execFileSync('cc', ['-O2', '-o', join(dir, 'ping'), join(dir, 'ping.c')]);
  execFileSync('mkfifo', [join(dir, 'back')]);
  return new Promise((resolve, reject) => {
    // pong reads the fifo and writes to ping through a pipe; ping writes the fifo: kernel pipes
    // both ways, nothing relayed by this process.
    const t0 = performance.now();
    const pair = spawn('/bin/sh', ['-c', './pong < back | ./ping > back'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    pair.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`bench: bare ping-pong exited ${code}`))));
  }).finally(() => rmSync(join(dir, 'back'), { force: true })) as Promise<number>;
}

/**
 * A submission of its own: its source starts with a comment no other submission has, so no
 * compile is ever taken from the worker's compile cache (a resubmit of the same bytes would be) —
 * except where the bench means it (the rejudge). A comment keeps the precompiled header in use.
 */
let submissions = 0;
function fresh(body: Record<string, unknown>): Record<string, unknown> {
  const mark = `bench submission ${process.pid}-${++submissions}`;
  return { ...body, source: `${body.language === 'python' ? '#' : '//'} ${mark}\n${body.source as string}` };
}

const tests = (n: number) => Array.from({ length: n }, (_, i) => ({ stdin: `${i} ${i * 7}`, expectedOutput: `${i * 8}` }));

interface Kind { name: string; body: Record<string, unknown>; needs?: string; verdict: string }
const KINDS: Kind[] = [
  { name: 'C++ bits/stdc++.h, 20 tests', body: { language: 'cpp', source: CPP, tests: tests(20) }, verdict: 'accepted' },
  { name: 'C, 20 tests', body: { language: 'c', source: C, tests: tests(20) }, verdict: 'accepted' },
  { name: 'Python, 20 tests', body: { language: 'python', source: PY, tests: tests(20) }, verdict: 'accepted' },
  { name: 'Java, 10 tests', body: { language: 'java', source: JAVA, tests: tests(10) }, needs: 'java', verdict: 'accepted' },
  { name: 'wrong answer at test 3', body: { language: 'c', source: WRONG, tests: tests(20) }, verdict: 'wrong_answer' },
  { name: 'time limit', body: { language: 'c', source: TLE, tests: tests(5), limits: { cpuMs: 500 } }, verdict: 'time_limit' },
];

/** BENCH_AB's variants: [label, extra environment]. */
function abVariants(spec: string): Array<[string, Record<string, string>]> {
  return spec.split(';').map((v) => {
    const env: Record<string, string> = {};
    for (const pair of v.split(',').map((p) => p.trim()).filter(Boolean)) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new Error(`bench: BENCH_AB: "${pair}" is not KEY=VALUE`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    return [v.trim() || '(as is)', env];
  });
}

/**
 * The checker's cost per test on one stack per variant (BENCH_AB), round after round with the
 * variants taking turns: each round is a built-in and a checked pair (21 tests less 1) on each.
 */
async function checkerAB(dir: string, spec: string): Promise<void> {
  const variants = abVariants(spec);
  const stacks: RunningStack[] = [];
  try {
    for (const [i, [, env]] of variants.entries()) {
      stacks.push(await forkStack({ CORRAL_PORT: '0', CORRAL_LOG_LEVEL: 'warn', CORRAL_DATA_DIR: join(dir, `data-${i}`), CORRAL_MAX_WAIT_MS: '600000', ...env }, join(dir, `stack-${i}.log`)));
    }
    const clients = stacks.map((st) => httpClient(st.url, 600_000));
    type Cost = { builtin: number[]; checker: number[]; cpuB: number[]; cpuC: number[]; load: number[] };
    const costs: Cost[] = variants.map(() => ({ builtin: [], checker: [], cpuB: [], cpuC: [], load: [] }));
    const perTest = async (i: number, checker: object) => {
      const submit = async (n: number) => {
        const t0 = performance.now();
        const r = await clients[i]!.request('POST', '/v1/runs?wait=true', fresh({ language: 'c', source: C, tests: tests(n), ...checker }));
        if (r.status !== 200 || (r.body as { verdict: string }).verdict !== 'accepted') throw new Error(`bench: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
        return performance.now() - t0;
      };
      const cpu0 = hostCpuMs(stacks[i]!);
      const one = await submit(1);
      const cpu1 = hostCpuMs(stacks[i]!);
      const many = await submit(21);
      const cpu2 = hostCpuMs(stacks[i]!);
      return { ms: (many - one) / 20, cpuMs: (cpu2 - cpu1 - (cpu1 - cpu0)) / 20 };
    };
    const round = async (i: number, r: number, into: Cost) => {
      const kinds = r % 2 === 0 ? ['builtin', 'checker'] : ['checker', 'builtin'];
      for (const kind of kinds) {
        const got = await perTest(i, kind === 'checker' ? { checker: { language: 'c', source: CHECKER } } : {});
        if (kind === 'checker') { into.checker.push(got.ms); into.cpuC.push(got.cpuMs); } else { into.builtin.push(got.ms); into.cpuB.push(got.cpuMs); }
      }
      into.load.push(Number(loadAverage()));
    };
    const scratch = (): Cost => ({ builtin: [], checker: [], cpuB: [], cpuC: [], load: [] });
    for (let i = 0; i < stacks.length; i++) await round(i, 0, scratch()); // warm-up: images, pools, volumes
    console.log(`bench:judge — the checker's cost per test, ${REPEATS} rounds on ${variants.length} stacks taking turns (load ${loadAverage()} at start)`);
    for (let r = 0; r < REPEATS; r++) {
      for (let k = 0; k < stacks.length; k++) {
        const i = (k + r) % stacks.length;
        await round(i, r, costs[i]!);
      }
    }
    const p50 = (xs: number[]) => percentiles(xs).p50!;
    for (const [i, [label]] of variants.entries()) {
      const c = costs[i]!;
      console.log(`  ${label}: built-in ${p50(c.builtin).toFixed(2)} ms, checked ${p50(c.checker).toFixed(2)} ms per test: +${(p50(c.checker) - p50(c.builtin)).toFixed(2)} ms (p50 of ${c.checker.length}; the gap's own p50 ${p50(c.checker.map((x, j) => x - c.builtin[j]!)).toFixed(2)}); stack CPU per test ${p50(c.cpuB).toFixed(1)} / ${p50(c.cpuC).toFixed(1)} ms; load ${Math.min(...c.load).toFixed(2)}–${Math.max(...c.load).toFixed(2)}`);
    }
    // Paired with the first variant round by round (the rounds of one round ran back to back, so
    // a drifting load weighs less on these than on the p50s above).
    for (let i = 1; i < variants.length; i++) {
      const d = (kind: 'builtin' | 'checker') => p50(costs[i]![kind].map((x, r) => x - costs[0]![kind][r]!));
      const won = costs[i]!.checker.filter((x, r) => x < costs[0]!.checker[r]!).length;
      console.log(`  ${variants[i]![0]} − ${variants[0]![0]}, paired by round, p50: built-in ${d('builtin').toFixed(2)} ms, checked ${d('checker').toFixed(2)} ms per test (checked faster in ${won} of ${REPEATS} rounds)`);
    }
    // The pools' figures (since start, warm-up included): how often a run waited for a build.
    for (const [i, [label]] of variants.entries()) {
      const text = String((await clients[i]!.request('GET', '/metrics')).body);
      const sum = (name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
      console.log(`  ${label}: pool hits ${sum('corral_pool_hits')}, misses ${sum('corral_pool_misses')} (handoffs ${sum('corral_pool_handoffs')}), build ms avg ${sum('corral_pool_build_ms').toFixed(1)} (summed over images)`);
    }
    for (const cl of clients) cl.close();
  } finally {
    for (const st of stacks) await st.stop();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'corral-bench-judge-'));
  if (ONLY_CHECKER && process.env.BENCH_AB) {
    try {
      await checkerAB(dir, process.env.BENCH_AB);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return;
  }
  const stack = await forkStack({ CORRAL_PORT: '0', CORRAL_LOG_LEVEL: 'warn', CORRAL_DATA_DIR: join(dir, 'data'), CORRAL_MAX_WAIT_MS: '600000' }, join(dir, 'stack.log'));
  const client = httpClient(stack.url, 600_000);
  try {
    const languages = (await client.request('GET', '/v1/languages')).body as Array<{ id: string; available: boolean }>;
    const have = new Set(languages.filter((l) => l.available).map((l) => l.id));
    const kinds = KINDS.filter((k) => !k.needs || have.has(k.needs));
    for (const k of KINDS) if (!kinds.includes(k)) console.log(`skipped: ${k.name} (no worker offers ${k.needs} with a built image)`);
    /** Submits a fresh copy of `body` (its own source), or `body` as it is when `again`. */
    const submit = async (body: Record<string, unknown>, again = false) => {
      const t0 = performance.now();
      const r = await client.request('POST', '/v1/runs?wait=true', again ? body : fresh(body));
      const ms = performance.now() - t0;
      if (r.status !== 200) throw new Error(`bench: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      return { ms, result: r.body as { verdict: string; compile?: { wallMs: number; cpuMs: number; cached?: boolean } | null; tests?: Array<{ wallMs: number; cpuMs: number; verdict: string; checker?: { cpuMs: number; wallMs: number } }> } };
    };

    console.log(ONLY_CHECKER
      ? `bench:judge — the checker's cost per test, ${REPEATS} rounds (stack: ${stack.slots} worker slots; load ${loadAverage()} at start)\n`
      : `bench:judge — ${REPEATS} rounds, one submission at a time; then ${SATURATE} at once (stack: ${stack.slots} worker slots)\n`);
    const f = (n: number | null) => (n === null ? '-' : n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(0)} ms`);
    // A checker's cost per test: a 21-test submission less a 1-test one, over 20 — what each test
    // adds, without the compiles (the solution's, and the checker's, which is once per
    // submission). The two kinds take turns going first, so a load that drifts weighs on both.
    // Beside the time, where it goes: the stack's own CPU per test (the worker with its sandbox
    // threads — container builds, dispatch, teardowns, volumes — the API and Redis; the programs'
    // own CPU is not in it) and how idle the host's CPUs were during the 21-test submission (with
    // none idle, the checker's container is paid in CPU; see docs/api.md, "Checkers").
    type CheckerCost = { ms: number[]; stackCpuMs: number[]; hostBusyMs: number[]; idlePct: number[]; checkerCpuMs: number[]; checkerWallMs: number[]; load: number[] };
    type CheckerCosts = { builtin: CheckerCost; checked: CheckerCost[] };
    const noCost = (): CheckerCost => ({ ms: [], stackCpuMs: [], hostBusyMs: [], idlePct: [], checkerCpuMs: [], checkerWallMs: [], load: [] });
    const noCosts = (): CheckerCosts => ({ builtin: noCost(), checked: CHECKED.map(noCost) });
    /** One round: the built-in comparison and every checked kind, in an order that rotates by round
     * (so a load that drifts weighs on each alike). */
    const checkerRound = async (into: CheckerCosts, round: number) => {
      const perTest = async (checker: object, cost: CheckerCost) => {
        const cpu0 = hostCpuMs(stack);
        const ticks0 = hostCpuTicks();
        const one = await submit({ language: 'c', source: C, tests: tests(1), ...checker });
        const cpu1 = hostCpuMs(stack);
        const ticks1 = hostCpuTicks();
        const many = await submit({ language: 'c', source: C, tests: tests(21), ...checker });
        const ticks2 = hostCpuTicks();
        const cpu2 = hostCpuMs(stack);
        if (many.result.verdict !== 'accepted') throw new Error(`bench: the checked submission says ${many.result.verdict}`);
        cost.ms.push((many.ms - one.ms) / 20);
        cost.stackCpuMs.push((cpu2 - cpu1 - (cpu1 - cpu0)) / 20);
        // Every CPU's busy time, whoever used it (the stack, the containers, the kernel's workers,
        // this client, other users): clock ticks of 10 ms, so only the p50 over rounds means much.
        cost.hostBusyMs.push((10 * (ticks2.busy - ticks1.busy - (ticks1.busy - ticks0.busy))) / 20);
        cost.idlePct.push((100 * (ticks2.idle - ticks1.idle)) / Math.max(1, ticks2.total - ticks1.total));
        cost.load.push(Number(loadAverage()));
        // The checker's own figures as the sandbox measured them (its process, in its container).
        for (const t of many.result.tests ?? []) {
          if (t.checker) { cost.checkerCpuMs.push(t.checker.cpuMs); cost.checkerWallMs.push(t.checker.wallMs); }
        }
      };
      const kinds: Array<() => Promise<void>> = [() => perTest({}, into.builtin), ...CHECKED.map((k, i) => () => perTest({ checker: k.checker }, into.checked[i]!))];
      for (let k = 0; k < kinds.length; k++) await kinds[(k + round) % kinds.length]!();
    };
    const printCheckerCost = (from: CheckerCosts) => {
      const p50 = (xs: number[]) => percentiles(xs).p50!;
      const signed = (ms: number, digits: number) => `${ms >= 0 ? '+' : '−'}${Math.abs(ms).toFixed(digits)}`;
      const loads = (c: CheckerCost) => `${Math.min(...c.load).toFixed(2)}–${Math.max(...c.load).toFixed(2)}`;
      const cb = p50(from.builtin.ms);
      console.log(`per test of a C submission (21 tests less 1, over 20; compiles left out; ${from.builtin.ms.length} rounds, the kinds in turn): ${cb.toFixed(1)} ms with the built-in comparison (load ${loads(from.builtin)}); with a checker (target ≤ +3 ms; each checker in its own container, beside the next test's program when a slot is free):`);
      CHECKED.forEach((k, i) => {
        const c = from.checked[i]!;
        const cc = p50(c.ms);
        const gap = p50(c.ms.map((x, r) => x - from.builtin.ms[r]!));
        console.log(`  ${k.name.padEnd(13)} ${cc.toFixed(1)} ms: ${signed(cc - cb, 1)} ms per test (the gap's own p50 by round ${gap.toFixed(1)}); the checker's own run p50 ${p50(c.checkerCpuMs).toFixed(2)} ms CPU, ${p50(c.checkerWallMs).toFixed(2)} ms wall; stack CPU per test ${p50(c.stackCpuMs).toFixed(1)} ms; CPUs idle ${p50(c.idlePct).toFixed(0)} %; load ${loads(c)}`);
      });
      console.log(`  the stack's own CPU per test (worker with its sandbox threads, API, Redis; not the programs'), p50: ${p50(from.builtin.stackCpuMs).toFixed(1)} ms built-in; the host's CPUs idle during the 21-test submission, p50: ${p50(from.builtin.idlePct).toFixed(0)} % built-in`);
      // The floor no scheduling can go under: a test cannot take less wall time than the CPU it
      // costs the host, spread over every CPU with none ever idle (docs/api.md, "Checkers").
      const cpus = availableParallelism();
      const builtinBusy = p50(from.builtin.hostBusyMs);
      console.log(`  the host's CPU per test (every CPU's busy time, 21 tests less 1), p50: ${builtinBusy.toFixed(1)} ms built-in; with a checker, and the least a test could take on ${cpus} CPUs never idle:`);
      CHECKED.forEach((k, i) => {
        const busy = p50(from.checked[i]!.hostBusyMs);
        console.log(`  ${k.name.padEnd(13)} ${busy.toFixed(1)} ms (+${(busy - builtinBusy).toFixed(1)}): ≥ ${(busy / cpus).toFixed(1)} ms per test, ${signed(busy / cpus - cb, 1)} ms over the built-in test as measured`);
      });
      // Static against dynamic, paired round by round (the two ran in the same round).
      for (const lang of ['C', 'C++']) {
        const st = from.checked[CHECKED.findIndex((k) => k.name === `${lang}, static`)]!;
        const dy = from.checked[CHECKED.findIndex((k) => k.name === `${lang}, dynamic`)]!;
        const d = p50(st.ms.map((x, r) => x - dy.ms[r]!));
        const won = st.ms.filter((x, r) => x < dy.ms[r]!).length;
        const cpu = p50(st.checkerCpuMs) - p50(dy.checkerCpuMs);
        const wall = p50(st.checkerWallMs) - p50(dy.checkerWallMs);
        console.log(`  ${lang} checker static − dynamic: per test ${signed(d, 2)} ms paired by round (static faster in ${won} of ${st.ms.length}); the checker's own run ${signed(cpu, 2)} ms CPU, ${signed(wall, 2)} ms wall (×${(p50(st.checkerCpuMs) / p50(dy.checkerCpuMs)).toFixed(2)} CPU)`);
      }
    };
    /**
     * What the static link costs: each checker compiled afresh (a comment of its own, so not from
     * the compile cache) in turns, its compile phase's CPU and wall — paid once per checker, then
     * the worker's compile cache serves every later submission with the same checker.
     */
    const checkerCompiles = async (rounds: number) => {
      const got = CHECKED.map(() => ({ cpuMs: [] as number[], wallMs: [] as number[] }));
      for (let r = 0; r < rounds; r++) {
        for (const [i, k] of CHECKED.entries()) {
          const source = `// bench checker ${process.pid}-${++submissions}\n${k.checker.source as string}`;
          const { result } = await submit({ language: 'c', source: C, tests: tests(1), checker: { ...k.checker, source } });
          const compile = (result as { checkerCompile?: { cpuMs: number; wallMs: number; cached?: boolean } }).checkerCompile;
          if (compile && !compile.cached) { got[i]!.cpuMs.push(compile.cpuMs); got[i]!.wallMs.push(compile.wallMs); }
        }
      }
      const p50 = (xs: number[]) => percentiles(xs).p50!;
      console.log(`the checkers' compiles (each afresh, ${rounds} rounds in turns, p50; once per checker, then from the compile cache; load ${loadAverage()}):`);
      for (const lang of ['C', 'C++']) {
        const st = got[CHECKED.findIndex((k) => k.name === `${lang}, static`)]!;
        const dy = got[CHECKED.findIndex((k) => k.name === `${lang}, dynamic`)]!;
        console.log(`  ${lang}: static ${p50(st.cpuMs).toFixed(0)} ms CPU / ${p50(st.wallMs).toFixed(0)} ms wall, dynamic ${p50(dy.cpuMs).toFixed(0)} / ${p50(dy.wallMs).toFixed(0)}: the static link +${(p50(st.cpuMs) - p50(dy.cpuMs)).toFixed(0)} ms CPU, +${(p50(st.wallMs) - p50(dy.wallMs)).toFixed(0)} ms wall`);
      }
    };
    if (ONLY_CHECKER) {
      const checkMs = noCosts();
      await checkerRound(noCosts(), 0); // warm-up: images, pool, volumes, the checkers' compiles
      for (let round = 0; round < REPEATS; round++) await checkerRound(checkMs, round);
      printCheckerCost(checkMs);
      await checkerCompiles(Number(process.env.BENCH_COMPILES ?? 5));
      return;
    }
    if (!ONLY_SATURATION) {
      const latency = new Map<string, number[]>();
      const compileMs = { pch: [] as number[], parsed: [] as number[] };
      const checkMs = noCosts();
      // Each checker compiled once first (then from the compile cache), so no round's 1-test
      // submission carries a checker's compile.
      for (const k of CHECKED) await submit({ language: 'c', source: C, tests: tests(1), checker: k.checker });
      for (let round = 0; round < REPEATS; round++) {
        for (const k of kinds) {
          const { ms, result } = await submit(k.body);
          latency.set(k.name, [...(latency.get(k.name) ?? []), ms]);
          if (k.name.startsWith('C++') && result.compile) compileMs.pch.push(result.compile.wallMs);
        }
        const parsed = await submit({ language: 'cpp', source: CPP_NO_PCH, tests: tests(1) });
        if (parsed.result.compile) compileMs.parsed.push(parsed.result.compile.wallMs);
        await checkerRound(checkMs, round);
      }
      console.log('submission latency (POST ?wait=true → verdict):');
      for (const [name, samples] of latency) {
        const p = percentiles(samples);
        console.log(`  ${name.padEnd(30)} p50 ${f(p.p50).padStart(8)}  p90 ${f(p.p90).padStart(8)}`);
      }
      const pch = percentiles(compileMs.pch).p50!;
      const parsedP50 = percentiles(compileMs.parsed).p50!;
      console.log(`\nC++ compile (bits/stdc++.h, default flags), wall p50: ${f(pch)} with the precompiled header, ${f(parsedP50)} parsing it: ×${(parsedP50 / pch).toFixed(2)} faster (target: ≤ 0.8 s and ≥ 3×)`);
      printCheckerCost(checkMs);

      const inSandbox: number[] = [];
      const relayed: number[] = [];
      const bare: number[] = [];
      const pingPong = async (ping: string, extra: object) => {
        const { result } = await submit({
          language: 'c', source: PONG, tests: [{ stdin: '', expectedOutput: '' }], limits: { cpuMs: 30_000, wallMs: 60_000 },
          interactor: { language: 'c', source: ping, limits: { cpuMs: 30_000, wallMs: 60_000 } }, ...extra,
        });
        return result.verdict === 'accepted' ? result.tests![0]!.wallMs : result.verdict;
      };
      for (let round = 0; round < REPEATS; round++) {
        const plain = await pingPong(PING, {});
        if (typeof plain === 'string') throw new Error(`bench: the ping-pong says ${plain}`);
        inSandbox.push(plain);
        // Relayed: not fatal (on a loaded host it may reach its wall limit: say so and go on).
        const through = await pingPong(pingOf(RELAYED_TRIPS), { transcriptBytes: 65_536 });
        if (typeof through === 'string') console.log(`  (the relayed ping-pong says ${through})`);
        else relayed.push(through);
        bare.push(await barePingPong(dir));
      }
      const ps = percentiles(inSandbox).p50!;
      const pb = percentiles(bare).p50!;
      console.log(`${ROUND_TRIPS} round trips solution ⇄ interactor, wall p50: ${f(ps)} in two containers (the solution's run), ${f(pb)} on plain pipes outside any sandbox: ×${(ps / pb).toFixed(2)} (target ≤ 1.5×)`);
      if (relayed.length) {
        const pr = percentiles(relayed).p50!;
        const us = (ms: number, trips: number) => (ms * 1000) / trips;
        const ur = us(pr, RELAYED_TRIPS);
        console.log(`  with a transcript (transcriptBytes 64 KiB: every byte relayed by the worker's relay thread), ${RELAYED_TRIPS} round trips: ${f(pr)}, ${ur.toFixed(1)} µs per round trip against ${us(pb, ROUND_TRIPS).toFixed(1)} µs on plain pipes: ×${(ur / us(pb, ROUND_TRIPS)).toFixed(2)} (target ≤ 1.5×); ×${(ur / us(ps, ROUND_TRIPS)).toFixed(2)} the two containers without a transcript`);
      }

      // Tests side by side: one 20-test submission alone (the other slots free) with and without.
      const side: number[] = [];
      const oneByOne: number[] = [];
      for (let round = 0; round < REPEATS; round++) {
        side.push((await submit({ language: 'python', source: PY, tests: tests(20), parallelTests: true })).ms);
        oneByOne.push((await submit({ language: 'python', source: PY, tests: tests(20) })).ms);
      }
      const sp = percentiles(side).p50!;
      const op = percentiles(oneByOne).p50!;
      console.log(`a 20-test Python submission alone, p50: ${f(sp)} with its tests side by side on ${stack.slots} slots, ${f(op)} one after the other: ×${(op / sp).toFixed(2)}`);
    }

    // The whole mix at saturation: with both improvements, and with both off (the C++ header
    // parsed, tests one after the other), in the same run; every submission its own source, so
    // no compile comes from the cache. Rounds in the order on, off, off, on (BENCH_ROUNDS pairs),
    // so a load that rises or falls during the run weighs on both alike. Then the improved mix
    // once more, byte for byte (a rejudge): its compiles come from the worker's compile cache.
    // Besides submissions/min (which the host's load moves), figures that it moves far less:
    // the sandbox CPU-seconds and wall-seconds each submission cost (every phase's cpuMs and
    // wallMs, from the results), and the slots' occupancy (sandbox wall-seconds over slots ×
    // elapsed: how full the worker kept its slots; above 1 would mean more programs running than
    // slots).
    const saturate = async (bodies: Array<Record<string, unknown>>) => {
      const load0 = loadAverage();
      const host0 = hostCpuMs(stack);
      const t0 = performance.now();
      const results = await Promise.all(bodies.map((b) => submit(b, true)));
      const ms = performance.now() - t0;
      const hostMs = hostCpuMs(stack) - host0;
      let cpuMs = 0;
      let wallMs = 0;
      // Per kind (the mix takes each kind in turn): the compile's and the tests' figures apart.
      const byKind = kinds.map(() => ({ compileCpuMs: 0, compileWallMs: 0, testCpuMs: 0, testWallMs: 0, tests: 0, n: 0 }));
      // A submission judged otherwise than meant (e.g. a compile that reached its time limit on a
      // loaded host) did other work than the mix: counted and printed, never hidden in a ratio.
      const unexpected: string[] = [];
      results.forEach(({ result }, i) => {
        const k = byKind[i % kinds.length]!;
        k.n++;
        if (result.verdict !== kinds[i % kinds.length]!.verdict) unexpected.push(`${kinds[i % kinds.length]!.name}: ${result.verdict}`);
        if (result.compile && !result.compile.cached) {
          k.compileCpuMs += result.compile.cpuMs;
          k.compileWallMs += result.compile.wallMs;
        }
        for (const t of result.tests ?? []) {
          k.testCpuMs += t.cpuMs;
          k.testWallMs += t.wallMs;
          k.tests++;
        }
      });
      for (const k of byKind) {
        cpuMs += k.compileCpuMs + k.testCpuMs;
        wallMs += k.compileWallMs + k.testWallMs;
      }
      return {
        ms, perMin: (SATURATE / ms) * 60_000, cached: results.filter((r) => r.result.compile?.cached).length,
        cpuMs, wallMs, hostMs, occupancy: wallMs / (stack.slots * ms), load: `${load0}→${loadAverage()}`, byKind, unexpected,
      };
    };
    type Round = Awaited<ReturnType<typeof saturate>>;
    // Every compile may take up to 2 min of wall time (the default is 20 s): with a load of 12 on
    // the 2 CPUs, the header-parsing C++ compile (~3.8 CPU-s) once passed 20 s and was judged
    // compile_error — a submission that skipped its tests, not the mix.
    const compileLimits = { wallMs: 120_000 };
    const mixOf = (improved: boolean) => Array.from({ length: SATURATE }, (_, i) => {
      const k = kinds[i % kinds.length]!;
      if (improved) return fresh({ ...k.body, compileLimits, parallelTests: true });
      return fresh({ ...k.body, compileLimits, ...(k.name.startsWith('C++') ? { source: CPP_NO_PCH } : {}) });
    });
    // One of each kind first, so neither configuration's first round pays for cold images.
    for (const k of kinds) await submit(k.body);
    const on: Round[] = [];
    const off: Round[] = [];
    let improvedMix = mixOf(true);
    const describe = (name: string, r: Round) => console.log(`    ${name.padEnd(4)} ${r.perMin.toFixed(1).padStart(6)}/min  sandbox ${(r.cpuMs / 1000 / SATURATE).toFixed(2)} CPU-s, ${(r.wallMs / 1000 / SATURATE).toFixed(2)} wall-s per submission  occupancy ${r.occupancy.toFixed(2)}  load ${r.load}${r.unexpected.length ? `  NOT AS MEANT: ${r.unexpected.join('; ')}` : ''}`);
    console.log(`\nsaturation, ${SATURATE} submissions at once, the mix above (${kinds.map((k) => k.name).join('; ')}; each kind in turn), every one with a source of its own; ${stack.slots} slots:`);
    for (let pair = 0; pair < SAT_ROUNDS; pair++) {
      for (const improved of pair % 2 === 0 ? [true, false] : [false, true]) {
        const mix = mixOf(improved);
        if (improved) improvedMix = mix;
        const r = await saturate(mix);
        (improved ? on : off).push(r);
        describe(improved ? 'on' : 'off', r);
      }
    }
    const sum = (rs: Round[], k: 'ms' | 'cpuMs' | 'wallMs' | 'hostMs') => rs.reduce((n, r) => n + r[k], 0);
    const perMin = (rs: Round[]) => (rs.length * SATURATE / sum(rs, 'ms')) * 60_000;
    const both = perMin(on);
    const neither = perMin(off);
    const perSub = (rs: Round[], k: 'cpuMs' | 'wallMs' | 'hostMs') => sum(rs, k) / 1000 / (rs.length * SATURATE);
    const occ = (rs: Round[]) => sum(rs, 'wallMs') / (stack.slots * sum(rs, 'ms'));
    console.log(`  ${both.toFixed(1)} submissions/min with the PCH and tests side by side, ${neither.toFixed(1)} with both off: ×${(both / neither).toFixed(2)} (target ≥ 1.5×; compiles from the cache: ${on.reduce((n, r) => n + r.cached, 0)} and ${off.reduce((n, r) => n + r.cached, 0)})`);
    console.log(`  per submission: ${perSub(on, 'cpuMs').toFixed(2)} against ${perSub(off, 'cpuMs').toFixed(2)} sandbox CPU-s (×${(perSub(off, 'cpuMs') / perSub(on, 'cpuMs')).toFixed(2)} less work), ${perSub(on, 'wallMs').toFixed(2)} against ${perSub(off, 'wallMs').toFixed(2)} sandbox wall-s; slot occupancy ${occ(on).toFixed(2)} against ${occ(off).toFixed(2)}`);
    const total = (rs: Round[]) => perSub(rs, 'cpuMs') + perSub(rs, 'hostMs');
    console.log(`  with the stack's own CPU (API, worker, Redis: ${perSub(on, 'hostMs').toFixed(2)} and ${perSub(off, 'hostMs').toFixed(2)} CPU-s per submission): ${total(on).toFixed(2)} against ${total(off).toFixed(2)} CPU-s, ×${(total(off) / total(on)).toFixed(2)} — the ratio where the CPUs are the limit`);
    // Where each configuration's sandbox time goes, per kind of submission (every round summed).
    const kindFigures = (rs: Round[], i: number) => {
      const t = { compileCpuMs: 0, compileWallMs: 0, testCpuMs: 0, testWallMs: 0, tests: 0, n: 0 };
      for (const r of rs) for (const [key, v] of Object.entries(r.byKind[i]!)) t[key as keyof typeof t] += v;
      const per = (ms: number) => (ms / 1000 / Math.max(1, t.n)).toFixed(2);
      return `compile ${per(t.compileCpuMs)}/${per(t.compileWallMs)}, ${(t.tests / Math.max(1, t.n)).toFixed(1)} tests ${per(t.testCpuMs)}/${per(t.testWallMs)}`;
    };
    console.log('  per submission of each kind, sandbox CPU-s/wall-s (on | off):');
    kinds.forEach((k, i) => console.log(`    ${k.name.padEnd(28)} ${kindFigures(on, i)} | ${kindFigures(off, i)}`));
    const rejudge = await saturate(improvedMix);
    const compiled = improvedMix.filter((b) => b.language !== 'python').length;
    console.log(`  a rejudge of the last ${SATURATE} on (byte for byte; ${rejudge.cached} of ${compiled} compiles from the worker's compile cache): ${rejudge.perMin.toFixed(1)} submissions/min, ×${(rejudge.perMin / neither).toFixed(2)} against both off, ×${(rejudge.perMin / both).toFixed(2)} against judging them the first time (load ${rejudge.load})`);
  } finally {
    client.close();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench:judge: ${err instanceof Error ? err.stack : String(err)}`);
  process.exitCode = 1;
});
