// One program in one fresh container, start to outcome: a warm container from the host's pool
// when there is one for its image (built ahead, used once), else one built now (the cold path);
// the job is dispatched on a libuv thread-pool thread through koffi, so the event loop never
// blocks, and the container is destroyed in the background after the outcome is known.
import type { HostContext } from './context.ts';
import { SandboxError } from './errors.ts';
import { loadNative, type NativeContainer, type NativeOutcome, type NativeSpec } from './native.ts';
import { asSandboxError, failedOutcome, toOutcome } from './outcome.ts';
import { nativeSpecFor } from './spec.ts';
import type { SandboxOutcome, SandboxSpec } from './types.ts';

export type Acquired = { container: NativeContainer; pooled: boolean };

/** A warm container from the host's pool (or the next one its pool is building), else one
 * prepared now; or why none could be built. */
export async function acquire(spec: NativeSpec, imageName: string | undefined, host: HostContext): Promise<Acquired | { failure: SandboxError }> {
  // Fail closed: while the truthful /proc is down, no container is built (none would show the
  // host's values; its binds would fail or read a dead mount). A retry can succeed.
  const down = host.notReady();
  if (down) return { failure: new SandboxError('host', down, { step: 'proc-view' }) };
  const warm = host.pool?.take(spec, imageName) ?? await host.pool?.awaitBuilding(spec);
  if (warm) return { container: warm, pooled: true };
  try {
    return { container: await loadNative().prepareNow(spec), pooled: false };
  } catch (err) {
    return { failure: asSandboxError(err) };
  }
}

/**
 * Runs the job in the container `got` (used once): a cancel on `signal` kills it, then the
 * container is destroyed in the background and its run time feeds the pool's sizing. `onActive`
 * sees the container while the job runs (for stop and signal), then undefined.
 */
export async function dispatchJob(got: Acquired, nativeSpec: NativeSpec, signal: AbortSignal | undefined,
  host: HostContext, onActive?: (container: NativeContainer | undefined) => void): Promise<SandboxOutcome> {
  const native = loadNative();
  const { container: prepared, pooled } = got;
  const cancel = () => native.cancel(prepared);
  signal?.addEventListener('abort', cancel, { once: true });
  if (signal?.aborted) cancel(); // aborted while the container was being prepared
  onActive?.(prepared);
  const out: Partial<NativeOutcome> = {};
  try {
    await native.dispatch(prepared, nativeSpec, out);
  } finally {
    onActive?.(undefined);
    signal?.removeEventListener('abort', cancel);
    host.discard(prepared);
  }
  const outcome = toOutcome(out as NativeOutcome);
  if (pooled) outcome.timings.pooled = true;
  host.pool?.recordRun(nativeSpec, outcome.wallMs);
  return outcome;
}

/** A stopwatch in ms with two decimals, from now. */
export function stopwatch(): () => number {
  const started = performance.now();
  return () => Math.round((performance.now() - started) * 100) / 100;
}

async function runOnce(spec: SandboxSpec, host: HostContext, elapsed: () => number): Promise<SandboxOutcome> {
  const nativeSpec = nativeSpecFor(spec, host); // a bad spec throws SandboxError('spec')
  if (spec.signal?.aborted) return failedOutcome('cancelled', new SandboxError('cancelled', 'cancelled before it started'), 0);
  const got = await acquire(nativeSpec, spec.imageName, host);
  if ('failure' in got) return failedOutcome('internal_error', got.failure, elapsed());
  return dispatchJob(got, nativeSpec, spec.signal, host);
}

/**
 * Runs one program in a fresh container (SandboxHost.run). A cold container whose mount plan
 * failed — before any of the job ran — is built once more. Rejects only for an invalid spec.
 */
export async function runOne(spec: SandboxSpec, host: HostContext): Promise<SandboxOutcome> {
  const elapsed = stopwatch();
  let outcome = await runOnce(spec, host, elapsed);
  if (!outcome.timings.pooled && outcome.failure?.inMountPlan && !spec.signal?.aborted) {
    // Seen about once in several thousand cold containers under load, never reproduced on
    // demand (mkdir of /proc in the fresh overlay: ENOENT or EINVAL); most likely the init's
    // EEXIST read back as the building thread's errno, gone since the container's side makes
    // raw syscalls (native/src/rawsys.h). Kept as a safety net: the container is discarded
    // before the program process exists, so one more container, built from scratch, is safe.
    host.noteSetupRetry();
    outcome = await runOnce(spec, host, elapsed);
    outcome.timings.setupRetried = true;
  }
  outcome.timings.totalMs = elapsed();
  return outcome;
}
