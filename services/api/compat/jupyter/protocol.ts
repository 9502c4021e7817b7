// The Jupyter face's shapes (docs/compat.md): what a client sends on the kernel WebSocket, checked
// before it goes anywhere; the kernel model and kernelspecs of the REST API, as Jupyter Server
// and Kernel Gateway answer them; and Jupyter's error body.
import { CorralError } from '../../../core/errors.ts';
import {
  CLIENT_CHANNELS, ClientMessage, NOTEBOOK_KERNELS, type ClientChannel, type NotebookKernel,
} from '../../../core/session-messages.ts';
import type { SessionInfo } from '../../../core/session-protocol.ts';

/**
 * The message types a client may send, by channel (messaging protocol 5.3). Others are dropped:
 * they are not requests a kernel answers. debug_request passes (on control, where the debugger
 * protocol sends it): the kernel runs without debugpy, so ipykernel answers an empty debug_reply
 * (its kernel_info does not offer a debugger) — a client gets its reply rather than waiting.
 */
export const CLIENT_MSG_TYPES: Readonly<Record<ClientChannel, ReadonlySet<string>>> = {
  shell: new Set([
    'execute_request', 'inspect_request', 'complete_request', 'history_request', 'is_complete_request',
    'kernel_info_request', 'comm_info_request', 'comm_open', 'comm_msg', 'comm_close',
  ]),
  control: new Set(['interrupt_request', 'shutdown_request', 'kernel_info_request', 'debug_request']),
  stdin: new Set(['input_reply']),
};

/** WebSocket close codes the face uses (RFC 6455). */
export const CLOSE = {
  /** The kernel ended (its session ended: closed, idle, lifetime…). */
  goingAway: 1001,
  /** Not JSON, or not a Jupyter message on a client channel, or a binary frame whose parts do not fit. */
  invalidPayload: 1007,
  /** More messages per second than a connection may send. */
  policyViolation: 1008,
  /** Bigger than the message cap (ws closes with it by itself). */
  tooBig: 1009,
  /** The server is shutting down. */
  serverRestart: 1012,
} as const;

export type ClientRead =
  /** buffers: the message's binary buffers (a comm's), as the binary frame carried them. */
  | { kind: 'message'; channel: ClientChannel; msg: ClientMessage; buffers: Buffer[] }
  /** A valid message Corral does not pass on (its type, or buffers in a text frame). */
  | { kind: 'dropped'; reason: string }
  /** Not a Jupyter message at all: the connection is closed. */
  | { kind: 'invalid'; reason: string };

/** Reads one text frame from a client (the JSON form). */
export function readClientMessage(text: string): ClientRead {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'invalid', reason: 'not JSON' };
  }
  return readClientValue(value, []);
}

/** Jupyter's binary WebSocket protocol (Jupyter Server 2's, what @jupyterlab/services asks for first). */
export const V1_PROTOCOL = 'v1.kernel.websocket.jupyter.org';
/** Binary buffers one message may carry (either binary form); the frame's byte cap bounds their size. */
export const MAX_BUFFERS = 64;

/**
 * Reads one binary frame of the v1 protocol (Jupyter Server 2's serialize_msg_to_ws_v1): a
 * little-endian u64 count n, then n u64 offsets — where the channel starts, then where each part
 * ends: the channel, header, parent_header, metadata, content, then each buffer — so the last one
 * is the frame's length. Offsets are checked before any slice is read.
 */
export function readV1Message(frame: Buffer): ClientRead {
  if (frame.length < 8) return { kind: 'invalid', reason: 'v1 frame too short' };
  const n = frame.readBigUInt64LE(0);
  if (n < 6n || n > BigInt(6 + MAX_BUFFERS) || frame.length < 8 * (1 + Number(n))) return { kind: 'invalid', reason: 'v1 frame: bad offset count' };
  const offsets: number[] = [];
  for (let i = 0; i < Number(n); i++) {
    const o = frame.readBigUInt64LE(8 * (i + 1));
    if (o > BigInt(frame.length) || (i > 0 && Number(o) < offsets[i - 1]!)) return { kind: 'invalid', reason: 'v1 frame: bad offsets' };
    offsets.push(Number(o));
  }
  if (offsets[0]! < 8 * (1 + offsets.length) || offsets[offsets.length - 1] !== frame.length) return { kind: 'invalid', reason: 'v1 frame: bad offsets' };
  const part = (i: number) => frame.subarray(offsets[i], offsets[i + 1]);
  let value: Record<string, unknown>;
  try {
    const json = (i: number) => JSON.parse(part(i).toString('utf8')) as unknown;
    value = { channel: part(0).toString('utf8'), header: json(1), parent_header: json(2), metadata: json(3), content: json(4) };
  } catch {
    return { kind: 'invalid', reason: 'v1 frame: a part is not JSON' };
  }
  const buffers: Buffer[] = [];
  for (let i = 5; i + 1 < offsets.length; i++) buffers.push(part(i));
  return readClientValue(value, buffers);
}

