// Contract tests of the Judge0 translation layer over HTTP. RunService is the in-memory test
// double (test/compat/fake-run-service.ts), so these prove the HTTP shapes and the mapping onto
// RunService, not the sandbox; test/compat/e2e.test.ts runs through the real stack. Examples
// marked "documented" are the request/response pairs of Judge0 CE's API docs.
import { strict as assert } from 'node:assert';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { judge0CallbackBody } from '../../services/api/compat/judge0/submission-response.ts';
import { CorralError } from '../../services/core/errors.ts';
import type { ParsedRunRequest } from '../../services/core/schemas.ts';
import { startCompatServer, type CompatServer } from './compat-server.ts';
import { FakeRunService, phase, type Outcome } from './fake-run-service.ts';
import { Judge0Client } from './judge0-client.ts';
import { makeZip } from './zip-writer.ts';

const HELLO_C = '#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf("%s", name);\n  printf("hello, %s\\n", name);\n  return 0;\n}';

/** The "program" of the C hello example: prints hello, <stdin>; judges against expectedOutput. */
function helloProgram(req: ParsedRunRequest): Outcome {
  const stdout = `hello, ${(req.stdin ?? '').trim()}\n`;
  const verdict = req.expectedOutput === undefined || req.expectedOutput.trimEnd() === stdout.trimEnd() ? 'accepted' : 'wrong_answer';
  return { verdict, compile: phase({ cpuMs: 100 }), run: phase({ stdout, cpuMs: 1, wallMs: 2, memoryKb: 380 }) };
}

