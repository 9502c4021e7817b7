// The kernel bridge's wire format (docs/sessions.md): one JSON object per line, both ways.
// Everything decoded here comes from inside a container and is hostile: lines are bounded while
// they accumulate (never after), JSON is parsed in a try, and every frame is checked against a
// schema before anyone reads a field of it. Only the frame's envelope is checked here; what a
// message's content means is checked by whoever uses it (jupyter-messages.ts).
import { z } from 'zod';

/** The channels a worker may send on. */
export const SEND_CHANNELS = ['shell', 'control', 'stdin'] as const;
export type SendChannel = (typeof SEND_CHANNELS)[number];
/** The channels a bridge relays from (iopub is kernel → worker only). */
export const KERNEL_CHANNELS = ['shell', 'control', 'stdin', 'iopub'] as const;
export type KernelChannelName = (typeof KERNEL_CHANNELS)[number];

/** A JSON object as JSON.parse made it: checked to be a plain object, not copied (it can be large). */
const jsonObject = z.custom<Record<string, unknown>>(
  (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  { message: 'expected a JSON object' },
);

const id = z.string().max(256);
/** A Jupyter message header; the fields Corral reads are required, the rest kept as they are. */
export const headerSchema = z.object({
  msg_id: id,
  msg_type: z.string().min(1).max(128),
  session: id.optional(),
  username: id.optional(),
  date: z.string().max(64).optional(),
  version: z.string().max(32).optional(),
});
export type MessageHeader = z.infer<typeof headerSchema>;

/** `{}` or a header: only its msg_id is ever read, and only when it is a string. */
const parentHeaderSchema = jsonObject;

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

export const messageSchema = z.object({
  header: headerSchema,
  parent_header: parentHeaderSchema,
  metadata: jsonObject,
  content: jsonObject,
});
export type JupyterMessage = z.infer<typeof messageSchema>;

export const messageFrameSchema = z.object({
  ch: z.enum(KERNEL_CHANNELS),
  msg: messageSchema,
  buffers: z.array(z.string().regex(BASE64_RE)).max(64).default([]),
});

const kernelInfo = jsonObject.optional();
const pid = z.number().int().positive().optional();
const eventSchema = z.discriminatedUnion('ev', [
  z.object({ ev: z.literal('ready'), kernel_info: kernelInfo, pid }),
  z.object({ ev: z.literal('restarted'), kernel_info: kernelInfo, pid }),
  z.object({
    ev: z.literal('kernel_exited'),
    code: z.number().int().nullable(),
    signal: z.number().int().nullable(),
    stderr: z.string().max(64 * 1024).optional(),
  }),
  z.object({
    ev: z.literal('dropped'),
    ch: z.string().max(32).nullable().optional(),
    msg_type: z.string().max(128).optional(),
    parent_msg_id: z.string().max(256).optional(),
    bytes: z.number().int().nonnegative(),
  }),
  z.object({ ev: z.literal('error'), message: z.string().max(4096) }),
]);

export type MessageFrame = z.infer<typeof messageFrameSchema>;
export type EventFrame = z.infer<typeof eventSchema>;
/** A frame from the bridge: a kernel message on one of its channels, or a bridge event. */
export type BridgeFrame = ({ kind: 'message' } & MessageFrame) | ({ kind: 'event' } & EventFrame);

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown, min: number, max: number): v is string => typeof v === 'string' && v.length >= min && v.length <= max;
const HEADER_OPTIONAL = [['session', 256], ['username', 256], ['date', 64], ['version', 32]] as const;

/**
 * messageFrameSchema's result for a frame that is plainly valid, without zod; undefined for
 * anything else (which then goes through the schema: it decides, and says why). Every message of
 * every cell is decoded (five for a `1+1`), and the schema's parse was ~0.4 ms of the worker's CPU
 * per `1+1` cell (perf, 300 cells). Same rules, same output: unknown keys of the frame, the
 * message and its header dropped; parent_header, metadata and content kept as they are; buffers
 * [] when absent (test/sessions/frame-codec.test.ts compares both on valid and hostile frames).
 */
