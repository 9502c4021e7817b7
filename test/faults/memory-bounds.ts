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
 *   (outcome.ts frees each stream's C buffer after its copy);
 * - the output the result keeps, as the sandbox's bytes (kept: phase-result.ts copies only what
 *   it cuts, within the budget);
 * - the result's JSON once, written from those bytes (result-json.ts) and sent to Redis as it is
 *   (redis-parts.ts: no command assembled from it).
 */
export function workerSlotBytes(l: OutputLimits, keptBytes = l.resultOutputMaxBytes): number {
  const phase = 2 * l.outputCapBytes;
  return 2 * phase + keptBytes + resultJsonBytes(l, keptBytes);
}

/**
 * The same for one run of one phase whose output (both streams) is `outputBytes` and whose stored
 * JSON is `jsonBytes`, at its peak: while the output comes in, the launcher's buffers and their
 * copy (2 × output; each C buffer is freed after its copy); then the copy and the JSON written
 * from it (output + JSON). Before result-json.ts the output was also held as the phases' text, the
 * JSON as a string and its bytes, and the command ioredis made of them: output × 2 + JSON × 3.
 */
export function workerRunBytes(outputBytes: number, jsonBytes: number): number {
  return Math.max(2 * outputBytes, outputBytes + jsonBytes);
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

/**
 * What a face's answer of one stored result adds (Judge0's GET /submissions/:token, its batch GET
 * one result at a time, Piston's results): the stored JSON and the Redis client's chunks (2J), its
 * text and the parsed result's strings (2 bytes a character at worst: 2J each), the output as
 * bytes (kept), and the answer's JSON text and bytes — up to 6 × kept each: a face that sends
 * the output as text escapes a NUL byte as \u0000 (Corral's own JSON sends such output as base64).
 */
export function compatAnswerBytes(l: OutputLimits, keptBytes = l.resultOutputMaxBytes): number {
  const json = resultJsonBytes(l, keptBytes);
  return 2 * json + 2 * json + 2 * json + keptBytes + 2 * 6 * keptBytes;
}
