// Options of the Judge0 compatibility API: Judge0 CE v1.13.1's defaults and maxima in Judge0's own
// units (seconds, KB), each maximum capped by Corral's configured run maximum so a request Judge0
// would accept is never refused later by the queue. Parsed once by one zod schema into a frozen
// object; `judge0Options(config)` derives the caps from Corral's Config.
import { z } from 'zod';
import type { Config } from '../../../core/config.ts';

const pos = () => z.number().positive();
const posInt = () => z.number().int().positive();

export const Judge0OptionsSchema = z.object({
  /** Path prefix the API is mounted at ('' = Judge0's root paths, so POST /submissions works as is). */
  prefix: z.string().regex(/^(\/[A-Za-z0-9._~-]+)*$/).default(''),
  /** Judge0 ENABLE_WAIT_RESULT: allow ?wait=true. */
  enableWaitResult: z.boolean().default(true),
  /** Longest ?wait=true hold, ms; past it the submission is answered In Queue/Processing. */
  maxWaitMs: posInt().default(60_000),
  enableCompilerOptions: z.boolean().default(true),
  enableCommandLineArguments: z.boolean().default(true),
  /** Judge0 ENABLE_SUBMISSION_DELETE (default false, as in Judge0). */
  enableSubmissionDelete: z.boolean().default(false),
  enableCallbacks: z.boolean().default(true),
  /** Shown by /config_info; callbacks are sent by the workers' queue (CORRAL_CALLBACK_ATTEMPTS). */
  callbacksMaxTries: posInt().default(3),
  /** Shown by /config_info (CORRAL_CALLBACK_TIMEOUT_MS). */
  callbacksTimeoutMs: posInt().default(5_000),
  enableAdditionalFiles: z.boolean().default(true),
  /** Judge0 MAX_EXTRACT_SIZE, KB: the most bytes additional_files may unpack to. */
  maxExtractSizeKb: posInt().default(10_240),
  /** Most entries in an additional_files zip. */
  maxExtractFiles: posInt().default(100),
  enableBatchedSubmissions: z.boolean().default(true),
  maxSubmissionBatchSize: posInt().default(20),
  /**
   * Judge0 ALLOW_ENABLE_NETWORK. Default false: Corral's sandboxes have no network, and Judge0's
   * CVE-2024-29021 came from letting any client turn it on. When false, enable_network=true → 422.
   */
  allowEnableNetwork: z.boolean().default(false),
  allowEnablePerProcessAndThreadTimeLimit: z.boolean().default(false),
  allowEnablePerProcessAndThreadMemoryLimit: z.boolean().default(false),
  cpuTimeLimit: pos().default(5), maxCpuTimeLimit: pos().default(15),
  cpuExtraTime: pos().default(1), maxCpuExtraTime: pos().default(5),
  wallTimeLimit: pos().default(10), maxWallTimeLimit: pos().default(20),
  memoryLimitKb: posInt().default(128_000), maxMemoryLimitKb: posInt().default(512_000),
  stackLimitKb: posInt().default(64_000), maxStackLimitKb: posInt().default(128_000),
  maxProcessesAndOrThreads: posInt().default(60), maxMaxProcessesAndOrThreads: posInt().default(120),
  maxFileSizeKb: posInt().default(1_024), maxMaxFileSizeKb: posInt().default(4_096),
  numberOfRuns: posInt().default(1), maxNumberOfRuns: posInt().default(20),
  /** Cap of the per-stream output limit derived from max_file_size (Corral's run maximum). */
  maxOutputBytes: posInt().default(16 * 1024 * 1024),
  /**
   * What Judge0's zeros ("no limit" to isolate) run with: cpu_time_limit 0 → this CPU time, ms
   * (default: Corral's run maximum, else max_cpu_time_limit); stack_limit 0 → this stack, MiB (0 =
   * unlimited, Corral's own meaning; default: Corral's run maximum); max_file_size 0 → this file
   * size, MiB (default: Corral's run maximum, else max_max_file_size).
   */
  unlimitedCpuMs: posInt().optional(),
  unlimitedStackMb: z.number().int().nonnegative().optional(),
  unlimitedFileSizeMb: posInt().optional(),
  /** Judge0 MAX_QUEUE_SIZE as shown by /config_info (Corral's queue depth enforces it). */
  maxQueueSize: posInt().default(100),
  /** Judge0 SUBMISSION_CACHE_DURATION, seconds (informational). */
  submissionCacheDuration: pos().default(1),
  /** Submissions remembered by this API process for echoing their request fields (?fields=). */
  rememberedSubmissions: posInt().default(10_000),
  /** Corral API keys accepted in X-Auth-Token (empty: no authentication, as Judge0's default). */
  authTokens: z.array(z.string().min(1)).default([]),
  /** Keys accepted in X-Auth-User for the admin endpoints (empty: admin endpoints open). */
  authUsers: z.array(z.string().min(1)).default([]),
  /** Corral's version string reported by /about and in language names. */
  corralVersion: z.string().default('0.1.0'),
}).strict();

