// What `corral up`, `corral api` and `corral worker` share: start the stack, stop it on
// SIGTERM/SIGINT (a second signal forces it), exit. The signal handlers are installed before the
// stack starts: a signal during the start (the sandbox's self-test, the embedded Redis loading
// its AOF) stops what has started instead of killing the process with its children half made.
import type { Logger } from '../services/core/logger.ts';
import { exitSoon, onShutdown } from '../services/core/lifecycle.ts';
import { startStack, type StackOptions } from './stack.ts';

/**
 * A signal during the start lets it finish for this long (the sandbox self-test, the embedded
 * Redis loading its AOF), then gives it up: a start waiting for an unreachable Redis would
 * otherwise never end. A second signal gives it up at once.
 */
const START_AFTER_SIGNAL_MS = 10_000;

export async function runUntilSignal(log: Logger, opts: StackOptions): Promise<number> {
  const giveUp = new AbortController();
  const starting = startStack({ ...opts, signal: giveUp.signal });
  starting.catch(() => {}); // reported below
  const stopped = onShutdown(log, async (force) => {
    force.addEventListener('abort', () => giveUp.abort(), { once: true });
    const timer = setTimeout(() => giveUp.abort(), START_AFTER_SIGNAL_MS);
    const stack = await starting.catch(() => undefined);
    clearTimeout(timer);
    await stack?.close(force);
  });
  log.info({ pid: process.pid }, 'starting');
  try {
    await starting;
  } catch (err) {
    log.error({ err: (err as Error).message }, 'start failed');
    exitSoon(1);
    throw err;
  }
  const code = await stopped;
  // Nothing left in the event loop (a socket, a timer) may keep a stopped Corral alive.
  exitSoon(code);
  return code;
}
