// Notebook sessions, API side: validate a session request against the configured limits, check
// capacity, queue the session for a worker, and carry each later request to the worker holding
// it through Redis (services/core/session-protocol.ts). Any API process serves any session: the
// record and the streams are all there is. When the worker holding the session runs in this
// process (`corral up`), the request goes to it directly (services/core/session-local.ts).
//
// Never a hang: while a request waits for its answer, the record's beat is checked every beat
// interval; a beat older than CORRAL_SESSION_WORKER_SILENCE_MS marks the session lost (410
// session_lost), and a session that ended meanwhile answers 410 session_ended.
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import { CorralError, ERRORS, zodDetails, type ErrorCode } from './errors.ts';
import { bounded } from './lifecycle.ts';
import type { Logger } from './logger.ts';
import { connectRedis } from './redis.ts';
import type { LocalSessions } from './session-local.ts';
import { nudgedRecord, SessionInbox, sendIfLive } from './session-relay.ts';
import {
  CellRequest, parseSessionMessage, SessionRequest, SessionWorkerEntry, sessionBeatMs, sessionInfoOf, sessionKeys,
  type CellResult, type SessionCommand, type SessionInfo, type SessionJob, type SessionKeys, type SessionReply,
} from './session-protocol.ts';
import type { z } from 'zod';

/**
 * How often POST /v1/sessions looks at the record while a worker takes the session and starts
 * its kernel, when no nudge from the worker came first (the worker nudges the API's inbox when it
 * takes the session and when the session is ready or ended; a nudge is a publish, which a
 * reconnecting subscription can miss): 10 ms, 20 ms, … up to every 100 ms. The Jupyter face looks
 * at a kernel another API process is starting as often (services/api/compat/jupyter/pending.ts).
 */
export const startPollMs = (n: number) => Math.min(100, 10 * (n + 1));
/** Worker capacity entries older than this many silences are removed (the worker is long gone). */
const STALE_ENTRY_SILENCES = 20;

export interface SessionServiceDeps {
  config: Config;
  redis: Redis;
  redisUrl: string;
  log: Logger;
  /**
   * The sessions this process's own worker holds (bin/stack.ts, when API and worker run in one
   * process): their requests skip Redis (services/core/session-local.ts).
   */
  local?: LocalSessions;
}

type Command = SessionCommand extends infer C ? C extends { rid: string } ? Omit<C, 'rid'> : never : never;

function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const details = zodDetails(r.error.issues);
    throw new CorralError('validation_failed', `invalid ${where}: ${details.map((d) => `${d.field}: ${d.message}`).join('; ')}`, details);
  }
  return r.data;
}


/** Answers after which a session takes no command any more. */
const SESSION_OVER = new Set<string>(['session_ended', 'session_lost', 'session_not_found']);

/** Margin over what a command may take on the worker (queueing behind a cell, Redis round trips): CORRAL_SESSION_ANSWER_MARGIN_MS's default. */
const ANSWER_MARGIN_MS = 15_000;

/**
 * How often the sessions still counted with an unanswered command (sent by Redis, its answer never
 * came: its bound passed) are looked at; an ended or expired one is forgotten (sweepUnanswered).
 */
const UNANSWERED_SWEEP_MS = 60_000;

/** How long the API waits for the worker's answer to a command. */
export function answerBoundMs(command: { t: string; timeoutMs?: number }, startTimeoutMs: number, marginMs = ANSWER_MARGIN_MS): number {
  if (command.t === 'execute') return (command.timeoutMs ?? 0) + startTimeoutMs + marginMs;
  if (command.t === 'restart') return startTimeoutMs + marginMs;
  return marginMs * 2;
}

const checkedCell = Symbol('checked by SessionService.checkCell');
/** A cell request that SessionService.checkCell accepted: its code and its timeout (the default filled in). */
export interface CheckedCell { code: string; timeoutMs: number; readonly [checkedCell]: true }

export class SessionService {
  readonly keys: SessionKeys;
  private readonly queue: Queue;
  private inbox_: SessionInbox | undefined;
  private readonly redisUnanswered = new Map<string, number>();
  private unansweredSweep: NodeJS.Timeout | undefined;
  private sweeping = false;

