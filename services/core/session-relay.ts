// The fast path of a session request between the API and the worker holding the session
// (docs/sessions.md, "How a request finds its session"): one Redis round trip to send, one wake-up
// to answer, and nothing written to Redis on the way.
//
//   API ── EVAL: record live? then PUBLISH <prefix>:session:<id>:in:live {…command, rid, replyTo} ──▶ worker
//   API ◀── EVAL: PUBLISH <inbox>:live {rid, …reply} ──────────────────────────────────────────────── worker
//
// Sending is one script: it reads the record and passes the command on only when the session is
// live (not ended, its worker's beat fresh), so a request costs no separate look-up first. Answers
// come to the API process's own inbox, which it subscribes to for its whole life: a request
// registers its id in memory, nothing in Redis.
//
// Pub/sub rather than a stream append on the way, because of the embedded Redis's durability:
// it fsyncs its AOF before it answers any command that wrote (appendfsync always, one fsync for
// everything written in one turn of its loop), and an XADD is a write. That fsync was two of a
// `1+1` cell's milliseconds quiet and 2–3 ms each way under the machine's disk load (measured:
// loadtest/bench-session.ts, docs/sessions.md). PUBLISH writes nothing to the AOF, and a session's
// messages have no use after a Redis restart anyway (the session's worker and kernel are what
// holds its state). What a stream gave and pub/sub does not — delivery to a reader that is not
// listening yet or reconnects — is kept by falling back to the streams, in the same script:
//   - PUBLISH reaches nobody (the worker has not subscribed yet, its subscription's connection
//     is reconnecting, the worker is gone): the command is appended to the session's input stream
//     as before, and the record is marked `viaStream`, so every later command of that session
//     goes the same way and cells stay in the order they were sent (a session falls back once and
//     stays there: correct, only slower).
//   - A reply reaches nobody (the API's subscription is reconnecting): it is appended to the
//     inbox stream, which the API process also follows, and the worker sends every later message
//     of that request the same way (a request's outputs and its `done` stay in order).
// What is lost: a message Redis handed to a subscriber whose connection then broke before it
// read it. The request is then answered by its bound (503 session_unresponsive), as for a worker
// that never answers.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { INTERACTIVE_STREAM_TTL_SECONDS } from './interactive-protocol.ts';
import { StreamReader, UNLOGGED_SCRIPT } from './interactive-streams.ts';
import type { Logger } from './logger.ts';
import { parseSessionMessage, SessionReply, type SessionKeys } from './session-protocol.ts';

/** How long a subscription may take to be confirmed before the streams are relied on instead. */
export const SUBSCRIBE_WAIT_MS = 2_000;

/** Entries an inbox keeps at most (approximately): a backstop behind the reader's own trimming. */
export const INBOX_MAXLEN = 10_000;

/** The routing fields of any command on a session's input stream (whatever its type). */
export const CommandRoute = z.object({ rid: z.string().min(1).max(128), replyTo: z.string().max(512).optional() });

/** An inbox entry: a reply (SessionReply) with the request id it answers. */
const InboxEntry = z.object({ rid: z.string() }).passthrough();

/** The pub/sub channel that goes with a session's input stream or an API process's inbox stream. */
export function liveChannel(streamKey: string): string {
  return `${streamKey}:live`;
}

/**
 * KEYS: record, input. ARGV: now (ms), silence (ms), command JSON, stream TTL (s), input's channel,
 * '1' to append (and mark the session `viaStream`) without publishing.
 * Returns {1} when the command was passed on (published, or appended), else {0, <the record as
 * HGETALL>}. The live check reads the four fields it needs (HMGET): the whole record (~20 fields,
 * a Lua table of each) only for the answer that it is not live, off every cell's way.
 */
const SEND_IF_LIVE = `
local f = redis.call('hmget', KEYS[1], 'status', 'worker', 'beatAt', 'viaStream')
local status, worker, beat, viaStream = f[1], f[2], f[3], f[4]
local live = status and status ~= 'ended'
if live and worker and tonumber(beat) ~= nil and tonumber(ARGV[1]) - tonumber(beat) > tonumber(ARGV[2]) then live = false end
if not live then return {0, redis.call('hgetall', KEYS[1])} end
if viaStream ~= '1' then
  if ARGV[6] ~= '1' and redis.call('publish', ARGV[5], ARGV[3]) > 0 then return {1} end
  redis.call('hset', KEYS[1], 'viaStream', '1')
end
redis.call('xadd', KEYS[2], '*', 'm', ARGV[3])
redis.call('expire', KEYS[2], ARGV[4])
return {1}
`;

/**
 * Passes `command` on to the session's worker if the session is live; otherwise the record
 * (empty when there is none), for the caller to say why (404, 410, lost). `maxPublishBytes`: a
 * command whose JSON is longer (in characters) goes by the input stream, and the session's later
 * ones with it.
 */
