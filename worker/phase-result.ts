// Sandbox outcome → a phase of the result (pure). The output stays the sandbox's bytes all the
// way to Redis: the result's JSON is written from them once (services/core/result-json.ts), never
// as text first (verdicts compare the bytes too). Here it is decided how it will be written:
// output that is not valid UTF-8 as base64 so no byte is lost (the Judge0 layer needs the raw
// bytes), and so is text that JSON would more than double (control characters are escaped as
// \u00XX: six characters for one byte), so a result's JSON stays within twice its output
// whatever the program writes.
import { isUtf8 } from 'node:buffer';
import type { PhaseBytes } from '../services/core/result-json.ts';
import type { Verdict } from '../services/core/schemas.ts';
import type { SandboxOutcome } from './sandbox/index.ts';

/**
 * A phase as the worker holds it: the API's PhaseResult with its output as bytes (`encoding`
 * says how the JSON will write them). Where text is needed, result-json.ts's phaseText.
 */
export type PhaseResult = PhaseBytes;

export type OutcomeCore = Pick<SandboxOutcome, 'limit' | 'exitCode' | 'signal' | 'cpuMs' | 'wallMs' | 'memoryKb' | 'stdout' | 'stderr' | 'stdoutTruncated' | 'stderrTruncated' | 'error' | 'failure'> & {
  status: Exclude<SandboxOutcome['status'], 'cancelled'>;
};

/** Escaping below this many extra characters never switches a stream to base64 (small outputs keep their text). */
export const JSON_ESCAPE_SLACK_CHARS = 64 * 1024;

/**
 * True when JSON.stringify would add more characters to this UTF-8 text than it has bytes (and
 * more than JSON_ESCAPE_SLACK_CHARS): each control byte costs 1 (\n, \t, …) or 5 (\u00XX) more,
 * a quote or backslash 1. Stops counting as soon as that is known.
 */
function escapesMoreThanDouble(b: Buffer): boolean {
  const limit = Math.max(b.length, JSON_ESCAPE_SLACK_CHARS);
  if (b.length * 5 <= limit) return false;
  let extra = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c < 0x20) extra += c === 0x0a || c === 0x09 || c === 0x0d || c === 0x08 || c === 0x0c ? 1 : 5;
    else if (c === 0x22 || c === 0x5c) extra += 1;
    else continue;
    if (extra > limit) return true;
  }
  return false;
}

/**
 * What a run's result keeps of its output, across all its phases (CORRAL_RESULT_OUTPUT_MAX_BYTES):
 * each phase's stdout, then stderr, while bytes are left; a stream beyond is cut (at a UTF-8
 * character boundary) and its phase marked truncated. Verdicts are decided on the whole output
 * before this cut. Bounds a result (and the worker's memory for it) by design: a run of 500 tests
 * at the output cap would otherwise hold 16 GB.
 */
export class OutputBudget {
  constructor(private leftBytes: number) {}

  keep(bytes: Buffer): { kept: Buffer; cut: boolean } {
    if (bytes.length <= this.leftBytes) {
      this.leftBytes -= bytes.length;
      return { kept: bytes, cut: false };
    }
    let end = this.leftBytes;
    while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // never split a UTF-8 sequence
    this.leftBytes = 0;
    // A copy: a view would keep the whole stream alive until the result is written (500 tests
    // at the output cap, each cut to nothing, would hold 16 GB). The copies are within the budget.
    return { kept: Buffer.from(bytes.subarray(0, end)), cut: true };
  }
}

export function toPhaseResult(o: OutcomeCore, extra: { verdict?: Verdict; index?: number } = {}, budget?: OutputBudget): PhaseResult {
  const out = budget ? budget.keep(o.stdout) : { kept: o.stdout, cut: false };
  const err = budget ? budget.keep(o.stderr) : { kept: o.stderr, cut: false };
  const text = isUtf8(out.kept) && isUtf8(err.kept) && !escapesMoreThanDouble(out.kept) && !escapesMoreThanDouble(err.kept);
  const enc = text ? 'utf8' : 'base64';
  return {
    status: o.status,
    limit: o.limit ?? null,
    exitCode: o.exitCode,
    signal: o.signal,
    stdout: out.kept,
    stderr: err.kept,
    encoding: enc,
    truncated: o.stdoutTruncated || o.stderrTruncated || out.cut || err.cut,
    cpuMs: o.cpuMs,
    wallMs: o.wallMs,
    memoryKb: o.memoryKb,
    ...(extra.verdict ? { verdict: extra.verdict } : {}),
    ...(extra.index !== undefined ? { index: extra.index } : {}),
    ...(o.error ? { error: o.error } : {}),
  };
}

/**
 * The grace CPU time (extraCpuMs) lets a program run past its limit before the kill, but the
 * verdict uses the limit itself: a run that used more than `cpuMs` is a time limit.
 */
export function applyCpuLimit<T extends OutcomeCore>(o: T, cpuMs: number): T {
  if (o.status === 'internal_error' || o.cpuMs <= cpuMs || o.status === 'time_limit') return o;
  return { ...o, status: 'time_limit', limit: 'cpu' };
}

/** Repeated runs (Judge0's number_of_runs): the last run's output, average times, peak memory. */
export function mergeRepeats<T extends OutcomeCore>(runs: T[]): T {
  const last = runs[runs.length - 1]!;
  if (runs.length === 1) return last;
  const failed = runs.find((r) => r.status !== 'ok' || r.exitCode !== 0);
  const base = failed ?? last;
  const avg = (f: (r: T) => number) => Math.round(runs.reduce((a, r) => a + f(r), 0) / runs.length);
  return { ...base, cpuMs: avg((r) => r.cpuMs), wallMs: avg((r) => r.wallMs), memoryKb: Math.max(...runs.map((r) => r.memoryKb)) };
}
