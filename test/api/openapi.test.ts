// The OpenAPI document (GET /openapi.json, /docs) against what API v1 does: each route's answers
// (a table checked by hand against services/api/routes-*.ts and the services they call, and
// probed on the real app where no service is needed), the API-key forms of auth.ts, the cell
// outputs the worker makes, the rules behind the field descriptions, and the document's shape as
// OpenAPI 3.0. No Redis, no sandbox: the probes are answered before any service is reached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createApp } from '../../services/api/app.ts';
import { docsPage, HTTP_URL_PATTERN, openApiDocument } from '../../services/api/openapi.ts';
import { ERRORS, type ErrorCode } from '../../services/core/errors.ts';
import { createLogger } from '../../services/core/logger.ts';
import type { RunService } from '../../services/core/run-service.ts';
import { RunRequest } from '../../services/core/schemas.ts';
import type { SessionService } from '../../services/core/session-service.ts';
import { JSON_ESCAPE_SLACK_CHARS, toPhaseResult, type OutcomeCore } from '../../worker/phase-result.ts';
import type { JupyterMessage } from '../../worker/sessions/frame-codec.ts';
import { outputOf } from '../../worker/sessions/jupyter-messages.ts';
import { shouldContinue } from '../../worker/verdict.ts';

const doc = openApiDocument() as any;

// -- each route's answers ------------------------------------------------------------------------

const KEYED: ErrorCode[] = ['unauthorized', 'not_ready']; // apiKeyAuth on /v1/*; a Redis read or write
const JSON_BODY: ErrorCode[] = ['payload_too_large', 'unsupported_media_type', 'invalid_json']; // body limit, jsonBody
const TO_SESSION: ErrorCode[] = ['session_not_found', 'session_ended', 'session_lost', 'session_unresponsive']; // SessionService.request

/** What each operation can answer: its success statuses and its error codes (their statuses from the registry). */
const ANSWERS: Record<string, { ok: number[]; errors: ErrorCode[] }> = {
  'POST /v1/runs': { ok: [200, 202], errors: [...KEYED, ...JSON_BODY, 'validation_failed', 'limit_exceeded', 'too_many', 'unknown_language', 'queue_full'] },
  'GET /v1/runs': { ok: [200], errors: [...KEYED, 'validation_failed', 'too_many', 'response_too_large'] },
  'POST /v1/runs/batch': { ok: [202], errors: [...KEYED, ...JSON_BODY, 'validation_failed', 'limit_exceeded', 'too_many', 'unknown_language', 'queue_full'] },
  'GET /v1/runs/{id}': { ok: [200], errors: [...KEYED, 'run_not_found'] },
  'DELETE /v1/runs/{id}': { ok: [200], errors: [...KEYED, 'run_not_found'] },
  'GET /v1/runs/{id}/events': { ok: [200], errors: [...KEYED, 'run_not_found'] },
  'POST /v1/sessions': {
    ok: [201],
    errors: [...KEYED, ...JSON_BODY, 'validation_failed', 'limit_exceeded', 'too_many', 'unknown_language', 'session_file_failed', 'session_not_found', 'no_session_capacity', 'session_start_failed'],
  },
  'GET /v1/sessions/{id}': { ok: [200], errors: [...KEYED, 'session_not_found'] },
  // close() answers an ended or lost session with its info; only an unanswered close is an error.
  'DELETE /v1/sessions/{id}': { ok: [200], errors: [...KEYED, 'session_not_found', 'session_unresponsive'] },
  'POST /v1/sessions/{id}/execute': { ok: [200], errors: [...KEYED, ...JSON_BODY, 'validation_failed', 'limit_exceeded', ...TO_SESSION] },
  'POST /v1/sessions/{id}/interrupt': { ok: [200], errors: [...KEYED, ...TO_SESSION] },
  'POST /v1/sessions/{id}/restart': { ok: [200], errors: [...KEYED, ...TO_SESSION] },
  'GET /v1/sessions/{id}/files': { ok: [200], errors: [...KEYED, ...TO_SESSION] },
  // A raw body (no content-type check); too large for the body limit or the session file limit.
  'PUT /v1/sessions/{id}/files/{path}': { ok: [201], errors: [...KEYED, 'payload_too_large', 'validation_failed', 'session_file_failed', ...TO_SESSION] },
  'GET /v1/sessions/{id}/files/{path}': { ok: [200], errors: [...KEYED, 'validation_failed', 'session_file_not_found', 'file_too_large', ...TO_SESSION] },
  'GET /v1/languages': { ok: [200], errors: KEYED },
  'GET /healthz': { ok: [200], errors: [] },
  'GET /readyz': { ok: [200, 503], errors: [] }, // 503 is the readiness body, not an error
  'GET /metrics': { ok: [200], errors: ['not_found'] },
};

