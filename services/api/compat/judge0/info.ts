// Bodies of Judge0's informational endpoints: /about, /version, /config_info, /system_info.
import { arch, cpus, totalmem } from 'node:os';
import type { Judge0Options } from './options.ts';

/** The Judge0 CE version whose API this layer reproduces. */
export const JUDGE0_VERSION = '1.13.1';

export function aboutBody(o: Judge0Options) {
  return {
    version: JUDGE0_VERSION,
    homepage: null,
    source_code: null,
    maintainer: `Corral ${o.corralVersion} (Judge0 CE ${JUDGE0_VERSION} compatible API)`,
  };
}

/** Judge0's /config_info keys with this server's effective values. */
export function configInfoBody(o: Judge0Options) {
  return {
    maintenance_mode: false,
    enable_wait_result: o.enableWaitResult,
    enable_compiler_options: o.enableCompilerOptions,
    allowed_languages_for_compile_options: [],
    enable_command_line_arguments: o.enableCommandLineArguments,
    enable_submission_delete: o.enableSubmissionDelete,
    enable_callbacks: o.enableCallbacks,
    callbacks_max_tries: o.callbacksMaxTries,
    callbacks_timeout: o.callbacksTimeoutMs / 1000,
    enable_additional_files: o.enableAdditionalFiles,
    max_queue_size: o.maxQueueSize,
    cpu_time_limit: o.cpuTimeLimit,
    max_cpu_time_limit: o.maxCpuTimeLimit,
    cpu_extra_time: o.cpuExtraTime,
    max_cpu_extra_time: o.maxCpuExtraTime,
    wall_time_limit: o.wallTimeLimit,
    max_wall_time_limit: o.maxWallTimeLimit,
    memory_limit: o.memoryLimitKb,
    max_memory_limit: o.maxMemoryLimitKb,
    stack_limit: o.stackLimitKb,
    max_stack_limit: o.maxStackLimitKb,
    max_processes_and_or_threads: o.maxProcessesAndOrThreads,
    max_max_processes_and_or_threads: o.maxMaxProcessesAndOrThreads,
    enable_per_process_and_thread_time_limit: false,
    allow_enable_per_process_and_thread_time_limit: o.allowEnablePerProcessAndThreadTimeLimit,
    enable_per_process_and_thread_memory_limit: false,
    allow_enable_per_process_and_thread_memory_limit: o.allowEnablePerProcessAndThreadMemoryLimit,
    max_file_size: o.maxFileSizeKb,
    max_max_file_size: o.maxMaxFileSizeKb,
    number_of_runs: o.numberOfRuns,
    max_number_of_runs: o.maxNumberOfRuns,
    redirect_stderr_to_stdout: false,
    max_extract_size: o.maxExtractSizeKb,
    enable_batched_submissions: o.enableBatchedSubmissions,
    max_submission_batch_size: o.maxSubmissionBatchSize,
    submission_cache_duration: o.submissionCacheDuration,
    use_docs_as_homepage: false,
    allow_enable_network: o.allowEnableNetwork,
    enable_network: false,
  };
}

/** lscpu-style facts, as Judge0's /system_info reports them. */
export function systemInfoBody() {
  const c = cpus();
  return {
    Architecture: arch(),
    'CPU(s)': String(c.length),
    'Model name': c[0]?.model ?? 'unknown',
    Mem: `${Math.round(totalmem() / 1024 / 1024)}Mi`,
  };
}
