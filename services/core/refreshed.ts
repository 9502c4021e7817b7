// A value read from elsewhere (Redis) at most every maxAgeMs, without making callers wait for
// the refresh: only the very first reading is awaited; after that the last value is served while
// one background reading replaces it. A failed first reading is forgotten (the next call tries
// again); a failed refresh keeps the last value.
//
// With `keepFreshMs`, the value is also read again on a timer while it is in use (a get() within
// the last keepFreshMs), so a request seldom finds it expired. Measured on an idle service: a
// refresh started by the request itself put its commands ahead of the request's own on the
// shared Redis connection and its work on the request's way (~0.2 ms each for the language list
// and the queue depth); moving it after the request's commands only moved the cost into the
// request's Redis round trip.
export class Refreshed<T> {
  private value: Promise<T> | undefined;
  private readAt = 0;
  private refreshing = false;
  private lastGet = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly maxAge: () => number;

  constructor(private readonly read: () => Promise<T>, maxAgeMs: number | (() => number), private readonly keepFreshMs = 0) {
    this.maxAge = typeof maxAgeMs === 'number' ? () => maxAgeMs : maxAgeMs;
  }

  get(): Promise<T> {
    const now = Date.now();
    this.lastGet = now;
    if (!this.value) {
      const first = this.read();
      this.value = first;
      this.readAt = now;
      first.then(() => this.schedule(), () => { if (this.value === first) this.value = undefined; });
      return first;
    }
    if (now - this.readAt > this.maxAge() && !this.refreshing) this.refresh();
    else this.schedule(); // in use again after a quiet spell: the timer resumes
    return this.value;
  }

  private refresh(): void {
    this.refreshing = true;
    this.readAt = Date.now();
    this.read()
      .then((v) => { this.value = Promise.resolve(v); this.readAt = Date.now(); }, () => {})
      .finally(() => {
        this.refreshing = false;
        this.schedule();
      });
  }

  /** The next timed reading, a little before the value expires, while it is in use. */
  private schedule(): void {
    if (this.keepFreshMs <= 0 || this.timer || this.refreshing || !this.value) return;
    if (Date.now() - this.lastGet > this.keepFreshMs) return; // nobody asks: let it expire
    const due = Math.max(0, this.readAt + this.maxAge() * 0.8 - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.refreshing) this.refresh();
    }, due);
    this.timer.unref();
  }

  /** The next get() reads again and waits for it. */
  invalidate(): void {
    this.value = undefined;
  }

  /** Stops the timer (the value stays usable; a later get() refreshes as without keepFreshMs). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.lastGet = 0;
  }
}
