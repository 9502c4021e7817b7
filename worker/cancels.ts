// Cancel of running runs: the API publishes the run id; the worker holding it aborts its pipeline.
import type { Redis } from 'ioredis';

export class CancelListener {
  private readonly running = new Map<string, AbortController>();

  constructor(private readonly sub: Redis, channel: string) {
    void sub.subscribe(channel);
    sub.on('message', (_ch: string, id: string) => this.running.get(id)?.abort());
  }

  register(id: string): AbortController {
    const ac = new AbortController();
    this.running.set(id, ac);
    return ac;
  }

  release(id: string): void {
    this.running.delete(id);
  }

  close(): void {
    this.sub.disconnect();
  }
}
