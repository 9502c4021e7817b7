// The pipeline's logic with a fake launcher: phases, verdicts, stop-at-first-failure, isolation
// layering, collect, cancel, volume cleanup. (The real sandbox runs in test/e2e/.)
import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../services/core/config.ts';
import type { JobRequest } from '../../services/core/schemas.ts';
import { phaseText } from '../../services/core/result-json.ts';
import { CancelledError, NotStartedError, runPipeline, sandboxLimits } from '../../worker/pipeline.ts';
import { fakeJob, fakeLauncher, fakeRegistry, type FakeProgram } from './fakes.ts';
import { SlotLedger } from '../../worker/spare-slots.ts';

const config = loadConfig({});
function req(program: FakeProgram, over: Partial<JobRequest> = {}): JobRequest {
  return fakeJob(program, { stopOnFirstFailure: true, ...over });
}
const caps = { maxFiles: 10, maxFileBytes: 1000, maxTotalBytes: 10_000 };

test('plain run: accepted, output returned, one volume, cleaned up', async () => {
  const launcher = fakeLauncher();
  const r = await runPipeline(req({ stdout: 'hello\n' }), { launcher, registry: fakeRegistry(), collectCaps: caps });
  assert.equal(r.verdict, 'accepted');
  assert.equal(phaseText(r.run!).stdout, 'hello\n');
  assert.equal(r.compile, null);
  assert.equal(r.tests, null);
  assert.equal(launcher.specs.length, 1);
  assert.equal(launcher.specs[0]!.box!.lowerDirs, undefined);
  assert.equal(launcher.volumes, 1);
  assert.equal(launcher.destroyed, 1);
});

test('expected output: wrong answer vs accepted', async () => {
  const reg = fakeRegistry();
  assert.equal((await runPipeline(req({ stdout: '42\n' }, { expectedOutput: '42' }), { launcher: fakeLauncher(), registry: reg, collectCaps: caps })).verdict, 'accepted');
  assert.equal((await runPipeline(req({ stdout: '41\n' }, { expectedOutput: '42' }), { launcher: fakeLauncher(), registry: reg, collectCaps: caps })).verdict, 'wrong_answer');
});

test('runtime error keeps exit code and signal', async () => {
  const a = await runPipeline(req({ exitCode: 3 }), { launcher: fakeLauncher(), registry: fakeRegistry(), collectCaps: caps });
  assert.equal(a.verdict, 'runtime_error');
  assert.equal(a.run?.exitCode, 3);
  const b = await runPipeline(req({ signal: 'SIGSEGV' }), { launcher: fakeLauncher(), registry: fakeRegistry(), collectCaps: caps });
  assert.equal(b.run?.signal, 'SIGSEGV');
  assert.equal(b.run?.exitCode, null);
});

test('compile error stops before running and reports the compiler output', async () => {
  const launcher = fakeLauncher();
  const r = await runPipeline(req({ compileError: 'main.c:1: error' }, { language: 'fakec', compilerArgs: ['-O2'] }), { launcher, registry: fakeRegistry(), collectCaps: caps });
  assert.equal(r.verdict, 'compile_error');
  assert.equal(phaseText(r.compile!).stderr, 'main.c:1: error');
  assert.equal(r.run, null);
  assert.equal(launcher.specs.length, 1);
  assert.deepEqual(launcher.specs[0]!.argv, ['fakecc', 'main.json', '-O2']);
});

test('tests: each in a fresh layer over the compiled volume; stop at first failure', async () => {
  const launcher = fakeLauncher();
  const phases: string[] = [];
  const program: FakeProgram = { echo: true };
  const r = await runPipeline(req(program, {
    language: 'fakec',
    tests: [{ stdin: 'a', expectedOutput: 'a' }, { stdin: 'b', expectedOutput: 'x' }, { stdin: 'c', expectedOutput: 'c' }],
  }), { launcher, registry: fakeRegistry(), collectCaps: caps, onPhase: async (n, _r, i) => { phases.push(`${n}${i ?? ''}`); } });
  assert.equal(r.verdict, 'wrong_answer');
  assert.equal(r.tests?.length, 2);
  assert.deepEqual(r.tests!.map((t) => t.verdict), ['accepted', 'wrong_answer']);
  assert.deepEqual(r.tests!.map((t) => t.index), [0, 1]);
  assert.deepEqual(phases, ['compile', 'test0', 'test1']);
  const compileDir = launcher.specs[0]!.box!.dir;
  for (const s of launcher.specs.slice(1)) {
    assert.deepEqual(s.box!.lowerDirs, [compileDir]);
    assert.ok(s.box!.workDir);
    assert.notEqual(s.box!.dir, compileDir);
  }
  assert.notEqual(launcher.specs[1]!.box!.dir, launcher.specs[2]!.box!.dir);
  assert.equal(launcher.destroyed, launcher.volumes);
});

