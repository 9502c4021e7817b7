// A worker in the API's process (`corral up`) hands each terminal result to the API's EventHub as
// soon as it is written, besides the Redis channel: a waiting request is answered from it, and an
// SSE stream still shows each event once although its notice arrives twice.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventNotice } from '../../services/core/event-hub.ts';
import { createLogger } from '../../services/core/logger.ts';
import { startWorkerHost, type WorkerHost } from '../../worker/worker-host.ts';
import { api, readSse, startStack, type Stack } from '../e2e/harness.ts';
import { fakeLauncher, fakeRegistry } from '../worker/fakes.ts';

let s: Stack;
let worker: WorkerHost;
const delivered: EventNotice[] = [];
const prog = (p: object) => JSON.stringify(p);

before(async () => {
  s = await startStack({ launcher: fakeLauncher(), registry: fakeRegistry(), worker: false });
  const hub = s.core.hub;
  worker = await startWorkerHost({
    config: s.config, redisUrl: s.redis.url, log: createLogger(s.config.logLevel, 'corral-test'),
    launcher: fakeLauncher(), registry: fakeRegistry(), selfTest: async () => {},
    localEvents: { deliver: (n) => { delivered.push(n); hub.deliver(n); } },
  });
});
after(async () => {
  await worker.close(true);
  await s.stop();
});

test('the terminal result reaches the waiting request through the local hub, once written', async () => {
  const r = await api(s, 'POST', '/v1/runs?wait=true', { language: 'fake', source: prog({ stdout: 'local\n' }) });
  assert.equal(r.status, 200);
  assert.equal(r.body.run.stdout, 'local\n');
  const notice = delivered.find((n) => n.id === r.body.id);
  assert.ok(notice, 'the worker delivered the terminal notice locally');
  assert.equal(notice.type, 'completed');
  assert.equal(notice.result?.verdict, 'accepted');
  // Delivered after the write: the stored result is the one delivered, under the same seq.
  assert.deepEqual((await api(s, 'GET', `/v1/runs/${r.body.id}`)).body, notice.result);
  const events = await readSse(`${s.url}/v1/runs/${r.body.id}/events`);
  assert.equal(events.at(-1)!.event, 'completed');
  assert.equal(Number(events.at(-1)!.id), notice.seq);
});

test('an SSE stream open during the run shows the terminal event once', async () => {
  const r = await api(s, 'POST', '/v1/runs', { language: 'fake', source: prog({ stdout: 'x', sleepMs: 300 }) });
  const events = await readSse(`${s.url}/v1/runs/${r.body.id}/events`);
  assert.deepEqual(events.map((e) => e.event).filter((e) => e === 'completed'), ['completed']);
  assert.deepEqual(events.map((e) => Number(e.id)), events.map((_, i) => i + 1), 'each event once, in order');
  assert.ok(delivered.some((n) => n.id === r.body.id), 'the notice came locally too');
});
