// Where runs live in Redis: a hash per run (status + result JSON) and a list of its events. Every
// state change is one Lua script that checks the current status, writes, appends the event and
// publishes a small notice ({id, seq, type}; readers fetch the event itself from the list, so big
// outputs are never broadcast to every API instance) — so a run reaches a terminal state exactly
// once, however many workers race.
import type { Redis } from 'ioredis';
import { RunResult, RunEvent, TERMINAL_STATUSES, type RunStatus } from './schemas.ts';
import type { RedisKeys } from './redis.ts';

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
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'status', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'result', ARGV[3]) end
local seq = redis.call('LLEN', KEYS[2]) + 1
local ev = '{"seq":' .. seq .. ',' .. ARGV[4]
redis.call('RPUSH', KEYS[2], ev)
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
end
redis.call('PUBLISH', ARGV[6], '{"id":"' .. ARGV[8] .. '","seq":' .. seq .. ',"type":"' .. ARGV[9] .. '"}')
return seq
`;

export type EventBody = Omit<RunEvent, 'seq' | 'id' | 'at'> & { at?: string };

export class RunStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly resultTtlSeconds: number,
  ) {}

  /**
   * Moves run `id` to `status` (or keeps it, when status is null) if its current status is one of
   * `from` (empty = the run must not exist yet). Returns the event's seq, 0 when refused, or -1
   * when `unlessCancelRequested` is set and a cancel was requested (nothing written then).
   */
  async transition(id: string, from: RunStatus[], status: RunStatus | null, result: RunResult | null, event: EventBody, unlessCancelRequested = false): Promise<number> {
    const full = { id, at: event.at ?? new Date().toISOString(), ...event };
    const body = JSON.stringify(full).slice(1);
    const terminal = status !== null && TERMINAL_STATUSES.includes(status);
    const seq = await this.redis.eval(
      TRANSITION, 3, this.keys.run(id), this.keys.events(id), this.keys.cancel(id),
      from.join(','), status ?? '', result ? JSON.stringify(result) : '', body,
      String(terminal ? this.resultTtlSeconds : 0), this.keys.eventsChannel, unlessCancelRequested ? '1' : '0',
      id, full.type,
    );
    return Number(seq);
  }

  async status(id: string): Promise<RunStatus | null> {
    return (await this.redis.hget(this.keys.run(id), 'status')) as RunStatus | null;
  }

  async get(id: string): Promise<RunResult | null> {
    const raw = await this.redis.hget(this.keys.run(id), 'result');
    return raw ? (JSON.parse(raw) as RunResult) : null;
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

export function isTerminal(status: RunStatus | null | undefined): boolean {
  return !!status && TERMINAL_STATUSES.includes(status);
}

/** Validates a stored result (defensive: data in Redis may predate a schema change). */
export function parseResult(raw: unknown): RunResult {
  return RunResult.parse(raw);
}