const operations = (): Array<[string, any]> => Object.entries(doc.paths as Record<string, Record<string, any>>)
  .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => [`${method.toUpperCase()} ${path}`, op] as [string, any]));

/** The error codes a response's description names (`code`). */
const namedCodes = (description: string): string[] => [...description.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!).filter((c) => Object.hasOwn(ERRORS, c));

test('the document has exactly the operations of the table', () => {
  assert.deepEqual(operations().map(([k]) => k).sort(), Object.keys(ANSWERS).sort());
});

test('each operation documents exactly the statuses and error codes it can answer', () => {
  for (const [key, op] of operations()) {
    const want = ANSWERS[key]!;
    const byStatus = new Map<number, Set<string>>();
    for (const code of want.errors) byStatus.set(ERRORS[code].status, (byStatus.get(ERRORS[code].status) ?? new Set()).add(code));
    const statuses = [...new Set([...want.ok, ...byStatus.keys()])].sort();
    assert.deepEqual(Object.keys(op.responses).map(Number).sort(), statuses, `${key}: statuses`);
    for (const [status, codes] of byStatus) {
      const r = op.responses[status];
      assert.deepEqual(new Set(namedCodes(r.description)), codes, `${key} ${status}: codes named`);
      if (!want.ok.includes(status)) assert.equal(r.content['application/json'].schema.$ref, '#/components/schemas/ErrorBody', `${key} ${status}: error body`);
    }
  }
});

test('every route the app serves is in the document', () => {
  const app = createApp(appDeps([]));
  const served = new Set(app.routes.filter((r) => r.method !== 'ALL' && !['/openapi.json', '/docs', '/'].includes(r.path))
    .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}').replace(/\/\*$/, '/{path}')}`));
  assert.deepEqual([...served].sort(), Object.keys(ANSWERS).sort());
});

// -- probes on the real app: answers that come before any service ----------------------------------

function appDeps(apiKeys: string[]) {
  // Never called: every probe below is answered by the middleware or the route's own checks first.
  const unreachable = new Proxy({}, { get: (_, name) => () => { throw new Error(`the probe reached a service (${String(name)})`); } });
  return {
    config: { apiKeys, bodyLimitBytes: 256, maxWaitMs: 1000, batchMax: 100 },
    runService: unreachable as RunService,
    sessions: unreachable as SessionService,
    readiness: async () => ({ ready: true, checks: {} }),
    log: createLogger('silent'),
  };
}

const SESSION = '0f1e2d3c-0000-4000-8000-000000000000';
const concrete = (path: string) => path.replace('{id}', SESSION).replace('{path}', 'a.txt');

test('probed answers are documented for their route (401, 413, 415, 400, and 404 for a malformed id)', async () => {
  const app = createApp(appDeps(['k1']));
  const probe = async (key: string, init: RequestInit & { path?: string }, want: ErrorCode) => {
    const [method, path] = key.split(' ') as [string, string];
    const res = await app.request(init.path ?? concrete(path), { method, ...init });
    const body = await res.json() as { error: { code: string } };
    assert.equal(body.error.code, want, `${key}: ${JSON.stringify(body)}`);
    assert.equal(res.status, ERRORS[want].status, key);
    const documented = doc.paths[path][method.toLowerCase()].responses[res.status];
    assert.ok(documented && namedCodes(documented.description).includes(want), `${key}: ${res.status} ${want} is not documented`);
  };
  const key: Record<string, string> = { authorization: 'Bearer k1' };
  let probed = 0;
  for (const [k, op] of operations()) {
    if (!k.split(' ')[1]!.startsWith('/v1/')) continue;
    await probe(k, {}, 'unauthorized');
    await probe(k, { headers: { 'x-auth-token': 'wrong' } }, 'unauthorized');
    const media = op.requestBody && Object.keys(op.requestBody.content)[0];
    if (media) await probe(k, { headers: { ...key, 'content-type': 'application/json' }, body: `"${'x'.repeat(300)}"` }, 'payload_too_large');
    if (media === 'application/json') {
      await probe(k, { headers: { ...key, 'content-type': 'text/plain' }, body: '{}' }, 'unsupported_media_type');
      await probe(k, { headers: { ...key, 'content-type': 'application/json' }, body: '{"language":' }, 'invalid_json');
    }
    probed++;
  }
  assert.equal(probed, 16);
  // A malformed id is refused by the route itself, with each key form auth.ts takes.
  for (const headers of [{ authorization: 'Bearer k1' }, { authorization: 'token k1' }, { 'x-auth-token': 'k1' }] as Array<Record<string, string>>) {
    await probe('GET /v1/runs/{id}', { headers, path: '/v1/runs/a%2F..' }, 'run_not_found');
    await probe('POST /v1/sessions/{id}/interrupt', { headers, path: '/v1/sessions/nope/interrupt' }, 'session_not_found');
    await probe('GET /v1/sessions/{id}/files', { headers, path: '/v1/sessions/nope/files' }, 'session_not_found');
  }
});

