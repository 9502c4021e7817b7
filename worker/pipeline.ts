// The judge pipeline: write inputs → compile once (the solution, and a checker or interactor in
// their own volumes) → run (or each test in its own fresh layer over the compiled state; with a
// checker, the checker after it in a container of its own; with an interactor, both at once,
// connected) → score groups → collect files. Orchestration only; verdicts, comparison, testlib's
// conventions and scoring are pure functions in verdict.ts / compare.ts / checker.ts /
// interactor.ts / scoring.ts, and the sandbox is behind the Launcher seam.
import type {
  FileOutput, GroupResult, JobRequest, ResolvedJudgeProgram, Transcript, Verdict,
} from '../services/core/schemas.ts';
import { checkerVerdict, judgeMessage, judgeReport, TESTLIB_ARGS, TESTLIB_FILES } from './checker.ts';
import { interactionVerdict, interactorWallMs, transcriptResult } from './interactor.ts';
import { groupOrder, scoreGroup, shouldSkipGroup, testsByGroup, totalScore } from './scoring.ts';
import type { CollectCaps, JobVolume, Launcher } from './launcher.ts';
import type { LanguageRegistry, ResolvedLanguage } from './language-registry.ts';
import { applyCpuLimit, mergeRepeats, OutputBudget, toPhaseResult, type PhaseResult } from './phase-result.ts';
import type { ConnectedOutcome, SandboxError, SandboxLimits, SandboxOutcome, SandboxSpec } from './sandbox/index.ts';
import type { SpareSlots } from './spare-slots.ts';
import { compileKey, type CompileCache, type CompileHold, type CompileInputs } from './compile-cache.ts';
import { compileVerdict, outcomeVerdict, overallVerdict, shouldContinue, skippedPhase } from './verdict.ts';

const MiB = 1024 * 1024;

export interface PipelineDeps {
  launcher: Launcher;
  registry: LanguageRegistry;
  collectCaps: Omit<CollectCaps, 'maxFiles'> & { maxFiles: number };
  /** Called after each phase (for progress events); awaited. `last`: no phase follows this one. */
  onPhase?: (name: 'compile' | 'run' | 'test', result: PhaseResult, index: number | undefined, last: boolean) => Promise<void>;
  /** Sandbox setup time of each launch (for metrics). */
  onLaunch?: (outcome: SandboxOutcome) => void;
  signal?: AbortSignal;
  /**
   * Takes the clean-up (volume unmounts) instead of awaiting it before returning, so the caller
   * can publish the result first and await the clean-up after: an unmount can wait for an RCU
   * grace period, which is no business of the client's.
   */
  deferCleanup?: (cleanup: Promise<unknown>) => void;
  /**
   * Resolves true once the run may start (its record says running). The language, the volume and
   * the inputs are prepared meanwhile, and the first launch starts without waiting for it; false
   * stops that launch and ends the pipeline with NotStartedError (nothing of the run is kept).
   */
  startGate?: Promise<boolean>;
  /** The worker's free slots, lent to a job whose tests may run side by side (parallelTests). */
  spareSlots?: SpareSlots;
  /** Successful compiles kept for the same inputs (a resubmit, a rejudge, every submission's checker). */
  compileCache?: CompileCache;
  /** Most output bytes the run's result keeps across its phases (phase-result.ts OutputBudget); none: all. */
  resultOutputMaxBytes?: number;
}

export interface PipelineResult {
  verdict: Verdict;
  compile: PhaseResult | null;
  run: PhaseResult | null;
  tests: PhaseResult[] | null;
  files: FileOutput[];
  /** Set when the sandbox itself failed (verdict internal_error). */
  error?: string;
  /** The sandbox's failure, structured (verdict internal_error): whether a retry can help. */
  failure?: SandboxError;
  checkerCompile?: PhaseResult;
  interactorCompile?: PhaseResult;
  /** Runs with groups: the score, its maximum and each group's result (request order). */
  score?: number;
  maxScore?: number;
  groups?: GroupResult[];
}

/** An outcome of a run that was not cancelled (a cancelled one ends the pipeline). */
export type FinishedOutcome = SandboxOutcome & { status: Exclude<SandboxOutcome['status'], 'cancelled'> };

/** The start gate said no: the run is not this worker's to run (finished elsewhere, or cancelled). */
export class NotStartedError extends Error {
  constructor() {
    super('the run was not started here');
    this.name = 'NotStartedError';
  }
}

export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

