// Callbacks: the final RunResult is POSTed (or PUT) to the request's callbackUrl by a separate
// BullMQ queue with its own concurrency, retries with exponential backoff and a per-try timeout,
// so a slow or dead receiver never holds a sandbox slot. With callbackFormat 'judge0' the body is
// Judge0's submission instead (default fields, base64, as Judge0 PUTs it), built by the Judge0
// layer's own serializer, so a Judge0 callback is as durable as Corral's own.
import type { BlockList } from 'node:net';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../services/core/config.ts';
import type { Logger } from '../services/core/logger.ts';
import type { Metrics } from '../services/core/metrics.ts';
import type { RedisKeys } from '../services/core/redis.ts';
import type { JobRequest, RunResult } from '../services/core/schemas.ts';
import { parseNetworks } from '../services/core/networks.ts';
import { judge0CallbackBody } from '../services/api/compat/judge0/submission-response.ts';
import { BlockedCallbackError, sendCallback } from './callback-request.ts';

export interface CallbackJob {
  url: string;
  method: 'POST' | 'PUT';
  result: RunResult;
  /** Absent in jobs queued before the field existed: corral. */
  format?: 'corral' | 'judge0';
  /** The run's limits, for Judge0's message of a memory or output limit. */
  limits?: { memoryMb: number; outputBytes: number };
}

/** The body a callback sends. */
export function callbackBody(job: CallbackJob): unknown {
  if (job.format !== 'judge0') return job.result;
  return judge0CallbackBody(job.result, job.limits ? { memoryLimitKb: job.limits.memoryMb * 1024, outputBytes: job.limits.outputBytes } : {});
}

/** One try; redirects are not followed. Throws to be retried (BlockedCallbackError: never retried). */
export async function deliver(job: CallbackJob, timeoutMs: number, blocked: BlockList): Promise<number> {
  const status = await sendCallback({ url: job.url, method: job.method, body: JSON.stringify(callbackBody(job)), timeoutMs, blocked });
  // Judge0 counts any answer of the receiver as delivered (it retries only when no answer came).
  if (job.format !== 'judge0' && (status < 200 || status >= 300)) throw new Error(`callback ${job.method} ${job.url}: HTTP ${status}`);
  return status;
}

export class CallbackDispatcher {
  private readonly queue: Queue<CallbackJob>;
  private readonly worker: Worker<CallbackJob>;
  private readonly connection: Redis;

  constructor(connection: Redis, keys: RedisKeys, private readonly config: Config, log: Logger, metrics?: Metrics) {
    this.connection = connection.duplicate();
    this.connection.on('error', (err) => log.warn({ err: err.message }, 'redis callback connection error'));
    this.queue = new Queue<CallbackJob>(keys.callbackQueue, { connection, prefix: keys.bullPrefix });
    this.queue.on('error', (err) => log.warn({ err: err.message }, 'callback queue error'));
    const blocked = parseNetworks(config.callback.blockedNetworks);
    this.worker = new Worker<CallbackJob>(keys.callbackQueue, async (job: Job<CallbackJob>) => {
      try {
        await deliver(job.data, config.callback.timeoutMs, blocked);
      } catch (err) {
        // A blocked address stays blocked: no retries.
        throw err instanceof BlockedCallbackError ? new UnrecoverableError(err.message) : err;
      }
    }, {
      connection: this.connection,
      prefix: keys.bullPrefix,
      concurrency: config.callback.concurrency,
      lockDuration: Math.max(config.callback.timeoutMs * 2, 30_000),
    });
    this.worker.on('completed', (job) => {
      metrics?.callbacksTotal.inc({ outcome: 'delivered' });
      log.info({ runId: job.data.result.id, url: job.data.url, attempt: job.attemptsMade }, 'callback delivered');
    });
    this.worker.on('failed', (job, err) => {
      if (!job) return;
      const refused = err instanceof UnrecoverableError;
      const final = refused || job.attemptsMade >= (job.opts.attempts ?? 1);
      metrics?.callbacksTotal.inc({ outcome: refused ? 'refused' : final ? 'given_up' : 'retried' });
      log.warn({ runId: job.data.result.id, url: job.data.url, attempt: job.attemptsMade, err: err.message },
        refused ? 'callback refused' : final ? 'callback given up' : 'callback failed; will retry');
    });
    this.worker.on('error', (err) => log.warn({ err: err.message }, 'callback worker error'));
  }

  /** Enqueues the callback of a run once (job id = run id). */
  async enqueue(request: Pick<JobRequest, 'callbackMethod' | 'callbackFormat' | 'limits'> & { callbackUrl: string }, result: RunResult): Promise<void> {
    const job: CallbackJob = {
      url: request.callbackUrl, method: request.callbackMethod, result, format: request.callbackFormat,
      ...(request.callbackFormat === 'judge0' ? { limits: { memoryMb: request.limits.memoryMb, outputBytes: request.limits.outputBytes } } : {}),
    };
    await this.queue.add('callback', job, {
      jobId: `cb-${result.id}`,
      attempts: this.config.callback.attempts,
      backoff: { type: 'exponential', delay: this.config.callback.backoffMs },
      removeOnComplete: true,
      removeOnFail: { age: this.config.resultTtlSeconds },
    });
  }

  async close(): Promise<void> {
    await this.worker.close();
    await this.queue.close();
    this.connection.disconnect();
  }
}
