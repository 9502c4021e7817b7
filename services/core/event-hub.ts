// One Redis subscriber per process that fans run event notices out to local listeners (waiters,
// SSE). A notice says which event was appended; the event itself is read from the run's list.
import type { Redis } from 'ioredis';
import type { RunEvent, RunResult } from './schemas.ts';

/** `result`: a small terminal result, carried along (run-store.ts NOTICE_RESULT_MAX_BYTES). */
export type EventNotice = Pick<RunEvent, 'id' | 'seq' | 'type'> & { result?: RunResult };
type Listener = (notice: EventNotice) => void;

export class EventHub {
  private readonly listeners = new Map<string, Set<Listener>>();
  private ready: Promise<unknown>;

  constructor(private readonly sub: Redis, channel: string) {
    this.ready = sub.subscribe(channel);
    sub.on('message', (_ch: string, msg: string) => {
      let ev: EventNotice;
      try { ev = JSON.parse(msg) as EventNotice; } catch { return; }
      this.deliver(ev);
    });
  }

  /**
   * Hands a notice to this process's listeners. Besides the Redis channel, a worker in the same
   * process (`corral up`) delivers its runs' terminal notices here directly once they are
   * written, a pub/sub hop sooner; listeners see that notice twice (waiters resolve once, SSE
   * streams skip events by seq).
   */
  deliver(ev: EventNotice): void {
    const set = this.listeners.get(ev.id);
    if (set) for (const l of [...set]) l(ev);
  }

  /** Resolves once the subscription is active (events published after that are delivered). */
  whenReady(): Promise<unknown> {
    return this.ready;
  }

  on(id: string, listener: Listener): () => void {
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      set!.delete(listener);
      if (set!.size === 0) this.listeners.delete(id);
    };
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.sub.disconnect();
  }
}
