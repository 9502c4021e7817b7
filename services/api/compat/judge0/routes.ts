// Judge0 CE v1.13.1's HTTP API on hono, translated onto RunService. Every handler answers in
// Judge0's own shapes (see http-errors.ts); bad input is a 4xx, never a 5xx. Submission tokens are
// Corral run ids, so any API instance can answer for any token.
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { requestSizeLimit } from '../../body-limit.ts';
import type { RunService } from '../../../core/run-service.ts';
import type { LanguageInfo, RunResult } from '../../../core/schemas.ts';
import { awaitCompletion } from '../common/await-completion.ts';
import { authenticate, authorize } from './auth.ts';
import { fieldErrors, judge0Error, notFound, serviceErrorResponse } from './http-errors.ts';
import { aboutBody, configInfoBody, JUDGE0_VERSION, systemInfoBody } from './info.ts';
import { judge0Language, judge0LanguageName, servedLanguages } from './language-ids.ts';
import type { Judge0Options } from './options.ts';
import { ALL_STATUSES } from './statuses.ts';
import { parseSubmission, type FieldErrors, type SubmissionEcho } from './submission-request.ts';
import {
  CONVERSION_ERROR_MESSAGE, CONVERSION_ERROR_MESSAGE_MANY, DEFAULT_FIELDS, parseFields, serializeSubmission, Utf8ConversionError,
} from './submission-response.ts';
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

const TOKEN_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Rails and express answer a path with or without a trailing slash; hono is strict. */
const bothSlashes = (path: string): string[] => [path, `${path}/`];

