// Waits for a run to reach a terminal state through RunService, for APIs whose clients expect a
// synchronous answer (Piston's /execute, Judge0's ?wait=true). Uses the run's event stream and
// falls back to one read when the stream ends, so no polling interval is involved.
import type { RunService } from '../../../core/run-service.ts';
import type { RunResult } from '../../../core/schemas.ts';

const TERMINAL = new Set(['completed', 'cancelled', 'failed']);

export function isTerminal(result: Pick<RunResult, 'status'>): boolean {
  return TERMINAL.has(result.status);
}

/**
 * Resolves once the run is terminal, or with its latest state when `maxWaitMs` passes or `signal`
 * aborts first: the result as its stored JSON bytes where the store has them, not parsed — so a
 * face parses a result at the output caps only when its turn to re-encode comes
 * (reencode-gate.ts), not while it waits. Null when the id is unknown.
 */
export async function awaitStored(
  runService: RunService,
  first: RunResult,
  maxWaitMs: number,
  signal?: AbortSignal,
): Promise<RunResult | Buffer | null> {
  if (isTerminal(first)) return first;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), maxWaitMs);
  const onAbort = () => stop.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const event of runService.events(first.id, stop.signal, { resultAsJson: true })) {
      if (event.resultJson) return event.resultJson;
      if (event.result && TERMINAL.has(event.result.status)) return event.result;
      if (TERMINAL.has(event.type)) break;
    }
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  return runService.getJson(first.id);
}

/** A result as awaitStored gives it, parsed. */
export const parsedResult = (r: RunResult | Buffer | null): RunResult | null => (Buffer.isBuffer(r) ? (JSON.parse(r.toString()) as RunResult) : r);
