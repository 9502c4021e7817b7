// RunService's errors as each face answers them: classifyServiceError switches on CorralError.code
// (services/core/errors.ts) and nothing else; Judge0 and Piston turn each kind into their own
// shapes. Every registry code a RunService call can throw is mapped over real HTTP, both faces.
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { classifyServiceError, invalidText } from '../../services/api/compat/common/service-errors.ts';
import { CorralError } from '../../services/core/errors.ts';
import { startCompatServer, type CompatServer } from './compat-server.ts';
import { FakeRunService } from './fake-run-service.ts';

/** The errors RunService really throws (shapes of queue-run-service.ts, limits.ts, app.ts). */
const ERRORS: Record<string, () => unknown> = {
  queue_full: () => new CorralError('queue_full', 'the queue holds 100 runs (maximum 100); retry in 7 s', { depth: 100, maximum: 100, retryAfterSeconds: 7 }, { 'Retry-After': '7' }),
  not_ready: () => new CorralError('not_ready', 'Redis is unreachable (ECONNREFUSED); retry later', null, { 'Retry-After': '5' }),
  validation_failed: () => new CorralError('validation_failed', 'invalid run request: limits.cpuMs: Number must be greater than or equal to 1', [{ field: 'limits.cpuMs', message: 'Number must be greater than or equal to 1' }]),
  limit_exceeded: () => new CorralError('limit_exceeded', 'limits.memoryMb = 600 is beyond the maximum 512', [{ field: 'limits.memoryMb', value: 600, maximum: 512 }]),
  too_many: () => new CorralError('too_many', 'files: at most 11 files', { field: 'files', maximum: 11 }),
  unknown_language: () => new CorralError('unknown_language', 'language: unknown language "c"', { field: 'language', known: ['python'] }),
  payload_too_large: () => new CorralError('payload_too_large', 'the request body is larger than 1024 bytes', { maximumBytes: 1024 }),
  run_active: () => new CorralError('run_active', 'run x is running; only a finished run can be deleted'),
  internal: () => new CorralError('internal', 'internal error; see the server log'),
  'a plain Error': () => new Error('redis: connection lost'),
  'a QUEUE_FULL look-alike that is no CorralError': () => Object.assign(new Error('QUEUE FULL'), { status: 503, code: 'QUEUE_FULL' }),
};

describe('classifyServiceError: by CorralError.code only', () => {
  const expected: Record<string, ReturnType<typeof classifyServiceError>> = {
    queue_full: { kind: 'queue_full', message: 'the queue holds 100 runs (maximum 100); retry in 7 s', retryAfterSeconds: 7 },
    not_ready: { kind: 'unavailable', message: 'Redis is unreachable (ECONNREFUSED); retry later', retryAfterSeconds: 5 },
    validation_failed: { kind: 'invalid', message: 'Number must be greater than or equal to 1', field: 'limits.cpuMs' },
    limit_exceeded: { kind: 'invalid', message: 'limits.memoryMb = 600 is beyond the maximum 512', field: 'limits.memoryMb' },
    too_many: { kind: 'invalid', message: 'files: at most 11 files', field: 'files' },
    unknown_language: { kind: 'invalid', message: 'language: unknown language "c"', field: 'language' },
    payload_too_large: { kind: 'too_large', message: 'the request body is larger than 1024 bytes' },
    run_active: { kind: 'internal', message: 'run x is running; only a finished run can be deleted' },
    internal: { kind: 'internal', message: 'internal error; see the server log' },
    'a plain Error': { kind: 'internal', message: 'redis: connection lost' },
    'a QUEUE_FULL look-alike that is no CorralError': { kind: 'internal', message: 'QUEUE FULL' },
  };
  for (const [name, make] of Object.entries(ERRORS)) {
    it(`${name} → ${expected[name].kind}`, () => assert.deepEqual(classifyServiceError(make()), expected[name]));
  }
  it('a non-Error thrown value is internal', () => assert.deepEqual(classifyServiceError('boom'), { kind: 'internal', message: 'boom' }));
  it('invalidText names the field once', () => {
    assert.equal(invalidText({ field: 'files', message: 'files: at most 11 files' }), 'files: at most 11 files');
    assert.equal(invalidText({ field: 'limits.cpuMs', message: 'too small' }), 'limits.cpuMs: too small');
    assert.equal(invalidText({ message: 'bad' }), 'bad');
  });
});

