// The documented worst-case memory (docs/operations.md#memory), as the formulas the fault suite
// asserts. Every term is one copy the code makes of a run's output on its way to Redis and back;
// change a term here and in the docs together.

/** The limits the bounds follow from (bytes). */
export interface OutputLimits {
  /** The largest outputBytes a run may ask for (CORRAL_RUN_OUTPUT_BYTES_MAX), per stream. */
  outputCapBytes: number;
  /** CORRAL_RESULT_OUTPUT_MAX_BYTES: the output a result keeps across its phases. */
  resultOutputMaxBytes: number;
  /** CORRAL_COLLECT_TOTAL_MAX_BYTES: collected files, base64 in the result. */
  collectTotalBytes: number;
  /** CORRAL_LIST_MAX_BYTES. */
  listMaxBytes: number;
}

/** A result's JSON at most: its output twice (escapes never more: phase-result.ts), its files as base64, 64 KiB of the rest. */
export function resultJsonBytes(l: OutputLimits, keptBytes = l.resultOutputMaxBytes): number {
  return 2 * keptBytes + Math.ceil(l.collectTotalBytes * 4 / 3) + 64 * 1024;
}

/**
 * What one worker slot adds at most while one run ends, `keptBytes` being the output its result
 * keeps (at most CORRAL_RESULT_OUTPUT_MAX_BYTES):
 * - the last phase's output as bytes, 2 × (2 × the cap): the launcher's buffers and their copy
 *   (outcome.ts frees each stream's C buffer after its copy; the copy lives until a GC);
 * - the phases' text in the result, 4/3 × kept (base64 at worst);
 * - the result's JSON three times: the text (2 bytes a character at worst), its UTF-8 bytes, and
 *   the Redis command ioredis assembles from them (run-store.ts).
 */
export function workerSlotBytes(l: OutputLimits, keptBytes = l.resultOutputMaxBytes): number {
  const phase = 2 * l.outputCapBytes;
  const json = resultJsonBytes(l, keptBytes);
  return 2 * phase + Math.ceil(keptBytes * 4 / 3) + 2 * json + json + json;
}

/**
 * What one API request adds at most. GET /v1/runs/:id: the stored JSON as bytes, and the Redis
 * client's chunks it was put together from (2 ×); GET /v1/runs?ids=: the same for at most
 * CORRAL_LIST_MAX_BYTES together (routes-runs.ts sends the parts without joining them).
 */
export function apiGetBytes(l: OutputLimits, keptBytes = l.resultOutputMaxBytes): number {
  return 2 * resultJsonBytes(l, keptBytes);
}

export function apiListBytes(l: OutputLimits): number {
  return 2 * l.listMaxBytes;
}
