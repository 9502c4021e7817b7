// Seeded random hostile requests against the whole stack (real HTTP, redis, worker and sandbox):
// valid requests of every API (Corral, Judge0, Piston) with one or two fields replaced by hostile
// values, plus malformed bodies and odd paths. The promise checked: never a 5xx or a dropped
// connection, /v1 errors always carry {error:{code,message,details}}, no run ends `failed` (an
// internal error), every accepted run reaches its end, and the service still serves afterwards.
// CORRAL_FUZZ_SEED and CORRAL_FUZZ_N change the draw; a failure prints the seed and the request.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { HOSTILE_VALUES, mutate, prng } from '../helpers/fuzz.ts';
import { api, startStack, until, waitFor, type Stack } from './harness.ts';
import { needs, realSandbox, type RealSandbox } from './real-sandbox.ts';

const sb = await realSandbox();
const skip = needs(sb, 'bash', 'python');
if (skip) console.log(`# e2e hostile requests skipped: ${skip}`);
const SEED = Number(process.env.CORRAL_FUZZ_SEED ?? 20261130);
const COUNT = Number(process.env.CORRAL_FUZZ_N ?? 400);

let s: Stack;
before(async () => {
  if (skip) return;
  const r = sb as RealSandbox;
  s = await startStack({
    launcher: r.launcher, registry: r.registry, selfTest: r.selfTest,
    env: { CORRAL_WORKER_SLOTS: '2', CORRAL_QUEUE_MAX_DEPTH: '100000' },
  });
});
after(async () => { await s?.stop(); });

