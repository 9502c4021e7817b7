// Judge0 callbacks: when a submission with callback_url finishes, Judge0 sends one `PUT` with the
// submission's default fields, base64-encoded, and tries CALLBACKS_MAX_TRIES times with a
// CALLBACKS_TIMEOUT each. Corral's own callbacks POST a RunResult, so this layer sends the Judge0
// body itself, from the API process that accepted the submission (see docs/compat.md).
import type { RunService } from '../../../core/run-service.ts';
import type { RunResult } from '../../../core/schemas.ts';
import { awaitCompletion } from '../common/await-completion.ts';

export interface CallbackDeps {
  runService: RunService;
  maxTries: number;
  timeoutMs: number;
  /** Longest time a run is watched for its callback, ms. */
  watchMs: number;
  /** Aborts the watch (server shutdown). */
  signal?: AbortSignal;
  /** Judge0 body of a finished run (base64, default fields). */
  body: (result: RunResult) => Record<string, unknown>;
  onError?: (message: string) => void;
}

/** Sends one PUT; true when the receiver answered (any status, as Judge0 counts it). */
export async function putOnce(url: string, body: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await fetch(url, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

/** Watches `first` until it finishes, then PUTs the Judge0 body to `url` (up to maxTries). */
export async function deliverCallback(deps: CallbackDeps, first: RunResult, url: string): Promise<void> {
  try {
    const done = await awaitCompletion(deps.runService, first, deps.watchMs, deps.signal);
    if (deps.signal?.aborted) return;
    if (!done) return;
    const body = JSON.stringify(deps.body(done));
    for (let attempt = 1; attempt <= deps.maxTries; attempt++) {
      if (await putOnce(url, body, deps.timeoutMs)) return;
    }
    deps.onError?.(`callback to ${url} for ${first.id} failed after ${deps.maxTries} tries`);
  } catch (err) {
    deps.onError?.(`callback for ${first.id} failed: ${(err as Error).message}`);
  }
}
