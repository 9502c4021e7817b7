// Optional API keys: `Authorization: Bearer <key>`, `Authorization: token <key>` (the form Jupyter
// clients and Kernel Gateway use) or `X-Auth-Token: <key>`, compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { CorralError } from '../core/errors.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

export function presentedKey(headers: { get(name: string): string | null | undefined }): string | undefined {
  const auth = headers.get('authorization');
  const m = auth ? /^(?:Bearer|token)\s+(.+)$/i.exec(auth.trim()) : null;
  return m?.[1] ?? headers.get('x-auth-token')?.trim() ?? undefined;
}

export function keyMatcher(keys: readonly string[]): (key: string | undefined) => boolean {
  const digests = keys.map(digest);
  return (key) => {
    if (!key) return false;
    const d = digest(key);
    let ok = false;
    for (const k of digests) ok = timingSafeEqual(k, d) || ok;
    return ok;
  };
}

/** A middleware that lets every request through when no keys are configured. */
export function apiKeyAuth(keys: readonly string[]): MiddlewareHandler {
  const matches = keyMatcher(keys);
  return async (c, next) => {
    if (keys.length > 0 && !matches(presentedKey(c.req.raw.headers))) throw new CorralError('unauthorized');
    await next();
  };
}
