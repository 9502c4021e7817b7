// Notebook sessions (docs/sessions.md) between the API and the worker that holds one: the wire
// types of API v1 (SessionRequest, SessionInfo, CellRequest, CellResult), the job that starts a
// session, the Redis keys, and the messages on a session's streams.
//
//   API ── BullMQ job on <prefix>-sessions ──────────────────▶ a worker with a free slot
//   API ── <prefix>:session:<id>:in            (requests) ───▶ that worker
//   API ◀── <prefix>:session:<id>:reply:<rid>  (outputs…, done) ── that worker
//   API ◀▶ <prefix>:session:<id>               (the record: status, worker, times, beats, usage)
// (Requests and answers of API processes with an inbox are published, with these streams and the
// inbox's as the fallback: services/core/session-relay.ts.)
//
// A reply stream per request rather than one answer stream per session: any API process can
// serve any request of any session (each reads only its own request's answers), with nothing to
// share between them but Redis. The record's `beatAt`, renewed by the worker, is how an API
// tells a live session from one whose worker died (session_lost) without waiting on anything.
import { z } from 'zod';
import { NAME_MAX_BYTES, namesFit } from './schemas.ts';

export function sessionKeys(prefix: string) {
  return {
    queue: `${prefix}-sessions`,
    bullPrefix: `${prefix}:bull`,
    record: (id: string) => `${prefix}:session:${id}`,
    input: (id: string) => `${prefix}:session:${id}:in`,
    reply: (id: string, rid: string) => `${prefix}:session:${id}:reply:${rid}`,
    /** An API process's own reply stream (services/core/session-relay.ts): every answer to its requests. */
    inbox: (reader: string) => `${prefix}:session:inbox:${reader}`,
    /** Hash: worker name → its slots, sessions held and last report (capacity for POST /v1/sessions). */
    workers: `${prefix}:session-workers`,
    wake: (reader: string) => `${prefix}:session:wake:${reader}`,
  };
}
export type SessionKeys = ReturnType<typeof sessionKeys>;

/** The worker renews a session's beat this often: a quarter of the silence after which it is lost, at most every 2 s. */
export function sessionBeatMs(workerSilenceMs: number): number {
  return Math.max(100, Math.min(2_000, Math.floor(workerSilenceMs / 4)));
}

// -- API v1 --------------------------------------------------------------------------------------

/** Session ids are ours (UUIDs); anything else is answered 404 without reaching Redis. */
export const SessionId = z.string().regex(/^[0-9a-f-]{36}$/);

/**
 * A path under /box as the API accepts it: relative, no `..` or empty segments, and none of the
 * glob characters (`*?[]{}`) the volume's collect would read as a pattern.
 */
export const BoxPath = z.string().min(1).max(1024)
  .regex(/^[A-Za-z0-9._\-+=,@ ~/]+$/, 'letters, digits, spaces and ._-+=,@~/ only')
  .refine((p) => !p.startsWith('/') && p.split('/').every((s) => s !== '' && s !== '..' && s !== '.'), 'a relative path inside /box, without . or .. segments')
  // A longer name cannot be made: the session's start (its files) would fail as the service's.
  .refine(namesFit, `each name between slashes at most ${NAME_MAX_BYTES} characters`);

export const SessionLimits = z.object({
  memoryMb: z.number().int().min(32).optional().describe('Memory of the whole session (kernel and everything it starts), MiB'),
  cpuS: z.number().int().min(1).optional().describe('CPU-time budget of the whole session, s; past it the session ends (cpu_budget)'),
  cpus: z.number().min(0.1).optional().describe('CPU bandwidth, in CPUs'),
  processes: z.number().int().min(16).optional().describe('Tasks (processes + threads) alive at once'),
  diskMb: z.number().int().min(1).optional().describe('Size of /box and of the writable /tmp, MiB each'),
}).strict();
export type SessionLimits = z.infer<typeof SessionLimits>;

export const SessionFile = z.object({
  path: BoxPath,
  content: z.string(),
  encoding: z.enum(['utf8', 'base64']).default('utf8'),
}).strict();

export const SessionRequest = z.object({
  language: z.string().min(1).max(64),
  limits: SessionLimits.optional(),
  idleTimeoutS: z.number().int().min(1).optional(),
  maxLifetimeS: z.number().int().min(1).optional(),
  files: z.array(SessionFile).optional(),
}).strict();
export type SessionRequest = z.infer<typeof SessionRequest>;

