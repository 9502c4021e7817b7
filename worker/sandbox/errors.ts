// Failures of the sandbox itself, as the native library reports them: a code, the errno of the
// call that failed, the step it failed in and the operation within it, and a message for people
// (native/include/corral.h, struct corral_error). Callers switch on `code` and `step`, never on
// the message. The program failing (exit code, signal, limits) is not an error: it is an outcome.

/** enum corral_error_code, by number. */
const CODES = ['none', 'spec', 'host', 'cgroup', 'container', 'timeout', 'used', 'file', 'not_found'] as const;

export type SandboxErrorCode =
  /** The spec or job is invalid: the same call always fails. */
  | 'spec'
  /** A host resource or call failed (memory, descriptors, processes). */
  | 'host'
  /** Creating, limiting, joining or removing the run's cgroup. */
  | 'cgroup'
  /** A step of building the container (namespaces, ids, mounts, hardening). */
  | 'container'
  /** The container was not built within the setup timeout. */
  | 'timeout'
  /** The container was already given its one job. */
  | 'used'
  /** A file or volume operation on the host failed. */
  | 'file'
  /** The file is absent, not a regular file, or behind a symlink. */
  | 'not_found'
  /** The native library is missing or was built for another ABI: nothing can run on this host. */
  | 'library'
  /** The caller aborted it before anything ran. */
  | 'cancelled';

/** The native error struct as koffi decodes it. */
export interface NativeError {
  code: number;
  errnum: number;
  step: string;
  op: string;
  message: string;
}

export class SandboxError extends Error {
  readonly code: SandboxErrorCode;
  /** errno of the call that failed, 0 if none. */
  readonly errno: number;
  /** The step of building or running the container ("cgroup", "mount-plan", "setresuid"…), or "". */
  readonly step: string;
  /** The operation within the step where there are several ("mount", "bind", "pivot_root"…), or "". */
  readonly op: string;

  constructor(code: SandboxErrorCode, message: string, where: { errno?: number; step?: string; op?: string } = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SandboxError';
    this.code = code;
    this.errno = where.errno ?? 0;
    this.step = where.step ?? '';
    this.op = where.op ?? '';
  }

  /** From the native struct; `fallback` when the library left the message empty. */
  static fromNative(e: NativeError, fallback = 'the sandbox failed'): SandboxError {
    const code = CODES[e.code] ?? 'host';
    return new SandboxError(code === 'none' ? 'host' : code, e.message || fallback, { errno: e.errnum, step: e.step, op: e.op });
  }

  /**
   * Whether the same call may succeed if made again: a host resource that was short, a cgroup or
   * container step that raced with the kernel (a cold container's mount plan failing once in
   * several thousand under load), a setup that timed out on a loaded host. A bad spec, a used
   * container, a missing library or a file problem repeat.
   */
  get retriable(): boolean {
    return this.code === 'host' || this.code === 'cgroup' || this.code === 'container' || this.code === 'timeout';
  }

  /** The failure happened in the container's mount plan, before any of the job ran. */
  get inMountPlan(): boolean {
    return this.code === 'container' && this.step === 'mount-plan';
  }

  toJSON(): { code: SandboxErrorCode; errno: number; step: string; op: string; message: string } {
    return { code: this.code, errno: this.errno, step: this.step, op: this.op, message: this.message };
  }
}

/** A native error struct that says nothing went wrong. */
export function isNoError(e: NativeError | undefined): boolean {
  return !e || (e.code === 0 && !e.message);
}
