// Seeded random hostile requests against the notebook endpoints — the session API (/v1/sessions)
// and the Jupyter face (/api/kernels) — on the whole stack: real HTTP, a real redis-server, the
// real sandbox and the python image's ipykernel. Valid requests with one or two fields replaced by
// hostile values, malformed bodies, hostile file paths and odd ids. The promise checked: never a
// 5xx nor a dropped connection — but for the 503 a full house or a failed kernel start answers,
// with its code and Retry-After — /v1 errors always carry {error:{code,message,details}}, a live
// session keeps serving through all of it, and every session started is ended with nothing left
// behind. (test/e2e/hostile-requests.test.ts does the same for runs and the Judge0 and Piston APIs.)
// CORRAL_FUZZ_SEED and CORRAL_FUZZ_N change the draw; a failure prints the seed and the request.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { expectNothingLeftBehind } from '../helpers/sandbox.ts';
import { HOSTILE_VALUES, mutate, prng } from '../helpers/fuzz.ts';
import { api, startStack, type Stack } from './harness.ts';
import { needs, realSandbox, type RealSandbox } from './real-sandbox.ts';

const sb = await realSandbox();
const skip = needs(sb, 'python');
if (skip) console.log(`# e2e hostile session requests skipped: ${skip}`);
const SEED = Number(process.env.CORRAL_FUZZ_SEED ?? 20261207);
const COUNT = Number(process.env.CORRAL_FUZZ_N ?? 300);

type Answer = { status: number; text: string; retryAfter: string | undefined };

/** Raw HTTP so malformed bodies and paths go out byte for byte; a dropped connection is -1. */
function send(url: string, method: string, path: string, body?: string | Buffer, contentType = 'application/json'): Promise<Answer> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const req = http.request({
      host: u.hostname, port: u.port, method, path,
      // A length of its own: Node sends a GET's or DELETE's body unframed otherwise (no chunking
      // by default for them), which the server can only read as a garbled next request.
      headers: body !== undefined ? { 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)) } : {},
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? -1, text: Buffer.concat(chunks).toString(), retryAfter: res.headers['retry-after'] as string | undefined }));
    });
    req.on('error', (err) => resolve({ status: -1, text: String(err), retryAfter: undefined }));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// The request's own hostile values beside the shared ones: language names almost right.
const HOSTILE: readonly unknown[] = [...HOSTILE_VALUES, 'python', ' python', 'PYTHON', 'python3'];

// Paths under /box for the file endpoints: traversal, encodings, NUL, absolute, huge, odd bytes.
const FILE_PATHS = [
  'a.txt', 'dir/b.txt', '..', '../x', '..%2fx', '%2e%2e/x', 'a/../../b', '%2fetc%2fpasswd', '.', './a',
  'a//b', 'a%00b', '%ff', 'x'.repeat(5000), 'dir/', '%20', 'proc/self/root/etc/shadow', encodeURIComponent('😀.txt'),
];

const ODD_IDS = ['%00', 'a'.repeat(10_000), '..%2f..', '-1', '%ff', 'null', '00000000-0000-0000-0000-000000000000'];

const RAW_BODIES = [
  '', '{', '[]', '1', '"x"', 'null', '\ufeff{}', '['.repeat(200_000) + ']'.repeat(200_000),
  '{"code":"1","code":2}', '{"__proto__":{"code":"1"}}', '{"code":"\\ud800"}',
];

/** 503 is an answer here only for a full house or a kernel that did not start, and says when to retry. */
const RETRY_CODES = new Set(['no_session_capacity', 'session_start_failed', 'not_ready']);

