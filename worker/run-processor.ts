// One BullMQ job → one run: state transitions in the run store, the pipeline, the final result
// (written exactly once, however often the job is picked up), metrics and the callback.
import { WaitingError, type Job } from 'bullmq';
import type { EventHub, EventNotice } from '../services/core/event-hub.ts';
import type { Logger } from '../services/core/logger.ts';
import type { Metrics } from '../services/core/metrics.ts';
import type { EventBody, RunStore } from '../services/core/run-store.ts';
import { isTerminal, NOTICE_RESULT_MAX_BYTES } from '../services/core/run-store.ts';
import { resultJson, type ResultBytes } from '../services/core/result-json.ts';
import { queuedResult } from '../services/core/queue-run-service.ts';
import { isRedisUnavailable } from '../services/core/redis.ts';
import { JobData, type JobRequest, type RunResult, type RunStatus } from '../services/core/schemas.ts';
import type { CancelListener } from './cancels.ts';
import { UnknownLanguageError } from './language-registry.ts';
import { CancelledError, runPipeline, type PipelineDeps } from './pipeline.ts';
import { SandboxError } from './sandbox/index.ts';

export interface RunProcessorDeps {
  store: RunStore;
  cancels: CancelListener;
  log: Logger;
  metrics?: Metrics;
  pipeline: Omit<PipelineDeps, 'onPhase' | 'signal' | 'deferCleanup'>;
  /**
   * Enqueues the callback of a finished run (never awaited by the slot beyond the enqueue). The
   * callback sends the result as stored (worker/callbacks.ts): only its id is passed on.
   */
  callback?: (request: JobRequest & { callbackUrl: string }, result: Pick<RunResult, 'id'>) => Promise<void>;
  /** Told of each terminal result once it is written: the API's EventHub when it shares the process. */
  localEvents?: Pick<EventHub, 'deliver'>;
}

const now = () => new Date().toISOString();

/**
 * Whether another attempt of a run that failed this way can succeed: a sandbox failure that says
 * so (a short host resource, a raced cgroup or container step, a setup timeout) and Redis being
 * unreachable. A bad spec, a missing native library, an unknown language or a bug repeat: the run
 * fails at once instead of three times (BullMQ's UnrecoverableError, in our own terms).
 */
export function worthRetrying(err: unknown): boolean {
  if (err instanceof SandboxError) return err.retriable;
  return isRedisUnavailable(err);
}

/** The RunError of a run the sandbox failed. */
function sandboxRunError(message: string, failure: SandboxError | undefined): RunResult['error'] {
  return {
    code: 'sandbox_error', message,
    ...(failure ? { sandbox: { code: failure.code, step: failure.step, op: failure.op, errno: failure.errno } } : {}),
  };
}

/**
 * A run the sandbox failed in a way another attempt can get past (SandboxError.retriable):
 * thrown for BullMQ to run the job again after its backoff.
 */
class RetryAttempt extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryAttempt';
  }
}

/** Longest wait for Redis to take a stopped run back (then its lock expiring brings it back). */
const RELEASE_TIMEOUT_MS = 2_000;

/**
 * What a worker that is shutting down gives each active run: `signal` aborts when the run must
 * stop (grace period over, or a second signal). The run's sandbox is then killed and cleaned up,
 * and its job goes back to the queue at once for another worker (not a cancel: nobody asked).
 */
export interface ShutdownSignal {
  signal: AbortSignal;
  /** The job's lock token (BullMQ's processor argument), needed to move it back to wait. */
  token: string | undefined;
  /** False while the connection to Redis is down: the job is then not moved (its lock expires). */
  redisUp?: () => boolean;
}

