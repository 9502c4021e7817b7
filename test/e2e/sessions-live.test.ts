// Notebook sessions under strain, end to end: a running session's live usage (memory and CPU from
// its cgroup, in GET /v1/sessions/:id), the 503 session_unresponsive bound (a worker that beats but
// never answers), and a hostile kernel through HTTP (floods, enormous lines and display data, the
// bridge killed, stopped or its kernel's fds closed from inside, a fork bomb within the pids
// limit): each gets a clean answer, the API and the worker stay up, nothing is left behind.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connectRedis } from '../../services/core/redis.ts';
import { sessionKeys } from '../../services/core/session-protocol.ts';
import { expectNothingLeftBehind } from '../helpers/sandbox.ts';
import { bridges, plain, show, slowVmBound } from '../helpers/sessions.ts';
import { api, startStack, waitFor, type Stack } from './harness.ts';
import { needs, realSandbox, type RealSandbox } from './real-sandbox.ts';

const sb = await realSandbox();
const skip = needs(sb, 'python');
if (skip) console.log(`# live session tests skipped: ${skip}`);
const real = sb as RealSandbox;

const exec = (s: Stack, id: string, code: string, extra: Record<string, unknown> = {}) => api(s, 'POST', `/v1/sessions/${id}/execute`, { code, ...extra });

async function openSession(s: Stack): Promise<string> {
  const r = await api(s, 'POST', '/v1/sessions', { language: 'python' });
  assert.equal(r.status, 201, show(r));
  return r.body.id as string;
}


/** The API answers and the worker still runs cells (a fresh session answers `1+1`). */
async function stillServing(s: Stack): Promise<void> {
  assert.equal((await api(s, 'GET', '/healthz')).status, 200);
  const id = await openSession(s);
  const r = await exec(s, id, '1+1');
  assert.equal(plain(r.body), '2', show(r));
  assert.equal((await api(s, 'DELETE', `/v1/sessions/${id}`)).status, 200);
}

describe('a worker that beats but never answers: 503 session_unresponsive, bounded', () => {
  let s: Stack;
  let beating: NodeJS.Timeout | undefined;
  // No worker at all: the test plays one that took the session and beats, and answers nothing.
  before(async () => {
    s = await startStack({ env: { CORRAL_SESSION_ANSWER_MARGIN_MS: '300', CORRAL_SESSION_START_TIMEOUT_MS: '1000', CORRAL_SESSION_WORKER_SILENCE_MS: '2000' } });
  });
  after(async () => {
    clearInterval(beating);
    await s?.stop();
  });

  it('answers a cell and an interrupt 503 session_unresponsive once their bounds pass, while the worker still beats', async () => {
    const redis = connectRedis(s.redis.url, 'test-fake-worker');
    try {
      const keys = sessionKeys(s.config.keyPrefix);
      const id = randomUUID();
      const now = new Date().toISOString();
      const limits = JSON.stringify({ memoryMb: 512, cpuS: 600, cpus: 1, processes: 128, diskMb: 256 });
      await redis.hset(keys.record(id), {
        id, status: 'ready', language: 'python', createdAt: now, lastUsedAt: now, idleTimeoutS: 600, maxLifetimeS: 3600, limits, cells: 0,
        worker: 'fake-worker', beatAt: String(Date.now()),
      });
      const beat = () => void redis.hset(keys.record(id), 'beatAt', String(Date.now()));
      beating = setInterval(beat, 200);
      const cell = await exec(s, id, '1+1', { timeoutMs: 100 });
      assert.equal(cell.status, 503, show(cell));
      assert.equal(cell.body.error.code, 'session_unresponsive');
      assert.equal(cell.body.error.details.waitedMs, 100 + 1000 + 300);
      assert.ok(cell.headers.get('retry-after'));
      const interrupt = await api(s, 'POST', `/v1/sessions/${id}/interrupt`);
      assert.equal(interrupt.status, 503, show(interrupt));
      assert.equal(interrupt.body.error.details.waitedMs, 600);
      // The requests reached the session's input stream: the bound is the worker's silence, not a lost send.
      assert.ok(await redis.xlen(keys.input(id)) >= 2);
      // Still beating, so still live: not lost, not ended.
      const info = await api(s, 'GET', `/v1/sessions/${id}`);
      assert.equal(info.body.status, 'ready', show(info));
      clearInterval(beating);
      await redis.del(keys.record(id), keys.input(id));
    } finally {
      redis.disconnect();
    }
  });
});

