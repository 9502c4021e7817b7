// Constant-time check of a presented API key against Corral's configured keys.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** True when `given` equals one of `keys` (compared as SHA-256 digests, in constant time). */
export function keyMatches(given: string | undefined, keys: readonly string[]): boolean {
  if (given === undefined) return false;
  const g = digest(given);
  let ok = false;
  for (const k of keys) ok = timingSafeEqual(g, digest(k)) || ok;
  return ok;
}
