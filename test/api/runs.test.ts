// API v1 over real Redis, real BullMQ and a real worker host; the sandbox is the fake launcher
// (the HTTP layer is under test here; test/e2e/ runs the same paths through the real sandbox).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, readSse, startStack, until, waitFor, type Stack } from '../e2e/harness.ts';
import { fakeLauncher, fakeRegistry } from '../worker/fakes.ts';

let s: Stack;
before(async () => { s = await startStack({ launcher: fakeLauncher(), registry: fakeRegistry(), env: { CORRAL_JOB_ATTEMPTS: '2' } }); });
after(async () => { await s.stop(); });

const prog = (p: object) => JSON.stringify(p);

test('POST /v1/runs → 202 queued, then GET shows the completed result', async () => {
  const r = await api(s, 'POST', '/v1/runs', { language: 'fake', source: prog({ stdout: 'hi\n' }) });
  assert.equal(r.status, 202);
  assert.equal(r.body.status, 'queued');
  assert.match(r.body.id, /^[0-9a-f-]{36}$/);
  const done = await until(s, r.body.id);
  assert.equal(done.status, 'completed');
  assert.equal(done.verdict, 'accepted');
  assert.equal(done.run.stdout, 'hi\n');
  assert.ok(done.startedAt && done.finishedAt && done.createdAt);
  assert.equal(typeof done.queueWaitMs, 'number');
});

test('POST /v1/runs?wait=true → 200 with the finished result', async () => {
  const r = await api(s, 'POST', '/v1/runs?wait=true', { language: 'fake', source: prog({ stdout: '42' }), expectedOutput: '42\n' });
  assert.equal(r.status, 200);
  assert.equal(r.body.status, 'completed');
  assert.equal(r.body.verdict, 'accepted');
});

test('GET /v1/runs/:id is 404 with the error body for an unknown id', async () => {
  for (const id of ['0f1e2d3c-0000-4000-8000-000000000000', 'x'.repeat(200), 'a%2F..%2Fb']) {
    const r = await api(s, 'GET', `/v1/runs/${id}`);
    assert.equal(r.status, 404, id);
    assert.equal(r.body.error.code, 'run_not_found');
    assert.equal(typeof r.body.error.message, 'string');
    assert.ok('details' in r.body.error);
  }
  assert.equal((await api(s, 'DELETE', '/v1/runs/0f1e2d3c-0000-4000-8000-000000000000')).status, 404);
  assert.equal((await api(s, 'GET', '/v1/runs/0f1e2d3c-0000-4000-8000-000000000000/events')).status, 404);
});

test('SSE: queued, started, phase, completed in order', async () => {
  const r = await api(s, 'POST', '/v1/runs', { language: 'fakec', source: prog({ stdout: 'x' }), tests: [{ stdin: '1' }, { stdin: '2' }] });
  const events = await readSse(`${s.url}/v1/runs/${r.body.id}/events`);
  assert.deepEqual(events.map((e) => e.event), ['queued', 'started', 'phase', 'phase', 'phase', 'completed']);
  assert.deepEqual(events.map((e) => Number(e.id)), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(events.filter((e) => e.event === 'phase').map((e) => `${e.data.phase.name}${e.data.phase.index ?? ''}`), ['compile', 'test0', 'test1']);
  assert.equal(events.at(-1)!.data.result.verdict, 'accepted');
  // Replaying a finished run gives the same events; Last-Event-ID skips the seen ones.
  const again = await readSse(`${s.url}/v1/runs/${r.body.id}/events`, { 'last-event-id': '4' });
  assert.deepEqual(again.map((e) => e.event), ['phase', 'completed']);
});

test('batch submit and GET /v1/runs?ids=', async () => {
  const r = await api(s, 'POST', '/v1/runs/batch', { runs: [
    { language: 'fake', source: prog({ stdout: 'a' }) },
    { language: 'fake', source: prog({ exitCode: 2 }) },
  ] });
  assert.equal(r.status, 202);
  assert.equal(r.body.runs.length, 2);
  const ids = r.body.runs.map((x: any) => x.id);
  for (const id of ids) await until(s, id);
  const list = await api(s, 'GET', `/v1/runs?ids=${ids.join(',')},nope`);
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.runs.map((x: any) => x?.verdict ?? null), ['accepted', 'runtime_error', null]);
  assert.equal(list.body.runs[1].run.exitCode, 2);
  // Every id counts against CORRAL_BATCH_MAX, a malformed one too (each is a null in the answer).
  const max = s.config.batchMax;
  const many = await api(s, 'GET', `/v1/runs?ids=${Array.from({ length: max + 1 }, (_, i) => `nope${i}`).join(',')}`);
  assert.equal(many.status, 422, JSON.stringify(many.body));
  assert.equal(many.body.error.code, 'too_many');
  const enough = await api(s, 'GET', `/v1/runs?ids=${Array.from({ length: max }, (_, i) => `nope${i}`).join(',')}`);
  assert.equal(enough.status, 200);
  assert.equal(enough.body.runs.length, max);
});

