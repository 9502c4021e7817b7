// Process lifecycle for the CLI commands: config errors printed plainly, SIGTERM/SIGINT → one
// ordered, graceful shutdown (a second signal forces it).
import type { Logger } from './logger.ts';

export function onShutdown(log: Logger, stop: (force: boolean) => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const handler = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: forcing shutdown');
        void stop(true).finally(() => resolve(1));
        return;
      }
      stopping = true;
      log.info({ signal }, 'shutting down');
      stop(false).then(() => resolve(0), (err: Error) => { log.error({ err: err.message }, 'shutdown failed'); resolve(1); });
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
  });
}
