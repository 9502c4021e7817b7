// RunResult → what Judge0 reports about a finished (or pending) submission: status id and
// description, outputs as bytes, time/wall_time as decimal-second strings, memory in KB,
// exit_code/exit_signal and an isolate-style message. Pure and table-tested.
import type { PhaseResult, RunResult } from '../../../core/schemas.ts';
import { phaseBytes } from '../common/phase-output.ts';
import { STATUS, signalNumber, statusForSignal, type Judge0Status } from './statuses.ts';

export interface Judge0Outcome {
  status: Judge0Status;
  stdout: Buffer | null;
  stderr: Buffer | null;
  compileOutput: Buffer | null;
  message: string | null;
  time: string | null;
  wallTime: string | null;
  memoryKb: number | null;
  exitCode: number | null;
  exitSignal: number | null;
}

/** Limits the submission ran with, for messages that state them. */
export interface OutcomeLimits {
  memoryLimitKb?: number;
  outputBytes?: number;
}

/** Seconds as Judge0 prints its decimal columns: "0.012", "1.0", "2.5". */
export function judge0Seconds(ms: number | null | undefined): string | null {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return null;
  const s = (Math.round(ms) / 1000).toFixed(3).replace(/0+$/, '');
  return s.endsWith('.') ? `${s}0` : s;
}

const nonEmpty = (b: Buffer): Buffer | null => (b.length > 0 ? b : null);

function compileOutputOf(compile: PhaseResult | null): Buffer | null {
  if (!compile) return null;
  return nonEmpty(Buffer.concat([phaseBytes(compile, 'stdout'), phaseBytes(compile, 'stderr')]));
}

function pending(status: Judge0Status): Judge0Outcome {
  return { status, stdout: null, stderr: null, compileOutput: null, message: null, time: null, wallTime: null, memoryKb: null, exitCode: null, exitSignal: null };
}

/** The status of a completed phase, from the run's verdict (or the phase's own status for a plain run). */
function statusOfPhase(verdict: RunResult['verdict'], phase: PhaseResult): { status: Judge0Status; message: string | null; signal: number | null } {
  const sig = signalNumber(phase.signal);
  const v = verdict ?? ({ ok: 'accepted' } as Record<string, string>)[phase.status] ?? phase.status;
  switch (v) {
    case 'accepted':
      return { status: STATUS.accepted, message: null, signal: sig };
    case 'wrong_answer':
      return { status: STATUS.wrongAnswer, message: null, signal: sig };
    case 'time_limit':
      return { status: STATUS.timeLimit, message: phase.limit === 'wall' ? 'Time limit exceeded (wall clock)' : 'Time limit exceeded', signal: sig };
    case 'compile_error':
      return { status: STATUS.compilationError, message: null, signal: sig };
    case 'output_limit':
      // Judge0 writes output to a file bounded by max_file_size: too much output is SIGXFSZ.
      return { status: STATUS.sigxfsz, message: null, signal: 25 };
    case 'memory_limit':
      return { status: sig !== null ? statusForSignal(sig) : STATUS.other, message: null, signal: sig ?? 9 };
    case 'runtime_error':
      if (sig !== null) return { status: statusForSignal(sig), message: `Caught fatal signal ${sig}`, signal: sig };
      return { status: STATUS.nzec, message: `Exited with error status ${phase.exitCode ?? 1}`, signal: null };
    case 'internal_error':
    default: {
      const err = phase.error ?? 'the sandbox failed';
      const exec = /exec format error|ENOEXEC/i.test(err);
      return { status: exec ? STATUS.execFormatError : STATUS.internalError, message: err, signal: sig };
    }
  }
}

/** What Judge0 would report for `result`. */
export function judge0Outcome(result: RunResult, limits: OutcomeLimits = {}): Judge0Outcome {
  if (result.status === 'queued') return pending(STATUS.inQueue);
  if (result.status === 'running') return pending(STATUS.processing);
  const compileOutput = compileOutputOf(result.compile);
  if (result.status === 'failed' || result.status === 'cancelled') {
    const why = result.error ? `${result.error.code}: ${result.error.message}` : result.status;
    return { ...pending(STATUS.internalError), compileOutput, message: result.status === 'cancelled' ? `cancelled (${why})` : why };
  }
  if (result.verdict === 'compile_error' || (result.compile && !result.run && !result.tests?.length)) {
    const c = result.compile;
    return {
      ...pending(STATUS.compilationError),
      compileOutput,
      time: judge0Seconds(c?.cpuMs), wallTime: judge0Seconds(c?.wallMs), memoryKb: c ? Math.round(c.memoryKb) : null,
      exitCode: c?.exitCode ?? null, exitSignal: signalNumber(c?.signal),
    };
  }
  const phase = result.run ?? result.tests?.at(-1) ?? null;
  if (!phase) {
    return { ...pending(STATUS.internalError), compileOutput, message: 'the run produced no result' };
  }
  const { status, message, signal } = statusOfPhase(result.verdict, phase);
  let msg = message;
  if (status === STATUS.sigxfsz && result.verdict === 'output_limit') {
    msg = `Output limit exceeded${limits.outputBytes ? `: a stream passed ${limits.outputBytes} bytes` : ''} (Corral output_limit)`;
  } else if (result.verdict === 'memory_limit' || phase.status === 'memory_limit') {
    msg = `Memory limit exceeded${limits.memoryLimitKb ? `: peak ${Math.round(phase.memoryKb)} KB, limit ${limits.memoryLimitKb} KB` : ''} (Corral memory_limit)`;
  }
  return {
    status,
    stdout: nonEmpty(phaseBytes(phase, 'stdout')),
    stderr: nonEmpty(phaseBytes(phase, 'stderr')),
    compileOutput,
    message: msg,
    time: judge0Seconds(phase.cpuMs),
    wallTime: judge0Seconds(phase.wallMs),
    memoryKb: Math.round(phase.memoryKb),
    exitCode: signal !== null && phase.exitCode === null ? 0 : phase.exitCode ?? 0,
    exitSignal: signal,
  };
}
