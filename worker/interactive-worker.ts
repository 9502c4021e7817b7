// A worker process's interactive sessions: a BullMQ worker on the interactive queue with its own
// slots (CORRAL_INTERACTIVE_SLOTS), each session relayed over its two Redis streams
// (services/core/interactive-protocol.ts) to the API process that holds the client's connection.
// A session is never retried: a stalled one fails at once (maxStalledCount 0), since running it
// again would replay a conversation the client already saw; the API notices the silence.
import { Worker, type Job } from 'bullmq';
import type { Config } from '../services/core/config.ts';
import { beatIntervalMs, InteractiveJob, interactiveKeys, parseMessage, ToWorker, type ToApi } from '../services/core/interactive-protocol.ts';
import { appendMessage, StreamReader } from '../services/core/interactive-streams.ts';
import type { Logger } from '../services/core/logger.ts';
import { connectRedis } from '../services/core/redis.ts';
import type { LanguageRegistry } from './language-registry.ts';
import { WorkerSession, type InteractiveSandbox } from './interactive-session.ts';

export interface InteractiveWorkerDeps {
  config: Config;
  redisUrl: string;
  log: Logger;
  registry: LanguageRegistry;
  /** The worker's name (logs, Redis client names). */
  name: string;
  /** The worker's launcher (or a fake in tests). */
  sandbox: InteractiveSandbox;
}

export interface InteractiveWorker {
  /** Sessions running now. */
  readonly active: number;
  /** Stops taking sessions and ends the running ones (their clients are told the worker stops). */
  close(): Promise<void>;
}

/** Starts taking interactive sessions; undefined when CORRAL_INTERACTIVE_SLOTS is 0. */
export function startInteractiveWorker(deps: InteractiveWorkerDeps): InteractiveWorker | undefined {
  const { config, log } = deps;
  if (config.interactive.slots === 0) return undefined;
  const keys = interactiveKeys(config.keyPrefix);
  const { sandbox } = deps;
  const writer = connectRedis(deps.redisUrl, `corral-interactive:${deps.name}`);
  const blocking = connectRedis(deps.redisUrl, `corral-interactive-reader:${deps.name}`);
  const bull = connectRedis(deps.redisUrl, `corral-interactive-queue:${deps.name}`);
  for (const c of [writer, blocking, bull]) c.on('error', (err) => log.warn({ err: err.message }, 'interactive: redis connection error'));
  const reader = new StreamReader(blocking, writer, keys.wake, log);
  /** Running sessions, with their send. */
  const sessions = new Map<WorkerSession, (m: ToApi) => void>();

  async function runSession(job: Job): Promise<void> {
    const parsed = InteractiveJob.safeParse(job.data);
    if (!parsed.success) {
      log.error({ sessionId: job.id, problem: parsed.error.message }, 'invalid interactive job; dropped');
      return;
    }
    const data = parsed.data;
    const sessionLog = log.child({ sessionId: data.id });
    const output = keys.output(data.id);
    // Appends are chained so that they reach the stream in the order they were sent.
    let chain = Promise.resolve();
    const send = (m: ToApi) => {
      chain = chain.then(() => appendMessage(writer, output, m)).catch((err: Error) => sessionLog.warn({ err: err.message }, 'interactive: cannot reach the API'));
    };
    const session = new WorkerSession(data, { sandbox, registry: deps.registry, log: sessionLog, send });
    sessions.set(session, send);
    const unfollow = reader.follow(keys.input(data.id), (text) => {
      const m = parseMessage(ToWorker, text);
      if (m) session.receive(m);
      else sessionLog.warn({ text: text.slice(0, 200) }, 'interactive: unreadable message from the API');
    });
    const beat = setInterval(() => { if (!session.closed && !session.over) send({ t: 'beat' }); }, beatIntervalMs(config.interactive.workerSilenceMs));
    sessionLog.info({ language: data.request.language }, 'interactive session started');
    try {
      await session.run();
    } finally {
      clearInterval(beat);
      unfollow();
      sessions.delete(session);
      await chain;
      // The API stopped reading when its client left; else it removes them once it has read all.
      if (session.left) await writer.del(keys.input(data.id), output).catch(() => 0);
      sessionLog.info('interactive session ended');
    }
  }

  const worker = new Worker(keys.queue, runSession, {
    connection: bull,
    prefix: keys.bullPrefix,
    name: `${deps.name}:interactive`,
    concurrency: config.interactive.slots,
    lockDuration: config.worker.lockDurationMs,
    stalledInterval: config.worker.stalledIntervalMs,
    maxStalledCount: 0,
    drainDelay: 1,
  });
  worker.on('error', (err) => log.warn({ err: err.message }, 'interactive worker error'));

  return {
    get active() {
      return sessions.size;
    },
    async close() {
      const closing = worker.close();
      for (const [session, send] of sessions) {
        if (!session.over) send({ t: 'error', m: 'the worker running this session is shutting down; start a new session' });
        session.stop(); // kills the running stage; nothing more is sent
      }
      await closing.catch(() => {});
      await reader.close();
      writer.disconnect();
      bull.disconnect();
    },
  };
}
