// /openapi.json, generated from the same zod schemas that validate requests, and a readable page.
// The error answers of each route are listed by code (the status comes from the registry in
// core/errors.ts, so a code can never be documented under another status than it is answered
// with); test/api/openapi.test.ts holds each route's list to what the route can answer.
import { z } from 'zod';
import { ERRORS, type ErrorCode } from '../core/errors.ts';
import {
  Accepted, BatchAccepted, BatchRequest, ErrorBody, LanguageInfo, RunEvent, RunList, RunRequest, RunResult,
} from '../core/schemas.ts';
import { CellOutputSchema, CellRequest, CellResult, SessionInfo, SessionRequest } from '../core/session-protocol.ts';

// The answers of the session routes that have no wire type of their own: what routes-sessions.ts
// and the worker's session host (worker/sessions/session-host.ts) build.
const SessionStarted = z.object({ id: z.string(), status: z.literal('ready') })
  .describe('The new session, answered once its kernel is ready');
const Interrupted = z.object({ interrupted: z.literal(true) });
const Restarted = z.object({ status: z.literal('ready'), restarted: z.literal(true) });
const SessionFileList = z.object({
  files: z.array(z.object({ path: z.string(), size: z.number().int() })).describe('Regular files under /box, at most 1000'),
  truncated: z.boolean().describe('There were more than the 1000 listed'),
});
const SessionFileWritten = z.object({ path: z.string(), size: z.number().int() });

const COMPONENTS = {
  RunRequest, RunResult, RunEvent, LanguageInfo, Accepted, BatchRequest, BatchAccepted, RunList, ErrorBody,
  SessionRequest, SessionStarted, SessionInfo, CellRequest, CellResult, CellOutput: CellOutputSchema,
  Interrupted, Restarted, SessionFileList, SessionFileWritten,
};
type Component = keyof typeof COMPONENTS;

/**
 * What `z.url({ protocol: /^https?$/ })` accepts, as far as a pattern can say it: after trimming
 * whitespace, http:// or https:// in any case (zod then also requires a URL that parses).
 */
export const HTTP_URL_PATTERN = '^\\s*[Hh][Tt][Tt][Pp][Ss]?://';

