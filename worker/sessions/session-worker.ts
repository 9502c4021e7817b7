// A worker process's notebook sessions: a BullMQ worker on the sessions queue with its own slots
// (CORRAL_SESSION_SLOTS), each session a SessionHost whose requests come from the session's input
// stream and whose answers go to each request's reply stream (services/core/session-protocol.ts).
// The worker renews every held session's `beatAt` and its own capacity entry; an API that finds a
// beat too old knows the worker is gone (session_lost). A session is never retried: a stalled one
// fails at once (maxStalledCount 0), since a new kernel would not have the lost one's state.
import { Worker, type Job } from 'bullmq';
import type { Config } from '../../services/core/config.ts';
import { appendMessage, StreamReader } from '../../services/core/interactive-streams.ts';
import type { Logger } from '../../services/core/logger.ts';
import type { Metrics } from '../../services/core/metrics.ts';
import { connectRedis } from '../../services/core/redis.ts';
import type { LocalSession, LocalSessions } from '../../services/core/session-local.ts';
import { CommandRoute, isInboxKey, liveChannel, replyToInbox, SUBSCRIBE_WAIT_MS, updateRecord, writeAnswerFields } from '../../services/core/session-relay.ts';
import {
  parseSessionMessage, SessionCommand, SessionJob, sessionBeatMs, sessionKeys, type SessionReply, type SessionWorkerEntry,
} from '../../services/core/session-protocol.ts';
import type { Launcher } from '../launcher.ts';
import type { LanguageRegistry } from '../language-registry.ts';
import { KernelCommand, kernelStreamKey, kernelStreamWriter } from '../../services/core/session-messages.ts';
import { MessageRelay } from './message-relay.ts';
import { kernelFor, kernelLanguages } from './kernels.ts';
import { SessionHost } from './session-host.ts';
import { openKernelChannel, sameLimits, WarmKernels } from './warm-kernels.ts';

/** The container's wall limit is a backstop past the session's own lifetime timer (as session-host.ts). */
const WALL_BACKSTOP_MS = 60_000;

/** The worker's warm pool (CORRAL_SESSION_WARM_KERNELS), or undefined when it is off. */
function startWarmKernels(deps: SessionWorkerDeps, room: () => number): WarmKernels | undefined {
  const s = deps.config.sessions;
  if (s.warmKernels === 0) return undefined;
  const maxAgeMs = s.warmMaxAgeS * 1000;
  return new WarmKernels({
    perLanguage: s.warmKernels,
    languages: kernelLanguages(),
    maxAgeMs,
    room,
    log: deps.log.child({ component: 'warm-kernels' }),
    async start(language) {
      const lang = await deps.registry.resolve(language, { flags: [], args: [] });
      const kernel = kernelFor(lang.id);
      if (!kernel) throw new Error(`language ${lang.id} has no kernel`);
      const volume = await deps.sandbox.createVolume({ sizeBytes: s.defaults.diskMb * 1024 * 1024 });
      try {
        const channel = openKernelChannel({
          sandbox: deps.sandbox, language: lang, kernel, limits: s.defaults, box: { dir: volume.dir },
          // The longest lifetime a session may have, counted from the take, after the longest wait here.
          wallMs: s.max.maxLifetimeS * 1000 + maxAgeMs + WALL_BACKSTOP_MS,
          startTimeoutMs: s.startTimeoutMs,
        });
        return { volume, channel };
      } catch (err) {
        await volume.destroy();
        throw err;
      }
    },
  });
}

export interface SessionWorkerDeps {
  config: Config;
  redisUrl: string;
  log: Logger;
  registry: LanguageRegistry;
  /** The worker's name (logs, the record's `worker`, the capacity entry). */
  name: string;
  sandbox: Pick<Launcher, 'createVolume' | 'stream'>;
  metrics?: Metrics;
}

