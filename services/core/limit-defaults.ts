// Every per-run limit's default and maximum, in one place: the API's defaults and maxima
// (config.ts, overridable by CORRAL_RUN_*/CORRAL_COMPILE_* variables). The sandbox's own fallback
// for a spec that leaves a limit out (worker/sandbox/spec.ts DEFAULT_LIMITS) has the same values
// without importing them (the sandbox imports nothing above it); a test keeps the two equal.
// Units are in the names.

/** The per-run limit fields a request may set. */
export const LIMIT_FIELDS = [
  'cpuMs', 'wallMs', 'memoryMb', 'processes', 'outputBytes', 'diskMb', 'stackMb', 'fileSizeMb', 'extraCpuMs',
] as const;
export type LimitField = (typeof LIMIT_FIELDS)[number];
export type Limits = Record<LimitField, number>;

//                                            run default, run max, compile default, compile max
export const LIMIT_DEFAULTS: Readonly<Record<LimitField, readonly [number, number, number, number]>> = Object.freeze({
  cpuMs: [2_000, 30_000, 10_000, 60_000],
  wallMs: [5_000, 60_000, 20_000, 120_000],
  memoryMb: [256, 2_048, 512, 2_048],
  processes: [64, 256, 128, 256],
  outputBytes: [1_048_576, 16_777_216, 1_048_576, 16_777_216],
  diskMb: [64, 1_024, 256, 1_024],
  stackMb: [0, 1_024, 0, 1_024],
  fileSizeMb: [64, 1_024, 256, 1_024],
  extraCpuMs: [0, 5_000, 0, 5_000],
});
