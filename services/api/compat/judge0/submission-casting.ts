// How Rails reads a submission's JSON values (Judge0 is a Rails app): numbers and numeric strings
// for numeric columns, "true"/"1"/"t"/… for booleans, "" and null as "not given". Pure helpers.
import { decodeJudge0Base64 } from './base64.ts';

/** Judge0's 422 body: each invalid field with its messages. */
export type FieldErrors = Record<string, string[]>;

/** Adds a message to a field's list (Rails' errors.add). */
export type AddFieldError = (field: string, message: string) => void;

export function blank(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
}

/** Rails numericality: numbers and numeric strings; "" and null mean "use the default". */
export function numeric(v: unknown): number | 'nan' | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number') return Number.isFinite(v) ? v : 'nan';
  if (typeof v === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(v)) return Number(v);
  return 'nan';
}

/** Rails boolean casting: true/"true"/"1"/1/"t"/"on" are true; null/"" mean the default. */
export function boolish(v: unknown): boolean | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'boolean') return v;
  const s = String(v).toLowerCase();
  return !['false', '0', 'f', 'off', 'no', 'n'].includes(s);
}

/** A string column's value: strings as they are, numbers and booleans as text, anything else absent. */
export function text(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** A text field's bytes, base64-decoded (Ruby's lenient decode64) when the request says so. */
export function bytesOf(v: unknown, base64: boolean): Buffer | null {
  const s = text(v);
  if (s === undefined) return null;
  return base64 ? decodeJudge0Base64(s) : Buffer.from(s, 'utf8');
}