export interface SessionWorker {
  /** Sessions held now. */
  readonly held: number;
  /** The held sessions, for an API in this process (services/core/session-local.ts; bin/stack.ts connects it). */
  readonly local: LocalSessions;
  /** Stops taking sessions and ends the held ones (reason worker_shutdown), their containers and volumes gone. */
  close(): Promise<void>;
}

/** A session's "taken" fields are written at the latest this long after the worker took its job (see runSession). */
const TAKEN_WRITE_MS = 100;
/** A beat: HSET on a record that exists and has not ended (1), else nothing (0: the session is over for the API). */
const BEAT_IF_LIVE = "if redis.call('exists', KEYS[1]) == 1 and redis.call('hget', KEYS[1], 'status') ~= 'ended' then redis.call('hset', KEYS[1], unpack(ARGV)) return 1 end return 0";

/** Starts taking notebook sessions; undefined when CORRAL_SESSION_SLOTS is 0. */
export function startSessionWorker(deps: SessionWorkerDeps): SessionWorker | undefined {
  const { config, log } = deps;
  const slots = config.sessions.slots;
  if (slots === 0) return undefined;
  const keys = sessionKeys(config.keyPrefix);
  const writer = connectRedis(deps.redisUrl, `corral-sessions:${deps.name}`);
  const blocking = connectRedis(deps.redisUrl, `corral-sessions-reader:${deps.name}`);
  const bull = connectRedis(deps.redisUrl, `corral-sessions-queue:${deps.name}`);
  for (const c of [writer, blocking, bull]) c.on('error', (err) => log.warn({ err: err.message }, 'sessions: redis connection error'));
  // Requests come published to a session's channel (services/core/session-relay.ts: nothing is
  // written to Redis on a request's way), or appended to its input stream when that reached no
  // subscriber; both are read, one handler per session.
  const subscriber = connectRedis(deps.redisUrl, `corral-sessions-sub:${deps.name}`);
  subscriber.on('error', (err) => log.warn({ err: err.message }, 'sessions: redis connection error'));
  const onChannel = new Map<string, (text: string) => void>();
  subscriber.on('message', (channel: string, text: string) => {
    try {
      onChannel.get(channel)?.(text);
    } catch (err) {
      log.error({ err: (err as Error).message, channel }, 'sessions: request handler failed');
    }
  });
  const reader = new StreamReader(blocking, writer, keys.wake, log);
  const hosts = new Set<SessionHost>();
  /** Held sessions by id, for the API in this process: the one it may hand a command to now, and the record's writes so far. */
  const localEntries = new Map<string, { find(): LocalSession | undefined; written(): Promise<void> }>();
  const local: LocalSessions = {
    find: (id) => localEntries.get(id)?.find(),
    written: (id) => localEntries.get(id)?.written(),
  };
  let closing = false;
  const warmKernels = startWarmKernels(deps, () => (closing ? 0 : slots - hosts.size));

  /** The worker's entry in the capacity hash (slots, sessions held now). */
  const capacityEntry = () => {
    const entry: SessionWorkerEntry = { slots: closing ? 0 : slots, held: hosts.size, at: Date.now() };
    return { field: deps.name, value: JSON.stringify(entry) };
  };
  const reportCapacity = () => {
    const { field, value } = capacityEntry();
    return writer.hset(keys.workers, field, value).catch((err: Error) => log.warn({ err: err.message }, 'sessions: cannot report capacity'));
  };

  const beat = async () => {
    const now = String(Date.now());
    const m = writer.multi();
    // The beat carries the container's use so far (GET /v1/sessions/:id shows it live), and the
    // fields each answer writes without the AOF (lastUsedAt, cells): logged here, a Redis restart
    // loses at most a beat of them.
    const beating = [...hosts].filter((h) => !h.ended);
    for (const h of beating) m.eval(BEAT_IF_LIVE, 1, keys.record(h.job.id), 'beatAt', now, ...Object.entries(h.recordFields()).flat());
    const results = await m.exec().catch((err: Error) => { log.warn({ err: err.message }, 'sessions: beat failed'); return null; });
    // A session an API declared lost (this worker was silent too long: stalled, cut off) or whose
    // record is gone is over for every client: end it here too, so its slot and container go.
    results?.forEach(([err, live], i) => {
      if (!err && live === 0) beating[i]!.end('worker_lost', 'the session was declared lost: its worker was silent for longer than CORRAL_SESSION_WORKER_SILENCE_MS');
    });
    await reportCapacity();
  };
  const beatTimer = setInterval(() => void beat(), sessionBeatMs(config.sessions.workerSilenceMs));

  async function runSession(job: Job): Promise<void> {
    const parsed = SessionJob.safeParse(job.data);
    if (!parsed.success) {
      log.error({ sessionId: job.id, problem: parsed.error.message }, 'invalid session job; dropped');
      return;
    }
    const data = parsed.data;
    const sessionLog = log.child({ sessionId: data.id });
    const record = keys.record(data.id);
    // The API starting the session is nudged with the record after each write it waits for.
    const starter = data.replyTo && isInboxKey(keys, data.replyTo) ? data.replyTo : undefined;
    // Writes are chained so that they reach Redis in the order they were made.
    let chain = Promise.resolve();
    const later = (f: () => Promise<unknown>) => {
      chain = chain.then(f).then(() => {}, (err: Error) => sessionLog.warn({ err: err.message }, 'sessions: cannot reach Redis'));
    };
    // "Taken" (this worker's name and a first beat: from then on an API tells a dead worker by its
    // beat) is written as soon as the start is known to take a while: a cold start, or a warm
    // kernel still starting. A session that takes a ready warm kernel is ready within a millisecond
    // or two; its taken fields go with the ready (one AOF write, one fsync and one look of the API
    // less on a warm start's way). TAKEN_WRITE_MS bounds the wait in any case. The capacity entry
    // (one slot more held) goes in the same write.
    const startedAt = new Date().toISOString();
    let takenPending = true;
    let takenTimer: NodeJS.Timeout | undefined;
    const takenFields = () => {
      takenPending = false;
      clearTimeout(takenTimer);
      return { worker: deps.name, beatAt: String(Date.now()), startedAt };
    };
    const writeTaken = () => {
      if (!takenPending) return;
      const fields = takenFields();
      later(() => updateRecord(writer, keys, data.id, fields, { capacity: capacityEntry(), ...(starter ? { nudge: starter } : {}) }));
    };
    let tookWarm = false;
    /** Request id → the inbox its answers go to, and whether they go by its stream from now on (services/core/session-relay.ts). */
    const routes = new Map<string, { inbox: string; streamOnly: boolean }>();
    /** Request id → the API's handler, for requests handed over in this process (services/core/session-local.ts). */
    const localRoutes = new Map<string, (reply: SessionReply) => void>();
    const host = new SessionHost(data, {
      sandbox: deps.sandbox,
      registry: deps.registry,
      log: sessionLog,
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
      startTimeoutMs: config.sessions.startTimeoutMs,
      fileMaxBytes: config.sessions.fileMaxBytes,
      takeKernel: async (language, limits) => {
        const fits = sameLimits(limits, config.sessions.defaults);
        // take() gives a ready kernel when there is one: the session is then ready at once.
        const ready = fits && (warmKernels?.readyCount(language) ?? 0) > 0;
        const warm = fits ? warmKernels?.take(language) : undefined;
        if (!ready) writeTaken();
        if (warm) {
          sessionLog.debug('session takes a warm kernel');
          tookWarm = true; // written with the status (one write less before the session is ready)
          return warm;
        }
        // A cold start: its container must fit in the slots beside the warm ones.
        while (warmKernels && hosts.size + warmKernels.size > slots && await warmKernels.evict()) { /* evicted one */ }
        return undefined;
      },
      update: (fields) => {
        const settled = fields.status === 'ready' || fields.status === 'ended';
        const taking = takenPending;
        const all = { ...(taking ? takenFields() : {}), ...fields, ...(settled && tookWarm ? { warmKernel: '1' } : {}) };
        later(async () => {
          await updateRecord(writer, keys, data.id, all, {
            ...(fields.status === 'ended' ? { ttlS: config.sessions.recordTtlS } : {}),
            ...((settled || taking) && starter ? { nudge: starter } : {}),
            ...(taking ? { capacity: capacityEntry() } : {}),
          });
        });
      },
      reply: (rid, message, fields) => {
        const onLocal = localRoutes.get(rid);
        if (onLocal) {
          // Straight to the API in this process; the record's fields after, off the answer's way.
          if (message.t === 'done') localRoutes.delete(rid);
          try {
            onLocal(message);
          } catch (err) {
            sessionLog.error({ err: (err as Error).message }, 'sessions: the local answer\'s handler failed');
          }
          // After this turn of the event loop: written now, its socket write would wake Redis
          // before the API has written the answer out (a wake-up that can take the CPU first).
          // Chained now all the same, so that a read awaiting the writes (written()) waits for it.
          if (fields) later(() => new Promise<void>((resolve) => setImmediate(resolve)).then(() => writeAnswerFields(writer, record, fields)));
          return;
        }
        // To the asking API process's inbox when the command named one, else the request's own stream.
        const route = routes.get(rid);
        if (message.t === 'done') routes.delete(rid);
        later(async () => {
          if (!route) {
            await appendMessage(writer, keys.reply(data.id, rid), message);
            if (fields) await updateRecord(writer, keys, data.id, fields);
            return;
          }
          // One reply of a request that reached no subscriber went to the stream: the rest follow it there, in order.
          // The answer's record fields go in the same round trip, without an fsync (session-relay.ts).
          if (!await replyToInbox(writer, route.inbox, rid, message, route.streamOnly, fields && { key: record, fields })) route.streamOnly = true;
        });
      },
    });
    // Raw Jupyter messages (the Jupyter face) share the input stream with the requests.
    const kernelKey = kernelStreamKey(config.keyPrefix, data.id);
    /** Readers of the kernel stream in this process (the Jupyter face's feed, by the local port), handed each entry as it is made. */
    const kernelListeners = new Set<(id: string, entry: string) => void>();
    const appendKernel = kernelStreamWriter(writer, kernelKey, (err) => sessionLog.warn({ err: err.message }, 'sessions: cannot reach Redis'), (id, entry) => {
      for (const l of kernelListeners) {
        try {
          l(id, entry);
        } catch (err) {
          sessionLog.error({ err: (err as Error).message }, 'sessions: a kernel stream listener failed');
        }
      }
    });
    const relay = new MessageRelay({ host, log: sessionLog, append: appendKernel });
    const onRequest = (text: string) => {
      if (relay.receive(text)) return;
      const cmd = parseSessionMessage(SessionCommand, text);
      const route = cmd ? parseSessionMessage(CommandRoute, text) : null;
      if (route?.replyTo && isInboxKey(keys, route.replyTo)) routes.set(route.rid, { inbox: route.replyTo, streamOnly: false });
      if (cmd) host.receive(cmd);
      else sessionLog.warn({ text: text.slice(0, 200) }, 'sessions: unreadable request from the API');
    };
    const channel = liveChannel(keys.input(data.id));
    onChannel.set(channel, onRequest);
    const leaveChannel = () => {
      onChannel.delete(channel);
      void subscriber.unsubscribe(channel).catch(() => 0);
    };
    // Subscribed before the kernel starts, so the requests after the session is ready are published
    // (one sent before, or while the subscription reconnects, takes the stream: see session-relay.ts).
    // Bounded: a Redis that does not confirm (reconnecting) must not hold the start; until it does,
    // requests find no subscriber and take the stream. At the same time, the record's status: the
    // API withdraws a session no worker took in time, and one it withdrew is not started.
    let subscribeTimer: NodeJS.Timeout | undefined;
    const [status] = await Promise.all([
      writer.hget(record, 'status'),
      Promise.race([
        subscriber.subscribe(channel),
        new Promise((_, reject) => { subscribeTimer = setTimeout(() => reject(new Error(`not confirmed within ${SUBSCRIBE_WAIT_MS} ms`)), SUBSCRIBE_WAIT_MS); }),
      ]).catch((err: Error) => sessionLog.warn({ err: err.message }, 'sessions: cannot subscribe to the session\'s channel; its requests come by the stream')),
    ]).catch((err: unknown) => {
      leaveChannel();
      throw err;
    }).finally(() => clearTimeout(subscribeTimer));
    if (status !== 'starting') {
      leaveChannel();
      sessionLog.info('session withdrawn before it started; skipped');
      return;
    }
    takenTimer = setTimeout(writeTaken, TAKEN_WRITE_MS);
    hosts.add(host);
    deps.metrics?.sessionsOpen.inc();
    // A session whose commands come by its input stream (session-relay.ts) stays on the Redis
    // path: a command handed over in this process must not overtake one waiting in the stream.
    let cameByStream = false;
    const unfollow = reader.follow(keys.input(data.id), (text) => { cameByStream = true; onRequest(text); });
    const localSession: LocalSession = {
      send(cmd, onReply) {
        localRoutes.set(cmd.rid, onReply);
        host.receive(cmd);
      },
      sendKernel(cmd) {
        if (host.ended) return false;
        // Checked again as one read from the stream is (the face checked it too): the relay's bounds hold whatever the caller.
        const r = KernelCommand.safeParse(cmd);
        if (r.success) relay.take(r.data);
        else sessionLog.warn({ t: cmd.t }, 'sessions: invalid kernel message from the API; dropped');
        return true;
      },
      listen(onEntry) {
        // A listener of its own per call, so that each stop() removes only its own.
        const l = (id: string, entry: string) => onEntry(id, entry);
        kernelListeners.add(l);
        return { before: appendKernel.lastId, stop: () => kernelListeners.delete(l) };
      },
    };
    localEntries.set(data.id, {
      find: () => (host.ready && !cameByStream ? localSession : undefined),
      written: () => chain,
    });
    sessionLog.info({ language: data.language, limits: data.limits }, 'session starting');
    try {
      await host.run();
    } finally {
      clearTimeout(takenTimer);
      unfollow();
      leaveChannel();
      hosts.delete(host);
      deps.metrics?.sessionsOpen.dec();
      await chain;
      localEntries.delete(data.id);
      await writer.del(keys.input(data.id)).catch(() => 0);
      // Not deleted: an API may not have read the 'ended' entry yet; it goes within a minute.
      await writer.expire(kernelKey, 60).catch(() => 0);
      void reportCapacity();
      warmKernels?.refill(); // a slot is free again
    }
  }

  const worker = new Worker(keys.queue, runSession, {
    connection: bull,
    prefix: keys.bullPrefix,
    name: `${deps.name}:sessions`,
    concurrency: slots,
    lockDuration: config.worker.lockDurationMs,
    stalledInterval: config.worker.stalledIntervalMs,
    maxStalledCount: 0,
    drainDelay: 1,
  });
  worker.on('error', (err) => log.warn({ err: err.message }, 'session worker error'));
  void reportCapacity();
  warmKernels?.refill();
  log.info({ slots, warmKernels: config.sessions.warmKernels }, 'taking notebook sessions');

  return {
    get held() {
      return hosts.size;
    },
    local,
    async close() {
      closing = true;
      const stopping = worker.close();
      const ending = [...hosts].map((h) => {
        h.end('worker_shutdown', 'the worker holding this session was stopped');
        return h.done;
      });
      await Promise.all([...ending, warmKernels?.close()]);
      await stopping.catch(() => {});
      clearInterval(beatTimer);
      await writer.hdel(keys.workers, deps.name).catch(() => 0);
      await reader.close();
      subscriber.disconnect();
      writer.disconnect();
      bull.disconnect();
    },
  };
}