describe('Judge0 API (contract tests of the translation layer, in-memory RunService)', () => {
  let fake: FakeRunService;
  let server: CompatServer;
  let j0: Judge0Client;

  beforeEach(async () => {
    fake = new FakeRunService();
    fake.execute = helloProgram;
    server = await startCompatServer(fake);
    j0 = new Judge0Client(server.url);
  });
  afterEach(async () => { await server.close(); });

  describe('documented examples: create a submission', () => {
    it('201 with a token', async () => {
      const r = await j0.create({ source_code: HELLO_C, language_id: 50, stdin: 'world' }, { base64: false, wait: false });
      assert.equal(r.status, 201);
      assert.deepEqual(Object.keys(r.body), ['token']);
      assert.ok(fake.results.has(r.body.token), 'the token is the Corral run id');
      assert.equal(fake.submitted[0].source, HELLO_C);
      assert.equal(fake.submitted[0].stdin, 'world');
      assert.equal(fake.submitted[0].language, 'c');
    });
    it('422 when language_id is missing', async () => {
      const r = await j0.create({ source_code: HELLO_C });
      assert.deepEqual([r.status, r.body], [422, { language_id: ["can't be blank"] }]);
    });
    it('422 for language 150000', async () => {
      const r = await j0.create({ source_code: HELLO_C, language_id: 150000, stdin: 'world', expected_output: 'hello, world' });
      assert.deepEqual([r.status, r.body], [422, { language_id: ["language with id 150000 doesn't exist"] }]);
    });
    it('422 for wall_time_limit beyond the maximum (this server\'s maximum: 20)', async () => {
      const r = await j0.create({
        source_code: HELLO_C, language_id: 50, number_of_runs: 1, stdin: 'Judge0', expected_output: 'hello, Judge0', cpu_time_limit: 1,
        cpu_extra_time: 0.5, wall_time_limit: 100000, memory_limit: 128000, stack_limit: 128000,
        enable_per_process_and_thread_time_limit: false, enable_per_process_and_thread_memory_limit: false, max_file_size: 1024,
      });
      assert.deepEqual([r.status, r.body], [422, { wall_time_limit: ['must be less than or equal to 20.0'] }]);
      assert.equal(fake.submitted.length, 0, 'nothing was queued');
    });
    it('201 for base64 source_code (unknown fields such as "input" are ignored, as Judge0 does)', async () => {
      const r = await j0.create({ source_code: Buffer.from(HELLO_C).toString('base64'), language_id: 50, input: 'SnVkZ2Uw' }, { base64: true });
      assert.equal(r.status, 201);
      assert.equal(fake.submitted[0].source, HELLO_C);
    });
    it('wait=true with output that is not UTF-8: 201 with the token and the conversion error', async () => {
      fake.execute = () => ({ verdict: 'accepted', run: phase({ stdout: Buffer.from([0xfe, 0x0a]).toString('base64'), encoding: 'base64' }) });
      const r = await j0.create({ language_id: 71, source_code: 'print("\\xFE")' }, { wait: true });
      assert.equal(r.status, 201);
      assert.deepEqual(Object.keys(r.body).sort(), ['error', 'token']);
      assert.equal(r.body.error, 'some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter');
      const b = await j0.get(r.body.token, { base64: true });
      assert.equal(b.body.stdout, '/go=\n');
    });
    it('wait=true: 201 with the default fields of the finished submission', async () => {
      const r = await j0.create({ source_code: HELLO_C, language_id: '50', stdin: 'Judge0', expected_output: 'hello, Judge0' }, { wait: true });
      assert.equal(r.status, 201);
      assert.deepEqual(r.body, {
        token: r.body.token, time: '0.001', memory: 380, stdout: 'hello, Judge0\n', stderr: null, compile_output: null, message: null,
        status: { id: 3, description: 'Accepted' },
      });
    });
    it('400 "wait not allowed" when the operator disabled it', async () => {
      await server.close();
      server = await startCompatServer(fake, { judge0: { enableWaitResult: false } });
      j0 = new Judge0Client(server.url);
      const r = await j0.create({ source_code: HELLO_C, language_id: 50 }, { wait: true });
      assert.deepEqual([r.status, r.body], [400, { error: 'wait not allowed' }]);
      assert.equal(fake.submitted.length, 0);
    });
    it('503 "queue is full" when RunService refuses for backpressure, with Retry-After', async () => {
      fake.hold = true;
      fake.queueMaxDepth = 1;
      assert.equal((await j0.create({ source_code: 'x', language_id: 71 })).status, 201);
      const res = await fetch(`${server.url}/submissions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source_code: 'x', language_id: 71 }) });
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { error: 'queue is full' });
      assert.equal(res.headers.get('retry-after'), '5');
    });
  });

  describe('documented examples: get a submission', () => {
    let token: string;
    beforeEach(async () => {
      token = (await j0.create({ source_code: HELLO_C, language_id: 50, stdin: 'world' })).body.token;
      await j0.waitFor(token);
    });
    it('?fields=stdout,stderr,status_id,language_id', async () => {
      const r = await j0.get(token, { fields: 'stdout,stderr,status_id,language_id' });
      assert.deepEqual([r.status, r.body], [200, { stdout: 'hello, world\n', stderr: null, status_id: 3, language_id: 50 }]);
    });
    it('the default response', async () => {
      const r = await j0.get(token);
      assert.deepEqual(Object.keys(r.body).sort(), ['compile_output', 'memory', 'message', 'status', 'stderr', 'stdout', 'time', 'token']);
      assert.equal(r.body.token, token);
    });
    it('base64_encoded=true', async () => {
      const r = await j0.get(token, { base64: true });
      assert.equal(r.body.stdout, 'aGVsbG8sIHdvcmxkCg==\n');
      assert.equal(Buffer.from(r.body.stdout, 'base64').toString(), 'hello, world\n');
    });
    it('400 when an attribute cannot be converted to UTF-8', async () => {
      fake.execute = () => ({ verdict: 'accepted', run: phase({ stderr: Buffer.from([0x80]).toString('base64'), encoding: 'base64' }) });
      const t = (await j0.create({ source_code: 'x', language_id: 71 })).body.token;
      await j0.waitFor(t, { base64: true });
      const r = await j0.get(t);
      assert.deepEqual([r.status, r.body], [400, { error: 'some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter' }]);
    });
    it('fields=* returns every attribute, echoing the request', async () => {
      const r = await j0.get(token, { fields: '*' });
      assert.equal(r.body.source_code, HELLO_C);
      assert.equal(r.body.stdin, 'world');
      assert.equal(r.body.language_id, 50);
      assert.deepEqual(r.body.language, { id: 50, name: 'C (GCC 12.2.0)' });
      assert.equal(r.body.cpu_time_limit, '5.0');
      assert.equal(r.body.memory_limit, 128000);
      assert.equal(r.body.exit_code, 0);
      assert.equal(r.body.exit_signal, null);
      assert.equal(r.body.wall_time, '0.002');
      assert.equal(r.body.enable_network, false);
      assert.ok(r.body.created_at && r.body.finished_at);
    });
    it('400 for unknown fields, naming them', async () => {
      const r = await j0.get(token, { fields: 'stdout,bogus' });
      assert.deepEqual([r.status, r.body], [400, { error: 'invalid fields: [bogus]' }]);
    });
    it('404 for an unknown token, in Rails\' shape', async () => {
      for (const t of ['00000000-0000-0000-0000-000000000000', 'x'.repeat(300), '..%2F..%2Fetc']) {
        const r = await j0.get(t);
        assert.deepEqual([r.status, r.body], [404, { status: 404, error: 'Not Found' }], t);
      }
    });
    it('In Queue while queued, then the result', async () => {
      fake.hold = true;
      const t = (await j0.create({ source_code: 'x', language_id: 71, stdin: 'q' })).body.token;
      assert.deepEqual((await j0.get(t)).body.status, { id: 1, description: 'In Queue' });
      fake.finish(t);
      assert.deepEqual((await j0.get(t)).body.status, { id: 3, description: 'Accepted' });
    });
  });

  describe('verdicts as Judge0 reports them', () => {
    const cases: Array<[string, Outcome, Record<string, unknown>]> = [
      ['wrong answer', { verdict: 'wrong_answer', run: phase({ stdout: 'x' }) }, { status: { id: 4, description: 'Wrong Answer' } }],
      ['time limit', { verdict: 'time_limit', run: phase({ status: 'time_limit', limit: 'cpu', exitCode: null, signal: 'SIGKILL', cpuMs: 5000 }) }, { status: { id: 5, description: 'Time Limit Exceeded' }, time: '5.0', message: 'Time limit exceeded' }],
      ['compile error', { verdict: 'compile_error', compile: phase({ status: 'runtime_error', exitCode: 1, stderr: "main.c:1:1: error: expected ';'\n" }) }, { status: { id: 6, description: 'Compilation Error' }, compile_output: "main.c:1:1: error: expected ';'\n", stdout: null }],
      ['SIGSEGV', { verdict: 'runtime_error', run: phase({ status: 'runtime_error', exitCode: null, signal: 'SIGSEGV' }) }, { status: { id: 7, description: 'Runtime Error (SIGSEGV)' }, exit_signal: 11, message: 'Caught fatal signal 11' }],
      ['NZEC', { verdict: 'runtime_error', run: phase({ status: 'runtime_error', exitCode: 42, stderr: 'boom\n' }) }, { status: { id: 11, description: 'Runtime Error (NZEC)' }, exit_code: 42, stderr: 'boom\n', message: 'Exited with error status 42' }],
      ['memory limit', { verdict: 'memory_limit', run: phase({ status: 'memory_limit', limit: 'memory', exitCode: null, signal: 'SIGKILL', memoryKb: 128500 }) }, { status: { id: 12, description: 'Runtime Error (Other)' }, exit_signal: 9, memory: 128500, message: 'Memory limit exceeded: peak 128500 KB, limit 128000 KB (Corral memory_limit)' }],
      ['output limit', { verdict: 'output_limit', run: phase({ status: 'output_limit', limit: 'output', truncated: true, stdout: 'yyyy' }) }, { status: { id: 8, description: 'Runtime Error (SIGXFSZ)' }, exit_signal: 25 }],
      ['internal error', { verdict: 'internal_error', run: phase({ status: 'internal_error', error: 'cgroup: ENOSPC' }) }, { status: { id: 13, description: 'Internal Error' }, message: 'cgroup: ENOSPC' }],
    ];
    for (const [name, outcome, expected] of cases) {
      it(name, async () => {
        fake.execute = () => outcome;
        const t = (await j0.create({ source_code: 'x', language_id: 50 })).body.token;
        const got = await j0.waitFor(t, { fields: '*' });
        for (const [k, v] of Object.entries(expected)) assert.deepEqual(got[k], v, k);
      });
    }
  });

  describe('request fields reach RunService', () => {
    it('all limits and switches, in Corral units', async () => {
      const r = await j0.create({
        source_code: 'x', language_id: 54, compiler_options: '-O2 -std=c++17', command_line_arguments: 'a "b c"', cpu_time_limit: 2,
        cpu_extra_time: 0.5, wall_time_limit: 4, memory_limit: 65536, stack_limit: 8192, max_processes_and_or_threads: 4,
        max_file_size: 512, redirect_stderr_to_stdout: true, number_of_runs: 2, expected_output: 'y',
      });
      assert.equal(r.status, 201);
      assert.deepEqual(fake.submitted[0], {
        language: 'cpp', source: 'x', expectedOutput: 'y', args: ['a', 'b c'], compilerArgs: ['-O2', '-std=c++17'], compare: 'trailing-whitespace',
        redirectStderrToStdout: true, repeat: 2,
        limits: { cpuMs: 2000, extraCpuMs: 500, wallMs: 4000, memoryMb: 64, stackMb: 8, processes: 4, fileSizeMb: 1, outputBytes: 524288 },
      });
    });
    it('additional_files: a zip unpacked beside the source', async () => {
      const zip = makeZip([{ name: 'lib/helper.py', data: 'X = 1\n' }, { name: 'data.txt', data: 'abc' }]);
      const r = await j0.create({ source_code: 'import lib.helper', language_id: 71, additional_files: zip.toString('base64') });
      assert.equal(r.status, 201);
      assert.deepEqual(fake.submitted[0].files, [
        { path: 'main.py', content: 'import lib.helper', encoding: 'utf8' },
        { path: 'lib/helper.py', content: Buffer.from('X = 1\n').toString('base64'), encoding: 'base64' },
        { path: 'data.txt', content: Buffer.from('abc').toString('base64'), encoding: 'base64' },
      ]);
    });
    it('additional_files escaping /box: 422, nothing queued', async () => {
      const zip = makeZip([{ name: '../../etc/cron.d/x', data: 'evil' }]);
      const r = await j0.create({ source_code: 'x', language_id: 71, additional_files: zip.toString('base64') });
      assert.equal(r.status, 422);
      assert.match(r.body.additional_files[0], /invalid zip: .*"\.\." segment/);
      assert.equal(fake.submitted.length, 0);
    });
    it('additional_files over the extract cap: 422', async () => {
      const zip = makeZip([{ name: 'big', data: Buffer.alloc(11 * 1024 * 1024) }]);
      const r = await j0.create({ source_code: 'x', language_id: 71, additional_files: zip.toString('base64') });
      assert.equal(r.status, 422);
      assert.match(r.body.additional_files[0], /more than 10485760 bytes/);
    });
    it('enable_network=true is refused (CVE-2024-29021)', async () => {
      const r = await j0.create({ source_code: 'x', language_id: 71, enable_network: true });
      assert.deepEqual([r.status, r.body], [422, { enable_network: ['enabling network is not allowed'] }]);
    });
    it('a RunService validation error comes back as a Judge0 field error', async () => {
      const orig = fake.submit.bind(fake);
      fake.submit = async () => { throw new CorralError('limit_exceeded', 'A limit is beyond the configured maximum', [{ field: 'limits.memoryMb', message: 'must be at most 100 (CORRAL_RUN_MEMORY_MB_MAX)' }]); };
      const r = await j0.create({ source_code: 'x', language_id: 71 });
      fake.submit = orig;
      assert.deepEqual([r.status, r.body], [422, { memory_limit: ['must be at most 100 (CORRAL_RUN_MEMORY_MB_MAX)'] }]);
    });
  });

  describe('batches', () => {
    it('documented example: POST /submissions/batch (a language this server lacks gets its field errors, in place)', async () => {
      const r = await j0.request('POST', '/submissions/batch', { submissions: [
        { language_id: 46, source_code: 'echo hello from Bash' },
        { language_id: 72, source_code: 'puts("hello from Ruby")' },
        { language_id: 71, source_code: 'print("hello from Python")' },
      ] });
      assert.equal(r.status, 201);
      assert.equal(r.body.length, 3);
      assert.ok(r.body[0].token && r.body[2].token);
      assert.deepEqual(r.body[1], { language_id: ["language with id 72 doesn't exist"] });
      assert.deepEqual(fake.submitted.map((s) => s.language), ['bash', 'python']);
    });
    it('422 when no submission is valid; 400 for empty and oversized batches', async () => {
      const bad = await j0.request('POST', '/submissions/batch', { submissions: [{ language_id: 999, source_code: 'x' }] });
      assert.deepEqual([bad.status, bad.body], [422, [{ language_id: ["language with id 999 doesn't exist"] }]]);
      const empty = await j0.request('POST', '/submissions/batch', { submissions: [] });
      assert.deepEqual([empty.status, empty.body], [400, { error: 'there should be at least one submission in a batch' }]);
      const big = await j0.request('POST', '/submissions/batch', { submissions: Array.from({ length: 21 }, () => ({ language_id: 71, source_code: 'x' })) });
      assert.deepEqual([big.status, big.body], [400, { error: 'number of submissions in a batch should be less than or equal to 20' }]);
    });
    it('GET /submissions/batch?tokens= keeps order, null for unknown tokens', async () => {
      const a = (await j0.create({ source_code: 'x', language_id: 71, stdin: 'A' })).body.token;
      const b = (await j0.create({ source_code: 'x', language_id: 71, stdin: 'B' })).body.token;
      await j0.waitFor(a); await j0.waitFor(b);
      const r = await j0.request('GET', `/submissions/batch?tokens=${b},nope,${a}&fields=token,stdout,status_id`);
      assert.deepEqual([r.status, r.body], [200, { submissions: [
        { token: b, stdout: 'hello, B\n', status_id: 3 }, null, { token: a, stdout: 'hello, A\n', status_id: 3 },
      ] }]);
    });
  });

  describe('listing and deleting (admin endpoints)', () => {
    it('GET /submissions is paged with Judge0\'s meta', async () => {
      for (let i = 0; i < 3; i++) await j0.create({ source_code: 'x', language_id: 71, stdin: String(i) });
      const r = await j0.request('GET', '/submissions?per_page=2&page=1&fields=stdout');
      assert.equal(r.status, 200);
      assert.equal(r.body.submissions.length, 2);
      assert.deepEqual(r.body.meta, { current_page: 1, next_page: 2, prev_page: null, total_pages: 2, total_count: 3 });
      const bad = await j0.request('GET', '/submissions?page=0');
      assert.deepEqual([bad.status, bad.body], [400, { error: 'invalid page: 0' }]);
    });
    it('DELETE is refused by default, as in Judge0', async () => {
      const t = (await j0.create({ source_code: 'x', language_id: 71 })).body.token;
      const r = await j0.request('DELETE', `/submissions/${t}`);
      assert.deepEqual([r.status, r.body], [400, { error: 'delete not allowed' }]);
    });
    it('DELETE when enabled: refused while queued, answered in base64 when finished', async () => {
      await server.close();
      server = await startCompatServer(fake, { judge0: { enableSubmissionDelete: true } });
      j0 = new Judge0Client(server.url);
      fake.hold = true;
      const t = (await j0.create({ source_code: 'x', language_id: 71, stdin: 'z' })).body.token;
      const queued = await j0.request('DELETE', `/submissions/${t}`);
      assert.deepEqual([queued.status, queued.body], [400, { error: 'submission cannot be deleted because its status is 1 (In Queue)' }]);
      fake.finish(t);
      const done = await j0.request('DELETE', `/submissions/${t}?fields=stdout,status_id`);
      assert.deepEqual([done.status, done.body], [200, { stdout: 'aGVsbG8sIHoK\n', status_id: 3 }]);
    });
  });

  describe('languages, statuses and information', () => {
    it('GET /languages lists every 1.13.1 id an available language serves, named after the real compiler', async () => {
      const r = await j0.request('GET', '/languages');
      assert.deepEqual(r.body, [
        { id: 46, name: 'Bash (5.2.15)' },
        { id: 48, name: 'C (GCC 12.2.0, stands in for GCC 7.4.0)' }, { id: 49, name: 'C (GCC 12.2.0, stands in for GCC 8.3.0)' },
        { id: 50, name: 'C (GCC 12.2.0)' },
        { id: 52, name: 'C++ (GCC 12.2.0, stands in for GCC 7.4.0)' }, { id: 53, name: 'C++ (GCC 12.2.0, stands in for GCC 8.3.0)' },
        { id: 54, name: 'C++ (GCC 12.2.0)' },
        { id: 62, name: 'Java (OpenJDK 17.0.9)' }, { id: 63, name: 'JavaScript (Node.js 18.19.0)' }, { id: 71, name: 'Python (3.11.2)' },
      ]);
    });
    it('GET /languages/all adds the ids of languages whose image is not built, as archived', async () => {
      const r = await j0.request('GET', '/languages/all');
      const byId = Object.fromEntries(r.body.map((l: any) => [l.id, l.is_archived]));
      assert.equal(byId[50], false);
      assert.equal(byId[48], false);
      assert.equal(byId[73], true, 'rust is known but its image is not built');
      assert.equal(byId[72], undefined);
    });
    it('GET /languages/:id, 404 for an unknown id', async () => {
      const r = await j0.request('GET', '/languages/62');
      assert.deepEqual(r.body, { id: 62, name: 'Java (OpenJDK 17.0.9)', is_archived: false, source_file: 'Main.java', compile_cmd: 'corral compile java %s Main.java', run_cmd: 'corral run java' });
      assert.deepEqual(await j0.request('GET', '/languages/4'), { status: 404, body: { status: 404, error: 'Not Found' } });
      assert.equal((await j0.request('GET', '/languages/abc')).status, 404);
    });
    it('GET /statuses', async () => {
      const r = await j0.request('GET', '/statuses');
      assert.equal(r.body.length, 14);
      assert.deepEqual(r.body[10], { id: 11, description: 'Runtime Error (NZEC)' });
    });
    it('GET /about, /version, /config_info, /system_info, /workers', async () => {
      assert.equal((await j0.request('GET', '/about')).body.version, '1.13.1');
      assert.equal((await j0.request('GET', '/version')).body, '1.13.1');
      const cfg = (await j0.request('GET', '/config_info')).body;
      assert.equal(cfg.max_cpu_time_limit, 15);
      assert.equal(cfg.enable_network, false);
      assert.equal(cfg.allow_enable_network, false);
      assert.equal(cfg.max_submission_batch_size, 20);
      assert.ok((await j0.request('GET', '/system_info')).body['CPU(s)']);
      assert.deepEqual((await j0.request('GET', '/workers')).body, []);
    });
  });

  describe('authentication (X-Auth-Token) and authorization (X-Auth-User)', () => {
    beforeEach(async () => {
      await server.close();
      server = await startCompatServer(fake, { judge0: { authTokens: ['key-1'], authUsers: ['admin-1'] } });
    });
    it('401 without a valid token, with an empty body', async () => {
      for (const headers of [{}, { 'x-auth-token': 'wrong' }] as Array<Record<string, string>>) {
        const res = await fetch(`${server.url}/languages`, { headers });
        assert.equal(res.status, 401);
        assert.equal(await res.text(), '');
      }
      assert.equal((await new Judge0Client(server.url, 'key-1').request('GET', '/languages')).status, 200);
    });
    it('403 on admin endpoints without X-Auth-User', async () => {
      const c = new Judge0Client(server.url, 'key-1');
      assert.equal((await c.request('GET', '/submissions')).status, 403);
      assert.equal((await c.request('GET', '/submissions', undefined, { 'x-auth-user': 'admin-1' })).status, 200);
    });
  });

  describe('bad input never gives a 5xx, and the service stays healthy', () => {
    const bodies: Array<[string, string, string]> = [
      ['invalid JSON', 'application/json', '{"source_code": '],
      ['JSON array', 'application/json', '[1,2,3]'],
      ['JSON string', 'application/json', '"hello"'],
      ['null', 'application/json', 'null'],
      ['nested objects everywhere', 'application/json', JSON.stringify({ source_code: { a: 1 }, language_id: { b: 2 }, stdin: [1], cpu_time_limit: {}, compiler_options: [], additional_files: 5 })],
      ['huge numbers', 'application/json', JSON.stringify({ source_code: 'x', language_id: 1e308, memory_limit: 1e308, number_of_runs: -1 })],
      ['NaN-ish strings', 'application/json', JSON.stringify({ source_code: 'x', language_id: '71abc', cpu_time_limit: 'NaN', wall_time_limit: 'Infinity' })],
      ['NUL bytes', 'application/json', JSON.stringify({ source_code: 'x\u0000y', language_id: 71, command_line_arguments: 'a\u0000b' })],
      ['non-base64 with base64', 'application/json', JSON.stringify({ source_code: '%%%', language_id: 71 })],
      ['form-encoded', 'application/x-www-form-urlencoded', 'source_code=print(1)&language_id=71'],
      ['garbage content type', 'text/weird', 'not json at all'],
    ];
    for (const [name, type, body] of bodies) {
      it(name, async () => {
        for (const q of ['', '?base64_encoded=true', '?wait=true']) {
          const res = await fetch(`${server.url}/submissions${q}`, { method: 'POST', headers: { 'content-type': type }, body });
          const text = await res.text();
          assert.ok(res.status >= 400 && res.status < 500 || res.status === 201, `${name}${q}: ${res.status} ${text}`);
        }
        const batch = await fetch(`${server.url}/submissions/batch`, { method: 'POST', headers: { 'content-type': type }, body });
        assert.ok(batch.status < 500, `${name} (batch): ${batch.status}`);
        await batch.body?.cancel();
        assert.equal((await j0.request('GET', '/statuses')).status, 200);
      });
    }
    it('413 for a body over the limit', async () => {
      await server.close();
      server = await startCompatServer(fake, { bodyLimitBytes: 1024 });
      const res = await fetch(`${server.url}/submissions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source_code: 'x'.repeat(4096), language_id: 71 }) });
      assert.deepEqual([res.status, await res.json()], [413, { error: 'request body is too large' }]);
    });
  });
});