// -- auth ------------------------------------------------------------------------------------------

test('the security schemes are the three key forms auth.ts accepts, on every /v1 route and nowhere else', () => {
  const schemes = doc.components.securitySchemes;
  assert.deepEqual(schemes.bearer, { ...schemes.bearer, type: 'http', scheme: 'bearer' });
  assert.deepEqual(schemes.xAuthToken, { ...schemes.xAuthToken, type: 'apiKey', in: 'header', name: 'X-Auth-Token' });
  assert.deepEqual(schemes.authorizationToken, { ...schemes.authorizationToken, type: 'apiKey', in: 'header', name: 'Authorization' });
  assert.match(schemes.authorizationToken.description, /Authorization: token <key>/);
  for (const [k, op] of operations()) {
    const names = (op.security ?? []).flatMap((s: object) => Object.keys(s)).sort();
    assert.deepEqual(names, k.includes(' /v1/') ? ['authorizationToken', 'bearer', 'xAuthToken'] : [], k);
  }
  assert.match(docsPage(doc), /Authorization: token &lt;key&gt;/);
});

// -- schemas: outputs, responses without a wire type -------------------------------------------------

const ajvModule = await import('ajv' as string).catch(() => undefined);
if (!ajvModule) console.log('# ajv is not installed (it comes with the dev dependencies): the schemas are not compiled, only checked by shape');
const Ajv = ajvModule?.default?.default ?? ajvModule?.default;
const ajv = Ajv && new Ajv({ strict: true, strictTypes: false, allErrors: true, formats: { uri: true } });
// The components have no $ref (zod inlines what they share; the shape test below checks every
// $ref resolves), so each compiles on its own.
const validator = (name: string) => ajv!.getSchema(name) ?? (ajv!.addSchema(doc.components.schemas[name], name), ajv!.getSchema(name)!);

const message = (type: string, content: object): JupyterMessage =>
  ({ header: { msg_id: 'm', msg_type: type }, parent_header: { msg_id: 'p' }, metadata: {}, content } as unknown as JupyterMessage);
const WORKER_OUTPUTS = [
  outputOf(message('stream', { name: 'stdout', text: 'hi\n' })),
  outputOf(message('execute_result', { execution_count: 3, data: { 'text/plain': '42' }, metadata: {} })),
  outputOf(message('display_data', { data: { 'image/png': 'iVBOR' }, metadata: {}, transient: { display_id: 'd1' } })),
  outputOf(message('update_display_data', { data: { 'text/plain': 'x' }, metadata: {}, transient: { display_id: 'd1' } })),
  outputOf(message('error', { ename: 'ValueError', evalue: 'bad', traceback: ['t'] })),
  outputOf(message('clear_output', { wait: true })),
];

test('CellResult.outputs is the union of the cell outputs the worker makes', () => {
  const items = doc.components.schemas.CellResult.properties.outputs.items;
  assert.ok(Array.isArray(items.oneOf), `outputs items: ${JSON.stringify(items)}`);
  const types = items.oneOf.map((s: any) => s.properties.type.enum).flat().sort();
  assert.deepEqual(types, ['clear_output', 'display_data', 'error', 'execute_result', 'stream', 'update_display_data']);
  assert.deepEqual(WORKER_OUTPUTS.map((o) => (o as { type: string }).type).sort(), types);
  if (!ajv) return;
  const cell = validator('CellResult');
  const result = { status: 'ok', executionCount: 3, outputs: WORKER_OUTPUTS, cpuMs: 5, wallMs: 7.5, outputsTruncated: false, kernelRestarted: false };
  assert.ok(cell(result), JSON.stringify(cell.errors));
  assert.ok(!cell({ ...result, outputs: [{ type: 'stream', text: 'no name' }] }), 'an output that is no CellOutput is refused');
  assert.ok(validator('CellOutput')(WORKER_OUTPUTS[0]));
});

