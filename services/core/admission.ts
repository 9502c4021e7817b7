// Backpressure for one API instance: admits a submit only while the queue, as far as this
// instance can know, holds at most the maximum. One instance never accepts beyond it (issue 22):
// the depth read from Redis is topped up with every run this instance admitted that the reading
// may not contain — those whose job write had not been answered when the reading was sent, and
// all admitted since. Such a run is counted twice at worst (it was in the reading after all),
// which refuses early, never late. Other instances' submits are only seen by the next reading:
// with n instances the queue can exceed the maximum by what the others admit in one reading
// interval (docs/operations.md#backpressure).
import { Refreshed } from './refreshed.ts';

/** The depth is read every NEAR_MS while the queue is over half full, else every FAR_MS. */
const NEAR_MS = 50;
const FAR_MS = 1_000;
/** Readings are kept fresh on a timer while submits came within this long (refreshed.ts). */
const KEEP_FRESH_MS = 30_000;

interface Reading {
  depth: number;
  /** Admissions from this serial on may be missing from `depth`. */
  uncertainFrom: number;
}

export interface Admitted {
  /** The runs' jobs are written (ok) or were not (a failed write frees the places at once). */
  settle(ok: boolean): void;
}

export class QueueAdmission {
  private readonly reading: Refreshed<Reading>;
  private nextSerial = 0;
  /** Admitted runs that the latest readings may not contain: serial → settled (job written). */
  private readonly recent = new Map<number, boolean>();
  private lastEstimate = 0;

  constructor(readDepth: () => Promise<number>, private readonly maxDepth: number) {
    this.reading = new Refreshed(async () => {
      const uncertainFrom = this.oldestUnsettled();
      return { depth: await readDepth(), uncertainFrom };
    }, () => (this.lastEstimate * 2 > maxDepth ? NEAR_MS : FAR_MS), KEEP_FRESH_MS);
  }

  /** The first serial whose job write is not answered yet (or the next one if none is pending). */
  private oldestUnsettled(): number {
    for (const [serial, settled] of this.recent) if (!settled) return serial;
    return this.nextSerial;
  }

  /**
   * Admits `count` runs, or returns the estimated depth that refuses them. Synchronous after the
   * reading, so concurrent submits are counted one after the other.
   */
  async admit(count: number): Promise<{ admitted: Admitted } | { refused: number }> {
    const r = await this.reading.get();
    for (const serial of this.recent.keys()) {
      if (serial >= r.uncertainFrom) break;
      if (this.recent.get(serial)) this.recent.delete(serial); // in the reading (Map keeps insertion order)
    }
    let estimate = r.depth;
    for (const serial of this.recent.keys()) if (serial >= r.uncertainFrom) estimate++;
    this.lastEstimate = estimate + count;
    if (estimate + count > this.maxDepth) return { refused: estimate };
    const serials: number[] = [];
    for (let i = 0; i < count; i++) {
      serials.push(this.nextSerial);
      this.recent.set(this.nextSerial++, false);
    }
    return {
      admitted: {
        settle: (ok) => {
          for (const s of serials) {
            if (ok) { if (this.recent.has(s)) this.recent.set(s, true); } else this.recent.delete(s);
          }
        },
      },
    };
  }

  /** The next admission reads the depth again first (after a cancel removed a queued run). */
  invalidate(): void {
    this.reading.invalidate();
  }

  stop(): void {
    this.reading.stop();
  }
}
