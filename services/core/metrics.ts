// Prometheus metrics (prom-client), one registry per process, passed down explicitly.
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface Metrics {
  registry: Registry;
  queueDepth: Gauge<'state'>;
  runsTotal: Counter<'language' | 'verdict' | 'status'>;
  queueWaitSeconds: Histogram<'language'>;
  compileSeconds: Histogram<'language'>;
  runSeconds: Histogram<'language'>;
  totalSeconds: Histogram<'language'>;
  sandboxSetupSeconds: Histogram;
  activeRuns: Gauge;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  callbacksTotal: Counter<'outcome'>;
  interactiveSessions: Gauge;
  interactiveSessionsTotal: Counter<'outcome'>;
  /** Notebook sessions (worker side): held now, cells run, cell latency, sessions ended by reason. */
  sessionsOpen: Gauge;
  sessionCellsTotal: Counter<'status'>;
  sessionCellSeconds: Histogram;
  sessionsEndedTotal: Counter<'reason'>;
}

/** `queueCounts` is called at scrape time to fill the queue-depth gauge. */
export function createMetrics(queueCounts?: () => Promise<Record<string, number>>): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'corral_process_' });
  const h = (name: string, help: string) =>
    new Histogram({ name, help, labelNames: ['language'], buckets: SECONDS, registers: [registry] });
  return {
    registry,
    queueDepth: new Gauge({
      name: 'corral_queue_depth', help: 'Runs in the queue by state', labelNames: ['state'], registers: [registry],
      async collect() {
        if (!queueCounts) return;
        try {
          for (const [state, n] of Object.entries(await queueCounts())) this.set({ state }, n);
        } catch { /* Redis down: leave the last values */ }
      },
    }),
    runsTotal: new Counter({ name: 'corral_runs_total', help: 'Finished runs by language, verdict and status', labelNames: ['language', 'verdict', 'status'], registers: [registry] }),
    queueWaitSeconds: h('corral_queue_wait_seconds', 'Time from submit to a worker starting the run'),
    compileSeconds: h('corral_compile_seconds', 'Wall time of the compile phase'),
    runSeconds: h('corral_run_seconds', 'Wall time of the run phase (all tests)'),
    totalSeconds: h('corral_total_seconds', 'Time from submit to the result'),
    sandboxSetupSeconds: new Histogram({ name: 'corral_sandbox_setup_seconds', help: 'Sandbox setup per launch (cgroup, namespaces, mounts, exec)', buckets: SECONDS, registers: [registry] }),
    activeRuns: new Gauge({ name: 'corral_active_runs', help: 'Runs being executed by this process', registers: [registry] }),
    httpRequests: new Counter({ name: 'corral_http_requests_total', help: 'HTTP requests', labelNames: ['method', 'route', 'status'], registers: [registry] }),
    callbacksTotal: new Counter({ name: 'corral_callbacks_total', help: 'Callback deliveries by outcome', labelNames: ['outcome'], registers: [registry] }),
    interactiveSessions: new Gauge({ name: 'corral_interactive_sessions', help: 'Interactive sessions (WebSocket) open in this API process', registers: [registry] }),
    interactiveSessionsTotal: new Counter({
      name: 'corral_interactive_sessions_total', help: 'Ended interactive sessions: done (every stage ran), failed (no worker, worker gone, sandbox failure), closed (by the client or the server)',
      labelNames: ['outcome'], registers: [registry],
    }),
    sessionsOpen: new Gauge({ name: 'corral_sessions_open', help: 'Notebook sessions held by this worker process (starting or ready)', registers: [registry] }),
    sessionCellsTotal: new Counter({ name: 'corral_session_cells_total', help: 'Notebook cells run, by status (ok, error, aborted, timeout, kernel_died, kernel_restarted)', labelNames: ['status'], registers: [registry] }),
    sessionCellSeconds: new Histogram({ name: 'corral_session_cell_seconds', help: 'Wall time of a notebook cell on the worker (request sent to the kernel → answered)', buckets: [0.002, ...SECONDS], registers: [registry] }),
    sessionsEndedTotal: new Counter({ name: 'corral_sessions_ended_total', help: 'Ended notebook sessions by reason (closed, idle_timeout, max_lifetime, cpu_budget, worker_shutdown, worker_lost, start_failed, sandbox_error)', labelNames: ['reason'], registers: [registry] }),
  };
}

/** One image's warm-pool figures, as the sandbox reports them (worker/sandbox/pool.ts). */
export interface PoolFigures { image: string; warm: number; building: number; target: number; hits: number; misses: number; handoffs: number; buildMsAvg: number }

/** The warm job volumes' figures (worker/sandbox/volume-pool.ts). */
export interface VolumeFigures { ready: number; hits: number; misses: number }

/** Warm-pool gauges, read from the pool at scrape time. */
export function registerPoolMetrics(metrics: Metrics, stats: () => PoolFigures[], volumes?: () => VolumeFigures | undefined): void {
  const gauge = (name: string, help: string, pick: (s: PoolFigures) => number) =>
    new Gauge({
      name, help, labelNames: ['image'], registers: [metrics.registry],
      collect() {
        for (const s of stats()) this.set({ image: s.image }, pick(s));
      },
    });
  gauge('corral_pool_warm', 'Containers built and waiting for a run, per image', (s) => s.warm);
  gauge('corral_pool_building', 'Containers being built ahead of need, per image', (s) => s.building);
  gauge('corral_pool_target', 'Containers the pool wants warm for the recent demand, per image', (s) => s.target);
  gauge('corral_pool_hits', 'Runs that got a warm container (since start), per image', (s) => s.hits);
  gauge('corral_pool_misses', 'Runs that found no warm container (since start), per image', (s) => s.misses);
  gauge('corral_pool_handoffs', 'Runs that missed and took a container whose build was under way (since start), per image', (s) => s.handoffs);
  gauge('corral_pool_build_ms', 'Average time to build a warm container, ms, per image', (s) => s.buildMsAvg);
  if (!volumes) return;
  const volumeGauge = (name: string, help: string, pick: (v: VolumeFigures) => number) =>
    new Gauge({
      name, help, registers: [metrics.registry],
      collect() {
        const v = volumes();
        if (v) this.set(pick(v));
      },
    });
  volumeGauge('corral_pool_volumes_warm', 'Empty job volumes mounted and waiting for a run', (v) => v.ready);
  volumeGauge('corral_pool_volume_hits', 'Volumes taken warm (since start)', (v) => v.hits);
  volumeGauge('corral_pool_volume_misses', 'Volumes mounted on the run\'s way because none was warm (since start)', (v) => v.misses);
}