test('the session routes\' answers have schemas that fit what they answer', () => {
  const op = (path: string, method: string, status: number) => doc.paths[path][method].responses[status].content['application/json'].schema.$ref.split('/').pop();
  assert.equal(op('/v1/sessions', 'post', 201), 'SessionStarted');
  assert.equal(op('/v1/sessions/{id}/interrupt', 'post', 200), 'Interrupted');
  assert.equal(op('/v1/sessions/{id}/restart', 'post', 200), 'Restarted');
  assert.equal(op('/v1/sessions/{id}/files', 'get', 200), 'SessionFileList');
  assert.equal(op('/v1/sessions/{id}/files/{path}', 'put', 201), 'SessionFileWritten');
  if (!ajv) return;
  // The bodies routes-sessions.ts and worker/sessions/session-host.ts build.
  for (const [name, body] of [
    ['SessionStarted', { id: SESSION, status: 'ready' }], ['Interrupted', { interrupted: true }], ['Restarted', { status: 'ready', restarted: true }],
    ['SessionFileList', { files: [{ path: 'a/b.txt', size: 3 }], truncated: false }], ['SessionFileWritten', { path: 'a.txt', size: 3 }],
  ] as const) {
    const v = validator(name);
    assert.ok(v(body), `${name}: ${JSON.stringify(v.errors)}`);
  }
});

// -- descriptions against the code they describe -------------------------------------------------

const prop = (schema: string, name: string) => doc.components.schemas[schema].properties[name];

test('stopOnFirstFailure says the rule of shouldContinue', () => {
  // The rule (worker/verdict.ts): a sandbox failure always stops; with the flag, accepted goes
  // on, partial goes on except in an all-or-nothing group, anything else stops.
  assert.equal(shouldContinue('partial', true), true);
  assert.equal(shouldContinue('partial', true, 'sum'), true);
  assert.equal(shouldContinue('partial', true, 'all-or-nothing'), false);
  assert.equal(shouldContinue('wrong_answer', true), false);
  assert.equal(shouldContinue('internal_error', false), false);
  const d = prop('RunRequest', 'stopOnFirstFailure').description as string;
  assert.match(d, /partial one goes on, except in an all-or-nothing group/);
  assert.match(d, /With groups: within its group/);
  assert.match(d, /internal_error\) stops the tests even when false/);
  assert.doesNotMatch(d, /not accepted\b(?! nor)/);
});

test('encoding says when a phase\'s output is base64, as toPhaseResult decides it', () => {
  const d = prop('RunResult', 'compile').properties.encoding.description as string;
  assert.match(d, /not valid UTF-8/);
  assert.ok(d.includes(`max(its bytes, ${JSON_ESCAPE_SLACK_CHARS})`), d);
  assert.match(d, /\\b \\t \\n \\f \\r cost 1 each, any other control byte 5/);
  const phase = (stdout: Buffer, stderr = Buffer.alloc(0)) => toPhaseResult({
    status: 'ok', exitCode: 0, signal: null, cpuMs: 1, wallMs: 1, memoryKb: 1, stdout, stderr, stdoutTruncated: false, stderrTruncated: false,
  } as OutcomeCore).encoding;
  assert.equal(phase(Buffer.from('hé\n')), 'utf8');
  assert.equal(phase(Buffer.from([0xff])), 'base64');
  assert.equal(phase(Buffer.from('ok'), Buffer.from([0xc3])), 'base64', 'either stream');
  // NUL costs 5 more characters each: within the slack stays text, beyond it (and beyond the bytes) is base64.
  assert.equal(phase(Buffer.alloc(JSON_ESCAPE_SLACK_CHARS / 5)), 'utf8');
  assert.equal(phase(Buffer.alloc(JSON_ESCAPE_SLACK_CHARS / 5 + 1)), 'base64');
  // Newlines cost 1 each: never more than the bytes themselves.
  assert.equal(phase(Buffer.alloc(200_000, 0x0a)), 'utf8');
  assert.equal(phase(Buffer.alloc(200_000, 0x01)), 'base64');
});

