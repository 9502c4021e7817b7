// The judge pipeline: write inputs → compile once → run (or each test in its own fresh layer over
// the compiled state) → collect files. Orchestration only; verdicts and comparison are pure
// functions in verdict.ts / compare.ts, and the sandbox is behind the Launcher seam.
import type { FileOutput, JobRequest, PhaseResult, Verdict } from '../services/core/schemas.ts';
import type { CollectCaps, JobVolume, Launcher } from './launcher.ts';
import type { LanguageRegistry, ResolvedLanguage } from './language-registry.ts';
import { applyCpuLimit, mergeRepeats, toPhaseResult } from './phase-result.ts';
import type { SandboxError, SandboxLimits, SandboxOutcome, SandboxSpec } from './sandbox/index.ts';
import { compileVerdict, outcomeVerdict, overallVerdict, shouldContinue } from './verdict.ts';

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

async function writeInputs(volume: JobVolume, req: JobRequest, lang: ResolvedLanguage): Promise<void> {
  if (req.source !== undefined) await volume.writeFile(lang.fileName, req.source, { mode: 0o644 });
  for (const f of req.files) {
    await volume.writeFile(f.path, f.encoding === 'base64' ? Buffer.from(f.content, 'base64') : f.content, { mode: 0o644 });
  }
}

/** The sandbox's stdin: text as is, base64 decoded to the exact bytes (binary stdin). */
export function decodeStdin(stdin: string, encoding: JobRequest['stdinEncoding']): string | Buffer {
  return encoding === 'base64' ? Buffer.from(stdin, 'base64') : stdin;
}

export async function runPipeline(req: JobRequest, deps: PipelineDeps): Promise<PipelineResult> {
  const { launcher, signal } = deps;
  const checkCancel = () => { if (signal?.aborted) throw new CancelledError(); };
  const lang = await deps.registry.resolve(req.language, { flags: req.compilerArgs, args: req.args });
  const env = { ...lang.env, ...req.env };
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
  const launch = async (spec: SandboxSpec): Promise<FinishedOutcome> => {
    checkCancel();
    const outcome = await gated(spec);
    deps.onLaunch?.(outcome);
    checkCancel();
    if (outcome.status === 'cancelled') throw new CancelledError();
    return outcome as FinishedOutcome;
  };

  const volumes: JobVolume[] = [];
  const newVolume = async (diskMb: number) => {
    const v = await launcher.createVolume({ sizeBytes: diskMb * MiB });
    volumes.push(v);
    return v;
  };
  try {
    const base = await newVolume(req.compileLimits.diskMb);
    await writeInputs(base, req, lang);

    let compile: PhaseResult | null = null;
    if (lang.compile) {
      const out = await launch({ layers: lang.layers, argv: lang.compile, env, box: { dir: base.dir }, limits: sandboxLimits(req.compileLimits) });
      const failed = compileVerdict(out);
      compile = toPhaseResult(out, failed ? { verdict: failed } : {});
      await deps.onPhase?.('compile', compile, undefined, !!failed);
      if (failed) {
        return { verdict: failed, compile, run: null, tests: null, files: [], ...(out.error ? { error: out.error } : {}), ...(out.failure ? { failure: out.failure } : {}) };
      }
    }

    const cases = req.tests ?? [{ stdin: req.stdin ?? '', expectedOutput: req.expectedOutput }];
    const isolated = req.tests !== undefined || req.repeat > 1;
    const results: PhaseResult[] = [];
    let lastVolume: JobVolume = base;
    let error: string | undefined;
    let failure: SandboxError | undefined;
    for (let i = 0; i < cases.length; i++) {
      const tc = cases[i]!;
      const outcomes: FinishedOutcome[] = [];
      for (let r = 0; r < req.repeat; r++) {
        let box: SandboxSpec['box'] = { dir: base.dir };
        if (isolated) {
          lastVolume = await newVolume(req.limits.diskMb);
          box = { dir: lastVolume.dir, workDir: lastVolume.workDir, lowerDirs: [base.dir] };
        }
        const o = applyCpuLimit(await launch({
          layers: lang.layers, argv: lang.run, env, box, stdin: decodeStdin(tc.stdin, req.stdinEncoding), limits: sandboxLimits(req.limits),
          ...(req.redirectStderrToStdout ? { mergeStderr: true } : {}),
        }), req.limits.cpuMs);
        outcomes.push(o);
        if (o.status !== 'ok' || o.exitCode !== 0) break;
        // Only the last volume is kept for collecting; drop the ones before it early.
        if (isolated && r < req.repeat - 1) await volumes.pop()!.destroy();
      }
      const merged = mergeRepeats(outcomes);
      if (merged.error) error = merged.error;
      if (merged.failure) failure = merged.failure;
      const verdict = outcomeVerdict(merged, merged.stdout.toString('utf8'), tc.expectedOutput, req.compare);
      const phase = toPhaseResult(merged, { verdict, ...(req.tests ? { index: i } : {}) });
      results.push(phase);
      const last = i === cases.length - 1 || !shouldContinue(verdict, req.stopOnFirstFailure);
      await deps.onPhase?.(req.tests ? 'test' : 'run', phase, req.tests ? i : undefined, last);
      if (last) break;
      if (isolated && i < cases.length - 1 && lastVolume !== base) {
        volumes.splice(volumes.indexOf(lastVolume), 1);
        await lastVolume.destroy();
      }
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
      ...(error ? { error } : {}),
      ...(failure ? { failure } : {}),
    };
  } finally {
    const cleanup = Promise.allSettled(volumes.map((v) => v.destroy()));
    if (deps.deferCleanup) deps.deferCleanup(cleanup);
    else await cleanup;
  }
}
