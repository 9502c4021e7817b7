// How the compat layers sit in an app that also serves other APIs (API v1): their guards and
// error handlers stay on their own routes, the Judge0 prefix is configurable, and states of the
// server (no worker yet, RunService down) are answered in each API's own shape.
import { strict as assert } from 'node:assert';
import { afterEach, describe, it } from 'node:test';
import { startCompatServer, type CompatServer } from './compat-server.ts';
import { FakeRunService } from './fake-run-service.ts';

describe('mounting the compat APIs beside other routes', () => {
  let server: CompatServer | undefined;
  afterEach(async () => { await server?.close(); server = undefined; });

  it('Judge0 auth and body limits do not leak onto other routes of the app', async () => {
    server = await startCompatServer(new FakeRunService(), {
      judge0: { authTokens: ['k'] }, piston: { apiKeys: ['p'] }, bodyLimitBytes: 100,
      extra: (app) => { app.post('/v1/echo', async (c) => c.text(await c.req.text())); },
    });
    const res = await fetch(`${server.url}/v1/echo`, { method: 'POST', body: 'x'.repeat(1000) });
    assert.deepEqual([res.status, (await res.text()).length], [200, 1000]);
    assert.equal((await fetch(`${server.url}/statuses`)).status, 401);
    assert.equal((await fetch(`${server.url}/statuses`, { headers: { 'x-auth-token': 'k' } })).status, 200);
  });

  it('Piston API keys: Authorization or X-Auth-Token', async () => {
    server = await startCompatServer(new FakeRunService(), { piston: { apiKeys: ['p'] } });
    const none = await fetch(`${server.url}/api/v2/runtimes`);
    assert.equal(none.status, 401);
    assert.match((await none.json()).message, /API key/);
    assert.equal((await fetch(`${server.url}/api/v2/runtimes`, { headers: { authorization: 'p' } })).status, 200);
    assert.equal((await fetch(`${server.url}/api/v2/runtimes`, { headers: { authorization: 'Bearer p' } })).status, 200);
    assert.equal((await fetch(`${server.url}/api/v2/runtimes`, { headers: { 'x-auth-token': 'p' } })).status, 200);
  });

  it('Judge0 under a prefix', async () => {
    server = await startCompatServer(new FakeRunService(), { judge0: { prefix: '/judge0' } });
    assert.equal((await fetch(`${server.url}/judge0/statuses`)).status, 200);
    const r = await fetch(`${server.url}/judge0/submissions?wait=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source_code: 'x', language_id: 71, stdin: 'p' }) });
    assert.equal(r.status, 201);
    assert.equal((await r.json()).stdout, 'p');
    assert.equal((await fetch(`${server.url}/statuses`)).status, 404);
  });

  it('no worker has reported languages yet: 503 with Retry-After, not a 422', async () => {
    const fake = new FakeRunService();
    fake.languagesList = [];
    server = await startCompatServer(fake);
    const j = await fetch(`${server.url}/submissions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source_code: 'x', language_id: 71 }) });
    assert.deepEqual([j.status, j.headers.get('retry-after'), await j.json()], [503, '5', { error: 'no worker has reported its languages yet; retry shortly' }]);
    const p = await fetch(`${server.url}/api/v2/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'py', version: '*', files: [{ content: 'x' }] }) });
    assert.equal(p.status, 503);
  });

  it('RunService failing (not the request) answers in each API\'s own shape', async () => {
    const fake = new FakeRunService();
    fake.languages = async () => { throw new Error('redis: connection refused'); };
    server = await startCompatServer(fake);
    const j = await fetch(`${server.url}/languages`);
    assert.deepEqual([j.status, await j.json()], [500, { error: 'internal error: redis: connection refused' }]);
    const p = await fetch(`${server.url}/api/v2/runtimes`);
    assert.deepEqual([p.status, await p.json()], [500, { message: 'internal error: redis: connection refused' }]);
  });
});
