// The open-loop arrival scheduler: request i is fired at t0 + i / rate, whether or not earlier
// requests have finished (a closed loop would wait and so hide the queueing it should measure).
// The clock is injected, so the schedule is testable without timing.

export interface Clock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface Fired<T> {
  index: number;
  /** When the request was due (latency is measured from here: no coordinated omission). */
  scheduledAt: number;
  firedAt: number;
  /** Set when the request settled; `value` or `error`. */
  settledAt?: number;
  value?: T;
  error?: unknown;
}

export interface OpenLoopOptions<T> {
  ratePerSecond: number;
  /** Number of arrivals: the loop is bounded by count, not by a condition. */
  count: number;
  fire: (index: number, scheduledAt: number) => Promise<T>;
  clock?: Clock;
  /** Arrivals beyond this many unsettled requests are not sent and count as dropped (memory/fd bound). */
  maxInFlight?: number;
}

export interface OpenLoop<T> {
  /** Resolves when every arrival has been fired (or dropped), with how many were fired. */
  dispatched: Promise<number>;
  /** Resolves when every fired request has settled. */
  done: Promise<Array<Fired<T>>>;
  /** Arrivals not sent because `maxInFlight` requests were outstanding. */
  dropped(): number;
  inFlight(): number;
}

export function startOpenLoop<T>(opts: OpenLoopOptions<T>): OpenLoop<T> {
  if (!(opts.ratePerSecond > 0)) throw new Error(`rate must be > 0, got ${opts.ratePerSecond}`);
  if (!Number.isInteger(opts.count) || opts.count < 0) throw new Error(`count must be a non-negative integer, got ${opts.count}`);
  const clock = opts.clock ?? realClock;
  const maxInFlight = opts.maxInFlight ?? Infinity;
  const intervalMs = 1000 / opts.ratePerSecond;
  const fired: Array<Fired<T>> = [];
  const settling: Array<Promise<void>> = [];
  let inFlight = 0;
  let dropped = 0;

  const dispatched = (async () => {
    const t0 = clock.now();
    for (let i = 0; i < opts.count; i++) {
      const scheduledAt = t0 + i * intervalMs;
      const wait = scheduledAt - clock.now();
      if (wait > 0) await clock.sleep(wait);
      if (inFlight >= maxInFlight) { dropped++; continue; }
      const f: Fired<T> = { index: i, scheduledAt, firedAt: clock.now() };
      fired.push(f);
      inFlight++;
      let p: Promise<T>;
      try { p = opts.fire(i, scheduledAt); } catch (err) { p = Promise.reject(err); }
      settling.push(p.then(
        (value) => { f.value = value; },
        (error: unknown) => { f.error = error ?? new Error('rejected'); },
      ).finally(() => { f.settledAt = clock.now(); inFlight--; }));
    }
    return fired.length;
  })();

  return {
    dispatched,
    done: dispatched.then(async () => { await Promise.all(settling); return fired; }),
    dropped: () => dropped,
    inFlight: () => inFlight,
  };
}
