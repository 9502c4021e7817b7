// The Jupyter face's REST API (docs/compat.md): the kernel part of the Jupyter Server API as a
// Kernel Gateway serves it. A kernel is a Corral notebook session (kernel id = session id), made
// and ended through SessionService like /v1/sessions: same limits, capacity, lifecycle, routing.
//
//   GET /api                         {version}
//   GET /api/kernelspecs[/:name]     the kernels Corral offers (services/core/session-messages.ts)
//   GET/POST /api/kernels            every live kernel session / start one ({name}): answered
//                                    as soon as its session is queued ("starting"; pending.ts)
//   GET/DELETE /api/kernels/:id      its model / end it
//   POST /api/kernels/:id/interrupt  SIGINT to the kernel
//   POST /api/kernels/:id/restart    a fresh kernel in the same container
//
// Errors are Jupyter's body ({message, reason}) with Corral's `error` beside it; auth is Corral's
// API keys, also as `Authorization: token <key>` and `?token=<key>`.
import { Queue } from 'bullmq';
import type { Context, Hono } from 'hono';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { CorralError } from '../../../core/errors.ts';
import { isRedisUnavailable } from '../../../core/redis.ts';
import { NOTEBOOK_KERNELS } from '../../../core/session-messages.ts';
import { SessionId, sessionKeys, type SessionInfo } from '../../../core/session-protocol.ts';
import type { SessionService } from '../../../core/session-service.ts';
import type { JupyterChannels } from './channels.ts';
import type { PendingKernels } from './pending.ts';
import { DEFAULT_KERNEL, jupyterError, kernelByLanguage, kernelByName, kernelModel, kernelSpec } from './protocol.ts';

/** The Jupyter Server API version reported by GET /api (the kernels API is unchanged since 1.x). */
export const JUPYTER_API_VERSION = '1.23.0';

export interface JupyterRoutesDeps {
  sessions: Pick<SessionService, 'create' | 'start' | 'info' | 'close' | 'interrupt' | 'restart'>;
  /**
   * Pending kernels (CORRAL_JUPYTER_PENDING_KERNELS): POST answers once the session is queued, its
   * start kept here (shared with the channels); absent: POST answers once the kernel is ready.
   */
  pending?: PendingKernels;
  redis: Redis;
  keyPrefix: string;
  bodyLimitBytes: number;
  /** Whether the request carries a valid API key (always true when none is configured). */
  authorized: (headers: Headers, token: string | undefined) => boolean;
  channels: Pick<JupyterChannels, 'connections' | 'executionState'>;
  log: { error: (obj: object, msg: string) => void; warn: (obj: object, msg: string) => void };
}

const StartKernel = z.object({
  name: z.string().min(1).max(64).optional(),
  path: z.string().max(4096).optional(),
  /** Jupyter Server's gateway client sends KERNEL_* variables; none reaches the sandbox. */
  env: z.record(z.string(), z.unknown()).optional(),
}).passthrough();

