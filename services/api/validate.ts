// Request parsing helpers: JSON bodies and queries validated by zod, failures as CorralErrors.
import type { Context } from 'hono';
import type { z } from 'zod';
import { CorralError, zodDetails } from '../core/errors.ts';

export async function jsonBody(c: Context): Promise<unknown> {
  const type = c.req.header('content-type') ?? '';
  if (type && !/^application\/(.+\+)?json\b/i.test(type)) {
    throw new CorralError('unsupported_media_type', `content-type must be application/json, not ${type}`);
  }
  const text = await c.req.text();
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CorralError('invalid_json', `the request body is not valid JSON: ${(e as Error).message}`);
  }
}

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const details = zodDetails(r.error.issues);
    throw new CorralError('validation_failed', `invalid ${where}: ${details.map((d) => `${d.field}: ${d.message}`).join('; ')}`, details);
  }
  return r.data;
}

export function query(c: Context): Record<string, string> {
  return c.req.query();
}
