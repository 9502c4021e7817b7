// Piston v2's interactive WebSocket protocol (/api/v2/connect), the pure parts: its close codes
// and reasons, its signal names, how a client message is read, and how a stage's end is reported
// (Piston's `exit` message, with the status/message vocabulary of its /execute response).
import type { StageExit } from '../../../core/interactive-protocol.ts';
import { pistonStageStatus, type PistonStatus } from './stage-status.ts';

/** Piston's close codes, with Piston's reason texts. */
export const CLOSE = {
  alreadyInitialized: { code: 4000, reason: 'Already Initialized' },
  initializationTimeout: { code: 4001, reason: 'Initialization Timeout' },
  notifiedError: { code: 4002, reason: 'Notified Error' },
  notYetInitialized: { code: 4003, reason: 'Not yet initialized' },
  canOnlyWriteToStdin: { code: 4004, reason: 'Can only write to stdin' },
  invalidSignal: { code: 4005, reason: 'Invalid signal' },
  jobCompleted: { code: 4999, reason: 'Job Completed' },
} as const;
export type Close = (typeof CLOSE)[keyof typeof CLOSE];

/** The signal names Piston accepts (its globals.SIGNALS); SIGEMT, SIGINFO and SIGLOST do not exist on Linux and reach nobody. */
export const PISTON_SIGNALS: readonly string[] = [
  'SIGABRT', 'SIGALRM', 'SIGBUS', 'SIGCHLD', 'SIGCLD', 'SIGCONT', 'SIGEMT', 'SIGFPE', 'SIGHUP', 'SIGILL', 'SIGINFO', 'SIGINT',
  'SIGIO', 'SIGIOT', 'SIGKILL', 'SIGLOST', 'SIGPIPE', 'SIGPOLL', 'SIGPROF', 'SIGPWR', 'SIGQUIT', 'SIGSEGV', 'SIGSTKFLT',
  'SIGSTOP', 'SIGTSTP', 'SIGSYS', 'SIGTERM', 'SIGTRAP', 'SIGTTIN', 'SIGTTOU', 'SIGUNUSED', 'SIGURG', 'SIGUSR1', 'SIGUSR2',
  'SIGVTALRM', 'SIGXCPU', 'SIGXFSZ', 'SIGWINCH',
];

/** A client message, read as Piston reads it: JSON with a `type`; unknown types are ignored. */
export type ClientMessage =
  | { type: 'init'; body: Record<string, unknown> }
  | { type: 'data'; stream: unknown; data: unknown }
  | { type: 'signal'; signal: unknown }
  /** Corral's addition: close the program's stdin (Piston has no way to send EOF). */
  | { type: 'eof' }
  | { type: 'ignored' }
  | { type: 'invalid'; message: string };

export function readClientMessage(text: string): ClientMessage {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch (err) {
    return { type: 'invalid', message: `the message is not valid JSON: ${(err as Error).message}` };
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
    return { type: 'invalid', message: 'a message must be a JSON object with a "type"' };
  }
  const m = msg as Record<string, unknown>;
  switch (m.type) {
    case 'init': return { type: 'init', body: m };
    case 'data': return { type: 'data', stream: m.stream, data: m.data };
    case 'signal': return { type: 'signal', signal: m.signal };
    case 'eof': return { type: 'eof' };
    default: return { type: 'ignored' };
  }
}

export interface PistonExitMessage {
  type: 'exit';
  stage: 'compile' | 'run';
  code: number | null;
  signal: string | null;
  /** Corral's additions, as in /execute's stages: Piston's status letters and message, usage. */
  status: PistonStatus;
  message: string | null;
  cpu_time: number;
  wall_time: number;
  memory: number;
}

/** A stage's end as Piston's `exit` message; `outputLimitBytes` is the stage's streamed-output cap. */
export function pistonExit(e: StageExit, outputLimitBytes: number): PistonExitMessage {
  const stderrCut = e.stderrTruncated && !e.stdoutTruncated;
  const { status, message, signal, code } = pistonStageStatus({ ...e, stderrCut },
    `: output limit reached (${outputLimitBytes} bytes of stdout and stderr together per stage)`);
  return {
    type: 'exit', stage: e.stage, code, signal, status, message,
    cpu_time: Math.round(e.cpuMs), wall_time: Math.round(e.wallMs), memory: Math.round(e.memoryKb * 1024),
  };
}