export function sandboxLimits(l: JobRequest['limits']): Partial<SandboxLimits> {
  return {
    cpuMs: l.cpuMs + l.extraCpuMs,
    wallMs: l.wallMs,
    memoryBytes: l.memoryMb * MiB,
    processes: l.processes,
    outputBytes: l.outputBytes,
    diskBytes: l.diskMb * MiB,
    fileSizeBytes: l.fileSizeMb * MiB,
    stackBytes: l.stackMb * MiB,
  };
}

/** The extra files, then the source under the language's file name (the main file wins a clash). */
function inputFiles(src: { source?: string | undefined; files: JobRequest['files'] }, lang: ResolvedLanguage): CompileInputs['files'] {
  const files = src.files.map((f) => ({ path: f.path, mode: 0o644, data: f.encoding === 'base64' ? Buffer.from(f.content, 'base64') : Buffer.from(f.content) }));
  if (src.source !== undefined) files.push({ path: lang.fileName, mode: 0o644, data: Buffer.from(src.source) });
  return files;
}

async function writeInputs(volume: JobVolume, files: CompileInputs['files']): Promise<void> {
  for (const f of files) await volume.writeFile(f.path, f.data, { mode: f.mode });
}

/** A checker or interactor, compiled in its own volume, ready to run per test. */
interface JudgeProgramBuild {
  lang: ResolvedLanguage;
  volume: JobVolume;
  limits: JobRequest['limits'];
}

/**
 * Room made in a judge program's volume for a test's files: their size rounded up to a power of
 * two, at least 1 MiB. A tmpfs's size is only a cap (nothing is reserved), and the host keeps warm
 * volumes per size: with the exact size every test asked for a size of its own, so none was ever
 * warm, each one mounted 4 more of its size that nobody used, and pushed out the warm volumes of
 * the sizes really in use.
 */
export function judgeFilesRoomBytes(filesBytes: number): number {
  let room = MiB;
  while (room < filesBytes) room *= 2;
  return room;
}

/** Most bytes of the interactor's output.txt handed to the checker (its own outputBytes limit caps it too). */
const interactorOutputMaxBytes = (limits: JobRequest['limits']) => limits.outputBytes;

/** The sandbox's stdin: text as is, base64 decoded to the exact bytes (binary stdin). */
export function decodeStdin(stdin: string, encoding: JobRequest['stdinEncoding']): string | Buffer {
  return encoding === 'base64' ? Buffer.from(stdin, 'base64') : stdin;
}

