// One interactive session on a worker: write the files, compile (when the language compiles) and
// run, each stage streaming its output as it comes and taking stdin and signals while it runs.
// Talks only through `send` (worker → API messages, appended in order) and `receive` (API →
// worker messages); worker/interactive-worker.ts connects both to the session's Redis streams.
import { StringDecoder } from 'node:string_decoder';
import { constants } from 'node:os';
import type { InteractiveJob, StageExit, StageName, ToApi, ToWorker } from '../services/core/interactive-protocol.ts';
import type { Logger } from '../services/core/logger.ts';
import type { JobVolume, Launcher } from './launcher.ts';
import type { LanguageRegistry } from './language-registry.ts';
import { applyCpuLimit } from './phase-result.ts';
import { decodeStdin, sandboxLimits } from './pipeline.ts';
import type { SandboxSpec, StreamingRun } from './sandbox/index.ts';

const MiB = 1024 * 1024;

/** The sandbox as a session needs it: volumes and streamed runs (a Launcher is one). */
export type InteractiveSandbox = Pick<Launcher, 'createVolume' | 'stream'>;

export interface SessionDeps {
  sandbox: InteractiveSandbox;
  registry: LanguageRegistry;
  log: Logger;
  /** Appends a message for the API; messages arrive in the order they were sent. */
  send(message: ToApi): void;
}

export class WorkerSession {
  private readonly abort = new AbortController();
  private current: { stage: StageName; run: StreamingRun } | undefined;
  /** Stdin that arrived before the run stage started, and whether EOF came too. */
  private pending: string[] = [];
  private eof = false;
  private clientLeft = false;
  private said = false;

  constructor(private readonly job: InteractiveJob, private readonly deps: SessionDeps) {}

  /** True once the client left (or the worker stops): nothing more is run or sent. */
  get closed(): boolean {
    return this.abort.signal.aborted;
  }

  /** `done` or `error` has been sent: the API reads nothing more (and removes the streams). */
  get over(): boolean {
    return this.said;
  }

  /** The client left (`close`): nobody reads the session's streams any more. */
  get left(): boolean {
    return this.clientLeft;
  }

  /** Stops the session: the running stage is killed, nothing further runs. */
  stop(): void {
    this.abort.abort();
  }

  receive(m: ToWorker): void {
    const running = this.current?.stage === 'run' ? this.current.run : undefined;
    switch (m.t) {
      case 'stdin':
        if (running) running.write(m.d);
        else this.pending.push(m.d);
        break;
      case 'eof':
        this.eof = true;
        running?.end();
        break;
      case 'signal': {
        // Names Piston accepts but Linux lacks (SIGEMT, SIGINFO, SIGLOST) reach nobody.
        const num = constants.signals[m.s as keyof typeof constants.signals];
        if (num !== undefined) this.current?.run.kill(num);
        break;
      }
      case 'close':
        this.clientLeft = true;
        this.stop();
        break;
    }
  }

  private send(m: ToApi): void {
    if (this.closed || this.said) return;
    if (m.t === 'done' || m.t === 'error') this.said = true;
    this.deps.send(m);
  }

  /** Runs the session to its end; failures are reported to the API, never thrown. */
  async run(): Promise<void> {
    const req = this.job.request;
    const volumes: JobVolume[] = [];
    try {
      if (this.closed) return;
      this.send({ t: 'started' });
      const lang = await this.deps.registry.resolve(req.language, { flags: req.compilerArgs, args: req.args });
      const env = { ...lang.env, ...req.env };
      const volume = await this.deps.sandbox.createVolume({ sizeBytes: req.compileLimits.diskMb * MiB });
      volumes.push(volume);
      if (req.source !== undefined) await volume.writeFile(lang.fileName, req.source, { mode: 0o644 });
      for (const f of req.files) {
        await volume.writeFile(f.path, f.encoding === 'base64' ? Buffer.from(f.content, 'base64') : f.content, { mode: 0o644 });
      }
      if (lang.compile) {
        const exit = await this.stage('compile', {
          layers: lang.layers, argv: lang.compile, env, box: { dir: volume.dir }, limits: sandboxLimits(req.compileLimits),
        }, req.compileLimits.outputBytes);
        // As Piston: a compile that did not exit 0 ends the session without a run stage.
        if (!exit || exit.status !== 'ok' || exit.exitCode !== 0) {
          if (exit) this.send({ t: 'done' });
          return;
        }
      }
      const exit = await this.stage('run', {
        layers: lang.layers, argv: lang.run, env, box: { dir: volume.dir }, limits: sandboxLimits(req.limits),
        ...(req.redirectStderrToStdout ? { mergeStderr: true } : {}),
      }, req.limits.outputBytes, req.limits.cpuMs);
      if (exit) this.send({ t: 'done' });
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, 'interactive session failed');
      this.send({ t: 'error', m: (err as Error).message });
    } finally {
      this.current = undefined;
      await Promise.allSettled(volumes.map((v) => v.destroy()));
    }
  }

  /** One stage: its messages (stage, data…, exit), or null when it did not end normally (reported). */
  private async stage(stage: StageName, spec: SandboxSpec, maxOutputBytes: number, cpuMs?: number): Promise<StageExit | null> {
    if (this.closed) return null;
    this.send({ t: 'stage', stage });
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
    const pass = (s: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const d = decoders[s].write(chunk);
      if (d) this.send({ t: 'data', s, d });
    };
    const interactiveStdin = stage === 'run';
    const run = this.deps.sandbox.stream({ ...spec, signal: this.abort.signal }, {
      stdinPipe: interactiveStdin, maxOutputBytes, onStdout: pass('stdout'), onStderr: pass('stderr'),
    });
    this.current = { stage, run };
    if (interactiveStdin) {
      // The init message's stdin first, then whatever the client sent while waiting.
      const first = decodeStdin(this.job.request.stdin ?? '', this.job.request.stdinEncoding);
      if (first.length > 0) run.write(first);
      for (const d of this.pending.splice(0)) run.write(d);
      if (this.eof) run.end();
    }
    let o = await run.outcome;
    this.current = undefined;
    for (const s of ['stdout', 'stderr'] as const) {
      const rest = decoders[s].end();
      if (rest) this.send({ t: 'data', s, d: rest });
    }
    if (o.status === 'cancelled' || this.closed) return null;
    if (o.status === 'internal_error') {
      this.send({ t: 'error', m: `the sandbox failed during the ${stage} stage: ${o.error ?? 'internal error'}` });
      return null;
    }
    if (cpuMs !== undefined) o = applyCpuLimit(o as typeof o & { status: Exclude<typeof o.status, 'cancelled'> }, cpuMs);
    const exit: StageExit = {
      stage, status: o.status as StageExit['status'], limit: o.limit ?? null, exitCode: o.exitCode, signal: o.signal,
      cpuMs: o.cpuMs, wallMs: o.wallMs, memoryKb: o.memoryKb, stdoutTruncated: o.stdoutTruncated, stderrTruncated: o.stderrTruncated,
    };
    this.send({ t: 'exit', ...exit });
    return exit;
  }
}