test('callbackUrl says http(s) only, and its pattern agrees with the validation', () => {
  const cb = prop('RunRequest', 'callbackUrl');
  assert.match(cb.description, /http:\/\/ or https:\/\//);
  assert.equal(cb.pattern, HTTP_URL_PATTERN);
  const pattern = new RegExp(cb.pattern);
  for (const url of ['http://a.example/x', 'HTTPS://a.example', ' https://[::1]:8080/cb', 'ftp://a.example', 'file:///etc/passwd', 'http:a.example', 'javascript:alert(1)']) {
    const accepted = RunRequest.safeParse({ language: 'x', source: 'x', callbackUrl: url }).success;
    if (accepted) assert.ok(pattern.test(url), `${url}: accepted but the pattern refuses it`);
    if (/^\s*(ftp|file|javascript):/.test(url)) assert.ok(!pattern.test(url) && !accepted, url);
  }
});

// -- the document as OpenAPI 3.0 ---------------------------------------------------------------------

/** The keywords of an OpenAPI 3.0 Schema Object (plus the x- extensions). */
const SCHEMA_KEYWORDS = new Set([
  '$ref', 'title', 'multipleOf', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum', 'maxLength', 'minLength', 'pattern',
  'maxItems', 'minItems', 'uniqueItems', 'maxProperties', 'minProperties', 'required', 'enum', 'type', 'allOf', 'oneOf', 'anyOf', 'not',
  'items', 'properties', 'additionalProperties', 'description', 'format', 'default', 'nullable', 'discriminator', 'readOnly', 'writeOnly',
  'xml', 'externalDocs', 'example', 'deprecated',
]);

function checkSchema(s: any, at: string, refs: string[]): void {
  assert.equal(typeof s, 'object', at);
  for (const [k, v] of Object.entries(s)) {
    assert.ok(SCHEMA_KEYWORDS.has(k) || k.startsWith('x-'), `${at}: ${k} is not an OpenAPI 3.0 schema keyword`);
    if (k === '$ref') refs.push(v as string);
    if (k === 'type') assert.ok(['string', 'number', 'integer', 'boolean', 'array', 'object'].includes(v as string), `${at}: type ${JSON.stringify(v)}`);
    if (k === 'exclusiveMinimum' || k === 'exclusiveMaximum') assert.equal(typeof v, 'boolean', `${at}.${k}`);
    if (k === 'pattern') new RegExp(v as string);
    if (k === 'properties') for (const [p, ps] of Object.entries(v as object)) checkSchema(ps, `${at}.properties.${p}`, refs);
    if (['items', 'not'].includes(k) || (k === 'additionalProperties' && typeof v === 'object')) checkSchema(v, `${at}.${k}`, refs);
    if (['allOf', 'oneOf', 'anyOf'].includes(k)) (v as any[]).forEach((x, i) => checkSchema(x, `${at}.${k}[${i}]`, refs));
  }
  if (s.type === 'array') assert.ok(s.items, `${at}: an array needs items in 3.0`);
}

test('the document is well-formed OpenAPI 3.0', () => {
  assert.match(doc.openapi, /^3\.0\.\d$/);
  assert.ok(doc.info.title && doc.info.version);
  const refs: string[] = [];
  for (const [name, s] of Object.entries(doc.components.schemas)) checkSchema(s, name, refs);
  for (const [k, op] of operations()) {
    const path = k.split(' ')[1]!;
    const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    const declared = (op.parameters ?? []).filter((p: any) => p.in === 'path');
    assert.deepEqual(declared.map((p: any) => p.name).sort(), templated, `${k}: path parameters`);
    for (const p of op.parameters ?? []) {
      assert.ok(['path', 'query', 'header', 'cookie'].includes(p.in), k);
      if (p.in === 'path') assert.equal(p.required, true, `${k}: ${p.name} must be required`);
      checkSchema(p.schema, `${k} ${p.name}`, refs);
    }
    for (const media of Object.values(op.requestBody?.content ?? {})) checkSchema((media as any).schema, `${k} body`, refs);
    assert.ok(Object.keys(op.responses).length > 0, k);
    for (const [status, r] of Object.entries(op.responses as Record<string, any>)) {
      assert.match(status, /^[1-5]\d\d$/, k);
      assert.equal(typeof r.description, 'string', `${k} ${status}: a response needs a description`);
      for (const media of Object.values(r.content ?? {})) checkSchema((media as any).schema, `${k} ${status}`, refs);
    }
    for (const req of op.security ?? []) for (const name of Object.keys(req)) assert.ok(doc.components.securitySchemes[name], `${k}: scheme ${name}`);
  }
  for (const r of refs) {
    const m = /^#\/components\/schemas\/(\w+)$/.exec(r);
    assert.ok(m && doc.components.schemas[m[1]!], `unresolved $ref ${r}`);
  }
  // What /openapi.json serves: JSON without loss.
  assert.deepEqual(JSON.parse(JSON.stringify(doc)), doc);
  if (ajv) for (const name of Object.keys(doc.components.schemas)) validator(name); // strict compile: throws on an unknown keyword
});