test('test events: written in order while the next test runs; every write ends before the result; a failed write fails the job', async () => {
  for (const checked of [false, true]) {
    const launcher = fakeLauncher();
    const log: string[] = [];
    const run = launcher.run.bind(launcher);
    launcher.run = (spec, signal) => {
      if (!spec.argv.includes('input.txt')) log.push(`run ${(spec.stdin ?? '').toString()}`);
      return run(spec, signal);
    };
    const tests = [{ stdin: 'a', expectedOutput: 'a' }, { stdin: 'b', expectedOutput: 'b' }, { stdin: 'c', expectedOutput: 'c' }];
    const ledger = new SlotLedger(2);
    await ledger.jobStarted();
    const extra = checked ? { checker: { language: 'fakec', source: JSON.stringify({ obedient: true }), files: [], compilerArgs: [], limits: { ...config.limits.run.defaults } } } : {};
    const r = await runPipeline(req({ echo: true }, { tests: checked ? tests.map((t) => ({ stdin: `0 ${t.stdin}` })) : tests, ...extra }), {
      launcher, registry: fakeRegistry(), collectCaps: caps, spareSlots: ledger,
      onPhase: async (_n, _r, i) => {
        log.push(`write ${i} starts`);
        await new Promise((resolve) => setTimeout(resolve, 30)); // a slow Redis
        log.push(`write ${i} ends`);
      },
    });
    log.push('result');
    assert.equal(r.verdict, 'accepted', JSON.stringify(r.tests));
    const at = (line: string) => log.findIndex((l) => l.startsWith(line));
    assert.ok(at('run ') >= 0 && at('write 0 starts') >= 0);
    assert.ok(log.indexOf('write 0 ends') > log.findIndex((l, k) => k > at('write 0 starts') && l.startsWith('run ')), `${checked ? 'checked' : 'plain'}: the next test ran while test 0's event was written: ${log.join(', ')}`);
    assert.deepEqual(log.filter((l) => l.startsWith('write')), ['write 0 starts', 'write 0 ends', 'write 1 starts', 'write 1 ends', 'write 2 starts', 'write 2 ends'], 'in order, one at a time');
    assert.equal(log.at(-1), 'result', 'no write after the pipeline returned');
  }
  const launcher = fakeLauncher();
  let writes = 0;
  await assert.rejects(runPipeline(req({ echo: true }, { tests: [{ stdin: 'a' }, { stdin: 'b' }, { stdin: 'c' }, { stdin: 'd' }] }), {
    launcher, registry: fakeRegistry(), collectCaps: caps,
    onPhase: async () => { if (++writes === 1) throw new Error('redis is gone'); },
  }), /redis is gone/);
  assert.equal(writes, 1, 'no write after the failed one');
  assert.ok(launcher.specs.length <= 3, `the job stopped at the next test (${launcher.specs.length} runs)`);
});

test('tests: stopOnFirstFailure=false runs all', async () => {
  const r = await runPipeline(req({ echo: true }, {
    stopOnFirstFailure: false,
    tests: [{ stdin: 'a', expectedOutput: 'x' }, { stdin: 'b', expectedOutput: 'b' }, { stdin: 'c', expectedOutput: 'y' }],
  }), { launcher: fakeLauncher(), registry: fakeRegistry(), collectCaps: caps });
  assert.deepEqual(r.tests!.map((t) => t.verdict), ['wrong_answer', 'accepted', 'wrong_answer']);
  assert.equal(r.verdict, 'wrong_answer');
});

