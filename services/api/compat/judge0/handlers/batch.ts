// POST /submissions/batch and GET /submissions/batch?tokens=: Judge0's batches, at most
// max_submission_batch_size; per-item field errors in place, null for unknown tokens. A batch GET
// reads its results within the list maximum (CORRAL_LIST_MAX_BYTES) as GET /v1/runs?ids= does:
// measured in Redis before anything is read, refused with Judge0's 400 beyond it.
import type { Context } from 'hono';
import { CorralError } from '../../../../core/errors.ts';
import type { RunResult } from '../../../../core/schemas.ts';
import { reencodes } from '../../common/reencode-gate.ts';
import { judge0Error, serviceErrorResponse } from '../http-errors.ts';
import { parseSubmission, type FieldErrors } from '../submission-request.ts';
import { CONVERSION_ERROR_MESSAGE_MANY } from '../submission-response.ts';
import { bodyOfParts } from '../../../body-parts.ts';
import {
  base64Of, bodyOf, fieldsOf, languageNames, noLanguagesYet, serializer, TOKEN_RE, unlessNotUtf8, type Judge0Context,
} from './context.ts';

/** Judge0's answer to a batch of `n` items when `n` is out of bounds, or null. */
function batchSizeProblem(c: Context, n: number, max: number): Response | null {
  if (n > max) return judge0Error(c, 400, `number of submissions in a batch should be less than or equal to ${max}`);
  if (n === 0) return judge0Error(c, 400, 'there should be at least one submission in a batch');
  return null;
}

export function createBatch(ctx: Judge0Context) {
  const o = ctx.options;
  return async (c: Context): Promise<Response> => {
    if (!o.enableBatchedSubmissions) return judge0Error(c, 400, 'batched submissions are not allowed');
    const body = await bodyOf(c);
    if (!body.ok) return body.response;
    const list = (body.value as { submissions?: unknown })?.submissions;
    const items: unknown[] = Array.isArray(list) ? list : [];
    const tooMany = batchSizeProblem(c, items.length, o.maxSubmissionBatchSize);
    if (tooMany) return tooMany;
    const offered = await ctx.runService.languages();
    if (offered.length === 0) return noLanguagesYet(c);

    const parsed = items.map((s) => parseSubmission(s, base64Of(c), offered, o));
    const valid = parsed.flatMap((p) => (p.ok ? [p] : []));
    let queued: RunResult[] = [];
    if (valid.length > 0) {
      try {
        queued = await ctx.runService.submitBatch(valid.map((p) => p.request));
      } catch (err) {
        return serviceErrorResponse(c, err);
      }
    }
    let k = 0;
    const answer: Array<{ token: string } | FieldErrors> = parsed.map((p) => {
      if (!p.ok) return p.errors;
      const r = queued[k++];
      ctx.store.remember(r.id, p.echo);
      return { token: r.id };
    });
    return c.json(answer, valid.length > 0 ? 201 : 422);
  };
}

/** A stored result, parsed (null: unknown or expired). */
const parsed = (raw: Buffer | null | undefined): RunResult | null => (raw ? (JSON.parse(raw.toString()) as RunResult) : null);

/** Judge0 has no such limit; its form for a batch it refuses: {"error": "..."}, 400. */
function tooLargeMessage(n: number, details: unknown): string {
  const { bytes, maximumBytes } = (details ?? {}) as { bytes?: number; maximumBytes?: number };
  return `the ${n} submissions hold ${bytes} bytes together, more than the maximum answer of ${maximumBytes} bytes; ask for fewer tokens`;
}

export function getBatch(ctx: Judge0Context) {
  const o = ctx.options;
  return async (c: Context): Promise<Response> => {
    if (!o.enableBatchedSubmissions) return judge0Error(c, 400, 'batched submissions are not allowed');
    const fields = fieldsOf(c);
    if (!fields.ok) return fields.response;
    const tokens = (c.req.header('tokens') ?? c.req.query('tokens') ?? '').trim().split(',').filter((t) => t !== '');
    const tooMany = batchSizeProblem(c, tokens.length, o.maxSubmissionBatchSize);
    if (tooMany) return tooMany;
    const serialize = serializer(ctx, await languageNames(ctx), fields.value, base64Of(c));
    const valid = tokens.filter((t) => TOKEN_RE.test(t));
    let stored: Array<Buffer | null>;
    try {
      stored = valid.length ? await ctx.runService.getManyJson(valid) : [];
    } catch (err) {
      if (err instanceof CorralError && err.code === 'response_too_large') return judge0Error(c, 400, tooLargeMessage(valid.length, err.details));
      return serviceErrorResponse(c, err);
    }
    // Re-encoded in its turn (reencode-gate.ts).
    const bytes = stored.reduce((n, b) => n + (b?.length ?? 0), 0);
    return reencodes.run(bytes, () => batchAnswer(c, tokens, valid, stored, serialize));
  };
}

function batchAnswer(c: Context, tokens: string[], valid: string[], stored: Array<Buffer | null>, serialize: ReturnType<typeof serializer>): Response {
  const byToken = new Map(valid.map((t, i) => [t, i]));
  // One submission re-encoded at a time, each stored result let go once it is: the answer's
  // parts are the JSON of each, sent one after another (no joined copy, no whole parsed batch).
  return unlessNotUtf8(() => {
    const parts: Uint8Array[] = [Buffer.from('{"submissions":[')];
    tokens.forEach((t, n) => {
      const i = byToken.get(t);
      const r = i === undefined ? null : parsed(stored[i]);
      if (i !== undefined && tokens.indexOf(t, n + 1) === -1) stored[i] = null; // asked for once more: kept
      parts.push(Buffer.from((n > 0 ? ',' : '') + (r ? JSON.stringify(serialize(t, r)) : 'null')));
    });
    parts.push(Buffer.from(']}'));
    return c.body(bodyOfParts(parts), 200, { 'content-type': 'application/json' });
  }, () => judge0Error(c, 400, CONVERSION_ERROR_MESSAGE_MANY));
}
