// Languages, health, readiness and metrics.
import type { Hono } from 'hono';
import { CorralError } from '../core/errors.ts';
import type { Metrics } from '../core/metrics.ts';
import type { RunService } from '../core/run-service.ts';

import type { Readiness } from '../core/context.ts';

export type { Readiness };

export interface SystemRoutesDeps {
  runService: RunService;
  readiness: () => Promise<Readiness>;
  metrics?: Metrics;
}

export function mountSystemRoutes(app: Hono, deps: SystemRoutesDeps): void {
  app.get('/v1/languages', async (c) => c.json(await deps.runService.languages()));

  app.get('/healthz', (c) => c.json({ ok: true }));

  app.get('/readyz', async (c) => {
    let r: Readiness;
    try {
      r = await deps.readiness();
    } catch (e) {
      r = { ready: false, checks: { readiness: { ok: false, detail: (e as Error).message } } };
    }
    return c.json(r, r.ready ? 200 : 503);
  });

  app.get('/metrics', async (c) => {
    if (!deps.metrics) throw new CorralError('not_found', 'metrics are disabled (CORRAL_METRICS=false)');
    const body = await deps.metrics.registry.metrics();
    return c.body(body, 200, { 'content-type': deps.metrics.registry.contentType });
  });
}
