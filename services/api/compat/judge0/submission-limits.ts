// A submission's numeric limits: Judge0 CE 1.13.1's validation rules (app/models/submission.rb,
// `validates ... numericality`), with its minimums, zero values and Rails' messages, and their
// translation into Corral's limits.
//
// What 0 means comes from how Judge0 runs isolate (isolate_job.rb passes `-t`, `-x`, `-k`, `-f`
// as given) and how isolate reads them (isolate.c): `-t 0` is no CPU limit, `-x 0` no extra time,
// `-k 0` an unlimited stack (RLIM_INFINITY) and `-f 0` no file-size limit. Corral always bounds a
// run, so "no limit" becomes the most Corral's operator allows (see Judge0Options.unlimited*).
import type { RunRequest } from '../../../core/schemas.ts';
import { numeric, type AddFieldError } from './submission-casting.ts';
import type { Judge0Options } from './options.ts';

/** The limits a submission asked for, in Judge0's units (seconds, KB), defaults applied. */
export interface Judge0Limits {
  cpuTimeLimit: number;
  cpuExtraTime: number;
  wallTimeLimit: number;
  memoryLimitKb: number;
  stackLimitKb: number;
  maxProcessesAndOrThreads: number;
  maxFileSizeKb: number;
  numberOfRuns: number;
}

interface Rule {
  field: string;
  key: keyof Judge0Limits;
  /** Judge0's lower bound, and whether the value must be strictly greater (greater_than). */
  min: number;
  strict: boolean;
  /** Decimal column with a Float maximum (Rails prints it as "15.0"); integer columns truncate. */
  decimal: boolean;
  dflt: (o: Judge0Options) => number;
  max: (o: Judge0Options) => number;
}

/** Judge0 1.13.1's rules, in the order its model declares them. */
const RULES: readonly Rule[] = [
  { field: 'number_of_runs', key: 'numberOfRuns', min: 0, strict: true, decimal: false, dflt: (o) => o.numberOfRuns, max: (o) => o.maxNumberOfRuns },
  { field: 'cpu_time_limit', key: 'cpuTimeLimit', min: 0, strict: false, decimal: true, dflt: (o) => o.cpuTimeLimit, max: (o) => o.maxCpuTimeLimit },
  { field: 'cpu_extra_time', key: 'cpuExtraTime', min: 0, strict: false, decimal: true, dflt: (o) => o.cpuExtraTime, max: (o) => o.maxCpuExtraTime },
  { field: 'wall_time_limit', key: 'wallTimeLimit', min: 1, strict: false, decimal: true, dflt: (o) => o.wallTimeLimit, max: (o) => o.maxWallTimeLimit },
  { field: 'memory_limit', key: 'memoryLimitKb', min: 2048, strict: false, decimal: false, dflt: (o) => o.memoryLimitKb, max: (o) => o.maxMemoryLimitKb },
  { field: 'stack_limit', key: 'stackLimitKb', min: 0, strict: false, decimal: false, dflt: (o) => o.stackLimitKb, max: (o) => o.maxStackLimitKb },
  { field: 'max_processes_and_or_threads', key: 'maxProcessesAndOrThreads', min: 0, strict: true, decimal: false, dflt: (o) => o.maxProcessesAndOrThreads, max: (o) => o.maxMaxProcessesAndOrThreads },
  { field: 'max_file_size', key: 'maxFileSizeKb', min: 0, strict: false, decimal: false, dflt: (o) => o.maxFileSizeKb, max: (o) => o.maxMaxFileSizeKb },
];

/** A number as Ruby prints it: Floats always with a decimal point ("15.0", "2.5"). */
export function rubyNumber(n: number, float: boolean): string {
  return float && Number.isInteger(n) ? n.toFixed(1) : String(n);
}

/** Rails numericality messages for one value against one rule; empty when it passes. */
function violations(v: number, rule: Rule, max: number): string[] {
  const out: string[] = [];
  if (rule.strict && v <= rule.min) out.push(`must be greater than ${rule.min}`);
  if (!rule.strict && v < rule.min) out.push(`must be greater than or equal to ${rule.min}`);
  if (v > max) out.push(`must be less than or equal to ${rubyNumber(max, rule.decimal)}`);
  return out;
}

/** Reads every limit of a submission body, adding Judge0's messages for the bad ones. */
export function readLimits(body: Record<string, unknown>, o: Judge0Options, add: AddFieldError): Judge0Limits {
  const out = {} as Judge0Limits;
  for (const rule of RULES) {
    const v = numeric(body[rule.field]);
    out[rule.key] = rule.dflt(o);
    if (v === undefined) continue; // not given: Judge0's default (set_defaults)
    if (v === 'nan') { add(rule.field, 'is not a number'); continue; }
    const problems = violations(v, rule, rule.max(o));
    for (const message of problems) add(rule.field, message);
    if (problems.length === 0) out[rule.key] = rule.decimal ? v : Math.trunc(v);
  }
  return out;
}

/** Judge0 limits → Corral's, with Judge0's zeros meaning "no limit" (as isolate reads them). */
export function corralLimits(l: Judge0Limits, o: Judge0Options): NonNullable<RunRequest['limits']> {
  const noFileLimit = l.maxFileSizeKb === 0;
  return {
    cpuMs: l.cpuTimeLimit === 0 ? o.unlimitedCpuMs : Math.max(1, Math.round(l.cpuTimeLimit * 1000)),
    extraCpuMs: Math.round(l.cpuExtraTime * 1000),
    wallMs: Math.max(1, Math.round(l.wallTimeLimit * 1000)),
    memoryMb: Math.max(1, Math.ceil(l.memoryLimitKb / 1024)),
    stackMb: l.stackLimitKb === 0 ? o.unlimitedStackMb : Math.max(1, Math.ceil(l.stackLimitKb / 1024)),
    processes: l.maxProcessesAndOrThreads,
    fileSizeMb: noFileLimit ? o.unlimitedFileSizeMb : Math.max(1, Math.ceil(l.maxFileSizeKb / 1024)),
    // Judge0 captures stdout in a file bounded by max_file_size; Corral bounds each stream.
    outputBytes: noFileLimit ? o.maxOutputBytes : Math.min(l.maxFileSizeKb * 1024, o.maxOutputBytes),
  };
}
