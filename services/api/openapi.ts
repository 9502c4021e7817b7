// /openapi.json, generated from the same zod schemas that validate requests, and a readable page.
import { z } from 'zod';
import {
  Accepted, BatchAccepted, BatchRequest, ErrorBody, LanguageInfo, RunEvent, RunList, RunRequest, RunResult,
} from '../core/schemas.ts';
import { CellRequest, CellResult, SessionInfo, SessionRequest } from '../core/session-protocol.ts';

const COMPONENTS = {
  RunRequest, RunResult, RunEvent, LanguageInfo, Accepted, BatchRequest, BatchAccepted, RunList, ErrorBody,
  SessionRequest, SessionInfo, CellRequest, CellResult,
};

function schemaOf(s: z.ZodType): unknown {
  const json = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', target: 'openapi-3.0' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

const ref = (name: keyof typeof COMPONENTS) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: keyof typeof COMPONENTS, description: string) => ({ description, content: { 'application/json': { schema: ref(name) } } });
const err = (description: string) => json('ErrorBody', description);
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const secured = [{ bearer: [] }, { token: [] }];

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.0.3',
    info: { title: 'Corral API', version: '1', description: 'Sandboxed code execution: submit a program, get a verdict.' },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        token: { type: 'apiKey', in: 'header', name: 'X-Auth-Token' },
      },
      schemas: Object.fromEntries(Object.entries(COMPONENTS).map(([k, v]) => [k, schemaOf(v)])),
    },
    paths: {
      '/v1/runs': {
        post: {
          summary: 'Submit a run', security: secured,
          parameters: [{ name: 'wait', in: 'query', schema: { type: 'string', enum: ['true', 'false', '1', '0'] }, description: 'Hold the request until the run finishes (up to the configured maximum wait)' }],
          requestBody: { required: true, content: { 'application/json': { schema: ref('RunRequest') } } },
          responses: {
            200: json('RunResult', 'Finished (with ?wait=true)'), 202: json('Accepted', 'Queued'),
            400: err('Body is not JSON'), 401: err('Missing or wrong API key'), 413: err('Body too large'),
            422: err('Invalid request or a limit beyond its maximum'), 503: err('Queue full (Retry-After)'),
          },
        },
        get: {
          summary: 'Get many runs', security: secured,
          parameters: [{ name: 'ids', in: 'query', required: true, schema: { type: 'string' }, description: 'Comma-separated run ids' }],
          responses: { 200: json('RunList', 'Results in the order of ids; null for unknown ids'), 422: err('Invalid query') },
        },
      },
      '/v1/runs/batch': {
        post: {
          summary: 'Submit many runs', security: secured,
          requestBody: { required: true, content: { 'application/json': { schema: ref('BatchRequest') } } },
          responses: { 202: json('BatchAccepted', 'Queued'), 422: err('An invalid run (details name it)'), 503: err('Queue full') },
        },
      },
      '/v1/runs/{id}': {
        get: { summary: 'Get a run', security: secured, parameters: [idParam], responses: { 200: json('RunResult', 'The run in any state'), 404: err('Unknown or expired id') } },
        delete: { summary: 'Cancel a run (removed if queued, killed if running)', security: secured, parameters: [idParam], responses: { 200: json('RunResult', 'The run after the cancel'), 404: err('Unknown or expired id') } },
      },
      '/v1/runs/{id}/events': {
        get: {
          summary: 'Progress as Server-Sent Events (queued, started, phase, completed|cancelled|failed)', security: secured, parameters: [idParam],
          responses: { 200: { description: 'text/event-stream; each event\'s data is a RunEvent', content: { 'text/event-stream': { schema: ref('RunEvent') } } }, 404: err('Unknown or expired id') },
        },
      },
      '/v1/sessions': {
        post: {
          summary: 'Start a notebook session (a live Jupyter kernel in one container; docs/sessions.md); answers once the kernel is ready', security: secured,
          requestBody: { required: true, content: { 'application/json': { schema: ref('SessionRequest') } } },
          responses: {
            201: { description: '{id, status: "ready"}' }, 422: err('Invalid request, a limit beyond its maximum, or a language without a kernel'),
            503: err('no_session_capacity: every worker\'s session slots are taken (Retry-After); session_start_failed'),
          },
        },
      },
      '/v1/sessions/{id}': {
        get: { summary: 'A session: status, times, limits, usage, why it ended', security: secured, parameters: [idParam], responses: { 200: json('SessionInfo', 'The session'), 404: err('session_not_found') } },
        delete: { summary: 'End a session (idempotent)', security: secured, parameters: [idParam], responses: { 200: json('SessionInfo', 'The ended session'), 404: err('session_not_found') } },
      },
      '/v1/sessions/{id}/execute': {
        post: {
          summary: 'Run a cell (cells of a session run one at a time, in order)', security: secured,
          parameters: [idParam, { name: 'stream', in: 'query', schema: { type: 'string', enum: ['true', 'false', '1', '0'] }, description: 'Server-Sent Events: `output` per output as it comes, then `result` (a CellResult) or `error`' }],
          requestBody: { required: true, content: { 'application/json': { schema: ref('CellRequest') } } },
          responses: { 200: json('CellResult', 'The cell\'s outputs in order'), 404: err('session_not_found'), 410: err('session_ended or session_lost'), 422: err('Invalid cell') },
        },
      },
      '/v1/sessions/{id}/interrupt': { post: { summary: 'KeyboardInterrupt in the running cell; the session lives on', security: secured, parameters: [idParam], responses: { 200: { description: '{interrupted: true}' }, 410: err('session_ended or session_lost') } } },
      '/v1/sessions/{id}/restart': { post: { summary: 'A fresh kernel in the same session (state gone, /box kept)', security: secured, parameters: [idParam], responses: { 200: { description: '{status: "ready", restarted: true}' }, 410: err('session_ended or session_lost') } } },
      '/v1/sessions/{id}/files': { get: { summary: 'Files in the session\'s /box: [{path, size}]', security: secured, parameters: [idParam], responses: { 200: { description: '{files, truncated}' }, 410: err('session_ended or session_lost') } } },
      '/v1/sessions/{id}/files/{path}': {
        put: { summary: 'Upload a file to /box/<path> (raw body, at most CORRAL_SESSION_FILE_MAX_BYTES)', security: secured, parameters: [idParam, { name: 'path', in: 'path', required: true, schema: { type: 'string' } }], responses: { 201: { description: '{path, size}' }, 413: err('Too large'), 422: err('Bad path, or /box full') } },
        get: { summary: 'Download /box/<path> (a regular file; symlinks are never followed)', security: secured, parameters: [idParam, { name: 'path', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: 'application/octet-stream' }, 404: err('session_file_not_found'), 422: err('Bad path, or file_too_large') } },
      },
      '/v1/languages': { get: { summary: 'Languages', security: secured, responses: { 200: { description: 'Languages', content: { 'application/json': { schema: { type: 'array', items: ref('LanguageInfo') } } } } } } },
      '/healthz': { get: { summary: 'Process is up', responses: { 200: { description: 'ok' } } } },
      '/readyz': { get: { summary: 'Redis reachable, workers seen recently, sandbox self-test passed', responses: { 200: { description: 'ready' }, 503: { description: 'not ready, with the failing checks' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'text/plain exposition format' } } } },
    },
  };
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** A self-contained HTML page rendering the OpenAPI document (no external scripts). */
export function docsPage(doc: Record<string, any>): string {
  const rows: string[] = [];
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [method, op] of Object.entries(ops)) {
      const responses = Object.entries(op.responses ?? {}).map(([code, r]: [string, any]) => `<li><code>${code}</code> ${esc(r.description ?? '')}</li>`).join('');
      const params = (op.parameters ?? []).map((p: any) => `<li><code>${esc(p.name)}</code> (${p.in}) ${esc(p.description ?? '')}</li>`).join('');
      const body = op.requestBody ? `<p>Body: <a href="#${op.requestBody.content['application/json'].schema.$ref.split('/').pop()}">${op.requestBody.content['application/json'].schema.$ref.split('/').pop()}</a></p>` : '';
      rows.push(`<section><h3><span class="m">${method.toUpperCase()}</span> <code>${esc(path)}</code></h3><p>${esc(op.summary ?? '')}</p>${params ? `<ul>${params}</ul>` : ''}${body}<ul>${responses}</ul></section>`);
    }
  }
  const schemas = Object.entries(doc.components.schemas).map(([name, s]) => `<section id="${name}"><h3>${name}</h3><pre>${esc(JSON.stringify(s, null, 2))}</pre></section>`).join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Corral API</title><style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h3{margin-bottom:.2rem}.m{background:#245;color:#fff;padding:0 .4rem;border-radius:3px;font-size:.85em}
pre{background:#f5f5f5;padding:1rem;overflow:auto;max-height:30rem}section{border-top:1px solid #ddd}
</style></head><body><h1>Corral API v1</h1><p>${esc(doc.info.description)} Machine-readable: <a href="/openapi.json">/openapi.json</a>.
Errors are <code>{"error":{"code","message","details"}}</code>. API keys (when configured): <code>Authorization: Bearer &lt;key&gt;</code> or <code>X-Auth-Token: &lt;key&gt;</code>.</p>
<h2>Endpoints</h2>${rows.join('')}<h2>Schemas</h2>${schemas}</body></html>`;
}
