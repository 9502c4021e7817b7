// POST /submissions/batch and GET /submissions/batch?tokens=: Judge0's batches, at most
// max_submission_batch_size; per-item field errors in place, null for unknown tokens.
import type { Context } from 'hono';
import type { RunResult } from '../../../../core/schemas.ts';
import { judge0Error, serviceErrorResponse } from '../http-errors.ts';
import { parseSubmission, type FieldErrors } from '../submission-request.ts';
import { CONVERSION_ERROR_MESSAGE_MANY } from '../submission-response.ts';
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

export function getBatch(ctx: Judge0Context) {
  const o = ctx.options;
  return async (c: Context): Promise<Response> => {
    if (!o.enableBatchedSubmissions) return judge0Error(c, 400, 'batched submissions are not allowed');
    const fields = fieldsOf(c);
    if (!fields.ok) return fields.response;
    const tokens = (c.req.header('tokens') ?? c.req.query('tokens') ?? '').trim().split(',').filter((t) => t !== '');
    const tooMany = batchSizeProblem(c, tokens.length, o.maxSubmissionBatchSize);
    if (tooMany) return tooMany;
    const valid = tokens.filter((t) => TOKEN_RE.test(t));
    const found = valid.length ? await ctx.runService.getMany(valid) : [];
    const byToken = new Map(valid.map((t, i) => [t, found[i]]));
    const serialize = serializer(ctx, await languageNames(ctx), fields.value, base64Of(c));
    return unlessNotUtf8(
      () => c.json({ submissions: tokens.map((t) => { const r = byToken.get(t); return r ? serialize(t, r) : null; }) }),
      () => judge0Error(c, 400, CONVERSION_ERROR_MESSAGE_MANY),
    );
  };
}