type Unlimited = 'unlimitedCpuMs' | 'unlimitedStackMb' | 'unlimitedFileSizeMb';
export type Judge0Options = Readonly<Omit<z.output<typeof Judge0OptionsSchema>, Unlimited> & Required<Pick<z.output<typeof Judge0OptionsSchema>, Unlimited>>>;
export type Judge0OptionsInput = z.input<typeof Judge0OptionsSchema>;

/** Parses options; with `config`, caps every Judge0 maximum at Corral's run maximum. */
export function parseJudge0Options(input: Judge0OptionsInput = {}, config?: Pick<Config, 'limits' | 'queueMaxDepth' | 'batchMax' | 'maxWaitMs' | 'apiKeys' | 'filesMax'> & Partial<Pick<Config, 'callback'>>): Judge0Options {
  const parsed = Judge0OptionsSchema.parse({
    ...(config ? { maxWaitMs: config.maxWaitMs, maxQueueSize: config.queueMaxDepth, authTokens: [...config.apiKeys] } : {}),
    ...(config?.callback ? { callbacksMaxTries: config.callback.attempts, callbacksTimeoutMs: config.callback.timeoutMs } : {}),
    ...input,
  });
  const o = {
    ...parsed,
    unlimitedCpuMs: parsed.unlimitedCpuMs ?? config?.limits.run.max.cpuMs ?? Math.round(parsed.maxCpuTimeLimit * 1000),
    unlimitedStackMb: parsed.unlimitedStackMb ?? config?.limits.run.max.stackMb ?? 0,
    unlimitedFileSizeMb: parsed.unlimitedFileSizeMb ?? config?.limits.run.max.fileSizeMb ?? Math.ceil(parsed.maxMaxFileSizeKb / 1024),
  };
  if (config) {
    const max = config.limits.run.max;
    o.maxCpuTimeLimit = Math.min(o.maxCpuTimeLimit, max.cpuMs / 1000);
    o.maxCpuExtraTime = Math.min(o.maxCpuExtraTime, max.extraCpuMs / 1000 || o.maxCpuExtraTime);
    o.maxWallTimeLimit = Math.min(o.maxWallTimeLimit, max.wallMs / 1000);
    o.maxMemoryLimitKb = Math.min(o.maxMemoryLimitKb, max.memoryMb * 1024);
    o.maxStackLimitKb = max.stackMb === 0 ? o.maxStackLimitKb : Math.min(o.maxStackLimitKb, max.stackMb * 1024);
    o.maxMaxProcessesAndOrThreads = Math.min(o.maxMaxProcessesAndOrThreads, max.processes);
    o.maxMaxFileSizeKb = Math.min(o.maxMaxFileSizeKb, max.fileSizeMb * 1024);
    o.maxOutputBytes = Math.min(o.maxOutputBytes, max.outputBytes);
    o.maxSubmissionBatchSize = Math.min(o.maxSubmissionBatchSize, config.batchMax);
    // The zip's files travel beside the source file in one request of at most filesMax files.
    o.maxExtractFiles = Math.max(1, Math.min(o.maxExtractFiles, config.filesMax - 1));
    o.cpuTimeLimit = Math.min(o.cpuTimeLimit, o.maxCpuTimeLimit);
    o.cpuExtraTime = Math.min(o.cpuExtraTime, o.maxCpuExtraTime);
    o.wallTimeLimit = Math.min(o.wallTimeLimit, o.maxWallTimeLimit);
    o.memoryLimitKb = Math.min(o.memoryLimitKb, o.maxMemoryLimitKb);
    o.stackLimitKb = Math.min(o.stackLimitKb, o.maxStackLimitKb);
    o.maxProcessesAndOrThreads = Math.min(o.maxProcessesAndOrThreads, o.maxMaxProcessesAndOrThreads);
    o.maxFileSizeKb = Math.min(o.maxFileSizeKb, o.maxMaxFileSizeKb);
  }
  return Object.freeze(o);
}