export async function runPipeline(req: JobRequest, deps: PipelineDeps): Promise<PipelineResult> {
  const { launcher, signal } = deps;
  const checkCancel = () => { if (signal?.aborted) throw new CancelledError(); };
  const lang = await deps.registry.resolve(req.language, { flags: req.compilerArgs, args: req.args });
  const env = { ...lang.env, ...req.env };
  // Output becomes text once, in toPhaseResult, and the result keeps at most this much of it.
  const budget = new OutputBudget(deps.resultOutputMaxBytes ?? Infinity);
  // The first launch does not wait for the start gate (the "running" write's answer, a Redis
  // round trip): it starts at once and is stopped if the gate says no (a cancel came while the
  // job was queued, or another worker already finished it). Nothing of such a run is kept: its
  // outcome is dropped and its volume destroyed; the program may have run for the length of the
  // round trip (~0.3 ms), in its sandbox. Measured: the wait was ~0.25 ms of an idle run.
  let gate = deps.startGate;
  const gated = async (spec: SandboxSpec): Promise<SandboxOutcome> => {
    if (!gate) return launcher.run(spec, signal);
    const pending = gate;
    gate = undefined;
    const refused = new AbortController();
    const run = launcher.run(spec, signal ? AbortSignal.any([signal, refused.signal]) : refused.signal);
    if (await pending) return run;
    refused.abort();
    await run.catch(() => {});
    throw new NotStartedError();
  };
  const finished = (outcome: SandboxOutcome): FinishedOutcome => {
    deps.onLaunch?.(outcome);
    checkCancel();
    if (outcome.status === 'cancelled') throw new CancelledError();
    return outcome as FinishedOutcome;
  };
  const launch = async (spec: SandboxSpec): Promise<FinishedOutcome> => {
    checkCancel();
    return finished(await gated(spec));
  };
  // Two connected programs wait for the gate first (a connected pair is not started early).
  const connect = async (first: SandboxSpec, second: SandboxSpec): Promise<{ first: FinishedOutcome; second: FinishedOutcome; endedMs?: ConnectedOutcome['endedMs']; transcript?: Transcript }> => {
    checkCancel();
    if (gate) {
      const pending = gate;
      gate = undefined;
      if (!await pending) throw new NotStartedError();
    }
    // Only a transcript makes the bytes pass through the worker (relayed); else pipe to pipe.
    const both = await launcher.connect(first, second, signal, req.transcriptBytes ? { transcriptBytes: req.transcriptBytes } : undefined);
    return {
      first: finished(both.first), second: finished(both.second),
      ...(both.endedMs ? { endedMs: both.endedMs } : {}), ...(both.transcript ? { transcript: transcriptResult(both.transcript) } : {}),
    };
  };

  const volumes: JobVolume[] = [];
  const newVolume = async (diskMb: number, extraBytes = 0) => {
    const v = await launcher.createVolume({ sizeBytes: diskMb * MiB + extraBytes });
    volumes.push(v);
    return v;
  };
  // A volume done with mid-run is destroyed in the background (an unmount can wait for an RCU
  // grace period); the clean-up at the end waits for all of them.
  const retiring: Promise<unknown>[] = [];
  const dropVolume = (v: JobVolume) => {
    const at = volumes.indexOf(v);
    if (at >= 0) volumes.splice(at, 1);
    const destroyed = v.destroy();
    destroyed.catch(() => {}); // reported by nothing mid-run; the final clean-up settles it
    retiring.push(destroyed);
  };
  // The compile cache (compile-cache.ts): a compile whose volume is only ever a lower layer after
  // it is looked up by its inputs; a successful one is kept. A kept volume is the cache's (not
  // destroyed here), held until the job ends.
  const holds: CompileHold[] = [];
  const cacheKey = (plang: ResolvedLanguage, penv: Record<string, string>, files: CompileInputs['files']) =>
    deps.compileCache && plang.compile
      ? compileKey({ layers: plang.layers, argv: plang.compile, env: penv, files, limits: { ...sandboxLimits(req.compileLimits) } as Record<string, number> })
      : undefined;
  const cachedCompile = (key: string | undefined) => {
    const hold = key ? deps.compileCache!.take(key) : undefined;
    if (hold) holds.push(hold);
    return hold;
  };
  const keepCompile = (key: string | undefined, volume: JobVolume, phase: PhaseResult) => {
    const hold = key ? deps.compileCache!.put(key, volume, phase) : undefined;
    if (!hold) return;
    holds.push(hold);
    const at = volumes.indexOf(volume);
    if (at >= 0) volumes.splice(at, 1);
  };

  /** Compiles a checker or interactor in its own fresh volume and container (like the solution). */
  const buildJudgeProgram = async (prog: ResolvedJudgeProgram): Promise<{ build: JudgeProgramBuild; compile: PhaseResult | null } | { failed: PhaseResult; outcome: FinishedOutcome }> => {
    // With the language's judge-program flags (a static link for C and C++: run on every test,
    // it skips the dynamic loader each time; docs/api.md, "Checkers").
    const plang = await deps.registry.resolve(prog.language, { flags: prog.compilerArgs, args: TESTLIB_ARGS, judgeProgram: true });
    const files = inputFiles(prog, plang);
    // Its compiled volume is only ever a lower layer (judgeBox): cacheable.
    const key = cacheKey(plang, plang.env, files);
    const hit = cachedCompile(key);
    if (hit) return { build: { lang: plang, volume: hit.volume, limits: prog.limits }, compile: { ...hit.compile, cached: true } };
    const volume = await newVolume(req.compileLimits.diskMb);
    await writeInputs(volume, files);
    let compile: PhaseResult | null = null;
    if (plang.compile) {
      const out = await launch({ layers: plang.layers, argv: plang.compile, env: plang.env, box: { dir: volume.dir }, limits: sandboxLimits(req.compileLimits) });
      const failed = compileVerdict(out);
      compile = toPhaseResult(out, failed ? { verdict: failed === 'compile_error' ? 'checker_error' : failed } : {}, budget);
      if (failed) return { failed: compile, outcome: out };
      keepCompile(key, volume, compile);
    }
    return { build: { lang: plang, volume, limits: prog.limits }, compile };
  };
  /** A fresh volume over a checker's or interactor's compiled one, with the testlib files in it
   * (and room for `laterBytes` more: a file written once the program has ended). */
  const judgeBox = async (b: JudgeProgramBuild, files: Record<string, string | Buffer>, laterBytes = 0) => {
    // The test's files do not count against the judge program's own disk limit.
    const filesBytes = Object.values(files).reduce((n, d) => n + Buffer.byteLength(d), 0);
    const v = await newVolume(b.limits.diskMb, judgeFilesRoomBytes(filesBytes + laterBytes));
    for (const [name, data] of Object.entries(files)) await v.writeFile(name, data, { mode: 0o644 });
    return { volume: v, box: { dir: v.dir, workDir: v.workDir, lowerDirs: [b.volume.dir] }, laterBytes };
  };
  type JudgeBox = Awaited<ReturnType<typeof judgeBox>>;
  const judgeSpec = (b: JudgeProgramBuild, box: SandboxSpec['box']): SandboxSpec => ({
    layers: b.lang.layers, argv: b.lang.run, env: b.lang.env, box, limits: sandboxLimits(b.limits),
  });

  // With tests (or repeats) every run writes a layer of its own over the compiled volume, which
  // is then never written again: only then may a compile be cached.
  const isolated = req.tests !== undefined || req.repeat > 1;
  try {
    const inputs = inputFiles(req, lang);
    const key = isolated ? cacheKey(lang, env, inputs) : undefined;
    const hit = cachedCompile(key);
    let base: JobVolume;
    let compile: PhaseResult | null = null;
    if (hit) {
      base = hit.volume;
      compile = { ...hit.compile, cached: true };
      await deps.onPhase?.('compile', compile, undefined, false);
    } else {
      base = await newVolume(req.compileLimits.diskMb);
      await writeInputs(base, inputs);
    }
    if (!hit && lang.compile) {
      const out = await launch({ layers: lang.layers, argv: lang.compile, env, box: { dir: base.dir }, limits: sandboxLimits(req.compileLimits) });
      const failed = compileVerdict(out);
      compile = toPhaseResult(out, failed ? { verdict: failed } : {}, budget);
      await deps.onPhase?.('compile', compile, undefined, !!failed);
      if (failed) {
        return { verdict: failed, compile, run: null, tests: null, files: [], ...(out.error ? { error: out.error } : {}), ...(out.failure ? { failure: out.failure } : {}) };
      }
      keepCompile(key, base, compile);
    }

    // The judge's own programs. One that does not compile is the judge's failure: checker_error.
    const judged: { checkerCompile?: PhaseResult; interactorCompile?: PhaseResult } = {};
    const built: { checker?: JudgeProgramBuild; interactor?: JudgeProgramBuild } = {};
    for (const kind of ['interactor', 'checker'] as const) {
      const prog = req[kind];
      if (!prog) continue;
      const b = await buildJudgeProgram(prog);
      const key = kind === 'checker' ? 'checkerCompile' : 'interactorCompile';
      if ('failed' in b) {
        const v = b.failed.verdict!;
        return {
          verdict: v, compile, run: null, tests: null, files: [], [key]: b.failed,
          ...judged, ...(b.outcome.error ? { error: b.outcome.error } : {}), ...(b.outcome.failure ? { failure: b.outcome.failure } : {}),
        };
      }
      if (b.compile) judged[key] = b.compile;
      built[kind] = b.build;
    }

    const cases = req.tests ?? [{ stdin: req.stdin ?? '', expectedOutput: req.expectedOutput }];
    let lastVolume: JobVolume = base;
    let error: string | undefined;
    let failure: SandboxError | undefined;
    const noteFailure = (o: { error?: string | undefined; failure?: SandboxError | undefined }) => {
      if (o.error && o.failure) error = o.error;
      else if (o.error && !error) error = o.error;
      if (o.failure) failure = o.failure;
    };
    /** The solution's /box for the next run: a fresh layer over the compiled state when isolated. */
    const solutionBox = async (): Promise<SandboxSpec['box']> => {
      if (!isolated) return { dir: base.dir };
      if (lastVolume !== base) dropVolume(lastVolume);
      lastVolume = await newVolume(req.limits.diskMb);
      return { dir: lastVolume.dir, workDir: lastVolume.workDir, lowerDirs: [base.dir] };
    };

    /** The checker on one test: input.txt, output.txt (written here from the captured bytes, never
     * a file of the solution's) and answer.txt, in a fresh container over its compiled volume.
     * `prepared`: its volume made while the program ran (checkerBoxAhead), output.txt still to write. */
    const check = async (stdin: string | Buffer, output: Buffer, expected: string | undefined, prepared?: Promise<JudgeBox>) => {
      const b = built.checker!;
      let judged = prepared && await prepared;
      if (judged && output.length > judged.laterBytes) { // cannot happen (the output is capped); never ENOSPC
        dropVolume(judged.volume);
        judged = undefined;
      }
      if (judged) await judged.volume.writeFile(TESTLIB_FILES.output, output, { mode: 0o644 });
      // Room as checkerBoxAhead makes it (for the largest output): one volume size for every
      // check of the job, which the host keeps warm.
      const { volume, box } = judged ?? await judgeBox(b, {
        [TESTLIB_FILES.input]: stdin, [TESTLIB_FILES.output]: output, [TESTLIB_FILES.answer]: expected ?? '',
      }, Math.max(0, req.limits.outputBytes - output.length));
      try {
        const o = applyCpuLimit(await launch(judgeSpec(b, box)), b.limits.cpuMs);
        const message = judgeMessage(o);
        const said = o.status === 'internal_error' ? { verdict: 'internal_error' as const } : checkerVerdict(o, message);
        if (o.status === 'internal_error') noteFailure(o);
        return { said, report: judgeReport(o, { message, points: 'points' in said ? said.points : undefined }) };
      } finally {
        dropVolume(volume);
      }
    };

    const solutionSpec = (box: SandboxSpec['box'], stdin: string | Buffer): SandboxSpec => ({
      layers: lang.layers, argv: lang.run, env, box, stdin, limits: sandboxLimits(req.limits),
      ...(req.redirectStderrToStdout ? { mergeStderr: true } : {}),
    });
    /**
     * A checker's volume for a test whose program is still running, with input.txt and answer.txt
     * already in it and room for the largest output the program may write: made beside the run
     * (a volume taken, two files written), it is off the way from the program's end to its check.
     */
    const checkerBoxAhead = (stdin: string | Buffer, expected: string | undefined): Promise<JudgeBox> => {
      const prepared = judgeBox(built.checker!, { [TESTLIB_FILES.input]: stdin, [TESTLIB_FILES.answer]: expected ?? '' }, req.limits.outputBytes);
      prepared.catch(() => {}); // awaited by its check, or dropped with its test
      return prepared;
    };
    const dropPrepared = (prepared: Promise<JudgeBox> | undefined) => prepared?.then((j) => dropVolume(j.volume), () => {});

    /** A test's verdict from the solution's outcome: its own, or the checker's when it ended normally. */
    const judgePlain = async (i: number, tc: (typeof cases)[number], stdin: string | Buffer, merged: FinishedOutcome, prepared?: Promise<JudgeBox>): Promise<PhaseResult> => {
      noteFailure(merged);
      const index = req.tests ? { index: i } : {};
      if (!built.checker || merged.status !== 'ok' || merged.exitCode !== 0) {
        void dropPrepared(prepared);
        const verdict = outcomeVerdict(merged, merged.stdout, built.checker ? undefined : tc.expectedOutput, req.compare);
        return toPhaseResult(merged, { verdict, ...index }, budget);
      }
      const { said, report } = await check(stdin, merged.stdout, tc.expectedOutput, prepared);
      return { ...toPhaseResult(merged, { verdict: said.verdict, ...index }, budget), ...('points' in said && said.points !== undefined ? { points: said.points } : {}), checker: report };
    };

    const runPlain = async (i: number, tc: (typeof cases)[number]): Promise<PhaseResult> => {
      const stdin = decodeStdin(tc.stdin, req.stdinEncoding);
      const outcomes: FinishedOutcome[] = [];
      for (let r = 0; r < req.repeat; r++) {
        const o = applyCpuLimit(await launch(solutionSpec(await solutionBox(), stdin)), req.limits.cpuMs);
        outcomes.push(o);
        if (o.status !== 'ok' || o.exitCode !== 0) break;
      }
      return judgePlain(i, tc, stdin, mergeRepeats(outcomes));
    };

    const runInteractive = async (i: number, tc: (typeof cases)[number]): Promise<PhaseResult> => {
      const b = built.interactor!;
      const stdin = decodeStdin(tc.stdin, req.stdinEncoding);
      // The interactor alone sees the test's input and answer; the solution only its stdin pipe.
      const { volume, box } = await judgeBox(b, { [TESTLIB_FILES.input]: stdin, [TESTLIB_FILES.answer]: tc.expectedOutput ?? '' });
      try {
        const solutionSpec: SandboxSpec = { layers: lang.layers, argv: lang.run, env, box: await solutionBox(), limits: sandboxLimits(req.limits) };
        const interactorSpec = judgeSpec(b, box);
        interactorSpec.limits = { ...interactorSpec.limits, wallMs: interactorWallMs(b.limits.wallMs, req.limits.wallMs) };
        const { first: rawSolution, second: rawInteractor, endedMs, transcript } = await connect(solutionSpec, interactorSpec);
        const solution = applyCpuLimit(rawSolution, req.limits.cpuMs);
        const interactor = applyCpuLimit(rawInteractor, b.limits.cpuMs);
        noteFailure(solution);
        noteFailure(interactor);
        const message = judgeMessage(interactor);
        const decided = interactionVerdict(solution, interactor, message, !!built.checker, endedMs && { solution: endedMs.first, interactor: endedMs.second });
        const index = req.tests ? { index: i } : {};
        const phase: PhaseResult = {
          ...toPhaseResult(solution, { verdict: decided.verdict, ...index }, budget),
          ...(decided.points !== undefined ? { points: decided.points } : {}),
          interactor: judgeReport(interactor, { message, points: decided.verdict === 'partial' ? decided.points : undefined }),
          ...(transcript ? { transcript } : {}),
        };
        if (!decided.toChecker) return phase;
        // The interactor's output.txt is hostile too: read without following a symlink, capped.
        const cap = interactorOutputMaxBytes(b.limits);
        const [out] = await volume.collect([TESTLIB_FILES.output], { maxFiles: 1, maxFileBytes: cap, maxTotalBytes: cap });
        if (out && out.truncated) return { ...phase, verdict: 'checker_error' };
        const { said, report } = await check(stdin, out?.content ?? Buffer.alloc(0), tc.expectedOutput);
        return { ...phase, verdict: said.verdict, ...('points' in said && said.points !== undefined ? { points: said.points } : {}), checker: report };
      } finally {
        dropVolume(volume);
      }
    };

    const runTest = (i: number) => (built.interactor ? runInteractive(i, cases[i]!) : runPlain(i, cases[i]!));
    const emit = (phase: PhaseResult, i: number, last: boolean) =>
      deps.onPhase?.(req.tests ? 'test' : 'run', phase, req.tests ? i : undefined, last);
    /**
     * Test events written in test order while the next test already runs: it needs the verdict,
     * not the write (a Redis round trip, p50 1.5 ms after a plain test and 2.5 ms after a checked
     * one on the loaded 2-core host). Measured with the checked path alone writing behind: its
     * cost per test over the built-in comparison's 1.2–3.3 ms lower, in 4 paired runs of 4 at load
     * 5–7. A failed write fails the job before its next test starts; every write has ended before
     * the tests' loop returns.
     */
    const eventsBehind = () => {
      let chain: Promise<void> = Promise.resolve();
      let failed: { reason: unknown } | undefined;
      const check = () => { if (failed) throw failed.reason; };
      return {
        write(phase: PhaseResult, i: number, last: boolean): void {
          chain = chain.then(async () => { if (!failed) await emit(phase, i, last); }).catch((reason: unknown) => { failed ??= { reason }; });
        },
        /** Throws the first failed write's error, if any so far. */
        check,
        /** Resolves once every write has ended (never rejects: check() says how). */
        settled: () => chain,
      };
    };

    /**
     * Tests side by side (parallelTests): this job's own slot plus the worker's free ones, each
     * test in a fresh container over a fresh layer of the compiled /box, as always. A free slot is
     * borrowed for one test and given back the moment that test is judged (spare-slots.ts): held
     * any longer it would keep the job BullMQ hands over next from its slot, or leave it running
     * beside this one, more sandboxes than slots. Slots are looked for again each time a test
     * ends. Results and events keep test order (events are written after the test's slot is
     * free again); once a test stops the run (stopOnFirstFailure), no later test starts and those
     * under way are stopped and dropped, so the answer is the sequential one.
     */
    const runSideBySide = async (spare: SpareSlots): Promise<PhaseResult[]> => {
      if (gate) { // every test starts after the start gate (none is started early)
        const pending = gate;
        gate = undefined;
        if (!await pending) throw new NotStartedError();
      }
      const n = cases.length;
      const done: Array<PhaseResult | undefined> = new Array(n);
      const testVolumes = new Map<number, JobVolume>();
      const stops = new Map<number, AbortController>();
      let nextToStart = 0;
      let end = n; // tests from here on are not wanted (a test before them stopped the run)
      let failed: { reason: unknown } | undefined;
      const fail = (reason: unknown) => {
        if (failed) return;
        failed = { reason };
        for (const s of stops.values()) s.abort(); // the job fails: what is under way is not wanted
      };
      let emitted = 0;
      let emitting: Promise<void> = Promise.resolve();
      const emitInOrder = () => {
        emitting = emitting.then(async () => {
          while (emitted < end && done[emitted]) {
            const i = emitted++;
            await emit(done[i]!, i, i === end - 1);
          }
        });
        emitting.catch(fail);
      };
      const runOne = async (i: number) => {
        const tc = cases[i]!;
        const stop = new AbortController();
        stops.set(i, stop);
        const volume = await newVolume(req.limits.diskMb);
        testVolumes.set(i, volume);
        const stdin = decodeStdin(tc.stdin, req.stdinEncoding);
        const spec = solutionSpec({ dir: volume.dir, workDir: volume.workDir, lowerDirs: [base.dir] }, stdin);
        checkCancel();
        if (stop.signal.aborted) return; // stopped while its volume was made
        const outcome = await launcher.run(spec, signal ? AbortSignal.any([signal, stop.signal]) : stop.signal);
        stops.delete(i);
        if (stop.signal.aborted && !signal?.aborted) return; // stopped: a test before it ended the run
        const phase = await judgePlain(i, tc, stdin, applyCpuLimit(finished(outcome), req.limits.cpuMs));
        if (i >= end) return;
        done[i] = phase;
        if (!shouldContinue(phase.verdict!, req.stopOnFirstFailure)) {
          end = Math.min(end, i + 1);
          for (const [j, s] of stops) if (j > i) s.abort();
        }
      };
      // The job's own slot runs one test at a time; every other test under way has a borrowed
      // slot of its own, taken when it starts and given back when it ends.
      let ownSlotFree = true;
      const underWay = new Set<Promise<void>>();
      const startTests = () => {
        while (!failed && nextToStart < end) {
          const borrowed = !ownSlotFree;
          if (borrowed && !spare.tryBorrow()) break;
          if (!borrowed) ownSlotFree = false;
          const i = nextToStart++;
          const test: Promise<void> = runOne(i).catch(fail).finally(() => {
            if (borrowed) spare.giveBack();
            else ownSlotFree = true;
            underWay.delete(test);
            if (!failed) emitInOrder();
            startTests();
          });
          underWay.add(test);
        }
      };
      startTests();
      while (underWay.size > 0) await Promise.race(underWay);
      await emitting.catch(() => {}); // a failed write is `failed`
      // The answer's last test keeps its volume (collect reads it); the others go.
      const results = done.slice(0, end).filter((p): p is PhaseResult => !!p);
      const keep = testVolumes.get(results.length - 1);
      for (const v of testVolumes.values()) if (v !== keep) dropVolume(v);
      if (keep) lastVolume = keep;
      if (failed) throw failed.reason;
      return results;
    };

    /**
     * Checked tests one after the other, where each test's checker runs while the program already
     * runs the next test — when a slot of the worker is free to borrow for it (never beyond the
     * worker's slots; the slot is given back when that checker ends). Each program still runs in
     * its own container over its own layer, each checker in its own: only the waiting overlaps,
     * so a test costs the longer of the two, not their sum. A checker that stops the run
     * (stopOnFirstFailure) stops the next test's program, which is dropped with its layer: the
     * answer is the sequential one.
     */
    const runCheckedAhead = async (spare: SpareSlots): Promise<PhaseResult[]> => {
      const results: PhaseResult[] = [];
      const events = eventsBehind();
      let ahead: { volume: JobVolume; stop: AbortController; outcome: Promise<SandboxOutcome>; checkerBox: Promise<JudgeBox> } | undefined;
      const startAhead = async (i: number) => {
        checkCancel();
        const volume = await newVolume(req.limits.diskMb);
        const stop = new AbortController();
        const stdin = decodeStdin(cases[i]!.stdin, req.stdinEncoding);
        const spec = solutionSpec({ dir: volume.dir, workDir: volume.workDir, lowerDirs: [base.dir] }, stdin);
        const outcome = launcher.run(spec, signal ? AbortSignal.any([signal, stop.signal]) : stop.signal);
        outcome.catch(() => {}); // awaited below, or dropped with its stop
        return { volume, stop, outcome, checkerBox: checkerBoxAhead(stdin, cases[i]!.expectedOutput) };
      };
      try {
        for (let i = 0; i < cases.length; i++) {
          events.check();
          const tc = cases[i]!;
          const stdin = decodeStdin(tc.stdin, req.stdinEncoding);
          let outcome: FinishedOutcome;
          let prepared: Promise<JudgeBox> | undefined;
          if (ahead) {
            const started = ahead;
            ahead = undefined;
            if (lastVolume !== base) dropVolume(lastVolume);
            lastVolume = started.volume;
            prepared = started.checkerBox;
            try {
              outcome = applyCpuLimit(finished(await started.outcome), req.limits.cpuMs);
            } catch (err) {
              void dropPrepared(prepared);
              throw err;
            }
          } else {
            outcome = applyCpuLimit(await launch(solutionSpec(await solutionBox(), stdin)), req.limits.cpuMs);
          }
          const checked = outcome.status === 'ok' && outcome.exitCode === 0;
          const borrowed = checked && i + 1 < cases.length && spare.tryBorrow();
          let phase: PhaseResult;
          try {
            // This test's check first (its volume is ready), the next test's program beside it.
            const judging = judgePlain(i, tc, stdin, outcome, prepared);
            const [next, judged] = await Promise.allSettled([borrowed ? startAhead(i + 1) : undefined, judging]);
            if (next.status === 'fulfilled') ahead = next.value;
            if (next.status === 'rejected') throw next.reason;
            if (judged.status === 'rejected') throw judged.reason;
            phase = judged.value;
          } finally {
            if (borrowed) spare.giveBack();
          }
          results.push(phase);
          const last = i === cases.length - 1 || !shouldContinue(phase.verdict!, req.stopOnFirstFailure);
          events.write(phase, i, last);
          if (last) break;
        }
      } finally {
        if (ahead) { // not wanted: a test before it stopped the run (or the job failed)
          ahead.stop.abort();
          await ahead.outcome.catch(() => {});
          dropVolume(ahead.volume);
          await dropPrepared(ahead.checkerBox);
        }
        await events.settled(); // no event is written after the pipeline has returned
      }
      events.check();
      return results;
    };

    let results: PhaseResult[];
    let scored: { score: number; maxScore: number; groups: GroupResult[] } | undefined;
    if (req.groups && req.tests) {
      ({ results, scored } = await runGroups(req.groups, req.tests, req.stopOnFirstFailure, runTest, emit));
    } else if (req.parallelTests && req.tests && req.repeat === 1 && !built.interactor && deps.spareSlots) {
      results = await runSideBySide(deps.spareSlots);
    } else if (built.checker && req.tests && req.tests.length > 1 && !built.interactor && deps.spareSlots) {
      results = await runCheckedAhead(deps.spareSlots);
    } else {
      results = [];
      const events = eventsBehind();
      try {
        for (let i = 0; i < cases.length; i++) {
          events.check();
          const phase = await runTest(i);
          results.push(phase);
          const last = i === cases.length - 1 || !shouldContinue(phase.verdict!, req.stopOnFirstFailure);
          events.write(phase, i, last);
          if (last) break;
        }
      } finally {
        await events.settled(); // no event is written after the pipeline has returned
      }
      events.check();
    }

    checkCancel();
    const files = req.collect.length === 0 ? [] : (await lastVolume.collect(req.collect, deps.collectCaps)).map((f) => ({
      path: f.path, size: f.size, content: f.content.toString('base64'), truncated: f.truncated,
    }));
    return {
      verdict: overallVerdict(results.map((r) => r.verdict!)),
      compile,
      run: req.tests ? null : results[0]!,
      tests: req.tests ? results : null,
      files,
      ...judged,
      ...(scored ?? {}),
      ...(error ? { error } : {}),
      ...(failure ? { failure } : {}),
    };
  } finally {
    for (const hold of holds) hold.release();
    const cleanup = Promise.allSettled([...volumes.map((v) => v.destroy()), ...retiring]);
    if (deps.deferCleanup) deps.deferCleanup(cleanup);
    else await cleanup;
  }
}

