// The native outcome → a SandboxOutcome (its C buffers copied, then freed), and the outcome of a
// run that never reached the launcher's dispatch.
import { constants } from 'node:os';
import { SandboxError, isNoError } from './errors.ts';
import { loadNative, type NativeOutcome } from './native.ts';
import type { SandboxOutcome, SandboxStatus } from './types.ts';

const STATUS: SandboxStatus[] = ['ok', 'runtime_error', 'time_limit', 'memory_limit', 'output_limit', 'internal_error', 'cancelled'];
const LIMIT = [undefined, 'cpu', 'wall', 'memory', 'output'] as const;
// First name wins: SIGABRT rather than its alias SIGIOT.
const SIGNAL_NAMES = new Map<number, string>();
for (const [name, num] of Object.entries(constants.signals)) if (!SIGNAL_NAMES.has(num)) SIGNAL_NAMES.set(num, name);

/**
 * Copies the native outcome (and frees its buffers). Each stream's C buffer is freed right after
 * its copy, so at most one stream is held twice (at the output cap: 3 caps at the peak, not 4).
 */
export function toOutcome(o: NativeOutcome): SandboxOutcome {
  const native = loadNative();
  const stdout = native.view(o.stdout_buf, Number(o.stdout_len));
  native.free(o.stdout_buf);
  const stderr = native.view(o.stderr_buf, Number(o.stderr_len));
  native.free(o.stderr_buf);
  const ms = (us: number) => Math.round(Number(us) / 10) / 100;
  const status = STATUS[o.status] ?? 'internal_error';
  const outcome: SandboxOutcome = {
    status,
    exitCode: o.exited ? o.exit_code : null,
    signal: o.signal ? (SIGNAL_NAMES.get(o.signal) ?? `SIG${o.signal}`) : null,
    cpuMs: ms(o.cpu_us),
    wallMs: ms(o.wall_us),
    memoryKb: Math.round(Number(o.memory_peak_bytes) / 1024),
    stdout,
    stderr,
    stdoutTruncated: o.stdout_truncated !== 0,
    stderrTruncated: o.stderr_truncated !== 0,
    timings: {
      cgroupMs: ms(o.t_cgroup_us),
      namespacesMs: ms(o.t_namespaces_us),
      mountsMs: ms(o.t_mounts_us),
      execMs: ms(o.t_exec_us),
      teardownMs: ms(o.t_teardown_us),
      totalMs: ms(o.t_total_us),
    },
  };
  const limit = LIMIT[o.limit];
  if (limit) outcome.limit = limit;
  if (!isNoError(o.error)) {
    if (o.error.message) outcome.error = o.error.message;
    if (status === 'internal_error') outcome.failure = SandboxError.fromNative(o.error);
  }
  return outcome;
}

/** The outcome of a run that failed (or was cancelled) before its program could run. */
export function failedOutcome(status: 'internal_error' | 'cancelled', failure: SandboxError, totalMs: number): SandboxOutcome {
  return {
    status, exitCode: null, signal: null, cpuMs: 0, wallMs: 0, memoryKb: 0,
    stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), stdoutTruncated: false, stderrTruncated: false, error: failure.message,
    ...(status === 'internal_error' ? { failure } : {}),
    timings: { cgroupMs: 0, namespacesMs: 0, mountsMs: 0, execMs: 0, teardownMs: 0, totalMs },
  };
}

/** A thrown value as a SandboxError (anything else is a host failure with its message). */
export function asSandboxError(err: unknown): SandboxError {
  if (err instanceof SandboxError) return err;
  return new SandboxError('host', err instanceof Error ? err.message : String(err), {}, { cause: err });
}
