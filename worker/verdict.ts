// Verdicts, pure: one sandbox outcome (+ optional expected output) → a verdict; phases → the run's verdict.
import type { CompareMode, GroupScoring, Verdict } from '../services/core/schemas.ts';
import type { PhaseResult } from './phase-result.ts';
import { compareOutput } from './compare.ts';

export interface OutcomeLike {
  status: 'ok' | 'runtime_error' | 'time_limit' | 'memory_limit' | 'output_limit' | 'internal_error';
  exitCode: number | null;
}

/**
 * A program's own verdict: its sandbox status, and — when it ran fine and an expected output is
 * given — whether its stdout matches. A plain run without expected output is `accepted` when ok.
 * `stdout` may be the program's bytes (compared in place: compare.ts).
 */
export function outcomeVerdict(outcome: OutcomeLike, stdout: string | Buffer, expected: string | undefined, mode: CompareMode): Verdict {
  switch (outcome.status) {
    case 'internal_error': return 'internal_error';
    case 'time_limit': return 'time_limit';
    case 'memory_limit': return 'memory_limit';
    case 'output_limit': return 'output_limit';
    case 'runtime_error': return 'runtime_error';
    case 'ok':
      if (outcome.exitCode !== null && outcome.exitCode !== 0) return 'runtime_error';
      if (expected === undefined) return 'accepted';
      return compareOutput(stdout, expected, mode) ? 'accepted' : 'wrong_answer';
  }
}

/** A compile phase passes only with status ok and exit code 0; a sandbox failure stays internal. */
export function compileVerdict(outcome: OutcomeLike): Verdict | null {
  if (outcome.status === 'internal_error') return 'internal_error';
  if (outcome.status === 'ok' && outcome.exitCode === 0) return null;
  return 'compile_error';
}

/** The run's verdict: the first non-accepted one in test order (skipped tests aside), else accepted. */
export function overallVerdict(verdicts: Verdict[]): Verdict {
  return verdicts.find((v) => v !== 'accepted' && v !== 'skipped') ?? 'accepted';
}

/**
 * Whether to run the next test (of the same group) after one with verdict `v`. A sandbox failure
 * always stops. With stopOnFirstFailure, a test that scores nothing stops; a partial one stops
 * only an all-or-nothing group (whose score it already decided).
 */
export function shouldContinue(v: Verdict, stopOnFirstFailure: boolean, scoring?: GroupScoring): boolean {
  if (v === 'internal_error') return false;
  if (!stopOnFirstFailure || v === 'accepted') return true;
  return v === 'partial' && scoring !== 'all-or-nothing';
}

/** A test that was not run (its group skipped, or stopped before it). */
export function skippedPhase(index: number): PhaseResult {
  return {
    status: 'skipped', limit: null, exitCode: null, signal: null, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), encoding: 'utf8', truncated: false,
    cpuMs: 0, wallMs: 0, memoryKb: 0, verdict: 'skipped', index,
  };
}
