// Jupyter messaging protocol 5.3, the part a cell needs: making requests, and reading the
// kernel's outputs out of validated frames. The kernel is hostile: a message whose content does
// not fit its type's schema is ignored (counted), never half-read.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { JupyterMessage } from './frame-codec.ts';

export const PROTOCOL_VERSION = '5.3';

/** A request from the worker, addressed to no parent. */
export function newMessage(msgType: string, content: Record<string, unknown>, session: string): JupyterMessage {
  return {
    header: { msg_id: randomUUID(), msg_type: msgType, session, username: 'corral', date: new Date().toISOString(), version: PROTOCOL_VERSION },
    parent_header: {},
    metadata: {},
    content,
  };
}

export function executeRequest(code: string, session: string): JupyterMessage {
  return newMessage('execute_request', {
    code,
    silent: false,
    store_history: true,
    user_expressions: {},
    // input() raises instead of waiting for an answer nobody will give.
    allow_stdin: false,
    // Each cell is its own request, queued by the worker, not the kernel: an error must not make
    // the kernel abort whatever reaches it next (ipykernel aborts for a moment after an error).
    stop_on_error: false,
  }, session);
}

/** The msg_id of the message's parent, when it has a string one. */
export function parentMsgId(msg: JupyterMessage): string | undefined {
  const id = msg.parent_header.msg_id;
  return typeof id === 'string' ? id : undefined;
}

/** A MIME bundle: type → data (a string for text and base64 images, any JSON for JSON types). */
export type MimeBundle = Record<string, unknown>;

export type CellOutput =
  | { type: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | { type: 'execute_result'; executionCount: number | null; data: MimeBundle; metadata: Record<string, unknown> }
  | { type: 'display_data'; data: MimeBundle; metadata: Record<string, unknown>; displayId?: string }
  | { type: 'update_display_data'; data: MimeBundle; metadata: Record<string, unknown>; displayId?: string }
  | { type: 'error'; ename: string; evalue: string; traceback: string[] }
  | { type: 'clear_output'; wait: boolean };

const MIME_RE = /^[A-Za-z0-9!#$&^_.+-]{1,127}\/[A-Za-z0-9!#$&^_.+-]{1,127}$/;
const mimeBundle = z.record(z.string().regex(MIME_RE), z.unknown());
const metadata = z.record(z.string().max(256), z.unknown()).optional().default({});
const count = z.number().int().nonnegative().nullable().optional().default(null);
const transient = z.object({ display_id: z.string().max(256).optional() }).optional();
const errorContent = z.object({
  ename: z.string().max(1024),
  evalue: z.string(),
  traceback: z.array(z.string()).max(10_000),
});

const outputSchemas = {
  stream: z.object({ name: z.enum(['stdout', 'stderr']), text: z.string() }),
  execute_result: z.object({ execution_count: count, data: mimeBundle, metadata }),
  display_data: z.object({ data: mimeBundle, metadata, transient }),
  update_display_data: z.object({ data: mimeBundle, metadata, transient }),
  error: errorContent,
  clear_output: z.object({ wait: z.boolean().optional().default(false) }),
};

/**
 * The cell output an iopub message carries; null for a message type that is not an output
 * (status, execute_input…), 'invalid' for an output type whose content does not fit.
 */
export function outputOf(msg: JupyterMessage): CellOutput | null | 'invalid' {
  const type = msg.header.msg_type;
  if (!Object.hasOwn(outputSchemas, type)) return null;
  const res = outputSchemas[type as keyof typeof outputSchemas].safeParse(msg.content);
  if (!res.success) return 'invalid';
  const c = res.data as Record<string, unknown> & { transient?: { display_id?: string } };
  switch (type) {
    case 'stream': return { type, name: c.name as 'stdout' | 'stderr', text: c.text as string };
    case 'execute_result': return { type, executionCount: c.execution_count as number | null, data: c.data as MimeBundle, metadata: c.metadata as Record<string, unknown> };
    case 'display_data':
    case 'update_display_data': {
      const displayId = c.transient?.display_id;
      return { type, data: c.data as MimeBundle, metadata: c.metadata as Record<string, unknown>, ...(displayId !== undefined ? { displayId } : {}) };
    }
    case 'error': return { type, ename: c.ename as string, evalue: c.evalue as string, traceback: c.traceback as string[] };
    default: return { type: 'clear_output', wait: c.wait as boolean };
  }
}

const statusSchema = z.object({ execution_state: z.enum(['busy', 'idle', 'starting']) });

/** The kernel's execution state from a status message, or undefined. */
export function statusOf(msg: JupyterMessage): 'busy' | 'idle' | 'starting' | undefined {
  if (msg.header.msg_type !== 'status') return undefined;
  const res = statusSchema.safeParse(msg.content);
  return res.success ? res.data.execution_state : undefined;
}

const executeReplySchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('ok'), execution_count: count }),
  z.object({ status: z.literal('error'), execution_count: count, ename: z.string().max(1024), evalue: z.string(), traceback: z.array(z.string()).max(10_000).optional().default([]) }),
  z.object({ status: z.literal('aborted'), execution_count: count }),
]);
export type ExecuteReply = z.infer<typeof executeReplySchema>;

/** The content of an execute_reply, or undefined when it is not a valid one. */
export function executeReplyOf(msg: JupyterMessage): ExecuteReply | undefined {
  if (msg.header.msg_type !== 'execute_reply') return undefined;
  const res = executeReplySchema.safeParse(msg.content);
  return res.success ? res.data : undefined;
}
