// Judge0's authentication (X-Auth-Token → 401) and authorization (X-Auth-User → 403), both with an
// empty body as Judge0 answers them, mapped onto Corral's API keys. Constant-time comparison.
import type { MiddlewareHandler } from 'hono';
import { keyMatches } from '../common/api-keys.ts';

/** 401 unless X-Auth-Token holds one of `tokens` (open when `tokens` is empty). */
export function authenticate(tokens: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    if (tokens.length > 0 && !keyMatches(c.req.header('x-auth-token'), tokens)) return c.body(null, 401);
    await next();
  };
}

/** 403 unless X-Auth-User holds one of `users` (open when `users` is empty). */
export function authorize(users: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    if (users.length > 0 && !keyMatches(c.req.header('x-auth-user'), users)) return c.body(null, 403);
    await next();
  };
}
