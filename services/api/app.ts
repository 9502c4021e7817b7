// Builds the hono app from its dependencies. Compatibility layers mount beside v1 by taking the
// returned app and the same RunService (e.g. `mountJudge0(app, runService)`).
import { Hono } from 'hono';
import { requestSizeLimit } from './body-limit.ts';
import { HTTPException } from 'hono/http-exception';
import type { Config } from '../core/config.ts';
import { CorralError } from '../core/errors.ts';
import { isRedisUnavailable } from '../core/redis.ts';
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import type { RunService } from '../core/run-service.ts';
import { apiKeyAuth } from './auth.ts';
import { docsPage, openApiDocument } from './openapi.ts';
import { mountRunRoutes } from './routes-runs.ts';
import { mountSessionRoutes } from './routes-sessions.ts';
import type { SessionService } from '../core/session-service.ts';
import { mountSystemRoutes, type Readiness } from './routes-system.ts';

export interface AppDeps {
  config: Pick<Config, 'apiKeys' | 'bodyLimitBytes' | 'maxWaitMs' | 'batchMax'>;
  runService: RunService;
  readiness: () => Promise<Readiness>;
  log: Logger;
  metrics?: Metrics;
  /** Notebook sessions (/v1/sessions); absent: those routes answer 404. */
  sessions?: SessionService;
}

/** Maps any thrown value to the one error body; only real bugs become 500. */
export function errorResponse(err: unknown, log: Logger): Response {
  let e: CorralError;
  if (err instanceof CorralError) e = err;
  else if (err instanceof HTTPException && err.status === 413) e = new CorralError('payload_too_large');
  else if (err instanceof HTTPException && err.status < 500) e = new CorralError('validation_failed', err.message || 'bad request');
  else if (isRedisUnavailable(err)) {
    log.warn({ err: (err as Error).message }, 'redis unavailable');
    e = new CorralError('not_ready', `Redis is unreachable (${(err as Error).message}); retry later`, null, { 'Retry-After': '5' });
  } else {
    log.error({ err }, 'unhandled error');
    e = new CorralError('internal', 'internal error; see the server log');
  }
  return new Response(JSON.stringify(e.toBody()), {
    status: e.status,
    headers: { 'content-type': 'application/json', ...e.headers },
  });
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  const doc = openApiDocument();
  const page = docsPage(doc);

  app.onError((err) => errorResponse(err, deps.log));
  app.notFound((c) => errorResponse(new CorralError('not_found', `no route ${c.req.method} ${c.req.path}`), deps.log));

  if (deps.metrics) {
    const m = deps.metrics;
    app.use('*', async (c, next) => {
      await next();
      m.httpRequests.inc({ method: c.req.method, route: c.req.routePath ?? 'unmatched', status: String(c.res.status) });
    });
  }
  // The Judge0 and Piston layers apply the same limit in their own error shapes.
  app.use('/v1/*', requestSizeLimit({
    maxSize: deps.config.bodyLimitBytes,
    onError: () => { throw new CorralError('payload_too_large', `the request body is larger than ${deps.config.bodyLimitBytes} bytes`, { maximumBytes: deps.config.bodyLimitBytes }); },
  }));
  app.use('/v1/*', apiKeyAuth(deps.config.apiKeys));

  app.get('/openapi.json', (c) => c.json(doc));
  app.get('/docs', (c) => c.html(page));
  app.get('/', (c) => c.redirect('/docs'));

  mountRunRoutes(app, { runService: deps.runService, maxWaitMs: deps.config.maxWaitMs, batchMax: deps.config.batchMax });
  mountSystemRoutes(app, deps);
  if (deps.sessions) mountSessionRoutes(app, deps.sessions);
  return app;
}
