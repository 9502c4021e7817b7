// Interactive sessions, API side: validate a request like any run (same limits, language check
// and backpressure), queue it on the interactive queue, and relay the session between the client's
// connection (a protocol layer such as services/api/compat/piston/connect.ts) and the worker that
// takes it, through the session's two Redis streams (interactive-protocol.ts).
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import { CorralError } from './errors.ts';
import {
  beatIntervalMs, InteractiveJob, interactiveKeys, parseMessage, ToApi,
  type InteractiveKeys, type StageExit, type StageName, type ToWorker,
} from './interactive-protocol.ts';
import { appendMessage, StreamReader } from './interactive-streams.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { connectRedis } from './redis.ts';
import type { JobData, JobRequest, RunRequest } from './schemas.ts';

/** What a session reports to its client, in this order: started, then per stage: stage, data…, exit; then done — or failed at any point. */
export interface InteractiveHandlers {
  /** A worker took the session and is setting it up. */
  started(): void;
  stage(stage: StageName): void;
  data(stream: 'stdout' | 'stderr', text: string): void;
  exit(exit: StageExit): void;
  /** Every stage is over; the session is closed. */
  done(): void;
  /** The session cannot go on (no worker in time, sandbox failure, worker gone); it is closed. */
  failed(message: string): void;
}

export interface InteractiveSession {
  readonly id: string;
  /** The request as the worker runs it: every limit resolved. */
  readonly request: JobRequest;
  stdin(text: string): void;
  /** Closes the program's stdin. */
  eof(): void;
  /** A signal name (SIGINT…) for the processes of the running stage. */
  signal(name: string): void;
  /** Ends the session (the client left, or it is over): its run is stopped, its job dropped. */
  close(): Promise<void>;
}

export interface InteractiveServiceDeps {
  config: Config;
  /** For appends (and the queue). */
  redis: Redis;
  /** The stream reader gets a blocking connection of its own. */
  redisUrl: string;
  log: Logger;
  /** Validates a run request and resolves its limits, as for any run (QueueRunService.prepare). */
  prepare(input: unknown): Promise<{ data: JobData }>;
  metrics?: Metrics;
}

export class InteractiveService {
  private readonly keys: InteractiveKeys;
  private readonly queue: Queue;
  private reader_: StreamReader | undefined;
  private readonly open_ = new Set<InteractiveSession>();

  constructor(private readonly deps: InteractiveServiceDeps) {
    this.keys = interactiveKeys(deps.config.keyPrefix);
    this.queue = new Queue(this.keys.queue, { connection: deps.redis, prefix: this.keys.bullPrefix });
    this.queue.on('error', (err) => deps.log.warn({ err: err.message }, 'interactive queue error'));
  }

  /** The stream reader, with its blocking connection, made when the first session opens. */
  private get reader(): StreamReader {
    if (!this.reader_) {
      const blocking = connectRedis(this.deps.redisUrl, 'corral-interactive-api');
      blocking.on('error', (err) => this.deps.log.warn({ err: err.message }, 'interactive stream connection error'));
      this.reader_ = new StreamReader(blocking, this.deps.redis, this.keys.wake, this.deps.log);
    }
    return this.reader_;
  }

  /** Sessions open in this process. */
  get size(): number {
    return this.open_.size;
  }

