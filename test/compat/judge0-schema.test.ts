// The exact shape of every Judge0 response against Judge0 CE 1.13.1's own schema, so that a strict
// client (judge0-python's pydantic models refuse any unknown attribute) cannot break again.
//
// The reference, written out here rather than derived from the code under test:
// - judge0/judge0 db/schema.rb (version 2021_03_08_152656, the 1.13.x schema): the submissions
//   columns and their types;
// - app/serializers/submission_serializer.rb: `*` is every column but `id`, then `status` and
//   `language`; the default fields are token, time, memory, stdout, stderr, compile_output,
//   message, status;
// - judge0/judge0-python src/judge0/submission.py: the attributes its Submission model accepts
//   (FIELDS plus SKIP_FIELDS) and its datetime format.
import { strict as assert } from 'node:assert';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CorralError } from '../../services/core/errors.ts';
import { startCompatServer, type CompatServer } from './compat-server.ts';
import { DEFAULT_LANGUAGES, FakeRunService, phase } from './fake-run-service.ts';
import { Judge0Client } from './judge0-client.ts';

type ColumnType = 'text' | 'integer' | 'decimal' | 'boolean' | 'datetime' | 'string' | 'binary';

/** db/schema.rb's submissions table, in column order (`id` left out, as the serializer does). */
const SUBMISSION_COLUMNS: ReadonlyArray<[string, ColumnType]> = [
  ['source_code', 'text'], ['language_id', 'integer'], ['stdin', 'text'], ['expected_output', 'text'], ['stdout', 'text'],
  ['status_id', 'integer'], ['created_at', 'datetime'], ['finished_at', 'datetime'], ['time', 'decimal'], ['memory', 'integer'],
  ['stderr', 'text'], ['token', 'string'], ['number_of_runs', 'integer'], ['cpu_time_limit', 'decimal'], ['cpu_extra_time', 'decimal'],
  ['wall_time_limit', 'decimal'], ['memory_limit', 'integer'], ['stack_limit', 'integer'], ['max_processes_and_or_threads', 'integer'],
  ['enable_per_process_and_thread_time_limit', 'boolean'], ['enable_per_process_and_thread_memory_limit', 'boolean'],
  ['max_file_size', 'integer'], ['compile_output', 'text'], ['exit_code', 'integer'], ['exit_signal', 'integer'], ['message', 'text'],
  ['wall_time', 'decimal'], ['compiler_options', 'string'], ['command_line_arguments', 'string'], ['redirect_stderr_to_stdout', 'boolean'],
  ['callback_url', 'string'], ['additional_files', 'binary'], ['enable_network', 'boolean'],
];
const STAR = [...SUBMISSION_COLUMNS.map(([name]) => name), 'status', 'language'];
const DEFAULT = ['token', 'time', 'memory', 'stdout', 'stderr', 'compile_output', 'message', 'status'];

/** judge0-python's Submission: FIELDS ∪ SKIP_FIELDS (src/judge0/submission.py). */
const SDK_ACCEPTS = new Set([
  'source_code', 'additional_files', 'stdin', 'expected_output', 'stdout', 'stderr', 'compile_output', 'compiler_options',
  'command_line_arguments', 'cpu_time_limit', 'cpu_extra_time', 'wall_time_limit', 'memory_limit', 'stack_limit',
  'max_processes_and_or_threads', 'enable_per_process_and_thread_time_limit', 'enable_per_process_and_thread_memory_limit',
  'max_file_size', 'redirect_stderr_to_stdout', 'enable_network', 'number_of_runs', 'callback_url', 'message', 'exit_code',
  'exit_signal', 'status', 'created_at', 'finished_at', 'token', 'time', 'wall_time', 'memory', 'language_id', 'language', 'status_id',
]);

/** Rails' JSON for a column type: decimals (BigDecimal) as strings, datetimes as ISO strings. */
const JSON_TYPE: Record<ColumnType, string> = {
  text: 'string', string: 'string', binary: 'string', integer: 'number', decimal: 'string', boolean: 'boolean', datetime: 'string',
};

/** judge0-python parses datetimes with "%Y-%m-%dT%H:%M:%S.%fZ". */
const SDK_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z$/;

/** Every attribute of a `*` submission has the JSON type of its 1.13.1 column (or is null). */
function assertStarTypes(s: Record<string, any>): void {
  assert.deepEqual(Object.keys(s), STAR, 'fields=* is exactly 1.13.1\'s attributes, in its order');
  for (const [name, type] of SUBMISSION_COLUMNS) {
    if (s[name] === null) continue;
    assert.equal(typeof s[name], JSON_TYPE[type], `${name} (${type}) = ${JSON.stringify(s[name])}`);
    if (type === 'datetime') assert.match(s[name], SDK_DATETIME, name);
    if (type === 'decimal') assert.ok(Number.isFinite(Number(s[name])), `${name} is a decimal string`);
  }
  assert.deepEqual(Object.keys(s.status), ['id', 'description']);
  assert.ok(s.language === null || JSON.stringify(Object.keys(s.language)) === '["id","name"]', JSON.stringify(s.language));
}

