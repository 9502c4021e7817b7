// Callbacks: the final RunResult is POSTed (or PUT) to the request's callbackUrl by a separate
// BullMQ queue with its own concurrency, retries with exponential backoff and a per-try timeout,
// so a slow or dead receiver never holds a sandbox slot. With another callbackFormat (e.g.
// 'judge0': Judge0's submission, as Judge0 PUTs it) the body is built by the formatter that the
// face registered under that name (services/core/callback-format.ts), so a face's callback is as
// durable as Corral's own and the worker knows no face.
import type { BlockList } from 'node:net';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../services/core/config.ts';
import type { Logger } from '../services/core/logger.ts';
import type { Metrics } from '../services/core/metrics.ts';
import type { RedisKeys } from '../services/core/redis.ts';
import type { JobRequest, RunResult } from '../services/core/schemas.ts';
import { parseNetworks } from '../services/core/networks.ts';
import type { CallbackFormatters } from '../services/core/callback-format.ts';
import { BlockedCallbackError, sendCallback } from './callback-request.ts';

export interface CallbackJob {
  url: string;
  method: 'POST' | 'PUT';
  result: RunResult;
  /** A formatter's name; absent in jobs queued before the field existed: corral. */
  format?: string;
  /** The run's limits, for a face's body (Judge0's message of a memory or output limit). */
  limits?: { memoryMb: number; outputBytes: number };
}

/** A callback whose format no formatter of this worker builds: retrying cannot help. */
export class UnknownCallbackFormatError extends Error {
  constructor(format: string) {
    super(`callback format '${format}' is not served by this worker (no formatter registered under that name)`);
    this.name = 'UnknownCallbackFormatError';
  }
}

/** The body a callback sends. */
export function callbackBody(job: CallbackJob, formatters: CallbackFormatters = {}): unknown {
  if (!job.format || job.format === 'corral') return job.result;
  const format = formatters[job.format];
  if (!format) throw new UnknownCallbackFormatError(job.format);
  return format(job.result, job.limits);
}

/** One try; redirects are not followed. Throws to be retried (BlockedCallbackError: never retried). */
export async function deliver(job: CallbackJob, timeoutMs: number, blocked: BlockList, formatters: CallbackFormatters = {}): Promise<number> {
  const status = await sendCallback({ url: job.url, method: job.method, body: JSON.stringify(callbackBody(job, formatters)), timeoutMs, blocked });
  // Judge0 counts any answer of the receiver as delivered (it retries only when no answer came).
  if (job.format !== 'judge0' && (status < 200 || status >= 300)) throw new Error(`callback ${job.method} ${job.url}: HTTP ${status}`);
  return status;
}

export class CallbackDispatcher {
  private readonly queue: Queue<CallbackJob>;
  private readonly worker: Worker<CallbackJob>;
  private readonly connection: Redis;

  constructor(connection: Redis, keys: RedisKeys, private readonly config: Config, log: Logger, metrics?: Metrics, formatters: CallbackFormatters = {}) {
    this.connection = connection.duplicate();
    this.connection.on('error', (err) => log.warn({ err: err.message }, 'redis callback connection error'));
    this.queue = new Queue<CallbackJob>(keys.callbackQueue, { connection, prefix: keys.bullPrefix });
    this.queue.on('error', (err) => log.warn({ err: err.message }, 'callback queue error'));
    const blocked = parseNetworks(config.callback.blockedNetworks);
    this.worker = new Worker<CallbackJob>(keys.callbackQueue, async (job: Job<CallbackJob>) => {
      try {
        await deliver(job.data, config.callback.timeoutMs, blocked, formatters);
      } catch (err) {
        // A blocked address stays blocked, an unknown format unknown: no retries.
        throw err instanceof BlockedCallbackError || err instanceof UnknownCallbackFormatError ? new UnrecoverableError(err.message) : err;
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
