// Sandbox outcome → the API's PhaseResult (pure). Output that is not valid UTF-8 is sent as base64
// so no byte is lost (the Judge0 layer needs the raw bytes).
import { isUtf8 } from 'node:buffer';
import type { PhaseResult, Verdict } from '../services/core/schemas.ts';
import type { SandboxOutcome } from './sandbox/index.ts';

export type OutcomeCore = Pick<SandboxOutcome, 'limit' | 'exitCode' | 'signal' | 'cpuMs' | 'wallMs' | 'memoryKb' | 'stdout' | 'stderr' | 'stdoutTruncated' | 'stderrTruncated' | 'error' | 'failure'> & {
  status: Exclude<SandboxOutcome['status'], 'cancelled'>;
};

export function toPhaseResult(o: OutcomeCore, extra: { verdict?: Verdict; index?: number } = {}): PhaseResult {
  const utf8 = isUtf8(o.stdout) && isUtf8(o.stderr);
  const enc = utf8 ? 'utf8' : 'base64';
  return {
    status: o.status,
    limit: o.limit ?? null,
    exitCode: o.exitCode,
    signal: o.signal,
    stdout: o.stdout.toString(enc),
    stderr: o.stderr.toString(enc),
    encoding: enc,
    truncated: o.stdoutTruncated || o.stderrTruncated,
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
