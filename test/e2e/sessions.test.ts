// Notebook sessions end to end (docs/sessions.md): the API over real HTTP, a real redis-server,
// the worker host with the real sandbox and the real ipykernel of the python image. Skipped with
// the reason when the sandbox or the python image is not usable here.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expectNothingLeftBehind, testHost } from '../helpers/sandbox.ts';
import { plain, show } from '../helpers/sessions.ts';
import { api, startStack, waitFor, type Stack } from './harness.ts';
import { IMAGES_DIR, needs, realSandbox, type RealSandbox } from './real-sandbox.ts';

const sb = await realSandbox();
const skip = needs(sb, 'python');
if (skip) console.log(`# session tests skipped: ${skip}`);
const real = sb as RealSandbox;
const CORRAL = fileURLToPath(new URL('../../bin/corral', import.meta.url));

const ENV = {
  CORRAL_SESSION_SLOTS: '2',
  CORRAL_SESSION_WORKER_SILENCE_MS: '4000',
  CORRAL_SESSION_QUEUE_WAIT_MS: '3000',
  CORRAL_SESSION_START_TIMEOUT_MS: '120000',
};

async function openSession(s: { url: string }, body: Record<string, unknown> = {}): Promise<string> {
  const r = await api(s, 'POST', '/v1/sessions', { language: 'python', ...body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.status, 'ready');
  assert.match(r.body.id, /^[0-9a-f-]{36}$/);
  return r.body.id as string;
}
const exec = (s: { url: string }, id: string, code: string, extra: Record<string, unknown> = {}) =>
  api(s, 'POST', `/v1/sessions/${id}/execute`, { code, ...extra });
const stdout = (r: any) => (r.outputs ?? []).filter((o: any) => o.type === 'stream' && o.name === 'stdout').map((o: any) => o.text).join('');

async function untilEnded(s: { url: string }, id: string): Promise<any> {
  return waitFor(async () => {
    const r = await api(s, 'GET', `/v1/sessions/${id}`);
    return r.body.status === 'ended' ? r.body : undefined;
  }, `session ${id} to end`, 4000);
}

describe('notebook sessions over /v1/sessions (real ipykernel in the sandbox)', { skip }, () => {
  let s: Stack;
  // The stack stops (its worker ends every session and waits for their cleanup) before the check.
  after(async () => { await s?.stop(); });
  expectNothingLeftBehind('a session left something behind');
  before(async () => {
    s = await startStack({ launcher: real.launcher, registry: real.registry, selfTest: real.selfTest, env: ENV });
  });

  describe('one session across cells', () => {
    let id: string;
    before(async () => { id = await openSession(s, { files: [{ path: 'data/in.txt', content: 'from the request' }] }); });
    after(async () => {
      const r = await api(s, 'DELETE', `/v1/sessions/${id}`);
      assert.equal(r.status, 200, show(r));
      assert.equal(r.body.status, 'ended');
      assert.equal(r.body.endedReason, 'closed');
    });

    it('keeps a variable, an import and files in /box across cells; files go in and out', async () => {
      let r = await exec(s, id, 'import math\nx = 41');
      assert.equal(r.status, 200, show(r));
      assert.equal(r.body.status, 'ok', show(r));
      r = await exec(s, id, 'x + 1');
      assert.equal(plain(r.body), '42', show(r));
      const up = await fetch(`${s.url}/v1/sessions/${id}/files/up%20load.csv`, { method: 'PUT', body: 'a,b\n1,2\n' });
      assert.equal(up.status, 201, await up.text());
      r = await exec(s, id, 'print(math.sqrt(16), open("up load.csv").read().split()[1], open("/box/data/in.txt").read())\nopen("out.txt", "w").write("made by the kernel")');
      assert.equal(stdout(r.body), '4.0 1,2 from the request\n', show(r));
      const list = await api(s, 'GET', `/v1/sessions/${id}/files`);
      assert.equal(list.status, 200, show(list));
      const paths = list.body.files.map((f: any) => f.path).sort();
      assert.deepEqual(paths, ['data/in.txt', 'out.txt', 'up load.csv']);
      const down = await fetch(`${s.url}/v1/sessions/${id}/files/out.txt`);
      assert.equal(down.status, 200);
      assert.equal(await down.text(), 'made by the kernel');
      assert.ok(r.body.executionCount >= 3, show(r));
      const info = await api(s, 'GET', `/v1/sessions/${id}`);
      assert.equal(info.body.status, 'ready');
      assert.equal(info.body.language, 'python');
      assert.ok(info.body.cells >= 3, show(info));
    });

    it('lists at most 1000 files: exactly 1000 is a whole list, one more is a truncated one', async () => {
      // Three files are there already (data/in.txt, out.txt, up load.csv).
      let r = await exec(s, id, 'import os\nos.makedirs("many")\nfor i in range(997): open(f"many/{i}", "w").close()');
      assert.equal(r.body.status, 'ok', show(r));
      let list = await api(s, 'GET', `/v1/sessions/${id}/files`);
      assert.equal(list.body.files.length, 1000, show(list));
      assert.equal(list.body.truncated, false);
      r = await exec(s, id, 'open("many/one-more", "w").close()');
      list = await api(s, 'GET', `/v1/sessions/${id}/files`);
      assert.equal(list.body.files.length, 1000);
      assert.equal(list.body.truncated, true);
      r = await exec(s, id, 'import shutil\nshutil.rmtree("many")');
      assert.equal(r.body.status, 'ok', show(r));
    });

    it('never follows a symlink out of /box, and answers bad paths with 4xx', async () => {
      let r = await exec(s, id, 'import os\nos.symlink("/etc/passwd", "link")');
      assert.equal(r.body.status, 'ok', show(r));
      const down = await api(s, 'GET', `/v1/sessions/${id}/files/link`);
      assert.equal(down.status, 404, show(down));
      assert.equal(down.body.error.code, 'session_file_not_found');
      const dotdot = await api(s, 'GET', `/v1/sessions/${id}/files/a/..%2F..%2Fetc%2Fpasswd`);
      assert.equal(dotdot.status, 422, show(dotdot));
      assert.deepEqual(dotdot.body.error.details.map((d: any) => d.field), ['path'], show(dotdot));
      const glob = await api(s, 'GET', `/v1/sessions/${id}/files/*`);
      assert.equal(glob.status, 422, show(glob));
      const missing = await api(s, 'GET', `/v1/sessions/${id}/files/nope.txt`);
      assert.equal(missing.status, 404, show(missing));
      const bad = await api(s, 'POST', `/v1/sessions/${id}/execute`, { code: 1 });
      assert.equal(bad.status, 422, show(bad));
      const notJson = await api(s, 'POST', `/v1/sessions/${id}/execute`, '{', { 'content-type': 'application/json' });
      assert.equal(notJson.status, 400, show(notJson));
      const tooLong = await api(s, 'POST', `/v1/sessions/${id}/execute`, { code: '1', timeoutMs: 10_000_000 });
      assert.equal(tooLong.status, 422, show(tooLong));
      assert.equal(tooLong.body.error.code, 'limit_exceeded');
      r = await exec(s, id, 'os.unlink("link")');
      assert.equal(r.body.status, 'ok', show(r));
    });

    it('returns a matplotlib plot as image/png and a pandas DataFrame as text/html', async () => {
      let r = await exec(s, id, 'import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()', { timeoutMs: 120_000 });
      assert.equal(r.body.status, 'ok', show(r));
      const shown = r.body.outputs.find((o: any) => o.type === 'display_data');
      const png = Buffer.from(String(shown?.data?.['image/png']), 'base64');
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], show(r));
      r = await exec(s, id, 'import pandas as pd\npd.DataFrame({"a": [1, 2], "b": ["x", "y"]})', { timeoutMs: 120_000 });
      assert.equal(r.body.status, 'ok', show(r));
      const res = r.body.outputs.find((o: any) => o.type === 'execute_result');
      assert.match(String(res?.data?.['text/html']), /<table[\s\S]*<td>x<\/td>/, show(r));
    });

    it('answers an exception with its name, value and traceback', async () => {
      const r = await exec(s, id, 'def f():\n    return 1 / 0\nf()');
      assert.equal(r.status, 200);
      assert.equal(r.body.status, 'error', show(r));
      assert.equal(r.body.error.ename, 'ZeroDivisionError');
      assert.ok(r.body.error.traceback.join('\n').replace(/\x1b\[[0-9;]*m/g, '').includes('1 / 0'), show(r));
      assert.ok(r.body.outputs.some((o: any) => o.type === 'error'), show(r));
    });

    it('streams outputs as Server-Sent Events, then the result', async () => {
      const res = await fetch(`${s.url}/v1/sessions/${id}/execute?stream=true`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: 'import time\nprint("one", flush=True)\ntime.sleep(0.2)\nprint("two")\n7 * 6' }),
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
      const events = (await res.text()).split('\n\n').filter((b) => b.includes('data:')).map((b) => ({
        event: /^event: (.*)$/m.exec(b)?.[1], data: JSON.parse(/^data: (.*)$/m.exec(b)![1]!),
      }));
      const outputs = events.filter((e) => e.event === 'output').map((e) => e.data);
      assert.deepEqual(outputs.filter((o) => o.type === 'stream').map((o) => o.text).join(''), 'one\ntwo\n', JSON.stringify(events));
      assert.equal(events.at(-1)?.event, 'result');
      assert.equal(plain(events.at(-1)!.data), '42');
    });

    it('answers a streamed cell\'s bad request as a plain 422, before any stream', async () => {
      const max = s.config.sessions.max.cellTimeoutMs;
      for (const [body, code, field] of [
        [{ cod: 'x' }, 'validation_failed', 'code'],
        [{ code: 'x', timeoutMs: 0 }, 'validation_failed', 'timeoutMs'],
        [{ code: 'x', timeoutMs: max + 1 }, 'limit_exceeded', 'timeoutMs'],
      ] as const) {
        const res = await fetch(`${s.url}/v1/sessions/${id}/execute?stream=true`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
        });
        const text = await res.text();
        assert.equal(res.status, 422, `${JSON.stringify(body)}: ${res.status} ${text}`);
        assert.match(res.headers.get('content-type') ?? '', /application\/json/);
        const e = JSON.parse(text).error;
        assert.equal(e.code, code, text);
        assert.ok(JSON.stringify(e.details).includes(field), text);
      }
      const r = await exec(s, id, 'x');
      assert.equal(plain(r.body), '41', show(r));
    });

    it('interrupts `while True: pass` and lives on', async () => {
      const running = exec(s, id, 'while True: pass', { timeoutMs: 300_000 });
      let answered: any;
      void running.then((r) => { answered = r; });
      // The interrupt may reach the kernel before the cell starts: send it until the cell answers.
      while (!answered) {
        const i = await api(s, 'POST', `/v1/sessions/${id}/interrupt`);
        assert.equal(i.status, 200, show(i));
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.equal(answered.body.status, 'error', show(answered));
      assert.equal(answered.body.error.ename, 'KeyboardInterrupt');
      const r = await exec(s, id, 'x');
      assert.equal(plain(r.body), '41', show(r));
    });

    it('answers a cell over its timeout as a timeout, and the session stays usable', async () => {
      let r = await exec(s, id, 'while True: pass', { timeoutMs: 500 });
      assert.equal(r.body.status, 'timeout', show(r));
      assert.equal(r.body.error.ename, 'CellTimeout');
      r = await exec(s, id, 'x + 1');
      assert.equal(plain(r.body), '42', show(r));
    });

    it('restarts the kernel: state gone, files kept', async () => {
      const r0 = await api(s, 'POST', `/v1/sessions/${id}/restart`);
      assert.equal(r0.status, 200, show(r0));
      let r = await exec(s, id, 'x');
      assert.equal(r.body.status, 'error', show(r));
      assert.equal(r.body.error.ename, 'NameError');
      r = await exec(s, id, 'open("out.txt").read()');
      assert.equal(plain(r.body), "'made by the kernel'", show(r));
    });
  });

  it('a cell over the session memory kills the kernel; the answer says so; restart brings it back', async () => {
    const id = await openSession(s, { limits: { memoryMb: 192 } });
    try {
      let r = await exec(s, id, 'blob = b"x" * (400 * 1024 * 1024)', { timeoutMs: 120_000 });
      assert.equal(r.status, 200, show(r));
      assert.equal(r.body.status, 'kernel_died', show(r));
      assert.equal(r.body.error.ename, 'KernelDied');
      assert.match(r.body.error.evalue, /memory limit of 192 MiB/);
      r = await exec(s, id, '1 + 1');
      assert.equal(r.body.status, 'kernel_died', show(r));
      const restarted = await api(s, 'POST', `/v1/sessions/${id}/restart`);
      assert.equal(restarted.status, 200, show(restarted));
      r = await exec(s, id, '1 + 1');
      assert.equal(plain(r.body), '2', show(r));
    } finally {
      await api(s, 'DELETE', `/v1/sessions/${id}`);
    }
  });

  it('ends an idle session after idleTimeoutS; its requests then answer 410 session_ended', async () => {
    const id = await openSession(s, { idleTimeoutS: 1 });
    const ended = await untilEnded(s, id);
    assert.equal(ended.endedReason, 'idle_timeout', JSON.stringify(ended));
    // The container's usage is written once it is gone, just after the status.
    const final = await waitFor(async () => { const r = await api(s, 'GET', `/v1/sessions/${id}`); return r.body.memoryKb !== null ? r.body : undefined; }, 'the session\'s usage');
    assert.ok(final.memoryKb > 10_000 && final.cpuMs > 0, JSON.stringify(final));
    const r = await exec(s, id, '1');
    assert.equal(r.status, 410, show(r));
    assert.equal(r.body.error.code, 'session_ended');
    assert.equal(r.body.error.details.reason, 'idle_timeout');
  });

  it('ends every session after maxLifetimeS, busy or not', async () => {
    // Long enough for the kernel to start on a loaded machine (the lifetime counts from the start).
    const id = await openSession(s, { maxLifetimeS: 30 });
    const r = await exec(s, id, 'import time\ntime.sleep(100)', { timeoutMs: 200_000 });
    assert.equal(r.status, 410, show(r));
    assert.equal(r.body.error.code, 'session_ended');
    const ended = await untilEnded(s, id);
    assert.equal(ended.endedReason, 'max_lifetime', JSON.stringify(ended));
  });

  it('answers 503 no_session_capacity with Retry-After when every slot is taken', async () => {
    const a = await openSession(s);
    const b = await openSession(s);
    try {
      const r = await api(s, 'POST', '/v1/sessions', { language: 'python' });
      assert.equal(r.status, 503, show(r));
      assert.equal(r.body.error.code, 'no_session_capacity');
      assert.ok(Number(r.headers.get('retry-after')) > 0);
    } finally {
      await api(s, 'DELETE', `/v1/sessions/${a}`);
      await api(s, 'DELETE', `/v1/sessions/${b}`);
    }
    // A slot is free again once a session's container and volume are gone.
    await waitFor(async () => (await api(s, 'GET', '/metrics')).body.includes('corral_sessions_open 0'), 'the slots to be free');
    const c = await openSession(s);
    await api(s, 'DELETE', `/v1/sessions/${c}`);
  });

  it('two sessions cannot see each other\'s files or processes', async () => {
    const a = await openSession(s);
    const b = await openSession(s);
    try {
      let r = await exec(s, a, 'import subprocess\nopen("/box/a-secret", "w").write("a")\nopen("/tmp/a-secret", "w").write("a")\np = subprocess.Popen(["python3", "-c", "import time; time.sleep(300)", "MARKER_OF_A"])');
      assert.equal(r.body.status, 'ok', show(r));
      r = await exec(s, b, [
        'import os',
        'seen = []',
        'for pid in [p for p in os.listdir("/proc") if p.isdigit()]:',
        '    try: seen.append(open(f"/proc/{pid}/cmdline", "rb").read())',
        '    except OSError: pass',
        'print(os.path.exists("/box/a-secret"), os.path.exists("/tmp/a-secret"), any(b"MARKER_OF_A" in c for c in seen), len(seen) > 0)',
      ].join('\n'));
      assert.equal(stdout(r.body), 'False False False True\n', show(r));
      const list = await api(s, 'GET', `/v1/sessions/${b}/files`);
      assert.deepEqual(list.body.files, []);
    } finally {
      await api(s, 'DELETE', `/v1/sessions/${a}`);
      await api(s, 'DELETE', `/v1/sessions/${b}`);
    }
  });

  it('answers bad requests with 4xx and the error body', async () => {
    const cases: Array<[string, string, unknown, number, string]> = [
      ['POST', '/v1/sessions', { language: 'python', limits: { memoryMb: 1_000_000 } }, 422, 'limit_exceeded'],
      ['POST', '/v1/sessions', { language: 'python', surprise: 1 }, 422, 'validation_failed'],
      ['POST', '/v1/sessions', { language: 'python', idleTimeoutS: 999_999 }, 422, 'limit_exceeded'],
      ['POST', '/v1/sessions', { language: 'python', files: [{ path: '../x', content: '' }] }, 422, 'validation_failed'],
      // A name no file may have (over NAME_MAX): refused, not a start that fails (503).
      ['POST', '/v1/sessions', { language: 'python', files: [{ path: `d/${'a'.repeat(256)}`, content: '' }] }, 422, 'validation_failed'],
      // Files larger than the /box asked for: the request's fault (422), not a failed start (503).
      ['POST', '/v1/sessions', { language: 'python', limits: { diskMb: 1 }, files: [{ path: 'big.txt', content: 'x'.repeat(1_500_000) }] }, 422, 'session_file_failed'],
      ['GET', '/v1/sessions/not-an-id', undefined, 404, 'session_not_found'],
      ['GET', '/v1/sessions/00000000-0000-0000-0000-000000000000', undefined, 404, 'session_not_found'],
      ['POST', '/v1/sessions/00000000-0000-0000-0000-000000000000/execute', { code: '1' }, 404, 'session_not_found'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await api(s, method, path, body);
      assert.equal(r.status, status, `${method} ${path}: ${show(r)}`);
      assert.equal(r.body.error.code, code, `${method} ${path}: ${show(r)}`);
    }
    const unknown = await api(s, 'POST', '/v1/sessions', { language: 'cobol' });
    assert.equal(unknown.status, 422, show(unknown));
    assert.equal(unknown.body.error.code, 'unknown_language');
  });

  it('counts sessions, cells and ends in the metrics', async () => {
    const m = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(m, /corral_session_cells_total\{status="ok"\} [1-9]/);
    assert.match(m, /corral_sessions_ended_total\{reason="idle_timeout"\} 1/);
    assert.match(m, /corral_session_cell_seconds_count [1-9]/);
    assert.match(m, /corral_sessions_open 0/);
  });
});

