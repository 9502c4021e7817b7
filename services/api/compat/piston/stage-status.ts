// How Piston reports the end of a stage: its isolate status letters (RE, SG, TO, OL, EL, XX;
// null for success), its message texts, and the signal/code pair (a killed stage has no code).
// Shared by the /execute response and the WebSocket's `exit` message.
import { constants } from 'node:os';

export type PistonStatus = 'RE' | 'SG' | 'TO' | 'OL' | 'EL' | 'XX' | null;

/** A stage's end in Corral's terms (a phase result, or a streamed stage's exit). */
export interface StageEnd {
  status: string;
  limit?: string | null | undefined;
  signal: string | null;
  exitCode: number | null;
  memoryKb: number;
  error?: string | null | undefined;
  /** The output limit cut stderr rather than stdout. */
  stderrCut: boolean;
}

export interface PistonStageStatus {
  status: PistonStatus;
  message: string | null;
  signal: string | null;
  code: number | null;
}

const signalNumber = (name: string): number | string => (constants.signals as Record<string, number>)[name] ?? name;

/** `outputLimitDetail` is appended to Piston's "… length exceeded" (e.g. the cap that was hit). */
export function pistonStageStatus(end: StageEnd, outputLimitDetail = ''): PistonStageStatus {
  let status: PistonStatus = null;
  let message: string | null = null;
  let signal = end.signal;
  switch (end.status) {
    case 'ok':
      break;
    case 'time_limit':
      status = 'TO';
      message = end.limit === 'wall' ? 'Time limit exceeded (wall clock)' : 'Time limit exceeded';
      signal = 'SIGKILL';
      break;
    case 'output_limit':
      status = end.stderrCut ? 'EL' : 'OL';
      message = `${end.stderrCut ? 'stderr' : 'stdout'} length exceeded${outputLimitDetail}`;
      signal = 'SIGKILL';
      break;
    case 'memory_limit':
      status = 'SG';
      signal = signal ?? 'SIGKILL';
      message = `Memory limit exceeded (peak ${Math.round(end.memoryKb * 1024)} bytes)`;
      break;
    case 'runtime_error':
      if (signal) {
        status = 'SG';
        message = `Caught fatal signal ${signalNumber(signal)}`;
      } else {
        status = 'RE';
        message = `Exited with error status ${end.exitCode ?? 1}`;
      }
      break;
    default:
      status = 'XX';
      message = end.error ?? 'internal error';
      break;
  }
  return { status, message, signal, code: signal ? null : end.exitCode };
}