  /** Validates and queues a session; throws CorralError (validation, queue full) like a run submit. */
  async open(request: RunRequest, handlers: InteractiveHandlers): Promise<InteractiveSession> {
    const { config, redis, log } = this.deps;
    const { data } = await this.deps.prepare(request);
    const depth = Object.values(await this.queue.getJobCounts('wait', 'prioritized', 'delayed')).reduce((a, b) => a + b, 0);
    if (depth >= config.queueMaxDepth) {
      throw new CorralError('queue_full', `${depth} interactive sessions are waiting for a worker (maximum ${config.queueMaxDepth}); retry in ${config.retryAfterSeconds} s`,
        { depth, maximum: config.queueMaxDepth, retryAfterSeconds: config.retryAfterSeconds }, { 'Retry-After': String(config.retryAfterSeconds) });
    }
    const job: InteractiveJob = { id: data.id, createdAt: data.createdAt, request: data.request };
    const input = this.keys.input(job.id);
    const output = this.keys.output(job.id);
    const sessionLog = log.child({ sessionId: job.id });
    let started = false;
    let finished = false;
    let outcome: 'done' | 'failed' | 'closed' = 'closed';
    let lastHeard = Date.now();
    let startTimer: NodeJS.Timeout | undefined;
    let watchdog: NodeJS.Timeout | undefined;
    const send = (m: ToWorker) => {
      if (finished) return;
      appendMessage(redis, input, m).catch((err: Error) => sessionLog.warn({ err: err.message }, 'interactive: cannot reach the worker'));
    };

    let ending: Promise<void> | undefined;
    const end = (tellWorker: boolean) => (ending ??= finish(tellWorker));
    const finish = async (tellWorker: boolean) => {
      finished = true;
      this.deps.metrics?.interactiveSessions.dec();
      this.deps.metrics?.interactiveSessionsTotal.inc({ outcome });
      clearTimeout(startTimer);
      clearInterval(watchdog);
      unfollow();
      this.open_.delete(session);
      if (tellWorker) {
        // Still queued: dropped, and no worker will ever read its streams. Otherwise the worker
        // finds `close` in its input (now or when it gets there), stops, and removes the streams.
        const dropped = !started && (await this.queue.remove(job.id).catch(() => 0)) === 1;
        if (dropped) await redis.del(input, output).catch(() => 0);
        else await appendMessage(redis, input, { t: 'close' } satisfies ToWorker).catch(() => {});
      } else {
        await redis.del(input, output).catch(() => 0);
      }
    };
    /** `workerGone`: nobody will read a close, so the streams are removed here (they would expire). */
    const fail = (message: string, workerGone = false) => {
      if (finished) return;
      outcome = 'failed';
      sessionLog.info({ reason: message }, 'interactive session failed');
      void end(!workerGone);
      handlers.failed(message);
    };

    const unfollow = this.reader.follow(output, (text) => {
      if (finished) return;
      const m = parseMessage(ToApi, text);
      if (!m) {
        sessionLog.warn({ text: text.slice(0, 200) }, 'interactive: unreadable message from the worker');
        return;
      }
      lastHeard = Date.now();
      switch (m.t) {
        case 'started':
          started = true;
          clearTimeout(startTimer);
          handlers.started();
          break;
        case 'stage':
          handlers.stage(m.stage);
          break;
        case 'data':
          handlers.data(m.s, m.d);
          break;
        case 'exit': {
          const { t: _t, ...exit } = m;
          handlers.exit(exit);
          break;
        }
        case 'beat':
          break;
        case 'done':
          outcome = 'done';
          void end(false);
          handlers.done();
          break;
        case 'error':
          sessionLog.info({ reason: m.m }, 'interactive session failed on the worker');
          outcome = 'failed';
          void end(false);
          handlers.failed(m.m);
          break;
      }
    });
    startTimer = setTimeout(() => {
      fail(`no worker took the session within ${config.maxWaitMs} ms (all interactive slots are busy); retry later`);
    }, config.maxWaitMs);
    watchdog = setInterval(() => {
      if (started && Date.now() - lastHeard > config.interactive.workerSilenceMs) {
        fail(`the worker running this session stopped answering (silent for ${config.interactive.workerSilenceMs} ms)`, true);
      }
    }, beatIntervalMs(config.interactive.workerSilenceMs));

    const session: InteractiveSession = {
      id: job.id,
      request: job.request,
      stdin: (d) => send({ t: 'stdin', d }),
      eof: () => send({ t: 'eof' }),
      signal: (s) => send({ t: 'signal', s }),
      close: () => end(true),
    };
    this.open_.add(session);
    this.deps.metrics?.interactiveSessions.inc();
    try {
      await this.queue.add('session', job, { jobId: job.id, attempts: 1, removeOnComplete: true, removeOnFail: true });
    } catch (err) {
      await end(false);
      throw err;
    }
    sessionLog.info({ language: job.request.language }, 'interactive session queued');
    return session;
  }

  /** Ends every open session (their workers stop them) and stops reading. */
  async close(): Promise<void> {
    await Promise.all([...this.open_].map((s) => s.close()));
    await this.reader_?.close();
    await this.queue.close().catch(() => {});
  }
}
