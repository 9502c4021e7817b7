// Every verdict through the whole stack: HTTP → Redis/BullMQ → worker → real sandbox → result.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, readSse, until, waitFor, type Stack } from './harness.ts';
import { needs, realSandbox, realStack, type RealSandbox } from './real-sandbox.ts';

const sb = await realSandbox();
if ('skip' in sb) console.log(`# e2e verdicts skipped: ${sb.skip}`);
let s: Stack;
before(async () => {
  if ('skip' in sb) return;
  s = await realStack(sb as RealSandbox);
});
after(async () => { await s?.stop(); });

const run = async (body: object) => {
  const r = await api(s, 'POST', '/v1/runs?wait=true', body);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
};

test('accepted and wrong answer (bash)', { skip: needs(sb, 'bash') }, async () => {
  const a = await run({ language: 'bash', source: 'echo "hello $1"', args: ['world'], expectedOutput: 'hello world' });
  assert.equal(a.verdict, 'accepted');
  assert.equal(a.run.stdout, 'hello world\n');
  assert.equal(a.status, 'completed');
  const w = await run({ language: 'bash', source: 'echo nope', expectedOutput: 'yes' });
  assert.equal(w.verdict, 'wrong_answer');
});

test('plain run: stdin, env, literal args, stderr', { skip: needs(sb, 'bash') }, async () => {
  const r = await run({ language: 'bash', source: 'read x; echo "$x|$GREETING|$#|$1"; echo err >&2', stdin: 'in put\n', env: { GREETING: 'hi' }, args: ['$(id)'] });
  assert.equal(r.verdict, 'accepted');
  assert.equal(r.run.stdout, 'in put|hi|1|$(id)\n');
  assert.equal(r.run.stderr, 'err\n');
  const m = await run({ language: 'bash', source: 'echo out; echo err >&2', redirectStderrToStdout: true });
  assert.match(m.run.stdout, /out\nerr\n/);
  assert.equal(m.run.stderr, '');
});

test('non-UTF-8 output comes back as base64', { skip: needs(sb, 'bash') }, async () => {
  const r = await run({ language: 'bash', source: "printf '\\xff\\xfe\\x00A'" });
  assert.equal(r.run.encoding, 'base64');
  assert.deepEqual([...Buffer.from(r.run.stdout, 'base64')], [0xff, 0xfe, 0x00, 0x41]);
});

test('binary stdin (stdinEncoding base64) reaches the program byte for byte, also per test', { skip: needs(sb, 'bash') }, async () => {
  const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x41, 0x0a]);
  const r = await run({ language: 'bash', source: 'cat', stdin: bytes.toString('base64'), stdinEncoding: 'base64' });
  assert.equal(r.verdict, 'accepted');
  assert.equal(r.run.encoding, 'base64');
  assert.deepEqual(Buffer.from(r.run.stdout, 'base64'), bytes);
  const t = await run({ language: 'bash', source: 'od -An -tx1 | tr -d " \\n"', stdinEncoding: 'base64',
    tests: [{ stdin: Buffer.from([0x80, 0x01]).toString('base64'), expectedOutput: '8001' }, { stdin: '', expectedOutput: '' }] });
  assert.deepEqual(t.tests.map((x: any) => x.stdout), ['8001', '']);
  assert.equal(t.verdict, 'accepted');
});

test('compile error (C) with the compiler output', { skip: needs(sb, 'c') }, async () => {
  const r = await run({ language: 'c', source: 'int main( { return 0; }' });
  assert.equal(r.verdict, 'compile_error');
  assert.equal(r.run, null);
  assert.match(r.compile.stderr + r.compile.stdout, /error/);
  const ok = await run({ language: 'c', source: '#include <stdio.h>\nint main(){puts("c ok");return 0;}', compilerArgs: ['-O2'] });
  assert.equal(ok.verdict, 'accepted');
  assert.equal(ok.compile.exitCode, 0);
  assert.equal(ok.run.stdout, 'c ok\n');
});

