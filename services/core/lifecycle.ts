// Process lifecycle for the CLI commands: SIGTERM/SIGINT → one ordered, graceful shutdown; a second
// signal forces it (the components skip their grace periods) and the process exits within
// FORCED_EXIT_MS whatever is still pending. Every step that talks to Redis during a shutdown is
// bounded (`bounded`), so a Redis that died first cannot hold the process (issue 23).
import type { Logger } from './logger.ts';

/** After a second signal, the process exits this long later at the latest, done or not. */
export const FORCED_EXIT_MS = 5_000;

/**
 * Runs `stop` on the first SIGTERM/SIGINT with a signal that aborts on the second one. Resolves
 * with the exit code once `stop` is done: 0 after a graceful stop, 1 after a forced one or a
 * failure. The caller exits the process with it (`exitSoon`): nothing left in the event loop
 * (a reconnect timer, a socket) may keep a stopped Corral alive.
 */
export function onShutdown(log: Logger, stop: (force: AbortSignal) => Promise<void>, forcedExitMs = FORCED_EXIT_MS): Promise<number> {
  return new Promise((resolve) => {
    const force = new AbortController();
    let stopping = false;
    const handler = (signal: NodeJS.Signals) => {
      if (stopping) {
        if (force.signal.aborted) return;
        log.warn({ signal, exitWithinMs: forcedExitMs }, 'second signal: forcing shutdown');
        force.abort();
        // Not unref'd: this timer is what guarantees the exit.
        setTimeout(() => {
          log.error({ afterMs: forcedExitMs }, 'forced shutdown did not finish in time; exiting now');
          process.exit(1);
        }, forcedExitMs);
        return;
      }
      stopping = true;
      log.info({ signal }, 'shutting down');
      stop(force.signal).then(
        () => resolve(force.signal.aborted ? 1 : 0),
        (err: Error) => { log.error({ err: err.message }, 'shutdown failed'); resolve(1); },
      );
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
  });
}

/**
 * How long a shutdown step that needs Redis (closing a queue, removing the heartbeat) may wait.
 * With the connection up it answers in milliseconds, and a step given up too early would leave
 * its connection reconnecting (in-process stacks: tests, benchmarks); the bound only stops a
 * Redis that hangs. With the connection down there is nothing to wait for.
 */
export function redisStepMs(connection: { status: string }): number {
  return connection.status === 'ready' ? REDIS_STEP_UP_MS : REDIS_STEP_DOWN_MS;
}
const REDIS_STEP_UP_MS = 3_000;
const REDIS_STEP_DOWN_MS = 500;

/** Exits with `code` once pending log lines had a moment to be written. */
export function exitSoon(code: number): void {
  setTimeout(() => process.exit(code), 100).unref();
}

/**
 * Waits for `work` at most `ms` (and not at all once `cut` aborts); reports whether it finished.
 * A step that gives up is not cancelled: what it waited for (a Redis answer) can no longer matter.
 */
export async function bounded(work: Promise<unknown> | undefined, ms: number, cut?: AbortSignal): Promise<boolean> {
  if (!work) return true;
  let timer: NodeJS.Timeout | undefined;
  let onCut: (() => void) | undefined;
  try {
    return await Promise.race([
      work.then(() => true, () => true),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms); }),
      new Promise<boolean>((resolve) => {
        if (!cut) return;
        onCut = () => resolve(false);
        if (cut.aborted) onCut();
        else cut.addEventListener('abort', onCut, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onCut) cut?.removeEventListener('abort', onCut);
  }
}
