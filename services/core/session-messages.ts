// Raw Jupyter messages between a client and a session's kernel (the Jupyter face,
// docs/compat.md), beside the cell requests of session-protocol.ts. The worker knows only these
// shapes, never the face: the face turns them into the Jupyter WebSocket's JSON.
//
//   API ── <prefix>:session:<id>:in(:live) {t:'kattach'} | {t:'kmsg', ch, msg, buffers?}  ───▶ the worker's relay
//   API ◀── <prefix>:session:<id>:kernel    one entry per kernel message or event ── the worker's relay
//
// A client's messages take the way of a v1 request (session-relay.ts: published to the session's
// channel, the input stream when that reaches nobody, in order either way); a big one
// (over CLIENT_PUBLISH_MAX_BYTES) takes the stream, and the session's later requests with it.
// One kernel stream per session, read by every API process with a client on that kernel (each
// from the entry that was last when its client connected). Its entries are text, not JSON, so an
// API routes a message without parsing it: `<channel>\t<parent msg_id>\t<the client's JSON>`
// for a kernel message, `ev\t<event>\t<JSON details>` for an event. The worker trims the stream
// to its last KERNEL_STREAM_WINDOW_MS of entries (XADD MINID): an API that falls further behind
// loses messages rather than Redis growing; with the worker's byte rate on the relay
// (RELAY_BYTES_PER_S) this bounds a session's stream. Its appends are not written to the AOF
// (APPEND_UNLOGGED below): no fsync on a kernel message's way.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { INTERACTIVE_STREAM_TTL_SECONDS } from './interactive-protocol.ts';
import { UNLOGGED_SCRIPT } from './interactive-streams.ts';

export function kernelStreamKey(prefix: string, sessionId: string): string {
  return `${prefix}:session:${sessionId}:kernel`;
}

/** Entries older than this are trimmed from a kernel stream as new ones come. */
export const KERNEL_STREAM_WINDOW_MS = 10_000;
/** Kernel → client bytes per second the relay passes on (bursts up to a second and a half's worth). */
export const RELAY_BYTES_PER_S = 16 * 1024 * 1024;
/** A kernel message this small always passes, whatever the byte rate (statuses, replies). */
export const RELAY_SMALL_BYTES = 4096;
/** The largest client message the API forwards to a kernel (the kernel channel's own cap is 4 MiB a line). */
export const CLIENT_MESSAGE_MAX_BYTES = 2 * 1024 * 1024;
/**
 * The largest client message (as sent to the worker, buffers in base64) the API publishes; a
 * bigger one goes by the session's input stream, and so does everything of that session after
 * it (the order stays). Published messages wait in Redis's output buffer of the worker's
 * subscription, which Redis cuts past 32 MB (client-output-buffer-limit pubsub): many messages of
 * up to 2 MiB from a client that floods could cut the subscription of every session on that
 * worker; a stream holds them instead, read at the worker's pace.
 */
export const CLIENT_PUBLISH_MAX_BYTES = 64 * 1024;

/** The channels a client may send on. */
export const CLIENT_CHANNELS = ['shell', 'control', 'stdin'] as const;
export type ClientChannel = (typeof CLIENT_CHANNELS)[number];

const jsonObject = z.custom<Record<string, unknown>>(
  (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  { message: 'expected a JSON object' },
);

/** A Jupyter message header as the API forwards it (checked by the face, again by the worker). */
export const ClientHeader = z.object({
  msg_id: z.string().min(1).max(256),
  msg_type: z.string().min(1).max(128),
  session: z.string().max(256),
  username: z.string().max(256).optional(),
  /** An ISO string, or (Jupyter Server's gateway client) seconds since the epoch. */
  date: z.union([z.string().max(64), z.number()]).optional(),
  version: z.string().max(32).optional(),
}).passthrough();

export const ClientMessage = z.object({
  header: ClientHeader,
  parent_header: jsonObject,
  metadata: jsonObject,
  content: jsonObject,
});
export type ClientMessage = z.infer<typeof ClientMessage>;

/** API → worker on the session's input stream (beside SessionCommand: a different `t`). */
export const KernelCommand = z.discriminatedUnion('t', [
  /** A client is connected: relay the kernel's messages to the kernel stream from now on. */
  z.object({ t: z.literal('kattach') }),
  /** buffers: the message's binary buffers (a comm's, e.g. ipywidgets'), base64. */
  z.object({ t: z.literal('kmsg'), ch: z.enum(CLIENT_CHANNELS), msg: ClientMessage, buffers: z.array(z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/)).max(64).optional() }),
]);
export type KernelCommand = z.infer<typeof KernelCommand>;