  /** The sessions this process's own worker holds, when it has one (the Jupyter face's local path uses it too). */
  get local(): LocalSessions | undefined {
    return this.deps.local;
  }

  /** The longest a session's start may take: a worker takes it within the queue wait, then its kernel starts within the start timeout. */
  get startBoundMs(): number {
    return this.deps.config.sessions.queueWaitMs + this.deps.config.sessions.startTimeoutMs;
  }

  constructor(private readonly deps: SessionServiceDeps) {
    this.keys = sessionKeys(deps.config.keyPrefix);
    this.queue = new Queue(this.keys.queue, { connection: deps.redis, prefix: this.keys.bullPrefix });
    this.queue.on('error', (err) => deps.log.warn({ err: err.message }, 'session queue error'));
  }

  /**
   * Makes this process's inbox for the workers' answers (a subscription and one blocking reader)
   * and resolves once its channel is subscribed (or SUBSCRIBE_WAIT_MS passed: never rejects).
   * The API calls it before it listens: made on first use instead, the inbox cost that request
   * its two connections and the subscription's round trips (~25 ms of its first session start,
   * measured at load 4–5; docs/sessions.md).
   */
  async open(): Promise<void> {
    await this.inbox.subscribed;
  }

  /** The inbox open() makes (or the first request, when nobody called open()). */
  private get inbox(): SessionInbox {
    if (!this.inbox_) {
      const blocking = connectRedis(this.deps.redisUrl, 'corral-sessions-api');
      const subscriber = connectRedis(this.deps.redisUrl, 'corral-sessions-api-sub');
      for (const c of [blocking, subscriber]) c.on('error', (err) => this.deps.log.warn({ err: err.message }, 'session stream connection error'));
      this.inbox_ = new SessionInbox(blocking, subscriber, this.deps.redis, this.keys, this.deps.log);
    }
    return this.inbox_;
  }

  /** Starts a session; resolves once its kernel is ready (POST /v1/sessions). */
  async create(body: unknown): Promise<SessionInfo> {
    return (await this.start(body)).ready;
  }

  /**
   * Starts a session in two steps: resolves with its record as queued (status "starting") once
   * the record and the job are in Redis, and `ready`, which resolves once its kernel is ready —
   * or rejects with why it did not start (no_session_capacity: no worker took it within the queue
   * wait, and it was withdrawn; session_start_failed, with the reason: the kernel's start failed,
   * it was closed meanwhile, its worker stopped answering; unknown_language). The Jupyter face's
   * pending kernels answer POST /api/kernels after the first step (docs/compat.md). Validation
   * and capacity errors reject start() itself, before anything is queued. `ready` never rejects
   * unhandled: a caller that drops it loses nothing but the wait.
   */
  async start(body: unknown): Promise<{ info: SessionInfo; ready: Promise<SessionInfo> }> {
    const { config } = this.deps;
    const s = config.sessions;
    const req = parse(SessionRequest, body, 'session request');
    const over: Array<{ field: string; message: string }> = [];
    const pick = <K extends keyof typeof s.defaults>(field: string, key: K, asked: number | undefined): (typeof s.defaults)[K] => {
      if (asked === undefined) return s.defaults[key];
      if (asked > s.max[key]) over.push({ field, message: `${asked} is over the maximum ${s.max[key]}` });
      return asked as (typeof s.defaults)[K];
    };
    const limits = {
      memoryMb: pick('limits.memoryMb', 'memoryMb', req.limits?.memoryMb),
      cpuS: pick('limits.cpuS', 'cpuS', req.limits?.cpuS),
      cpus: pick('limits.cpus', 'cpus', req.limits?.cpus),
      processes: pick('limits.processes', 'processes', req.limits?.processes),
      diskMb: pick('limits.diskMb', 'diskMb', req.limits?.diskMb),
    };
    const idleTimeoutS = pick('idleTimeoutS', 'idleTimeoutS', req.idleTimeoutS);
    const maxLifetimeS = pick('maxLifetimeS', 'maxLifetimeS', req.maxLifetimeS);
    if (over.length) throw new CorralError('limit_exceeded', `beyond the configured maximum: ${over.map((o) => `${o.field}: ${o.message}`).join('; ')}`, over);
    const files = req.files ?? [];
    if (files.length > config.filesMax) throw new CorralError('too_many', `${files.length} files; at most ${config.filesMax}`, { maximum: config.filesMax });
    const encoded = files.map((f) => ({ path: f.path, contentBase64: f.encoding === 'base64' ? f.content : Buffer.from(f.content).toString('base64') }));
    for (const f of encoded) {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(f.contentBase64)) throw new CorralError('validation_failed', `files: ${f.path} is not valid base64`, [{ field: 'files', message: 'not valid base64' }]);
    }

