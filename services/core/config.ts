// Corral's configuration: every environment variable is parsed once, here, by one zod schema into
// a frozen typed object that is passed down explicitly. Nothing else reads process.env.
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { LIMIT_DEFAULTS, LIMIT_FIELDS, type LimitField, type Limits } from './limit-defaults.ts';
import { parseNetworks } from './networks.ts';

/** Cloud metadata services (169.254.169.254, fd00:ec2::254), link-local, and "this host" (0.0.0.0 reaches loopback). */
export const DEFAULT_BLOCKED_NETWORKS = '169.254.0.0/16,fe80::/10,fd00:ec2::254/128,0.0.0.0/8,::/128';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const bool = () => z.stringbool();

export { LIMIT_FIELDS, type LimitField, type Limits } from './limit-defaults.ts';

const LIMIT_DOCS: Record<LimitField, string> = {
  cpuMs: 'CPU time of all processes of a run, ms',
  wallMs: 'wall-clock time of a run, ms',
  memoryMb: 'memory of a run (RSS + page cache), MiB',
  processes: 'processes + threads alive at once',
  outputBytes: 'captured bytes per stream (stdout, stderr)',
  diskMb: 'size of the writable /box and /tmp, MiB',
  stackMb: 'stack size limit, MiB (0 = unlimited)',
  fileSizeMb: 'largest file the program may write, MiB',
  extraCpuMs: 'grace CPU time beyond cpuMs before the kill, ms (the verdict still uses cpuMs)',
};

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

function limitVars(): Record<string, z.ZodType> {
  const out: Record<string, z.ZodType> = {};
  for (const f of LIMIT_FIELDS) {
    const [rd, rm, cd, cm] = LIMIT_DEFAULTS[f];
    const min = f === 'stackMb' || f === 'extraCpuMs' ? 0 : 1;
    out[`CORRAL_RUN_${snake(f)}_DEFAULT`] = int(min).default(rd).describe(`Default run limit: ${LIMIT_DOCS[f]}.`);
    out[`CORRAL_RUN_${snake(f)}_MAX`] = int(min).default(rm).describe(`Largest run limit a request may ask for: ${LIMIT_DOCS[f]}.`);
    out[`CORRAL_COMPILE_${snake(f)}_DEFAULT`] = int(min).default(cd).describe(`Default compile limit: ${LIMIT_DOCS[f]}.`);
    out[`CORRAL_COMPILE_${snake(f)}_MAX`] = int(min).default(cm).describe(`Largest compile limit a request may ask for: ${LIMIT_DOCS[f]}.`);
  }
  return out;
}