function schemaOf(s: z.ZodType): unknown {
  const json = z.toJSONSchema(s, {
    io: 'input', unrepresentable: 'any', target: 'openapi-3.0',
    // zod writes `format: uri` for z.url() and drops its protocol rule; callbackUrl's is http(s) only.
    override: ({ zodSchema, jsonSchema }) => {
      const def = zodSchema._zod.def as { format?: string; protocol?: RegExp };
      if (def.format === 'url' && def.protocol?.source === '^https?$') jsonSchema.pattern = HTTP_URL_PATTERN;
    },
  }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

const ref = (name: Component) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: Component, description: string) => ({ description, content: { 'application/json': { schema: ref(name) } } });
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const pathParam = {
  name: 'path', in: 'path', required: true, schema: { type: 'string' },
  description: 'A path relative to /box; it may hold `/` (sent as it is or percent-encoded); letters, digits, spaces and ._-+=,@~/ only, no `.` or `..` segment',
};
const bool = { type: 'string', enum: ['true', 'false', '1', '0'] };

/** When each error code is answered, in general; a route may say it more exactly. */
const WHEN: Partial<Record<ErrorCode, string>> = {
  unauthorized: 'CORRAL_API_KEYS is set and no key, or a wrong one, was sent',
  invalid_json: 'the body is not JSON',
  unsupported_media_type: 'a content-type other than application/json (or application/…+json) was sent; a body without one is read as JSON',
  payload_too_large: 'the body is larger than CORRAL_BODY_LIMIT_BYTES',
  validation_failed: 'a field or query parameter is invalid; details list {field, message}',
  limit_exceeded: 'a limit beyond its configured maximum; details name field and maximum',
  too_many: 'more items than configured (details name field and maximum)',
  unknown_language: 'a language not in GET /v1/languages (not checked while no live worker has reported its languages)',
  not_ready: 'Redis is unreachable or does not answer within CORRAL_API_REDIS_TIMEOUT_MS (Retry-After: 5)',
  queue_full: 'more than CORRAL_QUEUE_MAX_DEPTH runs waiting (Retry-After)',
  run_not_found: 'unknown or expired id',
  session_not_found: 'unknown id, or the session ended and its record expired',
  session_ended: 'the session has ended (details.reason)',
  session_lost: 'the worker holding the session is gone',
  session_unresponsive: 'the worker holding the session beats but did not answer within the request\'s bound (Retry-After: 5)',
};

type Answer = ErrorCode | [ErrorCode, string];

/** Error responses by status, each naming its codes (`code`: when) in the order given. */
function errors(...answers: Answer[]): Record<string, unknown> {
  const byStatus = new Map<number, string[]>();
  for (const a of answers) {
    const [code, when] = Array.isArray(a) ? a : [a, WHEN[a]];
    const status = ERRORS[code].status;
    byStatus.set(status, [...byStatus.get(status) ?? [], `\`${code}\`${when ? `: ${when}` : ''}`]);
  }
  return Object.fromEntries([...byStatus].map(([status, lines]) => [status, {
    description: lines.join('; '),
    content: { 'application/json': { schema: ref('ErrorBody') } },
  }]));
}

// Every /v1 route is behind the API key (when keys are configured) and can find Redis gone.
const KEYED: Answer[] = ['unauthorized', 'not_ready'];
// A JSON body is read by services/api/validate.ts's jsonBody, after the body-size limit.
const JSON_BODY: Answer[] = ['payload_too_large', 'unsupported_media_type', 'invalid_json'];
// A request to a session's worker (SessionService.request): it may be unknown, over, or silent.
const TO_SESSION: Answer[] = ['session_not_found', 'session_ended', 'session_lost', 'session_unresponsive'];

const secured = [{ bearer: [] }, { authorizationToken: [] }, { xAuthToken: [] }];

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.0.3',
    info: {
      title: 'Corral API', version: '1',
      description: 'Sandboxed code execution: submit a program, get a verdict. API keys are needed only when CORRAL_API_KEYS is set; then every /v1 route takes one in any of the three forms of securitySchemes.',
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: '`Authorization: Bearer <key>`' },
        authorizationToken: { type: 'apiKey', in: 'header', name: 'Authorization', description: '`Authorization: token <key>` (the form Jupyter clients and Kernel Gateway use): the header\'s value is `token <key>`' },
        xAuthToken: { type: 'apiKey', in: 'header', name: 'X-Auth-Token', description: '`X-Auth-Token: <key>`' },
      },
      schemas: Object.fromEntries(Object.entries(COMPONENTS).map(([k, v]) => [k, schemaOf(v)])),
    },
    paths: {
      '/v1/runs': {
        post: {
          summary: 'Submit a run', security: secured,
          parameters: [{ name: 'wait', in: 'query', schema: bool, description: 'Hold the request until the run finishes (up to CORRAL_MAX_WAIT_MS); any other query parameter is a 422' }],
          requestBody: { required: true, content: { 'application/json': { schema: ref('RunRequest') } } },
          responses: {
            200: json('RunResult', 'Finished (with ?wait=true)'), 202: json('Accepted', 'Queued (or, with ?wait=true, not finished in time)'),
            ...errors(...KEYED, ...JSON_BODY, 'validation_failed', 'limit_exceeded', ['too_many', 'more files, tests, groups or collect patterns than configured'], 'unknown_language', 'queue_full'),
          },
        },
        get: {
          summary: 'Get many runs', security: secured,
          parameters: [{ name: 'ids', in: 'query', required: true, schema: { type: 'string' }, description: 'Comma-separated run ids (at most CORRAL_BATCH_MAX)' }],
          responses: {
            200: json('RunList', 'Results in the order of ids; null for unknown ids'),
            ...errors(...KEYED, ['validation_failed', 'ids missing, or another query parameter'], ['too_many', 'more ids than CORRAL_BATCH_MAX'],
              ['response_too_large', 'the runs asked for hold more than CORRAL_LIST_MAX_BYTES together; details.bytes']),
          },
        },
      },
      '/v1/runs/batch': {
        post: {
          summary: 'Submit many runs', security: secured,
          requestBody: { required: true, content: { 'application/json': { schema: ref('BatchRequest') } } },
          responses: {
            202: json('BatchAccepted', 'Queued'),
            ...errors(...KEYED, ...JSON_BODY, ['validation_failed', 'an invalid run (details name it, e.g. runs[2].language)'], 'limit_exceeded',
              ['too_many', 'more runs than CORRAL_BATCH_MAX, or a run with more items than configured'], 'unknown_language', ['queue_full', 'the runs would take the queue beyond CORRAL_QUEUE_MAX_DEPTH (Retry-After)']),
          },
        },
      },
      '/v1/runs/{id}': {
        get: { summary: 'Get a run', security: secured, parameters: [idParam], responses: { 200: json('RunResult', 'The run in any state'), ...errors(...KEYED, 'run_not_found') } },
        delete: { summary: 'Cancel a run (removed if queued, killed if running)', security: secured, parameters: [idParam], responses: { 200: json('RunResult', 'The run after the cancel'), ...errors(...KEYED, 'run_not_found') } },
      },
      '/v1/runs/{id}/events': {
        get: {
          summary: 'Progress as Server-Sent Events (queued, started, phase, completed|cancelled|failed)', security: secured, parameters: [idParam],
          responses: {
            200: { description: 'text/event-stream; each event\'s data is a RunEvent', content: { 'text/event-stream': { schema: ref('RunEvent') } } },
            ...errors(...KEYED, 'run_not_found'),
          },
        },
      },
      '/v1/sessions': {
        post: {
          summary: 'Start a notebook session (a live Jupyter kernel in one container; docs/sessions.md); answers once the kernel is ready', security: secured,
          requestBody: { required: true, content: { 'application/json': { schema: ref('SessionRequest') } } },
          responses: {
            201: json('SessionStarted', 'The session, ready'),
            ...errors(...KEYED, ...JSON_BODY, 'validation_failed', 'limit_exceeded', ['too_many', 'more files than CORRAL_FILES_MAX'],
              ['unknown_language', 'no such language, or it has no kernel'],
              ['session_file_failed', 'a file of `files` could not be written in /box (larger than limits.diskMb, or a directory in the way)'],
              ['session_not_found', 'the session\'s record vanished while it started'],
              ['no_session_capacity', 'every worker\'s session slots are taken, or none took the session within CORRAL_SESSION_QUEUE_WAIT_MS (Retry-After)'],
              ['session_start_failed', 'the kernel did not start (details.reason; Retry-After)']),
          },
        },
      },
      '/v1/sessions/{id}': {
        get: { summary: 'A session: status, times, limits, usage, why it ended', security: secured, parameters: [idParam], responses: { 200: json('SessionInfo', 'The session (also an ended one, until its record expires)'), ...errors(...KEYED, 'session_not_found') } },
        delete: {
          summary: 'End a session (idempotent)', security: secured, parameters: [idParam],
          responses: { 200: json('SessionInfo', 'The ended session'), ...errors(...KEYED, 'session_not_found', 'session_unresponsive') },
        },
      },
      '/v1/sessions/{id}/execute': {
        post: {
          summary: 'Run a cell (cells of a session run one at a time, in order)', security: secured,
          parameters: [idParam, { name: 'stream', in: 'query', schema: bool, description: 'Server-Sent Events: `output` (a CellOutput) per output as it comes, then `result` (a CellResult) or `error` ({status, error})' }],
          requestBody: { required: true, content: { 'application/json': { schema: ref('CellRequest') } } },
          responses: {
            200: {
              description: 'The cell\'s outputs in order (with ?stream=true: text/event-stream; an error once the stream began is its `error` event)',
              content: { 'application/json': { schema: ref('CellResult') }, 'text/event-stream': { schema: ref('CellOutput') } },
            },
            ...errors(...KEYED, ...JSON_BODY, ['validation_failed', 'an invalid cell or query'], ['limit_exceeded', 'timeoutMs beyond CORRAL_SESSION_CELL_TIMEOUT_MS_MAX'], ...TO_SESSION),
          },
        },
      },
      '/v1/sessions/{id}/interrupt': {
        post: { summary: 'KeyboardInterrupt in the running cell; the session lives on', security: secured, parameters: [idParam], responses: { 200: json('Interrupted', 'Interrupted'), ...errors(...KEYED, ...TO_SESSION) } },
      },
      '/v1/sessions/{id}/restart': {
        post: { summary: 'A fresh kernel in the same session (state gone, /box kept)', security: secured, parameters: [idParam], responses: { 200: json('Restarted', 'The new kernel answers'), ...errors(...KEYED, ...TO_SESSION) } },
      },
      '/v1/sessions/{id}/files': {
        get: { summary: 'Files in the session\'s /box', security: secured, parameters: [idParam], responses: { 200: json('SessionFileList', 'The files'), ...errors(...KEYED, ...TO_SESSION) } },
      },
      '/v1/sessions/{id}/files/{path}': {
        put: {
          summary: 'Upload a file to /box/<path> (the raw body, any content-type)', security: secured, parameters: [idParam, pathParam],
          requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          responses: {
            201: json('SessionFileWritten', 'Written'),
            ...errors(...KEYED, ['payload_too_large', 'larger than CORRAL_SESSION_FILE_MAX_BYTES or CORRAL_BODY_LIMIT_BYTES'],
              ['validation_failed', 'a bad path'], ['session_file_failed', 'the file could not be written (/box full, a directory in the way)'], ...TO_SESSION),
          },
        },
        get: {
          summary: 'Download /box/<path> (a regular file; symlinks are never followed)', security: secured, parameters: [idParam, pathParam],
          responses: {
            200: { description: 'The file\'s bytes', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
            ...errors(...KEYED, ['validation_failed', 'a bad path'], ['session_file_not_found', 'no regular file at that path'],
              ['file_too_large', 'larger than CORRAL_SESSION_FILE_MAX_BYTES'], ...TO_SESSION),
          },
        },
      },
      '/v1/languages': {
        get: {
          summary: 'Languages', security: secured,
          responses: { 200: { description: 'Languages', content: { 'application/json': { schema: { type: 'array', items: ref('LanguageInfo') } } } }, ...errors(...KEYED) },
        },
      },
      '/healthz': { get: { summary: 'Process is up', responses: { 200: { description: 'ok' } } } },
      '/readyz': { get: { summary: 'Redis reachable, workers seen recently, sandbox self-test passed', responses: { 200: { description: 'ready' }, 503: { description: 'not ready, with the failing checks' } } } },
      '/metrics': {
        get: { summary: 'Prometheus metrics', responses: { 200: { description: 'text/plain exposition format' }, ...errors(['not_found', 'metrics are disabled (CORRAL_METRICS=false)']) } },
      },
    },
  };
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** A request body as a line of the page: its schema's name, or its media type when it has none. */
function bodyLine(requestBody: { content: Record<string, { schema: { $ref?: string } }> } | undefined): string {
  if (!requestBody) return '';
  const [type, media] = Object.entries(requestBody.content)[0]!;
  const name = media.schema.$ref?.split('/').pop();
  return `<p>Body: ${name ? `<a href="#${name}">${name}</a>` : `<code>${esc(type)}</code>`}</p>`;
}