describe('a session\'s live usage and a hostile kernel through HTTP', { skip }, () => {
  let s: Stack;
  after(async () => { await s?.stop(); });
  expectNothingLeftBehind('a session left something behind');
  before(async () => {
    s = await startStack({
      launcher: real.launcher, registry: real.registry, selfTest: real.selfTest,
      env: { CORRAL_SESSION_SLOTS: '2', CORRAL_SESSION_WORKER_SILENCE_MS: '5000', CORRAL_SESSION_START_TIMEOUT_MS: '30000' },
    });
  });

  it('shows a running session\'s memory and CPU, which grow when a cell allocates; a cell has its CPU time', async () => {
    const id = await openSession(s);
    const before = await waitFor(async () => {
      const r = await api(s, 'GET', `/v1/sessions/${id}`);
      return r.body.memoryCurrentKb !== null ? r.body : undefined;
    }, 'the first usage reading', 4000);
    assert.ok(before.memoryCurrentKb > 10_000 && before.cpuMs > 0 && before.usageAt, show(before));
    const r = await exec(s, id, 'block = bytearray(200 * 1024 * 1024)\nsum(range(3_000_000))');
    assert.equal(r.body.status, 'ok', show(r));
    assert.equal(typeof r.body.cpuMs, 'number', show(r));
    assert.ok(r.body.cpuMs > 0, show(r));
    const grown = await waitFor(async () => {
      const g = await api(s, 'GET', `/v1/sessions/${id}`);
      return g.body.memoryCurrentKb > before.memoryCurrentKb + 150 * 1024 ? g.body : undefined;
    }, 'the memory to show the 200 MiB block', 4000);
    assert.ok(grown.memoryKb >= grown.memoryCurrentKb, show(grown));
    assert.ok(grown.cpuMs > before.cpuMs, show(grown));
    await exec(s, id, 'del block\nimport gc; gc.collect()');
    const ended = await api(s, 'DELETE', `/v1/sessions/${id}`);
    assert.equal(ended.body.memoryCurrentKb, null, show(ended));
    assert.ok(ended.body.memoryKb >= 200 * 1024, show(ended));
  });

  it('a session an API declared lost (its worker was silent too long) is ended by the worker too: its container goes', async () => {
    const id = await openSession(s);
    assert.equal(bridges(), 1);
    // What an API does when the beat is too old (SessionService.markLost), done here to a live worker.
    const redis = connectRedis(s.redis.url, 'test-mark-lost');
    try {
      await redis.hset(sessionKeys(s.config.keyPrefix).record(id), { status: 'ended', endedReason: 'worker_lost', endedMessage: 'declared lost by the test' });
    } finally {
      redis.disconnect();
    }
    await waitFor(async () => bridges() === 0, 'the worker to end the lost session\'s container', 4000);
    const info = (await api(s, 'GET', `/v1/sessions/${id}`)).body;
    assert.equal(info.endedReason, 'worker_lost', show(info));
    assert.equal((await exec(s, id, '1+1')).status, 410);
  });

  it('floods of output, enormous lines and display data: answered, outputs capped and marked truncated', async () => {
    const id = await openSession(s);
    let r = await exec(s, id, 'for i in range(300_000): print(i)', { timeoutMs: 60_000 });
    assert.equal(r.status, 200, show(r));
    assert.ok(['ok', 'timeout'].includes(r.body.status), show(r));
    r = await exec(s, id, 'print("x" * (20 * 1024 * 1024))', { timeoutMs: 60_000 });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.body.status, 'ok', show(r));
    assert.equal(r.body.outputsTruncated, true, show(r));
    r = await exec(s, id, 'from IPython.display import display\ndisplay({"text/plain": "y" * (12 * 1024 * 1024)}, raw=True)', { timeoutMs: 60_000 });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.body.outputsTruncated, true, show(r));
    r = await exec(s, id, '6 * 7');
    assert.equal(plain(r.body), '42', show(r));
    await api(s, 'DELETE', `/v1/sessions/${id}`);
  });

  it('a fork bomb within the pids limit: the cell answers, the kernel lives on', async () => {
    const id = await openSession(s);
    const code = 'import os, time\npids = []\nwhile True:\n  try:\n    pid = os.fork()\n  except OSError:\n    break\n'
      + '  if pid == 0:\n    time.sleep(60)\n    os._exit(0)\n  pids.append(pid)\nlen(pids)';
    // Forking ~128 copies of a 50 MiB kernel takes over a minute of CPU in the cgroup v2 VM.
    let r = await exec(s, id, code, { timeoutMs: slowVmBound(60_000) });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.body.status, 'ok', show(r));
    assert.ok(Number(plain(r.body)) > 50 && Number(plain(r.body)) < 128, show(r));
    r = await exec(s, id, 'import signal\nfor p in pids: os.kill(p, signal.SIGKILL)\nfor p in pids: os.waitpid(p, 0)\n"reaped"');
    assert.equal(plain(r.body), "'reaped'", show(r));
    await api(s, 'DELETE', `/v1/sessions/${id}`);
  });

  it('the kernel closes its own descriptors: the cell times out, the kernel is restarted, the session goes on', async () => {
    const id = await openSession(s);
    const r = await exec(s, id, 'import os\nfor fd in range(3, 1024):\n  try: os.close(fd)\n  except OSError: pass', { timeoutMs: 2000 });
    if (r.status === 200) {
      assert.ok(['timeout', 'kernel_died', 'ok', 'error'].includes(r.body.status), show(r));
      if (r.body.status === 'kernel_died') assert.equal((await api(s, 'POST', `/v1/sessions/${id}/restart`)).status, 200);
      const next = await exec(s, id, '1+1');
      assert.equal(plain(next.body), '2', show(next));
    } else {
      assert.equal(r.status, 410, show(r));
      assert.ok(r.body.error.details.reason, show(r));
    }
    await api(s, 'DELETE', `/v1/sessions/${id}`);
  });

  it('the bridge killed from inside: 410 with the reason; the session is ended', async () => {
    const id = await openSession(s);
    const r = await exec(s, id, 'import os, signal\nos.kill(os.getppid(), signal.SIGKILL)', { timeoutMs: 10_000 });
    assert.equal(r.status, 410, show(r));
    assert.equal(r.body.error.code, 'session_ended');
    assert.equal(r.body.error.details.reason, 'sandbox_error', show(r));
    const info = await waitFor(async () => {
      const g = await api(s, 'GET', `/v1/sessions/${id}`);
      return g.body.status === 'ended' ? g.body : undefined;
    }, 'the session to end', 4000);
    assert.equal(info.endedReason, 'sandbox_error');
    assert.match(info.endedMessage, /bridge/);
  });

  it('the bridge stopped from inside (SIGSTOP): the cell is answered within its bounds, the session ends', async () => {
    const id = await openSession(s);
    const r = await exec(s, id, 'import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)', { timeoutMs: 1000 });
    // The reply cannot come; the timeout's interrupt and the restart cannot reach the kernel:
    // the restart times out (CORRAL_SESSION_START_TIMEOUT_MS) and the channel closes.
    assert.equal(r.status, 410, show(r));
    assert.equal(r.body.error.code, 'session_ended');
    const info = await waitFor(async () => {
      const g = await api(s, 'GET', `/v1/sessions/${id}`);
      return g.body.status === 'ended' ? g.body : undefined;
    }, 'the session to end', 4000);
    assert.equal(info.endedReason, 'sandbox_error');
    assert.match(info.endedMessage, /restart/);
  });

  it('after all of it the API and the worker still serve sessions', async () => {
    await stillServing(s);
  });
});
