// An in-memory RunService test double for the contract tests of the Judge0/Piston translation
// layer (no Redis, no worker, no sandbox). It is faithful to the interface: requests are validated
// with the real RunRequest schema (422 CorralError on failure), a bounded queue answers
// queue_full (503), runs go queued → running → completed/cancelled with events, and results are
// RunResult-shaped (checked with the real schema). What a "program" does is scripted per test by
// `execute`, so these tests prove the translation, not the sandbox.
import { randomUUID } from 'node:crypto';
import { CorralError, zodDetails } from '../../services/core/errors.ts';
import type { ListOptions, RunEventOut, RunPage, RunService, SubmitOptions } from '../../services/core/run-service.ts';
import {
  RunRequest as RunRequestSchema, RunResult as RunResultSchema,
  type LanguageInfo, type ParsedRunRequest, type PhaseResult, type RunEvent, type RunRequest, type RunResult,
} from '../../services/core/schemas.ts';

export type Outcome = Partial<Pick<RunResult, 'verdict' | 'compile' | 'run' | 'tests' | 'files' | 'error'>> & { status?: 'completed' | 'failed' };

export const phase = (p: Partial<PhaseResult> = {}): PhaseResult => ({
  status: 'ok', limit: null, exitCode: 0, signal: null, stdout: '', stderr: '', encoding: 'utf8',
  truncated: false, cpuMs: 10, wallMs: 20, memoryKb: 1024, ...p,
});

export const DEFAULT_LANGUAGES: LanguageInfo[] = [
  { id: 'c', name: 'C', version: '12.2.0', compiled: true, fileName: 'main.c', available: true },
  { id: 'cpp', name: 'C++', version: '12.2.0', compiled: true, fileName: 'main.cpp', available: true },
  { id: 'python', name: 'Python 3', version: '3.11.2', compiled: false, fileName: 'main.py', available: true },
  { id: 'javascript', name: 'JavaScript', version: '18.19.0', compiled: false, fileName: 'main.js', available: true },
  { id: 'java', name: 'Java', version: '17.0.9', compiled: true, fileName: 'Main.java', available: true },
  { id: 'bash', name: 'Bash', version: '5.2.15', compiled: false, fileName: 'main.sh', available: true },
  { id: 'rust', name: 'Rust', version: '1.63.0', compiled: true, fileName: 'main.rs', available: false },
];

export class FakeRunService implements RunService {
  readonly results = new Map<string, RunResult>();
  readonly requests = new Map<string, ParsedRunRequest>();
  readonly #listeners = new Map<string, Set<(e: RunEvent) => void>>();
  readonly #events = new Map<string, RunEvent[]>();
  /** Scripted behaviour of the "program"; default: a plain successful run echoing stdin. */
  execute: (req: ParsedRunRequest) => Outcome = (req) => ({ verdict: 'accepted', run: phase({ stdout: req.stdin ?? '' }) });
  /** When true, runs stay queued until `finish(id)` is called. */
  hold = false;
  queueMaxDepth = 100;
  languagesList: LanguageInfo[] = DEFAULT_LANGUAGES;
  submitted: RunRequest[] = [];

  async languages(): Promise<LanguageInfo[]> {
    return this.languagesList;
  }