    const capacity = await this.capacity();
    if (capacity.free <= 0) throw this.noCapacity(capacity.workers ? `every session slot of the ${capacity.workers} worker(s) is taken` : 'no worker takes sessions now', capacity);

    const id = randomUUID();
    const now = new Date().toISOString();
    // The worker nudges this process's inbox when it has taken the session and when the session
    // is ready or ended, with the record as it then is: what the loop waits for comes with the
    // nudge, not at the next poll nor by another read (polls stay, as a backstop: a nudge is a
    // publish, which a reconnecting subscription can miss).
    const inbox = this.inbox;
    await inbox.subscribed;
    let wake: (() => void) | undefined;
    let nudgedMeanwhile = false; // a nudge while the record was being read: look again at once
    let nudged: Record<string, string> | undefined; // the newest record a nudge carried, not yet looked at
    const forget = inbox.expect(id, (m) => {
      const carried = m.t === 'done' && m.ok ? nudgedRecord(m.body, id) : undefined;
      if (carried) nudged = carried;
      if (wake) wake();
      else nudgedMeanwhile = true;
    });
    const takeNudged = () => {
      const r = nudged;
      nudged = undefined;
      return r;
    };
    const nextLook = (ms: number) => {
      if (nudgedMeanwhile) {
        nudgedMeanwhile = false;
        return Promise.resolve(takeNudged());
      }
      return new Promise<Record<string, string> | undefined>((resolve) => {
        const done = () => { clearTimeout(timer); wake = undefined; resolve(takeNudged()); };
        const timer = setTimeout(done, ms);
        wake = done;
      });
    };
    const job: SessionJob = { id, createdAt: now, language: req.language, limits, idleTimeoutS, maxLifetimeS, files: encoded, replyTo: inbox.key };
    let fields: Record<string, string>;
    try {
      fields = await this.enqueue(job);
    } catch (err) {
      forget();
      throw err;
    }
    const ready = this.waitReady(id, req.language, nextLook).finally(forget);
    ready.catch(() => { /* the caller's to read; never an unhandled rejection when it does not */ });
    return { info: sessionInfoOf(fields), ready };
  }

  /**
   * Writes the record and queues the job; resolves with the record's fields as written.
   */
  private async enqueue(job: SessionJob): Promise<Record<string, string>> {
    const { config, redis, log } = this.deps;
    const s = config.sessions;
    const { id, createdAt: now, limits, idleTimeoutS, maxLifetimeS } = job;
    const record = this.keys.record(id);
    const fields: Record<string, string> = {
      id, status: 'starting', language: job.language, createdAt: now, lastUsedAt: now, idleTimeoutS: String(idleTimeoutS), maxLifetimeS: String(maxLifetimeS),
      limits: JSON.stringify(limits), cells: '0',
    };
    // The record and the job go out back to back, with one wait for both: the queue sends on this
    // same connection (it was given `redis` itself), so Redis runs the record's write first and a
    // worker never sees the job without its record. (Awaited one after the other they were two
    // round trips: 2.58 → 1.93 ms p50 for the pair, 1000 of each alternated, load 11.) Should the
    // record's write fail after the job went, a worker that takes the job finds no record and
    // skips it as withdrawn.
    const written = redis.multi()
      .hset(record, fields)
      .expire(record, maxLifetimeS + s.recordTtlS + Math.ceil(s.startTimeoutMs / 1000))
      .exec()
      .then(() => undefined, (err: Error) => err); // held until the job is queued (not an unhandled rejection meanwhile)
    await this.queue.add('session', job, { jobId: id, attempts: 1, removeOnComplete: true, removeOnFail: true });
    const notWritten = await written;
    if (notWritten) throw notWritten;
    log.child({ sessionId: id }).info({ language: job.language, limits, idleTimeoutS, maxLifetimeS }, 'session queued');
    return fields;
  }

  /**
   * Waits until the queued session is ready: looks at the record, then (nextLook) waits for a
   * nudge — whose record it looks at next — or the next poll.
   */
  private async waitReady(id: string, language: string, nextLook: (ms: number) => Promise<Record<string, string> | undefined>): Promise<SessionInfo> {
    const { config, redis, log } = this.deps;
    const s = config.sessions;
    const record = this.keys.record(id);
    const sessionLog = log.child({ sessionId: id });
    // A worker takes it within the queue wait, or it is withdrawn (the free slot was taken
    // meanwhile); once taken (the record names its worker), the kernel starts and the worker beats.
    // A worker that takes a ready warm kernel writes "taken" and "ready" at once. A session closed
    // before any worker took it (close(): withdrawn from the queue) is ended without a worker.
    const takenBy = Date.now() + s.queueWaitMs;
    let taken = false;
    let polls = 0;
    let carried: Record<string, string> | undefined;
    for (;;) {
      const h = carried ?? await redis.hgetall(record);
      if ((h.worker || h.status === 'ended') && !taken) {
        taken = true;
        polls = 0;
      }
      if (taken) {
        if (!h.id) throw new CorralError('session_not_found', `session ${id} vanished while it started`);
        const info = sessionInfoOf(h);
        if (info.status === 'ready') return info;
        if (info.status === 'ended') {
          if (h.startError === 'unknown_language') throw new CorralError('unknown_language', h.endedMessage ?? `language ${language} has no notebook kernel`, { language });
          // The request's own files did not fit (or clashed): the client's to change, not to retry.
          if (h.startError === 'session_file_failed') throw new CorralError('session_file_failed', h.endedMessage ?? 'a file of the request could not be written in /box', { id });
          throw new CorralError('session_start_failed', `the session did not start (${info.endedReason}): ${info.endedMessage ?? ''}`, { id, reason: info.endedReason }, { 'Retry-After': String(config.retryAfterSeconds) });
        }
        if (this.beatTooOld(h)) {
          await this.markLost(id);
          throw new CorralError('session_start_failed', 'the worker starting the session stopped answering', { id, reason: 'worker_lost' }, { 'Retry-After': String(config.retryAfterSeconds) });
        }
      } else if (Date.now() > takenBy) {
        const removed = await this.queue.remove(id).catch(() => 0);
        if (removed === 1) {
          await redis.del(record);
          sessionLog.info('session withdrawn: no worker took it');
          throw this.noCapacity(`no worker took the session within ${s.queueWaitMs} ms`);
        }
        // Being taken right now (its job is active: not removable): go on waiting for the worker,
        // within the start bound. A worker that took the job and died before it wrote "taken"
        // never will, and nobody else writes the record (BullMQ fails the stalled job on its own).
        if (Date.now() > takenBy + s.startTimeoutMs) {
          await this.markLost(id, `the worker that took the session did not start it within ${s.startTimeoutMs} ms`);
          throw new CorralError('session_start_failed', 'the worker that took the session never started it', { id, reason: 'worker_lost' }, { 'Retry-After': String(config.retryAfterSeconds) });
        }
      }
      carried = await nextLook(startPollMs(polls++));
    }
  }

  /**
   * Takes a session's job out of the queue if no worker has it (BullMQ does not remove an active
   * job) and ends its record as closed; false when a worker has it (or the job is gone).
   */
  private async withdraw(id: string): Promise<boolean> {
    const removed = await this.queue.remove(id).catch(() => 0);
    if (removed !== 1) return false;
    await this.endRecord(id, 'closed', 'closed by the client before a worker took it');
    this.deps.log.info({ sessionId: id }, 'session closed before a worker took it: withdrawn');
    return true;
  }

  /** Ends a session's record from the API's side (no worker will): its reason, kept for the record's TTL; its input stream gone. */
  private async endRecord(id: string, endedReason: string, endedMessage: string): Promise<void> {
    const record = this.keys.record(id);
    await this.deps.redis.multi()
      .hset(record, { status: 'ended', endedReason, endedMessage })
      .expire(record, this.deps.config.sessions.recordTtlS)
      .del(this.keys.input(id))
      .exec();
  }

  private noCapacity(why: string, capacity?: { workers: number; free: number }): CorralError {
    const after = this.deps.config.retryAfterSeconds;
    return new CorralError('no_session_capacity', `${why}; retry in ${after} s`, { retryAfterSeconds: after, ...capacity }, { 'Retry-After': String(after) });
  }

  /** Workers that reported recently and their free session slots (entries long stale are removed). */
  async capacity(): Promise<{ workers: number; free: number }> {
    const { redis, config } = this.deps;
    const entries = await redis.hgetall(this.keys.workers);
    const now = Date.now();
    const silence = config.sessions.workerSilenceMs;
    let free = 0;
    let workers = 0;
    for (const [name, text] of Object.entries(entries)) {
      const e = parseSessionMessage(SessionWorkerEntry, text);
      if (!e || now - e.at > STALE_ENTRY_SILENCES * silence) {
        await redis.hdel(this.keys.workers, name);
        continue;
      }
      if (now - e.at > silence) continue;
      workers++;
      free += Math.max(0, e.slots - e.held);
    }
    return { workers, free };
  }

  private beatTooOld(h: Record<string, string>): boolean {
    const at = Number(h.beatAt);
    return h.worker !== undefined && Number.isFinite(at) && Date.now() - at > this.deps.config.sessions.workerSilenceMs;
  }

  private async markLost(id: string, why?: string): Promise<void> {
    const silence = this.deps.config.sessions.workerSilenceMs;
    await this.endRecord(id, 'worker_lost', why ?? `the worker holding the session stopped beating (silent for more than ${silence} ms)`);
    this.deps.log.warn({ sessionId: id, why: why ?? 'its worker stopped beating' }, 'session lost');
  }

  /** The record (marking it lost when its worker is gone), or 404. */
  async info(id: string): Promise<SessionInfo> {
    // A session held in this process: the record writes its worker made so far (a local
    // answer's fields, off the answer's way) are in first, so a read after an answer sees them
    // (bounded as the read itself is: a Redis that does not answer must not hold it longer).
    await bounded(this.deps.local?.written(id), this.deps.config.apiRedisTimeoutMs);
    const h = await this.deps.redis.hgetall(this.keys.record(id));
    if (!h.id) throw new CorralError('session_not_found', `no session with id ${id} (unknown, or ended and expired)`);
    if (h.status !== 'ended' && this.beatTooOld(h)) {
      await this.markLost(id);
      return this.info(id);
    }
    return sessionInfoOf(h);
  }

  /** The session's info if it is live; else 410 (session_ended, or session_lost when its worker died). */
  async live(id: string): Promise<SessionInfo> {
    const info = await this.info(id);
    if (info.status === 'ended') throw this.endedError(info);
    return info;
  }

  private endedError(info: SessionInfo): CorralError {
    const details = { id: info.id, reason: info.endedReason ?? null, message: info.endedMessage ?? null };
    if (info.endedReason === 'worker_lost') return new CorralError('session_lost', `session ${info.id} is lost: ${info.endedMessage ?? 'its worker is gone'}; start a new session`, details);
    return new CorralError('session_ended', `session ${info.id} has ended (${info.endedReason ?? 'unknown'}): ${info.endedMessage ?? ''}`, details);
  }

  /** Ends a session (idempotent: an ended one answers its info). */
  async close(id: string): Promise<SessionInfo> {
    const info = await this.info(id);
    if (info.status === 'ended') return info;
    // Not taken by a worker yet (a Jupyter kernel is shut down while it starts): withdrawn from
    // the queue, and ended here; one a worker holds (its job active: not removable) is closed by it.
    if (info.status === 'starting' && await this.withdraw(id)) return this.info(id);
    await this.request(id, { t: 'close' }).catch((err) => {
      if (!(err instanceof CorralError && (err.code === 'session_ended' || err.code === 'session_lost'))) throw err;
    });
    return this.info(id);
  }

  /** A cell's request checked against the schema and the configured maximum (422 when it is not):
   * what `runCell` takes, so a streamed cell's bad request is an HTTP answer, not a stream event. */
  checkCell(body: unknown): CheckedCell {
    const s = this.deps.config.sessions;
    const cell = parse(CellRequest, body, 'cell');
    if (cell.timeoutMs !== undefined && cell.timeoutMs > s.max.cellTimeoutMs) {
      throw new CorralError('limit_exceeded', `timeoutMs: ${cell.timeoutMs} is over the maximum ${s.max.cellTimeoutMs}`, [{ field: 'timeoutMs', message: `over the maximum ${s.max.cellTimeoutMs}` }]);
    }
    return { code: cell.code, timeoutMs: cell.timeoutMs ?? s.defaults.cellTimeoutMs, [checkedCell]: true };
  }

  execute(id: string, body: unknown, onOutput?: (output: unknown) => void): Promise<CellResult> {
    return this.runCell(id, this.checkCell(body), onOutput);
  }

  async runCell(id: string, cell: CheckedCell, onOutput?: (output: unknown) => void): Promise<CellResult> {
    return await this.request(id, { t: 'execute', code: cell.code, timeoutMs: cell.timeoutMs, stream: !!onOutput }, onOutput) as CellResult;
  }

  interrupt(id: string): Promise<unknown> {
    return this.request(id, { t: 'interrupt' });
  }

  restart(id: string): Promise<unknown> {
    return this.request(id, { t: 'restart' });
  }

  async putFile(id: string, path: string, data: Buffer): Promise<unknown> {
    const max = this.deps.config.sessions.fileMaxBytes;
    if (data.length > max) throw new CorralError('payload_too_large', `the file has ${data.length} bytes; at most ${max}`, { maximumBytes: max });
    return this.request(id, { t: 'put', path, dataBase64: data.toString('base64') });
  }

  listFiles(id: string): Promise<unknown> {
    return this.request(id, { t: 'list' });
  }

  async getFile(id: string, path: string): Promise<Buffer> {
    const r = await this.request(id, { t: 'get', path }) as { contentBase64?: unknown };
    if (typeof r?.contentBase64 !== 'string') throw new CorralError('internal', 'the worker answered a download without content');
    return Buffer.from(r.contentBase64, 'base64');
  }

  /**
   * Sends one request to the worker holding the session and waits for its answer, checking the
   * record every beat interval (worker gone: 410 session_lost; session ended: 410 session_ended).
   * The request goes straight to the session's host when this process holds it (the local port,
   * services/core/session-local.ts), else by the Redis relay; the answer and its errors are the
   * same either way.
   */
  async request(id: string, command: Command, onOutput?: (output: unknown) => void): Promise<unknown> {
    const { config } = this.deps;
    const rid = randomUUID();
    let settle!: { resolve: (v: unknown) => void; reject: (e: Error) => void };
    const answer = new Promise<unknown>((resolve, reject) => { settle = { resolve, reject }; });
    answer.catch(() => { /* awaited below; an answer may come before the send's own reply */ });
    const onReply = (m: SessionReply) => {
      if (m.t === 'output') {
        try { onOutput?.(m.output); } catch { /* a client gone mid-stream: the result is still awaited */ }
        return;
      }
      if (m.ok) settle.resolve(m.body);
      else settle.reject(this.workerError(m.code, m.message, m.details));
    };
    // Order: while a command of this session that this process sent by Redis has not been
    // answered (it may still be on its way: published, or waiting in the input stream), the next
    // one goes by Redis too, behind it; a command handed over locally is in the host's hands at
    // once, so nothing sent after it can overtake it.
    const local = (this.redisUnanswered.get(id) ?? 0) === 0 ? this.deps.local?.find(id) : undefined;
    let listening = true; // replies after the request gave up (its bound) are dropped, as the inbox forgets them
    let forget = () => { listening = false; };
    let watchdog: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    try {
      if (local) {
        local.send({ ...command, rid } as SessionCommand, (m) => { if (listening) onReply(m); });
      } else {
        const inbox = this.inbox;
        // Counted before the first await: a request made right after this one must see it.
        const counted = this.deps.local !== undefined;
        if (counted) this.countUnanswered(id, 1);
        forget = inbox.expect(rid, (m) => {
          if (counted && m.t === 'done') this.countUnanswered(id, -1);
          onReply(m);
        });
        // Only the process's first request waits here: before it, replies would take the stream (slower).
        await inbox.subscribed;
        // One round trip: the record is checked and the command appended only if the session is live.
        const sent = await sendIfLive(this.deps.redis, this.keys, id, { ...command, rid, replyTo: inbox.key }, config.sessions.workerSilenceMs);
        if (!sent.sent) {
          if (counted) this.countUnanswered(id, -1); // not passed on: not on its way
          await this.live(id); // says why: 404, 410 session_ended, or session_lost (marking it)
          throw new CorralError('session_ended', `session ${id} is not live`, { id, reason: null, message: null });
        }
      }
      watchdog = setInterval(() => {
        void this.info(id).then((info) => {
          if (info.status === 'ended') settle.reject(this.endedError(info));
        }, (err: Error) => settle.reject(err));
      }, sessionBeatMs(config.sessions.workerSilenceMs));
      // A worker that beats but never answers must not hold the request forever either: each
      // command has a bound (a cell: its own timeout, then a kernel restart's time).
      const boundMs = answerBoundMs(command, config.sessions.startTimeoutMs, config.sessions.answerMarginMs);
      deadline = setTimeout(() => settle.reject(new CorralError('session_unresponsive',
        `the worker holding session ${id} did not answer within ${boundMs} ms`, { sessionId: id, waitedMs: boundMs }, { 'Retry-After': '5' })), boundMs);
      return await answer;
    } catch (err) {
      // Ended, lost or unknown: nothing of the session runs any more, so nothing can be overtaken.
      if (err instanceof CorralError && SESSION_OVER.has(err.code)) this.redisUnanswered.delete(id);
      throw err;
    } finally {
      clearInterval(watchdog);
      clearTimeout(deadline);
      forget();
    }
  }

  /**
   * Commands this process sent by Redis and has no answer to yet, per session (kept only with a
   * local port). One never answered (the bound passed, a lost message, Redis failing under the
   * send) stays counted: it may still arrive, so that session's later commands from here go by
   * Redis behind it, in order (correct, only slower). A session found ended, lost or unknown is
   * forgotten (request()).
   */
  private countUnanswered(id: string, by: 1 | -1): void {
    const n = (this.redisUnanswered.get(id) ?? 0) + by;
    if (n > 0) {
      this.redisUnanswered.set(id, n);
      if (!this.unansweredSweep) {
        this.unansweredSweep = setInterval(() => void this.sweepUnanswered(), UNANSWERED_SWEEP_MS);
        this.unansweredSweep.unref();
      }
    } else {
      this.redisUnanswered.delete(id);
    }
  }

  /** Sessions counted with a command this process sent by Redis and has no answer to yet. */
  get unansweredSessions(): number {
    return this.redisUnanswered.size;
  }

  /**
   * Forgets the count of each session that is over — its record ended, or expired — when no later
   * request of this process came to find it so (request()): nothing of it runs any more, so
   * nothing can be overtaken. Runs every UNANSWERED_SWEEP_MS while any session is counted; a
   * Redis that does not answer leaves the counts for a later look.
   */
  async sweepUnanswered(): Promise<void> {
    const ids = [...this.redisUnanswered.keys()];
    if (ids.length === 0) {
      clearInterval(this.unansweredSweep);
      this.unansweredSweep = undefined;
      return;
    }
    if (this.sweeping) return; // the last look has not come back (Redis slow or gone): not another beside it
    this.sweeping = true;
    try {
      const statuses = await Promise.all(ids.map((id) => this.deps.redis.hget(this.keys.record(id), 'status'))).catch(() => undefined);
      statuses?.forEach((status, i) => {
        if (status === null || status === 'ended') this.redisUnanswered.delete(ids[i]!);
      });
    } finally {
      this.sweeping = false;
    }
  }

  /** A worker's error answer as an API error; codes are the registry's (an unknown one is a bug). */
  private workerError(code: string, message: string, details: unknown): CorralError {
    if (Object.hasOwn(ERRORS, code)) return new CorralError(code as ErrorCode, message, details ?? null);
    this.deps.log.error({ code, message }, 'sessions: the worker answered an unknown error code');
    return new CorralError('internal', message);
  }

  async shutdown(): Promise<void> {
    clearInterval(this.unansweredSweep);
    this.unansweredSweep = undefined;
    await this.inbox_?.close();
    await this.queue.close().catch(() => {});
  }
}