describe('a worker stopped gracefully (SIGTERM path: WorkerHost.close)', { skip }, () => {
  let s: Stack;
  after(async () => { await s?.stop(); });
  expectNothingLeftBehind('a stopped worker\'s session left something behind');
  before(async () => {
    s = await startStack({ launcher: real.launcher, registry: real.registry, selfTest: real.selfTest, env: ENV });
  });

  it('ends its sessions with worker_shutdown, answering the cell in flight, and stops', async () => {
    const id = await openSession(s);
    const inFlight = exec(s, id, 'import time\ntime.sleep(300)', { timeoutMs: 400_000 });
    await new Promise((res) => setTimeout(res, 500));
    await s.worker!.close();
    const r = await inFlight;
    assert.equal(r.status, 410, show(r));
    assert.equal(r.body.error.code, 'session_ended');
    assert.equal(r.body.error.details.reason, 'worker_shutdown');
    const info = await api(s, 'GET', `/v1/sessions/${id}`);
    assert.equal(info.body.status, 'ended');
    assert.equal(info.body.endedReason, 'worker_shutdown');
  });
});

describe('a session whose worker is SIGKILLed mid-cell', { skip }, () => {
  let s: Stack;
  let worker: ChildProcess | undefined;
  after(async () => {
    if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    await s?.stop();
  });
  expectNothingLeftBehind('a killed worker\'s session left something behind after the sweep');
  before(async () => {
    // The API in this process with no worker; the worker is a `corral worker` process.
    s = await startStack({ env: ENV });
    worker = spawn(CORRAL, ['worker'], {
      env: {
        PATH: process.env.PATH, REDIS_URL: s.redis.url, CORRAL_KEY_PREFIX: s.config.keyPrefix, CORRAL_IMAGES_DIR: IMAGES_DIR,
        CORRAL_LOG_LEVEL: process.env.CORRAL_TEST_LOG ?? 'silent', CORRAL_HEARTBEAT_MS: '200', CORRAL_POOL_MAX_WARM: '0', ...ENV,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await waitFor(async () => (await s.core.redis.hlen(`${s.config.keyPrefix}:session-workers`)) > 0, 'the worker to offer session slots', 4000);
  });

  it('answers 410 session_lost (the cell in flight, and every later request), and the sweep leaves nothing', async () => {
    const id = await openSession(s);
    let r = await exec(s, id, 'x = 1');
    assert.equal(r.body.status, 'ok', show(r));
    const inFlight = exec(s, id, 'print("sleeping", flush=True)\nimport time\ntime.sleep(300)', { timeoutMs: 400_000 });
    await new Promise((res) => setTimeout(res, 500));
    worker!.kill('SIGKILL');
    await new Promise<void>((res) => worker!.once('exit', () => res()));
    r = await inFlight;
    assert.equal(r.status, 410, show(r));
    assert.equal(r.body.error.code, 'session_lost');
    r = await exec(s, id, 'x');
    assert.equal(r.status, 410, show(r));
    assert.equal(r.body.error.code, 'session_lost');
    const info = await api(s, 'GET', `/v1/sessions/${id}`);
    assert.equal(info.body.status, 'ended');
    assert.equal(info.body.endedReason, 'worker_lost');
    // No worker left: a new session gets 503, never a hang.
    const none = await api(s, 'POST', '/v1/sessions', { language: 'python' });
    assert.equal(none.status, 503, show(none));
    // The dead worker's container died with it (PDEATHSIG); its directories, cgroups and volume
    // are swept like any dead worker's.
    testHost().sweep();
  });
});

