// The sandbox's public surface: everything outside worker/sandbox/ comes through here. A caller
// opens a SandboxHost and runs, streams, connects or holds programs through it; see docs/sandbox.md for
// the container model and docs/architecture.md for the rules this seam keeps (it knows nothing of
// jobs, faces or queues).
import { loadNative } from './native.ts';

export { SandboxHost, checkKernel, defaultCgroupParent, type SandboxHostOptions } from './host.ts';
export { procViewAvailable } from './proc-view.ts';
export { SANDBOX_ID } from './context.ts';
export { DEFAULT_LIMITS, DEFAULT_PATH } from './spec.ts';
export { SandboxError, type SandboxErrorCode } from './errors.ts';
export { collectFiles, Volume, type CollectCaps, type CollectedFile } from './volume.ts';
export { WarmPool, POOL_MAX_BUILDING, type WarmPoolOptions, type WarmPoolStats } from './pool.ts';
export { WarmVolumes, type WarmVolumesOptions, type WarmVolumesStats } from './volume-pool.ts';
export { TRANSCRIPT_ENTRY_COST_BYTES, type Transcript, type TranscriptEntry } from './relay.ts';
export { containerSteps, type ContainerSteps } from './steps.ts';
export type {
  ConnectOptions, ConnectedOutcome, HeldContainer, HeldProgramSpec, HoldSpec, SandboxLimits, SandboxOutcome, SandboxSpec, SandboxStatus, SandboxTimings, SandboxUsage, StreamingOptions, StreamingRun,
} from './types.ts';

/** Benchmark floor: the launcher's CLONE_VM spawn + execve + wait of `path`, without any isolation; resolves to the wait status. */
export function bareSpawn(path: string, argv0: string): Promise<number> {
  return loadNative().bareSpawn(path, argv0);
}
