// Callbacks: the final RunResult is POSTed (or PUT) to the request's callbackUrl by a separate
// BullMQ queue with its own concurrency, retries with exponential backoff and a per-try timeout,
// so a slow or dead receiver never holds a sandbox slot. With another callbackFormat (e.g.
// 'judge0': Judge0's submission, as Judge0 PUTs it) the body is built by the formatter that the
// face registered under that name (services/core/callback-format.ts), so a face's callback is as
// durable as Corral's own and the worker knows no face.
//
// A job names its run; the result is read from the run's record when the callback is sent, not
// carried in the job: a result at the output caps is tens of MB, which the job would otherwise
// hold a second time in Redis (for as long as the job is kept) and in the worker (as a string,
// its JSON and its job data) while the slot writes the first. Corral's own body is the stored
// JSON bytes as they are; a face's is made from them parsed, at most `concurrency` at a time.
import type { BlockList } from 'node:net';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../services/core/config.ts';
import type { Logger } from '../services/core/logger.ts';
import type { Metrics } from '../services/core/metrics.ts';
import type { RedisKeys } from '../services/core/redis.ts';
import { RunStore } from '../services/core/run-store.ts';
import type { RunResult } from '../services/core/schemas.ts';
import { parseNetworks } from '../services/core/networks.ts';
import type { CallbackFormatters } from '../services/core/callback-format.ts';
import { createCallbackQueue, enqueueCallback, type CallbackJob, type CallbackQueue, type CallbackRequest } from '../services/core/callback-queue.ts';
import { BlockedCallbackError, sendCallback } from './callback-request.ts';

/** A callback whose format no formatter of this worker builds: retrying cannot help. */
export class UnknownCallbackFormatError extends Error {
  constructor(format: string) {
    super(`callback format '${format}' is not served by this worker (no formatter registered under that name)`);
    this.name = 'UnknownCallbackFormatError';
  }
}

/** A run whose result is gone (deleted, or expired) before its callback was sent: retrying cannot help. */
export class CallbackResultGoneError extends Error {
  constructor(runId: string) {
    super(`the result of run ${runId} is gone (deleted or expired): no callback to send`);
    this.name = 'CallbackResultGoneError';
  }
}

/** The run a job is about. */
export const callbackRunId = (job: CallbackJob): string => job.runId ?? job.result?.id ?? '';

/** The body a callback sends, given the run's result (`job.result` when the job carries it). */
export function callbackBody(job: CallbackJob, formatters: CallbackFormatters = {}, result: RunResult | undefined = job.result): unknown {
  if (!result) throw new CallbackResultGoneError(callbackRunId(job));
  if (!job.format || job.format === 'corral') return result;
  const format = formatters[job.format];
  if (!format) throw new UnknownCallbackFormatError(job.format);
  return format(result, job.limits);
}

/** The stored result as JSON bytes (null when gone): RunStore.getJson. */
export type ResultReader = (runId: string) => Promise<Buffer | null>;

/**
 * The body's bytes: Corral's format is the stored JSON as it is (no parse, no copy); a face's is
 * built from it parsed. A job carrying its result (queued before runId) is sent as it was.
 */
async function bodyBytes(job: CallbackJob, formatters: CallbackFormatters, read: ResultReader | undefined): Promise<string | Buffer> {
  if (job.result || !job.runId) return JSON.stringify(callbackBody(job, formatters));
  if (job.format && job.format !== 'corral' && !formatters[job.format]) throw new UnknownCallbackFormatError(job.format);
  const stored = read ? await read(job.runId) : null;
  if (!stored) throw new CallbackResultGoneError(job.runId);
  if (!job.format || job.format === 'corral') return stored;
  return JSON.stringify(callbackBody(job, formatters, JSON.parse(stored.toString()) as RunResult));
}

/** One try; redirects are not followed. Throws to be retried (BlockedCallbackError: never retried). */
export async function deliver(job: CallbackJob, timeoutMs: number, blocked: BlockList, formatters: CallbackFormatters = {}, read?: ResultReader): Promise<number> {
  const status = await sendCallback({ url: job.url, method: job.method, body: await bodyBytes(job, formatters, read), timeoutMs, blocked });
  // Judge0 counts any answer of the receiver as delivered (it retries only when no answer came).
  if (job.format !== 'judge0' && (status < 200 || status >= 300)) throw new Error(`callback ${job.method} ${job.url}: HTTP ${status}`);
  return status;
}

export class CallbackDispatcher {
  private readonly queue: CallbackQueue;
  private readonly worker: Worker<CallbackJob>;
  private readonly connection: Redis;

  constructor(connection: Redis, keys: RedisKeys, private readonly config: Config, log: Logger, metrics?: Metrics, formatters: CallbackFormatters = {}) {
    this.connection = connection.duplicate();
    this.connection.on('error', (err) => log.warn({ err: err.message }, 'redis callback connection error'));
    this.queue = createCallbackQueue(connection, keys);
    this.queue.on('error', (err) => log.warn({ err: err.message }, 'callback queue error'));
    const blocked = parseNetworks(config.callback.blockedNetworks);
    // Results are read on the callbacks' own connection: a big one does not hold up the runs'.
    const results = new RunStore(this.connection, keys, config.resultTtlSeconds);
    const read: ResultReader = (id) => results.getJson(id);
    this.worker = new Worker<CallbackJob>(keys.callbackQueue, async (job: Job<CallbackJob>) => {
      try {
        await deliver(job.data, config.callback.timeoutMs, blocked, formatters, read);
      } catch (err) {
        // A blocked address stays blocked, an unknown format unknown, a deleted result gone: no retries.
        const final = err instanceof BlockedCallbackError || err instanceof UnknownCallbackFormatError || err instanceof CallbackResultGoneError;
        throw final ? new UnrecoverableError((err as Error).message) : err;
      }
    }, {
      connection: this.connection,
      prefix: keys.bullPrefix,
      concurrency: config.callback.concurrency,
      lockDuration: Math.max(config.callback.timeoutMs * 2, 30_000),
    });
    this.worker.on('completed', (job) => {
      metrics?.callbacksTotal.inc({ outcome: 'delivered' });
      log.info({ runId: callbackRunId(job.data), url: job.data.url, attempt: job.attemptsMade }, 'callback delivered');
    });
    this.worker.on('failed', (job, err) => {
      if (!job) return;
      const refused = err instanceof UnrecoverableError;
      const final = refused || job.attemptsMade >= (job.opts.attempts ?? 1);
      metrics?.callbacksTotal.inc({ outcome: refused ? 'refused' : final ? 'given_up' : 'retried' });
      log.warn({ runId: callbackRunId(job.data), url: job.data.url, attempt: job.attemptsMade, err: err.message },
        refused ? 'callback refused' : final ? 'callback given up' : 'callback failed; will retry');
    });
    this.worker.on('error', (err) => log.warn({ err: err.message }, 'callback worker error'));
  }

  /** Enqueues the callback of a run once (job id = run id); its result is read when it is sent. */
  async enqueue(request: CallbackRequest, result: Pick<RunResult, 'id'>): Promise<void> {
    await enqueueCallback(this.queue, this.config, request, result.id);
  }

  async close(): Promise<void> {
    await this.worker.close();
    await this.queue.close();
    this.connection.disconnect();
  }
}