/**
 * Runs the tests group by group: each group after those it depends on (groupOrder), its tests in
 * index order; a group whose dependency did not get its full points is skipped, and so is the
 * rest of a group after a failure with stopOnFirstFailure. A sandbox failure (internal_error)
 * stops everything. Results are in test order, a test not run reported `skipped`.
 */
async function runGroups(
  groups: NonNullable<JobRequest['groups']>, tests: NonNullable<JobRequest['tests']>, stopOnFirstFailure: boolean,
  runTest: (i: number) => Promise<PhaseResult>, emit: (phase: PhaseResult, i: number, last: boolean) => Promise<void> | undefined,
): Promise<{ results: PhaseResult[]; scored: { score: number; maxScore: number; groups: GroupResult[] } }> {
  const results: PhaseResult[] = tests.map((_, i) => skippedPhase(i));
  const byGroup = testsByGroup(tests);
  const order = groupOrder(groups);
  const lastPlanned = byGroup.get(order[order.length - 1]!)!.at(-1)!;
  const scoredGroups = new Map<string, GroupResult>();
  let broken = false;
  for (const name of order) {
    const group = groups.find((g) => g.name === name)!;
    const indexes = byGroup.get(name)!;
    const skip = broken || shouldSkipGroup(group, scoredGroups);
    if (!skip) {
      for (const i of indexes) {
        const phase = await runTest(i);
        results[i] = phase;
        await emit(phase, i, i === lastPlanned);
        if (phase.verdict === 'internal_error') { broken = true; break; }
        if (!shouldContinue(phase.verdict!, stopOnFirstFailure, group.scoring)) break;
      }
    }
    scoredGroups.set(name, scoreGroup(group, indexes, indexes.map((i) => ({ verdict: results[i]!.verdict!, points: results[i]!.points })), skip));
  }
  const inRequestOrder = groups.map((g) => scoredGroups.get(g.name)!);
  return { results, scored: { ...totalScore(inRequestOrder), groups: inRequestOrder } };
}
