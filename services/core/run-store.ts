// Where runs live in Redis: a hash per run (status + result JSON) and a list of its events. Every
// state change is one Lua script that checks the current status, writes, appends the event and
// publishes a small notice ({id, seq, type}; readers fetch the event itself from the list, so big
// outputs are never broadcast to every API instance) — so a run reaches a terminal state exactly
// once, however many workers race.
import type { Redis } from 'ioredis';
import { RunResult, RunEvent, TERMINAL_STATUSES, type PhaseResult, type RunStatus } from './schemas.ts';
import type { RedisKeys } from './redis.ts';
import { evalParts, luaScript } from './redis-parts.ts';
import { phasePreview, resultJson, type PhaseBytes, type ResultBytes } from './result-json.ts';

const TRANSITION = `
local cur = redis.call('HGET', KEYS[1], 'status')
local allowed = ARGV[1]
if allowed == '' then
  if cur then return 0 end
else
  if not cur then return 0 end
  local ok = false
  for s in string.gmatch(allowed, '[^,]+') do if s == cur then ok = true end end
  if not ok then return 0 end
end
if ARGV[7] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
if allowed == '' then
  -- Index score: the creation time in ms, kept strictly increasing (1/256 ms steps) so runs
  -- created in the same millisecond still list in the order Redis created them.
  local score = tonumber(ARGV[10])
  local top = redis.call('ZREVRANGE', KEYS[4], 0, 0, 'WITHSCORES')
  if top[2] and tonumber(top[2]) >= score then score = tonumber(top[2]) + 0.00390625 end
  redis.call('ZADD', KEYS[4], string.format('%.17g', score), ARGV[8])
end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'status', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'result', ARGV[3]) end
-- ARGV[4]: one or more event bodies (JSON without its opening brace), one per line (JSON text
-- never holds a raw newline); each gets the next seq. The notice names the last one.
local seq = redis.call('LLEN', KEYS[2])
for body in string.gmatch(ARGV[4], '[^\\n]+') do
  seq = seq + 1
  redis.call('RPUSH', KEYS[2], '{"seq":' .. seq .. ',' .. body)
end
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
end
-- ARGV[11] = '1': a small terminal result travels with its notice (saves waiters a read).
local extra = ''
if ARGV[11] == '1' then extra = ',"result":' .. ARGV[3] end
redis.call('PUBLISH', ARGV[6], '{"id":"' .. ARGV[8] .. '","seq":' .. seq .. ',"type":"' .. ARGV[9] .. '"' .. extra .. '}')
return seq
`;

const TRANSITION_SCRIPT = luaScript(TRANSITION);

/**
 * A result's JSON from this size on is written to the socket as it is (redis-parts.ts), not
 * copied into the command first by ioredis.
 */
const PARTS_MIN_BYTES = 64 * 1024;

// Deletes a finished run (hash, events, cancel flag, index entry) in one step, so a run cannot
// start or finish between the status check and the delete. Returns the stored result JSON, or
// 'active' (queued/running: refused), or false (unknown or expired).
const DELETE = `
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then
  redis.call('ZREM', KEYS[4], ARGV[1])
  return false
end
if cur == 'queued' or cur == 'running' then return 'active' end
local result = redis.call('HGET', KEYS[1], 'result')
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[1])
return result
`;

/**
 * A terminal result up to this size is published with its notice, so a waiter (?wait=true)
 * answers without reading it back. Larger ones are read from the hash: notices go to every API
 * instance, and big outputs must not be broadcast.
 */
export const NOTICE_RESULT_MAX_BYTES = 4096;

/** Index entries checked for expiry per trim (bounded work per call). */
const TRIM_BATCH = 64;
/** A creating transition trims the index once every this many creations (per process). */
const TRIM_EVERY = 32;

/** An event as the list keeps it (without id, seq and when: the transition adds them). */
export type StoredEventBody = Omit<RunEvent, 'seq' | 'id' | 'at'> & { at?: string };

/** An event as written: a worker's phase and result hold their output as bytes (result-json.ts). */
export type EventBody = Omit<RunEvent, 'seq' | 'id' | 'at' | 'phase' | 'result'> & {
  at?: string;
  phase?: { name: NonNullable<RunEvent['phase']>['name']; index?: number; result: PhaseResult | PhaseBytes };
  result?: RunResult | ResultBytes;
};

