// The fast path of a session request between the API and the worker holding the session
// (docs/sessions.md, "How a request finds its session"): one Redis round trip to send, one wake-up
// to answer.
//
//   API ── EVAL: record live? then XADD <prefix>:session:<id>:in {…command, rid, replyTo} ──▶ worker
//   API ◀── XADD <prefix>:session:inbox:<reader> {rid, …reply} ─────────────────────────────── worker
//
// Sending is one script: it reads the record and appends the command only when the session is
// live (not ended, its worker's beat fresh), so a request costs no separate look-up first. Answers
// come to the API process's own inbox stream, which its one blocking reader follows for its whole
// life: a request registers its id in memory, not a new stream key in Redis, so there is no wake
// of the blocking read and no reply stream to delete per request. The inbox is trimmed as it is
// read (and capped on append), and expires with its process.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { INTERACTIVE_STREAM_TTL_SECONDS } from './interactive-protocol.ts';
import { StreamReader } from './interactive-streams.ts';
import type { Logger } from './logger.ts';
import { parseSessionMessage, SessionReply, type SessionKeys } from './session-protocol.ts';

/** Entries an inbox keeps at most (approximately): a backstop behind the reader's own trimming. */
export const INBOX_MAXLEN = 10_000;

/** The routing fields of any command on a session's input stream (whatever its type). */
export const CommandRoute = z.object({ rid: z.string().min(1).max(128), replyTo: z.string().max(512).optional() });

/** An inbox entry: a reply (SessionReply) with the request id it answers. */
const InboxEntry = z.object({ rid: z.string() }).passthrough();

/**
 * KEYS: record, input. ARGV: now (ms), silence (ms), command JSON, stream TTL (s).
 * Returns {1} when the command was appended, else {0, <the record as HGETALL>}.
 */
const SEND_IF_LIVE = `
local h = redis.call('hgetall', KEYS[1])
local status, worker, beat
for i = 1, #h, 2 do
  local k = h[i]
  if k == 'status' then status = h[i + 1] elseif k == 'worker' then worker = h[i + 1] elseif k == 'beatAt' then beat = h[i + 1] end
end
if status == nil or status == 'ended' then return {0, h} end
if worker ~= nil and tonumber(beat) ~= nil and tonumber(ARGV[1]) - tonumber(beat) > tonumber(ARGV[2]) then return {0, h} end
redis.call('xadd', KEYS[2], '*', 'm', ARGV[3])
redis.call('expire', KEYS[2], ARGV[4])
return {1}
`;

/**
 * Appends `command` to the session's input stream if the session is live; otherwise the record
 * (empty when there is none), for the caller to say why (404, 410, lost).
 */
export async function sendIfLive(redis: Redis, keys: SessionKeys, id: string, command: object, workerSilenceMs: number): Promise<{ sent: true } | { sent: false; record: Record<string, string> }> {
  const r = await redis.eval(SEND_IF_LIVE, 2, keys.record(id), keys.input(id), Date.now(), workerSilenceMs, JSON.stringify(command), INTERACTIVE_STREAM_TTL_SECONDS) as [number, string[]?];
  if (r[0] === 1) return { sent: true };
  const flat = r[1] ?? [];
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) record[flat[i]!] = flat[i + 1]!;
  return { sent: false, record };
}

/** Worker side: appends a reply to an API process's inbox (capped; the stream's expiry renewed). */
export async function replyToInbox(redis: Redis, inbox: string, rid: string, reply: SessionReply): Promise<void> {
  await redis.multi()
    .xadd(inbox, 'MAXLEN', '~', INBOX_MAXLEN, '*', 'm', JSON.stringify({ ...reply, rid }))
    .expire(inbox, INTERACTIVE_STREAM_TTL_SECONDS)
    .exec();
}

/** Whether `key` is an inbox of this deployment (the worker writes nowhere else a command names). */
export function isInboxKey(keys: SessionKeys, key: string): boolean {
  return key.startsWith(keys.inbox('')) && /^[0-9a-f-]{36}$/.test(key.slice(keys.inbox('').length));
}

/** API side: this process's inbox and the requests waiting on it. */
export class SessionInbox {
  readonly key: string;
  private readonly waiting = new Map<string, (reply: SessionReply) => void>();
  private readonly reader: StreamReader;

  /** `blocking` is the inbox's own connection (it sits in XREAD BLOCK); `writer` any other. */
  constructor(blocking: Redis, private readonly writer: Redis, keys: SessionKeys, private readonly log: Logger) {
    this.key = keys.inbox(randomUUID());
    this.reader = new StreamReader(blocking, writer, keys.wake, log, (_key, lastId) => {
      // Read entries are of no use to anyone: trim them (the entry at lastId stays; MINID keeps it).
      void writer.xtrim(this.key, 'MINID', lastId).catch(() => 0);
    });
    this.reader.follow(this.key, (text) => this.dispatch(text));
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
    await this.reader.close();
    await this.writer.del(this.key).catch(() => 0);
  }
}
