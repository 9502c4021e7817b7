// Response bodies made of stored bytes, without copying them: a result read from Redis is sent as
// it is, and a list of results part by part (never joined into one Buffer — a list at its maximum
// would otherwise be held twice).

/** Bytes as a body (a view of the Buffer, no copy). */
export const asBody = (b: Buffer) => new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength);

/** A body sent part by part (no joined copy of the parts). */
export function bodyOfParts(parts: Uint8Array[]): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < parts.length) controller.enqueue(parts[next++]!);
      else controller.close();
    },
  });
}
