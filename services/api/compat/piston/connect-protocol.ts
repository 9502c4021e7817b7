// Piston v2's interactive WebSocket protocol (/api/v2/connect), the pure parts: its close codes
// and reasons, its signal names, how a client message is read, and how a stage's end is reported
// (Piston's `exit` message, with the status/message vocabulary of its /execute response).
import type { StageExit } from '../../../core/interactive-protocol.ts';

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

const SIGNAL_NUMBER: Readonly<Record<string, number>> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10,
  SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19,
  SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28,
  SIGIO: 29, SIGPWR: 30, SIGSYS: 31,
};

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
  status: 'RE' | 'SG' | 'TO' | 'OL' | 'EL' | null;
  message: string | null;
  cpu_time: number;
  wall_time: number;
  memory: number;
}

/** A stage's end as Piston's `exit` message; `outputLimitBytes` is the stage's streamed-output cap. */
export function pistonExit(e: StageExit, outputLimitBytes: number): PistonExitMessage {
  let status: PistonExitMessage['status'] = null;
  let message: string | null = null;
  let signal = e.signal;
  let code = e.exitCode;
  switch (e.status) {
    case 'ok':
      break;
    case 'runtime_error':
      if (signal) {
        status = 'SG';
        message = `Caught fatal signal ${SIGNAL_NUMBER[signal] ?? signal}`;
      } else {
        status = 'RE';
        message = `Exited with error status ${code ?? 1}`;
      }
      break;
    case 'time_limit':
      status = 'TO';
      message = e.limit === 'wall' ? 'Time limit exceeded (wall clock)' : 'Time limit exceeded';
      signal = 'SIGKILL';
      break;
    case 'output_limit': {
      const stderr = e.stderrTruncated && !e.stdoutTruncated;
      status = stderr ? 'EL' : 'OL';
      message = `${stderr ? 'stderr' : 'stdout'} length exceeded: output limit reached (${outputLimitBytes} bytes of stdout and stderr together per stage)`;
      signal = 'SIGKILL';
      break;
    }
    case 'memory_limit':
      status = 'SG';
      signal = signal ?? 'SIGKILL';
      message = `Memory limit exceeded (peak ${Math.round(e.memoryKb * 1024)} bytes)`;
      break;
  }
  if (signal) code = null;
  return {
    type: 'exit', stage: e.stage, code, signal, status, message,
    cpu_time: Math.round(e.cpuMs), wall_time: Math.round(e.wallMs), memory: Math.round(e.memoryKb * 1024),
  };
}
