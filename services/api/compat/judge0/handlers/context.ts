// What every Judge0 handler shares: the RunService, the options, this process's memory of the
// submissions it accepted, and the small steps several endpoints take the same way (reading the
// body, ?fields=, ?base64_encoded=, serialising, Judge0's error answers for them).
import type { Context } from 'hono';
import type { RunService } from '../../../../core/run-service.ts';
import type { RunResult } from '../../../../core/schemas.ts';
import { judge0Error, notFound } from '../http-errors.ts';
import { judge0Language, judge0LanguageName, servedLanguages } from '../language-ids.ts';
import type { Judge0Options } from '../options.ts';
import { parseFields, serializeSubmission, Utf8ConversionError } from '../submission-response.ts';
import type { SubmissionStore } from '../submission-store.ts';

export interface Judge0Context {
  runService: RunService;
  options: Judge0Options;
  store: SubmissionStore;
  /** Worker pool facts for GET /workers; absent: an empty list. */
  workers?: () => Promise<Array<Record<string, unknown>>>;
}

/** Tokens are Corral run ids; anything else is answered 404 without asking RunService. */
export const TOKEN_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

export type Checked<T> = { ok: true; value: T } | { ok: false; response: Response };

export const base64Of = (c: Context): boolean => c.req.query('base64_encoded') === 'true';

/** ?fields= as a list, or Judge0's 400 naming the unknown fields. */
export function fieldsOf(c: Context): Checked<readonly string[]> {
  const fields = parseFields(c.req.query('fields'));
  if (!fields.ok) return { ok: false, response: judge0Error(c, 400, `invalid fields: [${fields.invalid.join(', ')}]`) };
  return { ok: true, value: fields.fields };
}

/** The body as Rails reads it: JSON, or form fields; an empty body is an empty submission. */
export async function bodyOf(c: Context): Promise<Checked<unknown>> {
  const type = c.req.header('content-type') ?? '';
  try {
    if (type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data')) {
      return { ok: true, value: await c.req.parseBody() };
    }
    const raw = await c.req.text();
    return { ok: true, value: raw.trim() === '' ? {} : JSON.parse(raw) };
  } catch (err) {
    return { ok: false, response: judge0Error(c, 400, `request body is not valid JSON: ${(err as Error).message}`) };
  }
}

/**
 * RunService learns the languages from worker heartbeats; an empty list means no worker has
 * reported yet, which is the server's state, not the request's fault: 503, not a 422.
 */
export const noLanguagesYet = (c: Context): Response =>
  judge0Error(c, 503, 'no worker has reported its languages yet; retry shortly', { 'retry-after': '5' });

/** Judge0 language names by id, as /languages shows them (for the `language` field). */
export async function languageNames(ctx: Judge0Context): Promise<(id: number) => string | null> {
  const served = new Map(servedLanguages(await ctx.runService.languages()).map((r) => [r.judge0.id, judge0LanguageName(r)]));
  return (id) => served.get(id) ?? judge0Language(id)?.label ?? null;
}

/** The stored run of `:token` and the ?fields= of the request, or Judge0's 400 / 404. */
export async function lookup(ctx: Judge0Context, c: Context): Promise<Checked<{ fields: readonly string[]; token: string; result: RunResult }>> {
  const found = await lookupStored(ctx, c);
  if (!found.ok) return found;
  const { fields, token, stored } = found.value;
  return { ok: true, value: { fields, token, result: JSON.parse(stored.toString()) as RunResult } };
}

/**
 * The stored run of `:token` as its JSON bytes (parsed later, in its turn: reencode-gate.ts) and
 * the ?fields= of the request, or Judge0's 400 / 404.
 */
export async function lookupStored(ctx: Judge0Context, c: Context): Promise<Checked<{ fields: readonly string[]; token: string; stored: Buffer }>> {
  const fields = fieldsOf(c);
  if (!fields.ok) return fields;
  const token = c.req.param('token') ?? '';
  const stored = TOKEN_RE.test(token) ? await ctx.runService.getJson(token) : null;
  if (!stored) return { ok: false, response: notFound(c) };
  return { ok: true, value: { fields: fields.value, token, stored } };
}

/** Serialises submissions with this process's echo of their request fields. */
export function serializer(ctx: Judge0Context, names: (id: number) => string | null, fields: readonly string[], base64: boolean) {
  return (token: string, result: RunResult) =>
    serializeSubmission({ token, result, echo: ctx.store.echo(token), languageName: names }, fields, base64);
}

/**
 * Runs `answer`, turning output that is not UTF-8 (without ?base64_encoded=true) into Judge0's
 * conversion error: `conversionError` builds that answer.
 */
export function unlessNotUtf8(answer: () => Response, conversionError: () => Response): Response {
  try {
    return answer();
  } catch (err) {
    if (err instanceof Utf8ConversionError) return conversionError();
    throw err;
  }
}