test('limits are converted with units and extraCpuMs added to the kill limit', async () => {
  const launcher = fakeLauncher();
  await runPipeline(req({}, { limits: { ...config.limits.run.defaults, cpuMs: 1000, extraCpuMs: 500, memoryMb: 64, stackMb: 8 } }), { launcher, registry: fakeRegistry(), collectCaps: caps });
  const l = launcher.specs[0]!.limits!;
  assert.equal(l.cpuMs, 1500);
  assert.equal(l.memoryBytes, 64 * 1024 * 1024);
  assert.equal(l.stackBytes, 8 * 1024 * 1024);
  assert.deepEqual(sandboxLimits({ ...config.limits.run.defaults, diskMb: 2 }).diskBytes, 2 * 1024 * 1024);
});

test('args, env, stdin and mergeStderr reach the sandbox; args stay literal', async () => {
  const launcher = fakeLauncher();
  await runPipeline(req({}, { args: ['$(rm -rf /)', 'b c'], env: { A: '1' }, stdin: 'in', redirectStderrToStdout: true }), { launcher, registry: fakeRegistry(), collectCaps: caps });
  assert.equal(launcher.specs[0]!.mergeStderr, true);
  assert.deepEqual(launcher.specs[0]!.argv, ['fakerun', 'main.json', '$(rm -rf /)', 'b c']);
  assert.equal(launcher.specs[0]!.env!.A, '1');
  assert.equal(launcher.specs[0]!.env!.PATH, '/bin');
  assert.equal(launcher.specs[0]!.stdin, 'in');
});

test('base64 stdin reaches the sandbox as the exact bytes, for the run and for each test', async () => {
  const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x0a]);
  const launcher = fakeLauncher();
  await runPipeline(req({}, { stdin: bytes.toString('base64'), stdinEncoding: 'base64' }), { launcher, registry: fakeRegistry(), collectCaps: caps });
  assert.ok(Buffer.isBuffer(launcher.specs[0]!.stdin));
  assert.deepEqual(launcher.specs[0]!.stdin, bytes);
  const t = fakeLauncher();
  await runPipeline(req({}, { tests: [{ stdin: 'AQI=' }, { stdin: '' }], stdinEncoding: 'base64', stopOnFirstFailure: false }), { launcher: t, registry: fakeRegistry(), collectCaps: caps });
  assert.deepEqual(t.specs.map((s) => s.stdin), [Buffer.from([1, 2]), Buffer.alloc(0)]);
});

test('collect returns files written by the run', async () => {
  const r = await runPipeline(req({ writes: { 'out.txt': 'data' } }, { collect: ['out.txt', 'missing.txt'] }), { launcher: fakeLauncher(), registry: fakeRegistry(), collectCaps: caps });
  assert.equal(r.files.length, 1);
  assert.equal(Buffer.from(r.files[0]!.content, 'base64').toString(), 'data');
});

test('repeat runs the program n times in fresh layers and averages', async () => {
  const launcher = fakeLauncher();
  const r = await runPipeline(req({ stdout: 'x' }, { repeat: 3 }), { launcher, registry: fakeRegistry(), collectCaps: caps });
  assert.equal(launcher.specs.length, 3);
  assert.equal(r.verdict, 'accepted');
  assert.equal(launcher.destroyed, launcher.volumes);
});

