// Judge0 CE v1.13.1's HTTP API on hono, translated onto RunService: one handler per endpoint
// (handlers/), listed below like Judge0's routes.rb. Every handler answers in Judge0's own shapes
// (http-errors.ts); bad input is a 4xx, never a 5xx. Submission tokens are Corral run ids, so any
// API instance can answer for any token.
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { requestSizeLimit } from '../../body-limit.ts';
import type { RunService } from '../../../core/run-service.ts';
import { authenticate, authorize } from './auth.ts';
import { createBatch, getBatch } from './handlers/batch.ts';
import type { Judge0Context } from './handlers/context.ts';
import { createSubmission } from './handlers/create-submission.ts';
import { deleteSubmission } from './handlers/delete-submission.ts';
import { getSubmission, listSubmissions } from './handlers/get-submission.ts';
import { about, configInfo, listStatuses, systemInfo, version, workers } from './handlers/information.ts';
import { getLanguage, listAllLanguages, listLanguages } from './handlers/languages.ts';
import { judge0Error, notFound } from './http-errors.ts';
import type { Judge0Options } from './options.ts';
import { SubmissionStore } from './submission-store.ts';

export interface Judge0Deps {
  runService: RunService;
  options: Judge0Options;
  /** Largest request body, bytes (Corral's CORRAL_BODY_LIMIT_BYTES). */
  bodyLimitBytes?: number;
  /** Worker pool facts for GET /workers; absent: an empty list. */
  workers?: () => Promise<Array<Record<string, unknown>>>;
  log?: (message: string) => void;
}

export interface Judge0Handle {
  /** Releases what the Judge0 layer holds (nothing today: callbacks are sent by the workers). */
  close(): void;
}

type Handler = (c: Context) => Response | Promise<Response>;
type Access = 'client' | 'admin';

/** Rails and express answer a path with or without a trailing slash; hono is strict. */
const bothSlashes = (path: string): string[] => [path, `${path}/`];

/** Judge0's endpoints: method, path, who may call it (admin: X-Auth-User), handler. */
function endpoints(ctx: Judge0Context): Array<[string, string, Access, Handler]> {
  return [
    // Static paths before `:token`, so "batch" is never read as a token.
    ['POST', '/submissions/batch', 'client', createBatch(ctx)],
    ['GET', '/submissions/batch', 'client', getBatch(ctx)],
    ['POST', '/submissions', 'client', createSubmission(ctx)],
    ['GET', '/submissions', 'admin', listSubmissions(ctx)],
    ['GET', '/submissions/:token', 'client', getSubmission(ctx)],
    ['DELETE', '/submissions/:token', 'admin', deleteSubmission(ctx)],
    ['GET', '/languages', 'client', listLanguages(ctx)],
    ['GET', '/languages/all', 'client', listAllLanguages(ctx)],
    ['GET', '/languages/:id', 'client', getLanguage(ctx)],
    ['GET', '/statuses', 'client', listStatuses()],
    ['GET', '/about', 'client', about(ctx)],
    ['GET', '/version', 'client', version()],
    ['GET', '/config_info', 'client', configInfo(ctx)],
    ['GET', '/system_info', 'client', systemInfo()],
    ['GET', '/workers', 'client', workers(ctx)],
  ];
}

export function mountJudge0(app: Hono, deps: Judge0Deps): Judge0Handle {
  const o = deps.options;
  const ctx: Judge0Context = { runService: deps.runService, options: o, store: new SubmissionStore(o.rememberedSubmissions), workers: deps.workers };
  const api = new Hono();

  // Per-route guards, not api.use('*'): mounted at '/', a wildcard middleware would also run for
  // every other API of the app.
  const guard: MiddlewareHandler[] = [
    authenticate(o.authTokens),
    requestSizeLimit({
      maxSize: deps.bodyLimitBytes ?? 10 * 1024 * 1024,
      onError: (c) => judge0Error(c, 413, 'request body is too large'),
    }),
  ];
  const admin = authorize(o.authUsers);
  for (const [method, path, access, handler] of endpoints(ctx)) {
    api.on(method, bothSlashes(path), ...guard, ...(access === 'admin' ? [admin] : []), handler);
  }
  api.onError((err, c) => {
    deps.log?.(`judge0 compat: unexpected error on ${c.req.method} ${c.req.path}: ${err.stack ?? err.message}`);
    return judge0Error(c, 500, `internal error: ${err.message}`);
  });
  api.notFound((c) => notFound(c));

  app.route(o.prefix === '' ? '/' : o.prefix, api);
  return {
    close() {
      // Nothing to stop: callbacks are sent by the workers' callback queue.
    },
  };
}