describe('Judge0 callbacks (PUT, base64, default fields)', () => {
  let fake: FakeRunService;
  let server: CompatServer;

  before(async () => {
    fake = new FakeRunService();
    fake.execute = helloProgram;
    server = await startCompatServer(fake);
  });
  after(async () => { await server.close(); });

  it('callback_url goes into the run request: PUT, Judge0 body, sent by the workers\' durable queue', async () => {
    const j0 = new Judge0Client(server.url);
    const r = await j0.create({ source_code: HELLO_C, language_id: 50, stdin: 'cb', callback_url: 'http://127.0.0.1:9/judge0-callback' });
    assert.equal(r.status, 201);
    const sent = fake.submitted.at(-1)!;
    assert.equal(sent.callbackUrl, 'http://127.0.0.1:9/judge0-callback');
    assert.equal(sent.callbackMethod, 'PUT');
    assert.equal(sent.callbackFormat, 'judge0');
    // The body the worker sends, from the finished result (the serializer the worker uses).
    await j0.waitFor(r.body.token);
    const done = (await fake.get(r.body.token))!;
    assert.deepEqual(judge0CallbackBody(done), {
      token: r.body.token, time: '0.001', memory: 380, stdout: 'aGVsbG8sIGNiCg==\n', stderr: null, compile_output: null, message: null,
      status: { id: 3, description: 'Accepted' },
    });
    const plain = await j0.create({ source_code: HELLO_C, language_id: 50, stdin: 'no cb' });
    assert.equal(plain.status, 201);
    assert.equal(fake.submitted.at(-1)!.callbackUrl, undefined);
    assert.equal(fake.submitted.at(-1)!.callbackFormat, undefined);
  });

  it('a callback receiver that is down costs nothing: the submission still completes', async () => {
    const down = 'http://127.0.0.1:1/nobody-listens';
    const j0 = new Judge0Client(server.url);
    const r = await j0.create({ source_code: 'x', language_id: 71, stdin: 'd', callback_url: down });
    assert.equal(r.status, 201);
    const done = await j0.waitFor(r.body.token);
    assert.equal(done.status!.id, 3);
  });
});
