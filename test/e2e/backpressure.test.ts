// Backpressure (issue 22): one API instance never accepts more runs than CORRAL_QUEUE_MAX_DEPTH,
// however many submits arrive at once — single runs and batches mixed, while its depth readings
// refresh under it (services/core/admission.ts). No worker takes runs, so every accepted run is
// still queued at the end and the queue's own count is the check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { queueDepth } from '../../services/core/queue.ts';
import { api, startStack } from './harness.ts';

const MAX = 50;

test(`300 concurrent submits with CORRAL_QUEUE_MAX_DEPTH=${MAX}: at most ${MAX} accepted, the rest 503 queue_full`, async (t) => {
  const s = await startStack({ env: { CORRAL_QUEUE_MAX_DEPTH: String(MAX) } });
  try {
    const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => (i % 10 === 0
      ? api(s, 'POST', '/v1/runs/batch', { runs: [{ language: 'bash', source: 'true' }, { language: 'bash', source: 'true' }] })
      : api(s, 'POST', '/v1/runs', { language: 'bash', source: 'true' }))));
    let accepted = 0;
    for (const a of answers) {
      if (a.status === 202) accepted += Array.isArray(a.body.runs) ? a.body.runs.length : 1;
      else {
        assert.equal(a.status, 503, JSON.stringify(a.body));
        assert.equal(a.body.error.code, 'queue_full');
        assert.ok(a.headers.get('retry-after'));
      }
    }
    const depth = await queueDepth(s.core.queue);
    t.diagnostic(`${accepted} runs accepted of 330 asked, maximum ${MAX}`);
    assert.equal(depth, accepted, 'every accepted run is queued');
    assert.ok(accepted <= MAX, `${accepted} runs accepted, maximum ${MAX}`);
    assert.ok(accepted >= MAX / 2, `only ${accepted} accepted: the bound refuses far too early`);
  } finally {
    await s.stop();
  }
});