test('abort while running → CancelledError and volumes destroyed', async () => {
  const launcher = fakeLauncher();
  const ac = new AbortController();
  const p = runPipeline(req({ sleepMs: 60_000 }), { launcher, registry: fakeRegistry(), collectCaps: caps, signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(p, CancelledError);
  assert.equal(launcher.destroyed, launcher.volumes);
});

test('unknown language → error naming it', async () => {
  await assert.rejects(runPipeline(req({}, { language: 'cobol' }), { launcher: fakeLauncher(), registry: fakeRegistry(), collectCaps: caps }), /cobol/);
});

test('start gate: the first launch does not wait for it, but no result is given before it opens; a closed gate stops the run', async () => {
  let open!: (ok: boolean) => void;
  const gate = new Promise<boolean>((r) => { open = r; });
  const launcher = fakeLauncher();
  let settled = false;
  const running = runPipeline(req({ stdout: 'x' }), { launcher, registry: fakeRegistry(), collectCaps: caps, startGate: gate });
  void running.finally(() => { settled = true; });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(launcher.volumes, 1);
  assert.equal(launcher.specs.length, 1, 'launched while the gate is still shut');
  assert.equal(settled, false, 'but the pipeline waits for the gate before using the outcome');
  open(true);
  assert.equal((await running).verdict, 'accepted');
  assert.equal(launcher.specs.length, 1);

  // A run that would last a minute: the closed gate must stop it, not wait for it.
  const refused = fakeLauncher();
  const t0 = Date.now();
  await assert.rejects(runPipeline(req({ sleepMs: 60_000 }), { launcher: refused, registry: fakeRegistry(), collectCaps: caps, startGate: Promise.resolve(false) }), NotStartedError);
  assert.ok(Date.now() - t0 < 10_000, 'the refused run was stopped');
  assert.equal(refused.destroyed, refused.volumes, 'its volume is removed');
});

describe('tests side by side (parallelTests)', () => {
  /** The fake launcher, counting how many runs are under way at once. */
  function counting() {
    const launcher = fakeLauncher();
    let now = 0;
    const seen = { max: 0, cancelled: 0 };
    const run = launcher.run.bind(launcher);
    launcher.run = async (spec, signal) => {
      seen.max = Math.max(seen.max, ++now);
      try {
        const o = await run(spec, signal);
        if (o.status === 'cancelled') seen.cancelled++;
        return o;
      } finally {
        now--;
      }
    };
    return { launcher, seen };
  }
  const six = Array.from({ length: 6 }, (_, i) => ({ stdin: `t${i}`, expectedOutput: 'ok' }));
  const slow = (ms: number): FakeProgram => ({ stdout: 'ok', byStdin: Object.fromEntries(six.map((t, i) => [t.stdin, { stdout: 'ok', sleepMs: ms * (6 - i) }])) });

  it('uses the free slots, keeps test order in results and events, gives each test its own layer', async () => {
    const { launcher, seen } = counting();
    const ledger = new SlotLedger(3);
    ledger.jobStarted();
    const events: Array<[number | undefined, boolean]> = [];
    const out = await runPipeline(req(slow(15), { tests: six, parallelTests: true }), {
      launcher, registry: fakeRegistry(), collectCaps: caps, spareSlots: ledger,
      onPhase: async (_n, _r, index, last) => { events.push([index, last]); },
    });
    assert.equal(out.verdict, 'accepted');
    assert.deepEqual(out.tests!.map((t) => t.index), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(events, [[0, false], [1, false], [2, false], [3, false], [4, false], [5, true]]);
    assert.equal(seen.max, 3, 'its own slot and the two free ones');
    assert.equal(ledger.inUse, 1, 'the borrowed slots were given back');
    const boxes = launcher.specs.map((s) => s.box!);
    assert.equal(new Set(boxes.map((b) => b.dir)).size, 6, 'each test writes its own layer');
    assert.ok(boxes.every((b) => b.lowerDirs?.length === 1 && b.lowerDirs[0] === boxes[0]!.lowerDirs![0]), 'over the same compiled /box');
    assert.equal(launcher.destroyed, launcher.volumes, 'every volume destroyed');
  });

  it('stops at the first failure like a sequential run: later tests stopped and dropped', async () => {
    const { launcher, seen } = counting();
    const ledger = new SlotLedger(4);
    ledger.jobStarted();
    const program: FakeProgram = { byStdin: { t0: { stdout: 'ok', sleepMs: 30 }, t1: { stdout: 'no', sleepMs: 5 }, t2: { stdout: 'ok', sleepMs: 400 }, t3: { stdout: 'ok', sleepMs: 400 } } };
    const events: number[] = [];
    const out = await runPipeline(req(program, { tests: six, parallelTests: true, stopOnFirstFailure: true }), {
      launcher, registry: fakeRegistry(), collectCaps: caps, spareSlots: ledger, onPhase: async (_n, _r, index) => { events.push(index!); },
    });
    assert.equal(out.verdict, 'wrong_answer');
    assert.deepEqual(out.tests!.map((t) => [t.index, t.verdict]), [[0, 'accepted'], [1, 'wrong_answer']]);
    assert.deepEqual(events, [0, 1]);
    assert.ok(seen.cancelled >= 2, `the tests under way after the failure were stopped (${seen.cancelled})`);
    assert.ok(launcher.specs.length <= 4, 'no test started after the failure');
  });

  it('borrows a slot for one test at a time: a job arriving meanwhile gets it when that test ends, and sandboxes never outnumber slots', async () => {
    const launcher = fakeLauncher();
    const ledger = new SlotLedger(2);
    await ledger.jobStarted();
    let now = 0;
    let max = 0;
    let overSlots = 0;
    let launches = 0;
    let next: { resolved: boolean; launchesThen: number; maxAfter: number } | undefined;
    const run = launcher.run.bind(launcher);
    launcher.run = async (spec, signal) => {
      launches++;
      max = Math.max(max, ++now);
      if (next?.resolved) next.maxAfter = Math.max(next.maxAfter, now);
      // The next job, once it has its slot, would run a sandbox of its own beside these.
      if (now + (next?.resolved ? 1 : 0) > 2) overSlots++;
      if (now === 2 && !next) {
        // The job BullMQ hands over next, while this job has a slot on loan.
        const arriving = { resolved: false, launchesThen: 0, maxAfter: 0 };
        next = arriving;
        void ledger.jobStarted().then(() => { arriving.resolved = true; arriving.launchesThen = launches; });
        assert.equal(ledger.jobsWaiting, 1, 'it waits: the free slot is lent');
        assert.equal(ledger.tryBorrow(), false, 'and nothing more is lent while it waits');
      }
      try {
        return await run(spec, signal);
      } finally {
        now--;
      }
    };
    const out = await runPipeline(req({ stdout: 'ok', sleepMs: 40 }, { tests: six, parallelTests: true }), {
      launcher, registry: fakeRegistry(), collectCaps: caps, spareSlots: ledger,
    });
    assert.equal(out.verdict, 'accepted');
    assert.deepEqual(out.tests!.map((t) => t.index), [0, 1, 2, 3, 4, 5]);
    assert.equal(max, 2, 'its own slot and the borrowed one');
    assert.ok(next?.resolved, 'the next job got its slot');
    assert.ok(next.launchesThen < six.length, `before this job's last test started (after ${next.launchesThen} of ${six.length})`);
    assert.equal(next.maxAfter, 1, 'from then on, one test at a time (the other slot is the next job\'s)');
    assert.equal(overSlots, 0, 'never more sandboxes than slots');
    assert.equal(ledger.inUse, 2, 'the two jobs\' own slots, nothing lent');
  });

  it('runs one at a time when no slot is free, and when not asked for', async () => {
    for (const [ledger, parallel] of [[new SlotLedger(1), true], [new SlotLedger(4), false]] as const) {
      const { launcher, seen } = counting();
      ledger.jobStarted();
      const out = await runPipeline(req(slow(2), { tests: six, parallelTests: parallel }), { launcher, registry: fakeRegistry(), collectCaps: caps, spareSlots: ledger });
      assert.equal(out.verdict, 'accepted');
      assert.equal(seen.max, 1);
    }
  });
});

describe('SlotLedger', () => {
  it('lends only slots no job holds, and a job that arrives while its slot is lent waits for it', async () => {
    const ledger = new SlotLedger(2);
    await ledger.jobStarted();
    assert.equal(ledger.tryBorrow(), true);
    assert.equal(ledger.tryBorrow(), false, 'both slots in use');
    let started = false;
    const second = ledger.jobStarted().then(() => { started = true; });
    await Promise.resolve();
    assert.equal(started, false, 'its slot is lent to a test');
    assert.equal(ledger.inUse, 2, 'never more in use than slots');
    ledger.giveBack();
    await second;
    assert.equal(ledger.inUse, 2);
    assert.equal(ledger.tryBorrow(), false);
    ledger.jobEnded();
    assert.equal(ledger.tryBorrow(), true, 'a job ended: its slot is free to lend');
  });

  it('hands slots back to waiting jobs first come first served, never beyond the slots', async () => {
    const ledger = new SlotLedger(3);
    await ledger.jobStarted();
    assert.ok(ledger.tryBorrow() && ledger.tryBorrow());
    const order: string[] = [];
    const b = ledger.jobStarted().then(() => order.push('b'));
    const c = ledger.jobStarted().then(() => order.push('c'));
    assert.equal(ledger.jobsWaiting, 2);
    ledger.giveBack();
    await b;
    assert.deepEqual(order, ['b']);
    assert.equal(ledger.inUse, 3);
    ledger.giveBack();
    await c;
    assert.deepEqual(order, ['b', 'c']);
    assert.equal(ledger.inUse, 3);
    assert.equal(ledger.tryBorrow(), false);
  });
});