test('runtime error: exit code and signal', { skip: needs(sb, 'bash') }, async () => {
  const e = await run({ language: 'bash', source: 'exit 3' });
  assert.equal(e.verdict, 'runtime_error');
  assert.equal(e.run.exitCode, 3);
  const k = await run({ language: 'bash', source: 'kill -SEGV $$' });
  assert.equal(k.verdict, 'runtime_error');
  assert.equal(k.run.signal, 'SIGSEGV');
  assert.equal(k.run.exitCode, null);
});

test('time limit: cpu and wall', { skip: needs(sb, 'bash') }, async () => {
  const c = await run({ language: 'bash', source: 'while :; do :; done', limits: { cpuMs: 300, wallMs: 20_000 } });
  assert.equal(c.verdict, 'time_limit');
  assert.equal(c.run.limit, 'cpu');
  const w = await run({ language: 'bash', source: 'sleep 30', limits: { wallMs: 300 } });
  assert.equal(w.verdict, 'time_limit');
  assert.equal(w.run.limit, 'wall');
});

test('memory limit', { skip: needs(sb, 'python') }, async () => {
  const r = await run({ language: 'python', source: 'x = bytearray(512 * 1024 * 1024)\nprint(len(x))', limits: { memoryMb: 64 } });
  assert.equal(r.verdict, 'memory_limit', JSON.stringify(r.run));
  assert.equal(r.run.limit, 'memory');
});

test('output limit', { skip: needs(sb, 'bash') }, async () => {
  const r = await run({ language: 'bash', source: 'while :; do echo yyyyyyyyyyyyyyyyyyyy; done', limits: { outputBytes: 1000 } });
  assert.equal(r.verdict, 'output_limit');
  assert.equal(r.run.truncated, true);
  assert.ok(r.run.stdout.length <= 1000);
});

test('tests: each isolated from the others; stop at the first failure', { skip: needs(sb, 'bash') }, async () => {
  const source = 'if [ -e marker ]; then echo dirty; else touch marker; echo clean; fi; read x; echo "$x"';
  const all = await run({ language: 'bash', source, stopOnFirstFailure: false,
    tests: [{ stdin: '1', expectedOutput: 'clean\n1' }, { stdin: '2', expectedOutput: 'clean\n2' }, { stdin: '3', expectedOutput: 'clean\n3' }] });
  assert.deepEqual(all.tests.map((t: any) => t.verdict), ['accepted', 'accepted', 'accepted'], JSON.stringify(all.tests.map((t: any) => t.stdout)));
  assert.equal(all.verdict, 'accepted');
  const stop = await run({ language: 'bash', source: 'read x; echo "$x"',
    tests: [{ stdin: 'a', expectedOutput: 'a' }, { stdin: 'b', expectedOutput: 'B' }, { stdin: 'c', expectedOutput: 'c' }] });
  assert.equal(stop.verdict, 'wrong_answer');
  assert.deepEqual(stop.tests.map((t: any) => t.verdict), ['accepted', 'wrong_answer']);
});

test('tests over a compiled program see the compiled state but not each other\'s writes (C)', { skip: needs(sb, 'c') }, async () => {
  const source = '#include <stdio.h>\n#include <unistd.h>\nint main(){int d=access("w",F_OK)==0;FILE*f=fopen("w","w");if(f)fclose(f);puts(d?"dirty":"clean");return 0;}';
  const r = await run({ language: 'c', source, stopOnFirstFailure: false, tests: [{ expectedOutput: 'clean' }, { expectedOutput: 'clean' }] });
  assert.deepEqual(r.tests.map((t: any) => t.verdict), ['accepted', 'accepted']);
});

test('input files and collect, with a planted symlink never followed', { skip: needs(sb, 'bash') }, async () => {
  const r = await run({
    language: 'bash',
    files: [{ path: 'main.sh', content: 'cat data/in.txt > out.txt; ln -s /etc/shadow leak.txt; ln -s out.txt alias.txt; mkdir -p res; echo deep > res/r.txt' },
      { path: 'data/in.txt', content: Buffer.from('from base64').toString('base64'), encoding: 'base64' }],
    collect: ['*.txt', 'res/**'],
  });
  assert.equal(r.verdict, 'accepted', JSON.stringify(r.run));
  const files = Object.fromEntries(r.files.map((f: any) => [f.path, Buffer.from(f.content, 'base64').toString()]));
  assert.deepEqual(Object.keys(files).sort(), ['out.txt', 'res/r.txt']);
  assert.equal(files['out.txt'], 'from base64');
  assert.equal(files['res/r.txt'], 'deep\n');
});

