// The BullMQ queue of runs: one queue, job id = run id, priority from the request.
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import type { JobData } from './schemas.ts';
import type { RedisKeys } from './redis.ts';

export type RunQueue = Queue<JobData>;

export function createRunQueue(connection: Redis, keys: RedisKeys): RunQueue {
  return new Queue<JobData>(keys.queue, { connection, prefix: keys.bullPrefix });
}

/** Request priority 0 (lowest) … 10 (highest) → BullMQ priority 11 … 1 (lower runs first). */
export function bullPriority(priority: number): number {
  return 11 - priority;
}

export function runJobOptions(config: Config, id: string, priority: number): JobsOptions {
  return {
    jobId: id,
    priority: bullPriority(priority),
    attempts: config.worker.jobAttempts,
    backoff: { type: 'exponential', delay: config.worker.jobBackoffMs },
    // Results live in the run store; the job itself is not needed once it ends.
    removeOnComplete: true,
    removeOnFail: true,
  };
}

/** Runs waiting for a worker (everything not yet active). */
export async function queueDepth(queue: RunQueue): Promise<number> {
  const c = await queue.getJobCounts('wait', 'prioritized', 'delayed', 'waiting-children');
  return Object.values(c).reduce((a, b) => a + b, 0);
}

export async function queueCounts(queue: RunQueue): Promise<Record<string, number>> {
  return queue.getJobCounts('wait', 'prioritized', 'delayed', 'active');
}
