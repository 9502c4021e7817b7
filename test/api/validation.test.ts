// Every kind of bad input → a 4xx with {"error":{"code","message","details"}}, the service healthy
// after; auth, body limit, queue-full backpressure, cancel of queued runs. No worker runs here, so
// submitted runs stay queued.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, startStack, type Stack } from '../e2e/harness.ts';

let s: Stack;
before(async () => {
  s = await startStack({ env: { CORRAL_BODY_LIMIT_BYTES: '4096', CORRAL_QUEUE_MAX_DEPTH: '3', CORRAL_RETRY_AFTER_SECONDS: '7', CORRAL_FILES_MAX: '3', CORRAL_BATCH_MAX: '5' } });
});
after(async () => { await s.stop(); });

const good = { language: 'fake', source: 'x' };
const cases: Array<[string, string, string, unknown, number, string, (b: any) => void]> = [
  ['malformed JSON', 'POST', '/v1/runs', '{"language":', 400, 'invalid_json', () => {}],
  ['JSON array', 'POST', '/v1/runs', [1], 422, 'validation_failed', () => {}],
  ['missing language', 'POST', '/v1/runs', { source: 'x' }, 422, 'validation_failed', (b) => assert.ok(b.error.details.some((d: any) => d.field === 'language'))],
  ['neither source nor files', 'POST', '/v1/runs', { language: 'fake' }, 422, 'validation_failed', () => {}],
  ['absolute path', 'POST', '/v1/runs', { language: 'fake', files: [{ path: '/etc/x', content: '' }] }, 422, 'validation_failed', (b) => assert.equal(b.error.details[0].field, 'files[0].path')],
  ['dot-dot path', 'POST', '/v1/runs', { language: 'fake', files: [{ path: 'a/../../x', content: '' }] }, 422, 'validation_failed', () => {}],
  ['NUL in path', 'POST', '/v1/runs', { language: 'fake', files: [{ path: 'a\u0000b', content: '' }] }, 422, 'validation_failed', () => {}],
  ['bad encoding', 'POST', '/v1/runs', { language: 'fake', files: [{ path: 'a', content: '', encoding: 'hex' }] }, 422, 'validation_failed', () => {}],
  ['too many files', 'POST', '/v1/runs', { language: 'fake', files: ['a', 'b', 'c', 'd'].map((p) => ({ path: p, content: '' })) }, 422, 'too_many', (b) => assert.equal(b.error.details.maximum, 3)],
  ['cpu beyond max', 'POST', '/v1/runs', { ...good, limits: { cpuMs: 10_000_000 } }, 422, 'limit_exceeded', (b) => {
    assert.equal(b.error.details[0].field, 'limits.cpuMs');
    assert.equal(b.error.details[0].maximum, s.config.limits.run.max.cpuMs);
    assert.match(b.error.message, /limits\.cpuMs/);
  }],
  ['compile memory beyond max', 'POST', '/v1/runs', { ...good, compileLimits: { memoryMb: 1_000_000 } }, 422, 'limit_exceeded', (b) => assert.equal(b.error.details[0].field, 'compileLimits.memoryMb')],
  ['negative limit', 'POST', '/v1/runs', { ...good, limits: { wallMs: -5 } }, 422, 'validation_failed', () => {}],
  ['non-integer limit', 'POST', '/v1/runs', { ...good, limits: { wallMs: 1.5 } }, 422, 'validation_failed', () => {}],
  ['unknown limit', 'POST', '/v1/runs', { ...good, limits: { gpus: 1 } }, 422, 'validation_failed', () => {}],
  ['unknown field', 'POST', '/v1/runs', { ...good, shell: true }, 422, 'validation_failed', () => {}],
  ['bad compare', 'POST', '/v1/runs', { ...good, compare: 'fuzzy' }, 422, 'validation_failed', () => {}],
  ['bad callback', 'POST', '/v1/runs', { ...good, callbackUrl: 'file:///etc/passwd' }, 422, 'validation_failed', () => {}],
  ['stdin not base64', 'POST', '/v1/runs', { ...good, stdin: 'not base64!', stdinEncoding: 'base64' }, 422, 'validation_failed', (b) => assert.equal(b.error.details[0].field, 'stdin')],
  ['test stdin not base64', 'POST', '/v1/runs', { language: 'fake', source: 'x', tests: [{ stdin: 'AQI=' }, { stdin: 'A' }], stdinEncoding: 'base64' }, 422, 'validation_failed', (b) => assert.equal(b.error.details[0].field, 'tests[1].stdin')],
  ['bad stdinEncoding', 'POST', '/v1/runs', { ...good, stdinEncoding: 'hex' }, 422, 'validation_failed', () => {}],
  ['bad priority', 'POST', '/v1/runs', { ...good, priority: 99 }, 422, 'validation_failed', () => {}],
  ['bad env name', 'POST', '/v1/runs', { ...good, env: { 'X Y': '1' } }, 422, 'validation_failed', () => {}],
  ['bad wait query', 'POST', '/v1/runs?wait=maybe', good, 422, 'validation_failed', () => {}],
  ['unknown query', 'POST', '/v1/runs?foo=1', good, 422, 'validation_failed', () => {}],
  ['ids missing', 'GET', '/v1/runs', undefined, 422, 'validation_failed', () => {}],
  ['batch not an array', 'POST', '/v1/runs/batch', { runs: {} }, 422, 'validation_failed', () => {}],
  ['batch too big', 'POST', '/v1/runs/batch', { runs: Array.from({ length: 6 }, () => good) }, 422, 'too_many', () => {}],
  ['empty batch', 'POST', '/v1/runs/batch', { runs: [] }, 422, 'validation_failed', () => {}],
  ['unknown route', 'GET', '/v2/anything', undefined, 404, 'not_found', () => {}],
];