/** Kernel-stream events. */
export type KernelEvent =
  /** The session ended; details: {reason, message}. */
  | 'ended'
  /** The kernel process died and the relay is restarting it (Jupyter's autorestart). */
  | 'restarting'
  /** The relay's restart is done: a fresh kernel answers. */
  | 'restarted'
  /** The kernel process died and could not be restarted; details: {message}. */
  | 'dead';

/** An entry of the kernel stream for a kernel message (`text` is the client's JSON). */
export function kernelEntry(channel: string, parentMsgId: string | undefined, text: string): string {
  const parent = parentMsgId !== undefined && parentMsgId.length <= 256 && !/[\t\n]/.test(parentMsgId) ? parentMsgId : '';
  return `${channel}\t${parent}\t${text}`;
}

export function eventEntry(event: KernelEvent, details: object = {}): string {
  return `ev\t${event}\t${JSON.stringify(details)}`;
}

export type ParsedEntry =
  | { kind: 'message'; channel: string; parent: string; text: string }
  | { kind: 'event'; event: string; details: string };

/** Splits an entry at its first two tabs (never parses the message itself). */
export function parseEntry(entry: string): ParsedEntry | null {
  const a = entry.indexOf('\t');
  const b = a < 0 ? -1 : entry.indexOf('\t', a + 1);
  if (b < 0) return null;
  const head = entry.slice(0, a);
  if (head === 'ev') return { kind: 'event', event: entry.slice(a + 1, b), details: entry.slice(b + 1) };
  return { kind: 'message', channel: head, parent: entry.slice(a + 1, b), text: entry.slice(b + 1) };
}

/**
 * KEYS: the kernel stream. ARGV: MINID, TTL (s), then the entries. Appends them in order, trims
 * the stream to its window and renews its expiry — without writing any of it to the AOF (or to a
 * replica): UNLOGGED_SCRIPT. The embedded Redis fsyncs its AOF before it answers a turn
 * that wrote (appendfsync always), 2–3 ms under this machine's disk load, and that wait held back
 * every kernel message on its way to a Jupyter client (a warm start's first cell waits for five
 * or six such appends: kernel_info's busy, reply and idle, the cell's own). A kernel stream is of
 * no use after a Redis restart (the kernel that wrote it is what holds the session's state, as
 * for the published requests of session-relay.ts), and what a stream gives that a publish would
 * not — every API process reading it from where it stands, a new feed reading the kernel's
 * state from its last entries (kernelStreamState), a reader that reconnects — stays the same.
 */
const APPEND_UNLOGGED = `${UNLOGGED_SCRIPT}
for i = 3, #ARGV, 2 do redis.call('xadd', KEYS[1], 'MINID', '~', ARGV[1], ARGV[i], 'm', ARGV[i + 1]) end
redis.call('expire', KEYS[1], ARGV[2])
return (#ARGV - 2) / 2
`;

