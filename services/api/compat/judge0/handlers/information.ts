// GET /statuses, /about, /version, /config_info, /system_info, /workers.
import type { Context } from 'hono';
import { aboutBody, configInfoBody, JUDGE0_VERSION, systemInfoBody } from '../info.ts';
import { ALL_STATUSES } from '../statuses.ts';
import type { Judge0Context } from './context.ts';

export const listStatuses = () => (c: Context) => c.json(ALL_STATUSES);
export const about = (ctx: Judge0Context) => (c: Context) => c.json(aboutBody(ctx.options));
export const version = () => (c: Context) => c.text(JUDGE0_VERSION);
export const configInfo = (ctx: Judge0Context) => (c: Context) => c.json(configInfoBody(ctx.options));
export const systemInfo = () => (c: Context) => c.json(systemInfoBody());
export const workers = (ctx: Judge0Context) => async (c: Context) => c.json(ctx.workers ? await ctx.workers() : []);
