// RunService over BullMQ + Redis. Every API (v1, Judge0, Piston) goes through here, so validation,
// limits, backpressure and durability are the same for all of them.
import { randomUUID } from 'node:crypto';
import { enqueueCallback, type CallbackQueue } from './callback-queue.ts';
import type { Config } from './config.ts';
import { CorralError, zodDetails } from './errors.ts';
import type { EventHub, EventNotice } from './event-hub.ts';
import { assertWithin, findViolations, resolveLimits } from './limits.ts';
import type { Logger } from './logger.ts';
import { QueueAdmission, type Admitted } from './admission.ts';
import { queueDepth, runJobOptions, type RunQueue } from './queue.ts';
import { Refreshed } from './refreshed.ts';
import { isTerminal, type RunStore } from './run-store.ts';
import type { EventOptions, ListOptions, RunEventOut, RunPage, RunService, SubmitOptions } from './run-service.ts';
import {
  RunRequest, type JobData, type LanguageInfo, type ParsedRunRequest, type RunEvent, type RunResult,
} from './schemas.ts';

export interface QueueRunServiceDeps {
  config: Config;
  queue: RunQueue;
  store: RunStore;
  hub: EventHub;
  log: Logger;
  /** Known languages (from worker heartbeats); an empty list means "unknown yet", not "none". */
  languages: () => Promise<LanguageInfo[]>;
  /** Where a run this service ends itself (cancelled while queued) has its callback queued. */
  callbacks?: CallbackQueue;
}

const TERMINAL_EVENTS = new Set<RunEvent['type']>(['completed', 'cancelled', 'failed']);

/** A program's inputs as a request gives them: the run's own, a checker's, an interactor's. */
type ProgramInput = { source?: string | undefined; files?: Array<{ content: string; encoding: 'utf8' | 'base64' }> | undefined };

/** Bytes a program's source and files take on a tmpfs: each file at least a whole page. */
function inputBytes(p: ProgramInput): number {
  const PAGE = 4096;
  const onDisk = (n: number) => Math.ceil(n / PAGE) * PAGE;
  let bytes = p.source !== undefined ? onDisk(Buffer.byteLength(p.source)) : 0;
  for (const f of p.files ?? []) bytes += onDisk(f.encoding === 'base64' ? Buffer.byteLength(f.content, 'base64') : Buffer.byteLength(f.content));
  return bytes;
}

export function queuedResult(id: string, language: string, createdAt: string): RunResult {
  return {
    id, status: 'queued', language, verdict: null, compile: null, run: null, tests: null, files: [],
    error: null, createdAt, startedAt: null, finishedAt: null, queueWaitMs: null,
  };
}

/** How long the language list is reused before asking Redis again. */
const LANGUAGES_CACHE_MS = 1_000;
/** It is kept fresh on a timer while requests came within this long (refreshed.ts). */
const KEEP_FRESH_MS = 30_000;

export class QueueRunService implements RunService {
  // Neither waits for Redis on a request once it has a value: the worker's language list of a
  // second ago, and the queue depth of 50 ms (near the maximum) or 1 s ago topped up with this
  // instance's own submits (admission.ts).
  private readonly languagesList: Refreshed<LanguageInfo[]>;
  private readonly admission: QueueAdmission;
  /** Open `?wait=true` holds and event streams: ended at once on shutdown. */
  private readonly closing = new AbortController();

  constructor(private readonly deps: QueueRunServiceDeps) {
    this.languagesList = new Refreshed(() => deps.languages(), LANGUAGES_CACHE_MS, KEEP_FRESH_MS);
    this.admission = new QueueAdmission(() => queueDepth(deps.queue), deps.config.queueMaxDepth);
  }

  /**
   * Stops the background readings and ends every wait (on shutdown): a `?wait=true` submit
   * answers with its run as queued (202, its id), an event stream ends. Nothing holds the
   * process for up to CORRAL_MAX_WAIT_MS.
   */
  close(): void {
    this.languagesList.stop();
    this.admission.stop();
    this.closing.abort();
  }

  private knownLanguages(): Promise<LanguageInfo[]> {
    return this.languagesList.get();
  }