export function mountJupyter(app: Hono, deps: JupyterRoutesDeps): { close(): Promise<void> } {
  // The sessions queue, read only: a session's job is waiting until a worker takes it and active
  // for as long as the worker holds it, so its ids are every session not yet over — whichever API
  // started it (POST /api/kernels or POST /v1/sessions). At most the workers' session slots.
  const keys = sessionKeys(deps.keyPrefix);
  const sessionsQueue = new Queue(keys.queue, { connection: deps.redis, prefix: keys.bullPrefix });
  sessionsQueue.on('error', (err) => deps.log.warn({ err: err.message }, 'jupyter: session queue error'));
  const model = (info: SessionInfo) => kernelModel(info, deps.channels.connections(info.id), deps.channels.executionState(info.id));

  /** Auth, then the handler; every error in Jupyter's shape, never a 5xx for a client's mistake. */
  const route = (handler: (c: Context) => Promise<Response>) => async (c: Context): Promise<Response> => {
    try {
      if (!deps.authorized(c.req.raw.headers, c.req.query('token'))) {
        throw new CorralError('unauthorized', 'a valid API key is required (Authorization: token <key>, or ?token=<key>)');
      }
      return await handler(c);
    } catch (err) {
      let e: CorralError;
      if (err instanceof CorralError) e = err;
      else if (isRedisUnavailable(err)) e = new CorralError('not_ready', 'Redis is unreachable; retry later', null, { 'Retry-After': '5' });
      else {
        deps.log.error({ err }, 'jupyter: unhandled error');
        e = new CorralError('internal', 'internal error; see the server log');
      }
      const j = jupyterError(e);
      return c.json(j.body, j.status as 400, j.headers);
    }
  };

  const kernelId = (c: Context): string => {
    const id = c.req.param('id') ?? '';
    if (!SessionId.safeParse(id).success) throw new CorralError('session_not_found', `no kernel with id ${JSON.stringify(id.slice(0, 64))}`);
    return id;
  };
  /** A live kernel's session; an ended one is a kernel that no longer exists (404, as Jupyter answers). */
  const liveKernel = async (id: string): Promise<SessionInfo> => {
    const info = await deps.sessions.info(id);
    if (info.status === 'ended') throw new CorralError('session_not_found', `no kernel with id ${id} (it ended: ${info.endedReason ?? 'unknown'})`);
    return info;
  };

  app.get('/api', route(async (c) => c.json({ version: JUPYTER_API_VERSION })));
  app.get('/api/', route(async (c) => c.json({ version: JUPYTER_API_VERSION })));

  app.get('/api/kernelspecs', route(async (c) => c.json({
    default: DEFAULT_KERNEL,
    kernelspecs: Object.fromEntries(NOTEBOOK_KERNELS.map((k) => [k.name, kernelSpec(k)])),
  })));
  app.get('/api/kernelspecs/:name', route(async (c) => {
    const k = kernelByName(c.req.param('name') ?? '');
    if (!k) throw new CorralError('not_found', `no kernelspec named ${JSON.stringify((c.req.param('name') ?? '').slice(0, 64))}`);
    return c.json(kernelSpec(k));
  }));

  // Every live session with a notebook kernel (all of them, today): API keys are not scoped, so
  // any valid key sees every session, as it can reach each by id.
  app.get('/api/kernels', route(async (c) => {
    const ids = [...new Set(await sessionsQueue.getRanges(['active', 'waiting'], 0, -1))].filter((id) => SessionId.safeParse(id).success);
    const infos = await Promise.all(ids.map((id) => deps.sessions.info(id).catch((err: unknown) => {
      if (err instanceof CorralError && err.code === 'session_not_found') return undefined;
      throw err;
    })));
    const live = infos.filter((i): i is SessionInfo => i !== undefined && i.status !== 'ended' && kernelByLanguage(i.language) !== undefined);
    live.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    return c.json(live.map(model));
  }));

  app.post('/api/kernels', route(async (c) => {
    const text = await c.req.text();
    if (Buffer.byteLength(text) > deps.bodyLimitBytes) throw new CorralError('payload_too_large', `the request body is larger than ${deps.bodyLimitBytes} bytes`);
    let body: unknown = {};
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text);
      } catch (err) {
        throw new CorralError('invalid_json', `the request body is not valid JSON: ${(err as Error).message}`);
      }
    }
    const parsed = StartKernel.safeParse(body);
    if (!parsed.success) throw new CorralError('validation_failed', `invalid kernel request: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    const name = parsed.data.name ?? DEFAULT_KERNEL;
    const kernel = kernelByName(name);
    if (!kernel) throw new CorralError('not_found', `no such kernel named ${JSON.stringify(name)} (kernels: ${NOTEBOOK_KERNELS.map((k) => k.name).join(', ')})`);
    let info: SessionInfo;
    if (deps.pending) {
      // Capacity and validation errors are still this request's; a failure after the 201 is told
      // to the kernel's WebSocket (and GET /api/kernels/:id says 404 then).
      const started = await deps.sessions.start({ language: kernel.language });
      deps.pending.add(started.info.id, started.ready);
      info = started.info;
    } else {
      info = await deps.sessions.create({ language: kernel.language });
    }
    c.header('Location', `/api/kernels/${info.id}`);
    return c.json(model(info), 201);
  }));

  /**
   * A live kernel, waited for while it starts (bounded; a start that failed: its error, a kernel
   * shut down meanwhile: 404): interrupt and restart act on a running kernel, as Jupyter Server's
   * do once a pending kernel is ready.
   */
  const runningKernel = async (id: string): Promise<SessionInfo> => {
    const info = await liveKernel(id);
    if (info.status !== 'starting') return info;
    const now = deps.pending ? await deps.pending.started(id) : info;
    if (now.status === 'ended') throw new CorralError('session_not_found', `no kernel with id ${id} (it ended: ${now.endedReason ?? 'unknown'})`);
    return now;
  };

  app.get('/api/kernels/:id', route(async (c) => c.json(model(await liveKernel(kernelId(c))))));

  // A starting kernel is ended at once (SessionService.close: withdrawn from the queue, or closed
  // by the worker that took it); its pending start settles as "shut down while it started".
  app.delete('/api/kernels/:id', route(async (c) => {
    const id = kernelId(c);
    await liveKernel(id);
    await deps.sessions.close(id);
    return c.body(null, 204);
  }));

  app.post('/api/kernels/:id/interrupt', route(async (c) => {
    const id = kernelId(c);
    await runningKernel(id);
    await deps.sessions.interrupt(id);
    return c.body(null, 204);
  }));

  app.post('/api/kernels/:id/restart', route(async (c) => {
    const id = kernelId(c);
    await runningKernel(id);
    await deps.sessions.restart(id);
    return c.json(model(await liveKernel(id)));
  }));

  return { close: () => sessionsQueue.close() };
}
