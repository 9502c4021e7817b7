// A value read from elsewhere (Redis) at most every maxAgeMs, without making callers wait for
// the refresh: only the very first reading is awaited; after that the last value is served while
// one background reading replaces it. A failed first reading is forgotten (the next call tries
// again); a failed refresh keeps the last value.
export class Refreshed<T> {
  private value: Promise<T> | undefined;
  private readAt = 0;
  private refreshing = false;

  constructor(private readonly read: () => Promise<T>, private readonly maxAgeMs: number) {}

  get(): Promise<T> {
    const now = Date.now();
    if (!this.value) {
      const first = this.read();
      this.value = first;
      this.readAt = now;
      first.catch(() => { if (this.value === first) this.value = undefined; });
      return first;
    }
    if (now - this.readAt > this.maxAgeMs && !this.refreshing) {
      this.refreshing = true;
      this.readAt = now;
      this.read()
        .then((v) => { this.value = Promise.resolve(v); this.readAt = Date.now(); }, () => {})
        .finally(() => { this.refreshing = false; });
    }
    return this.value;
  }

  /** The next get() reads again and waits for it. */
  invalidate(): void {
    this.value = undefined;
  }
}
