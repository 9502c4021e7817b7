// Workers report themselves in one Redis hash (name → heartbeat JSON). The API reads it for
// /readyz ("workers seen recently, sandbox self-test passed") and for the language list.
import type { Redis } from 'ioredis';
import type { LanguageInfo } from './schemas.ts';

export interface Heartbeat {
  name: string;
  at: number;
  slots: number;
  active: number;
  selfTest: { ok: boolean; error?: string };
  languages: LanguageInfo[];
}

export class WorkerDirectory {
  constructor(private readonly redis: Redis, private readonly key: string, private readonly staleMs: number) {}

  async report(hb: Heartbeat): Promise<void> {
    await this.redis.hset(this.key, hb.name, JSON.stringify(hb));
  }

  async remove(name: string): Promise<void> {
    await this.redis.hdel(this.key, name);
  }

  /** Workers heard from within staleMs (older entries are pruned). */
  async fresh(now = Date.now()): Promise<Heartbeat[]> {
    const all = await this.redis.hgetall(this.key);
    const out: Heartbeat[] = [];
    const stale: string[] = [];
    for (const [name, raw] of Object.entries(all)) {
      try {
        const hb = JSON.parse(raw) as Heartbeat;
        if (now - hb.at <= this.staleMs) out.push(hb);
        else if (now - hb.at > this.staleMs * 10) stale.push(name);
      } catch { stale.push(name); }
    }
    if (stale.length) await this.redis.hdel(this.key, ...stale);
    return out;
  }

  /** The union of fresh workers' languages; a language is available if any worker has it. */
  async languages(): Promise<LanguageInfo[]> {
    const byId = new Map<string, LanguageInfo>();
    for (const hb of await this.fresh()) {
      for (const l of hb.languages) {
        const prev = byId.get(l.id);
        if (!prev || (!prev.available && l.available)) byId.set(l.id, l);
      }
    }
    return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  }
}
