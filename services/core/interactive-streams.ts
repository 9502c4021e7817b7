// Redis streams for interactive sessions: append a message, and follow many streams at once over
// one blocking connection per process (one XREAD BLOCK over every followed key). Streams rather
// than pub/sub: a side that starts reading late (a worker taking a queued session, an API whose
// connection dropped for a moment) still gets every message, in order, from where it stopped.
//
// Following a new key must not wait for the XREAD in flight to time out: the reader then appends
// to its own wake stream, which that XREAD also reads, so it returns at once and the next one
// includes the new key. (A wake entry added before the XREAD reaches Redis is found by the next
// XREAD, which reads the wake stream from the last entry it saw, never from `$`.)
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from './logger.ts';
import { INTERACTIVE_STREAM_TTL_SECONDS } from './interactive-protocol.ts';

const BLOCK_MS = 5_000;
const COUNT = 512;

/**
 * The start of a script whose writes go neither to the AOF nor to a replica
 * (`set_repl(REPL_NONE)`): no fsync for them (the embedded Redis runs with appendfsync always),
 * and they are gone after a Redis restart. `replicate_commands()` first: Redis 7 replicates a
 * script's effects anyway, older ones only after it (and refuse set_repl before it).
 */
export const UNLOGGED_SCRIPT = `
redis.replicate_commands()
redis.set_repl(redis.REPL_NONE)
`;

/**
 * A wake entry: appended (and its stream's expiry renewed) without writing it to the AOF or a
 * replica (UNLOGGED_SCRIPT). It only ends a blocking read; written to the AOF, the embedded
 * Redis would fsync for it (appendfsync always: 2–3 ms under disk load, holding back every other
 * client's answers meanwhile) — on the way of every session start and Jupyter connection, which
 * follow a new stream.
 */
const WAKE = `${UNLOGGED_SCRIPT}
redis.call('xadd', KEYS[1], '*', 'w', '1')
redis.call('expire', KEYS[1], ARGV[1])
return 1
`;

/** Appends one message (JSON) to a stream and renews the stream's expiry. */
export async function appendMessage(redis: Redis, key: string, message: object): Promise<void> {
  await redis.multi().xadd(key, '*', 'm', JSON.stringify(message)).expire(key, INTERACTIVE_STREAM_TTL_SECONDS).exec();
}

interface Follow {
  lastId: string;
  onMessage: (text: string, id: string) => void;
}

type XReadReply = Array<[key: string, entries: Array<[id: string, fields: string[]]>]> | null;

export class StreamReader {
  private readonly follows = new Map<string, Follow>();
  private readonly wakeKey: string;
  private wakeId = '0-0';
  private loop: Promise<void> | undefined;
  private closed = false;

  /**
   * `blocking` is this reader's own connection (it sits in XREAD BLOCK); `writer` is any other
   * connection (for the wake stream).
   */
  constructor(
    private readonly blocking: Redis,
    private readonly writer: Redis,
    wakeKeyFor: (reader: string) => string,
    private readonly log?: Logger,
    /** Called after each read with a followed key's last entry id (e.g. to trim what was read). */
    private readonly onRead?: (key: string, lastId: string) => void,
  ) {
    this.wakeKey = wakeKeyFor(randomUUID());
  }

  /**
   * Calls onMessage with each message of `key` after the entry `fromId` (default: from the
   * stream's first entry), in order, until the returned function is called.
   */
  follow(key: string, onMessage: (text: string, id: string) => void, fromId = '0-0'): () => void {
    if (this.closed) throw new Error('stream reader closed');
    const f: Follow = { lastId: fromId, onMessage };
    this.follows.set(key, f);
    this.loop ??= this.run();
    void this.writer.eval(WAKE, 1, this.wakeKey, INTERACTIVE_STREAM_TTL_SECONDS).catch((err: Error) => this.log?.warn({ err: err.message }, 'interactive: cannot wake the stream reader'));
    return () => {
      if (this.follows.get(key) === f) this.follows.delete(key);
    };
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      const keys = [...this.follows.keys()];
      const ids = keys.map((k) => this.follows.get(k)!.lastId);
      let reply: XReadReply;
      try {
        reply = await this.blocking.xread('COUNT', COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', this.wakeKey, ...keys, this.wakeId, ...ids) as XReadReply;
      } catch (err) {
        if (this.closed) return;
        this.log?.warn({ err: (err as Error).message }, 'interactive: stream read failed; retrying');
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      for (const [key, entries] of reply ?? []) {
        if (key === this.wakeKey) {
          this.wakeId = entries[entries.length - 1]?.[0] ?? this.wakeId;
          continue;
        }
        for (const [id, fields] of entries) {
          const f = this.follows.get(key);
          if (!f) break; // unfollowed while its entries were being handed out
          f.lastId = id;
          const text = fields[fields.indexOf('m') + 1];
          if (text === undefined) continue;
          try {
            f.onMessage(text, id);
          } catch (err) {
            this.log?.error({ err: (err as Error).message, key }, 'interactive: message handler failed');
          }
        }
        const lastId = entries[entries.length - 1]?.[0];
        if (lastId && this.onRead) this.onRead(key, lastId);
      }
    }
  }

  /** Stops reading (the blocking connection is closed) and removes the wake stream. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.follows.clear();
    this.blocking.disconnect();
    await this.loop?.catch(() => {});
    await this.writer.del(this.wakeKey).catch(() => {});
  }
}
