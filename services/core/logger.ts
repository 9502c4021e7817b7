// Structured logs (pino). Anything about one run logs through `runLogger(log, id)` so every line
// carries its runId.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export function createLogger(level: string, name = 'corral', destination?: DestinationStream): Logger {
  return pino({ name, level, base: { pid: process.pid } }, destination);
}

export function runLogger(log: Logger, runId: string): Logger {
  return log.child({ runId });
}
