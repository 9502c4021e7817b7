// Output comparison, pure: exact, trailing-whitespace (default), tokens, unordered-lines,
// case-insensitive, float with tolerances. The first two also on bytes, in place.
import type { CompareMode } from '../services/core/schemas.ts';

/** Lines with trailing spaces/tabs/CR removed, and trailing empty lines dropped. */
function trailingTrimmedLines(s: string): string[] {
  const lines = s.split('\n').map((l) => l.replace(/[ \t\r\f\v]+$/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function normalizeTrailing(s: string): string {
  return trailingTrimmedLines(s).join('\n');
}

/** The same lines in any order (as trailing-whitespace compares each line), counting repeats. */
function sameLinesAnyOrder(actual: string, expected: string): boolean {
  const a = trailingTrimmedLines(actual);
  const e = trailingTrimmedLines(expected);
  if (a.length !== e.length) return false;
  const counts = new Map<string, number>();
  for (const l of e) counts.set(l, (counts.get(l) ?? 0) + 1);
  for (const l of a) {
    const n = counts.get(l);
    if (!n) return false;
    counts.set(l, n - 1);
  }
  return true;
}

function tokens(s: string): string[] {
  return s.split(/\s+/).filter((t) => t.length > 0);
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity|nan)$/i;

function floatsClose(actual: string, expected: string, absolute: number, relative: number): boolean {
  if (actual === expected) return true;
  if (!NUMBER.test(actual) || !NUMBER.test(expected)) return false;
  const a = Number(actual.replace(/inf(inity)?$/i, 'Infinity'));
  const e = Number(expected.replace(/inf(inity)?$/i, 'Infinity'));
  if (Number.isNaN(a) || Number.isNaN(e)) return Number.isNaN(a) && Number.isNaN(e);
  if (!Number.isFinite(a) || !Number.isFinite(e)) return a === e;
  const diff = Math.abs(a - e);
  return diff <= absolute || diff <= relative * Math.abs(e);
}

/** A trailing-whitespace byte of a line (as the text modes trim: space, tab, CR, FF, VT). */
function isTrailingSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0c || b === 0x0b;
}

/** Where the content ends once trailing empty (or blank) lines and the last line's trailing spaces go. */
function contentEnd(b: Buffer): number {
  let end = b.length;
  while (end > 0 && (b[end - 1] === 0x0a || isTrailingSpace(b[end - 1]!))) end--;
  return end;
}

/**
 * trailing-whitespace on bytes, line by line in place: no copy of the output (which can be at
 * the output cap) and no array of its lines.
 */
function sameTrailingTrimmed(a: Buffer, e: Buffer): boolean {
  const aEnd = contentEnd(a);
  const eEnd = contentEnd(e);
  let i = 0;
  let j = 0;
  for (;;) {
    if (i >= aEnd || j >= eEnd) return i >= aEnd && j >= eEnd;
    const aNl = a.indexOf(0x0a, i);
    const eNl = e.indexOf(0x0a, j);
    const aLineEnd = aNl < 0 || aNl > aEnd ? aEnd : aNl;
    const eLineEnd = eNl < 0 || eNl > eEnd ? eEnd : eNl;
    let x = aLineEnd;
    while (x > i && isTrailingSpace(a[x - 1]!)) x--;
    let y = eLineEnd;
    while (y > j && isTrailingSpace(e[y - 1]!)) y--;
    if (a.compare(e, j, y, i, x) !== 0) return false;
    i = aLineEnd + 1;
    j = eLineEnd + 1;
  }
}

/**
 * True when `actual` matches `expected` under `mode`. `actual` may be the program's bytes: exact
 * and trailing-whitespace (the default) then compare bytes in place, without making a string of
 * an output that can be at the output cap; the other modes work on its text (a copy).
 */
export function compareOutput(actual: string | Buffer, expected: string, mode: CompareMode = 'trailing-whitespace'): boolean {
  if (typeof actual !== 'string') {
    if (mode === 'exact') return actual.equals(Buffer.from(expected));
    if (mode === 'trailing-whitespace') return sameTrailingTrimmed(actual, Buffer.from(expected));
    return compareOutput(actual.toString('utf8'), expected, mode);
  }
  if (mode === 'exact') return actual === expected;
  if (mode === 'trailing-whitespace') return normalizeTrailing(actual) === normalizeTrailing(expected);
  if (mode === 'unordered-lines') return sameLinesAnyOrder(actual, expected);
  // toLowerCase, not toLocaleLowerCase: the same answer on every worker, whatever its locale.
  if (mode === 'case-insensitive') return normalizeTrailing(actual).toLowerCase() === normalizeTrailing(expected).toLowerCase();
  const a = tokens(actual);
  const e = tokens(expected);
  if (a.length !== e.length) return false;
  if (mode === 'tokens') return a.every((t, i) => t === e[i]);
  const { absolute, relative } = mode.float;
  return a.every((t, i) => floatsClose(t, e[i]!, absolute, relative));
}
