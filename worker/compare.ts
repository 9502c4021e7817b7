// Output comparison, pure: exact, trailing-whitespace (default), tokens, float with tolerances.
import type { CompareMode } from '../services/core/schemas.ts';

/** Lines with trailing spaces/tabs/CR removed, and trailing empty lines dropped. */
function normalizeTrailing(s: string): string {
  const lines = s.split('\n').map((l) => l.replace(/[ \t\r\f\v]+$/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.join('\n');
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
  const a = tokens(actual);
  const e = tokens(expected);
  if (a.length !== e.length) return false;
  if (mode === 'tokens') return a.every((t, i) => t === e[i]);
  const { absolute, relative } = mode.float;
  return a.every((t, i) => floatsClose(t, e[i]!, absolute, relative));
}
