// DELETE /submissions/:token: off by default, as in Judge0 (ENABLE_SUBMISSION_DELETE); refused
// while In Queue/Processing with Judge0's message; answers in base64 so the data is readable
// whatever it holds. RunService erases the stored result for every API process.
import type { Context } from 'hono';
import { judge0Error, notFound } from '../http-errors.ts';
import { languageNames, lookup, serializer, type Judge0Context } from './context.ts';

export function deleteSubmission(ctx: Judge0Context) {
  return async (c: Context): Promise<Response> => {
    if (!ctx.options.enableSubmissionDelete) return judge0Error(c, 400, 'delete not allowed');
    const found = await lookup(ctx, c);
    if (!found.ok) return found.response;
    const { fields, token, result } = found.value;
    if (result.status === 'queued' || result.status === 'running') {
      const s = result.status === 'queued' ? '1 (In Queue)' : '2 (Processing)';
      return judge0Error(c, 400, `submission cannot be deleted because its status is ${s}`);
    }
    // The body is built before the delete: a finished run no longer changes.
    const body = serializer(ctx, await languageNames(ctx), fields, true)(token, result);
    if (!(await ctx.runService.delete(token))) return notFound(c);
    ctx.store.forget(token);
    return c.json(body);
  };
}
