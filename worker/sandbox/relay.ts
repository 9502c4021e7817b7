// The recorded exchange of two connected programs (connect with transcriptBytes): instead of
// going from container to container, each program's stdout comes to the worker and is written
// on to the other's stdin, and what passes is recorded up to a byte budget. The relaying runs on
// a thread of the native library (native/src/relay.c), not on the event loop: through Node's
// sockets a one-line round trip cost ×6 of plain pipes on a quiet host, ×14 under load. The rules
// are a plain pipe's: nothing is buffered without bound — while a program does not read, the
// relay stops reading the other side (which then blocks in its own write); a reader that is gone
// (EPIPE) closes the writer's pipe, so the writer gets EPIPE/SIGPIPE; an EOF is passed on as EOF.
import { loadNative, type NativeRelay } from './native.ts';

/** A run of bytes one side wrote, in the order the relay read them. */
export interface TranscriptEntry {
  from: 'first' | 'second';
  data: Buffer;
}

export interface Transcript {
  entries: TranscriptEntry[];
  /** Some bytes passed without being recorded: the budget was spent. */
  truncated: boolean;
}

/**
 * What an entry costs of the budget besides its bytes: a byte-by-byte exchange makes one entry
 * per byte, and each is an object in the result, so entries are paid for too.
 */
export const TRANSCRIPT_ENTRY_COST_BYTES = 16;

/** After both runs have ended every writer is gone; EOF is only waited for this long. */
const EOF_GRACE_MS = 2000;

/** Our ends of the four pipes of a recorded connection. */
export interface RelayEnds {
  /** Read end of the first program's stdout pipe. */
  fromFirst: number;
  /** Write end of the second program's stdin pipe. */
  toSecond: number;
  fromSecond: number;
  toFirst: number;
}

/** A relay under way: finish() once both programs have ended. */
export interface Relay {
  /**
   * Waits for what is left in the pipes to be passed on (or dropped, its reader being gone) and
   * for both EOFs — every writer is gone once both runs have ended — for EOF_GRACE_MS at most,
   * then stops the relay and returns the transcript. Call once.
   */
  finish(): Promise<Transcript>;
  /** Stops at once (a connection that failed before its runs ended); frees the relay unless
   * finish() is under way (which then returns what was recorded). */
  abort(): void;
}

/**
 * Starts relaying first → second and second → first, recording up to `budgetBytes`. The relay
 * owns the four descriptors from the call on: it closes them when it stops, and at once when it
 * cannot start (then it throws a SandboxError).
 */
export function startRelay(ends: RelayEnds, budgetBytes: number): Relay {
  const native = loadNative();
  const handle: NativeRelay = native.relayStart([ends.fromFirst, ends.toSecond, ends.fromSecond, ends.toFirst], budgetBytes, TRANSCRIPT_ENTRY_COST_BYTES);
  let freed = false;
  let finishing = false;
  const free = () => {
    if (freed) return;
    freed = true;
    native.relayFree(handle);
  };
  return {
    async finish() {
      finishing = true;
      try {
        await native.relayFinish(handle, EOF_GRACE_MS);
        return transcriptOf(native.relayTranscript(handle));
      } finally {
        free();
      }
    },
    abort() {
      if (freed) return;
      native.relayAbort(handle);
      // While finish() waits on the thread pool it still uses the relay: it frees it itself.
      if (!finishing) free();
    },
  };
}

/** The native transcript (one byte buffer, {side, length} per entry) as entries over that buffer. */
export function transcriptOf(raw: { data: Buffer; entries: Int32Array; truncated: boolean }): Transcript {
  const entries: TranscriptEntry[] = [];
  let at = 0;
  for (let i = 0; i < raw.entries.length; i += 2) {
    const length = raw.entries[i + 1]!;
    entries.push({ from: raw.entries[i] === 0 ? 'first' : 'second', data: raw.data.subarray(at, at + length) });
    at += length;
  }
  return { entries, truncated: raw.truncated };
}