/** Raw HTTP so malformed bodies go out byte for byte; a dropped connection is a status of -1. */
function send(method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  const url = new URL(s.url);
  return new Promise((resolve) => {
    const req = http.request({
      host: url.hostname, port: url.port, method, path,
      headers: body !== undefined ? { 'content-type': 'application/json' } : {},
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? -1, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', (err) => resolve({ status: -1, text: String(err) }));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// The request's own hostile values beside the shared ones: language names almost right.
const HOSTILE: readonly unknown[] = [...HOSTILE_VALUES, 'bash', 'python', ' bash', 'PYTHON'];

interface Template { method: string; paths: string[]; body: () => unknown }
// Only bash and python, so a mutation never starts a slow compile.
const TEMPLATES: Template[] = [
  {
    method: 'POST',
    paths: ['/v1/runs', '/v1/runs?wait=true', '/v1/runs?wait=1', '/v1/runs?wait=yes', '/v1/runs?wait=true&wait=false', '/v1/runs?wait=%00'],
    body: () => ({
      language: 'bash', args: ['a'], env: { A: 'b' },
      limits: { cpuMs: 1000, wallMs: 3000, memoryMb: 64, processes: 8, outputBytes: 4096 },
      collect: ['out/*', 'a.txt'],
      files: [{ path: 'main.sh', content: 'cat a.txt' }, { path: 'a.txt', content: 'aGk=', encoding: 'base64' }],
      tests: [{ stdin: '', expectedOutput: 'hi' }, { stdin: 'x', expectedOutput: 'no' }],
    }),
  },
  {
    method: 'POST',
    paths: ['/v1/runs', '/v1/runs?wait=true'],
    body: () => ({ language: 'python', source: 'import sys; print(sys.stdin.read())', stdin: 'in', expectedOutput: 'in', redirectStderrToStdout: true }),
  },
  {
    // Judging: a checker, scored groups with a dependency (the checker in python: no compile).
    method: 'POST',
    paths: ['/v1/runs?wait=true'],
    body: () => ({
      language: 'python', source: 'print(input())', stopOnFirstFailure: false,
      checker: { language: 'python', source: 'import sys\nsys.exit(0 if open(sys.argv[2]).read() == open(sys.argv[3]).read() else 1)', limits: { cpuMs: 2000 } },
      groups: [{ name: 'a', points: 40, scoring: 'all-or-nothing' }, { name: 'b', points: 60, dependsOn: ['a'], scoring: 'min-partial' }],
      tests: [{ stdin: '1', expectedOutput: '1\n', group: 'a' }, { stdin: '2', expectedOutput: '3\n', group: 'b' }],
    }),
  },
  {
    // Interactive: the interactor (python) tells the program its number and checks the answer.
    method: 'POST',
    paths: ['/v1/runs?wait=true', '/v1/runs'],
    body: () => ({
      language: 'python', source: 'n = int(input())\nprint(n + 1, flush=True)', transcriptBytes: 4096,
      interactor: { language: 'python', source: 'import sys\nn = int(open(sys.argv[1]).read())\nprint(n, flush=True)\nsys.exit(0 if int(input()) == n + 1 else 1)', limits: { cpuMs: 2000 } },
      tests: [{ stdin: '41' }, { stdin: '1' }],
    }),
  },
  {
    method: 'POST',
    paths: ['/v1/runs/batch'],
    body: () => ({ runs: [{ language: 'bash', source: 'echo x' }, { language: 'python', source: 'print(1)', limits: { cpuMs: 500 } }] }),
  },
  {
    method: 'POST',
    paths: ['/submissions', '/submissions?wait=true', '/submissions?base64_encoded=true&wait=true', '/submissions?fields=stdout,bogus&wait=true', '/submissions?wait=true&base64_encoded=maybe'],
    body: () => ({
      source_code: 'print(1)', language_id: 71, stdin: 'aGk=', expected_output: '1', cpu_time_limit: 2,
      wall_time_limit: 5, memory_limit: 128000, max_processes_and_or_threads: 30,
      command_line_arguments: 'a "b c"', redirect_stderr_to_stdout: false, number_of_runs: 1, callback_url: null,
    }),
  },
  {
    method: 'POST',
    paths: ['/submissions/batch', '/submissions/batch?base64_encoded=true'],
    body: () => ({ submissions: [{ source_code: 'print(1)', language_id: 71 }, { source_code: 'echo x', language_id: 46 }] }),
  },
  {
    method: 'POST',
    paths: ['/api/v2/execute'],
    body: () => ({
      language: 'python', version: '*', files: [{ name: 'main.py', content: 'print(1)', encoding: 'utf8' }],
      stdin: '', args: ['1'], run_timeout: 3000, run_memory_limit: -1, run_cpu_time: 3000,
    }),
  },
];

const RAW_BODIES = [
  '', '{', '[]', '1', '"x"', 'null', '\ufeff{}', '['.repeat(200_000) + ']'.repeat(200_000),
  '{"language":"bash","source":"echo","language":"python"}', '{"a":' + '1'.repeat(5000) + '}',
  '{"__proto__":{"language":"bash"}}', '{"language":"bash","source":"\\ud800"}',
];

const ODD_PATHS = [
  '/v1/runs/%00', '/v1/runs/' + 'a'.repeat(10_000), '/v1/runs?ids=' + ','.repeat(1000), '/v1/runs?ids=%ff',
  '/v1/runs/..%2f..%2f/events', '/v1/runs/x/events?lastEventId=-1', '/submissions/%ff?fields=%00',
  '/submissions?page=-1&per_page=1e9', '/languages/99999999999999999999', '/languages/-1', '/v1/runs?limit=-5&cursor=%%',
];

test('hostile requests: no 5xx, well-formed errors, no failed run, every accepted run ends', { skip }, async () => {
  const rnd = prng(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  console.log(`# hostile requests: seed ${SEED}, ${COUNT} requests (CORRAL_FUZZ_SEED / CORRAL_FUZZ_N)`);
  const problems: string[] = [];
  const runIds: string[] = [];
  const tokens: string[] = [];
  const statuses = new Map<number, number>();

  for (let i = 0; i < COUNT; i++) {
    const t = pick(TEMPLATES);
    const path = pick(t.paths);
    const body = rnd() < 0.08 ? pick(RAW_BODIES) : JSON.stringify(mutate(t.body(), rnd, HOSTILE));
    const res = await send(t.method, path, body);
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    const what = `#${i} ${t.method} ${path} ${body.slice(0, 300)} -> ${res.status} ${res.text.slice(0, 300)}`;
    let json: any;
    try { json = JSON.parse(res.text); } catch { json = undefined; }
    if (res.status >= 500 || res.status < 0) { problems.push(`server error or dropped: ${what}`); continue; }
    if (res.status >= 400 && path.startsWith('/v1')) {
      const e = json?.error;
      if (typeof e?.code !== 'string' || typeof e?.message !== 'string' || !('details' in e)) problems.push(`bad error shape: ${what}`);
      continue;
    }
    if (res.status >= 300) continue;
    // Accepted: remember what must reach its end, and check the answers that already waited.
    if (path.startsWith('/v1/runs/batch')) for (const r of json?.runs ?? []) { if (r?.id) runIds.push(r.id); }
    else if (path.startsWith('/v1/runs')) {
      if (json?.status === 'failed') problems.push(`run failed: ${what}`);
      if (json?.id) runIds.push(json.id);
    } else if (path.startsWith('/submissions/batch')) for (const r of Array.isArray(json) ? json : []) { if (r?.token) tokens.push(r.token); }
    else if (path.startsWith('/submissions')) {
      if (json?.status?.id === 13) problems.push(`internal error: ${what}`);
      if (json?.token) tokens.push(json.token);
    } else if (path.startsWith('/api/v2/execute')) {
      if (json?.run?.status === 'XX' || json?.compile?.status === 'XX') problems.push(`internal error: ${what}`);
    }
  }
  for (const p of ODD_PATHS) for (const m of ['GET', 'DELETE']) {
    const res = await send(m, p);
    if (res.status >= 500 || res.status < 0) problems.push(`server error or dropped: ${m} ${p} -> ${res.status} ${res.text.slice(0, 300)}`);
  }
  console.log(`# statuses: ${[...statuses].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${k}×${v}`).join(' ')}; ` +
    `${runIds.length} runs and ${tokens.length} submissions accepted`);

  // Every accepted run and submission reaches its end, and none of them as an internal failure.
  for (const id of runIds) {
    const run = await until(s, id);
    if (run.status === 'failed') problems.push(`run ${id} failed: ${JSON.stringify(run.error ?? run).slice(0, 300)}`);
  }
  for (const token of tokens) {
    const sub = await waitFor(async () => {
      const r = await api(s, 'GET', `/submissions/${token}`);
      if (r.status !== 200) throw new Error(`GET /submissions/${token}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.status?.id > 2 ? r.body : undefined;
    }, `submission ${token}`);
    if (sub.status.id === 13) problems.push(`submission ${token} internal error: ${JSON.stringify(sub).slice(0, 300)}`);
  }
  assert.ok(runIds.length + tokens.length > 10, `too few requests were accepted (${runIds.length + tokens.length}) to mean anything`);
  assert.deepEqual(problems, [], `seed ${SEED}: ${problems.length} problems`);

  // And the service still serves.
  assert.equal((await api(s, 'GET', '/healthz')).status, 200);
  const ok = await api(s, 'POST', '/v1/runs?wait=true', { language: 'bash', source: 'echo still here' });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.run.stdout, 'still here\n');
});
