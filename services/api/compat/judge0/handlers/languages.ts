// GET /languages, /languages/all, /languages/:id: Judge0 CE 1.13.1's ids this server serves
// (language-ids.ts). /languages lists those whose Corral image is built; /languages/all adds the
// others as archived.
import type { Context } from 'hono';
import { notFound } from '../http-errors.ts';
import { judge0LanguageName, servedLanguages, type ResolvedLanguage } from '../language-ids.ts';
import type { Judge0Context } from './context.ts';

const archived = (r: ResolvedLanguage): boolean => !r.corral.available;

export function listLanguages(ctx: Judge0Context) {
  return async (c: Context): Promise<Response> => {
    const served = servedLanguages(await ctx.runService.languages());
    return c.json(served.filter((r) => !archived(r)).map((r) => ({ id: r.judge0.id, name: judge0LanguageName(r) })));
  };
}

export function listAllLanguages(ctx: Judge0Context) {
  return async (c: Context): Promise<Response> => {
    const served = servedLanguages(await ctx.runService.languages());
    return c.json(served.map((r) => ({ id: r.judge0.id, name: judge0LanguageName(r), is_archived: archived(r) })));
  };
}

export function getLanguage(ctx: Judge0Context) {
  return async (c: Context): Promise<Response> => {
    const id = Number(c.req.param('id'));
    const r = Number.isInteger(id) ? servedLanguages(await ctx.runService.languages()).find((s) => s.judge0.id === id) : undefined;
    if (!r) return notFound(c);
    return c.json({
      id: r.judge0.id,
      name: judge0LanguageName(r),
      is_archived: archived(r),
      source_file: r.corral.fileName,
      // Corral's steps, not shell lines: Corral never runs a shell command built from a request.
      compile_cmd: r.corral.compiled ? `corral compile ${r.corral.id} %s ${r.corral.fileName}` : null,
      run_cmd: `corral run ${r.corral.id}`,
    });
  };
}
