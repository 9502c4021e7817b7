// The shape of a callback's body other than Corral's own RunResult: a face that promises its
// clients callbacks in its own format (Judge0's PUT of a submission) provides a formatter, and the
// process that composes the worker with its faces (bin/) hands it to the worker by name. So the
// worker, which sends callbacks, knows no face; a job names its format (JobRequest.callbackFormat).
import type { RunResult } from './schemas.ts';

/** The run's limits that a face's body may need (Judge0's message of a memory or output limit). */
export interface CallbackLimits {
  memoryMb: number;
  outputBytes: number;
}

export type CallbackFormatter = (result: RunResult, limits: CallbackLimits | undefined) => unknown;

/** Formatters by the name a job's callbackFormat gives ('corral' is the RunResult itself). */
export type CallbackFormatters = Readonly<Record<string, CallbackFormatter>>;