  /** Validates a request (schema, counts, limits, language) and builds the job data. */
  async prepare(input: unknown, field = ''): Promise<{ data: JobData; priority: number }> {
    const { config } = this.deps;
    const parsed = RunRequest.safeParse(input);
    if (!parsed.success) {
      throw new CorralError('validation_failed', `invalid run request: ${zodDetails(parsed.error.issues, field).map((d) => `${d.field}: ${d.message}`).join('; ')}`,
        zodDetails(parsed.error.issues, field));
    }
    const r: ParsedRunRequest = parsed.data;
    const at = (f: string) => (field ? `${field}.${f}` : f);
    if ((r.files?.length ?? 0) > config.filesMax) throw new CorralError('too_many', `${at('files')}: at most ${config.filesMax} files`, { field: at('files'), maximum: config.filesMax });
    if ((r.collect?.length ?? 0) > config.filesMax) throw new CorralError('too_many', `${at('collect')}: at most ${config.filesMax} patterns`, { field: at('collect'), maximum: config.filesMax });
    if ((r.tests?.length ?? 0) > config.testsMax) throw new CorralError('too_many', `${at('tests')}: at most ${config.testsMax} tests`, { field: at('tests'), maximum: config.testsMax });
    if ((r.groups?.length ?? 0) > config.groupsMax) throw new CorralError('too_many', `${at('groups')}: at most ${config.groupsMax} groups`, { field: at('groups'), maximum: config.groupsMax });
    for (const kind of ['checker', 'interactor'] as const) {
      if ((r[kind]?.files?.length ?? 0) > config.filesMax) throw new CorralError('too_many', `${at(`${kind}.files`)}: at most ${config.filesMax} files`, { field: at(`${kind}.files`), maximum: config.filesMax });
    }
    // A checker's or interactor's limits have the run limits' defaults and maxima.
    assertWithin([
      ...findViolations(r.limits, config.limits.run.max, at('limits')),
      ...findViolations(r.compileLimits, config.limits.compile.max, at('compileLimits')),
      ...findViolations(r.checker?.limits, config.limits.run.max, at('checker.limits')),
      ...findViolations(r.interactor?.limits, config.limits.run.max, at('interactor.limits')),
      ...(r.transcriptBytes !== undefined && r.transcriptBytes > config.transcriptMaxBytes
        ? [{ field: at('transcriptBytes'), value: r.transcriptBytes, maximum: config.transcriptMaxBytes }] : []),
    ]);
    const known = await this.knownLanguages();
    const checkLanguage = (field: string, id: string, files: Array<{ path: string }> | undefined, source: string | undefined) => {
      const lang = known.find((l) => l.id === id);
      if (known.length > 0 && !lang) {
        throw new CorralError('unknown_language', `${at(field)}: unknown language "${id}"`, { field: at(field), known: known.map((l) => l.id) });
      }
      // The source's file, or a directory of it: either way two things would want one name.
      const clash = source !== undefined && lang ? files?.findIndex((f) => f.path === lang.fileName || f.path.startsWith(`${lang.fileName}/`)) ?? -1 : -1;
      if (clash >= 0) {
        const f = field.replace(/language$/, `files[${clash}].path`);
        throw new CorralError('validation_failed', `${at(f)}: ${lang!.fileName} is where source goes`, [{ field: at(f), message: `${lang!.fileName} is where source goes` }]);
      }
    };
    checkLanguage('language', r.language, r.files, r.source);
    if (r.checker) checkLanguage('checker.language', r.checker.language, r.checker.files, r.checker.source);
    if (r.interactor) checkLanguage('interactor.language', r.interactor.language, r.interactor.files, r.interactor.source);
    const judgeProgram = (p: NonNullable<ParsedRunRequest['checker']>) => ({
      language: p.language,
      ...(p.source !== undefined ? { source: p.source } : {}),
      files: p.files ?? [],
      compilerArgs: p.compilerArgs ?? [],
      limits: resolveLimits(p.limits, config.limits.run.defaults),
    });
    const id = randomUUID();
    const data: JobData = {
      id,
      createdAt: new Date().toISOString(),
      request: {
        language: r.language,
        ...(r.source !== undefined ? { source: r.source } : {}),
        files: r.files ?? [],
        ...(r.stdin !== undefined ? { stdin: r.stdin } : {}),
        stdinEncoding: r.stdinEncoding,
        args: r.args ?? [],
        env: r.env ?? {},
        limits: resolveLimits(r.limits, config.limits.run.defaults),
        compileLimits: resolveLimits(r.compileLimits, config.limits.compile.defaults),
        compilerArgs: r.compilerArgs ?? [],
        ...(r.expectedOutput !== undefined ? { expectedOutput: r.expectedOutput } : {}),
        ...(r.tests ? { tests: r.tests } : {}),
        stopOnFirstFailure: r.stopOnFirstFailure,
        compare: r.compare,
        ...(r.checker ? { checker: judgeProgram(r.checker) } : {}),
        ...(r.interactor ? { interactor: judgeProgram(r.interactor) } : {}),
        ...(r.groups ? { groups: r.groups } : {}),
        ...(r.transcriptBytes !== undefined ? { transcriptBytes: r.transcriptBytes } : {}),
        collect: r.collect ?? [],
        redirectStderrToStdout: r.redirectStderrToStdout,
        repeat: r.repeat,
        parallelTests: r.parallelTests,
        ...(r.callbackUrl ? { callbackUrl: r.callbackUrl } : {}),
        callbackMethod: r.callbackMethod,
        callbackFormat: r.callbackFormat,
      },
    };
    // Each program's source and files are written into a /box of compileLimits.diskMb before it
    // runs: ones that cannot fit are the request's to change (a 422 now), not a run failed later.
    const boxBytes = data.request.compileLimits.diskMb * 1024 * 1024;
    assertWithin([
      { field: at('files'), program: r },
      { field: at('checker.files'), program: r.checker },
      { field: at('interactor.files'), program: r.interactor },
    ].flatMap(({ field, program }) => {
      const bytes = program ? inputBytes(program) : 0;
      return bytes > boxBytes ? [{ field, value: bytes, maximum: boxBytes }] : [];
    }));
    return { data, priority: r.priority };
  }

