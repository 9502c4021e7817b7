// The recorded exchange of two connected programs (connect with transcriptBytes): instead of
// going from container to container, each program's stdout comes to this process and is written
// on to the other's stdin, and what passes is recorded up to a byte budget. Nothing is buffered
// without bound: when a program does not read, the write to it stays pending and the relay stops
// reading the other side (which then blocks in its own write, as on a plain pipe). A reader that
// is gone (EPIPE) closes the writer's pipe, so the writer gets EPIPE/SIGPIPE as on a plain pipe;
// an EOF is passed on as EOF.
import { Socket } from 'node:net';

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

/** Records what passes, in order, until `maxBytes` (entries' bytes + their cost) are spent. */
export class TranscriptRecorder {
  private readonly entries: TranscriptEntry[] = [];
  private chunks: Buffer[] = [];
  private spent = 0;
  private truncated = false;

  constructor(private readonly maxBytes: number) {}

  record(from: TranscriptEntry['from'], chunk: Buffer): void {
    if (this.truncated || chunk.length === 0) return;
    const last = this.entries.at(-1);
    const continues = last !== undefined && last.from === from;
    const cost = continues ? 0 : TRANSCRIPT_ENTRY_COST_BYTES;
    const room = this.maxBytes - this.spent - cost;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept.length < chunk.length) this.truncated = true;
    this.spent += cost + kept.length;
    // Copied: the socket's chunk is ours, but a slice of it would pin the whole read buffer.
    if (continues) this.chunks.push(Buffer.from(kept));
    else {
      this.flush();
      this.entries.push({ from, data: Buffer.alloc(0) });
      this.chunks = [Buffer.from(kept)];
    }
  }

  private flush(): void {
    const last = this.entries.at(-1);
    if (last && this.chunks.length) last.data = Buffer.concat([last.data, ...this.chunks]);
    this.chunks = [];
  }

  result(): Transcript {
    this.flush();
    return { entries: this.entries, truncated: this.truncated };
  }
}

/**
 * Passes `from`'s bytes on to `to`, each chunk recorded first. Backpressure: while `to` has a
 * write pending (its reader is not reading), `from` is paused — at most one read's worth (the
 * socket's 64 KiB) waits here per direction.
 */
export function relay(from: Socket, to: Socket, onChunk: (chunk: Buffer) => void): void {
  from.on('data', (chunk: Buffer) => {
    onChunk(chunk);
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.on('end', () => to.end());
  // The reader is gone (EPIPE) or the run is over: the writer's pipe is closed, so its next write
  // fails as it would on a plain pipe, and nothing more is read from it.
  to.on('error', () => from.destroy());
  to.on('close', () => { if (!from.destroyed) from.destroy(); });
  from.on('error', () => to.destroy());
}

/** After both runs have ended every writer is gone; EOF is only waited for this long. */
const EOF_GRACE_MS = 2000;

/** Resolves once the socket is closed (destroyed after EOF_GRACE_MS at the latest). */
export function closed(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), EOF_GRACE_MS);
    socket.once('close', () => { clearTimeout(timer); resolve(); });
  });
}