/**
 * Most bytes of a phase's stdout and of its stderr that its event keeps: the event is a preview
 * (marked truncated when cut); the whole output is in the run's result, once. A run at the 16 MiB
 * output cap otherwise kept its output three times in Redis (~60 MB: result, phase event,
 * terminal event) for the result's whole TTL.
 */
export const EVENT_OUTPUT_PREVIEW_BYTES = 64 * 1024;

/**
 * What an event keeps in the run's event list: a terminal event names the outcome without the
 * result (readers take it from the run's record: RunService.events attaches it), a phase event
 * keeps a bounded preview of its output, as text (only the head of an output is ever encoded).
 * Nothing of a run's output is stored twice.
 */
export function compactEvent(event: EventBody): StoredEventBody {
  const { phase, result, ...rest } = event;
  if (phase) return { ...rest, phase: { ...phase, result: phasePreview(phase.result, EVENT_OUTPUT_PREVIEW_BYTES) } };
  if (result && !TERMINAL_STATUSES.includes(event.type as RunStatus)) return { ...rest, result: result as RunResult }; // none does today
  return rest;
}

// Several runs' stored results, or — when together they exceed ARGV[1] bytes — only that total:
// the sizes are checked (HSTRLEN, O(1) each) before anything is read, in one step, so a list
// never reads more than its maximum (a run finishing in between cannot slip past the check). A
// missing run counts 4 bytes (its `null`).
const READ_MANY = `
local total = 0
for _, k in ipairs(KEYS) do
  local n = redis.call('HSTRLEN', k, 'result')
  if n == 0 then n = 4 end
  total = total + n
end
if total > tonumber(ARGV[1]) then return total end
local out = {}
for i, k in ipairs(KEYS) do out[i] = redis.call('HGET', k, 'result') end
return out
`;

/** The connection with the store's scripts defined on it (ioredis defineCommand → EVALSHA). */
type ScriptedRedis = Redis & {
  corralTransition(...args: Array<string | Buffer>): Promise<number>;
  corralDelete(...args: string[]): Promise<string | null>;
  corralReadManyBuffer(numKeys: number, ...args: string[]): Promise<number | Array<Buffer | null>>;
};

/**
 * Reading big results (the API): a result at the output caps is tens of MB, which a loaded host
 * takes more than the API's usual Redis timeout to receive (measured: 48 MB in 0.6–1.3 s at load
 * 17), so such a read goes over a connection of its own, bounded by its size: the usual timeout
 * plus a second per BULK_BYTES_PER_S. Their size is asked first on the usual connection (so a
 * Redis that does not answer is still found out within the usual timeout).
 */
export interface BulkReads {
  redis: Redis;
  /** The usual bound of one Redis answer (CORRAL_API_REDIS_TIMEOUT_MS). */
  timeoutMs: number;
}

/** Results larger than this are read over the bulk connection. */
const BULK_MIN_BYTES = 1024 * 1024;
/**
 * The slowest transfer a bulk read is given time for: a fraction of what one read takes on a
 * loaded host, since reads side by side share Redis (four reads of 48 MB at once missed a bound
 * of 16 MB/s). The bound only tells a Redis that stopped answering from a slow transfer; that
 * Redis answers at all was checked just before.
 */
const BULK_BYTES_PER_S = 4 * 1024 * 1024;