/**
 * Reads one binary frame of the JSON form (Jupyter Server 1.x's and Kernel Gateway's
 * serialize_binary_message, what @jupyterlab/services sends without a subprotocol when a message
 * has buffers): a big-endian u32 count n, n u32 offsets where each part starts, then the message
 * as JSON (with its channel) and n - 1 buffers, the last running to the frame's end.
 */
export function readLegacyBinaryMessage(frame: Buffer): ClientRead {
  if (frame.length < 8) return { kind: 'invalid', reason: 'binary frame too short' };
  const n = frame.readUInt32BE(0);
  if (n < 1 || n > 1 + MAX_BUFFERS || frame.length < 4 * (1 + n)) return { kind: 'invalid', reason: 'binary frame: bad part count' };
  const offsets: number[] = [];
  for (let i = 0; i < n; i++) {
    const o = frame.readUInt32BE(4 * (i + 1));
    if (o > frame.length || (i > 0 && o < offsets[i - 1]!)) return { kind: 'invalid', reason: 'binary frame: bad offsets' };
    offsets.push(o);
  }
  if (offsets[0]! < 4 * (1 + n)) return { kind: 'invalid', reason: 'binary frame: bad offsets' };
  const part = (i: number) => frame.subarray(offsets[i], i + 1 < n ? offsets[i + 1] : frame.length);
  let value: unknown;
  try {
    value = JSON.parse(part(0).toString('utf8'));
  } catch {
    return { kind: 'invalid', reason: 'binary frame: the message is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { kind: 'invalid', reason: 'not a JSON object' };
  const buffers: Buffer[] = [];
  for (let i = 1; i < n; i++) buffers.push(part(i));
  // What the JSON says of buffers is not read: the frame's parts are the buffers.
  return readClientValue({ ...(value as Record<string, unknown>), buffers: undefined }, buffers);
}

/**
 * Whether a kernel message from the kernel stream carries buffers. The worker's relay writes
 * `buffers` first (services/core/session-messages.ts), so this reads no further than its start.
 */
export function hasBuffers(text: string): boolean {
  return text.startsWith('{"buffers":["');
}

/** A kernel-stream message parsed, its buffers (base64 there) as bytes. */
function parseKernelMessage(text: string): { m: Record<string, unknown>; buffers: Buffer[] } | null {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
  const buffers = Array.isArray(m.buffers) ? m.buffers.filter((b): b is string => typeof b === 'string').map((b) => Buffer.from(b, 'base64')) : [];
  return { m, buffers };
}

/** A kernel message in the JSON form (as the kernel stream carries it) as a v1 binary frame, its buffers as parts. */
export function toV1Frame(text: string): Buffer | null {
  const parsed = parseKernelMessage(text);
  if (!parsed) return null;
  const { m, buffers } = parsed;
  const parts = [String(m.channel ?? ''), JSON.stringify(m.header ?? {}), JSON.stringify(m.parent_header ?? {}), JSON.stringify(m.metadata ?? {}), JSON.stringify(m.content ?? {})]
    .map((p): Buffer => Buffer.from(p, 'utf8'));
  parts.push(...buffers);
  const head = Buffer.alloc(8 * (1 + parts.length + 1));
  head.writeBigUInt64LE(BigInt(parts.length + 1), 0);
  let at = head.length;
  head.writeBigUInt64LE(BigInt(at), 8);
  parts.forEach((p, i) => {
    at += p.length;
    head.writeBigUInt64LE(BigInt(at), 8 * (i + 2));
  });
  return Buffer.concat([head, ...parts]);
}

/**
 * A kernel message with buffers for a client of the JSON form: Jupyter Server 1.x's binary frame
 * (serialize_binary_message: the message as JSON without its buffers, then each buffer).
 */
export function toLegacyBinaryFrame(text: string): Buffer | null {
  const parsed = parseKernelMessage(text);
  if (!parsed) return null;
  const { m, buffers } = parsed;
  delete m.buffers;
  const parts = [Buffer.from(JSON.stringify(m), 'utf8'), ...buffers];
  const head = Buffer.alloc(4 * (1 + parts.length));
  head.writeUInt32BE(parts.length, 0);
  let at = head.length;
  parts.forEach((p, i) => {
    head.writeUInt32BE(at, 4 * (i + 1));
    at += p.length;
  });
  return Buffer.concat([head, ...parts]);
}

function readClientValue(value: unknown, buffers: Buffer[]): ClientRead {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { kind: 'invalid', reason: 'not a JSON object' };
  const v = value as Record<string, unknown>;
  // As Jupyter Server: no channel means shell; a channel it has no socket for is dropped.
  const channel = v.channel ?? 'shell';
  if (typeof channel !== 'string') return { kind: 'invalid', reason: 'channel must be a string' };
  if (!(CLIENT_CHANNELS as readonly string[]).includes(channel)) return { kind: 'dropped', reason: `no channel ${JSON.stringify(channel.slice(0, 32))}` };
  const r = ClientMessage.safeParse({ header: v.header, parent_header: v.parent_header ?? {}, metadata: v.metadata ?? {}, content: v.content ?? {} });
  if (!r.success) return { kind: 'invalid', reason: `not a Jupyter message: ${r.error.issues[0]?.path.join('.')} ${r.error.issues[0]?.message}` };
  const msg = r.data;
  const ch = channel as ClientChannel;
  if (!CLIENT_MSG_TYPES[ch].has(msg.header.msg_type)) return { kind: 'dropped', reason: `${msg.header.msg_type} is not taken on ${ch}` };
  // Buffers come in binary frames; in a text frame Jupyter gives them no form.
  if (Array.isArray(v.buffers) && v.buffers.length > 0) return { kind: 'dropped', reason: 'buffers are taken in binary frames only' };
  return { kind: 'message', channel: ch, msg, buffers };
}

/** A message from the face itself (a status it reports), on iopub. */
export function statusMessage(state: 'restarting' | 'dead' | 'starting', session: string): string {
  const msgId = `corral-status-${Date.now()}-${Math.random().toString(16).slice(2)}`;
  return JSON.stringify({
    header: { msg_id: msgId, msg_type: 'status', session, username: 'corral', date: new Date().toISOString(), version: '5.3' },
    parent_header: {}, metadata: {}, content: { execution_state: state }, buffers: [], channel: 'iopub', msg_id: msgId, msg_type: 'status',
  });
}

export function kernelByName(name: string): NotebookKernel | undefined {
  return NOTEBOOK_KERNELS.find((k) => k.name === name);
}

export function kernelByLanguage(language: string): NotebookKernel | undefined {
  return NOTEBOOK_KERNELS.find((k) => k.language === language);
}

export const DEFAULT_KERNEL = NOTEBOOK_KERNELS[0]!.name;

export interface KernelModel {
  id: string;
  name: string;
  last_activity: string;
  execution_state: string;
  connections: number;
}

/** Jupyter Server's kernel model of a session. */
export function kernelModel(info: SessionInfo, connections: number, executionState?: string): KernelModel {
  return {
    id: info.id,
    name: kernelByLanguage(info.language)?.name ?? info.language,
    last_activity: info.lastUsedAt,
    execution_state: info.status === 'starting' ? 'starting' : info.status === 'ended' ? 'dead' : (executionState ?? 'idle'),
    connections,
  };
}

/** A kernelspec as GET /api/kernelspecs lists it. */
export function kernelSpec(k: NotebookKernel): object {
  return {
    name: k.name,
    spec: {
      argv: [],
      display_name: k.displayName,
      language: k.specLanguage,
      interrupt_mode: 'signal',
      env: {},
      metadata: { corral: { language: k.language } },
    },
    resources: {},
  };
}

/** Jupyter's error body (`message`, `reason`) with Corral's error beside it. */
export function jupyterError(e: CorralError): { status: number; body: object; headers: Record<string, string> } {
  return { status: e.status, body: { message: e.message, reason: e.code, ...e.toBody() }, headers: e.headers };
}
