// The pipeline's judging logic with the fake launcher: the checker's compile and runs (own
// volumes, layered, worker-written files, testlib argv), interactive tests through connect, groups
// (order, skipping, stopping within a group, scores), events. (The real sandbox: test/e2e/judging.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../services/core/config.ts';
import type { JobRequest, PhaseResult } from '../../services/core/schemas.ts';
import { runPipeline } from '../../worker/pipeline.ts';
import { phaseText } from '../../services/core/result-json.ts';
import { fakeJob, fakeLauncher, fakeRegistry, type FakeProgram } from './fakes.ts';

const config = loadConfig({});
const judge = (program: FakeProgram, language = 'fakec') => ({
  language, source: JSON.stringify(program), files: [], compilerArgs: [], limits: { ...config.limits.run.defaults },
});
function req(program: FakeProgram, over: Partial<JobRequest> = {}): JobRequest {
  return fakeJob(program, { stopOnFirstFailure: false, ...over });
}
const caps = { maxFiles: 10, maxFileBytes: 1000, maxTotalBytes: 10_000 };
const deps = (launcher = fakeLauncher(), extra = {}) => ({ launcher, registry: fakeRegistry(), collectCaps: caps, ...extra });

test('checker: compiled once in its own volume; per test a fresh volume over it with input/output/answer written by the worker', async () => {
  const launcher = fakeLauncher();
  const r = await runPipeline(req({ echo: true }, {
    checker: judge({ obedient: true }),
    tests: [{ stdin: '0 fine', expectedOutput: 'A' }, { stdin: '7 points 0.5', expectedOutput: 'B' }, { stdin: '3 broken' }],
  }), deps(launcher));
  assert.deepEqual(r.tests!.map((t) => t.verdict), ['accepted', 'partial', 'checker_error']);
  assert.equal(r.tests![1]!.points, 0.5);
  assert.deepEqual(r.tests![0]!.checker, { status: 'ok', exitCode: 0, signal: null, message: 'fine', cpuMs: 1, wallMs: 1, memoryKb: 100 });
  assert.equal(r.verdict, 'partial');
  assert.equal(r.checkerCompile!.exitCode, 0);
  // One checker compile, then solution and checker alternate.
  const argvs = launcher.specs.map((s) => s.argv.join(' '));
  assert.deepEqual(argvs, [
    'fakecc main.json', 'fakerun main.json', 'fakerun main.json input.txt output.txt answer.txt',
    'fakerun main.json', 'fakerun main.json input.txt output.txt answer.txt', 'fakerun main.json', 'fakerun main.json input.txt output.txt answer.txt',
  ]);
  const checkerBuild = launcher.specs[0]!.box!.dir;
  for (const s of launcher.specs.filter((x) => x.argv.length === 5)) {
    assert.deepEqual(s.box!.lowerDirs, [checkerBuild], 'each checker run is layered over the compiled checker');
    assert.notEqual(s.box!.dir, checkerBuild);
  }
  assert.deepEqual(launcher.judgeFiles[0], { 'input.txt': '0 fine', 'output.txt': '0 fine', 'answer.txt': 'A' });
  assert.deepEqual(launcher.judgeFiles[2], { 'input.txt': '3 broken', 'output.txt': '3 broken', 'answer.txt': '' });
  assert.equal(launcher.destroyed, launcher.volumes, 'every volume is gone');
});

test('checker: not run after a solution that failed; the solution\'s files never reach it', async () => {
  const launcher = fakeLauncher();
  const r = await runPipeline(req({ byStdin: { crash: { exitCode: 2 }, plant: { stdout: '0 ok', writes: { 'answer.txt': 'planted' } } } }, {
    checker: judge({ obedient: true }, 'fake'),
    tests: [{ stdin: 'crash' }, { stdin: 'plant', expectedOutput: 'real' }],
  }), deps(launcher));
  assert.deepEqual(r.tests!.map((t) => t.verdict), ['runtime_error', 'accepted']);
  assert.equal(r.tests![0]!.checker, undefined);
  assert.equal(launcher.judgeFiles.length, 1);
  assert.equal(launcher.judgeFiles[0]!['answer.txt'], 'real');
  assert.equal(r.checkerCompile, undefined, 'an interpreted checker has no compile phase');
});