  /** Refuses when the queue would hold more than the maximum (admission.ts for the bound). */
  private async checkBackpressure(adding: number): Promise<Admitted> {
    const out = await this.admission.admit(adding);
    if ('admitted' in out) return out.admitted;
    const depth = out.refused;
    const s = this.deps.config.retryAfterSeconds;
    throw new CorralError('queue_full', `the queue holds ${depth} runs (maximum ${this.deps.config.queueMaxDepth}); retry in ${s} s`,
      { depth, maximum: this.deps.config.queueMaxDepth, retryAfterSeconds: s }, { 'Retry-After': String(s) });
  }

  private async enqueue(data: JobData, priority: number): Promise<RunResult> {
    const result = queuedResult(data.id, data.request.language, data.createdAt);
    // The record and the job are sent together, without waiting for the record's answer first:
    // the store and the queue share one connection (context.ts), so Redis runs the record's
    // script before the job's, and a worker never sees a job without its record. One round trip
    // on the submit's way instead of two.
    const recorded = this.deps.store.transition(data.id, [], 'queued', result, { type: 'queued', at: data.createdAt });
    const added = this.deps.queue.add('run', data, runJobOptions(this.deps.config, data.id, priority));
    const [record, job] = await Promise.allSettled([recorded, added]);
    if (job.status === 'rejected') {
      // The record must not claim "queued" for a run no worker will ever see.
      const err = job.reason as Error;
      // Not awaited: with Redis unreachable this write fails too, and the request's answer (503)
      // must not wait for a second Redis timeout (CORRAL_API_REDIS_TIMEOUT_MS bounds one wait).
      const failed: RunResult = { ...result, status: 'failed', finishedAt: new Date().toISOString(), error: { code: 'enqueue_failed', message: err.message } };
      void this.deps.store.transition(data.id, ['queued'], 'failed', failed, { type: 'failed', result: failed }).catch(() => {});
      throw err;
    }
    // Queued but not recorded: the worker finds no record, refuses to start it and drops the job.
    if (record.status === 'rejected') throw record.reason;
    this.deps.log.info({ runId: data.id, language: data.request.language }, 'run queued');
    return result;
  }

  submit(request: RunRequest, options: SubmitOptions = {}): Promise<RunResult> {
    return this.submitWith(request, options.waitMs ?? 0, this.readResult);
  }

  submitWaitingJson(request: RunRequest, waitMs: number): Promise<Buffer | RunResult> {
    // A small result comes with its notice, parsed from the stored bytes: stringified again, they
    // are those bytes (JSON.stringify of what JSON.stringify wrote).
    return this.submitWith(request, waitMs, (id, notice) => (notice.result ? Promise.resolve(Buffer.from(JSON.stringify(notice.result))) : this.deps.store.getJson(id)));
  }

  /** A terminal notice's result: the one it carries (a small result), else the stored one. */
  private readonly readResult = (id: string, notice: EventNotice): Promise<RunResult | null> =>
    (notice.result ? Promise.resolve(notice.result) : this.deps.store.get(id));