test('wait vs poll vs SSE give the same result', { skip: needs(sb, 'bash') }, async () => {
  const body = { language: 'bash', source: 'echo same' };
  const waited = await run(body);
  const q = await api(s, 'POST', '/v1/runs', body);
  assert.equal(q.status, 202);
  const events = await readSse(`${s.url}/v1/runs/${q.body.id}/events`);
  const polled = await until(s, q.body.id);
  assert.deepEqual(events.map((e) => e.event), ['queued', 'started', 'phase', 'completed']);
  for (const r of [polled, events.at(-1)!.data.result]) {
    assert.equal(r.verdict, waited.verdict);
    assert.equal(r.run.stdout, waited.run.stdout);
  }
});

/** Host pids of processes whose argv is exactly `argv` (the sandbox's processes are visible from the host). */
async function pidsOf(argv: string[]): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const want = argv.join('\0') + '\0';
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmd === want) out.push(Number(name));
  }
  return out;
}

test('cancel a running run: the result says cancelled and the program is killed', { skip: needs(sb, 'bash') }, async () => {
  const marker = String(600 + Math.floor(Math.random() * 300));
  const q = await api(s, 'POST', '/v1/runs', { language: 'bash', source: `sleep ${marker}`, limits: { wallMs: 600_000 } });
  // Cancel once the program is really running inside the sandbox.
  const pids = await waitFor(async () => { const p = await pidsOf(['sleep', marker]); return p.length ? p : undefined; }, 'the program to run');
  const d = await api(s, 'DELETE', `/v1/runs/${q.body.id}`);
  assert.equal(d.status, 200);
  assert.equal(d.body.status, 'cancelled');
  const later = await until(s, q.body.id);
  assert.equal(later.status, 'cancelled');
  assert.equal(later.run, null);
  // Killed, not left to run out its 600+ s.
  await waitFor(async () => (await pidsOf(['sleep', marker])).length === 0, `sleep ${marker} (pid ${pids.join(',')}) to be killed`);
  const active = async () => (await s.core.metrics!.activeRuns.get()).values[0]?.value ?? 0;
  await waitFor(async () => (await active()) === 0, 'the cancelled run to leave its slot');
});

test('readyz passes with a worker whose sandbox self-test passed', { skip: 'skip' in sb ? sb.skip : false }, async () => {
  const r = await api(s, 'GET', '/readyz');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.checks.sandbox.ok, true);
});

test('tests side by side (parallelTests): each in its own layer, verdicts in test order, stop at the first failure', { skip: needs(sb, 'bash') }, async () => {
  // Each test leaves a mark in /box and looks for the others' marks while they may run beside it.
  const source = 'read n; sleep 0.3; ls /box | grep -c "^mark-" > /tmp/seen; touch /box/mark-$n; ls /box | grep -c "^mark-"; [ "$n" != 4 ] || exit 3';
  const tests = Array.from({ length: 6 }, (_, i) => ({ stdin: `${i}\n`, expectedOutput: '1' }));
  const all = await run({ language: 'bash', source, tests: tests.slice(0, 4), parallelTests: true });
  assert.equal(all.verdict, 'accepted', JSON.stringify(all.tests.map((t: any) => [t.index, t.verdict, t.stdout])));
  assert.deepEqual(all.tests.map((t: any) => t.index), [0, 1, 2, 3]);
  const stopped = await run({ language: 'bash', source, tests, parallelTests: true, stopOnFirstFailure: true });
  assert.equal(stopped.verdict, 'runtime_error');
  assert.deepEqual(stopped.tests.map((t: any) => [t.index, t.verdict]), [[0, 'accepted'], [1, 'accepted'], [2, 'accepted'], [3, 'accepted'], [4, 'runtime_error']]);
});
