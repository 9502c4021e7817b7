// The Judge0 switches set by CORRAL_JUDGE0_* environment variables reach the Judge0 API mounted by
// startApi (the same path `corral api` / `corral up` take): real redis-server, real HTTP on port 0.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, startStack, type Stack } from './harness.ts';

let s: Stack;
before(async () => {
  s = await startStack({
    env: {
      CORRAL_JUDGE0_PREFIX: '/judge0',
      CORRAL_JUDGE0_ENABLE_WAIT_RESULT: 'false',
      CORRAL_JUDGE0_ENABLE_SUBMISSION_DELETE: 'true',
      CORRAL_JUDGE0_ENABLE_BATCHED_SUBMISSIONS: 'false',
      CORRAL_JUDGE0_ALLOW_ENABLE_NETWORK: 'true',
      CORRAL_JUDGE0_AUTH_USERS: 'root-key, other',
      CORRAL_JUDGE0_MAX_EXTRACT_SIZE_KB: '7',
    },
  });
});
after(async () => { await s?.stop(); });

test('the prefix moves the Judge0 API; API v1 stays where it is', async () => {
  assert.equal((await api(s, 'GET', '/judge0/statuses')).status, 200);
  assert.equal((await api(s, 'GET', '/statuses')).status, 404);
  assert.equal((await api(s, 'GET', '/healthz')).status, 200);
});

test('/config_info shows the switches from the environment', async () => {
  const r = await api(s, 'GET', '/judge0/config_info');
  assert.equal(r.status, 200);
  assert.equal(r.body.enable_wait_result, false);
  assert.equal(r.body.enable_submission_delete, true);
  assert.equal(r.body.enable_batched_submissions, false);
  assert.equal(r.body.allow_enable_network, true);
  assert.equal(r.body.max_extract_size, 7);
});

test('wait and batches are refused in Judge0\'s shape; admin endpoints need one of the X-Auth-User keys', async () => {
  const w = await api(s, 'POST', '/judge0/submissions?wait=true', { source_code: 'x', language_id: 71 });
  assert.deepEqual([w.status, w.body], [400, { error: 'wait not allowed' }]);
  const b = await api(s, 'POST', '/judge0/submissions/batch', { submissions: [{ source_code: 'x', language_id: 71 }] });
  assert.deepEqual([b.status, b.body], [400, { error: 'batched submissions are not allowed' }]);
  assert.equal((await api(s, 'GET', '/judge0/submissions')).status, 403);
  assert.equal((await api(s, 'GET', '/judge0/submissions', undefined, { 'x-auth-user': 'nope' })).status, 403);
  assert.equal((await api(s, 'GET', '/judge0/submissions', undefined, { 'x-auth-user': 'other' })).status, 200);
  // Delete is enabled: an unknown token is Judge0's 404, not "delete not allowed".
  const d = await api(s, 'DELETE', '/judge0/submissions/00000000-0000-4000-8000-000000000000', undefined, { 'x-auth-user': 'root-key' });
  assert.deepEqual([d.status, d.body], [404, { status: 404, error: 'Not Found' }]);
});