describe('hostile requests to the notebook endpoints', { skip }, () => {
  let s: Stack;
  before(async () => {
    const r = sb as RealSandbox;
    s = await startStack({
      launcher: r.launcher, registry: r.registry, selfTest: r.selfTest,
      env: { CORRAL_SESSION_SLOTS: '2', CORRAL_SESSION_QUEUE_WAIT_MS: '3000' },
    });
  });
  after(async () => { await s?.stop(); });
  expectNothingLeftBehind('a session of the hostile draw left something behind');

  test('no 5xx but a full house\'s, well-formed errors, the live session serves on, every session ends', { timeout: 600_000 }, async () => {
    const rnd = prng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    console.log(`# hostile session requests: seed ${SEED}, ${COUNT} requests (CORRAL_FUZZ_SEED / CORRAL_FUZZ_N)`);
    const live = await api(s, 'POST', '/v1/sessions', { language: 'python' });
    assert.equal(live.status, 201, JSON.stringify(live.body));
    const id = live.body.id as string;
    const problems: string[] = [];
    const statuses = new Map<number, number>();
    const started: Array<{ id: string; face: 'v1' | 'jupyter' }> = [];

    // Each a request for the draw: method, path, body (raw text or JSON to mutate), and where its
    // weight puts it (kernel starts are few: each accepted one starts a kernel, ~1 s of CPU).
    const templates: Array<{ weight: number; make: () => { method: string; path: string; body?: string | Buffer; type?: string } }> = [
      { weight: 3, make: () => ({ method: 'POST', path: pick([`/v1/sessions/${id}/execute`, `/v1/sessions/${id}/execute?stream=true`, `/v1/sessions/${id}/execute?stream=maybe`]), body: JSON.stringify(mutate({ code: 'x = 41\nx + 1', timeoutMs: 5000 }, rnd, HOSTILE)) }) },
      { weight: 1, make: () => ({ method: 'POST', path: '/v1/sessions', body: JSON.stringify(mutate({ language: 'python', limits: { memoryMb: 256, cpuS: 60, cpus: 1, processes: 64, diskMb: 16 }, idleTimeoutS: 30, maxLifetimeS: 60, files: [{ path: 'in/a.txt', content: 'aGk=', encoding: 'base64' }] }, rnd, HOSTILE)) }) },
      { weight: 2, make: () => ({ method: 'PUT', path: `/v1/sessions/${id}/files/${pick(FILE_PATHS)}`, body: Buffer.from(pick(['hi', '', 'x'.repeat(70_000), '\u0000\u0001'])), type: pick(['application/octet-stream', 'application/json', 'text/plain']) }) },
      { weight: 2, make: () => ({ method: 'GET', path: pick([`/v1/sessions/${id}/files`, `/v1/sessions/${id}/files/${pick(FILE_PATHS)}`, `/v1/sessions/${id}/files?path=${pick(FILE_PATHS)}`]) }) },
      { weight: 1, make: () => ({ method: pick(['GET', 'DELETE', 'POST']), path: `/v1/sessions/${pick(ODD_IDS)}${pick(['', '/execute', '/interrupt', '/restart', '/files', '/files/a.txt'])}`, body: pick([undefined, '{}', '{"code":"1"}']) }) },
      { weight: 1, make: () => ({ method: 'POST', path: `/v1/sessions/${id}/interrupt`, body: pick([undefined, '{}', '{"x":1}', '[']) }) },
      { weight: 1, make: () => ({ method: 'POST', path: pick(['/v1/sessions', `/v1/sessions/${id}/execute`]), body: pick(RAW_BODIES) }) },
      { weight: 1, make: () => ({ method: 'POST', path: '/api/kernels', body: JSON.stringify(mutate({ name: 'python3', path: 'nb.ipynb' }, rnd, HOSTILE)) }) },
      { weight: 1, make: () => ({ method: pick(['GET', 'DELETE', 'POST']), path: `/api/kernels/${pick(ODD_IDS)}${pick(['', '/interrupt', '/restart', '/channels'])}`, body: pick([undefined, '{}', '[']) }) },
      // The live session through the face, but for DELETE (which would end it).
      { weight: 1, make: () => ({ method: pick(['GET', 'POST']), path: `/api/kernels/${id}${pick(['', '/interrupt', '/channels', '/x'])}`, body: pick([undefined, '{}', '[', '{"restart":"yes"}']) }) },
      { weight: 1, make: () => ({ method: 'GET', path: pick(['/api', '/api/kernelspecs', `/api/kernelspecs/${pick(ODD_IDS)}`, '/api/kernels?x=%00', `/api/kernelspecs/python3/${pick(FILE_PATHS)}`]) }) },
    ];
    const weights = templates.reduce((n, t) => n + t.weight, 0);
    const draw = () => {
      let w = rnd() * weights;
      for (const t of templates) if ((w -= t.weight) < 0) return t.make();
      return templates[0]!.make();
    };

    for (let i = 0; i < COUNT; i++) {
      const req = draw();
      const res = await send(s.url, req.method, req.path, req.body, req.type);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const what = `#${i} ${req.method} ${req.path.slice(0, 200)} ${String(req.body ?? '').slice(0, 300)} -> ${res.status} ${res.text.slice(0, 300)}`;
      let json: any;
      try { json = JSON.parse(res.text); } catch { json = undefined; }
      const code = json?.error?.code ?? json?.reason;
      if (res.status < 0 || (res.status >= 500 && !(res.status === 503 && res.retryAfter && RETRY_CODES.has(code)))) {
        problems.push(`server error or dropped (${code}): ${what}`);
        continue;
      }
      if (res.status >= 400 && req.path.startsWith('/v1')) {
        const e = json?.error;
        if (typeof e?.code !== 'string' || typeof e?.message !== 'string' || !('details' in e)) problems.push(`bad error shape: ${what}`);
        continue;
      }
      // A kernel started: end it at once (the slots are few), by the face that started it.
      if (req.method === 'POST' && req.path === '/v1/sessions' && res.status === 201 && json?.id) {
        started.push({ id: json.id, face: 'v1' });
        const d = await api(s, 'DELETE', `/v1/sessions/${json.id}`);
        if (d.status !== 200) problems.push(`DELETE of ${json.id}: ${d.status} ${JSON.stringify(d.body)}`);
      } else if (req.method === 'POST' && req.path === '/api/kernels' && res.status === 201 && json?.id) {
        started.push({ id: json.id, face: 'jupyter' });
        const d = await send(s.url, 'DELETE', `/api/kernels/${json.id}`);
        if (d.status !== 204) problems.push(`DELETE /api/kernels/${json.id}: ${d.status} ${d.text.slice(0, 200)}`);
      }
    }
    console.log(`# statuses: ${[...statuses].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${k}×${v}`).join(' ')}; ${started.length} kernels started and ended`);

    // The live session went through all of it and still answers, with its state.
    const cell = await api(s, 'POST', `/v1/sessions/${id}/execute`, { code: 'y = 6 * 7\ny' });
    assert.equal(cell.status, 200, JSON.stringify(cell.body));
    assert.equal(cell.body.outputs?.find((o: any) => o.type === 'execute_result')?.data?.['text/plain'], '42', JSON.stringify(cell.body));
    const again = await api(s, 'POST', `/v1/sessions/${id}/execute`, { code: 'y + 1' });
    assert.equal(again.body.outputs?.find((o: any) => o.type === 'execute_result')?.data?.['text/plain'], '43', JSON.stringify(again.body));
    // Every session the draw started has ended.
    for (const k of started) {
      const info = await api(s, 'GET', `/v1/sessions/${k.id}`);
      if (info.status === 200 && info.body.status !== 'ended') problems.push(`${k.face} session ${k.id} did not end: ${JSON.stringify(info.body)}`);
    }
    assert.ok((statuses.get(200) ?? 0) + (statuses.get(201) ?? 0) > COUNT / 10, `too few requests were accepted to mean anything: ${JSON.stringify([...statuses])}`);
    assert.deepEqual(problems, [], `seed ${SEED}: ${problems.length} problems`);
    assert.equal((await api(s, 'DELETE', `/v1/sessions/${id}`)).status, 200);
  });
});