/** Every environment variable Corral reads, with its default and its doc line. */
export const ENV_SCHEMA = z.object({
  REDIS_URL: z.url({ protocol: /^(redis|rediss|unix)$/ }).optional()
    .describe('Redis to use (redis://host:port/db, rediss://…, unix:///path/redis.sock). Unset: `corral up` starts an embedded redis-server.'),
  CORRAL_REDIS_BIN: z.string().min(1).default('redis-server').describe('redis-server binary for the embedded Redis.'),
  CORRAL_API_REDIS_TIMEOUT_MS: int(50, 60_000).default(1_000)
    .describe('Longest wait of the API for one Redis answer; beyond it (or at once while the connection to Redis is down) the request gets 503 not_ready with Retry-After.'),
  CORRAL_DATA_DIR: z.string().min(1).default('/var/lib/corral/data').describe('Data directory (embedded Redis socket and AOF live in <dir>/redis).'),
  CORRAL_STATE_DIR: z.string().regex(/^\/[^:,\n\0\\]*$/, 'must be an absolute path without : , or \\').default('/var/lib/corral')
    .describe('The sandbox\'s state on this host: job volumes, init layers, the /dev template, the proc view. Another directory also gives the worker its own cgroup parent (corral-<hash>), so two Corrals on one host never touch each other\'s runs.'),
  CORRAL_SWEEP_INTERVAL_MS: int(0).default(60_000).describe('How often a worker removes what dead owners left in its state directory and cgroups (containers, volumes, proc views of a killed worker on the same host); 0 = only at start.'),
  CORRAL_IMAGES_DIR: z.string().min(1).default('/var/lib/corral/images').describe('Image store root used by workers.'),
  CORRAL_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9_.:-]+$/).default('corral').describe('Prefix of every Redis key (one Redis can host several Corrals).'),
  CORRAL_HOST: z.string().min(1).default('127.0.0.1').describe('Address the HTTP API listens on.'),
  CORRAL_PORT: int(0, 65_535).default(8080).describe('Port the HTTP API listens on (0 = any free port).'),
  CORRAL_API_KEYS: z.string().default('').describe('Comma-separated API keys; when set, every face (v1, Judge0, Piston, Jupyter) needs one, in the headers its clients send (v1: `Authorization: Bearer <key>`, `Authorization: token <key>` or `X-Auth-Token: <key>`; the others in docs/configuration.md, "API keys"). /healthz, /readyz, /metrics, /openapi.json and /docs stay open.'),
  CORRAL_BODY_LIMIT_BYTES: int(1024).default(10 * 1024 * 1024).describe('Largest request body; larger bodies get 413.'),
  CORRAL_MAX_WAIT_MS: int(0).default(60_000).describe('Longest `?wait=true` hold before answering 202 with the id.'),
  CORRAL_QUEUE_MAX_DEPTH: int(1).default(10_000).describe('Queued runs beyond which POST /v1/runs answers 503 with Retry-After.'),
  CORRAL_RETRY_AFTER_SECONDS: int(1).default(5).describe('Retry-After sent with a queue-full 503.'),
  CORRAL_RESULT_TTL_SECONDS: int(1).default(86_400).describe('How long results (and their events) are kept after a run finishes.'),
  CORRAL_BATCH_MAX: int(1).default(100).describe('Most runs in one POST /v1/runs/batch or GET /v1/runs?ids=.'),
  CORRAL_LIST_MAX_BYTES: int(1024).default(64 * 1024 * 1024).describe('Largest answer to a list of runs (GET /v1/runs?ids=): beyond it the request gets 422 response_too_large naming the size, so a client asks for fewer ids (each run can hold up to its output caps).'),
  CORRAL_RESULT_OUTPUT_MAX_BYTES: int(1024).default(64 * 1024 * 1024).describe('Most output bytes (stdout and stderr of all its phases together) a run\'s result keeps: a stream beyond is cut and its phase marked truncated (the verdict is decided on the whole output first). Bounds a result, and the worker\'s memory for it, whatever the number of tests (docs/operations.md#memory).'),
  CORRAL_FILES_MAX: int(1).default(100).describe('Most files in one request (files[] and collect[] each).'),
  CORRAL_COLLECT_FILE_MAX_BYTES: int(1).default(1_048_576).describe('Largest collected file returned in a result (bigger ones are truncated).'),
  CORRAL_COLLECT_TOTAL_MAX_BYTES: int(1).default(8_388_608).describe('Largest total of collected files in one result.'),
  CORRAL_TESTS_MAX: int(1).default(500).describe('Most test cases in one request.'),
  CORRAL_GROUPS_MAX: int(1).default(100).describe('Most scored test groups (groups[]) in one request.'),
  CORRAL_TRANSCRIPT_MAX_BYTES: int(1).default(1_048_576).describe('Largest transcriptBytes a request may ask for (the recorded exchange of an interactive test, per test).'),
  CORRAL_WORKER_SLOTS: int(1).default(availableParallelism()).describe('Concurrent sandbox runs per worker process (default: CPU count).'),
  CORRAL_POOL_MAX_WARM: int(0, 1024).default(8).describe('Warm pool: most containers a worker keeps built ahead of need, across images, sized by recent demand (none while idle; 0 = off: every run builds its container when it starts). Each holds ~0.5 MiB of kernel memory.'),
  CORRAL_POOL_MAX_PER_IMAGE: int(1, 1024).default(8).describe('Warm pool: most containers kept warm for one image.'),
  CORRAL_CPU_PLACEMENT: z.enum(['auto', 'off']).default('auto').describe('CPU placement (docs/sandbox.md#cpu-placement): auto = with no more run slots than CPUs and a cpuset controller, each run gets CPUs of its own (as many as its cpus limit, rounded up), so nproc, sched_getaffinity and /proc count them and a neighbour\'s load does not change its CPU time; with more slots than CPUs, none. off = every run on all of the worker\'s CPUs.'),
  CORRAL_PROC_VIEW: z.enum(['auto', 'on', 'off']).default('auto').describe('A truthful /proc in every container (meminfo, cpuinfo, stat, uptime, loadavg, swaps, diskstats show the run\'s own limits; docs/sandbox.md): on = a worker that cannot start the corral-procview daemon does not start; auto = on where /dev/fuse and the daemon exist, else off with a warning; off = the kernel\'s /proc.'),
  CORRAL_COMPILE_CACHE_MB: int(0).default(128).describe('Successful compiles a worker keeps mounted (tmpfs, in RAM) for the same inputs (a resubmit, a rejudge, the checker every submission of a problem compiles), at most this many MiB of their used space, least recently used first out (0 = off). A program\'s compile is kept only for runs with tests; a checker\'s or interactor\'s always.'),
  CORRAL_POOL_WARM_VOLUMES: int(0, 64).default(4).describe('Warm pool: empty job volumes (/box, a size-limited tmpfs) kept mounted per disk size in use, each used once, so a run needs no mount on its way; only with the warm pool on (0 = mount per run).'),
  CORRAL_INTERACTIVE_SLOTS: int(0, 1024).default(4)
    .describe('Interactive sessions (Piston\'s WebSocket /api/v2/connect) a worker runs at once, on their own queue, besides its CORRAL_WORKER_SLOTS runs (0 = this worker takes none).'),
  CORRAL_INTERACTIVE_STDIN_MAX_BYTES: int(1).default(1_048_576).describe('Most stdin bytes one interactive session may send (beyond: the session ends with an error).'),
  CORRAL_INTERACTIVE_INIT_TIMEOUT_MS: int(1).default(1_000)
    .describe('How long a new interactive WebSocket may take to send its init message (Piston: 1 s, then close code 4001).'),
  CORRAL_INTERACTIVE_WORKER_SILENCE_MS: int(500).default(15_000)
    .describe('How long the API waits for any message or heartbeat from the worker running an interactive session before it tells the client the worker is gone (4002). Workers beat at a quarter of it, at most every 2 s: set the same value on API and worker hosts.'),
  CORRAL_SESSION_SLOTS: int(0, 1024).default(4)
    .describe('Notebook sessions (POST /v1/sessions: a live Jupyter kernel in one container) a worker holds at once, besides its runs and interactive sessions (0 = this worker takes none).'),
  CORRAL_SESSION_IDLE_TIMEOUT_S_DEFAULT: int(1).default(600).describe('A session with no request for this long is ended (idle_timeout), unless the request asks for less.'),
  CORRAL_SESSION_IDLE_TIMEOUT_S_MAX: int(1).default(3_600).describe('Largest idleTimeoutS a session request may ask for.'),
  CORRAL_SESSION_MAX_LIFETIME_S_DEFAULT: int(1).default(3_600).describe('Every session is ended this long after it started (max_lifetime), unless the request asks for less.'),
  CORRAL_SESSION_MAX_LIFETIME_S_MAX: int(1).default(86_400).describe('Largest maxLifetimeS a session request may ask for.'),
  CORRAL_SESSION_MEMORY_MB_DEFAULT: int(32).default(512).describe('Default session memory (kernel + everything it starts, RSS + page cache), MiB; a cell over it kills the kernel.'),
  CORRAL_SESSION_MEMORY_MB_MAX: int(32).default(2_048).describe('Largest session memory a request may ask for, MiB.'),
  CORRAL_SESSION_CPU_S_DEFAULT: int(1).default(600).describe('Default CPU-time budget of a whole session, s (past it the session ends: cpu_budget).'),
  CORRAL_SESSION_CPU_S_MAX: int(1).default(7_200).describe('Largest session CPU-time budget a request may ask for, s.'),
  CORRAL_SESSION_CPUS_DEFAULT: z.coerce.number().min(0.1).max(64).default(1).describe('Default CPU bandwidth of a session, in CPUs (cfs quota).'),
  CORRAL_SESSION_CPUS_MAX: z.coerce.number().min(0.1).max(64).default(2).describe('Largest CPU bandwidth a session request may ask for, in CPUs.'),
  CORRAL_SESSION_PROCESSES_DEFAULT: int(16).default(128).describe('Default tasks (processes + threads) alive at once in a session.'),
  CORRAL_SESSION_PROCESSES_MAX: int(16).default(512).describe('Largest session task count a request may ask for.'),
  CORRAL_SESSION_DISK_MB_DEFAULT: int(1).default(256).describe('Default size of a session\'s /box volume and of its writable /tmp, MiB each.'),
  CORRAL_SESSION_DISK_MB_MAX: int(1).default(2_048).describe('Largest session disk a request may ask for, MiB.'),
  CORRAL_SESSION_CELL_TIMEOUT_MS_DEFAULT: int(100).default(30_000).describe('A cell running longer is interrupted and answered as a timeout, unless the request asks for less.'),
  CORRAL_SESSION_CELL_TIMEOUT_MS_MAX: int(100).default(600_000).describe('Largest cell timeoutMs a request may ask for.'),
  CORRAL_SESSION_FILE_MAX_BYTES: int(1).default(8_388_608).describe('Largest file uploaded to or downloaded from a session\'s /box in one request.'),
  CORRAL_SESSION_START_TIMEOUT_MS: int(1_000).default(120_000).describe('How long a session\'s kernel may take to start before the session fails (start_failed).'),
  CORRAL_SESSION_QUEUE_WAIT_MS: int(100).default(5_000).describe('How long POST /v1/sessions waits for a worker to take the session; past it the session is withdrawn and the answer is 503 no_session_capacity.'),
  CORRAL_SESSION_WORKER_SILENCE_MS: int(500).default(15_000)
    .describe('A session whose worker has not beaten for this long is lost: its requests answer 410 session_lost. Workers beat a quarter as often, at most every 2 s: set the same value on API and worker hosts.'),
  CORRAL_SESSION_RECORD_TTL_S: int(1).default(3_600).describe('How long an ended session\'s record (status, reason, usage) is kept for GET /v1/sessions/:id.'),
  CORRAL_SESSION_ANSWER_MARGIN_MS: int(100).default(15_000)
    .describe('A worker that beats but does not answer a session request is given this long past what the request may take (a cell: its timeout + a kernel start; other requests: twice this) before the API answers 503 session_unresponsive.'),
  CORRAL_SESSION_WARM_KERNELS: int(0, 64).default(1)
    .describe('Started kernels a worker keeps ready per language that has one (python), single-use, for sessions with the default limits; they count against CORRAL_SESSION_SLOTS (0 = no warm pool).'),
  CORRAL_SESSION_WARM_MAX_AGE_S: int(10).default(1_800).describe('A warm kernel no session took within this long is replaced by a fresh one.'),
  CORRAL_SESSION_LOCAL_PATH: bool().default(true)
    .describe('When the API and a worker run in one process (corral up), a request to a session that worker holds goes to it directly, not through Redis (docs/sessions.md); false = always the Redis relay.'),
  CORRAL_JUPYTER_PENDING_KERNELS: bool().default(true)
    .describe('The Jupyter face\'s POST /api/kernels answers 201 (execution_state "starting") as soon as the session is queued, and the kernel\'s WebSocket waits until it is ready, as Jupyter Server\'s pending kernels (docs/compat.md); false = POST answers once the kernel is ready.'),
  CORRAL_WORKER_NAME: z.string().min(1).optional().describe('Name of this worker in heartbeats and job records (default: hostname:pid).'),
  CORRAL_JOB_ATTEMPTS: int(1, 20).default(3).describe('Attempts of a run whose pipeline throws (sandbox failures), with exponential backoff.'),
  CORRAL_JOB_BACKOFF_MS: int(0).default(1_000).describe('Delay before the second attempt of a failed run; doubles each attempt.'),
  CORRAL_LOCK_DURATION_MS: int(1_000).default(30_000).describe('BullMQ job lock; a dead worker\'s run is picked up again after about this long.'),
  CORRAL_STALLED_INTERVAL_MS: int(500).default(30_000).describe('How often workers look for runs of dead workers.'),
  CORRAL_MAX_STALLED_COUNT: int(0, 100).default(2).describe('How often one run may be recovered from a dead worker before it fails.'),
  CORRAL_SHUTDOWN_GRACE_MS: int(0).default(30_000).describe('On SIGTERM, how long active runs may finish; then they are stopped (their sandboxes killed) and put back in the queue for another worker.'),
  CORRAL_WORKER_METRICS_PORT: int(0, 65_535).optional().describe('`corral worker` only: serve its Prometheus metrics on this port at /metrics (unset = off; `corral up` serves them with the API).'),
  CORRAL_HEARTBEAT_MS: int(100).default(5_000).describe('How often a worker reports itself (for /readyz and /v1/languages).'),
  CORRAL_WORKER_STALE_MS: int(100).default(20_000).describe('A worker not heard from for this long no longer counts: not for /readyz, not for the languages the API offers, not in Judge0\'s GET /workers.'),
  CORRAL_CALLBACK_TIMEOUT_MS: int(100).default(10_000).describe('Timeout of one callback request.'),
  CORRAL_CALLBACK_ATTEMPTS: int(1, 50).default(5).describe('Attempts of a callback (non-2xx or network error retries).'),
  CORRAL_CALLBACK_BACKOFF_MS: int(1).default(1_000).describe('First callback retry delay; doubles each attempt.'),
  CORRAL_CALLBACK_CONCURRENCY: int(1).default(16).describe('Callbacks sent at once per worker process (separate from sandbox slots).'),
  CORRAL_CALLBACK_BLOCKED_NETWORKS: z.string().default(DEFAULT_BLOCKED_NETWORKS)
    .refine((v) => { try { parseNetworks(v); return true; } catch { return false; } }, 'must be a comma-separated list of address/prefix networks')
    .describe('Networks callbacks are never sent to (checked after DNS resolution, every try). Default: link-local and cloud metadata addresses; add e.g. `10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,127.0.0.0/8,::1/128,fc00::/7` to keep callbacks out of your own network.'),
  CORRAL_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info').describe('pino log level.'),
  CORRAL_METRICS: bool().default(true).describe('Serve Prometheus metrics at /metrics.'),
  CORRAL_JUDGE0_PREFIX: z.string().regex(/^(\/[A-Za-z0-9._~-]+)*$/, 'must be empty or /segment[/segment…]').default('')
    .describe('Path prefix of the Judge0 API (empty: Judge0\'s root paths, so POST /submissions works as is; e.g. /judge0).'),
  CORRAL_JUDGE0_ENABLE_WAIT_RESULT: bool().default(true).describe('Judge0 ENABLE_WAIT_RESULT: allow ?wait=true on POST /submissions.'),
  CORRAL_JUDGE0_ENABLE_SUBMISSION_DELETE: bool().default(false).describe('Judge0 ENABLE_SUBMISSION_DELETE: allow DELETE /submissions/:token (admin, X-Auth-User).'),
  CORRAL_JUDGE0_ENABLE_CALLBACKS: bool().default(true).describe('Judge0 ENABLE_CALLBACKS: accept callback_url.'),
  CORRAL_JUDGE0_ENABLE_COMPILER_OPTIONS: bool().default(true).describe('Judge0 ENABLE_COMPILER_OPTIONS: accept compiler_options.'),
  CORRAL_JUDGE0_ENABLE_COMMAND_LINE_ARGUMENTS: bool().default(true).describe('Judge0 ENABLE_COMMAND_LINE_ARGUMENTS: accept command_line_arguments.'),
  CORRAL_JUDGE0_ENABLE_ADDITIONAL_FILES: bool().default(true).describe('Judge0 ENABLE_ADDITIONAL_FILES: accept additional_files (a base64 zip).'),
  CORRAL_JUDGE0_ENABLE_BATCHED_SUBMISSIONS: bool().default(true).describe('Judge0 ENABLE_BATCHED_SUBMISSIONS: serve /submissions/batch.'),
  CORRAL_JUDGE0_ALLOW_ENABLE_NETWORK: bool().default(false)
    .describe('Judge0 ALLOW_ENABLE_NETWORK. enable_network=true is refused either way (the sandbox has no network); true only changes the message.'),
  CORRAL_JUDGE0_AUTH_USERS: z.string().default('').describe('Judge0 AUTHZ: comma-separated keys accepted in X-Auth-User for the admin endpoints (empty: admin endpoints open).'),
  CORRAL_JUDGE0_MAX_EXTRACT_SIZE_KB: int(1).default(10_240).describe('Judge0 MAX_EXTRACT_SIZE, KB: the most bytes additional_files may unpack to.'),
  ...limitVars(),
});