export function createRunProcessor(deps: RunProcessorDeps) {
  const { store, log, metrics } = deps;

  /**
   * Writes the terminal result once; `before`: events recorded in the same step, ahead of it. The
   * result's JSON is written once from the output's bytes (result-json.ts) and goes to Redis as
   * those bytes; nothing else here holds the output again (the callback reads it back when sent).
   */
  async function finish(id: string, result: RunResult | ResultBytes, request: JobRequest | undefined, runLog: Logger, before: EventBody[] = []): Promise<boolean> {
    let json: Buffer | undefined = resultJson(result);
    const small = json.length <= NOTICE_RESULT_MAX_BYTES ? (JSON.parse(json.toString()) as RunResult) : undefined;
    const writing = store.transition(id, ['queued', 'running'], result.status, json, [...before, { type: result.status as 'completed', result }]);
    json = undefined; // ioredis has made its command of it: collectable while Redis answers
    const seq = await writing;
    if (!seq) {
      runLog.info('run already finished elsewhere; result kept as it was');
      return false;
    }
    // As the Redis notice carries it: a small result along, a big one read back by whoever needs it.
    deps.localEvents?.deliver({ id, seq, type: result.status as EventNotice['type'], ...(small ? { result: small } : {}) });
    runLog.info({ status: result.status, verdict: result.verdict }, 'run finished');
    metrics?.runsTotal.inc({ language: result.language, verdict: result.verdict ?? 'none', status: result.status });
    if (result.finishedAt) metrics?.totalSeconds.observe({ language: result.language }, (Date.parse(result.finishedAt) - Date.parse(result.createdAt)) / 1000);
    const callbackUrl = request?.callbackUrl;
    if (callbackUrl && deps.callback) {
      await deps.callback({ ...request!, callbackUrl }, { id }).catch((err: Error) => runLog.warn({ err: err.message }, 'callback could not be queued'));
    }
    return true;
  }

  /**
   * Puts a run stopped by a shutdown back in the queue: it keeps its attempt count and no result
   * is written (its record stays `running` until a worker starts it again, as after a crash).
   * Bounded: when Redis does not answer, the job's lock expires and stalled-job recovery brings it
   * back instead. Always ends the job's processing with BullMQ's WaitingError (neither completed
   * nor failed).
   */
  async function release(job: Job, stop: ShutdownSignal, runLog: Logger): Promise<never> {
    if (stop.redisUp && !stop.redisUp()) {
      runLog.warn({ requeued: false }, 'run stopped by the shutdown; Redis is unreachable, so it is requeued when its lock expires');
      throw new WaitingError();
    }
    let timer: NodeJS.Timeout | undefined;
    const moved = await Promise.race([
      job.moveToWait(stop.token).then(() => true, (err: Error) => { runLog.warn({ err: err.message }, 'cannot put the stopped run back in the queue'); return false; }),
      new Promise<false>((r) => { timer = setTimeout(() => r(false), RELEASE_TIMEOUT_MS); }),
    ]);
    clearTimeout(timer);
    runLog.warn({ requeued: moved }, moved ? 'run stopped by the shutdown; back in the queue' : 'run stopped by the shutdown; it is requeued when its lock expires');
    throw new WaitingError();
  }

  return async function processRun(job: Job, shutdown?: ShutdownSignal): Promise<void> {
    const id = String(job.id);
    const runLog = log.child({ runId: id, attempt: job.attemptsMade + 1 });
    const parsed = JobData.safeParse(job.data);
    if (!parsed.success) {
      runLog.error({ problem: parsed.error.message }, 'invalid job; failing the run');
      const current = await store.get(id);
      if (current) {
        await finish(id, { ...current, status: 'failed', verdict: 'internal_error', finishedAt: now(), error: { code: 'invalid_job', message: 'the queued job data is invalid' } }, undefined, runLog);
      }
      return;
    }
    const { request } = parsed.data;
    // The record as queued follows from the job data; the transition below refuses a run that is
    // already finished (or unknown), so no read is needed first.
    const current = queuedResult(id, request.language, parsed.data.createdAt);
    const startedAt = now();
    const queueWaitMs = Date.parse(startedAt) - Date.parse(current.createdAt);
    const running: RunResult = { ...current, status: 'running', startedAt, queueWaitMs };
    // Listen for a cancel before the run shows as running, so none is missed in between.
    const abort = deps.cancels.register(id);
    // The last phase's event is written together with the terminal result: one Redis step less
    // per run, and a reader never sees the last phase without the result right after it.
    const held: EventBody[] = [];
    // Volume clean-up runs after the result is written, but still inside the job: the slot is
    // not free for the next run until its volumes are gone.
    const cleanups: Promise<unknown>[] = [];
    const t0 = performance.now();
    // The "running" write, the pipeline's preparation (language, volume, inputs) and its first
    // launch overlap; a refused write (startGate false) stops that launch (pipeline.ts).
    const startedWrite = store.transition(id, ['queued', 'running'], 'running', running, { type: 'started' }, true);
    // A cancel and a shutdown both kill the run's sandbox; only a cancel is the run's result.
    const stopped = () => shutdown?.signal.aborted === true && !abort.signal.aborted;
    const pipeline = runPipeline(request, {
      ...deps.pipeline,
      signal: shutdown ? AbortSignal.any([abort.signal, shutdown.signal]) : abort.signal,
      startGate: startedWrite.then((seq) => seq > 0, () => false),
      deferCleanup: (cleanup) => cleanups.push(cleanup),
      onPhase: async (name, result, index, last) => {
        if (name === 'compile') metrics?.compileSeconds.observe({ language: request.language }, result.wallMs / 1000);
        const event: EventBody = { type: 'phase', phase: { name, ...(index !== undefined ? { index } : {}), result } };
        if (last) held.push(event);
        else await store.transition(id, ['running'], null, null, event);
      },
    });
    pipeline.catch(() => {}); // awaited below on every path
    const notStarted = async () => {
      deps.cancels.release(id);
      await pipeline.catch(() => {}); // the gate stops it (and its first launch, if under way)
      await Promise.allSettled(cleanups);
    };
    let started: number;
    try {
      started = await startedWrite;
    } catch (err) {
      await notStarted();
      throw err;
    }
    if (started > 0 && stopped()) {
      await notStarted();
      return release(job, shutdown!, runLog);
    }
    if (started === -1 || !started) {
      await notStarted();
      if (started === -1) {
        await finish(id, { ...current, status: 'cancelled', finishedAt: now(), error: { code: 'cancelled', message: 'cancelled before it started' } }, request, runLog);
      }
      return;
    }
    runLog.info({ language: request.language, queueWaitMs }, 'run started');
    metrics?.queueWaitSeconds.observe({ language: request.language }, queueWaitMs / 1000);
    metrics?.activeRuns.inc();
    // The result says cancelled at once; the abort also kills the program in the sandbox.
    const cancelledNow = () => finish(id, { ...running, status: 'cancelled', finishedAt: now(), error: { code: 'cancelled', message: 'cancelled while running' } }, request, runLog, held.splice(0));
    abort.signal.addEventListener('abort', () => { void cancelledNow().catch((err: Error) => runLog.warn({ err: err.message }, 'cannot record the cancel')); }, { once: true });
    try {
      const out = await pipeline;
      // The shutdown may stop the run as it ends: whatever came out, another worker runs it again.
      if (stopped()) return await release(job, shutdown!, runLog);
      metrics?.runSeconds.observe({ language: request.language }, (performance.now() - t0) / 1000);
      const status: RunStatus = out.verdict === 'internal_error' ? 'failed' : 'completed';
      if (status === 'failed' && (out.failure?.retriable ?? true) && job.attemptsMade + 1 < (job.opts.attempts ?? 1)) {
        throw new RetryAttempt(`sandbox failed: ${out.error ?? 'internal error'}`);
      }
      // The running record has no phases yet: they come from the pipeline, with their output as bytes.
      const { compile: _c, run: _r, tests: _t, checkerCompile: _k, interactorCompile: _i, ...record } = running;
      await finish(id, {
        ...record, status, verdict: out.verdict, compile: out.compile, run: out.run, tests: out.tests, files: out.files,
        ...(out.checkerCompile ? { checkerCompile: out.checkerCompile } : {}),
        ...(out.interactorCompile ? { interactorCompile: out.interactorCompile } : {}),
        ...(out.groups ? { score: out.score!, maxScore: out.maxScore!, groups: out.groups } : {}),
        error: status === 'failed' ? sandboxRunError(out.error ?? 'the sandbox failed', out.failure) : null,
        finishedAt: now(),
      }, request, runLog, held.splice(0));
    } catch (err) {
      if (err instanceof WaitingError) throw err;
      if (stopped()) return await release(job, shutdown!, runLog);
      if (err instanceof CancelledError) {
        await cancelledNow();
        return;
      }
      if (err instanceof RetryAttempt || (worthRetrying(err) && job.attemptsMade + 1 < (job.opts.attempts ?? 1))) {
        runLog.warn({ err: (err as Error).message }, 'run attempt failed; will retry');
        throw err;
      }
      runLog.error({ err: (err as Error).message }, 'run failed');
      await finish(id, {
        ...running, status: 'failed', verdict: 'internal_error', finishedAt: now(),
        error: err instanceof UnknownLanguageError ? { code: 'language_unavailable', message: err.message }
          : err instanceof SandboxError ? sandboxRunError(err.message, err)
            : { code: 'pipeline_error', message: (err as Error).message },
      }, request, runLog, held.splice(0));
    } finally {
      deps.cancels.release(id);
      metrics?.activeRuns.dec();
      await Promise.allSettled(cleanups);
    }
  };
}

/** BullMQ gave up on a job without our processor finishing it (e.g. stalled too often): fail the run. */
export async function failAbandoned(store: RunStore, id: string, reason: string, log: Logger): Promise<void> {
  const current = await store.get(id);
  if (!current || isTerminal(current.status)) return;
  const result: RunResult = { ...current, status: 'failed', verdict: 'internal_error', finishedAt: now(), error: { code: 'abandoned', message: reason } };
  if (await store.transition(id, ['queued', 'running'], 'failed', result, { type: 'failed', result })) {
    log.error({ runId: id, reason }, 'run abandoned by the queue');
  }
}