  /** Enqueues, then waits up to `waitMs` for the terminal notice and reads the result with `read`. */
  private async submitWith<T>(request: RunRequest, waitMsAsked: number, read: (id: string, notice: EventNotice) => Promise<T | null>): Promise<T | RunResult> {
    const { data, priority } = await this.prepare(request);
    const admitted = await this.checkBackpressure(1);
    const waitMs = Math.min(waitMsAsked, this.deps.config.maxWaitMs);
    const done = waitMs > 0 ? this.waitForTerminal(data.id, waitMs, read) : undefined;
    try {
      const queued = await this.settled(admitted, this.enqueue(data, priority));
      return (await done?.promise) ?? queued;
    } finally {
      done?.cancel();
    }
  }

  /** Tells the admission whether the jobs were written. */
  private async settled<T>(admitted: Admitted, writing: Promise<T>): Promise<T> {
    try {
      const out = await writing;
      admitted.settle(true);
      return out;
    } catch (err) {
      admitted.settle(false);
      throw err;
    }
  }

  async submitBatch(requests: RunRequest[]): Promise<RunResult[]> {
    if (requests.length > this.deps.config.batchMax) {
      throw new CorralError('too_many', `runs: at most ${this.deps.config.batchMax} runs per batch`, { field: 'runs', maximum: this.deps.config.batchMax });
    }
    const prepared = [];
    for (let i = 0; i < requests.length; i++) prepared.push(await this.prepare(requests[i], `runs[${i}]`));
    const admitted = await this.checkBackpressure(prepared.length);
    return this.settled(admitted, (async () => {
      const out: RunResult[] = [];
      for (const p of prepared) out.push(await this.enqueue(p.data, p.priority));
      return out;
    })());
  }

  /**
   * Resolves with the terminal result as `read` reads it, or null after `ms`. Subscribes before
   * checking the store, so a run finishing in between is not missed.
   */
  private waitForTerminal<T>(id: string, ms: number, read: (id: string, notice: EventNotice) => Promise<T | null>): { promise: Promise<T | null>; cancel: () => void } {
    let off = () => {};
    let timer: NodeJS.Timeout | undefined;
    const closing = this.closing.signal;
    let onClose = () => {};
    const promise = new Promise<T | null>((resolve, reject) => {
      off = this.deps.hub.on(id, (ev) => {
        if (!TERMINAL_EVENTS.has(ev.type)) return;
        read(id, ev).then(resolve, reject);
      });
      timer = setTimeout(() => resolve(null), ms);
      onClose = () => resolve(null);
      if (closing.aborted) onClose();
      else closing.addEventListener('abort', onClose, { once: true });
    });
    return { promise, cancel: () => { off(); clearTimeout(timer); closing.removeEventListener('abort', onClose); } };
  }

  get(id: string): Promise<RunResult | null> {
    return this.deps.store.get(id);
  }

  getJson(id: string): Promise<Buffer | null> {
    return this.deps.store.getJson(id);
  }

  async exists(id: string): Promise<boolean> {
    return (await this.deps.store.status(id)) !== null;
  }

  async getManyJson(ids: string[]): Promise<Array<Buffer | null>> {
    if (ids.length > this.deps.config.batchMax) {
      throw new CorralError('too_many', `ids: at most ${this.deps.config.batchMax} ids`, { field: 'ids', maximum: this.deps.config.batchMax });
    }
    // Measured in Redis before anything is read: the answer's memory is bounded by the maximum.
    const maximum = this.deps.config.listMaxBytes;
    const found = await this.deps.store.getManyJson(ids, maximum);
    if ('totalBytes' in found) {
      const bytes = found.totalBytes;
      throw new CorralError('response_too_large', `the ${ids.length} runs hold ${bytes} bytes together, more than the maximum answer of ${maximum}; ask for fewer ids`,
        { field: 'ids', bytes, maximumBytes: maximum });
    }
    return found;
  }

  async getMany(ids: string[]): Promise<Array<RunResult | null>> {
    if (ids.length > this.deps.config.batchMax) {
      throw new CorralError('too_many', `ids: at most ${this.deps.config.batchMax} ids`, { field: 'ids', maximum: this.deps.config.batchMax });
    }
    return this.deps.store.getMany(ids);
  }

