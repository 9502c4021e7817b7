// The sandbox core's public surface. See docs/sandbox.md for the container model.
export { runInSandbox, DEFAULT_LIMITS, DEFAULT_PATH } from './run.ts';
export { createVolume, collectFiles, Volume, type CollectCaps, type CollectedFile } from './volume.ts';
export { SandboxHost, defaultSandboxHost, setDefaultSandboxHost, SANDBOX_ID, type SandboxHostOptions } from './host.ts';
export { WarmPool, type WarmPoolOptions, type WarmPoolStats } from './pool.ts';
export { WarmVolumes, type WarmVolumesOptions, type WarmVolumesStats } from './volume-pool.ts';
export type { SandboxSpec, SandboxOutcome, SandboxLimits, SandboxStatus, SandboxTimings } from './types.ts';