/** The Judge0 switches set by environment variables (names as in services/api/compat/judge0/options.ts). */
export interface Judge0Switches {
  prefix: string;
  enableWaitResult: boolean;
  enableSubmissionDelete: boolean;
  enableCallbacks: boolean;
  enableCompilerOptions: boolean;
  enableCommandLineArguments: boolean;
  enableAdditionalFiles: boolean;
  enableBatchedSubmissions: boolean;
  allowEnableNetwork: boolean;
  authUsers: readonly string[];
  maxExtractSizeKb: number;
}

export interface Config {
  redisUrl: string | undefined;
  redisBin: string;
  /** Longest wait of the API for one Redis answer (then 503 not_ready). */
  apiRedisTimeoutMs: number;
  dataDir: string;
  imagesDir: string;
  stateDir: string;
  keyPrefix: string;
  host: string;
  port: number;
  apiKeys: readonly string[];
  bodyLimitBytes: number;
  maxWaitMs: number;
  queueMaxDepth: number;
  retryAfterSeconds: number;
  resultTtlSeconds: number;
  batchMax: number;
  listMaxBytes: number;
  resultOutputMaxBytes: number;
  filesMax: number;
  testsMax: number;
  groupsMax: number;
  transcriptMaxBytes: number;
  collect: { maxFileBytes: number; maxTotalBytes: number };
  worker: {
    slots: number; name: string | undefined; metricsPort: number | undefined; jobAttempts: number; jobBackoffMs: number; lockDurationMs: number;
    stalledIntervalMs: number; maxStalledCount: number; shutdownGraceMs: number;
    heartbeatMs: number; staleMs: number;
    pool: { maxWarm: number; maxPerImage: number; warmVolumes: number };
    compileCacheBytes: number;
    procView: 'auto' | 'on' | 'off';
    cpuPlacement: 'auto' | 'off';
    sweepIntervalMs: number;
  };
  /** Interactive sessions: worker slots, stdin cap, init timeout of the WebSocket. */
  interactive: { slots: number; stdinMaxBytes: number; initTimeoutMs: number; workerSilenceMs: number };
  /** Notebook sessions (docs/sessions.md): slots per worker, limits (default and maximum), timeouts. */
  sessions: SessionConfig;
  callback: { timeoutMs: number; attempts: number; backoffMs: number; concurrency: number; blockedNetworks: string };
  logLevel: string;
  metrics: boolean;
  judge0: Judge0Switches;
  limits: {
    run: { defaults: Limits; max: Limits };
    compile: { defaults: Limits; max: Limits };
  };
}

