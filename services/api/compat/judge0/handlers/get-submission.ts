// GET /submissions/:token and GET /submissions (the paged list of every stored run, newest first,
// from Redis through RunService, so the same list from every API process).
import type { Context } from 'hono';
import { CorralError } from '../../../../core/errors.ts';
import { reencodes } from '../../common/reencode-gate.ts';
import { judge0Error, serviceErrorResponse } from '../http-errors.ts';
import { CONVERSION_ERROR_MESSAGE, CONVERSION_ERROR_MESSAGE_MANY } from '../submission-response.ts';
import type { RunResult } from '../../../../core/schemas.ts';
import { base64Of, fieldsOf, languageNames, lookupStored, serializer, unlessNotUtf8, type Judge0Context } from './context.ts';

const DEFAULT_PER_PAGE = 20;
const MAX_PER_PAGE = 100;

export function getSubmission(ctx: Judge0Context) {
  return async (c: Context): Promise<Response> => {
    const found = await lookupStored(ctx, c);
    if (!found.ok) return found.response;
    const { fields, token, stored } = found.value;
    const serialize = serializer(ctx, await languageNames(ctx), fields, base64Of(c));
    // Parsed and re-encoded in its turn: a result at the output caps is tens of MB.
    return reencodes.run(stored.length, () => {
      const result = JSON.parse(stored.toString()) as RunResult;
      return unlessNotUtf8(() => c.json(serialize(token, result)), () => judge0Error(c, 400, CONVERSION_ERROR_MESSAGE));
    });
  };
}

/** ?page= and ?per_page= as Judge0 reads them (will_paginate), or Judge0's 400. */
function pageOf(c: Context): { ok: true; page: number; perPage: number } | { ok: false; response: Response } {
  const int = (name: string, dflt: number) => (c.req.query(name) === undefined ? dflt : Math.trunc(Number(c.req.query(name)) || 0));
  const page = int('page', 1);
  const perPage = int('per_page', DEFAULT_PER_PAGE);
  if (page <= 0) return { ok: false, response: judge0Error(c, 400, `invalid page: ${page}`) };
  if (perPage < 0) return { ok: false, response: judge0Error(c, 400, `invalid per_page: ${perPage}`) };
  if (!Number.isSafeInteger(page)) return { ok: false, response: judge0Error(c, 400, `invalid page: ${c.req.query('page')}`) };
  return { ok: true, page, perPage: Math.min(perPage || DEFAULT_PER_PAGE, MAX_PER_PAGE) };
}

export function listSubmissions(ctx: Judge0Context) {
  return async (c: Context): Promise<Response> => {
    const fields = fieldsOf(c);
    if (!fields.ok) return fields.response;
    const paging = pageOf(c);
    if (!paging.ok) return paging.response;
    const names = await languageNames(ctx);
    // A page is read, parsed and re-encoded in its turn (reencode-gate.ts), whatever its size: it
    // is parsed as it is read (an admin's endpoint, seldom asked).
    return reencodes.run(Infinity, () => listPage(ctx, c, paging.page, paging.perPage, fields.value, names));
  };
}

async function listPage(ctx: Judge0Context, c: Context, page: number, perPageAsked: number, fields: readonly string[], names: (id: number) => string | null): Promise<Response> {
  let listed;
  try {
    // Within CORRAL_LIST_MAX_BYTES, measured before any result is read.
    listed = await ctx.runService.list({ page, perPage: perPageAsked });
  } catch (err) {
    if (err instanceof CorralError && err.code === 'response_too_large') {
      const { bytes, maximumBytes } = err.details as { bytes: number; maximumBytes: number };
      return judge0Error(c, 400, `the submissions of page ${page} hold ${bytes} bytes together, more than the maximum answer of ${maximumBytes} bytes; ask for a smaller per_page`);
    }
    return serviceErrorResponse(c, err);
  }
  const { runs, total, perPage } = listed;
  const totalPages = Math.ceil(total / perPage);
  const serialize = serializer(ctx, names, fields, base64Of(c));
  return unlessNotUtf8(
    () => c.json({
      submissions: runs.map((r) => serialize(r.id, r)),
      meta: {
        current_page: page,
        next_page: page < totalPages ? page + 1 : null,
        prev_page: page > 1 ? page - 1 : null,
        total_pages: totalPages,
        total_count: total,
      },
    }),
    () => judge0Error(c, 400, CONVERSION_ERROR_MESSAGE_MANY),
  );
}