/** A stream entry id's parts, to compare two ids (`<ms>-<seq>`). */
export function entryIdParts(id: string): [number, number] {
  const dash = id.indexOf('-');
  return dash < 0 ? [Number(id), 0] : [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}

/** Whether stream entry id `a` comes after `b`. */
export function entryIdAfter(a: string, b: string): boolean {
  const [am, as] = entryIdParts(a);
  const [bm, bs] = entryIdParts(b);
  return am > bm || (am === bm && as > bs);
}

/**
 * An appender for one kernel stream that sends the entries made in one turn of the event loop
 * (the frames of one read from the bridge: status, execute_input, result, reply…) as one
 * script, in order — one Redis round trip for a cell's answer rather than one per message, and
 * nothing written to the AOF (APPEND_UNLOGGED).
 */
export interface KernelStreamWriter {
  /** Appends an entry (in the order called); returns the id it will have in the stream. */
  (entry: string): string;
  /** The id of the last entry appended ('0-0' before any). */
  readonly lastId: string;
}

/**
 * The entries get ids chosen here (`<ms>-<seq>`, increasing, from the clock), not Redis's `*`: the
 * writer is its stream's only one (one worker's relay per session), and an entry's id is known as
 * it is made, so `tap` can hand it to a reader in this process (the Jupyter face's feed, through
 * the local port) before Redis has it, and that reader tell it apart when its stream read brings
 * it too. An id not above the stream's last would fail the script at its first entry (ids within
 * a batch increase), so a batch is written whole or not at all.
 */
export function kernelStreamWriter(redis: Redis, key: string, onError: (err: Error) => void,
  tap?: (id: string, entry: string) => void): KernelStreamWriter {
  let batch: string[] = [];
  let lastMs = 0;
  let lastSeq = 0;
  const flush = () => {
    const args = batch;
    batch = [];
    const minId = `${Date.now() - KERNEL_STREAM_WINDOW_MS}-0`;
    redis.eval(APPEND_UNLOGGED, 1, key, minId, INTERACTIVE_STREAM_TTL_SECONDS, ...args).catch(onError);
  };
  const append = ((entry: string) => {
    const now = Date.now();
    if (now > lastMs) {
      lastMs = now;
      lastSeq = 0;
    } else {
      lastSeq++;
    }
    const id = `${lastMs}-${lastSeq}`;
    if (batch.length === 0) queueMicrotask(flush);
    batch.push(id, entry);
    tap?.(id, entry);
    return id;
  }) as KernelStreamWriter;
  Object.defineProperty(append, 'lastId', { get: () => `${lastMs}-${lastSeq}` });
  return append;
}

/**
 * A kernel status message's execution state and the kernel's Jupyter session, read without parsing
 * the message whole (each undefined where absent); null for a message that is not a status.
 */
export function kernelStatusFields(text: string): { state: string | undefined; session: string | undefined } | null {
  if (!text.includes('"msg_type":"status"')) return null;
  return {
    state: /"execution_state":"(busy|idle|starting)"/.exec(text)?.[1],
    session: /"header":\{[^{}]*?"session":"([^"\\]{1,256})"/.exec(text)?.[1],
  };
}

/** How far back a new reader of a kernel stream looks for the kernel's state (entries). */
const STATE_LOOKBACK_ENTRIES = 64;

/**
 * Where a new reader of a kernel stream starts (its last entry's id, '0-0' when it has none), and
 * whether the kernel is dead there: the newest event among the last entries is `dead` (a failed
 * restart). A client that reconnects on `restarting` — as Jupyter clients do — may open its
 * socket after the `dead` was written, and must still hear it. Also the kernel's Jupyter session
 * from the newest status message, for the status the face then sends.
 */
export async function kernelStreamState(redis: Redis, key: string): Promise<{ from: string; dead: boolean; session: string | undefined }> {
  const last = await redis.xrevrange(key, '+', '-', 'COUNT', STATE_LOOKBACK_ENTRIES);
  let dead = false;
  let session: string | undefined;
  let eventSeen = false;
  for (const [, fields] of last) {
    const entry = parseEntry(fields[1] ?? '');
    if (!entry) continue;
    if (entry.kind === 'event' && !eventSeen) {
      eventSeen = true;
      dead = entry.event === 'dead';
    } else if (entry.kind === 'message' && session === undefined) {
      session = kernelStatusFields(entry.text)?.session;
    }
  }
  return { from: last[0]?.[0] ?? '0-0', dead, session };
}

// -- notebook kernels the face offers ------------------------------------------------------------

export interface NotebookKernel {
  /** The Jupyter kernel name clients ask for (kernelspec name). */
  name: string;
  /** The Corral language the session runs (the registry resolves it to an image). */
  language: string;
  displayName: string;
  /** The kernelspec's language (what notebooks record in their metadata). */
  specLanguage: string;
}

/**
 * The kernels a Jupyter client can start, by kernelspec name. Kept equal to the worker's kernel
 * table (worker/sessions/kernels.ts) by test/compat/jupyter-protocol.test.ts; the API may not
 * import the worker, so the list is here.
 */
export const NOTEBOOK_KERNELS: readonly NotebookKernel[] = Object.freeze([
  { name: 'python3', language: 'python', displayName: 'Python 3 (Corral sandbox)', specLanguage: 'python' },
]);