export function plainMessageFrame(value: Json): MessageFrame | undefined {
  const { ch, msg, buffers } = value;
  if (typeof ch !== 'string' || !(KERNEL_CHANNELS as readonly string[]).includes(ch) || !isObject(msg)) return undefined;
  const { header, parent_header: parentHeader, metadata, content } = msg;
  if (!isObject(header) || !isObject(parentHeader) || !isObject(metadata) || !isObject(content)) return undefined;
  if (!isString(header.msg_id, 0, 256) || !isString(header.msg_type, 1, 128)) return undefined;
  const h: MessageHeader = { msg_id: header.msg_id, msg_type: header.msg_type };
  for (const [key, max] of HEADER_OPTIONAL) {
    const v = header[key];
    if (v === undefined) continue;
    if (!isString(v, 0, max)) return undefined;
    h[key] = v;
  }
  let bufs: string[] = [];
  if (buffers !== undefined) {
    if (!Array.isArray(buffers) || buffers.length > 64 || !buffers.every((b) => typeof b === 'string' && BASE64_RE.test(b))) return undefined;
    bufs = buffers as string[];
  }
  return { ch: ch as KernelChannelName, msg: { header: h, parent_header: parentHeader, metadata, content }, buffers: bufs };
}

/** Decodes one line (without its newline). Throws FrameError for anything but a valid frame. */
export function decodeFrame(line: string): BridgeFrame {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new FrameError(`not JSON: ${(err as Error).message.slice(0, 200)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FrameError('not a JSON object');
  const isEvent = 'ev' in value;
  const plain = isEvent ? undefined : plainMessageFrame(value as Json);
  if (plain) return { kind: 'message', ...plain };
  const res = isEvent ? eventSchema.safeParse(value) : messageFrameSchema.safeParse(value);
  if (!res.success) {
    const issues = res.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new FrameError(`not a valid ${isEvent ? 'event' : 'message'} frame: ${issues.slice(0, 500)}`);
  }
  return isEvent ? { kind: 'event', ...(res.data as EventFrame) } : { kind: 'message', ...(res.data as MessageFrame) };
}

/** A message to the kernel: the JSON line (with its newline) the bridge reads. */
export function encodeMessage(ch: SendChannel, msg: JupyterMessage, buffers: Buffer[] = []): string {
  const frame: Record<string, unknown> = { ch, msg };
  if (buffers.length) frame.buffers = buffers.map((b) => b.toString('base64'));
  return `${JSON.stringify(frame)}\n`;
}

export type BridgeCommand = 'interrupt' | 'restart';

export function encodeCommand(cmd: BridgeCommand): string {
  return `${JSON.stringify({ cmd })}\n`;
}

export class LineTooLongError extends Error {
  constructor(readonly maxLineBytes: number) {
    super(`a line from the bridge is longer than ${maxLineBytes} bytes`);
    this.name = 'LineTooLongError';
  }
}

/**
 * Cuts a byte stream into lines, holding at most `maxLineBytes` of an unfinished line: the
 * moment a line grows past it, push() throws LineTooLongError, before the rest arrives.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxLineBytes: number) {}

  /** The complete lines in `chunk` (and what came before it), without their newlines. */
  push(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      this.check(piece.length);
      lines.push(this.pendingBytes ? Buffer.concat([...this.pending, piece]) : Buffer.from(piece));
      this.pending = [];
      this.pendingBytes = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.check(rest.length);
      this.pending.push(Buffer.from(rest));
      this.pendingBytes += rest.length;
    }
    return lines;
  }

  /** Bytes of the unfinished line held. */
  get heldBytes(): number {
    return this.pendingBytes;
  }

  private check(more: number): void {
    if (this.pendingBytes + more > this.maxLineBytes) throw new LineTooLongError(this.maxLineBytes);
  }
}