export const SessionStatus = z.enum(['starting', 'ready', 'ended']);
export type SessionStatus = z.infer<typeof SessionStatus>;

export const EndedReason = z.enum([
  /** DELETE /v1/sessions/:id. */
  'closed',
  'idle_timeout',
  'max_lifetime',
  /** The session's CPU-time budget (limits.cpuS) is spent. */
  'cpu_budget',
  /** The worker holding it was stopped (SIGTERM). */
  'worker_shutdown',
  /** The worker holding it stopped beating (killed, hung, cut off from Redis). */
  'worker_lost',
  /** The kernel did not start (the image, the sandbox, or the start timeout). */
  'start_failed',
  /** The kernel's container ended or was closed for breaking the channel's rules (see message). */
  'sandbox_error',
]);
export type EndedReason = z.infer<typeof EndedReason>;

export const SessionInfo = z.object({
  id: z.string(),
  status: SessionStatus,
  language: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string(),
  idleTimeoutS: z.number(),
  maxLifetimeS: z.number(),
  limits: z.object({ memoryMb: z.number(), cpuS: z.number(), cpus: z.number(), processes: z.number(), diskMb: z.number() }),
  /** Peak memory of the session's container so far, KiB (live while it runs, final once ended); null before the first reading. */
  memoryKb: z.number().nullable(),
  /** Memory of the session's container now, KiB (its cgroup: kernel, bridge, what they started, page cache); null once ended or before the first reading. */
  memoryCurrentKb: z.number().nullable(),
  /** CPU time of the session's container so far, ms (live while it runs, final once ended). */
  cpuMs: z.number().nullable(),
  /** When memoryCurrentKb and cpuMs were read while it ran (with each worker beat and after each request). */
  usageAt: z.string().nullable(),
  cells: z.number(),
  /** Whether its kernel came from the worker's warm pool (started before the session was asked for). */
  warm: z.boolean(),
  endedReason: EndedReason.optional(),
  endedMessage: z.string().optional(),
});
export type SessionInfo = z.infer<typeof SessionInfo>;

export const CellRequest = z.object({
  code: z.string().max(1_048_576),
  timeoutMs: z.number().int().min(1).optional(),
}).strict();
export type CellRequest = z.infer<typeof CellRequest>;

const MimeBundle = z.record(z.string(), z.unknown());
export const CellOutputSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('stream'), name: z.enum(['stdout', 'stderr']), text: z.string() }),
  z.object({ type: z.literal('execute_result'), executionCount: z.number().nullable().optional(), data: MimeBundle, metadata: MimeBundle }),
  z.object({ type: z.literal('display_data'), data: MimeBundle, metadata: MimeBundle, displayId: z.string().optional() }),
  z.object({ type: z.literal('update_display_data'), data: MimeBundle, metadata: MimeBundle, displayId: z.string().optional() }),
  z.object({ type: z.literal('error'), ename: z.string(), evalue: z.string(), traceback: z.array(z.string()) }),
  z.object({ type: z.literal('clear_output'), wait: z.boolean() }),
]);

export const CellResult = z.object({
  status: z.enum(['ok', 'error', 'aborted', 'timeout', 'kernel_died', 'kernel_restarted']),
  executionCount: z.number().nullable(),
  outputs: z.array(CellOutputSchema).describe('In the order the kernel sent them (consecutive stream outputs of one name joined); MIME bundles map a MIME type to its data (text, base64 for images, JSON for JSON types)'),
  /** CPU time of the session's container over the cell (the kernel's and the bridge's), ms; null when it could not be read. */
  cpuMs: z.number().nullable(),
  wallMs: z.number(),
  error: z.object({ ename: z.string(), evalue: z.string(), traceback: z.array(z.string()) }).optional(),
  outputsTruncated: z.boolean().describe('Outputs were dropped: beyond the cell\'s output budget, or too large for one message'),
  kernelRestarted: z.boolean().describe('The kernel was restarted to end this cell (its timeout): its state is gone'),
  kernelExit: z.object({ code: z.number().nullable(), signal: z.number().nullable(), stderr: z.string() }).optional(),
});
export type CellResult = z.infer<typeof CellResult>;

// -- the job and the streams -------------------------------------------------------------------