describe('RunService errors through both faces (HTTP)', () => {
  const fake = new FakeRunService();
  let server: CompatServer;
  let thrown: () => unknown = () => null;
  before(async () => {
    fake.submit = async () => { throw thrown(); };
    server = await startCompatServer(fake);
  });
  after(async () => { await server.close(); });

  const post = async (path: string, body: unknown) => {
    const res = await fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() };
  };
  const judge0 = () => post('/submissions', { source_code: 'x', language_id: 71 });
  const piston = () => post('/api/v2/execute', { language: 'python', version: '*', files: [{ content: 'x' }] });

  const table: Array<[string, { status: number; retryAfter: string | null; body: unknown }, { status: number; retryAfter: string | null; body: unknown }]> = [
    ['queue_full', { status: 503, retryAfter: '7', body: { error: 'queue is full' } }, { status: 503, retryAfter: '7', body: { message: 'queue is full; retry later' } }],
    ['not_ready', { status: 503, retryAfter: '5', body: { error: 'Redis is unreachable (ECONNREFUSED); retry later' } }, { status: 503, retryAfter: '5', body: { message: 'Redis is unreachable (ECONNREFUSED); retry later' } }],
    ['validation_failed', { status: 422, retryAfter: null, body: { cpu_time_limit: ['Number must be greater than or equal to 1'] } }, { status: 400, retryAfter: null, body: { message: 'limits.cpuMs: Number must be greater than or equal to 1' } }],
    ['limit_exceeded', { status: 422, retryAfter: null, body: { memory_limit: ['limits.memoryMb = 600 is beyond the maximum 512'] } }, { status: 400, retryAfter: null, body: { message: 'limits.memoryMb = 600 is beyond the maximum 512' } }],
    ['too_many', { status: 422, retryAfter: null, body: { additional_files: ['files: at most 11 files'] } }, { status: 400, retryAfter: null, body: { message: 'files: at most 11 files' } }],
    ['unknown_language', { status: 422, retryAfter: null, body: { language_id: ['language: unknown language "c"'] } }, { status: 400, retryAfter: null, body: { message: 'language: unknown language "c"' } }],
    ['payload_too_large', { status: 413, retryAfter: null, body: { error: 'request body is too large' } }, { status: 413, retryAfter: null, body: { message: 'the request body is larger than 1024 bytes' } }],
    ['run_active', { status: 500, retryAfter: null, body: { error: 'internal error: run x is running; only a finished run can be deleted' } }, { status: 500, retryAfter: null, body: { message: 'internal error: run x is running; only a finished run can be deleted' } }],
    ['a plain Error', { status: 500, retryAfter: null, body: { error: 'internal error: redis: connection lost' } }, { status: 500, retryAfter: null, body: { message: 'internal error: redis: connection lost' } }],
    ['a QUEUE_FULL look-alike that is no CorralError', { status: 500, retryAfter: null, body: { error: 'internal error: QUEUE FULL' } }, { status: 500, retryAfter: null, body: { message: 'internal error: QUEUE FULL' } }],
  ];
  for (const [name, judge0Answer, pistonAnswer] of table) {
    it(`${name}: Judge0 ${judge0Answer.status}, Piston ${pistonAnswer.status}`, async () => {
      thrown = ERRORS[name];
      assert.deepEqual(await judge0(), judge0Answer, 'Judge0');
      assert.deepEqual(await piston(), pistonAnswer, 'Piston');
    });
  }
});
