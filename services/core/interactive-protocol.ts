// Interactive sessions between the API and a worker: the job on the interactive queue, the two
// Redis streams of a session and the messages on them. The API process holding the client's
// connection (services/core/interactive-service.ts) and the worker running the program
// (worker/interactive-worker.ts) never talk directly: each appends to one stream and reads the
// other, so they may live on different hosts and either may start reading late.
//
//   API ── <prefix>:interactive:<id>:in  ──▶ worker   stdin, eof, signal, close
//   API ◀── <prefix>:interactive:<id>:out ── worker   started, stage, data, exit, beat, done, error
//
// Why a queue of its own (`<prefix>-interactive`) rather than a flag on the run queue: a session
// holds a sandbox while a person types, so it must not take the batch runs' slots (and batch
// runs must not starve it); it is never retried (a second attempt would replay a conversation the
// client already saw) and never stored as a run result; and the run queue, its job schema and
// processor stay exactly as they are.
import { z } from 'zod';
import { JobData } from './schemas.ts';

/**
 * The worker appends a beat this often while a session runs: a quarter of the silence after which
 * the API gives the session up (CORRAL_INTERACTIVE_WORKER_SILENCE_MS), at most every 2 s.
 */
export function beatIntervalMs(workerSilenceMs: number): number {
  return Math.max(100, Math.min(2_000, Math.floor(workerSilenceMs / 4)));
}
/** Streams expire this long after their last append (both sides delete them when done). */
export const INTERACTIVE_STREAM_TTL_SECONDS = 600;

export function interactiveKeys(prefix: string) {
  return {
    queue: `${prefix}-interactive`,
    bullPrefix: `${prefix}:bull`,
    /** API → worker. */
    input: (id: string) => `${prefix}:interactive:${id}:in`,
    /** Worker → API. */
    output: (id: string) => `${prefix}:interactive:${id}:out`,
    /** A stream reader's own key, appended to when it must re-read its set of streams. */
    wake: (reader: string) => `${prefix}:interactive:wake:${reader}`,
  };
}
export type InteractiveKeys = ReturnType<typeof interactiveKeys>;

/** The queued session: the validated request with every limit resolved (as a run's job). */
export const InteractiveJob = z.object({
  id: z.string(),
  createdAt: z.string(),
  request: JobData.shape.request,
});
export type InteractiveJob = z.infer<typeof InteractiveJob>;

export const StageName = z.enum(['compile', 'run']);
export type StageName = z.infer<typeof StageName>;

/** API → worker. `stdin` before the run stage is kept for it; `close`: the client is gone. */
export const ToWorker = z.discriminatedUnion('t', [
  z.object({ t: z.literal('stdin'), d: z.string() }),
  z.object({ t: z.literal('eof') }),
  z.object({ t: z.literal('signal'), s: z.string() }),
  z.object({ t: z.literal('close') }),
]);
export type ToWorker = z.infer<typeof ToWorker>;

/** How a stage ended (a sandbox outcome without its output, which was streamed). */
export const StageExit = z.object({
  stage: StageName,
  status: z.enum(['ok', 'runtime_error', 'time_limit', 'memory_limit', 'output_limit']),
  limit: z.enum(['cpu', 'wall', 'memory', 'output']).nullable(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  cpuMs: z.number(),
  wallMs: z.number(),
  memoryKb: z.number(),
  stdoutTruncated: z.boolean(),
  stderrTruncated: z.boolean(),
});
export type StageExit = z.infer<typeof StageExit>;

/** Worker → API. Output is UTF-8 text (split sequences are kept whole across messages). */
export const ToApi = z.discriminatedUnion('t', [
  z.object({ t: z.literal('started') }),
  z.object({ t: z.literal('stage'), stage: StageName }),
  z.object({ t: z.literal('data'), s: z.enum(['stdout', 'stderr']), d: z.string() }),
  StageExit.extend({ t: z.literal('exit') }),
  z.object({ t: z.literal('beat') }),
  z.object({ t: z.literal('done') }),
  z.object({ t: z.literal('error'), m: z.string() }),
]);
export type ToApi = z.infer<typeof ToApi>;

/** A message read from a stream, or null when it is not one (logged by the caller). */
export function parseMessage<T>(schema: z.ZodType<T>, text: string): T | null {
  try {
    const r = schema.safeParse(JSON.parse(text));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
