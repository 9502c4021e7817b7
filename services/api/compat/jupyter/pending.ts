// Pending kernels (docs/compat.md), as Jupyter Server's MappingKernelManager.use_pending_kernels
// has them: POST /api/kernels answers as soon as the kernel's session is queued (execution_state
// "starting"), and what needs the kernel running — its WebSocket, an interrupt, a restart — waits
// here until it is ready. Jupyter Server's channels handler does the same (its pre_get awaits the
// kernel's `ready`). The client's own steps after the 201 (its next request, opening the
// WebSocket) then overlap the worker's take and the kernel's ready instead of following them.
//
// The starts this process made are kept by id until they settle (their ready promise); a kernel
// some other API process is starting is waited for by polling its record. Both are bounded: a
// start that does not settle within the bound is answered 503 not_ready, never accepted half-ready.
import { CorralError } from '../../../core/errors.ts';
import type { Logger } from '../../../core/logger.ts';
import type { SessionInfo } from '../../../core/session-protocol.ts';
import { startPollMs, type SessionService } from '../../../core/session-service.ts';

export interface PendingKernelsDeps {
  sessions: Pick<SessionService, 'info'>;
  /** Longest wait for a kernel to be started (the session's queue wait + its start timeout). */
  boundMs: number;
  log: Pick<Logger, 'debug' | 'info' | 'warn'>;
}

/**
 * A start's error as the face tells it: a kernel shut down while it started (its session closed)
 * is a kernel that no longer exists, 404 as Jupyter answers for one; the rest keep their status
 * (503 no_session_capacity or session_start_failed with Retry-After, 422 unknown_language, 404).
 */
export function kernelStartError(err: CorralError): CorralError {
  const reason = (err.details as { reason?: unknown } | null)?.reason;
  if (err.code === 'session_start_failed' && reason === 'closed') {
    return new CorralError('session_not_found', `the kernel was shut down while it started: ${err.message}`, err.details);
  }
  return err;
}

export class PendingKernels {
  private readonly starts = new Map<string, Promise<SessionInfo>>();

  constructor(private readonly deps: PendingKernelsDeps) {}

  /** Keeps a start this process made until it settles (its outcome is logged here: the client hears it when it connects). */
  add(id: string, ready: Promise<SessionInfo>): void {
    this.starts.set(id, ready);
    ready.then(() => { this.starts.delete(id); }, (err: unknown) => {
      this.starts.delete(id);
      const e = err instanceof CorralError ? kernelStartError(err) : undefined;
      if (e?.code === 'session_not_found') this.deps.log.debug({ kernelId: id }, 'jupyter: a kernel was shut down while it started');
      else if (e?.code === 'no_session_capacity') this.deps.log.info({ kernelId: id, err: e.message }, 'jupyter: a pending kernel did not start: no worker took it');
      else this.deps.log.warn({ kernelId: id, err: (err as Error).message }, 'jupyter: a pending kernel did not start');
    });
  }

  /** Starts this process made that have not settled yet. */
  get size(): number {
    return this.starts.size;
  }

  /**
   * The kernel's session once it is not starting any more: ready (or ended: the caller says 404).
   * A start of this process's: its own outcome (rejects with the start's error, as
   * kernelStartError tells it); any other kernel: its record, looked at again while it says
   * "starting". Rejects 503 not_ready when the bound passes first.
   */
  async started(id: string): Promise<SessionInfo> {
    const { boundMs } = this.deps;
    const deadline = Date.now() + boundMs;
    const stillStarting = () => new CorralError('not_ready', `kernel ${id} is still starting after ${boundMs} ms; retry later`, { kernelId: id }, { 'Retry-After': '5' });
    const own = this.starts.get(id);
    if (own) {
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([own, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(stillStarting()), boundMs); })]);
      } catch (err) {
        throw err instanceof CorralError ? kernelStartError(err) : err;
      } finally {
        clearTimeout(timer);
      }
    }
    for (let n = 0; ; n++) {
      const info = await this.deps.sessions.info(id);
      if (info.status !== 'starting') return info;
      if (Date.now() >= deadline) throw stillStarting();
      await new Promise((resolve) => setTimeout(resolve, Math.min(startPollMs(n), Math.max(1, deadline - Date.now()))));
    }
  }
}
