// Streaming runs (runStreaming): stdin written while the program runs, stdout/stderr passed on as
// it writes them, the caller's output cap, EOF, signals and cancel, on the real sandbox, with
// the same leftovers check as the other sandbox tests plus the worker's own descriptors.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import type { StreamingRun } from '../../worker/sandbox/index.ts';
import type { SandboxSpec } from '../../worker/sandbox/types.ts';
import { busyboxLayers, expectNothingLeftBehind, runStreaming } from '../helpers/sandbox.ts';

let layers: string[];
let fdsBefore: number;

const openFds = () => readdirSync('/proc/self/fd').length;

/** A streaming run whose output is collected, with a way to wait for some of it to arrive. */
function start(spec: Omit<SandboxSpec, 'layers'>, opts: { stdinPipe?: boolean; maxOutputBytes?: number } = {}) {
  const got = { stdout: '', stderr: '', chunks: 0 };
  const waiters: Array<() => void> = [];
  const wake = () => { for (const w of waiters.splice(0)) w(); };
  const run: StreamingRun = runStreaming({ layers, ...spec }, {
    stdinPipe: opts.stdinPipe ?? true,
    maxOutputBytes: opts.maxOutputBytes ?? 1 << 20,
    onStdout: (c) => { got.stdout += c.toString(); got.chunks++; wake(); },
    onStderr: (c) => { got.stderr += c.toString(); got.chunks++; wake(); },
  });
  let ended = false;
  void run.outcome.finally(() => { ended = true; wake(); });
  /** Resolves once stdout contains `text`; rejects if the run ends first. */
  const waitFor = async (text: string, stream: 'stdout' | 'stderr' = 'stdout') => {
    while (!got[stream].includes(text)) {
      if (ended) throw new Error(`the run ended before ${stream} had ${JSON.stringify(text)}: ${JSON.stringify(got)}`);
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  return { run, got, waitFor, ended: () => ended };
}

describe('streaming runs', () => {
  before(async () => {
    layers = await busyboxLayers();
    fdsBefore = openFds();
  });
  expectNothingLeftBehind();
  after(() => assert.equal(openFds(), fdsBefore, 'a pipe end was left open in the worker'));

  it('reports its usage while it runs (memory now and peak, CPU), none once it has ended', async () => {
    // 12 MiB in the container's /tmp (a tmpfs: charged to the run's memory) while it waits for a line.
    const s = start({ argv: ['/bin/sh', '-c', 'head -c 12582912 /dev/zero > /tmp/fill; echo ready; read line; wc -c < /tmp/fill'], limits: { wallMs: 120_000 } });
    await s.waitFor('ready\n');
    const u = s.run.usage();
    assert.ok(u, 'no usage while running');
    assert.ok(u.memoryBytes > 12 * 1024 * 1024, JSON.stringify(u));
    if (u.memoryPeakBytes !== null) assert.ok(u.memoryPeakBytes >= u.memoryBytes, JSON.stringify(u));
    assert.ok(u.cpuMs >= 0, JSON.stringify(u));
    s.run.write('go\n');
    s.run.end();
    const o = await s.run.outcome;
    assert.equal(o.status, 'ok', o.error ?? '');
    assert.equal(s.got.stdout.replace(/ +/g, ''), 'ready\n12582912\n');
    assert.equal(s.run.usage(), undefined);
  });

  it('passes output on while the program waits for more stdin, written in pieces', async () => {
    const s = start({ argv: ['/bin/sh', '-c', 'echo ready; while read line; do echo "got $line"; done; echo bye'] });
    await s.waitFor('ready\n');
    s.run.write('fir');
    s.run.write('st\n');
    await s.waitFor('got first\n');
    // The program is still running (blocked on read): its output arrived before its end.
    assert.equal(s.ended(), false);
    s.run.write(Buffer.from('second\n'));
    await s.waitFor('got second\n');
    assert.equal(s.ended(), false);
    s.run.end();
    const o = await s.run.outcome;
    assert.equal(o.status, 'ok', o.error ?? '');
    assert.equal(o.exitCode, 0);
    assert.equal(s.got.stdout, 'ready\ngot first\ngot second\nbye\n');
    assert.equal(o.stdout.length, 0, 'streamed output is not captured as well');
  });

  it('gives head -n1 the first line only and ends without EOF', async () => {
    const s = start({ argv: ['head', '-n1'] });
    s.run.write('one');
    s.run.write('\ntwo\n');
    const o = await s.run.outcome;
    assert.equal(o.status, 'ok', o.error ?? '');
    assert.equal(s.got.stdout, 'one\n');
  });

  it('closing stdin gives the program EOF', async () => {
    const s = start({ argv: ['/bin/sh', '-c', 'cat; echo "[eof]"'] });
    s.run.write('abc');
    await s.waitFor('abc');
    s.run.end();
    const o = await s.run.outcome;
    assert.equal(o.status, 'ok', o.error ?? '');
    assert.equal(s.got.stdout, 'abc[eof]\n');
    assert.equal(s.run.write('late'), false, 'stdin is closed');
  });

  it('streams stderr separately, and merges it into stdout when asked', async () => {
    const a = start({ argv: ['/bin/sh', '-c', 'echo out; echo err >&2; exit 4'] }, { stdinPipe: false });
    const oa = await a.run.outcome;
    assert.equal(oa.status, 'runtime_error');
    assert.equal(oa.exitCode, 4);
    assert.deepEqual([a.got.stdout, a.got.stderr], ['out\n', 'err\n']);
    const b = start({ argv: ['/bin/sh', '-c', 'echo out; echo err >&2'], mergeStderr: true }, { stdinPipe: false });
    await b.run.outcome;
    assert.deepEqual([b.got.stdout, b.got.stderr], ['out\nerr\n', '']);
  });

  it('without a stdin pipe the program reads spec.stdin', async () => {
    const s = start({ argv: ['cat'], stdin: 'from the spec' }, { stdinPipe: false });
    const o = await s.run.outcome;
    assert.equal(o.status, 'ok', o.error ?? '');
    assert.equal(s.got.stdout, 'from the spec');
    assert.equal(s.run.write('x'), false);
  });

  it('stops a program at the output cap with output_limit, passing on exactly the cap', async () => {
    const s = start({ argv: ['yes', 'abcdefghij'] }, { stdinPipe: false, maxOutputBytes: 100_000 });
    const o = await s.run.outcome;
    assert.equal(o.status, 'output_limit');
    assert.equal(o.limit, 'output');
    assert.equal(o.signal, 'SIGKILL');
    assert.equal(o.stdoutTruncated, true);
    assert.equal(o.stderrTruncated, false);
    assert.equal(s.got.stdout.length + s.got.stderr.length, 100_000);
    assert.ok(s.got.stdout.startsWith('abcdefghij\nabcdefghij\n'));
  });

  it('counts stdout and stderr together against the cap', async () => {
    const s = start({ argv: ['/bin/sh', '-c', 'echo 12345; while :; do echo 1234567890 >&2; done'] }, { stdinPipe: false, maxOutputBytes: 1000 });
    const o = await s.run.outcome;
    assert.equal(o.status, 'output_limit');
    assert.equal(o.stderrTruncated, true);
    assert.equal(s.got.stdout, '12345\n');
    assert.equal(s.got.stdout.length + s.got.stderr.length, 1000);
  });

  it('output exactly at the cap is not a limit', async () => {
    const s = start({ argv: ['/bin/sh', '-c', 'printf 0123456789'] }, { stdinPipe: false, maxOutputBytes: 10 });
    const o = await s.run.outcome;
    assert.equal(o.status, 'ok', o.error ?? '');
    assert.equal(s.got.stdout, '0123456789');
  });

  it('delivers a signal to the program, which may handle it', async () => {
    const s = start({ argv: ['/bin/sh', '-c', 'trap "echo caught; exit 3" TERM; echo ready; while :; do sleep 0.05; done'] });
    await s.waitFor('ready\n');
    assert.equal(s.run.kill('SIGTERM'), true);
    const o = await s.run.outcome;
    assert.equal(s.got.stdout, 'ready\ncaught\n');
    assert.equal(o.status, 'runtime_error');
    assert.equal(o.exitCode, 3);
  });

  it('SIGKILL through kill() ends the program with that signal; kill after the end is a no-op', async () => {
    const s = start({ argv: ['/bin/sh', '-c', 'echo ready; exec sleep 100'] });
    await s.waitFor('ready\n');
    assert.equal(s.run.kill('SIGKILL'), true);
    const o = await s.run.outcome;
    assert.equal(o.status, 'runtime_error');
    assert.equal(o.signal, 'SIGKILL');
    assert.equal(s.run.kill('SIGKILL'), false);
    assert.equal(s.run.kill('SIGNOPE'), false);
  });

  it('cancels through spec.signal', async () => {
    const ac = new AbortController();
    const s = start({ argv: ['/bin/sh', '-c', 'echo ready; cat'], signal: ac.signal });
    await s.waitFor('ready\n');
    ac.abort();
    const o = await s.run.outcome;
    assert.equal(o.status, 'cancelled');
  });

  it('a program waiting for stdin that never comes hits the wall-clock limit', async () => {
    const s = start({ argv: ['cat'], limits: { wallMs: 300 } });
    const o = await s.run.outcome;
    assert.equal(o.status, 'time_limit');
    assert.equal(o.limit, 'wall');
  });

  it('a cancel before the start still closes every pipe end', async () => {
    const ac = new AbortController();
    ac.abort();
    const s = start({ argv: ['true'], signal: ac.signal });
    const o = await s.run.outcome;
    assert.equal(o.status, 'cancelled');
  });

  // Each streaming run holds a libuv thread-pool thread until it ends: eight waiting for their
  // input need more than the default four (scripts/test.sh and bin/corral set the size).
  const poolThreads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  it('runs eight interactive programs at once without mixing their streams', {
    skip: poolThreads < 9 ? `needs UV_THREADPOOL_SIZE of at least 9 (it is ${poolThreads}): the eight runs would wait for each other` : false,
  }, async () => {
    const runs = Array.from({ length: 8 }, (_, i) => ({ i, s: start({ argv: ['/bin/sh', '-c', `echo "ready ${i}"; read x; echo "${i}:$x"`] }) }));
    await Promise.all(runs.map(({ i, s }) => s.waitFor(`ready ${i}\n`)));
    for (const { i, s } of runs) s.run.write(`input-${i}\n`);
    const outcomes = await Promise.all(runs.map(({ s }) => s.run.outcome));
    runs.forEach(({ i, s }, k) => {
      assert.equal(outcomes[k]!.status, 'ok');
      assert.equal(s.got.stdout, `ready ${i}\n${i}:input-${i}\n`);
    });
  });
});
