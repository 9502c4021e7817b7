// RunResult → Piston v2's /execute response: {language, version, run, compile?}, each stage with
// stdout, stderr, output, code, signal, message, status (Piston's isolate letters: RE, SG, TO,
// OL, EL, XX; null for success), cpu_time and wall_time (ms) and memory (bytes). A compile
// failure is reported as Piston does: compile stage with a non-zero code, and run = compile.
import type { PhaseResult, RunResult } from '../../../core/schemas.ts';
import { phaseBytes } from '../common/phase-output.ts';
import type { PistonRuntime } from './runtimes.ts';
import { pistonStageStatus, type PistonStatus } from './stage-status.ts';

export interface PistonStage {
  stdout: string;
  stderr: string;
  output: string;
  code: number | null;
  signal: string | null;
  message: string | null;
  status: PistonStatus;
  cpu_time: number | null;
  wall_time: number | null;
  memory: number | null;
}

export interface PistonExecuteResponse {
  language: string;
  version: string;
  run: PistonStage;
  compile?: PistonStage;
}

/** One Corral phase as a Piston stage. */
export function pistonStage(phase: PhaseResult): PistonStage {
  const stdout = phaseBytes(phase, 'stdout').toString('utf8');
  const stderr = phaseBytes(phase, 'stderr').toString('utf8');
  // Piston names the stream that went over; Corral's phase says that one was cut.
  const stderrCut = phase.truncated && Buffer.byteLength(stderr) > Buffer.byteLength(stdout);
  const { status, message, signal, code } = pistonStageStatus({ ...phase, stderrCut });
  return {
    stdout,
    stderr,
    output: stdout + stderr,
    code,
    signal,
    message,
    status,
    cpu_time: Math.round(phase.cpuMs),
    wall_time: Math.round(phase.wallMs),
    memory: Math.round(phase.memoryKb * 1024),
  };
}

function internalStage(message: string): PistonStage {
  return { stdout: '', stderr: '', output: '', code: null, signal: null, message, status: 'XX', cpu_time: null, wall_time: null, memory: null };
}

/** A finished RunResult as Piston's response. */
export function pistonResponse(result: RunResult, runtime: Pick<PistonRuntime, 'language' | 'version'>): PistonExecuteResponse {
  const out: PistonExecuteResponse = { language: runtime.language, version: runtime.version, run: internalStage('') };
  if (result.compile) out.compile = pistonStage(result.compile);
  if (result.status === 'failed' || result.status === 'cancelled') {
    const why = result.error ? `${result.error.code}: ${result.error.message}` : result.status;
    out.run = internalStage(why);
    return out;
  }
  if (out.compile && (result.verdict === 'compile_error' || !result.run)) {
    // Piston: "Backward compatibility when the run stage is not started": run = compile.
    if (out.compile.code === 0 && out.compile.status === null) out.compile.code = 1;
    out.run = out.compile;
    return out;
  }
  out.run = result.run ? pistonStage(result.run) : internalStage('the run produced no result');
  return out;
}
