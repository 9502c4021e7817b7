// The wire types of API v1 (and of the queue's job data), as zod schemas. The OpenAPI document is
// generated from these same schemas, so validation and documentation cannot drift apart.
import { z } from 'zod';
import { LIMIT_FIELDS } from './config.ts';

const noNul = (s: string) => !s.includes('\0');
const MAX_PATH_CHARS = 255;

/** Linux's NAME_MAX: the longest file name, in bytes. */
export const NAME_MAX_BYTES = 255;

/** True when no name between the slashes of `path` is longer than NAME_MAX in UTF-8. */
export const namesFit = (path: string): boolean => path.split('/').every((seg) => Buffer.byteLength(seg) <= NAME_MAX_BYTES);

/** A path relative to /box: no absolute path, no `.`/`..`/empty segment, no NUL, bounded length. */
export const BoxPath = z.string().min(1).max(MAX_PATH_CHARS)
  .refine(noNul, 'must not contain NUL')
  .refine((p) => !p.startsWith('/'), 'must be relative to /box, not absolute')
  .refine((p) => p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..'), 'must not contain empty, "." or ".." segments')
  // The filesystem's NAME_MAX is in bytes: 100 emoji are 200 characters but 400 bytes, which no
  // file may be named (the run would fail writing it, a failure of the service, not the request's).
  .refine(namesFit, `each name between slashes at most ${NAME_MAX_BYTES} bytes (UTF-8)`)
  .describe('A path relative to /box');

/** A collect pattern: a path or glob (`*`, `**`, `?`) under /box, same rules as BoxPath. */
export const CollectPattern = BoxPath.describe('A path or glob (*, **, ?) relative to /box');

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** True when `s` is canonical, padded base64 (what stdinEncoding 'base64' requires). */
export const isBase64 = (s: string): boolean => BASE64.test(s);

export const FileInput = z.object({
  path: BoxPath,
  content: z.string(),
  encoding: z.enum(['utf8', 'base64']).default('utf8'),
}).strict()
  // Node's decoder skips what is not base64, so a bad file would run as other bytes than sent.
  .refine((f) => f.encoding !== 'base64' || isBase64(f.content), { path: ['content'], message: 'must be base64 (encoding is base64)' });
export type FileInput = z.infer<typeof FileInput>;

const limitField = (name: string) => {
  const min = name === 'stackMb' || name === 'extraCpuMs' ? 0 : 1;
  return z.number().int().min(min).optional();
};
export const LimitsInput = z.object(
  Object.fromEntries(LIMIT_FIELDS.map((f) => [f, limitField(f)])) as Record<(typeof LIMIT_FIELDS)[number], z.ZodOptional<z.ZodNumber>>,
).strict().describe('Per-run limits; omitted fields take the configured defaults; beyond a configured maximum → 422');
export type LimitsInput = z.infer<typeof LimitsInput>;
export const ResolvedLimits = z.object(
  Object.fromEntries(LIMIT_FIELDS.map((f) => [f, z.number().int().min(0)])) as Record<(typeof LIMIT_FIELDS)[number], z.ZodNumber>,
).strict();
export type ResolvedLimits = z.infer<typeof ResolvedLimits>;

export const CompareMode = z.union([
  z.enum(['exact', 'trailing-whitespace', 'tokens', 'unordered-lines', 'case-insensitive']),
  z.object({
    float: z.object({
      absolute: z.number().min(0).default(0),
      relative: z.number().min(0).default(0),
    }).strict(),
  }).strict(),
]).describe('How output is compared with expected output (default trailing-whitespace)');
export type CompareMode = z.infer<typeof CompareMode>;

export const StdinEncoding = z.enum(['utf8', 'base64']);
export type StdinEncoding = z.infer<typeof StdinEncoding>;
const GroupName = z.string().min(1).max(64).regex(/^[A-Za-z0-9_.:-]+$/, 'must be letters, digits, _ . : or -');

export const TestCase = z.object({
  stdin: z.string().default(''),
  expectedOutput: z.string().optional(),
  group: GroupName.optional().describe('Name of the group (groups[].name) this test belongs to'),
}).strict();
export type TestCase = z.infer<typeof TestCase>;

const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name').max(128);
const Arg = z.string().max(4096).refine(noNul, 'must not contain NUL');

export const GroupScoring = z.enum(['all-or-nothing', 'min-partial', 'sum']);
export type GroupScoring = z.infer<typeof GroupScoring>;

export const TestGroup = z.object({
  name: GroupName,
  points: z.number().finite().min(0).max(1e9),
  dependsOn: z.array(GroupName).max(100).optional().describe('Groups that must get their full points first, else this one is skipped'),
  scoring: GroupScoring.default('all-or-nothing')
    .describe('all-or-nothing: points if every test is accepted; min-partial: points × the smallest test fraction; sum: points × the mean test fraction'),
}).strict();
export type TestGroup = z.infer<typeof TestGroup>;

/** A judge's own program (checker or interactor): compiled once per run, then run per test. */
export const JudgeProgram = z.object({
  language: z.string().min(1).max(64).describe('Language id from GET /v1/languages'),
  source: z.string().optional().describe('The main source file, written as the language\'s file name'),
  files: z.array(FileInput).max(1000).optional().describe('Files written under its own /box (besides source)'),
  compilerArgs: z.array(Arg).max(256).optional(),
  limits: LimitsInput.optional().describe('Its own limits per test; defaults and maxima are the run limits\''),
}).strict().superRefine((p, ctx) => {
  if (p.source === undefined && p.files === undefined) ctx.addIssue({ code: 'custom', path: ['source'], message: 'give source, files or both' });
  refineFilePaths(p.files, ctx);
});
export type JudgeProgram = z.input<typeof JudgeProgram>;

function refineFilePaths(files: Array<{ path: string }> | undefined, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  files?.forEach((f, i) => {
    if (seen.has(f.path)) ctx.addIssue({ code: 'custom', path: ['files', i, 'path'], message: `duplicate path ${f.path}` });
    seen.add(f.path);
  });
  // A file cannot also be a directory of another ("a" and "a/b"): writing the second would fail.
  files?.forEach((f, i) => {
    const parent = f.path.split('/').slice(0, -1).map((_, k, segs) => segs.slice(0, k + 1).join('/')).find((dir) => seen.has(dir));
    if (parent !== undefined) ctx.addIssue({ code: 'custom', path: ['files', i, 'path'], message: `${parent} is a file, so it cannot be a directory of ${f.path}` });
  });
}

/** The first group of a dependency cycle found (by dependsOn), as the path that closes it; null when none. */
export function findDependencyCycle(groups: Array<{ name: string; dependsOn?: string[] | undefined }>): string[] | null {
  const deps = new Map(groups.map((g) => [g.name, g.dependsOn ?? []]));
  const state = new Map<string, 'open' | 'done'>();
  const visit = (name: string, path: string[]): string[] | null => {
    if (state.get(name) === 'done' || !deps.has(name)) return null;
    if (state.get(name) === 'open') return [...path.slice(path.indexOf(name)), name];
    state.set(name, 'open');
    for (const d of deps.get(name)!) {
      const cycle = visit(d, [...path, name]);
      if (cycle) return cycle;
    }
    state.set(name, 'done');
    return null;
  };
  for (const g of groups) {
    const cycle = visit(g.name, []);
    if (cycle) return cycle;
  }
  return null;
}

function refineGroups(r: { tests?: Array<{ group?: string | undefined }> | undefined; groups?: TestGroup[] | undefined }, ctx: z.RefinementCtx): void {
  if (!r.groups) {
    r.tests?.forEach((t, i) => {
      if (t.group !== undefined) ctx.addIssue({ code: 'custom', path: ['tests', i, 'group'], message: 'a test group needs groups[] to define it' });
    });
    return;
  }
  if (!r.tests) {
    ctx.addIssue({ code: 'custom', path: ['groups'], message: 'groups need tests' });
    return;
  }
  const names = new Map<string, number>();
  r.groups.forEach((g, i) => {
    if (names.has(g.name)) ctx.addIssue({ code: 'custom', path: ['groups', i, 'name'], message: `duplicate group ${g.name}` });
    else names.set(g.name, i);
  });
  r.groups.forEach((g, i) => g.dependsOn?.forEach((d, j) => {
    if (!names.has(d)) ctx.addIssue({ code: 'custom', path: ['groups', i, 'dependsOn', j], message: `unknown group ${d}` });
  }));
  const used = new Set<string>();
  r.tests.forEach((t, i) => {
    if (t.group === undefined) ctx.addIssue({ code: 'custom', path: ['tests', i, 'group'], message: 'with groups, every test names its group' });
    else if (!names.has(t.group)) ctx.addIssue({ code: 'custom', path: ['tests', i, 'group'], message: `unknown group ${t.group}` });
    else used.add(t.group);
  });
  r.groups.forEach((g, i) => {
    if (!used.has(g.name)) ctx.addIssue({ code: 'custom', path: ['groups', i], message: `group ${g.name} has no tests` });
  });
  const cycle = findDependencyCycle(r.groups);
  if (cycle) ctx.addIssue({ code: 'custom', path: ['groups', names.get(cycle[0]!)!, 'dependsOn'], message: `dependency cycle: ${cycle.join(' → ')}` });
}

export const RunRequest = z.object({
  language: z.string().min(1).max(64).describe('Language id from GET /v1/languages'),
  source: z.string().optional().describe('The main source file, written as the language\'s file name'),
  files: z.array(FileInput).max(1000).optional().describe('Files written under /box (besides or instead of source)'),
  stdin: z.string().optional(),
  stdinEncoding: StdinEncoding.default('utf8').describe('How stdin (and each tests[].stdin) is encoded: utf8 text, or base64 for binary input'),
  args: z.array(Arg).max(256).optional().describe('Program arguments, passed literally (never through a shell)'),
  env: z.record(EnvName, z.string().max(4096).refine(noNul, 'must not contain NUL')).optional(),
  limits: LimitsInput.optional(),
  compileLimits: LimitsInput.optional(),
  compilerArgs: z.array(Arg).max(256).optional().describe('Extra compiler arguments (compiled languages only)'),
  expectedOutput: z.string().optional(),
  tests: z.array(TestCase).min(1).optional(),
  stopOnFirstFailure: z.boolean().default(true)
    .describe('Stop the tests after one that scores nothing: a test that is neither accepted nor partial (a partial one goes on, except in an all-or-nothing group); the tests after it are not in tests[]. With groups: within its group, whose other tests are skipped. A sandbox failure (internal_error) stops the tests even when false'),
  compare: CompareMode.default('trailing-whitespace'),
  checker: JudgeProgram.optional().describe('A testlib-style checker: run per test as `checker input.txt output.txt answer.txt`; its exit code is the verdict (compare is then unused)'),
  interactor: JudgeProgram.optional().describe('A testlib-style interactor: runs beside the program per test, its stdout the program\'s stdin and the other way round'),
  groups: z.array(TestGroup).min(1).optional().describe('Scored groups of tests (subtasks); every test then names its group'),
  transcriptBytes: z.number().int().min(1).optional()
    .describe('With an interactor: return each test\'s exchange (both directions, in order) up to this many bytes, each entry costing 16 more (at most CORRAL_TRANSCRIPT_MAX_BYTES)'),
  collect: z.array(CollectPattern).max(1000).optional().describe('Files to return after the run'),
  redirectStderrToStdout: z.boolean().default(false),
  repeat: z.number().int().min(1).max(20).default(1).describe('Run the program this many times (timings are averaged)'),
  parallelTests: z.boolean().default(false)
    .describe('Run tests side by side on the worker\'s free slots (each still in its own fresh container over the compiled /box; results keep test order). Off by default: CPU time is counted per container, but wall-time limits are reached sooner on a busy host'),
  callbackUrl: z.url({ protocol: /^https?$/ }).max(2048).optional()
    .describe('An http:// or https:// URL (no other scheme); the final result is sent there (never into CORRAL_CALLBACK_BLOCKED_NETWORKS)'),
  callbackMethod: z.enum(['POST', 'PUT']).default('POST'),
  callbackFormat: z.enum(['corral', 'judge0']).default('corral')
    .describe('Body of the callback: corral = the RunResult; judge0 = Judge0\'s submission (default fields, base64; used by the Judge0 API)'),
  priority: z.number().int().min(0).max(10).default(5).describe('0 (lowest) … 10 (highest)'),
}).strict().superRefine((r, ctx) => {
  if (r.source === undefined && r.files === undefined) {
    ctx.addIssue({ code: 'custom', path: ['source'], message: 'give source, files or both' });
  }
  if (r.repeat > 1) {
    for (const f of ['checker', 'interactor', 'groups'] as const) {
      if (r[f] !== undefined) ctx.addIssue({ code: 'custom', path: ['repeat'], message: `must be 1 with ${f}` });
    }
  }
  if (r.callbackFormat === 'judge0') {
    // Judge0's submission has no partial scores, presentation errors, checker reports or groups.
    for (const f of ['checker', 'interactor', 'groups'] as const) {
      if (r[f] !== undefined) ctx.addIssue({ code: 'custom', path: ['callbackFormat'], message: `judge0 cannot carry the results of ${f}; use corral` });
    }
  }
  if (r.transcriptBytes !== undefined && !r.interactor) {
    ctx.addIssue({ code: 'custom', path: ['transcriptBytes'], message: 'needs an interactor (the transcript is its exchange with the program)' });
  }
  if (r.interactor && r.redirectStderrToStdout) {
    ctx.addIssue({ code: 'custom', path: ['redirectStderrToStdout'], message: 'not with an interactor (stdout goes to the interactor)' });
  }
  refineGroups(r, ctx);
  if (r.tests && (r.stdin !== undefined || r.expectedOutput !== undefined)) {
    ctx.addIssue({ code: 'custom', path: ['tests'], message: 'with tests, put stdin and expectedOutput in each test, not at the top level' });
  }
  if (r.stdinEncoding === 'base64') {
    if (r.stdin !== undefined && !isBase64(r.stdin)) ctx.addIssue({ code: 'custom', path: ['stdin'], message: 'must be base64 (stdinEncoding is base64)' });
    r.tests?.forEach((t, i) => {
      if (!isBase64(t.stdin)) ctx.addIssue({ code: 'custom', path: ['tests', i, 'stdin'], message: 'must be base64 (stdinEncoding is base64)' });
    });
  }
  refineFilePaths(r.files, ctx);
});
export type RunRequest = z.input<typeof RunRequest>;
export type ParsedRunRequest = z.output<typeof RunRequest>;

export const RunStatus = z.enum(['queued', 'running', 'completed', 'cancelled', 'failed']);
export type RunStatus = z.infer<typeof RunStatus>;
export const TERMINAL_STATUSES: readonly RunStatus[] = ['completed', 'cancelled', 'failed'];

export const Verdict = z.enum([
  'accepted', 'wrong_answer', 'compile_error', 'time_limit', 'memory_limit', 'runtime_error', 'output_limit', 'internal_error',
  'presentation_error', 'partial', 'checker_error', 'idleness_limit', 'skipped',
]);
export type Verdict = z.infer<typeof Verdict>;

/** What a checker or interactor said about one test. */
export const JudgeReport = z.object({
  status: z.enum(['ok', 'runtime_error', 'time_limit', 'memory_limit', 'output_limit', 'internal_error']),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  message: z.string().describe('Its stderr then stdout, at most 4 KiB (UTF-8, cut at a character boundary)'),
  points: z.number().min(0).max(1).optional().describe('Exit 7 (partial): the points it printed, clamped to [0, 1]'),
  cpuMs: z.number(),
  wallMs: z.number(),
  memoryKb: z.number(),
});
export type JudgeReport = z.infer<typeof JudgeReport>;

/** An interactive test's exchange, in the order the worker relayed it. */
export const Transcript = z.object({
  encoding: z.enum(['utf8', 'base64']).describe('base64 when any entry is not valid UTF-8'),
  truncated: z.boolean().describe('The budget (transcriptBytes) was spent before the exchange ended'),
  entries: z.array(z.object({
    from: z.enum(['program', 'interactor']),
    data: z.string().describe('What it wrote, as one run of bytes until the other side wrote'),
  })),
});
export type Transcript = z.infer<typeof Transcript>;

export const PhaseResult = z.object({
  status: z.enum(['ok', 'runtime_error', 'time_limit', 'memory_limit', 'output_limit', 'internal_error', 'skipped']),
  limit: z.enum(['cpu', 'wall', 'memory', 'output']).nullable(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  encoding: z.enum(['utf8', 'base64'])
    .describe('How stdout and stderr are both written: base64 when either is not valid UTF-8, or when JSON escaping would add more characters to either than max(its bytes, 65536) (a quote, a backslash, \\b \\t \\n \\f \\r cost 1 each, any other control byte 5, as \\u00XX); else utf8 text'),
  truncated: z.boolean(),
  cpuMs: z.number(),
  wallMs: z.number(),
  memoryKb: z.number(),
  verdict: Verdict.optional(),
  index: z.number().int().optional().describe('Test index (tests only)'),
  error: z.string().optional().describe('For internal_error: what failed'),
  points: z.number().min(0).max(1).optional().describe('The test\'s fraction when its verdict is partial'),
  checker: JudgeReport.optional().describe('The checker\'s report (runs with a checker)'),
  interactor: JudgeReport.optional().describe('The interactor\'s report (runs with an interactor)'),
  transcript: Transcript.optional().describe('The exchange with the interactor (runs with transcriptBytes)'),
  cached: z.boolean().optional().describe('Compile phases: true when an earlier compile of the same inputs was used (its figures are that compile\'s)'),
});
export type PhaseResult = z.infer<typeof PhaseResult>;

export const FileOutput = z.object({
  path: z.string(),
  size: z.number().int(),
  content: z.string().describe('base64'),
  truncated: z.boolean(),
});
export type FileOutput = z.infer<typeof FileOutput>;

export const RunError = z.object({
  code: z.string(),
  message: z.string(),
  sandbox: z.object({
    code: z.string().describe('spec, host, cgroup, container, timeout, used, file, not_found, library'),
    step: z.string().describe('The step of building or running the container that failed ("" if none)'),
    op: z.string().describe('The operation within the step, e.g. the mount plan\'s "mount" or "pivot_root" ("" if none)'),
    errno: z.number().int(),
  }).optional().describe('For code sandbox_error: what failed inside the sandbox, structured'),
});

export const GroupResult = z.object({
  name: z.string(),
  points: z.number(),
  score: z.number(),
  status: z.enum(['passed', 'partial', 'failed', 'skipped']),
  tests: z.array(z.number().int()).describe('Indexes of its tests'),
});
export type GroupResult = z.infer<typeof GroupResult>;

export const RunResult = z.object({
  id: z.string(),
  status: RunStatus,
  language: z.string(),
  verdict: Verdict.nullable(),
  compile: PhaseResult.nullable(),
  run: PhaseResult.nullable(),
  tests: z.array(PhaseResult).nullable(),
  files: z.array(FileOutput),
  error: RunError.nullable().describe('Why a run failed or was cancelled'),
  checkerCompile: PhaseResult.optional().describe('The checker\'s compile phase (compiled checker languages)'),
  interactorCompile: PhaseResult.optional().describe('The interactor\'s compile phase (compiled interactor languages)'),
  score: z.number().optional().describe('Points scored (runs with groups)'),
  maxScore: z.number().optional().describe('Points possible (runs with groups)'),
  groups: z.array(GroupResult).optional().describe('Per-group breakdown, in request order (runs with groups)'),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  queueWaitMs: z.number().nullable(),
});
export type RunResult = z.infer<typeof RunResult>;

export const RunEvent = z.object({
  id: z.string(),
  seq: z.number().int(),
  type: z.enum(['queued', 'started', 'phase', 'completed', 'cancelled', 'failed']),
  at: z.string(),
  phase: z.object({ name: z.enum(['compile', 'run', 'test']), index: z.number().int().optional(), result: PhaseResult }).optional(),
  result: RunResult.optional().describe('The final result (terminal events only)'),
});
export type RunEvent = z.infer<typeof RunEvent>;

export const LanguageInfo = z.object({
  id: z.string(),
  name: z.string(),
  version: z.string(),
  compiled: z.boolean(),
  fileName: z.string(),
  available: z.boolean(),
});
export type LanguageInfo = z.infer<typeof LanguageInfo>;

/** A checker or interactor as the queue carries it: limits resolved. */
export const ResolvedJudgeProgram = z.object({
  language: z.string(),
  source: z.string().optional(),
  files: z.array(FileInput),
  compilerArgs: z.array(z.string()),
  limits: ResolvedLimits,
});
export type ResolvedJudgeProgram = z.infer<typeof ResolvedJudgeProgram>;

/** What the queue carries: the validated request with every limit resolved. Re-validated by the worker. */
export const JobData = z.object({
  id: z.string(),
  createdAt: z.string(),
  request: z.object({
    language: z.string(),
    source: z.string().optional(),
    files: z.array(FileInput),
    stdin: z.string().optional(),
    /** Defaults so jobs queued before the field existed still parse. */
    stdinEncoding: StdinEncoding.default('utf8'),
    args: z.array(z.string()),
    env: z.record(z.string(), z.string()),
    limits: ResolvedLimits,
    compileLimits: ResolvedLimits,
    compilerArgs: z.array(z.string()),
    expectedOutput: z.string().optional(),
    tests: z.array(TestCase).optional(),
    stopOnFirstFailure: z.boolean(),
    compare: CompareMode,
    checker: ResolvedJudgeProgram.optional(),
    interactor: ResolvedJudgeProgram.optional(),
    groups: z.array(TestGroup).optional(),
    transcriptBytes: z.number().int().min(1).optional(),
    collect: z.array(z.string()),
    redirectStderrToStdout: z.boolean(),
    repeat: z.number().int().min(1),
    /** Defaults so jobs queued before the field existed still parse. */
    parallelTests: z.boolean().default(false),
    callbackUrl: z.string().optional(),
    callbackMethod: z.enum(['POST', 'PUT']),
    /** Defaults so jobs queued before the field existed still parse. */
    callbackFormat: z.enum(['corral', 'judge0']).default('corral'),
  }),
});
export type JobData = z.infer<typeof JobData>;
export type JobRequest = JobData['request'];

export const ErrorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown() }),
});

export const Accepted = z.object({ id: z.string(), status: RunStatus });
export const BatchRequest = z.object({ runs: z.array(RunRequest).min(1) }).strict();
export const BatchAccepted = z.object({ runs: z.array(Accepted) });
export const RunList = z.object({ runs: z.array(RunResult.nullable()) });
