// POST /submissions: validates one submission, queues it, answers {token} (201), or with
// ?wait=true the finished submission (or its In Queue/Processing state after the maximum wait).
import type { Context } from 'hono';
import { awaitStored, parsedResult } from '../../common/await-completion.ts';
import { reencodes } from '../../common/reencode-gate.ts';
import { fieldErrors, judge0Error, serviceErrorResponse } from '../http-errors.ts';
import { parseSubmission } from '../submission-request.ts';
import { CONVERSION_ERROR_MESSAGE } from '../submission-response.ts';
import { base64Of, bodyOf, fieldsOf, languageNames, noLanguagesYet, serializer, unlessNotUtf8, type Judge0Context } from './context.ts';

export function createSubmission(ctx: Judge0Context) {
  const o = ctx.options;
  return async (c: Context): Promise<Response> => {
    const wait = c.req.query('wait') === 'true';
    if (wait && !o.enableWaitResult) return judge0Error(c, 400, 'wait not allowed');
    const fields = fieldsOf(c);
    if (!fields.ok) return fields.response;
    const body = await bodyOf(c);
    if (!body.ok) return body.response;
    const offered = await ctx.runService.languages();
    if (offered.length === 0) return noLanguagesYet(c);
    const base64 = base64Of(c);
    const sub = parseSubmission(body.value, base64, offered, o);
    if (!sub.ok) return fieldErrors(c, sub.errors);

    const deadline = Date.now() + o.maxWaitMs;
    let queued;
    try {
      // The wait is awaitStored's below: it keeps the result as stored bytes until its re-encode.
      queued = await ctx.runService.submit(sub.request);
    } catch (err) {
      return serviceErrorResponse(c, err);
    }
    // callback_url travels in the run request (callbackFormat judge0): the worker's durable
    // callback queue PUTs Judge0's body, whatever happens to this process.
    ctx.store.remember(queued.id, sub.echo);
    if (!wait) return c.json({ token: queued.id }, 201);

    const stored = await awaitStored(ctx.runService, queued, Math.max(0, deadline - Date.now()), c.req.raw.signal);
    const serialize = serializer(ctx, await languageNames(ctx), fields.value, base64);
    return reencodes.run(Buffer.isBuffer(stored) ? stored.length : 0, () => unlessNotUtf8(
      () => c.json(serialize(queued.id, parsedResult(stored) ?? queued), 201),
      () => c.json({ error: CONVERSION_ERROR_MESSAGE, token: queued.id }, 201),
    ));
  };
}
