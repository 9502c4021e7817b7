// Callbacks: the final RunResult is POSTed (or PUT) to the request's callbackUrl by a separate
// BullMQ queue with its own concurrency, retries with exponential backoff and a per-try timeout,
// so a slow or dead receiver never holds a sandbox slot.
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../services/core/config.ts';
import type { Logger } from '../services/core/logger.ts';
import type { Metrics } from '../services/core/metrics.ts';
import type { RedisKeys } from '../services/core/redis.ts';
import type { RunResult } from '../services/core/schemas.ts';

export interface CallbackJob { url: string; method: 'POST' | 'PUT'; result: RunResult }

export async function deliver(job: CallbackJob, timeoutMs: number): Promise<number> {
  const res = await fetch(job.url, {
    method: job.method,
    headers: { 'content-type': 'application/json', 'user-agent': 'corral-callback/1' },
    body: JSON.stringify(job.result),
    signal: AbortSignal.timeout(timeoutMs),
    redirect: 'manual',
  });
  await res.body?.cancel().catch(() => {});
  if (res.status < 200 || res.status >= 300) throw new Error(`callback ${job.method} ${job.url}: HTTP ${res.status}`);
  return res.status;
}

export class CallbackDispatcher {
  private readonly queue: Queue<CallbackJob>;
  private readonly worker: Worker<CallbackJob>;
  private readonly connection: Redis;

  constructor(connection: Redis, keys: RedisKeys, private readonly config: Config, log: Logger, metrics?: Metrics) {
    this.connection = connection.duplicate();
    this.connection.on('error', (err) => log.warn({ err: err.message }, 'redis callback connection error'));
    this.queue = new Queue<CallbackJob>(keys.callbackQueue, { connection, prefix: keys.bullPrefix });
    this.worker = new Worker<CallbackJob>(keys.callbackQueue, async (job: Job<CallbackJob>) => {
      await deliver(job.data, config.callback.timeoutMs);
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
      const final = job.attemptsMade >= (job.opts.attempts ?? 1);
      metrics?.callbacksTotal.inc({ outcome: final ? 'given_up' : 'retried' });
      log.warn({ runId: job.data.result.id, url: job.data.url, attempt: job.attemptsMade, err: err.message }, final ? 'callback given up' : 'callback failed; will retry');
    });
    this.worker.on('error', (err) => log.warn({ err: err.message }, 'callback worker error'));
  }

  /** Enqueues the callback of a run once (job id = run id). */
  async enqueue(url: string, method: 'POST' | 'PUT', result: RunResult): Promise<void> {
    await this.queue.add('callback', { url, method, result }, {
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