test('a checker that does not compile: checker_error, no test runs', async () => {
  const launcher = fakeLauncher();
  const r = await runPipeline(req({ echo: true }, { checker: judge({ compileError: 'checker.c: error' }), tests: [{ stdin: '0' }] }), deps(launcher));
  assert.equal(r.verdict, 'checker_error');
  assert.equal(r.tests, null);
  assert.equal(phaseText(r.checkerCompile!).stderr, 'checker.c: error');
  assert.equal(r.checkerCompile!.verdict, 'checker_error');
  assert.equal(launcher.destroyed, launcher.volumes);
});

test('interactor: solution and interactor connected per test, the input only in the interactor\'s volume; the checker judges its output.txt', async () => {
  const launcher = fakeLauncher();
  const r = await runPipeline(req({ byStdin: {} , stdout: '0 ok' }, {
    interactor: judge({ obedient: true, writes: { 'output.txt': '0 checked' } }),
    checker: judge({ obedient: true }),
    tests: [{ stdin: 'secret input', expectedOutput: 'secret answer' }],
  }), deps(launcher));
  assert.equal(r.verdict, 'accepted', JSON.stringify(r.tests));
  assert.equal(launcher.connected.length, 1);
  const [solution, interactor] = launcher.connected[0]!;
  assert.deepEqual(interactor.argv, ['fakerun', 'main.json', 'input.txt', 'output.txt', 'answer.txt']);
  assert.equal(solution.stdin, undefined, 'the solution gets no test input, only the pipe');
  assert.deepEqual(launcher.judgeFiles[0], { 'input.txt': 'secret input', 'answer.txt': 'secret answer' }, 'the interactor\'s box');
  assert.deepEqual(launcher.judgeFiles[1], { 'input.txt': 'secret input', 'output.txt': '0 checked', 'answer.txt': 'secret answer' }, 'the checker gets the interactor\'s output.txt');
  assert.equal(r.tests![0]!.interactor!.message, 'ok');
  assert.equal(r.tests![0]!.checker!.message, 'checked');
  assert.ok(r.interactorCompile && r.checkerCompile);
  assert.equal(launcher.destroyed, launcher.volumes);
});

test('interactor: its verdicts and the precedence over the solution\'s outcome', async () => {
  const run = async (solution: FakeProgram, interactor: FakeProgram) =>
    (await runPipeline(req(solution, { interactor: judge(interactor, 'fake'), tests: [{ stdin: 'x' }] }), deps())).tests![0]!;
  assert.equal((await run({ stdout: '1 wrong' }, { obedient: true })).verdict, 'wrong_answer');
  assert.equal((await run({ stdout: '7 points 0.75' }, { obedient: true })).points, 0.75);
  assert.equal((await run({ stdout: '3 FAIL' }, { obedient: true })).verdict, 'checker_error');
  assert.equal((await run({ stdout: '0 ok', status: 'memory_limit', limit: 'memory' }, { obedient: true, exitCode: 1 })).verdict, 'memory_limit');
  assert.equal((await run({ status: 'time_limit', limit: 'wall', cpuMs: 1, wallMs: 1000 }, { status: 'time_limit', limit: 'wall', wallMs: 1000 })).verdict, 'idleness_limit');
  assert.equal((await run({ stdout: '0 ok', exitCode: 1 }, { obedient: true })).verdict, 'runtime_error');
  assert.equal((await run({ stdout: '0 ok' }, { signal: 'SIGSEGV' })).verdict, 'checker_error');
});

test('interactor output.txt is read capped: too big → checker_error', async () => {
  const r = await runPipeline(req({ stdout: '0 ok' }, {
    interactor: { ...judge({ obedient: true, writes: { 'output.txt': 'x'.repeat(50) } }, 'fake'), limits: { ...config.limits.run.defaults, outputBytes: 10 } },
    checker: judge({ obedient: true }, 'fake'), tests: [{ stdin: '' }],
  }), deps());
  assert.equal(r.verdict, 'checker_error');
});