  #validate(request: RunRequest, prefix = ''): ParsedRunRequest {
    const parsed = RunRequestSchema.safeParse(request);
    if (!parsed.success) throw new CorralError('validation_failed', undefined, zodDetails(parsed.error.issues, prefix));
    const lang = this.languagesList.find((l) => l.id === parsed.data.language);
    if (!lang) throw new CorralError('unknown_language', `Unknown language ${parsed.data.language}`, [{ field: `${prefix ? prefix + '.' : ''}language`, message: 'unknown' }]);
    return parsed.data;
  }

  #queued(): number {
    return [...this.results.values()].filter((r) => r.status === 'queued').length;
  }

  #emit(id: string, type: RunEvent['type'], extra: Partial<RunEvent> = {}): void {
    const list = this.#events.get(id) ?? [];
    const event: RunEvent = { id, seq: list.length, type, at: new Date().toISOString(), ...extra };
    list.push(event);
    this.#events.set(id, list);
    for (const l of this.#listeners.get(id) ?? []) l(event);
  }

  #enqueue(parsed: ParsedRunRequest, original: RunRequest): RunResult {
    const id = randomUUID();
    const result: RunResult = {
      id, status: 'queued', language: parsed.language, verdict: null, compile: null, run: null, tests: null,
      files: [], error: null, createdAt: new Date().toISOString(), startedAt: null, finishedAt: null, queueWaitMs: null,
    };
    RunResultSchema.parse(result);
    this.results.set(id, result);
    this.requests.set(id, parsed);
    this.submitted.push(original);
    this.#emit(id, 'queued');
    if (!this.hold) setImmediate(() => this.finish(id));
    return structuredClone(result);
  }

  async submit(request: RunRequest, options?: SubmitOptions): Promise<RunResult> {
    const parsed = this.#validate(request);
    if (this.#queued() + 1 > this.queueMaxDepth) throw new CorralError('queue_full', undefined, null, { 'retry-after': '5' });
    const first = this.#enqueue(parsed, request);
    if (options?.waitMs && !this.hold) {
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      return structuredClone(this.results.get(first.id)!);
    }
    return first;
  }

  async submitWaitingJson(request: RunRequest, waitMs: number): Promise<Buffer | RunResult> {
    const r = await this.submit(request, { waitMs });
    return ['completed', 'failed', 'cancelled'].includes(r.status) ? Buffer.from(JSON.stringify(r)) : r;
  }

  async submitBatch(requests: RunRequest[]): Promise<RunResult[]> {
    const parsed = requests.map((r, i) => this.#validate(r, `runs[${i}]`));
    if (this.#queued() + requests.length > this.queueMaxDepth) throw new CorralError('queue_full');
    return parsed.map((p, i) => this.#enqueue(p, requests[i]));
  }

  /** Runs a queued run now through `execute` (running, then completed). */
  finish(id: string): void {
    const r = this.results.get(id);
    if (!r || r.status !== 'queued') return;
    r.status = 'running';
    r.startedAt = new Date().toISOString();
    r.queueWaitMs = 1;
    this.#emit(id, 'started');
    const out = this.execute(this.requests.get(id)!);
    Object.assign(r, {
      status: out.status ?? 'completed',
      verdict: out.verdict ?? null,
      compile: out.compile ?? null,
      run: out.run ?? null,
      tests: out.tests ?? null,
      files: out.files ?? [],
      error: out.error ?? null,
      finishedAt: new Date().toISOString(),
    });
    RunResultSchema.parse(r);
    this.#emit(id, (r.status as string) === 'failed' ? 'failed' : 'completed', { result: structuredClone(r) });
  }

  async get(id: string): Promise<RunResult | null> {
    const r = this.results.get(id);
    return r ? structuredClone(r) : null;
  }

  async exists(id: string): Promise<boolean> {
    return (await this.get(id)) !== null;
  }

  async getJson(id: string): Promise<Buffer | null> {
    const r = await this.get(id);
    return r ? Buffer.from(JSON.stringify(r)) : null;
  }

  async getManyJson(ids: string[]): Promise<Array<Buffer | null>> {
    return (await this.getMany(ids)).map((r) => (r ? Buffer.from(JSON.stringify(r)) : null));
  }

  async getMany(ids: string[]): Promise<Array<RunResult | null>> {
    return Promise.all(ids.map((id) => this.get(id)));
  }

  /** Newest first (insertion order reversed), as the Redis index orders by creation time. */
  async list({ page, perPage }: ListOptions): Promise<RunPage> {
    const all = [...this.results.values()].reverse();
    return { runs: all.slice((page - 1) * perPage, page * perPage).map((r) => structuredClone(r)), total: all.length, perPage };
  }

  async delete(id: string): Promise<RunResult | null> {
    const r = this.results.get(id);
    if (!r) return null;
    if (r.status === 'queued' || r.status === 'running') throw new CorralError('run_active', `run ${id} is ${r.status}`, { id, status: r.status });
    this.results.delete(id);
    this.requests.delete(id);
    this.#events.delete(id);
    return structuredClone(r);
  }

  async cancel(id: string): Promise<RunResult | null> {
    const r = this.results.get(id);
    if (!r) return null;
    if (r.status === 'queued' || r.status === 'running') {
      Object.assign(r, { status: 'cancelled', finishedAt: new Date().toISOString(), error: { code: 'cancelled', message: 'cancelled by request' } });
      this.#emit(id, 'cancelled', { result: structuredClone(r) });
    }
    return structuredClone(r);
  }

  async *events(id: string, signal?: AbortSignal, options: { resultAsJson?: boolean } = {}): AsyncIterable<RunEventOut> {
    if (!this.results.has(id)) return;
    const buffer: RunEvent[] = [...(this.#events.get(id) ?? [])];
    let wake: (() => void) | null = null;
    const listener = (e: RunEvent) => { buffer.push(e); wake?.(); };
    const onAbort = () => wake?.();
    const set = this.#listeners.get(id) ?? new Set();
    set.add(listener);
    this.#listeners.set(id, set);
    signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        while (buffer.length) {
          const e = buffer.shift()!;
          // As the real service: with resultAsJson, a terminal event carries the stored bytes.
          yield options.resultAsJson && e.result ? { ...e, result: undefined, resultJson: Buffer.from(JSON.stringify(e.result)) } : e;
          if (['completed', 'cancelled', 'failed'].includes(e.type)) return;
        }
        if (signal?.aborted) return;
        await new Promise<void>((r) => { wake = r; });
        wake = null;
      }
    } finally {
      set.delete(listener);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