test('files that cannot be written are refused at once (422), not a run failed later', async () => {
  const cases: Array<[object, string, string]> = [
    // More than the /box they are written into (compileLimits.diskMb), counted in whole pages.
    [{ compileLimits: { diskMb: 1 }, files: [{ path: 'big.txt', content: 'x'.repeat(1_100_000) }] }, 'limit_exceeded', 'files'],
    // 1 000 000 bytes, but 100 files of three pages each: 1 228 800 bytes of the tmpfs.
    [{ compileLimits: { diskMb: 1 }, files: Array.from({ length: 100 }, (_, i) => ({ path: `f${i}`, content: 'x'.repeat(10_000) })) }, 'limit_exceeded', 'files'],
    [{ compileLimits: { diskMb: 1 }, tests: [{ stdin: '' }], checker: { language: 'fake', source: '{}', files: [{ path: 'big', content: 'x'.repeat(1_100_000) }] } }, 'limit_exceeded', 'checker.files'],
    // A file that another file's path needs as a directory, and a directory of the source's file.
    [{ files: [{ path: 'a', content: '' }, { path: 'a/b', content: '' }] }, 'validation_failed', 'files[1].path'],
    [{ files: [{ path: 'a/b/c', content: '' }, { path: 'a/b', content: '' }] }, 'validation_failed', 'files[0].path'],
    [{ files: [{ path: 'main.json/x', content: '' }] }, 'validation_failed', 'files[0].path'],
  ];
  for (const [extra, code, field] of cases) {
    const r = await api(s, 'POST', '/v1/runs', { language: 'fake', source: '{}', ...extra });
    assert.equal(r.status, 422, `${JSON.stringify(extra).slice(0, 200)}: ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, code, JSON.stringify(r.body));
    assert.ok(r.body.error.details.some((d: any) => d.field === field), JSON.stringify(r.body));
  }
  // Fitting: 100 files of two pages each and the source's page in 1 MiB, and "a/b" beside "ab".
  const fits = await api(s, 'POST', '/v1/runs', { language: 'fake', source: '{}', compileLimits: { diskMb: 1 }, files: Array.from({ length: 100 }, (_, i) => ({ path: `f${i}`, content: 'x'.repeat(8192) })) });
  assert.equal(fits.status, 202, JSON.stringify(fits.body));
  const beside = await api(s, 'POST', '/v1/runs', { language: 'fake', source: '{}', files: [{ path: 'ab', content: '' }, { path: 'a/b', content: '' }] });
  assert.equal(beside.status, 202, JSON.stringify(beside.body));
});

test('batch: one invalid run rejects the batch naming its index; nothing is queued', async () => {
  const before = (await api(s, 'GET', '/metrics')).body as string;
  const r = await api(s, 'POST', '/v1/runs/batch', { runs: [{ language: 'fake', source: 'x' }, { language: 'fake' }] });
  assert.equal(r.status, 422);
  assert.ok(r.body.error.details.some((d: any) => d.field.startsWith('runs[1]')), JSON.stringify(r.body));
  assert.equal(typeof before, 'string');
});

test('DELETE a running run → cancelled', async () => {
  const r = await api(s, 'POST', '/v1/runs', { language: 'fake', source: prog({ sleepMs: 600_000 }) });
  const events = readSse(`${s.url}/v1/runs/${r.body.id}/events`);
  for (;;) {
    const g = await api(s, 'GET', `/v1/runs/${r.body.id}`);
    if (g.body.status === 'running') break;
    await new Promise((res) => setTimeout(res, 20));
  }
  const d = await api(s, 'DELETE', `/v1/runs/${r.body.id}`);
  assert.equal(d.status, 200);
  assert.equal(d.body.status, 'cancelled');
  assert.equal((await until(s, r.body.id)).status, 'cancelled');
  assert.equal((await events).at(-1)!.event, 'cancelled');
});

test('GET /v1/languages lists the workers\' languages', async () => {
  const r = await api(s, 'GET', '/v1/languages');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.map((l: any) => l.id), ['broken', 'fake', 'fakec', 'hopeless']);
  assert.deepEqual(Object.keys(r.body[0]).sort(), ['available', 'compiled', 'fileName', 'id', 'name', 'version']);
});

test('healthz, readyz, metrics, openapi, docs', async () => {
  assert.equal((await api(s, 'GET', '/healthz')).status, 200);
  const ready = await api(s, 'GET', '/readyz');
  assert.equal(ready.status, 200, JSON.stringify(ready.body));
  assert.equal(ready.body.checks.redis.ok, true);
  const m = await api(s, 'GET', '/metrics');
  assert.equal(m.status, 200);
  for (const name of ['corral_queue_depth', 'corral_runs_total', 'corral_queue_wait_seconds', 'corral_total_seconds', 'corral_active_runs', 'corral_sandbox_setup_seconds', 'corral_compile_seconds', 'corral_run_seconds']) {
    assert.ok(m.body.includes(name), `${name} missing`);
  }
  assert.match(m.body, /corral_runs_total\{language="fake",verdict="accepted",status="completed"\} \d+/);
  const o = await api(s, 'GET', '/openapi.json');
  assert.equal(o.status, 200);
  assert.equal(o.body.openapi, '3.0.3');
  assert.ok(o.body.paths['/v1/runs'].post);
  assert.ok(o.body.components.schemas.RunRequest.properties.language);
  assert.ok(o.body.components.schemas.RunResult.properties.verdict);
  const d = await fetch(`${s.url}/docs`);
  assert.match(await d.text(), /Corral API v1/);
});

test('an unknown language is refused once workers have reported theirs', async () => {
  const r = await api(s, 'POST', '/v1/runs', { language: 'cobol', source: 'x' });
  assert.equal(r.status, 422);
  assert.equal(r.body.error.code, 'unknown_language');
  assert.deepEqual(r.body.error.details.known, ['broken', 'fake', 'fakec', 'hopeless']);
});

test('a sandbox failure a retry can fix is retried, then failed with the reason, structured (never lost)', async () => {
  const r = await api(s, 'POST', '/v1/runs', { language: 'broken', source: 'x' });
  const done = await until(s, r.body.id);
  assert.equal(done.status, 'failed');
  assert.equal(done.verdict, 'internal_error');
  assert.equal(done.error.code, 'sandbox_error');
  assert.match(done.error.message, /volume setup failed/);
  assert.deepEqual(done.error.sandbox, { code: 'host', step: 'volume-create', op: '', errno: 12 });
  const events = await s.core.store.events(r.body.id);
  assert.equal(events.filter((e) => e.type === 'started').length, 2, 'two attempts');
  assert.equal(events.at(-1)!.type, 'failed');
});

test('a sandbox failure that would repeat (an invalid spec) fails at once, without a retry', async () => {
  const r = await api(s, 'POST', '/v1/runs', { language: 'hopeless', source: 'x' });
  const done = await until(s, r.body.id);
  assert.equal(done.status, 'failed');
  assert.equal(done.error.code, 'sandbox_error');
  assert.equal(done.error.sandbox.code, 'spec');
  const events = await s.core.store.events(r.body.id);
  assert.equal(events.filter((e) => e.type === 'started').length, 1, 'one attempt');
});

test('priority: higher priority runs first', async () => {
  const { fakeLauncher: fl, fakeRegistry: fr } = await import('../worker/fakes.ts');
  const s2 = await startStack({ launcher: fl(), registry: fr(), worker: false, env: { CORRAL_WORKER_SLOTS: '1' } });
  try {
    const ids: Record<string, string> = {};
    for (const [name, priority] of [['low', 0], ['mid', 5], ['high', 10]] as const) {
      ids[name] = (await api(s2, 'POST', '/v1/runs', { language: 'fake', source: '{}', priority })).body.id;
    }
    await s2.startWorker();
    const started: Record<string, number> = {};
    for (const [name, id] of Object.entries(ids)) {
      const events = await s2.core.store.events((await until(s2, id)).id);
      started[name] = Date.parse(events.find((e) => e.type === 'started')!.at);
    }
    assert.ok(started.high! <= started.mid! && started.mid! <= started.low!, JSON.stringify(started));
    const seqOf = async (id: string) => (await s2.core.store.events(id)).find((e) => e.type === 'completed')!.at;
    assert.ok(await seqOf(ids.high!) <= await seqOf(ids.low!));
  } finally {
    await s2.stop();
  }
});

test('cancel of a run waiting for its retry (record says running) removes it and says cancelled', async () => {
  const { fakeLauncher: fl, fakeRegistry: fr } = await import('../worker/fakes.ts');
  // A long backoff keeps the run in its retry wait for the whole test.
  const s2 = await startStack({ launcher: fl(), registry: fr(), env: { CORRAL_JOB_ATTEMPTS: '2', CORRAL_JOB_BACKOFF_MS: '600000' } });
  try {
    const r = await api(s2, 'POST', '/v1/runs', { language: 'broken', source: 'x' });
    const job = () => s2.core.queue.getJob(r.body.id);
    await waitFor(async () => (await job())?.attemptsMade === 1 && await (await job())?.getState() === 'delayed', 'the first attempt to fail');
    assert.equal((await api(s2, 'GET', `/v1/runs/${r.body.id}`)).body.status, 'running');
    const d = await api(s2, 'DELETE', `/v1/runs/${r.body.id}`);
    assert.equal(d.status, 200);
    assert.equal(d.body.status, 'cancelled');
    assert.equal(await job(), undefined);
  } finally {
    await s2.stop();
  }
});

test('event notices broadcast to API instances are small; the events themselves carry the output', async () => {
  const { connectRedis } = await import('../../services/core/redis.ts');
  const { NOTICE_RESULT_MAX_BYTES } = await import('../../services/core/run-store.ts');
  const sub = connectRedis(s.core.redisUrl, 'test-sub');
  const messages: string[] = [];
  try {
    await sub.subscribe(s.core.keys.eventsChannel);
    sub.on('message', (_c: string, m: string) => messages.push(m));
    const big = 'x'.repeat(20_000);
    const r = await api(s, 'POST', '/v1/runs?wait=true', { language: 'fake', source: JSON.stringify({ stdout: big }) });
    assert.equal(r.body.run.stdout, big);
    await waitFor(async () => messages.some((m) => JSON.parse(m).id === r.body.id && JSON.parse(m).type === 'completed'), 'the completed notice');
    const mine = messages.filter((m) => JSON.parse(m).id === r.body.id);
    // The last phase is written in the same step as the result: one notice (naming the last
    // event, seq 4) covers both, and readers find the phase event in the list.
    assert.deepEqual(mine.map((m) => [JSON.parse(m).type, JSON.parse(m).seq]), [['queued', 1], ['started', 2], ['completed', 4]]);
    for (const m of mine) assert.ok(m.length < 200, m.slice(0, 80));
    const events = await readSse(`${s.url}/v1/runs/${r.body.id}/events`);
    assert.deepEqual(events.map((e) => e.event), ['queued', 'started', 'phase', 'completed']);
    assert.equal(events.find((e) => e.event === 'phase')!.data.phase.result.stdout, big);
    // A small result rides along with its terminal notice (a waiter needs no read), a big one not.
    assert.equal(JSON.parse(mine.at(-1)!).result, undefined);
    const small = await api(s, 'POST', '/v1/runs?wait=true', { language: 'fake', source: JSON.stringify({ stdout: 'tiny' }) });
    await waitFor(async () => messages.some((m) => JSON.parse(m).id === small.body.id && JSON.parse(m).type === 'completed'), 'the small completed notice');
    const notice = JSON.parse(messages.find((m) => JSON.parse(m).id === small.body.id && JSON.parse(m).type === 'completed')!);
    assert.deepEqual(notice.result, small.body);
    assert.ok(JSON.stringify(notice).length <= NOTICE_RESULT_MAX_BYTES + 200);
  } finally {
    sub.disconnect();
  }
});

test('a phase event keeps a bounded preview of the output, the terminal event no copy; SSE still gives the whole result', async () => {
  const { EVENT_OUTPUT_PREVIEW_BYTES } = await import('../../services/core/run-store.ts');
  const big = 'y'.repeat(EVENT_OUTPUT_PREVIEW_BYTES * 3);
  const r = await api(s, 'POST', '/v1/runs?wait=true', { language: 'fake', source: JSON.stringify({ stdout: big }), limits: { outputBytes: big.length * 2 } });
  assert.equal(r.body.run.stdout, big, 'the result holds the whole output');
  const stored = await s.core.store.events(r.body.id);
  const bytes = stored.reduce((n, e) => n + JSON.stringify(e).length, 0);
  assert.ok(bytes < EVENT_OUTPUT_PREVIEW_BYTES * 1.5, `the events hold ${bytes} bytes: the output is stored again`);
  const phase = stored.find((e) => e.type === 'phase')!;
  assert.equal(phase.phase!.result.stdout.length, EVENT_OUTPUT_PREVIEW_BYTES);
  assert.equal(phase.phase!.result.truncated, true);
  assert.equal(stored.at(-1)!.result, undefined);
  const events = await readSse(`${s.url}/v1/runs/${r.body.id}/events`);
  assert.equal(events.at(-1)!.data.result.run.stdout, big, 'the SSE terminal event carries the whole result');
});

test('?wait=true and the SSE terminal event send the stored result\'s bytes as they are', async () => {
  const out = 'z\t"é\n'.repeat(30_000); // escapes, a 2-byte character; bigger than a notice carries
  const waited = await fetch(`${s.url}/v1/runs?wait=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'fake', source: JSON.stringify({ stdout: out }) }) });
  assert.equal(waited.status, 200);
  assert.match(waited.headers.get('content-type') ?? '', /^application\/json/);
  const body = Buffer.from(await waited.arrayBuffer());
  const id = JSON.parse(body.toString()).id;
  const stored = (await s.core.store.getJson(id))!;
  assert.ok(body.equals(stored), 'the ?wait=true answer is not the stored bytes');
  const sse = await (await fetch(`${s.url}/v1/runs/${id}/events`)).text();
  const block = sse.split('\n\n').find((b) => b.startsWith('event: completed'))!;
  const lines = block.split('\n');
  assert.deepEqual([lines.length, lines[0], lines[2]], [3, 'event: completed', `id: ${JSON.parse(lines[1]!.slice(6)).seq}`]);
  const data = lines[1]!.slice('data: '.length);
  assert.ok(data.endsWith(`,"result":${stored.toString()}}`), 'the terminal event does not carry the stored bytes');
  const event = JSON.parse(data);
  // The stored event's fields as they are, then the result (where JSON.stringify of both put it).
  const terminal = (await s.core.store.events(id)).at(-1)!;
  assert.deepEqual(Object.keys(event), [...Object.keys(terminal), 'result']);
  assert.equal(event.result.run.stdout, out);
});

test('a list of runs bigger than CORRAL_LIST_MAX_BYTES answers 422 response_too_large, never a 500', async () => {
  const s2 = await startStack({ launcher: fakeLauncher(), registry: fakeRegistry(), env: { CORRAL_LIST_MAX_BYTES: '4096' } });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await api(s2, 'POST', '/v1/runs?wait=true', { language: 'fake', source: JSON.stringify({ stdout: 'z'.repeat(2000) }) })).body.id);
    const all = await api(s2, 'GET', `/v1/runs?ids=${ids.join(',')}`);
    assert.equal(all.status, 422);
    assert.equal(all.body.error.code, 'response_too_large');
    assert.ok(all.body.error.details.bytes > 4096);
    const one = await api(s2, 'GET', `/v1/runs?ids=${ids[0]},nope`);
    assert.equal(one.status, 200);
    assert.equal(one.body.runs[0].run.stdout, 'z'.repeat(2000));
    assert.equal(one.body.runs[1], null);
  } finally {
    await s2.stop();
  }
});