export interface SessionLimitValues { memoryMb: number; cpuS: number; cpus: number; processes: number; diskMb: number }
export interface SessionConfig {
  slots: number;
  defaults: SessionLimitValues & { idleTimeoutS: number; maxLifetimeS: number; cellTimeoutMs: number };
  max: SessionLimitValues & { idleTimeoutS: number; maxLifetimeS: number; cellTimeoutMs: number };
  fileMaxBytes: number;
  startTimeoutMs: number;
  queueWaitMs: number;
  workerSilenceMs: number;
  recordTtlS: number;
  answerMarginMs: number;
  /** Warm kernels per language (0 = none) and how long one waits before it is replaced. */
  warmKernels: number;
  warmMaxAgeS: number;
  /** CORRAL_SESSION_LOCAL_PATH: requests skip Redis when the API and the session's worker share the process. */
  localPath: boolean;
  /** CORRAL_JUPYTER_PENDING_KERNELS: the Jupyter face answers POST /api/kernels before the kernel is ready. */
  jupyterPendingKernels: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** Parses an environment (default: process.env) into a frozen Config; throws ConfigError listing every bad value. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(ENV_SCHEMA.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') input[key] = v;
  }
  const parsed = ENV_SCHEMA.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => {
      const key = String(i.path[0]);
      return `${key}=${JSON.stringify(input[key])}: ${i.message}`;
    }));
  }
  const e = parsed.data as Record<string, any>;
  const limits = (kind: 'RUN' | 'COMPILE', which: 'DEFAULT' | 'MAX') =>
    Object.fromEntries(LIMIT_FIELDS.map((f) => [f, e[`CORRAL_${kind}_${snake(f)}_${which}`] as number])) as Limits;
  const problems: string[] = [];
  for (const kind of ['RUN', 'COMPILE'] as const) {
    const d = limits(kind, 'DEFAULT');
    const m = limits(kind, 'MAX');
    for (const f of LIMIT_FIELDS) {
      if (d[f] > m[f]) problems.push(`CORRAL_${kind}_${snake(f)}_DEFAULT=${d[f]}: larger than CORRAL_${kind}_${snake(f)}_MAX=${m[f]}`);
    }
  }
  const sessionValue = (which: 'DEFAULT' | 'MAX') => ({
    memoryMb: e[`CORRAL_SESSION_MEMORY_MB_${which}`], cpuS: e[`CORRAL_SESSION_CPU_S_${which}`], cpus: e[`CORRAL_SESSION_CPUS_${which}`],
    processes: e[`CORRAL_SESSION_PROCESSES_${which}`], diskMb: e[`CORRAL_SESSION_DISK_MB_${which}`],
    idleTimeoutS: e[`CORRAL_SESSION_IDLE_TIMEOUT_S_${which}`], maxLifetimeS: e[`CORRAL_SESSION_MAX_LIFETIME_S_${which}`],
    cellTimeoutMs: e[`CORRAL_SESSION_CELL_TIMEOUT_MS_${which}`],
  }) as SessionConfig['defaults'];
  const sessionDefaults = sessionValue('DEFAULT');
  const sessionMax = sessionValue('MAX');
  for (const [k, v] of Object.entries(sessionDefaults)) {
    const max = sessionMax[k as keyof typeof sessionMax];
    if (v > max) problems.push(`session default ${k}=${v}: larger than its maximum ${max} (CORRAL_SESSION_*_DEFAULT vs _MAX)`);
  }
  if (problems.length) throw new ConfigError(problems);
  return deepFreeze({
    redisUrl: e.REDIS_URL,
    redisBin: e.CORRAL_REDIS_BIN,
    apiRedisTimeoutMs: e.CORRAL_API_REDIS_TIMEOUT_MS,
    dataDir: e.CORRAL_DATA_DIR,
    imagesDir: e.CORRAL_IMAGES_DIR,
    stateDir: e.CORRAL_STATE_DIR,
    keyPrefix: e.CORRAL_KEY_PREFIX,
    host: e.CORRAL_HOST,
    port: e.CORRAL_PORT,
    apiKeys: (e.CORRAL_API_KEYS as string).split(',').map((k) => k.trim()).filter(Boolean),
    bodyLimitBytes: e.CORRAL_BODY_LIMIT_BYTES,
    maxWaitMs: e.CORRAL_MAX_WAIT_MS,
    queueMaxDepth: e.CORRAL_QUEUE_MAX_DEPTH,
    retryAfterSeconds: e.CORRAL_RETRY_AFTER_SECONDS,
    resultTtlSeconds: e.CORRAL_RESULT_TTL_SECONDS,
    batchMax: e.CORRAL_BATCH_MAX,
    listMaxBytes: e.CORRAL_LIST_MAX_BYTES,
    resultOutputMaxBytes: e.CORRAL_RESULT_OUTPUT_MAX_BYTES,
    filesMax: e.CORRAL_FILES_MAX,
    testsMax: e.CORRAL_TESTS_MAX,
    groupsMax: e.CORRAL_GROUPS_MAX,
    transcriptMaxBytes: e.CORRAL_TRANSCRIPT_MAX_BYTES,
    collect: { maxFileBytes: e.CORRAL_COLLECT_FILE_MAX_BYTES, maxTotalBytes: e.CORRAL_COLLECT_TOTAL_MAX_BYTES },
    worker: {
      slots: e.CORRAL_WORKER_SLOTS,
      name: e.CORRAL_WORKER_NAME,
      metricsPort: e.CORRAL_WORKER_METRICS_PORT,
      jobAttempts: e.CORRAL_JOB_ATTEMPTS,
      jobBackoffMs: e.CORRAL_JOB_BACKOFF_MS,
      lockDurationMs: e.CORRAL_LOCK_DURATION_MS,
      stalledIntervalMs: e.CORRAL_STALLED_INTERVAL_MS,
      maxStalledCount: e.CORRAL_MAX_STALLED_COUNT,
      shutdownGraceMs: e.CORRAL_SHUTDOWN_GRACE_MS,
      heartbeatMs: e.CORRAL_HEARTBEAT_MS,
      staleMs: e.CORRAL_WORKER_STALE_MS,
      pool: { maxWarm: e.CORRAL_POOL_MAX_WARM, maxPerImage: e.CORRAL_POOL_MAX_PER_IMAGE, warmVolumes: e.CORRAL_POOL_WARM_VOLUMES },
      compileCacheBytes: e.CORRAL_COMPILE_CACHE_MB * 1024 * 1024,
      procView: e.CORRAL_PROC_VIEW,
      cpuPlacement: e.CORRAL_CPU_PLACEMENT,
      sweepIntervalMs: e.CORRAL_SWEEP_INTERVAL_MS,
    },
    interactive: {
      slots: e.CORRAL_INTERACTIVE_SLOTS,
      stdinMaxBytes: e.CORRAL_INTERACTIVE_STDIN_MAX_BYTES,
      initTimeoutMs: e.CORRAL_INTERACTIVE_INIT_TIMEOUT_MS,
      workerSilenceMs: e.CORRAL_INTERACTIVE_WORKER_SILENCE_MS,
    },
    sessions: {
      slots: e.CORRAL_SESSION_SLOTS,
      defaults: sessionDefaults,
      max: sessionMax,
      fileMaxBytes: e.CORRAL_SESSION_FILE_MAX_BYTES,
      startTimeoutMs: e.CORRAL_SESSION_START_TIMEOUT_MS,
      queueWaitMs: e.CORRAL_SESSION_QUEUE_WAIT_MS,
      workerSilenceMs: e.CORRAL_SESSION_WORKER_SILENCE_MS,
      recordTtlS: e.CORRAL_SESSION_RECORD_TTL_S,
      answerMarginMs: e.CORRAL_SESSION_ANSWER_MARGIN_MS,
      warmKernels: e.CORRAL_SESSION_WARM_KERNELS,
      warmMaxAgeS: e.CORRAL_SESSION_WARM_MAX_AGE_S,
      localPath: e.CORRAL_SESSION_LOCAL_PATH,
      jupyterPendingKernels: e.CORRAL_JUPYTER_PENDING_KERNELS,
    },
    callback: {
      timeoutMs: e.CORRAL_CALLBACK_TIMEOUT_MS,
      attempts: e.CORRAL_CALLBACK_ATTEMPTS,
      backoffMs: e.CORRAL_CALLBACK_BACKOFF_MS,
      concurrency: e.CORRAL_CALLBACK_CONCURRENCY,
      blockedNetworks: e.CORRAL_CALLBACK_BLOCKED_NETWORKS,
    },
    logLevel: e.CORRAL_LOG_LEVEL,
    metrics: e.CORRAL_METRICS,
    judge0: {
      prefix: e.CORRAL_JUDGE0_PREFIX,
      enableWaitResult: e.CORRAL_JUDGE0_ENABLE_WAIT_RESULT,
      enableSubmissionDelete: e.CORRAL_JUDGE0_ENABLE_SUBMISSION_DELETE,
      enableCallbacks: e.CORRAL_JUDGE0_ENABLE_CALLBACKS,
      enableCompilerOptions: e.CORRAL_JUDGE0_ENABLE_COMPILER_OPTIONS,
      enableCommandLineArguments: e.CORRAL_JUDGE0_ENABLE_COMMAND_LINE_ARGUMENTS,
      enableAdditionalFiles: e.CORRAL_JUDGE0_ENABLE_ADDITIONAL_FILES,
      enableBatchedSubmissions: e.CORRAL_JUDGE0_ENABLE_BATCHED_SUBMISSIONS,
      allowEnableNetwork: e.CORRAL_JUDGE0_ALLOW_ENABLE_NETWORK,
      authUsers: (e.CORRAL_JUDGE0_AUTH_USERS as string).split(',').map((k) => k.trim()).filter(Boolean),
      maxExtractSizeKb: e.CORRAL_JUDGE0_MAX_EXTRACT_SIZE_KB,
    },
    limits: {
      run: { defaults: limits('RUN', 'DEFAULT'), max: limits('RUN', 'MAX') },
      compile: { defaults: limits('COMPILE', 'DEFAULT'), max: limits('COMPILE', 'MAX') },
    },
  } satisfies Config);
}

/** Rows for the configuration table in docs/configuration.md: name, default, doc line. */
export function configTable(): Array<{ name: string; default: string; doc: string }> {
  return Object.entries(ENV_SCHEMA.shape).map(([name, schema]) => {
    const s = schema as z.ZodType;
    const d = name === 'CORRAL_WORKER_SLOTS' ? 'CPU count' : s.safeParse(undefined).data;
    return { name, default: d === undefined ? '(unset)' : String(d), doc: s.description ?? '' };
  });
}