  async cancel(id: string): Promise<RunResult | null> {
    const { store, queue, log } = this.deps;
    const current = await store.get(id);
    if (!current) return null;
    if (isTerminal(current.status)) return current;
    const waiter = this.waitForTerminal(id, 10_000, this.readResult);
    this.admission.invalidate();
    try {
      await store.requestCancel(id);
      // The job's request, for its callback: once removed, only this copy is left of it.
      const job = await queue.getJob(id).catch(() => undefined);
      // remove() refuses a job that a worker holds (returns 0): that one is killed by its worker.
      const removed = await queue.remove(id).catch(() => 0);
      if (removed === 1) {
        // The job left the queue, so no worker holds it: also a run waiting for a retry or
        // recovered from a dead worker (its record may say running).
        const cancelled: RunResult = { ...current, status: 'cancelled', error: { code: 'cancelled', message: 'cancelled while queued' }, finishedAt: new Date().toISOString() };
        if (await store.transition(id, ['queued', 'running'], 'cancelled', cancelled, { type: 'cancelled', result: cancelled })) {
          log.info({ runId: id }, 'queued run cancelled');
          // No worker will write this run's end, so none would queue its callback: queued here,
          // delivered by a worker's callback dispatcher like every other.
          const request = job?.data?.request;
          if (request?.callbackUrl && this.deps.callbacks) {
            await enqueueCallback(this.deps.callbacks, this.deps.config, { ...request, callbackUrl: request.callbackUrl }, id)
              .catch((err: Error) => log.warn({ runId: id, err: err.message }, 'callback could not be queued'));
          }
          return cancelled;
        }
      }
      log.info({ runId: id }, 'cancel requested for a running run');
      return (await waiter.promise) ?? (await store.get(id));
    } finally {
      waiter.cancel();
    }
  }

  async list(options: ListOptions): Promise<RunPage> {
    const { page } = options;
    const details = [
      ...(Number.isSafeInteger(page) && page >= 1 ? [] : [{ field: 'page', message: 'must be an integer ≥ 1' }]),
      ...(Number.isSafeInteger(options.perPage) && options.perPage >= 1 ? [] : [{ field: 'perPage', message: 'must be an integer ≥ 1' }]),
    ];
    if (details.length > 0) throw new CorralError('validation_failed', details.map((d) => `${d.field}: ${d.message}`).join('; '), details);
    const perPage = Math.min(options.perPage, this.deps.config.batchMax);
    // Within the list maximum, as getManyJson: a page of results at the output caps is GBs.
    const maximum = this.deps.config.listMaxBytes;
    const found = await this.deps.store.list(page, perPage, maximum);
    if ('totalBytes' in found) {
      const bytes = found.totalBytes;
      throw new CorralError('response_too_large', `the ${perPage} runs of page ${page} hold ${bytes} bytes together, more than the maximum answer of ${maximum}; ask for a smaller page`,
        { field: 'perPage', bytes, maximumBytes: maximum });
    }
    return { ...found, perPage };
  }

  async delete(id: string): Promise<RunResult | null> {
    const out = await this.deps.store.delete(id);
    if (out === 'active') {
      const status = await this.deps.store.status(id);
      throw new CorralError('run_active', `run ${id} is ${status ?? 'queued or running'}; only a finished run can be deleted`, { id, status });
    }
    if (out) this.deps.log.info({ runId: id }, 'run deleted');
    return out;
  }

  async *events(id: string, requestSignal?: AbortSignal, options: EventOptions = {}): AsyncIterable<RunEventOut> {
    const signal = requestSignal ? AbortSignal.any([requestSignal, this.closing.signal]) : this.closing.signal;
    // Subscribe first, then read the list: a notice arriving in between only marks it "dirty".
    let dirty = false;
    let wake: (() => void) | undefined;
    const off = this.deps.hub.on(id, () => { dirty = true; wake?.(); });
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      let last = 0;
      while (!signal?.aborted) {
        dirty = false;
        for (const ev of await this.deps.store.events(id, last)) {
          last = ev.seq;
          if (TERMINAL_EVENTS.has(ev.type)) {
            // The stored terminal event names the outcome; its result lives once, in the record.
            if (options.resultAsJson && !ev.result) {
              const json = await this.deps.store.getJson(id);
              yield json ? { ...ev, resultJson: json } : ev;
              return;
            }
            const result = ev.result ?? (await this.deps.store.get(id));
            yield result ? { ...ev, result } : ev;
            return;
          }
          yield ev;
        }
        if (!dirty && !signal?.aborted) await new Promise<void>((r) => { wake = r; });
        wake = undefined;
      }
    } finally {
      off();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  languages(): Promise<LanguageInfo[]> {
    return this.knownLanguages();
  }
}
