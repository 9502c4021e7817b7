// Compiled volumes kept for a resubmit or rejudge of the same code: a successful compile's volume
// (the job volume the compiler wrote, a tmpfs of its own) stays mounted, keyed by a hash of
// everything that went into the compile — the image's layers, the compile command and its flags,
// the environment, every input file (path, mode, bytes) and the compile limits. A later job with
// the same key runs its tests over that very volume instead of compiling again: the bytes are the
// compile's own, never copied or re-read through a path a sandbox could have touched.
//
// Safety: a cached volume is only ever a read-only lower layer of an overlay (each test writes its
// own upper layer), so no run can change what the next job sees; it lives where every job volume
// lives (the host's volumes directory, out of any container's view); the cache is bounded in
// entries and in the bytes its tmpfs volumes hold (used space, measured after the compile), the
// least recently used entry nobody holds going first; it lives and dies with the worker process.
// Only jobs with tests use it (their runs always layer over the compiled volume), and only a
// compile that ended ok with exit 0 is kept.
import { createHash } from 'node:crypto';
import { statfsSync } from 'node:fs';
import type { PhaseResult } from './phase-result.ts';
import type { JobVolume } from './launcher.ts';

export interface CompileCacheOptions {
  /** Most bytes the cached volumes may hold in all (their tmpfs used space). */
  maxBytes: number;
  /** Most cached compiles. Default 256. */
  maxEntries?: number;
}

export interface CompileCacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  evictions: number;
}

/** Everything that decides what a compile writes. */
export interface CompileInputs {
  layers: string[];
  argv: string[];
  env: Record<string, string>;
  /** Every file written before the compile, in write order: path, mode, bytes. */
  files: Array<{ path: string; mode: number; data: Buffer }>;
  limits: Record<string, number>;
}

interface Entry {
  volume: JobVolume;
  compile: PhaseResult;
  bytes: number;
  holders: number;
  usedAt: number;
  /** Evicted while held: destroyed when the last holder lets go. */
  evicted: boolean;
}

/** A cached compile, held until released (its volume is then free to go). */
export interface CompileHold {
  volume: JobVolume;
  compile: PhaseResult;
  release(): void;
}

/** The key of a compile: sha256 over a length-prefixed encoding of its inputs (no two input sets share one). */
export function compileKey(inputs: CompileInputs): string {
  const h = createHash('sha256');
  const part = (b: Buffer | string) => {
    const buf = typeof b === 'string' ? Buffer.from(b) : b;
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(buf.length));
    h.update(len).update(buf);
  };
  part('corral-compile-v1');
  part(String(inputs.layers.length));
  for (const l of inputs.layers) part(l);
  part(String(inputs.argv.length));
  for (const a of inputs.argv) part(a);
  const env = Object.entries(inputs.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  part(String(env.length));
  for (const [k, v] of env) { part(k); part(v); }
  part(String(inputs.files.length));
  for (const f of inputs.files) { part(f.path); part(String(f.mode)); part(f.data); }
  const limits = Object.entries(inputs.limits).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  part(String(limits.length));
  for (const [k, v] of limits) { part(k); part(String(v)); }
  return h.digest('hex');
}

/** Used bytes of the tmpfs a volume directory is on. */
function usedBytes(dir: string): number {
  const s = statfsSync(dir);
  return (s.blocks - s.bfree) * s.bsize;
}

export class CompileCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxBytes: number;
  private readonly maxEntries: number;
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private closed = false;
  private readonly destroying = new Set<Promise<unknown>>();

  constructor(options: CompileCacheOptions, private readonly measure: (dir: string) => number = usedBytes) {
    this.maxBytes = options.maxBytes;
    this.maxEntries = options.maxEntries ?? 256;
  }

  /** The cached compile for this key, held until released; undefined on a miss. */
  take(key: string): CompileHold | undefined {
    const e = this.closed ? undefined : this.entries.get(key);
    if (!e) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    e.holders++;
    e.usedAt = performance.now();
    return { volume: e.volume, compile: e.compile, release: this.releaser(e) };
  }

  /**
   * Keeps a successful compile's volume under `key` and hands it back held (the caller must no
   * longer destroy it: release instead). Undefined when it is not kept (too big, the key is
   * taken, the cache is closed): the volume stays the caller's.
   */
  put(key: string, volume: JobVolume, compile: PhaseResult): CompileHold | undefined {
    if (this.closed || this.entries.has(key) || this.maxBytes <= 0 || this.maxEntries <= 0) return undefined;
    let bytes: number;
    try {
      bytes = this.measure(volume.dir);
    } catch {
      return undefined;
    }
    if (bytes > this.maxBytes) return undefined;
    const e: Entry = { volume, compile, bytes, holders: 1, usedAt: performance.now(), evicted: false };
    this.entries.set(key, e);
    this.bytes += bytes;
    this.evictBeyondBounds();
    return { volume, compile, release: this.releaser(e) };
  }

  stats(): CompileCacheStats {
    return { entries: this.entries.size, bytes: this.bytes, hits: this.hits, misses: this.misses, evictions: this.evictions };
  }

  /** Destroys every entry (held ones when released) and waits for what is being destroyed. */
  async close(): Promise<void> {
    this.closed = true;
    for (const key of [...this.entries.keys()]) this.evict(key);
    while (this.destroying.size) await Promise.allSettled([...this.destroying]);
  }

  private releaser(e: Entry): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      e.holders--;
      if (e.evicted && e.holders === 0) this.destroy(e);
      else this.evictBeyondBounds();
    };
  }

  /** Least recently used first, skipping held entries (they go once released). */
  private evictBeyondBounds(): void {
    while (this.bytes > this.maxBytes || this.entries.size > this.maxEntries) {
      let oldest: [string, Entry] | undefined;
      for (const kv of this.entries) if (kv[1].holders === 0 && (!oldest || kv[1].usedAt < oldest[1].usedAt)) oldest = kv;
      if (!oldest) return; // all held: over the bound until one is released
      this.evict(oldest[0]);
    }
  }

  private evict(key: string): void {
    const e = this.entries.get(key)!;
    this.entries.delete(key);
    this.bytes -= e.bytes;
    this.evictions++;
    e.evicted = true;
    if (e.holders === 0) this.destroy(e);
  }

  private destroy(e: Entry): void {
    const done = e.volume.destroy().catch(() => {}).finally(() => this.destroying.delete(done));
    this.destroying.add(done);
  }
}
