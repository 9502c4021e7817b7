// Output comparison, pure: exact, trailing-whitespace (default), tokens, unordered-lines,
// case-insensitive, float with tolerances.
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

/** True when `actual` matches `expected` under `mode`. */
export function compareOutput(actual: string, expected: string, mode: CompareMode = 'trailing-whitespace'): boolean {
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