export class RunStore {
  private creations = 0;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly resultTtlSeconds: number,
    private readonly bulk?: BulkReads,
  ) {
    for (const r of bulk ? [redis, bulk.redis] : [redis]) {
      const scripted = r as ScriptedRedis;
      if (typeof scripted.corralTransition !== 'function') r.defineCommand('corralTransition', { numberOfKeys: 4, lua: TRANSITION });
      if (typeof scripted.corralDelete !== 'function') r.defineCommand('corralDelete', { numberOfKeys: 4, lua: DELETE });
      if (typeof scripted.corralReadManyBuffer !== 'function') r.defineCommand('corralReadMany', { lua: READ_MANY });
    }
  }

  /** The connection to read `bytes` over, and how long it is given (undefined: its own timeout). */
  private reader(bytes: number): { redis: Redis; timeoutMs?: number } {
    if (!this.bulk || bytes < BULK_MIN_BYTES) return { redis: this.redis };
    return { redis: this.bulk.redis, timeoutMs: this.bulk.timeoutMs + Math.ceil((bytes / BULK_BYTES_PER_S) * 1000) };
  }

  /**
   * Moves run `id` to `status` (or keeps it, when status is null) if its current status is one of
   * `from` (empty = the run must not exist yet), appending the event(s) in order. Returns the
   * last event's seq, 0 when refused, or -1 when `unlessCancelRequested` is set and a cancel was
   * requested (nothing written then). `result` may be its JSON already (result-json.ts).
   */
  async transition(id: string, from: RunStatus[], status: RunStatus | null, result: RunResult | ResultBytes | Buffer | null, event: EventBody | EventBody[], unlessCancelRequested = false): Promise<number> {
    const at = new Date().toISOString();
    const events = (Array.isArray(event) ? event : [event]).map((e) => ({ id, at: e.at ?? at, ...compactEvent(e) }));
    const last = events.at(-1);
    if (!last) throw new RangeError('transition: at least one event is required');
    const bodies = events.map((e) => JSON.stringify(e).slice(1)).join('\n');
    // Bytes, written from the output's bytes (result-json.ts), and sent as they are.
    const json = result === null ? '' : Buffer.isBuffer(result) ? result : resultJson(result);
    const terminal = status !== null && TERMINAL_STATUSES.includes(status);
    const createdMs = Date.parse((result && !Buffer.isBuffer(result) ? result.createdAt : undefined) ?? last.at);
    const args = [
      this.keys.run(id), this.keys.events(id), this.keys.cancel(id), this.keys.runIndex,
      from.join(','), status ?? '', json, bodies,
      String(terminal ? this.resultTtlSeconds : 0), this.keys.eventsChannel, unlessCancelRequested ? '1' : '0',
      id, last.type, String(Number.isFinite(createdMs) ? createdMs : Date.now()),
      terminal && json.length <= NOTICE_RESULT_MAX_BYTES ? '1' : '0',
    ];
    // EVALSHA through ioredis' script cache (the script text is sent once per connection, not per
    // call); a big result's bytes written to the socket as they are, not copied into the command.
    const seq = json.length >= PARTS_MIN_BYTES
      ? await evalParts(this.redis, TRANSITION_SCRIPT, 4, args)
      : await (this.redis as ScriptedRedis).corralTransition(...args);
    if (from.length === 0 && Number(seq) > 0 && ++this.creations % TRIM_EVERY === 0) {
      await this.trimIndex().catch(() => {});
    }
    return Number(seq);
  }

  /**
   * Drops index entries whose run has expired. Only entries created more than the result TTL ago
   * can have expired (a run expires that long after it finishes), so only those are checked, a
   * bounded batch per call. Returns how many were dropped.
   */
  async trimIndex(now = Date.now()): Promise<number> {
    const cutoff = now - this.resultTtlSeconds * 1000;
    const old = await this.redis.zrangebyscore(this.keys.runIndex, '-inf', cutoff, 'LIMIT', 0, TRIM_BATCH);
    return this.dropMissing(old);
  }

  /** Removes from the index the ids whose run record no longer exists; returns how many. */
  private async dropMissing(ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const p = this.redis.pipeline();
    for (const id of ids) p.exists(this.keys.run(id));
    const out = (await p.exec()) ?? [];
    const gone = ids.filter((_, i) => out[i]?.[1] === 0);
    if (gone.length > 0) await this.redis.zrem(this.keys.runIndex, ...gone);
    return gone.length;
  }

  /**
   * One page (1-based) of runs, newest first by creation time, and the number of runs listed —
   * or, when the page's results together hold more than `maxBytes`, only that total (measured
   * before any is read, as getManyJson does). Entries of expired runs met on the way are dropped
   * from the index and the page is read again.
   */
  async list(page: number, perPage: number, maxBytes = Number.MAX_SAFE_INTEGER): Promise<{ runs: RunResult[]; total: number } | { totalBytes: number }> {
    await this.trimIndex();
    const start = (page - 1) * perPage;
    for (let attempt = 0; ; attempt++) {
      const count = await this.redis.zcard(this.keys.runIndex);
      if (start >= count) return { runs: [], total: count };
      const ids = await this.redis.zrevrange(this.keys.runIndex, start, start + perPage - 1);
      const stored = await this.getManyJson(ids, maxBytes);
      if (!Array.isArray(stored)) return stored;
      const results = stored.map((raw) => (raw ? (JSON.parse(raw.toString()) as RunResult) : null));
      const missing = ids.filter((_, i) => results[i] === null);
      if (missing.length === 0 || attempt >= 3) {
        if (missing.length > 0) await this.dropMissing(missing);
        const total = await this.redis.zcard(this.keys.runIndex);
        return { runs: results.filter((r): r is RunResult => r !== null), total };
      }
      await this.dropMissing(missing);
    }
  }

  /**
   * Deletes a finished run's result and events. 'active' when the run is queued or running
   * (refused, nothing deleted); null for an unknown or expired id.
   */
  async delete(id: string): Promise<RunResult | 'active' | null> {
    const out = await (this.redis as ScriptedRedis).corralDelete(this.keys.run(id), this.keys.events(id), this.keys.cancel(id), this.keys.runIndex, id);
    if (out === 'active') return 'active';
    if (out === null || out === undefined) return null;
    return JSON.parse(out as string) as RunResult;
  }

  async status(id: string): Promise<RunStatus | null> {
    return (await this.redis.hget(this.keys.run(id), 'status')) as RunStatus | null;
  }

  /** The stored result, parsed (read as getJson reads it: a big one over the bulk connection). */
  async get(id: string): Promise<RunResult | null> {
    const raw = await this.getJson(id);
    return raw ? (JSON.parse(raw.toString()) as RunResult) : null;
  }

  /**
   * The stored result as JSON bytes, unparsed (null for an unknown or expired id): an answer
   * sends them as they are. Bytes, not a string: a result at the output caps is tens of MB, read
   * several times faster this way (measured: 0.6–1.3 s against 2.4–3.9 s for 48 MB on a loaded
   * host) and held once.
   */
  async getJson(id: string): Promise<Buffer | null> {
    const key = this.keys.run(id);
    const size = this.bulk ? await this.redis.hstrlen(key, 'result') : 0;
    const { redis, timeoutMs } = this.reader(size);
    return withTimeout(redis.hgetBuffer(key, 'result'), timeoutMs);
  }

  /**
   * The stored results as JSON bytes (null for an unknown or expired id), or, when together
   * they hold more than `maxBytes`, only that total (`{ totalBytes }`) — nothing of them read.
   */
  async getManyJson(ids: string[], maxBytes = Number.MAX_SAFE_INTEGER): Promise<Array<Buffer | null> | { totalBytes: number }> {
    if (ids.length === 0) return [];
    const keys = ids.map((id) => this.keys.run(id));
    // Their size first (the script with a maximum of 0 reads nothing), to choose the connection.
    const size = this.bulk ? Number(await (this.redis as ScriptedRedis).corralReadManyBuffer(keys.length, ...keys, '0')) : 0;
    if (size > maxBytes) return { totalBytes: size };
    const { redis, timeoutMs } = this.reader(size);
    const out = await withTimeout((redis as ScriptedRedis).corralReadManyBuffer(keys.length, ...keys, String(maxBytes)), timeoutMs);
    if (typeof out === 'number') return { totalBytes: out };
    return out.map((raw) => raw ?? null);
  }

  async getMany(ids: string[]): Promise<Array<RunResult | null>> {
    if (ids.length === 0) return [];
    const p = this.redis.pipeline();
    for (const id of ids) p.hget(this.keys.run(id), 'result');
    const out = (await p.exec()) ?? [];
    return out.map(([err, raw]) => {
      if (err) throw err;
      return raw ? (JSON.parse(raw as string) as RunResult) : null;
    });
  }


  async events(id: string, afterSeq = 0): Promise<RunEvent[]> {
    const raw = await this.redis.lrange(this.keys.events(id), afterSeq, -1);
    return raw.map((r) => JSON.parse(r) as RunEvent);
  }

  async requestCancel(id: string): Promise<void> {
    await this.redis.set(this.keys.cancel(id), '1', 'EX', this.resultTtlSeconds);
    await this.redis.publish(this.keys.cancelChannel, id);
  }

  async cancelRequested(id: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.cancel(id))) === 1;
  }
}

/** The read, or — after `timeoutMs` — the error ioredis gives a command that timed out (Redis unavailable: 503). */
async function withTimeout<T>(read: Promise<T>, timeoutMs: number | undefined): Promise<T> {
  if (timeoutMs === undefined) return read;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([read, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('Command timed out')), timeoutMs); })]);
  } finally {
    clearTimeout(timer);
  }
}

export function isTerminal(status: RunStatus | null | undefined): boolean {
  return !!status && TERMINAL_STATUSES.includes(status);
}

/** Validates a stored result (defensive: data in Redis may predate a schema change). */
export function parseResult(raw: unknown): RunResult {
  return RunResult.parse(raw);
}
