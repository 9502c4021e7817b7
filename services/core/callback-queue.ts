// The callbacks' BullMQ queue, as a producer: a run's callback is queued by whoever writes the
// run's end — the worker when it finishes a run, the API when it cancels a run no worker holds
// yet — and delivered by a worker's CallbackDispatcher (worker/callbacks.ts), with its retries.
// A job names its run; the result is read from the run's record when the callback is sent.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import type { RedisKeys } from './redis.ts';
import type { JobRequest, RunResult } from './schemas.ts';

export interface CallbackJob {
  url: string;
  method: 'POST' | 'PUT';
  /** The run whose stored result is sent (read when the callback is sent). */
  runId?: string;
  /** The result itself: jobs queued before runId existed. */
  result?: RunResult;
  /** A formatter's name; absent in jobs queued before the field existed: corral. */
  format?: string;
  /** The run's limits, for a face's body (Judge0's message of a memory or output limit). */
  limits?: { memoryMb: number; outputBytes: number };
}

export type CallbackQueue = Queue<CallbackJob>;

/** What a run's request says of its callback; absent `callbackUrl`: no callback. */
export type CallbackRequest = Pick<JobRequest, 'callbackMethod' | 'callbackFormat' | 'limits'> & { callbackUrl: string };

export function createCallbackQueue(connection: Redis, keys: RedisKeys): CallbackQueue {
  return new Queue<CallbackJob>(keys.callbackQueue, { connection, prefix: keys.bullPrefix });
}

/** Queues the callback of a run once (job id `cb-<run id>`: a second enqueue of the same run is a no-op). */
export async function enqueueCallback(queue: CallbackQueue, config: Config, request: CallbackRequest, runId: string): Promise<void> {
  const job: CallbackJob = {
    url: request.callbackUrl, method: request.callbackMethod, runId, format: request.callbackFormat,
    ...(request.callbackFormat === 'judge0' ? { limits: { memoryMb: request.limits.memoryMb, outputBytes: request.limits.outputBytes } } : {}),
  };
  await queue.add('callback', job, {
    jobId: `cb-${runId}`,
    attempts: config.callback.attempts,
    backoff: { type: 'exponential', delay: config.callback.backoffMs },
    removeOnComplete: true,
    removeOnFail: { age: config.resultTtlSeconds },
  });
}
