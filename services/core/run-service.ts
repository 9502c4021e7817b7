// The facade the HTTP layers (API v1 and the Judge0/Piston compatibility layers) use to talk to
// the queue. One implementation (BullMQ + Redis) lives beside it; routes never touch the queue
// directly, so every API gets the same validation, limits, backpressure and durability.
import type { RunRequest, RunResult, LanguageInfo, RunEvent } from './schemas.ts';

export interface SubmitOptions {
  /** Wait for the result up to this many ms (bounded by config); undefined = don't wait. */
  waitMs?: number;
}

/** A terminal event may carry its result as the stored JSON bytes instead (EventOptions). */
export type RunEventOut = RunEvent & { resultJson?: Buffer };

export interface EventOptions {
  /**
   * The terminal event's result as the stored JSON bytes (`resultJson`), not parsed: an answer
   * that sends them as they are holds a result at the output caps once, not as text and objects.
   */
  resultAsJson?: boolean;
}

export interface ListOptions {
  /** 1-based page. */
  page: number;
  /** Runs per page, ≥ 1; more than the configured batch maximum is lowered to it. */
  perPage: number;
}

export interface RunPage {
  /** Newest first by creation time. */
  runs: RunResult[];
  /** Runs listed in all (every API process's; expired ones drop out). */
  total: number;
  /** The page size used (perPage, at most the configured batch maximum). */
  perPage: number;
}

export interface RunService {
  /** Validates limits against config maxima, enqueues; resolves with the result (queued, or finished if waited). */
  submit(request: RunRequest, options?: SubmitOptions): Promise<RunResult>;
  /**
   * submit, waiting up to `waitMs` (bounded by config) for the result: one that finished in time
   * comes as its stored JSON bytes, to be sent as they are (no parse, no re-serialising); else
   * the queued result.
   */
  submitWaitingJson(request: RunRequest, waitMs: number): Promise<Buffer | RunResult>;
  submitBatch(requests: RunRequest[]): Promise<RunResult[]>;
  /** null for an unknown or expired id. */
  get(id: string): Promise<RunResult | null>;
  /** Whether the id names a stored run, its result not read (a run at the output caps holds tens of MB). */
  exists(id: string): Promise<boolean>;
  getMany(ids: string[]): Promise<Array<RunResult | null>>;
  /** The stored result as JSON bytes, unparsed (null for an unknown or expired id). */
  getJson(id: string): Promise<Buffer | null>;
  /**
   * Several as JSON bytes, unparsed, refused (CorralError response_too_large) when together they
   * would exceed the configured list maximum — measured before they are read: an answer's memory
   * is bounded by design.
   */
  getManyJson(ids: string[]): Promise<Array<Buffer | null>>;
  /** Removes a queued run or kills a running one; null for an unknown id. */
  cancel(id: string): Promise<RunResult | null>;
  /** One page of the stored runs (any status), newest first, across every API process. */
  list(options: ListOptions): Promise<RunPage>;
  /**
   * Removes a finished run's stored result and events; resolves with the result as it was, null
   * for an unknown or expired id. A queued or running run is refused (CorralError run_active).
   */
  delete(id: string): Promise<RunResult | null>;
  /** Progress events of one run, ending after the terminal event. */
  events(id: string, signal?: AbortSignal, options?: EventOptions): AsyncIterable<RunEventOut>;
  languages(): Promise<LanguageInfo[]>;
}
