// Waits for a run to reach a terminal state through RunService, for APIs whose clients expect a
// synchronous answer (Piston's /execute, Judge0's ?wait=true). Uses the run's event stream and
// falls back to one `get` when the stream ends, so no polling interval is involved.
import type { RunService } from '../../../core/run-service.ts';
import type { RunResult } from '../../../core/schemas.ts';

const TERMINAL = new Set(['completed', 'cancelled', 'failed']);

export function isTerminal(result: Pick<RunResult, 'status'>): boolean {
  return TERMINAL.has(result.status);
}

/**
 * Resolves with the run's result once it is terminal, or with its latest state when `maxWaitMs`
 * passes or `signal` aborts first. Returns null when the id is unknown.
 */
export async function awaitCompletion(
  runService: RunService,
  first: RunResult,
  maxWaitMs: number,
  signal?: AbortSignal,
): Promise<RunResult | null> {
  if (isTerminal(first)) return first;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), maxWaitMs);
  const onAbort = () => stop.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const event of runService.events(first.id, stop.signal)) {
      if (event.result && TERMINAL.has(event.result.status)) return event.result;
      if (TERMINAL.has(event.type)) break;
    }
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  return runService.get(first.id);
}