for (const [name, method, path, body, status, code, check] of cases) {
  test(`bad input: ${name} → ${status} ${code}`, async () => {
    const r = await api(s, method, path, body);
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.error.code, code);
    assert.equal(typeof r.body.error.message, 'string');
    assert.ok('details' in r.body.error);
    check(r.body);
    assert.equal((await api(s, 'GET', '/healthz')).status, 200);
  });
}

test('wrong content type → 415', async () => {
  const res = await fetch(`${s.url}/v1/runs`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' });
  assert.equal(res.status, 415);
  assert.equal((await res.json()).error.code, 'unsupported_media_type');
});

test('body over the limit → 413, with and without content-length', async () => {
  const big = JSON.stringify({ language: 'fake', source: 'x'.repeat(10_000) });
  const r = await api(s, 'POST', '/v1/runs', big);
  assert.equal(r.status, 413);
  assert.equal(r.body.error.code, 'payload_too_large');
  const chunked = await fetch(`${s.url}/v1/runs`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, duplex: 'half',
    body: new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(big)); c.close(); } }),
  } as RequestInit);
  assert.equal(chunked.status, 413);
  // Under the limit, a chunked body is read and validated like any other (not refused for size).
  const small = await fetch(`${s.url}/v1/runs`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, duplex: 'half',
    body: new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('{"language":')); c.enqueue(new TextEncoder().encode('42}')); c.close(); } }),
  } as RequestInit);
  assert.equal(small.status, 422);
  assert.equal(((await small.json()) as { error: { code: string } }).error.code, 'validation_failed');
});

test('readyz is 503 without workers and says why', async () => {
  const r = await api(s, 'GET', '/readyz');
  assert.equal(r.status, 503);
  assert.equal(r.body.checks.redis.ok, true);
  assert.equal(r.body.checks.workers.ok, false);
});

test('cancel of a queued run removes it; cancel again is idempotent; queue full → 503 + Retry-After', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await api(s, 'POST', '/v1/runs', good);
    assert.equal(r.status, 202);
    ids.push(r.body.id);
  }
  const full = await api(s, 'POST', '/v1/runs', good);
  assert.equal(full.status, 503);
  assert.equal(full.body.error.code, 'queue_full');
  assert.equal(full.headers.get('retry-after'), '7');
  assert.equal((await api(s, 'POST', '/v1/runs/batch', { runs: [good] })).status, 503);

  const c = await api(s, 'DELETE', `/v1/runs/${ids[0]}`);
  assert.equal(c.status, 200);
  assert.equal(c.body.status, 'cancelled');
  assert.equal((await api(s, 'GET', `/v1/runs/${ids[0]}`)).body.status, 'cancelled');
  assert.equal((await api(s, 'DELETE', `/v1/runs/${ids[0]}`)).body.status, 'cancelled');
  assert.equal(await s.core.queue.getJob(ids[0]!), undefined);
  // One slot is free again.
  assert.equal((await api(s, 'POST', '/v1/runs', good)).status, 202);
  assert.equal((await api(s, 'POST', '/v1/runs', good)).status, 503);
  for (const id of ids.slice(1)) await api(s, 'DELETE', `/v1/runs/${id}`);
});

test('?wait=true returns 202 with the id when the run does not finish within the maximum wait', async () => {
  const s2 = await startStack({ env: { CORRAL_MAX_WAIT_MS: '50' } });
  try {
    const r = await api(s2, 'POST', '/v1/runs?wait=true', good);
    assert.equal(r.status, 202);
    assert.equal(r.body.status, 'queued');
  } finally {
    await s2.stop();
  }
});

test('API keys: 401 without or with a wrong key; Bearer and X-Auth-Token work; health is open', async () => {
  const s2 = await startStack({ env: { CORRAL_API_KEYS: 'k1,k2' } });
  try {
    const no = await api(s2, 'GET', '/v1/languages');
    assert.equal(no.status, 401);
    assert.equal(no.body.error.code, 'unauthorized');
    assert.equal((await api(s2, 'GET', '/v1/languages', undefined, { authorization: 'Bearer nope' })).status, 401);
    assert.equal((await api(s2, 'POST', '/v1/runs', good, { 'x-auth-token': 'k' })).status, 401);
    assert.equal((await api(s2, 'GET', '/v1/languages', undefined, { authorization: 'Bearer k2' })).status, 200);
    assert.equal((await api(s2, 'GET', '/v1/languages', undefined, { 'x-auth-token': 'k1' })).status, 200);
    assert.equal((await api(s2, 'POST', '/v1/runs', good, { 'x-auth-token': 'k1' })).status, 202);
    assert.equal((await api(s2, 'GET', '/healthz')).status, 200);
  } finally {
    await s2.stop();
  }
});

test('Redis down: requests get 503 not_ready (not a hang or a 500), healthz stays 200, readyz says why', async () => {
  const s2 = await startStack();
  try {
    await s2.redis.stop();
    const r = await api(s2, 'POST', '/v1/runs', good);
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'not_ready');
    assert.equal((await api(s2, 'GET', '/v1/runs/0f1e2d3c-0000-4000-8000-000000000000')).status, 503);
    assert.equal((await api(s2, 'GET', '/healthz')).status, 200);
    const ready = await api(s2, 'GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.body.checks.redis.ok, false);
  } finally {
    await s2.stop();
  }
});
