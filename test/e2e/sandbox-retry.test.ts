// A run whose sandbox failed in a way another attempt can get past (a retriable SandboxError in
// the pipeline's result, e.g. the proc-view daemon being restarted) is run again, not failed:
// the attempt's error used to be caught by the processor's own handler and recorded as
// pipeline_error on the first attempt.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SandboxError } from '../../worker/sandbox/index.ts';
import type { Launcher } from '../../worker/launcher.ts';
import { fakeLauncher, fakeRegistry } from '../worker/fakes.ts';
import { api, startStack, until, type Stack } from './harness.ts';

let stack: Stack;
let failures = 0;
const launcher = fakeLauncher();
/** Fails the next `failures` launches as the host's /proc view being down, then runs them. */
const flaky: Launcher = {
  ...launcher,
  createVolume: (o) => launcher.createVolume(o),
  connect: (a, b, s) => launcher.connect(a, b, s),
  async run(spec, signal) {
    const real = await launcher.run(spec, signal);
    if (failures === 0) return real;
    failures--;
    const failure = new SandboxError('host', 'the truthful /proc (proc-view daemon) is down; runs wait until it serves again', { step: 'proc-view' });
    return { ...real, status: 'internal_error', exitCode: null, stdout: Buffer.alloc(0), error: failure.message, failure };
  },
};

before(async () => {
  stack = await startStack({ launcher: flaky, registry: fakeRegistry(), env: { CORRAL_JOB_BACKOFF_MS: '10', CORRAL_JOB_ATTEMPTS: '3' } });
});
after(async () => { await stack?.stop(); });

test('a retriable sandbox failure is attempted again, and the run completes', async () => {
  failures = 2;
  const r = await api(stack, 'POST', '/v1/runs', { language: 'fake', source: JSON.stringify({ stdout: 'hello' }) });
  assert.equal(r.status, 202);
  const done = await until(stack, r.body.id);
  assert.equal(done.status, 'completed', JSON.stringify(done.error));
  assert.equal(done.run.stdout, 'hello');
  assert.equal(failures, 0, 'both failed attempts were made');
});

test('the last attempt\'s failure is the run\'s result: failed, sandbox_error, with the reason', async () => {
  failures = 3;
  const r = await api(stack, 'POST', '/v1/runs', { language: 'fake', source: JSON.stringify({ stdout: 'hello' }) });
  const done = await until(stack, r.body.id);
  assert.equal(done.status, 'failed');
  assert.equal(done.error.code, 'sandbox_error');
  assert.match(done.error.message, /proc-view daemon/);
});