/** A self-contained HTML page rendering the OpenAPI document (no external scripts). */
export function docsPage(doc: Record<string, any>): string {
  const rows: string[] = [];
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [method, op] of Object.entries(ops)) {
      const responses = Object.entries(op.responses ?? {}).map(([code, r]: [string, any]) => `<li><code>${code}</code> ${esc(r.description ?? '')}</li>`).join('');
      const params = (op.parameters ?? []).map((p: any) => `<li><code>${esc(p.name)}</code> (${p.in}) ${esc(p.description ?? '')}</li>`).join('');
      rows.push(`<section><h3><span class="m">${method.toUpperCase()}</span> <code>${esc(path)}</code></h3><p>${esc(op.summary ?? '')}</p>${params ? `<ul>${params}</ul>` : ''}${bodyLine(op.requestBody)}<ul>${responses}</ul></section>`);
    }
  }
  const schemas = Object.entries(doc.components.schemas).map(([name, s]) => `<section id="${name}"><h3>${name}</h3><pre>${esc(JSON.stringify(s, null, 2))}</pre></section>`).join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Corral API</title><style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h3{margin-bottom:.2rem}.m{background:#245;color:#fff;padding:0 .4rem;border-radius:3px;font-size:.85em}
pre{background:#f5f5f5;padding:1rem;overflow:auto;max-height:30rem}section{border-top:1px solid #ddd}
</style></head><body><h1>Corral API v1</h1><p>${esc(doc.info.description)} Machine-readable: <a href="/openapi.json">/openapi.json</a>.
Errors are <code>{"error":{"code","message","details"}}</code>. API keys (only when <code>CORRAL_API_KEYS</code> is set; then on every <code>/v1</code> route, else 401 <code>unauthorized</code>): <code>Authorization: Bearer &lt;key&gt;</code>, <code>Authorization: token &lt;key&gt;</code> or <code>X-Auth-Token: &lt;key&gt;</code>.</p>
<h2>Endpoints</h2>${rows.join('')}<h2>Schemas</h2>${schemas}</body></html>`;
}