/** A session with every value resolved against the configuration (what the worker starts). */
export const SessionJob = z.object({
  id: SessionId,
  createdAt: z.string(),
  language: z.string(),
  limits: z.object({ memoryMb: z.number(), cpuS: z.number(), cpus: z.number(), processes: z.number(), diskMb: z.number() }),
  idleTimeoutS: z.number(),
  maxLifetimeS: z.number(),
  files: z.array(z.object({ path: z.string(), contentBase64: z.string() })),
  /**
   * The starting API process's inbox: the worker nudges it (a reply whose rid is the session id)
   * when it has taken the session and when the session is ready or ended, so that POST
   * /v1/sessions reads the record then instead of at its next poll (services/core/session-relay.ts).
   */
  replyTo: z.string().max(512).optional(),
});
export type SessionJob = z.infer<typeof SessionJob>;

/** API → worker, on the session's input stream; `rid` names the reply stream. */
export const SessionCommand = z.discriminatedUnion('t', [
  z.object({ t: z.literal('execute'), rid: z.string(), code: z.string(), timeoutMs: z.number(), stream: z.boolean() }),
  z.object({ t: z.literal('interrupt'), rid: z.string() }),
  z.object({ t: z.literal('restart'), rid: z.string() }),
  z.object({ t: z.literal('put'), rid: z.string(), path: z.string(), dataBase64: z.string() }),
  z.object({ t: z.literal('list'), rid: z.string() }),
  z.object({ t: z.literal('get'), rid: z.string(), path: z.string() }),
  z.object({ t: z.literal('close'), rid: z.string() }),
]);
export type SessionCommand = z.infer<typeof SessionCommand>;

/** Worker → API, on a request's reply stream: outputs as they come (execute with stream), then done. */
export const SessionReply = z.union([
  z.object({ t: z.literal('output'), output: z.unknown() }),
  z.object({ t: z.literal('done'), ok: z.literal(true), body: z.unknown() }),
  z.object({ t: z.literal('done'), ok: z.literal(false), code: z.string(), message: z.string(), details: z.unknown().optional() }),
]);
export type SessionReply = z.infer<typeof SessionReply>;

/** A worker's entry in the capacity hash. */
export const SessionWorkerEntry = z.object({ slots: z.number(), held: z.number(), at: z.number() });
export type SessionWorkerEntry = z.infer<typeof SessionWorkerEntry>;

/** The record's fields as stored (strings in a Redis hash). */
export interface SessionRecordFields {
  id: string;
  status: SessionStatus;
  language: string;
  createdAt: string;
  lastUsedAt: string;
  idleTimeoutS: string;
  maxLifetimeS: string;
  limits: string;
  worker?: string;
  beatAt?: string;
  memoryKb?: string;
  memoryCurrentKb?: string;
  cpuMs?: string;
  usageAt?: string;
  cells?: string;
  endedReason?: EndedReason;
  endedMessage?: string;
}

/** SessionInfo from a record's hash (fields written by the API at creation and by the worker). */
export function sessionInfoOf(h: Record<string, string>): SessionInfo {
  const num = (v: string | undefined) => (v === undefined || v === '' ? null : Number(v));
  const info: SessionInfo = {
    id: h.id ?? '',
    status: SessionStatus.catch('ended').parse(h.status),
    language: h.language ?? '',
    createdAt: h.createdAt ?? '',
    lastUsedAt: h.lastUsedAt ?? h.createdAt ?? '',
    idleTimeoutS: Number(h.idleTimeoutS),
    maxLifetimeS: Number(h.maxLifetimeS),
    limits: JSON.parse(h.limits ?? '{}') as SessionInfo['limits'],
    memoryKb: num(h.memoryKb),
    memoryCurrentKb: num(h.memoryCurrentKb),
    cpuMs: num(h.cpuMs),
    usageAt: h.usageAt || null,
    cells: Number(h.cells ?? 0),
    warm: h.warmKernel === '1',
  };
  const reason = EndedReason.safeParse(h.endedReason);
  if (reason.success) info.endedReason = reason.data;
  if (h.endedMessage) info.endedMessage = h.endedMessage;
  return info;
}

/** A message read from a stream, or null when it is not one. */
export function parseSessionMessage<T>(schema: z.ZodType<T>, text: string): T | null {
  try {
    const r = schema.safeParse(JSON.parse(text));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
