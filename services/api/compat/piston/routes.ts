// Piston v2's HTTP API on hono (/api/v2/runtimes, /api/v2/execute, /api/v2/packages), translated
// onto RunService. Errors answer in Piston's shape, {"message": "..."}; bad input is a 4xx, never
// a 5xx. The interactive WebSocket /api/v2/connect is served from the HTTP server's upgrade event
// (connect.ts, attached by start-api.ts); here a plain GET on it is answered.
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { requestSizeLimit } from '../../body-limit.ts';
import type { RunService } from '../../../core/run-service.ts';
import { awaitStored, isTerminal, parsedResult } from '../common/await-completion.ts';
import { reencodes } from '../common/reencode-gate.ts';
import { classifyServiceError, invalidText } from '../common/service-errors.ts';
import { keyMatches } from '../common/api-keys.ts';
import { parseExecute } from './execute-request.ts';
import { pistonResponse } from './execute-response.ts';
import type { PistonOptions } from './options.ts';
import { pistonRuntimes, selectRuntime } from './runtimes.ts';

export interface PistonDeps {
  runService: RunService;
  options: PistonOptions;
  bodyLimitBytes?: number;
  log?: (message: string) => void;
}

const message = (c: Context, status: 400 | 401 | 404 | 405 | 413 | 415 | 422 | 426 | 500 | 503, text: string, headers?: Record<string, string>) =>
  c.json({ message: text }, status, headers);

/** Apps whose server serves the WebSocket /connect (connect.ts marks them when it attaches). */
const connectOffered = new WeakSet<Hono>();
export function markConnectOffered(app: Hono): void {
  connectOffered.add(app);
}

/** Rails and express answer a path with or without a trailing slash; hono is strict. */
const bothSlashes = (path: string): string[] => [path, `${path}/`];