export async function sendIfLive(redis: Redis, keys: SessionKeys, id: string, command: object, workerSilenceMs: number,
  maxPublishBytes = Infinity): Promise<{ sent: true } | { sent: false; record: Record<string, string> }> {
  const input = keys.input(id);
  const text = JSON.stringify(command);
  const r = await redis.eval(SEND_IF_LIVE, 2, keys.record(id), input, Date.now(), workerSilenceMs, text, INTERACTIVE_STREAM_TTL_SECONDS, liveChannel(input),
    text.length > maxPublishBytes ? '1' : '0') as [number, string[]?];
  if (r[0] === 1) return { sent: true };
  const flat = r[1] ?? [];
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) record[flat[i]!] = flat[i + 1]!;
  return { sent: false, record };
}

/**
 * KEYS: inbox[, record]. ARGV: message JSON, the inbox's channel, MAXLEN, TTL (s), '1' to append
 * without publishing, then the record's field, value, … (with the record's key).
 * Returns 1 when published to a subscriber, 0 when appended to the stream. The record's fields
 * (a request's lastUsedAt, cells, usage) are written, to a record that exists, without the AOF
 * (set_repl(REPL_NONE) after the message: the fallback's append stays logged): a cell's answer
 * costs no fsync, and none lands on the next request's way. The worker's beat writes the same
 * fields to the AOF (worker/sessions/session-worker.ts), so a Redis restart loses at most a beat
 * of them. replicate_commands() first: Redis 7 replicates a script's effects anyway, older ones
 * only after it (and refuse set_repl before it).
 */
const REPLY = `
redis.replicate_commands()
local published = 0
if ARGV[5] ~= '1' and redis.call('publish', ARGV[2], ARGV[1]) > 0 then
  published = 1
else
  redis.call('xadd', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'm', ARGV[1])
  redis.call('expire', KEYS[1], ARGV[4])
end
if #KEYS >= 2 and #ARGV >= 7 and redis.call('exists', KEYS[2]) == 1 then
  redis.set_repl(redis.REPL_NONE)
  redis.call('hset', KEYS[2], unpack(ARGV, 6))
end
return published
`;

/**
 * Worker side: passes a reply on to an API process's inbox: published, or (nobody subscribed, or
 * `streamOnly`) appended to the inbox stream (capped; its expiry renewed). Resolves true when it
 * was published; once a request's reply was appended, send the rest of its replies `streamOnly`.
 * `record`: fields of the session's record written in the same round trip, without the AOF (see
 * REPLY), if the record still exists.
 */
export async function replyToInbox(redis: Redis, inbox: string, rid: string, reply: SessionReply, streamOnly = false,
  record?: { key: string; fields: Record<string, string> }): Promise<boolean> {
  const fields = record ? Object.entries(record.fields).flat() : [];
  const keys = fields.length ? [inbox, record!.key] : [inbox];
  const r = await redis.eval(REPLY, keys.length, ...keys, JSON.stringify({ ...reply, rid }), liveChannel(inbox), INBOX_MAXLEN, INTERACTIVE_STREAM_TTL_SECONDS,
    streamOnly ? '1' : '0', ...fields);
  return r === 1;
}

/** KEYS: record. ARGV: field, value, …. REPLY's record write alone: to a record that exists, without the AOF. */
const RECORD_FIELDS_UNLOGGED = `${UNLOGGED_SCRIPT}
if redis.call('exists', KEYS[1]) == 1 then
  redis.call('hset', KEYS[1], unpack(ARGV))
  return 1
end
return 0
`;

/**
 * Worker side: the record's fields an answer changed (lastUsedAt, cells, usage), for an answer
 * that went to the API in this process (services/core/session-local.ts) rather than through
 * REPLY: written as REPLY writes them (to a record that exists, no fsync; the beat logs them).
 */
export async function writeAnswerFields(redis: Redis, recordKey: string, fields: Record<string, string>): Promise<boolean> {
  const flat = Object.entries(fields).flat();
  if (!flat.length) return false;
  return await redis.eval(RECORD_FIELDS_UNLOGGED, 1, recordKey, ...flat) === 1;
}

/**
 * KEYS: record, the workers' capacity hash. ARGV: expiry (s) or '', the starting API's inbox
 * channel or '', the session id, the worker's capacity field or '', its value, then field, value, ….
 * Writes the fields to a record that exists (an expired one must not come back as a few fields),
 * sets its expiry when given, writes the worker's capacity entry when given, and nudges the
 * starting API with the record as it now is (HGETALL as an object; null when there is none).
 * Returns 1 when the record was written.
 */
