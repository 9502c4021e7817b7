// Judge0 CE's status table (ids 1–14, exact descriptions) and the signal → runtime-error mapping
// Judge0 uses (Status.find_runtime_error_by_status_code): 11 SIGSEGV, 25 SIGXFSZ, 8 SIGFPE, 6 SIGABRT.

export interface Judge0Status {
  id: number;
  description: string;
}

export const STATUS = {
  inQueue: { id: 1, description: 'In Queue' },
  processing: { id: 2, description: 'Processing' },
  accepted: { id: 3, description: 'Accepted' },
  wrongAnswer: { id: 4, description: 'Wrong Answer' },
  timeLimit: { id: 5, description: 'Time Limit Exceeded' },
  compilationError: { id: 6, description: 'Compilation Error' },
  sigsegv: { id: 7, description: 'Runtime Error (SIGSEGV)' },
  sigxfsz: { id: 8, description: 'Runtime Error (SIGXFSZ)' },
  sigfpe: { id: 9, description: 'Runtime Error (SIGFPE)' },
  sigabrt: { id: 10, description: 'Runtime Error (SIGABRT)' },
  nzec: { id: 11, description: 'Runtime Error (NZEC)' },
  other: { id: 12, description: 'Runtime Error (Other)' },
  internalError: { id: 13, description: 'Internal Error' },
  execFormatError: { id: 14, description: 'Exec Format Error' },
} as const satisfies Record<string, Judge0Status>;

/** GET /statuses, in id order. */
export const ALL_STATUSES: readonly Judge0Status[] = Object.values(STATUS).sort((a, b) => a.id - b.id);

/** Linux (x86-64/arm64) signal numbers by name, as Judge0 reports `exit_signal`. */
export const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8,
  SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15,
  SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22,
  SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29,
  SIGPWR: 30, SIGSYS: 31,
};

/** A signal name ("SIGSEGV", "SEGV") or number as a number; null when unknown or absent. */
export function signalNumber(signal: string | number | null | undefined): number | null {
  if (signal === null || signal === undefined) return null;
  if (typeof signal === 'number') return Number.isInteger(signal) && signal > 0 ? signal : null;
  if (/^\d+$/.test(signal)) return Number(signal);
  const name = signal.toUpperCase().startsWith('SIG') ? signal.toUpperCase() : `SIG${signal.toUpperCase()}`;
  return SIGNAL_NUMBERS[name] ?? null;
}

/** Judge0's runtime-error status for a fatal signal number. */
export function statusForSignal(signal: number): Judge0Status {
  switch (signal) {
    case 11: return STATUS.sigsegv;
    case 25: return STATUS.sigxfsz;
    case 8: return STATUS.sigfpe;
    case 6: return STATUS.sigabrt;
    default: return STATUS.other;
  }
}
