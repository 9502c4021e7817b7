// Shared by the seeded hostile-request tests (test/e2e/hostile-*.test.ts): a replayable PRNG and
// the mutation of a valid request body into a hostile one.

/** A small deterministic PRNG (mulberry32) so a failing draw can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Values that have broken parsers and coercions elsewhere: wrong types, extremes, path tricks,
 * lone surrogates, prototype keys, oversized strings and arrays. */
export const HOSTILE_VALUES: readonly unknown[] = [
  null, true, false, 0, -1, 1.5, -0.0001, 1e308, 2 ** 53 + 1, 2 ** 31, -(2 ** 31), '', ' ',
  'x'.repeat(70_000), {}, [], [[]], [null], { a: 1 }, '\u0000', '../../etc/passwd', '/', 'a/../../b',
  '\ud800', '😀'.repeat(100), 'NaN', '-1', '1e999', '0x10', ['a', 'b'], [1, 2], { constructor: 1 },
  'aGk=', '!!!', '%00', 'a\nb', Array(300).fill('a'),
];

/** Replaces (or deletes, or adds a prototype-ish key beside) one or two leaves of a request body
 * with one of `hostile`. */
export function mutate(body: unknown, rnd: () => number, hostile: readonly unknown[]): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const holders: Array<[Record<string, unknown>, string]> = [];
  const walk = (o: unknown) => {
    if (!o || typeof o !== 'object') return;
    for (const k of Object.keys(o)) {
      holders.push([o as Record<string, unknown>, k]);
      walk((o as Record<string, unknown>)[k]);
    }
  };
  walk(body);
  for (let n = 1 + Math.floor(rnd() * 2); n > 0; n--) {
    const [holder, key] = pick(holders);
    const r = rnd();
    if (r < 0.15) delete holder[key];
    else if (r < 0.2) holder[pick(['__proto__', 'constructor', 'zzz'])] = pick(hostile);
    else holder[key] = pick(hostile);
  }
  return body;
}