const UPDATE_RECORD = `
local written = 0
if redis.call('exists', KEYS[1]) == 1 then
  if #ARGV >= 7 then redis.call('hset', KEYS[1], unpack(ARGV, 6)) end
  if ARGV[1] ~= '' then redis.call('expire', KEYS[1], ARGV[1]) end
  written = 1
end
if ARGV[4] ~= '' then redis.call('hset', KEYS[2], ARGV[4], ARGV[5]) end
if ARGV[2] ~= '' then
  local body = cjson.null
  if written == 1 then
    local h = redis.call('hgetall', KEYS[1])
    body = {}
    for i = 1, #h, 2 do body[h[i]] = h[i + 1] end
  end
  redis.call('publish', ARGV[2], cjson.encode({t = 'done', ok = true, body = body, rid = ARGV[3]}))
end
return written
`;

/**
 * Worker side: writes fields of a session's record (if it still exists), in one round trip and
 * one AOF write with its expiry (`ttlS`), the worker's capacity entry (`capacity`: its field and
 * value in the capacity hash) and the nudge to the API process starting it (`nudge`: that
 * process's inbox), which carries the record: the API then has what it waits for without reading it.
 */
export async function updateRecord(redis: Redis, keys: SessionKeys, sessionId: string, fields: Record<string, string>,
  opts: { ttlS?: number; nudge?: string; capacity?: { field: string; value: string } } = {}): Promise<boolean> {
  const r = await redis.eval(UPDATE_RECORD, 2, keys.record(sessionId), keys.workers, opts.ttlS === undefined ? '' : opts.ttlS,
    opts.nudge ? liveChannel(opts.nudge) : '', sessionId, opts.capacity?.field ?? '', opts.capacity?.value ?? '', ...Object.entries(fields).flat());
  return r === 1;
}

/** A record carried by a nudge (UPDATE_RECORD's body), or undefined when the body is not one of session `id`. */
export function nudgedRecord(body: unknown, id: string): Record<string, string> | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const h = body as Record<string, unknown>;
  if (h.id !== id || !Object.values(h).every((v) => typeof v === 'string')) return undefined;
  return h as Record<string, string>;
}

/** Whether `key` is an inbox of this deployment (the worker writes nowhere else a command names). */
export function isInboxKey(keys: SessionKeys, key: string): boolean {
  return key.startsWith(keys.inbox('')) && /^[0-9a-f-]{36}$/.test(key.slice(keys.inbox('').length));
}

/** API side: this process's inbox and the requests waiting on it. */
export class SessionInbox {
  readonly key: string;
  /** Resolves once the inbox's channel is subscribed (replies before that come by the stream). */
  readonly subscribed: Promise<void>;
  private readonly waiting = new Map<string, (reply: SessionReply) => void>();
  private readonly reader: StreamReader;

  /**
   * `blocking` is the inbox stream's own connection (it sits in XREAD BLOCK), `subscriber` the
   * inbox channel's (in subscriber mode), `writer` any other.
   */
  constructor(blocking: Redis, private readonly subscriber: Redis, private readonly writer: Redis, keys: SessionKeys, private readonly log: Logger) {
    this.key = keys.inbox(randomUUID());
    this.reader = new StreamReader(blocking, writer, keys.wake, log, (_key, lastId) => {
      // Read entries are of no use to anyone: trim them (the entry at lastId stays; MINID keeps it).
      void writer.xtrim(this.key, 'MINID', lastId).catch(() => 0);
    });
    this.reader.follow(this.key, (text) => this.dispatch(text));
    const channel = liveChannel(this.key);
    subscriber.on('message', (ch: string, text: string) => { if (ch === channel) this.dispatch(text); });
    // Resolves (never rejects) on the confirmation, or after SUBSCRIBE_WAIT_MS without one (a Redis
    // that is unreachable must not hold requests: until it confirms, the worker finds no subscriber
    // and its replies come by the stream).
    let timer: NodeJS.Timeout | undefined;
    this.subscribed = Promise.race([
      subscriber.subscribe(channel),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`not confirmed within ${SUBSCRIBE_WAIT_MS} ms`)), SUBSCRIBE_WAIT_MS); }),
    ]).then(() => {}, (err: Error) => {
      log.warn({ err: err.message }, 'sessions: cannot subscribe to the inbox channel; replies come by the stream');
    }).finally(() => clearTimeout(timer));
  }

  /** Calls onReply with each reply to `rid` until the returned function is called. */
  expect(rid: string, onReply: (reply: SessionReply) => void): () => void {
    this.waiting.set(rid, onReply);
    return () => { this.waiting.delete(rid); };
  }

  private dispatch(text: string): void {
    const entry = parseSessionMessage(InboxEntry, text);
    const handler = entry ? this.waiting.get(entry.rid) : undefined;
    if (!handler) return; // a reply to a request that gave up (its bound, its watchdog)
    const { rid, ...rest } = entry!;
    const reply = SessionReply.safeParse(rest);
    if (reply.success) handler(reply.data);
    else this.log.warn({ rid, text: text.slice(0, 200) }, 'sessions: unreadable reply from the worker');
  }

  async close(): Promise<void> {
    this.waiting.clear();
    this.subscriber.disconnect();
    await this.reader.close();
    await this.writer.del(this.key).catch(() => 0);
  }
}