test('groups: dependency order, tests in index order, skipping, stopping within a group, scores; results in test order', async () => {
  const launcher = fakeLauncher();
  const ran: number[] = [];
  const phases: Array<[number | undefined, boolean]> = [];
  const r = await runPipeline(req({ echo: true }, {
    checker: judge({ obedient: true }, 'fake'), stopOnFirstFailure: true,
    groups: [
      { name: 'big', points: 50, dependsOn: ['small'], scoring: 'all-or-nothing' },
      { name: 'small', points: 20, scoring: 'all-or-nothing' },
      { name: 'partial', points: 30, scoring: 'min-partial' },
      { name: 'after-partial', points: 10, dependsOn: ['partial'], scoring: 'sum' },
    ],
    tests: [
      { stdin: '0 a', group: 'big' }, { stdin: '0 b', group: 'small' }, { stdin: '1 c', group: 'small' }, { stdin: '0 d', group: 'small' },
      { stdin: '7 points 0.5', group: 'partial' }, { stdin: '0 e', group: 'partial' }, { stdin: '0 f', group: 'after-partial' },
    ],
  }), deps(launcher, { onPhase: async (_n: string, p: PhaseResult, i: number | undefined, last: boolean) => { ran.push(p.index!); phases.push([i, last]); } }));
  assert.deepEqual(ran, [1, 2, 4, 5], 'small first (big depends on it), stopped after its failure; partial runs on past a partial test');
  assert.deepEqual(r.tests!.map((t) => t.verdict), ['skipped', 'accepted', 'wrong_answer', 'skipped', 'partial', 'accepted', 'skipped']);
  assert.deepEqual(r.tests!.map((t) => t.index), [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(r.groups, [
    { name: 'big', points: 50, score: 0, status: 'skipped', tests: [0] },
    { name: 'small', points: 20, score: 0, status: 'failed', tests: [1, 2, 3] },
    { name: 'partial', points: 30, score: 15, status: 'partial', tests: [4, 5] },
    { name: 'after-partial', points: 10, score: 0, status: 'skipped', tests: [6] },
  ]);
  assert.equal(r.score, 15);
  assert.equal(r.maxScore, 110);
  assert.equal(r.verdict, 'wrong_answer');
  assert.ok(phases.every(([, last]) => !last), 'the planned last test (6) never ran: no event claimed to be last');
  assert.equal(launcher.destroyed, launcher.volumes);
});

test('groups without stopOnFirstFailure run every test of a group; the planned last test\'s event is last', async () => {
  const phases: Array<[number | undefined, boolean]> = [];
  const r = await runPipeline(req({ echo: true }, {
    checker: judge({ obedient: true }, 'fake'),
    groups: [{ name: 'a', points: 10, scoring: 'sum' }],
    tests: [{ stdin: '1 x', group: 'a' }, { stdin: '0 y', group: 'a' }],
  }), deps(fakeLauncher(), { onPhase: async (_n: string, _p: PhaseResult, i: number | undefined, last: boolean) => { phases.push([i, last]); } }));
  assert.deepEqual(phases, [[0, false], [1, true]]);
  assert.equal(r.score, 5);
  assert.equal(r.groups![0]!.status, 'partial');
});

test('source together with files: the files, then the source as the main file', async () => {
  const launcher = fakeLauncher();
  const r = await runPipeline(req({ stdout: 'from source' }, { files: [{ path: 'lib.txt', content: 'extra', encoding: 'utf8' }] }), deps(launcher));
  assert.equal(phaseText(r.run!).stdout, 'from source');
});

test('checker ahead: with a free slot, a test\'s checker runs while the program runs the next test; same answer, own layers, slot given back', async () => {
  const { SlotLedger } = await import('../../worker/spare-slots.ts');
  const launcher = fakeLauncher();
  let now = 0;
  let max = 0;
  let cancelled = 0;
  const run = launcher.run.bind(launcher);
  launcher.run = async (spec, signal) => {
    max = Math.max(max, ++now);
    try {
      const o = await run(spec, signal);
      if (o.status === 'cancelled') cancelled++;
      return o;
    } finally {
      now--;
    }
  };
  const tests = [{ stdin: '0 a' }, { stdin: '0 b' }, { stdin: '0 c' }, { stdin: '1 wrong' }, { stdin: '0 e' }];
  const slowEcho: FakeProgram = { echo: true, sleepMs: 20 };
  const ledger = new SlotLedger(2);
  ledger.jobStarted();
  const events: Array<[number | undefined, string | undefined, boolean]> = [];
  const r = await runPipeline(req(slowEcho, { tests, checker: judge({ obedient: true, sleepMs: 20 }), stopOnFirstFailure: false }),
    deps(launcher, { spareSlots: ledger, onPhase: async (_n: string, p: PhaseResult, i: number | undefined, last: boolean) => { events.push([i, p.verdict, last]); } }));
  assert.deepEqual(r.tests!.map((t) => [t.index, t.verdict, t.checker?.message]), [[0, 'accepted', 'a'], [1, 'accepted', 'b'], [2, 'accepted', 'c'], [3, 'wrong_answer', 'wrong'], [4, 'accepted', 'e']]);
  assert.deepEqual(events.map((e) => e[0]), [0, 1, 2, 3, 4]);
  assert.equal(events.at(-1)![2], true);
  assert.equal(max, 2, 'a checker and the next test\'s program at once, never more');
  assert.equal(ledger.inUse, 1, 'the borrowed slot was given back');
  const programs = launcher.specs.filter((s) => s.argv.length === 2 && s.argv[0] === 'fakerun');
  assert.equal(new Set(programs.map((s) => s.box!.dir)).size, 5, 'each test its own layer');
  assert.equal(launcher.destroyed, launcher.volumes, 'every volume destroyed');

  assert.equal(cancelled, 0);
});

test('checker ahead: a checker that stops the run stops the next test\'s program started ahead, which is dropped; no free slot → one at a time', async () => {
  const { SlotLedger } = await import('../../worker/spare-slots.ts');
  const counted = () => {
    const launcher = fakeLauncher();
    const seen = { now: 0, max: 0, cancelled: 0 };
    const run = launcher.run.bind(launcher);
    launcher.run = async (spec, signal) => {
      seen.max = Math.max(seen.max, ++seen.now);
      try {
        const o = await run(spec, signal);
        if (o.status === 'cancelled') seen.cancelled++;
        return o;
      } finally {
        seen.now--;
      }
    };
    return { launcher, seen };
  };
  const tests = [{ stdin: '0 a' }, { stdin: '1 wrong' }, { stdin: '0 slow' }, { stdin: '0 d' }];
  const program: FakeProgram = { echo: true, byStdin: { '0 slow': { echo: true, sleepMs: 60_000 } } };
  const ledger = new SlotLedger(2);
  ledger.jobStarted();
  const { launcher, seen } = counted();
  const events: number[] = [];
  const r = await runPipeline(req(program, { tests, checker: judge({ obedient: true }), stopOnFirstFailure: true }),
    deps(launcher, { spareSlots: ledger, onPhase: async (_n: string, _p: PhaseResult, i: number | undefined) => { events.push(i!); } }));
  assert.deepEqual(r.tests!.map((t) => [t.index, t.verdict]), [[0, 'accepted'], [1, 'wrong_answer']]);
  assert.deepEqual(events, [0, 1]);
  assert.equal(seen.cancelled, 1, 'the program of test 2, started ahead, was stopped');
  assert.equal(launcher.specs.filter((s) => s.argv.length === 2 && s.argv[0] === 'fakerun').length, 3, 'nothing started after it');
  assert.equal(ledger.inUse, 1);
  assert.equal(launcher.destroyed, launcher.volumes, 'its layer destroyed too');

  const busy = new SlotLedger(1);
  busy.jobStarted();
  const one = counted();
  const all = await runPipeline(req({ echo: true }, { tests: [{ stdin: '0 a' }, { stdin: '0 b' }, { stdin: '0 c' }], checker: judge({ obedient: true }) }),
    deps(one.launcher, { spareSlots: busy }));
  assert.equal(all.verdict, 'accepted');
  assert.equal(one.seen.max, 1, 'no slot free: checker and program one after the other');
});

test('judge programs are resolved as such (the language\'s judge-program flags, e.g. a static link), the solution not; the user\'s compilerArgs reach both', async () => {
  const asked: Array<{ id: string; flags: string[]; judgeProgram: boolean }> = [];
  const base = fakeRegistry();
  const registry = { ...base, async resolve(id: string, values: { flags: string[]; args: string[]; judgeProgram?: boolean }) {
    asked.push({ id, flags: values.flags, judgeProgram: values.judgeProgram === true });
    return base.resolve(id, values);
  } };
  const launcher = fakeLauncher();
  const r = await runPipeline(req({ byStdin: {}, stdout: '0 ok' }, {
    language: 'fakec', compilerArgs: ['-solution'],
    interactor: { ...judge({ obedient: true, writes: { 'output.txt': '0 checked' } }), compilerArgs: ['-interactor'] },
    checker: { ...judge({ obedient: true }), compilerArgs: ['-checker'] },
    tests: [{ stdin: 'x' }],
  }), { ...deps(launcher), registry });
  assert.equal(r.verdict, 'accepted', JSON.stringify(r.tests));
  assert.deepEqual(asked, [
    { id: 'fakec', flags: ['-solution'], judgeProgram: false },
    { id: 'fakec', flags: ['-interactor'], judgeProgram: true },
    { id: 'fakec', flags: ['-checker'], judgeProgram: true },
  ]);
});