export function mountJudge0(app: Hono, deps: Judge0Deps): Judge0Handle {
  const o = deps.options;
  const { runService } = deps;
  const store = new SubmissionStore(o.rememberedSubmissions);
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
  api.onError((err, c) => {
    deps.log?.(`judge0 compat: unexpected error on ${c.req.method} ${c.req.path}: ${err.stack ?? err.message}`);
    return judge0Error(c, 500, `internal error: ${err.message}`);
  });
  api.notFound((c) => notFound(c));

  // RunService learns the languages from worker heartbeats; an empty list means no worker has
  // reported yet, which is the server's state, not the request's fault: 503, not a 422.
  const noLanguagesYet = (c: Context) =>
    judge0Error(c, 503, 'no worker has reported its languages yet; retry shortly', { 'retry-after': '5' });

  const base64Of = (c: Context) => c.req.query('base64_encoded') === 'true';

  const languageNames = async (): Promise<(id: number) => string | null> => {
    const offered = await runService.languages();
    const served = new Map(servedLanguages(offered).map((r) => [r.judge0.id, judge0LanguageName(r)]));
    return (id) => served.get(id) ?? judge0Language(id)?.family ?? null;
  };

  /** The `fields` query and the stored run of `:token`, or Judge0's error answer (400 / 404). */
  const lookup = async (c: Context): Promise<
    { ok: true; fields: readonly string[]; token: string; result: RunResult } | { ok: false; response: Response }
  > => {
    const fields = parseFields(c.req.query('fields'));
    if (!fields.ok) return { ok: false, response: judge0Error(c, 400, `invalid fields: [${fields.invalid.join(', ')}]`) };
    const token = c.req.param('token') ?? '';
    const result = TOKEN_RE.test(token) ? await runService.get(token) : null;
    if (!result) return { ok: false, response: notFound(c) };
    return { ok: true, fields: fields.fields, token, result };
  };
  const bodyOf = async (c: Context): Promise<{ ok: true; body: unknown } | { ok: false; response: Response }> => {
    const type = c.req.header('content-type') ?? '';
    try {
      if (type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data')) {
        return { ok: true, body: await c.req.parseBody() };
      }
      const raw = await c.req.text();
      if (raw.trim() === '') return { ok: true, body: {} };
      return { ok: true, body: JSON.parse(raw) };
    } catch (err) {
      return { ok: false, response: judge0Error(c, 400, `request body is not valid JSON: ${(err as Error).message}`) };
    }
  };

  const serialize = (token: string, result: RunResult, fields: readonly string[], base64: boolean, names: (id: number) => string | null) =>
    serializeSubmission({ token, result, echo: store.echo(token), languageName: names }, fields, base64);

  const accepted = (result: RunResult, echo: SubmissionEcho) => {
    // callback_url travels in the run request (callbackFormat judge0): the worker's durable
    // callback queue PUTs Judge0's body, whatever happens to this process.
    store.remember(result.id, echo);
  };

  // ---- submissions -------------------------------------------------------------------------

  api.on('POST', bothSlashes('/submissions/batch'), ...guard, async (c) => {
    if (!o.enableBatchedSubmissions) return judge0Error(c, 400, 'batched submissions are not allowed');
    const parsed = await bodyOf(c);
    if (!parsed.ok) return parsed.response;
    const list = (parsed.body as { submissions?: unknown })?.submissions;
    const n = Array.isArray(list) ? list.length : 0;
    if (n > o.maxSubmissionBatchSize) return judge0Error(c, 400, `number of submissions in a batch should be less than or equal to ${o.maxSubmissionBatchSize}`);
    if (n === 0) return judge0Error(c, 400, 'there should be at least one submission in a batch');
    const base64 = base64Of(c);
    const offered = await runService.languages();
    if (offered.length === 0) return noLanguagesYet(c);
    const items = (list as unknown[]).map((s) => parseSubmission(s, base64, offered, o));
    const valid = items.flatMap((p) => (p.ok ? [p] : []));
    let results: RunResult[] = [];
    if (valid.length > 0) {
      try {
        results = await runService.submitBatch(valid.map((p) => p.request));
      } catch (err) {
        return serviceErrorResponse(c, err);
      }
    }
    let k = 0;
    const response: Array<{ token: string } | FieldErrors> = items.map((p) => {
      if (!p.ok) return p.errors;
      const r = results[k++];
      accepted(r, p.echo);
      return { token: r.id };
    });
    return c.json(response, valid.length > 0 ? 201 : 422);
  });

  api.on('GET', bothSlashes('/submissions/batch'), ...guard, async (c) => {
    if (!o.enableBatchedSubmissions) return judge0Error(c, 400, 'batched submissions are not allowed');
    const fields = parseFields(c.req.query('fields'));
    if (!fields.ok) return judge0Error(c, 400, `invalid fields: [${fields.invalid.join(', ')}]`);
    const tokens = (c.req.header('tokens') ?? c.req.query('tokens') ?? '').trim().split(',').filter((t) => t !== '');
    if (tokens.length > o.maxSubmissionBatchSize) return judge0Error(c, 400, `number of submissions in a batch should be less than or equal to ${o.maxSubmissionBatchSize}`);
    if (tokens.length === 0) return judge0Error(c, 400, 'there should be at least one submission in a batch');
    const valid = tokens.filter((t) => TOKEN_RE.test(t));
    const found = valid.length ? await runService.getMany(valid) : [];
    const byToken = new Map(valid.map((t, i) => [t, found[i]]));
    const names = await languageNames();
    try {
      const submissions = tokens.map((t) => {
        const r = byToken.get(t);
        return r ? serialize(t, r, fields.fields, base64Of(c), names) : null;
      });
      return c.json({ submissions });
    } catch (err) {
      if (err instanceof Utf8ConversionError) return judge0Error(c, 400, CONVERSION_ERROR_MESSAGE_MANY);
      throw err;
    }
  });

  api.on('POST', bothSlashes('/submissions'), ...guard, async (c) => {
    const wait = c.req.query('wait') === 'true';
    if (wait && !o.enableWaitResult) return judge0Error(c, 400, 'wait not allowed');
    const fields = parseFields(c.req.query('fields'));
    if (!fields.ok) return judge0Error(c, 400, `invalid fields: [${fields.invalid.join(', ')}]`);
    const parsed = await bodyOf(c);
    if (!parsed.ok) return parsed.response;
    const base64 = base64Of(c);
    const offered = await runService.languages();
    if (offered.length === 0) return noLanguagesYet(c);
    const sub = parseSubmission(parsed.body, base64, offered, o);
    if (!sub.ok) return fieldErrors(c, sub.errors);
    let result: RunResult;
    const deadline = Date.now() + o.maxWaitMs;
    try {
      result = await runService.submit(sub.request, wait ? { waitMs: o.maxWaitMs } : undefined);
    } catch (err) {
      return serviceErrorResponse(c, err);
    }
    accepted(result, sub.echo);
    if (!wait) return c.json({ token: result.id }, 201);
    const done = (await awaitCompletion(runService, result, Math.max(0, deadline - Date.now()), c.req.raw.signal)) ?? result;
    try {
      return c.json(serialize(result.id, done, fields.fields, base64, await languageNames()), 201);
    } catch (err) {
      if (err instanceof Utf8ConversionError) return c.json({ error: CONVERSION_ERROR_MESSAGE, token: result.id }, 201);
      throw err;
    }
  });

  api.on('GET', bothSlashes('/submissions'), ...guard, authorize(o.authUsers), async (c) => {
    const fields = parseFields(c.req.query('fields'));
    if (!fields.ok) return judge0Error(c, 400, `invalid fields: [${fields.invalid.join(', ')}]`);
    const page = c.req.query('page') === undefined ? 1 : Math.trunc(Number(c.req.query('page')) || 0);
    const perPage = c.req.query('per_page') === undefined ? 20 : Math.trunc(Number(c.req.query('per_page')) || 0);
    if (page <= 0) return judge0Error(c, 400, `invalid page: ${page}`);
    if (perPage < 0) return judge0Error(c, 400, `invalid per_page: ${perPage}`);
    const effectivePerPage = Math.min(perPage || 20, 100);
    if (!Number.isSafeInteger(page)) return judge0Error(c, 400, `invalid page: ${c.req.query('page')}`);
    // Listed from Redis by RunService: every API process's submissions, newest first.
    const { runs, total, perPage: used } = await runService.list({ page, perPage: effectivePerPage });
    const names = await languageNames();
    const totalPages = Math.ceil(total / used);
    try {
      const submissions = runs.map((r) => serialize(r.id, r, fields.fields, base64Of(c), names));
      return c.json({
        submissions,
        meta: {
          current_page: page,
          next_page: page < totalPages ? page + 1 : null,
          prev_page: page > 1 ? page - 1 : null,
          total_pages: totalPages,
          total_count: total,
        },
      });
    } catch (err) {
      if (err instanceof Utf8ConversionError) return judge0Error(c, 400, CONVERSION_ERROR_MESSAGE_MANY);
      throw err;
    }
  });

  api.on('GET', bothSlashes('/submissions/:token'), ...guard, async (c) => {
    const found = await lookup(c);
    if (!found.ok) return found.response;
    const { fields, token, result } = found;
    try {
      return c.json(serialize(token, result, fields, base64Of(c), await languageNames()));
    } catch (err) {
      if (err instanceof Utf8ConversionError) return judge0Error(c, 400, CONVERSION_ERROR_MESSAGE);
      throw err;
    }
  });

  api.on('DELETE', bothSlashes('/submissions/:token'), ...guard, authorize(o.authUsers), async (c) => {
    if (!o.enableSubmissionDelete) return judge0Error(c, 400, 'delete not allowed');
    const found = await lookup(c);
    if (!found.ok) return found.response;
    const { fields, token, result } = found;
    if (result.status === 'queued' || result.status === 'running') {
      const s = result.status === 'queued' ? '1 (In Queue)' : '2 (Processing)';
      return judge0Error(c, 400, `submission cannot be deleted because its status is ${s}`);
    }
    // Judge0 answers a delete in base64 so the data is readable whatever it holds. The body is
    // built before the delete (a finished run no longer changes); RunService deletes it from
    // Redis for every API process.
    const body = serialize(token, result, fields, true, await languageNames());
    const deleted = await runService.delete(token);
    if (!deleted) return notFound(c);
    store.forget(token);
    return c.json(body);
  });

  // ---- languages, statuses, information ---------------------------------------------------

  api.on('GET', bothSlashes('/languages'), ...guard, async (c) => {
    const served = servedLanguages(await runService.languages());
    return c.json(served.filter((r) => r.judge0.primary && r.corral.available).map((r) => ({ id: r.judge0.id, name: judge0LanguageName(r) })));
  });

  api.on('GET', bothSlashes('/languages/all'), ...guard, async (c) => {
    const served = servedLanguages(await runService.languages());
    return c.json(served.map((r) => ({ id: r.judge0.id, name: judge0LanguageName(r), is_archived: !r.judge0.primary || !r.corral.available })));
  });

  api.on('GET', bothSlashes('/languages/:id'), ...guard, async (c) => {
    const id = Number(c.req.param('id'));
    const offered: LanguageInfo[] = await runService.languages();
    const r = Number.isInteger(id) ? servedLanguages(offered).find((s) => s.judge0.id === id) : undefined;
    if (!r) return notFound(c);
    return c.json({
      id: r.judge0.id,
      name: judge0LanguageName(r),
      is_archived: !r.judge0.primary || !r.corral.available,
      source_file: r.corral.fileName,
      compile_cmd: r.corral.compiled ? `corral compile ${r.corral.id} %s ${r.corral.fileName}` : null,
      run_cmd: `corral run ${r.corral.id}`,
    });
  });

  api.on('GET', bothSlashes('/statuses'), ...guard, (c) => c.json(ALL_STATUSES));
  api.on('GET', bothSlashes('/about'), ...guard, (c) => c.json(aboutBody(o)));
  api.on('GET', bothSlashes('/version'), ...guard, (c) => c.text(JUDGE0_VERSION));
  api.on('GET', bothSlashes('/config_info'), ...guard, (c) => c.json(configInfoBody(o)));
  api.on('GET', bothSlashes('/system_info'), ...guard, (c) => c.json(systemInfoBody()));
  api.on('GET', bothSlashes('/workers'), ...guard, async (c) => c.json(deps.workers ? await deps.workers() : []));

  app.route(o.prefix === '' ? '/' : o.prefix, api);
  return {
    close() {
      // Nothing to stop: callbacks are sent by the workers' callback queue.
    },
  };
}