export function mountPiston(app: Hono, deps: PistonDeps): void {
  const o = deps.options;
  const { runService } = deps;
  const api = new Hono();

  const guard: MiddlewareHandler[] = [
    async (c, next) => {
      if (o.apiKeys.length > 0) {
        const auth = c.req.header('authorization');
        const key = c.req.header('x-auth-token') ?? auth?.replace(/^Bearer\s+/i, '');
        if (!keyMatches(key, o.apiKeys)) return message(c, 401, 'a valid API key is required (Authorization or X-Auth-Token header)');
      }
      await next();
    },
    requestSizeLimit({ maxSize: deps.bodyLimitBytes ?? 10 * 1024 * 1024, onError: (c) => message(c, 413, 'request body is too large') }),
  ];
  api.onError((err, c) => {
    deps.log?.(`piston compat: unexpected error on ${c.req.method} ${c.req.path}: ${err.stack ?? err.message}`);
    return message(c, 500, `internal error: ${err.message}`);
  });

  api.on('GET', bothSlashes('/runtimes'), ...guard, async (c) => {
    const runtimes = pistonRuntimes(await runService.languages());
    return c.json(runtimes.map(({ corral: _corral, ...rt }) => rt));
  });

  api.on('GET', bothSlashes('/packages'), ...guard, async (c) => {
    const languages = await runService.languages();
    return c.json(languages.map((l) => {
      const rt = pistonRuntimes([{ ...l, available: true }])[0];
      return { language: rt.language, language_version: rt.version, installed: l.available };
    }));
  });

  // Packages are Corral images, built by the operator; the API reports them and answers an
  // install of an image that is already built, but cannot build or remove one.
  const packageRequest = async (c: Context, verb: 'install' | 'uninstall') => {
    let body: { language?: unknown; version?: unknown } = {};
    try { body = JSON.parse(await c.req.text()); } catch { return message(c, 400, 'request body is not valid JSON'); }
    const language = typeof body?.language === 'string' ? body.language : '';
    const version = typeof body?.version === 'string' ? body.version : '';
    const offered = await runService.languages();
    const all = pistonRuntimes(offered.map((l) => ({ ...l, available: true })));
    const rt = language && version ? selectRuntime(all, language, version) : undefined;
    if (!rt) return message(c, 404, `Requested package ${language}-${version} does not exist`);
    const installed = offered.find((l) => l.id === rt.corral.id)?.available === true;
    if (verb === 'install' && installed) return c.json({ language: rt.language, version: rt.version });
    return message(c, 405, `package ${rt.language}-${rt.version} is a Corral image, ${verb === 'install' ? 'built' : 'removed'} by the operator (corral images), not through the API`);
  };
  api.on('POST', bothSlashes('/packages'), ...guard, (c) => packageRequest(c, 'install'));
  api.on('DELETE', bothSlashes('/packages'), ...guard, (c) => packageRequest(c, 'uninstall'));

  api.on('POST', bothSlashes('/execute'), ...guard, async (c) => {
    // Piston answers 415 to anything but application/json; piston-client posts JSON without a
    // content type (text/plain), so JSON in text/plain is accepted too.
    const type = (c.req.header('content-type') ?? 'text/plain').toLowerCase();
    if (!type.startsWith('application/json') && !type.startsWith('text/plain')) {
      return message(c, 415, 'requests must be of type application/json');
    }
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch (err) {
      return message(c, 400, `request body is not valid JSON: ${(err as Error).message}`);
    }
    const offered = await runService.languages();
    // An empty list means no worker has reported yet (the server's state, not the request's).
    if (offered.length === 0) return message(c, 503, 'no worker has reported its languages yet; retry shortly', { 'retry-after': '5' });
    const parsed = parseExecute(body, pistonRuntimes(offered), o);
    if (!parsed.ok) return message(c, 400, parsed.message);
    let first;
    const deadline = Date.now() + o.maxWaitMs;
    try {
      // The wait is awaitStored's below: it keeps the result as stored bytes until its re-encode.
      first = await runService.submit(parsed.request);
    } catch (err) {
      const k = classifyServiceError(err);
      if (k.kind === 'queue_full') return message(c, 503, 'queue is full; retry later', k.retryAfterSeconds ? { 'retry-after': String(k.retryAfterSeconds) } : undefined);
      if (k.kind === 'invalid') return message(c, 400, invalidText(k));
      if (k.kind === 'too_large') return message(c, 413, k.message);
      if (k.kind === 'unavailable') return message(c, 503, k.message, k.retryAfterSeconds ? { 'retry-after': String(k.retryAfterSeconds) } : undefined);
      throw err;
    }
    const stored = await awaitStored(runService, first, Math.max(0, deadline - Date.now()), c.req.raw.signal);
    // Re-encoded in its turn (reencode-gate.ts): a result at the output caps costs several times its size.
    return reencodes.run(Buffer.isBuffer(stored) ? stored.length : 0, () => {
      const done = parsedResult(stored);
      if (!done) return message(c, 503, `run ${first.id} expired before it finished`);
      if (!isTerminal(done)) {
        return message(c, 503, `run ${first.id} did not finish within ${o.maxWaitMs} ms (still ${done.status}); the queue is busy, retry later`);
      }
      return c.json(pistonResponse(done, parsed.runtime));
    });
  });

  // The WebSocket itself never reaches hono (an upgrade request goes to connect.ts).
  api.on('GET', bothSlashes('/connect'), ...guard, (c) => (connectOffered.has(app)
    ? message(c, 426, 'the interactive API (/api/v2/connect) is a WebSocket: connect with a WebSocket client (Upgrade: websocket)', { upgrade: 'websocket' })
    : message(c, 404, 'the interactive WebSocket API (/api/v2/connect) is not offered yet by this server: no WebSocket server is attached to it (corral api and corral up attach one); use POST /api/v2/execute')));

  api.notFound((c) => message(c, 404, 'Not Found'));
  app.route(o.prefix, api);
}