function assertSdkAccepts(s: Record<string, unknown>): void {
  for (const k of Object.keys(s)) assert.ok(SDK_ACCEPTS.has(k), `judge0-python's Submission would refuse "${k}"`);
}

describe('Judge0 response shapes = Judge0 CE 1.13.1\'s schema', () => {
  let fake: FakeRunService;
  let server: CompatServer;
  let j0: Judge0Client;
  const body = { source_code: 'print(input())', language_id: 71, stdin: 'x', expected_output: 'x', callback_url: 'http://127.0.0.1:9/cb' };

  beforeEach(async () => {
    fake = new FakeRunService();
    fake.execute = (req) => ({ verdict: 'accepted', compile: null, run: phase({ stdout: `${req.stdin}\n` }) });
    server = await startCompatServer(fake, { judge0: { enableSubmissionDelete: true } });
    j0 = new Judge0Client(server.url);
  });
  afterEach(async () => { await server.close(); });

  it('the reference itself: * is the 33 columns without id, then status and language; the SDK accepts all of it', () => {
    assert.equal(STAR.length, 35);
    for (const f of [...STAR, ...DEFAULT]) assert.ok(SDK_ACCEPTS.has(f), f);
  });

  it('POST /submissions: exactly {token}', async () => {
    const r = await j0.create(body);
    assert.equal(r.status, 201);
    assert.deepEqual(Object.keys(r.body), ['token']);
  });

  it('POST /submissions?wait=true: the default fields; with fields=*, 1.13.1\'s attributes exactly', async () => {
    const plain = await j0.create(body, { wait: true });
    assert.deepEqual([plain.status, Object.keys(plain.body)], [201, DEFAULT]);
    const star = await j0.create(body, { wait: true, fields: '*' });
    assert.equal(star.status, 201);
    assertStarTypes(star.body);
    assertSdkAccepts(star.body);
  });

  it('GET /submissions/:token: default, *, named fields, and Corral\'s extras only by name', async () => {
    const token = (await j0.create(body)).body.token;
    await j0.waitFor(token);
    assert.deepEqual(Object.keys((await j0.get(token)).body), DEFAULT);
    for (const base64 of [false, true]) {
      const star = (await j0.get(token, { fields: '*', base64 })).body;
      assertStarTypes(star);
      assertSdkAccepts(star);
      for (const extra of ['started_at', 'queued_at', 'updated_at', 'queue', 'execution_host']) assert.ok(!(extra in star), `${extra} not in *`);
    }
    assert.deepEqual(Object.keys((await j0.get(token, { fields: 'stdout,status_id,language' })).body), ['stdout', 'status_id', 'language']);
    const named = (await j0.get(token, { fields: 'token,started_at,queued_at,updated_at,queue,execution_host' })).body;
    assert.deepEqual(Object.keys(named), ['token', 'started_at', 'queued_at', 'updated_at', 'queue', 'execution_host']);
    assert.match(named.started_at, SDK_DATETIME);
    assert.deepEqual(Object.keys((await j0.get(token, { fields: '*,started_at' })).body), [...STAR, 'started_at']);
  });

  it('GET /submissions/:token from another API process (no echo): still exactly *, request fields null', async () => {
    const token = (await j0.create(body)).body.token;
    await j0.waitFor(token);
    const other = await startCompatServer(fake);
    try {
      const star = (await new Judge0Client(other.url).get(token, { fields: '*' })).body;
      assertStarTypes(star);
      assert.equal(star.source_code, null);
      assert.equal(star.language, null);
    } finally {
      await other.close();
    }
  });

  it('batches: POST answers [{token}] and field errors in place; GET answers {submissions: [...]} of the same shapes', async () => {
    const created = await j0.request('POST', '/submissions/batch', { submissions: [body, { source_code: 'x', language_id: 9999 }] });
    assert.equal(created.status, 201);
    assert.deepEqual(Object.keys(created.body[0]), ['token']);
    assert.deepEqual(created.body[1], { language_id: ["language with id 9999 doesn't exist"] });
    const token = created.body[0].token;
    await j0.waitFor(token);
    const dflt = await j0.request('GET', `/submissions/batch?tokens=${token},nope`);
    assert.deepEqual(Object.keys(dflt.body), ['submissions']);
    assert.deepEqual(Object.keys(dflt.body.submissions[0]), DEFAULT);
    assert.equal(dflt.body.submissions[1], null);
    const star = await j0.request('GET', `/submissions/batch?tokens=${token}&fields=*&base64_encoded=true`);
    assertStarTypes(star.body.submissions[0]);
    assertSdkAccepts(star.body.submissions[0]);
  });

  it('GET /submissions (list): {submissions, meta} with Judge0\'s meta keys; each item default or *', async () => {
    const token = (await j0.create(body)).body.token;
    await j0.waitFor(token);
    const list = await j0.request('GET', '/submissions');
    assert.deepEqual(Object.keys(list.body), ['submissions', 'meta']);
    assert.deepEqual(Object.keys(list.body.meta), ['current_page', 'next_page', 'prev_page', 'total_pages', 'total_count']);
    assert.deepEqual(Object.keys(list.body.submissions[0]), DEFAULT);
    assertStarTypes((await j0.request('GET', '/submissions?fields=*')).body.submissions[0]);
  });

  it('DELETE /submissions/:token: the requested fields of the deleted submission', async () => {
    const token = (await j0.create(body)).body.token;
    await j0.waitFor(token);
    const r = await j0.request('DELETE', `/submissions/${token}?fields=*`);
    assert.equal(r.status, 200);
    assertStarTypes(r.body);
  });

  it('errors: 422 {field: [messages]}, 400 {error}, 404 {status, error}, 503 {error}', async () => {
    const invalid = await j0.create({ source_code: '', language_id: 71, cpu_time_limit: -1 });
    assert.equal(invalid.status, 422);
    for (const [field, messages] of Object.entries(invalid.body)) {
      assert.ok(Array.isArray(messages) && messages.every((m) => typeof m === 'string'), field);
    }
    const badFields = await j0.get('00000000-0000-4000-8000-000000000000', { fields: 'stdout,nope' });
    assert.deepEqual([badFields.status, Object.keys(badFields.body)], [400, ['error']]);
    const missing = await j0.get('00000000-0000-4000-8000-000000000000');
    assert.deepEqual([missing.status, missing.body], [404, { status: 404, error: 'Not Found' }]);
    fake.submit = async () => { throw new CorralError('queue_full'); };
    const full = await j0.create(body);
    assert.deepEqual([full.status, Object.keys(full.body)], [503, ['error']]);
  });

  it('languages and statuses: Judge0\'s attribute sets', async () => {
    const list = (await j0.request('GET', '/languages')).body;
    for (const l of list) assert.deepEqual(Object.keys(l), ['id', 'name']);
    for (const l of (await j0.request('GET', '/languages/all')).body) assert.deepEqual(Object.keys(l), ['id', 'name', 'is_archived']);
    assert.deepEqual(Object.keys((await j0.request('GET', '/languages/71')).body), ['id', 'name', 'is_archived', 'source_file', 'compile_cmd', 'run_cmd']);
    for (const s of (await j0.request('GET', '/statuses')).body) assert.deepEqual(Object.keys(s), ['id', 'description']);
  });

  it('config_info has every attribute judge0-python\'s Config model requires', async () => {
    const cfg = (await j0.request('GET', '/config_info')).body;
    for (const k of [
      'allow_enable_network', 'allow_enable_per_process_and_thread_memory_limit', 'allow_enable_per_process_and_thread_time_limit',
      'allowed_languages_for_compile_options', 'callbacks_max_tries', 'callbacks_timeout', 'cpu_extra_time', 'cpu_time_limit',
      'enable_additional_files', 'enable_batched_submissions', 'enable_callbacks', 'enable_command_line_arguments', 'enable_compiler_options',
      'enable_network', 'enable_per_process_and_thread_memory_limit', 'enable_per_process_and_thread_time_limit', 'enable_submission_delete',
      'enable_wait_result', 'maintenance_mode', 'max_cpu_extra_time', 'max_cpu_time_limit', 'max_extract_size', 'max_file_size',
      'max_max_file_size', 'max_max_processes_and_or_threads', 'max_memory_limit', 'max_number_of_runs', 'max_processes_and_or_threads',
      'max_queue_size', 'max_stack_limit', 'max_submission_batch_size', 'max_wall_time_limit', 'memory_limit', 'number_of_runs',
      'redirect_stderr_to_stdout', 'stack_limit', 'submission_cache_duration', 'use_docs_as_homepage', 'wall_time_limit',
    ]) assert.ok(k in cfg, k);
  });

  it('lists the ids the SDK\'s LanguageAlias resolves to for 1.13.1 (CPP = 52, C_CLANG = 75, CPP_CLANG = 76) once they are served', async () => {
    fake.languagesList = [
      ...DEFAULT_LANGUAGES,
      { id: 'clang-c', name: 'C (Clang)', version: 'Debian clang version 14.0.6', compiled: true, fileName: 'main.c', available: true },
      { id: 'clang-cpp', name: 'C++ (Clang)', version: '14.0.6', compiled: true, fileName: 'main.cpp', available: true },
    ];
    const ids = (await j0.request('GET', '/languages')).body.map((l: { id: number }) => l.id);
    for (const id of [48, 49, 50, 52, 53, 54, 75, 76]) assert.ok(ids.includes(id), `id ${id} listed`);
  });
});
