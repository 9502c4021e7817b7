// Piston's interactive WebSocket (/api/v2/connect) end to end: a real WebSocket client (`ws`)
// against the real stack — the API on port 0, a private redis-server, the interactive queue and
// Redis streams, a worker running the real sandbox with the built images. Every close code,
// stdin round trips, signals, EOF, both caps, auth, and nothing left behind. Skipped, with the
// reason printed, where the real sandbox or an image is missing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import WebSocket from 'ws';
import { interactiveKeys } from '../../services/core/interactive-protocol.ts';
import { startStack, type Stack } from '../e2e/harness.ts';
import { IMAGES_DIR, needs, realSandbox, type RealSandbox } from '../e2e/real-sandbox.ts';
import { settledSnapshot, testHost } from '../helpers/sandbox.ts';

// The worker's runs (and the self-test) go through the test host, so its snapshots see them.
try { testHost(); } catch { /* realSandbox() says why */ }
const sb = await realSandbox();
const skip = needs(sb, 'bash', 'c');
if (skip) console.log(`# piston connect tests skipped: ${skip}`);

interface Closed { code: number; reason: string }

/** A WebSocket client that records every message and the close. */
class Client {
  readonly messages: any[] = [];
  readonly closed: Promise<Closed>;
  private waiters: Array<() => void> = [];
  private done = false;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => { this.messages.push(JSON.parse(d.toString())); this.wake(); });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => { this.done = true; this.wake(); resolve({ code, reason: reason.toString() }); }));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  send(m: unknown): void {
    this.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  }

  /** All stdout (or stderr) data received so far. */
  text(stream: 'stdout' | 'stderr' = 'stdout'): string {
    return this.messages.filter((m) => m.type === 'data' && m.stream === stream).map((m) => m.data).join('');
  }

  /** Waits until `pred` holds; fails if the socket closes first. */
  async until(pred: () => boolean, what: string): Promise<void> {
    while (!pred()) {
      if (this.done) throw new Error(`closed before ${what}; got ${JSON.stringify(this.messages).slice(0, 2000)}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  untilText(text: string, stream: 'stdout' | 'stderr' = 'stdout'): Promise<void> {
    return this.until(() => this.text(stream).includes(text), `${stream} had ${JSON.stringify(text)}`);
  }

  types(): string[] {
    return this.messages.map((m) => m.type === 'stage' ? `stage:${m.stage}` : m.type === 'exit' ? `exit:${m.stage}` : m.type);
  }
}

function open(stack: Stack, headers: Record<string, string> = {}): Promise<Client> {
  const ws = new WebSocket(`${stack.url.replace(/^http/, 'ws')}/api/v2/connect`, { headers });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(new Client(ws)));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

const bash = (source: string, extra: Record<string, unknown> = {}) => ({ type: 'init', language: 'bash', version: '*', files: [{ content: source }], ...extra });

const metricsText = async (stack: Stack): Promise<string> => (await fetch(`${stack.url}/metrics`)).text();

/** The keys of the session streams left in Redis (wake streams of live readers excluded). */
async function sessionKeys(stack: Stack): Promise<string[]> {
  return (await stack.core.redis.keys(`${stack.config.keyPrefix}:interactive:*`)).filter((k) => !k.includes(':wake:'));
}

describe('Piston /api/v2/connect', { skip }, () => {
  let stack: Stack;
  let baseline: string;

  before(async () => {
    const real = sb as RealSandbox;
    baseline = await settledSnapshot(testHost());
    stack = await startStack({
      launcher: real.launcher, registry: real.registry,
      env: { CORRAL_INTERACTIVE_INIT_TIMEOUT_MS: '300', CORRAL_RUN_OUTPUT_BYTES_DEFAULT: '20000', CORRAL_INTERACTIVE_STDIN_MAX_BYTES: '1000' },
    });
    // The API knows languages once the worker's first heartbeat is in.
    for (let i = 0; i < 400 && (await stack.core.runService.languages()).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
  });
  after(async () => {
    await stack?.stop();
    assert.equal(await settledSnapshot(testHost()), baseline, 'a session left a container, cgroup, mount or process behind');
  });

  it('runs a program: runtime, stage, data, exit, close 4999', async () => {
    const c = await open(stack);
    c.send(bash('echo hello; echo oops >&2; exit 3'));
    const closed = await c.closed;
    assert.deepEqual(closed, { code: 4999, reason: 'Job Completed' });
    assert.deepEqual(c.messages[0], { type: 'runtime', language: 'bash', version: c.messages[0].version });
    assert.match(c.messages[0].version, /^\d+\.\d+\.\d+$/);
    assert.deepEqual(c.messages[1], { type: 'stage', stage: 'run' });
    assert.equal(c.text(), 'hello\n');
    assert.equal(c.text('stderr'), 'oops\n');
    const exit = c.messages.at(-1);
    assert.equal(exit.type, 'exit');
    assert.deepEqual([exit.stage, exit.code, exit.signal, exit.status], ['run', 3, null, 'RE']);
    assert.deepEqual(await sessionKeys(stack), [], 'a finished session\'s streams are removed');
    const m = await metricsText(stack);
    assert.match(m, /corral_interactive_sessions_total\{outcome="done"\} [1-9]/);
  });

  it('streams output before the program ends and feeds stdin as it is sent', async () => {
    const c = await open(stack);
    c.send(bash('echo "name?"; read n; echo "hi $n"; read m; echo "bye $m"'));
    await c.untilText('name?\n');
    c.send({ type: 'data', stream: 'stdin', data: 'bo' });
    c.send({ type: 'data', stream: 'stdin', data: 'b\n' });
    await c.untilText('hi bob\n');
    assert.equal(c.messages.some((m) => m.type === 'exit'), false, 'output arrived while the program was still running');
    c.send({ type: 'data', stream: 'stdin', data: 'alice\n' });
    assert.equal((await c.closed).code, 4999);
    assert.equal(c.text(), 'name?\nhi bob\nbye alice\n');
    assert.equal(c.messages.at(-1).code, 0);
  });

  it('feeds the init\'s stdin first, and keeps stdin sent before the run starts', async () => {
    const c = await open(stack);
    c.send(bash('read a; read b; echo "$a-$b"', { stdin: 'first\n' }));
    c.send({ type: 'data', stream: 'stdin', data: 'second\n' }); // before runtime has even arrived
    assert.equal((await c.closed).code, 4999);
    assert.equal(c.text(), 'first-second\n');
  });

  it('compiles, then runs interactively; a compile error ends after the compile stage', async () => {
    const c = await open(stack);
    c.send({
      type: 'init', language: 'c', version: '*',
      files: [{ name: 'main.c', content: '#include <stdio.h>\nint main(){int a,b;printf("a?\\n");fflush(stdout);scanf("%d",&a);printf("b?\\n");fflush(stdout);scanf("%d",&b);printf("%d\\n",a+b);return 0;}' }],
    });
    await c.untilText('a?\n');
    c.send({ type: 'data', stream: 'stdin', data: '40\n' });
    await c.untilText('b?\n');
    c.send({ type: 'data', stream: 'stdin', data: '2\n' });
    assert.equal((await c.closed).code, 4999);
    assert.deepEqual(c.types().filter((t) => t !== 'data'), ['runtime', 'stage:compile', 'exit:compile', 'stage:run', 'exit:run']);
    assert.equal(c.messages.find((m) => m.type === 'exit' && m.stage === 'compile').code, 0);
    assert.equal(c.text().endsWith('42\n'), true);

    const bad = await open(stack);
    bad.send({ type: 'init', language: 'c', version: '*', files: [{ content: 'int main( {' }] });
    assert.equal((await bad.closed).code, 4999);
    assert.deepEqual(bad.types().filter((t) => t !== 'data'), ['runtime', 'stage:compile', 'exit:compile']);
    const exit = bad.messages.at(-1);
    assert.notEqual(exit.code, 0);
    assert.match(bad.text('stderr'), /error/);
  });

  it('delivers signals to the program', async () => {
    const c = await open(stack);
    c.send(bash('trap "echo got-int; exit 7" INT; echo ready; while :; do sleep 0.05; done'));
    await c.untilText('ready\n');
    c.send({ type: 'signal', signal: 'SIGINT' });
    assert.equal((await c.closed).code, 4999);
    assert.equal(c.text(), 'ready\ngot-int\n');
    assert.equal(c.messages.at(-1).code, 7);

    const k = await open(stack);
    k.send(bash('echo ready; exec sleep 100'));
    await k.untilText('ready\n');
    k.send({ type: 'signal', signal: 'SIGKILL' });
    assert.equal((await k.closed).code, 4999);
    const exit = k.messages.at(-1);
    assert.deepEqual([exit.code, exit.signal, exit.status], [null, 'SIGKILL', 'SG']);
  });

  it('closes stdin on eof (Corral\'s addition)', async () => {
    const c = await open(stack);
    c.send(bash('cat; echo "[end]"'));
    await c.until(() => c.messages.some((m) => m.type === 'stage'), 'the run stage');
    c.send({ type: 'data', stream: 'stdin', data: 'xyz' });
    c.send({ type: 'eof' });
    assert.equal((await c.closed).code, 4999);
    assert.equal(c.text(), 'xyz[end]\n');
  });

  it('stops a program at the output cap and says so in the exit message', async () => {
    const c = await open(stack);
    c.send(bash('yes 0123456789'));
    assert.equal((await c.closed).code, 4999);
    assert.equal(c.text().length, 20_000);
    const exit = c.messages.at(-1);
    assert.deepEqual([exit.type, exit.status, exit.signal, exit.code], ['exit', 'OL', 'SIGKILL', null]);
    assert.match(exit.message, /output limit .*20000 bytes/);
  });

  it('ends a session that sends more stdin than allowed (4002)', async () => {
    const c = await open(stack);
    c.send(bash('cat > /dev/null; sleep 100'));
    await c.until(() => c.messages.some((m) => m.type === 'stage'), 'the run stage');
    c.send({ type: 'data', stream: 'stdin', data: 'x'.repeat(600) });
    c.send({ type: 'data', stream: 'stdin', data: 'x'.repeat(600) });
    assert.deepEqual(await c.closed, { code: 4002, reason: 'Notified Error' });
    assert.match(c.messages.at(-1).message, /stdin limit exceeded.*1000 bytes/);
  });

  it('4000: a second init', async () => {
    const c = await open(stack);
    c.send(bash('sleep 100'));
    c.send(bash('echo again'));
    assert.deepEqual(await c.closed, { code: 4000, reason: 'Already Initialized' });
  });

  it('4001: no init in time (CORRAL_INTERACTIVE_INIT_TIMEOUT_MS)', async () => {
    const c = await open(stack);
    assert.deepEqual(await c.closed, { code: 4001, reason: 'Initialization Timeout' });
    assert.deepEqual(c.messages, []);
  });

  it('4003: data, signal or eof before init', async () => {
    for (const m of [{ type: 'data', stream: 'stdin', data: 'x' }, { type: 'signal', signal: 'SIGINT' }, { type: 'eof' }]) {
      const c = await open(stack);
      c.send(m);
      assert.deepEqual(await c.closed, { code: 4003, reason: 'Not yet initialized' }, JSON.stringify(m));
    }
  });

  it('4004: writing to anything but stdin', async () => {
    const c = await open(stack);
    c.send(bash('sleep 100'));
    c.send({ type: 'data', stream: 'stdout', data: 'x' });
    assert.deepEqual(await c.closed, { code: 4004, reason: 'Can only write to stdin' });
  });

  it('4005: a signal Piston does not know', async () => {
    for (const signal of ['SIGNOPE', 9, 'sigint']) {
      const c = await open(stack);
      c.send(bash('sleep 100'));
      c.send({ type: 'signal', signal });
      assert.deepEqual(await c.closed, { code: 4005, reason: 'Invalid signal' }, String(signal));
    }
  });

  it('4002 with a message for bad JSON and a bad init; unknown types are ignored; the server stays healthy', async () => {
    const cases: Array<[unknown, RegExp]> = [
      ['{not json', /not valid JSON/],
      ['null', /JSON object/],
      [{ type: 'init', language: 'whitespace', version: '*', files: [{ content: 'x' }] }, /^whitespace-\* runtime is unknown$/],
      [{ type: 'init', language: 'bash', version: '*' }, /^files is required as an array$/],
      [{ type: 'init', language: 'bash', version: '*', files: [{ content: 'x' }], run_timeout: 10_000_000 }, /^run_timeout cannot exceed the configured limit of \d+$/],
      [{ type: 'init', language: 'bash', version: '*', files: [{ content: 'x' }, { content: 'y', name: '../escape' }] }, /escape/],
    ];
    for (const [m, message] of cases) {
      const c = await open(stack);
      c.send({ type: 'whatever' }); // ignored, as Piston does
      c.send(m);
      assert.deepEqual(await c.closed, { code: 4002, reason: 'Notified Error' }, JSON.stringify(m));
      assert.equal(c.messages.length, 1);
      assert.equal(c.messages[0].type, 'error');
      assert.match(c.messages[0].message, message);
    }
    const health = await fetch(`${stack.url}/healthz`);
    assert.equal(health.status, 200);
    const ok = await open(stack);
    ok.send(bash('echo still fine'));
    assert.equal((await ok.closed).code, 4999);
    assert.equal(ok.text(), 'still fine\n');
  });

  it('a plain GET on the path answers 426 in Piston\'s error shape', async () => {
    const res = await fetch(`${stack.url}/api/v2/connect`);
    assert.equal(res.status, 426);
    assert.match((await res.json()).message, /WebSocket/);
  });

  it('stops the program when the client goes away mid-run, and removes the session\'s streams', async () => {
    const c = await open(stack);
    c.send(bash('echo ready; sleep 100'));
    await c.untilText('ready\n');
    c.ws.terminate();
    await c.closed;
    // The run is killed and torn down: no container, cgroup or process of ours is left.
    for (let i = 0; i < 400; i++) {
      if (await settledSnapshot(testHost()) === baseline && (await sessionKeys(stack)).length === 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(await settledSnapshot(testHost()), baseline);
    assert.deepEqual(await sessionKeys(stack), []);
  });

  it('runs several sessions at once without mixing them', async () => {
    const clients = await Promise.all([0, 1, 2].map(() => open(stack)));
    clients.forEach((c, i) => c.send(bash(`echo "ready ${i}"; read x; echo "${i}:$x"`)));
    await Promise.all(clients.map((c, i) => c.untilText(`ready ${i}\n`)));
    clients.forEach((c, i) => c.send({ type: 'data', stream: 'stdin', data: `in-${i}\n` }));
    for (const [i, c] of clients.entries()) {
      assert.equal((await c.closed).code, 4999);
      assert.equal(c.text(), `ready ${i}\n${i}:in-${i}\n`);
    }
  });
});

describe('Piston /api/v2/connect with API keys and worker shutdown', { skip }, () => {
  let stack: Stack;

  before(async () => {
    const real = sb as RealSandbox;
    stack = await startStack({ launcher: real.launcher, registry: real.registry, env: { CORRAL_API_KEYS: 'k1,k2' } });
    for (let i = 0; i < 400 && (await stack.core.runService.languages()).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
  });
  after(async () => {
    await stack?.stop();
  });

  it('refuses the upgrade without a valid key, accepts X-Auth-Token and Authorization', async () => {
    await assert.rejects(open(stack), { status: 401 });
    await assert.rejects(open(stack, { 'x-auth-token': 'nope' }), { status: 401 });
    const accepted: Array<Record<string, string>> = [{ 'x-auth-token': 'k1' }, { authorization: 'Bearer k2' }, { authorization: 'k1' }];
    for (const headers of accepted) {
      const c = await open(stack, headers);
      c.send(bash('echo authorised'));
      assert.equal((await c.closed).code, 4999, JSON.stringify(headers));
      assert.equal(c.text(), 'authorised\n');
    }
  });

  it('tells the client when the worker running its session shuts down (4002)', async () => {
    const c = await open(stack, { 'x-auth-token': 'k1' });
    c.send(bash('echo ready; sleep 100'));
    await c.untilText('ready\n');
    await stack.worker!.close(true);
    assert.deepEqual(await c.closed, { code: 4002, reason: 'Notified Error' });
    assert.match(c.messages.at(-1).message, /worker .* shutting down/);
  });
});

describe('Piston /api/v2/connect when no worker takes sessions', { skip }, () => {
  let stack: Stack;

  before(async () => {
    const real = sb as RealSandbox;
    // The worker runs batch runs (and reports languages) but takes no interactive session.
    stack = await startStack({ launcher: real.launcher, registry: real.registry, env: { CORRAL_INTERACTIVE_SLOTS: '0', CORRAL_MAX_WAIT_MS: '300' } });
    for (let i = 0; i < 400 && (await stack.core.runService.languages()).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
  });
  after(async () => {
    await stack?.stop();
  });

  it('gives up after CORRAL_MAX_WAIT_MS with an error (4002), dropping the queued session', async () => {
    const c = await open(stack);
    c.send(bash('echo never'));
    c.send({ type: 'data', stream: 'stdin', data: 'typed ahead\n' });
    assert.deepEqual(await c.closed, { code: 4002, reason: 'Notified Error' });
    assert.deepEqual(c.messages.map((m) => m.type), ['error']);
    assert.match(c.messages[0].message, /no worker took the session within 300 ms/);
    const keys = interactiveKeys(stack.config.keyPrefix);
    const connection = stack.core.redis.duplicate();
    const queue = new Queue(keys.queue, { connection, prefix: keys.bullPrefix });
    try {
      const counts = await queue.getJobCounts('wait', 'prioritized', 'delayed', 'active');
      assert.deepEqual(Object.values(counts).reduce((a, b) => a + b, 0), 0, `the session is still queued: ${JSON.stringify(counts)}`);
    } finally {
      await queue.close();
      connection.disconnect();
    }
    assert.deepEqual(await sessionKeys(stack), []);
  });
});

describe('Piston /api/v2/connect when the worker running a session dies', { skip }, () => {
  const CORRAL = fileURLToPath(new URL('../../bin/corral', import.meta.url));
  let stack: Stack;
  let worker: ChildProcess | undefined;

  before(async () => {
    // The API in this process, no worker of its own; the worker is a `corral worker` process.
    stack = await startStack({ env: { CORRAL_INTERACTIVE_WORKER_SILENCE_MS: '1500' } });
    worker = spawn(CORRAL, ['worker'], {
      env: {
        PATH: process.env.PATH, REDIS_URL: stack.redis.url, CORRAL_KEY_PREFIX: stack.config.keyPrefix, CORRAL_IMAGES_DIR: IMAGES_DIR,
        CORRAL_LOG_LEVEL: process.env.CORRAL_TEST_LOG ?? 'silent', CORRAL_HEARTBEAT_MS: '200', CORRAL_INTERACTIVE_WORKER_SILENCE_MS: '1500',
        CORRAL_POOL_MAX_WARM: '0',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    for (let i = 0; i < 800 && (await stack.core.runService.languages()).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
  });
  after(async () => {
    if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    await stack?.stop();
  });

  it('tells the client once the worker has been silent for CORRAL_INTERACTIVE_WORKER_SILENCE_MS (4002), and leaves nothing behind', async () => {
    const c = await open(stack);
    c.send(bash('echo ready; sleep 100'));
    await c.untilText('ready\n');
    // Heartbeats keep a quiet session alive past the silence window.
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal(c.messages.some((m) => m.type === 'error'), false, JSON.stringify(c.messages));
    const t0 = Date.now();
    worker!.kill('SIGKILL');
    await new Promise<void>((r) => worker!.once('exit', () => r()));
    assert.deepEqual(await c.closed, { code: 4002, reason: 'Notified Error' });
    assert.match(c.messages.at(-1).message, /stopped answering \(silent for 1500 ms\)/);
    assert.ok(Date.now() - t0 < 5_000, `noticed after ${Date.now() - t0} ms`);
    // The dead worker's container died with it (PDEATHSIG); its directories, cgroups and volumes
    // are swept like any dead worker's.
    testHost().sweep();
    assert.deepEqual(await sessionKeys(stack), []);
    const m = await metricsText(stack);
    assert.match(m, /corral_interactive_sessions_total\{outcome="failed"\} 1\b/);
    assert.match(m, /corral_interactive_sessions 0\b/);
  });
});
