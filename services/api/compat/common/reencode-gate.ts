// How many stored results a face re-encodes at once in this process. A face must reshape a result
// (Judge0's fields, base64 with Ruby's line breaks): it reads the stored JSON, parses it and
// writes its own — several times the result's size for a result at the output caps
// (test/faults/memory-bounds.ts compatAnswerBytes: up to 6J + 13K, ~860 MiB for one phase at the
// cap). Without a bound, N such answers at once hold N times that. So results from
// REENCODE_GATE_MIN_BYTES on are re-encoded REENCODES_AT_ONCE at a time, the others waiting their
// turn (first come, first served); smaller ones (nearly all) never wait, and Corral's own API sends
// stored results as they are.

/** Answers of a face re-encoding a big stored result at the same time, per API process. */
export const REENCODES_AT_ONCE = 2;
/** Stored results (together, for a list) from this size on take turns. */
export const REENCODE_GATE_MIN_BYTES = 1024 * 1024;

export class ReencodeGate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly atOnce: number, private readonly minBytes = REENCODE_GATE_MIN_BYTES) {}

  /** Re-encodes waiting for their turn now. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /**
   * Runs `fn`, the re-encode of `bytes` of stored JSON: at once when they are fewer than the
   * gate's minimum, else once fewer than `atOnce` others run; the turn ends when its promise settles.
   */
  async run<T>(bytes: number, fn: () => Promise<T> | T): Promise<T> {
    if (bytes < this.minBytes) return fn();
    if (this.active >= this.atOnce) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the turn passes on: `active` stays
      else this.active--;
    }
  }
}

/** This process's gate, shared by the faces. */
export const reencodes = new ReencodeGate(REENCODES_AT_ONCE);
