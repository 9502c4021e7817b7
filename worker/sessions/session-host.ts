// One notebook session on a worker: one job volume (/box) and one KernelChannel (the kernel bridge
// and a real Jupyter kernel in one container), with the session's limits on the whole container,
// an idle timeout and a maximum lifetime. It takes the API's requests (SessionCommand) and answers
// each on its own reply (SessionReply); worker/sessions/session-worker.ts connects both to Redis.
//
// Cells run one at a time, in the order they arrived; interrupt and restart act at once (they are
// how a client stops the cell that runs); file requests go straight to the volume, whose every
// access is symlink-safe (openat2 beneath /box, see worker/sandbox/volume.ts).
import type { Logger } from '../../services/core/logger.ts';
import type { Metrics } from '../../services/core/metrics.ts';
import type { CellResult as ApiCellResult, EndedReason, SessionCommand, SessionJob, SessionReply } from '../../services/core/session-protocol.ts';
import type { JobVolume, Launcher } from '../launcher.ts';
import type { LanguageRegistry } from '../language-registry.ts';
import { executeCell, type CellResult } from './execute-cell.ts';
import type { BridgeFrame } from './frame-codec.ts';
import { outputOf, parentMsgId } from './jupyter-messages.ts';
import { ChannelClosedError, type KernelChannel, type ChannelCloseReason } from './kernel-channel.ts';
import { kernelFor, kernelLanguages } from './kernels.ts';
import { openKernelChannel, type WarmKernel } from './warm-kernels.ts';

const MiB = 1024 * 1024;
/** Outputs streamed to a `?stream=true` client per cell; the cell's result still has them all (up to its own cap). */
const STREAMED_BYTES_MAX = 4 * MiB;
/** Most files a list answers with. */
const LIST_MAX_FILES = 1000;
/** The container's wall limit is a backstop past the session's own lifetime timer. */
const WALL_BACKSTOP_MS = 60_000;

export interface SessionHostDeps {
  sandbox: Pick<Launcher, 'createVolume' | 'stream'>;
  registry: LanguageRegistry;
  log: Logger;
  metrics?: Metrics;
  startTimeoutMs: number;
  fileMaxBytes: number;
  /** Writes fields of the session's record (status, usage, times, end). */
  update(fields: Record<string, string>): void;
  /** A started kernel for the session from the worker's warm pool, or undefined (start one). */
  takeKernel?(language: string, limits: SessionJob['limits']): Promise<WarmKernel | undefined>;
  /**
   * Passes a message on to a request's asker (in the order sent). A request's answer (`done`)
   * comes with `record`: the record's fields it changed (lastUsedAt, cells, usage), to be
   * written with it, in one round trip (unless the session has ended meanwhile).
   */
  reply(rid: string, message: SessionReply, record?: Record<string, string>): void;
}

type Answer = { ok: true; body: unknown } | { ok: false; code: string; message: string; details?: unknown };

class RequestError extends Error {
  constructor(readonly code: string, message: string, readonly details?: unknown) {
    super(message);
  }
}

export class SessionHost {
  private state: 'starting' | 'ready' | 'ended' = 'starting';
  private volume: JobVolume | undefined;
  private channel: KernelChannel | undefined;
  private readonly readyGate: Promise<void>;
  private openGate!: () => void;
  private cellChain: Promise<void> = Promise.resolve();
  private restarting: Promise<unknown> | undefined;
  private inFlight = 0;
  private lastActivity = Date.now();
  /** The record's lastUsedAt as last written (with an answer, or the ready status). */
  private lastUsedAt: string | undefined;
  private cells = 0;
  /** The container's use read just after the last cell (for the answer's record fields: no second read on its way). */
  private cellUsage: ReturnType<KernelChannel['usage']>;
  private endReason: { reason: EndedReason; message: string } | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private finished!: () => void;
  /** Resolves once the session has ended and its container and volume are gone. */
  readonly done: Promise<void>;

  constructor(readonly job: SessionJob, private readonly deps: SessionHostDeps) {
    this.readyGate = new Promise((resolve) => { this.openGate = resolve; });
    this.done = new Promise((resolve) => { this.finished = resolve; });
  }

  get ended(): boolean {
    return this.state === 'ended';
  }

  /** Started and not ended: a request given now is served without waiting for the start. */
  get ready(): boolean {
    return this.state === 'ready';
  }

  /** Starts the kernel; resolves when the session has ended (never throws). */
  async run(): Promise<void> {
    const { job, deps } = this;
    const lifetime = setTimeout(() => this.end('max_lifetime', `the session reached its maximum lifetime of ${job.maxLifetimeS} s`), job.maxLifetimeS * 1000);
    const idleMs = job.idleTimeoutS * 1000;
    const idleCheck = setInterval(() => {
      if (this.state === 'ready' && this.inFlight === 0 && Date.now() - this.lastActivity >= idleMs) {
        this.end('idle_timeout', `no request for ${job.idleTimeoutS} s`);
      }
    }, Math.max(100, Math.min(1000, Math.floor(idleMs / 4))));
    this.timers.push(lifetime, idleCheck);
    try {
      await this.start();
      if (this.state !== 'starting') return await this.done;
      this.state = 'ready';
      this.lastActivity = Date.now();
      this.lastUsedAt = new Date(this.lastActivity).toISOString();
      deps.update({ status: 'ready', lastUsedAt: this.lastUsedAt });
      deps.log.info({ language: job.language }, 'session ready');
      this.openGate();
    } catch (err) {
      const e = err as Error & { code?: string };
      deps.log.warn({ err: e.message }, 'session start failed');
      this.end('start_failed', e.message, e instanceof RequestError ? { startError: e.code } : {});
    }
    await this.done;
  }

  private async start(): Promise<void> {
    const { job, deps } = this;
    const lang = await deps.registry.resolve(job.language, { flags: [], args: [] }).catch((err: Error) => {
      throw new RequestError('unknown_language', err.message);
    });
    const kernel = kernelFor(lang.id);
    if (!kernel) throw new RequestError('unknown_language', `language ${lang.id} has no notebook kernel (kernels: ${kernelLanguages().join(', ')})`);
    const warm = await deps.takeKernel?.(lang.id, job.limits);
    if (warm) return this.startWarm(warm);
    const volume = await deps.sandbox.createVolume({ sizeBytes: job.limits.diskMb * MiB });
    this.volume = volume;
    // Ended while the volume was made (its lifetime, a close, the worker stopping): cleanup has run.
    if (this.ended) return void await volume.destroy();
    await this.writeRequestFiles(volume);
    if (this.ended) return void await volume.destroy();
    this.channel = openKernelChannel({
      sandbox: deps.sandbox, language: lang, kernel, limits: job.limits, box: { dir: this.volume.dir },
      wallMs: job.maxLifetimeS * 1000 + WALL_BACKSTOP_MS, startTimeoutMs: deps.startTimeoutMs,
    });
    void this.channel.closed.then((reason) => this.onChannelClosed(reason));
    await this.channel.ready;
  }

  /** A kernel from the worker's warm pool (warm-kernels.ts): already started; the files go into its /box now. */
  private async startWarm(warm: WarmKernel): Promise<void> {
    if (this.ended) {
      await warm.channel.close();
      return void await warm.volume.destroy();
    }
    this.volume = warm.volume;
    this.channel = warm.channel;
    void this.channel.closed.then((reason) => this.onChannelClosed(reason));
    await this.writeRequestFiles(warm.volume);
    if (this.ended) return;
    await this.channel.ready;
  }

  /** The request's files into /box. One that cannot be written (/box full, a directory in its way)
   * is the request's fault: the start ends with session_file_failed, answered 422, not 503. */
  private async writeRequestFiles(volume: JobVolume): Promise<void> {
    for (const f of this.job.files) {
      if (this.ended) return;
      try {
        await volume.writeFile(f.path, Buffer.from(f.contentBase64, 'base64'), { mode: 0o644 });
      } catch (err) {
        throw new RequestError('session_file_failed', `cannot write ${f.path} in /box (${this.job.limits.diskMb} MiB): ${(err as Error).message}`);
      }
    }
  }

  private onChannelClosed(reason: ChannelCloseReason): void {
    if (reason.outcome) this.deps.update({ memoryKb: String(reason.outcome.memoryKb), cpuMs: String(reason.outcome.cpuMs), memoryCurrentKb: '' });
    if (this.ended) return;
    const limit = reason.code === 'sandbox_limit' ? reason.outcome?.limit : undefined;
    if (limit === 'cpu') this.end('cpu_budget', `the session used its CPU-time budget of ${this.job.limits.cpuS} s`);
    else if (limit === 'wall') this.end('max_lifetime', `the session reached its maximum lifetime of ${this.job.maxLifetimeS} s`);
    else this.end(this.state === 'starting' ? 'start_failed' : 'sandbox_error', `the kernel's container ended (${reason.code}): ${reason.message}`);
  }

  /** Ends the session: pending requests are answered session_ended, the container and volume go. */
  end(reason: EndedReason, message: string, extra: Record<string, string> = {}): void {
    if (this.ended) return;
    const wasStarting = this.state === 'starting';
    this.state = 'ended';
    this.endReason = { reason, message };
    for (const t of this.timers) clearTimeout(t);
    this.deps.update({ status: 'ended', endedReason: reason, endedMessage: message, ...extra });
    this.deps.metrics?.sessionsEndedTotal.inc({ reason });
    this.deps.log.info({ reason, message, cells: this.cells }, 'session ended');
    if (wasStarting) this.openGate(); // requests waiting for the start are answered session_ended
    void (async () => {
      try {
        if (this.channel) await this.channel.close();
        await this.volume?.destroy();
        this.deps.log.debug('session cleaned up: container and volume gone');
      } catch (err) {
        this.deps.log.error({ err: (err as Error).message }, 'session cleanup failed');
      } finally {
        this.finished();
      }
    })();
  }

  // -- hooks for the Jupyter message relay (message-relay.ts) -----------------------------------

  /** The kernel channel once the session is ready; rejects (session_ended) once it has ended. */
  async kernelChannel(): Promise<KernelChannel> {
    await this.readyGate;
    return this.assertLive();
  }

  /** Use now: the idle timeout starts again. */
  touch(): void {
    this.lastActivity = Date.now();
  }

  /** Use until the returned function is called (idempotent). */
  hold(): () => void {
    this.inFlight++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.inFlight--;
      this.lastActivity = Date.now();
    };
  }

  /** A kernel restart as a client's restart request makes one (joins one under way). */
  async restartKernel(): Promise<unknown> {
    await this.readyGate;
    return this.handle({ t: 'restart', rid: '' });
  }

  /** A request from the API; answered on its reply stream. */
  receive(cmd: SessionCommand): void {
    this.lastActivity = Date.now();
    if (cmd.t === 'close') {
      // Answered once the container and the volume are gone (the slot is free then).
      this.end('closed', 'closed by the client');
      void this.done.then(() => this.answer(cmd.rid, { ok: true, body: { status: 'ended' } }));
      return;
    }
    this.inFlight++;
    const work = cmd.t === 'execute'
      ? this.queueCell(cmd)
      : this.readyGate.then(() => this.handle(cmd));
    const settle = (a: Answer, usage: ReturnType<KernelChannel['usage']>) => {
      this.inFlight--;
      this.lastActivity = Date.now();
      let record: Record<string, string> | undefined;
      if (!this.ended) {
        this.lastUsedAt = new Date(this.lastActivity).toISOString();
        record = this.recordFields(usage);
      }
      this.answer(cmd.rid, a, record);
    };
    // A cell's answer takes the container's use read just after the cell (no second read on its way).
    const usageAfter = () => (cmd.t === 'execute' ? this.cellUsage : undefined) ?? this.channel?.usage();
    void work.then(
      (body) => settle({ ok: true, body }, usageAfter()),
      (err: Error) => settle(this.failure(err), this.channel?.usage()),
    );
  }

  /**
   * The record's fields this host keeps current (services/core/session-protocol.ts): lastUsedAt,
   * cells and the container's use so far (none while it is not running). Written with each
   * answer, and with each beat (worker/sessions/session-worker.ts).
   */
  recordFields(usage = this.channel?.usage()): Record<string, string> {
    const fields: Record<string, string> = { cells: String(this.cells) };
    if (this.lastUsedAt) fields.lastUsedAt = this.lastUsedAt;
    if (!usage) return fields;
    const kb = (bytes: number) => String(Math.round(bytes / 1024));
    return { ...fields, memoryCurrentKb: kb(usage.memoryBytes), memoryKb: kb(usage.memoryPeakBytes ?? usage.memoryBytes), cpuMs: String(usage.cpuMs), usageAt: new Date().toISOString() };
  }

  private answer(rid: string, a: Answer, record?: Record<string, string>): void {
    this.deps.reply(rid, a.ok ? { t: 'done', ok: true, body: a.body } : { t: 'done', ok: false, code: a.code, message: a.message, ...(a.details !== undefined ? { details: a.details } : {}) }, record);
  }

  private failure(err: Error): Answer {
    if (err instanceof RequestError) return { ok: false, code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) };
    if (err instanceof ChannelClosedError || this.ended) return this.endedAnswer();
    this.deps.log.error({ err: err.message }, 'session request failed');
    return { ok: false, code: 'internal', message: `the worker could not complete the request: ${err.message}` };
  }

  private endedAnswer(): Answer {
    const r = this.endReason ?? { reason: 'sandbox_error', message: 'the session ended' };
    return { ok: false, code: 'session_ended', message: `the session has ended (${r.reason}): ${r.message}`, details: { reason: r.reason } };
  }

  private assertLive(): KernelChannel {
    if (this.ended || !this.channel) {
      const a = this.endedAnswer() as Extract<Answer, { ok: false }>;
      throw new RequestError(a.code, a.message, a.details);
    }
    return this.channel;
  }

  private queueCell(cmd: Extract<SessionCommand, { t: 'execute' }>): Promise<ApiCellResult> {
    const mine = this.cellChain.then(async () => {
      await this.readyGate;
      await this.restarting?.catch(() => {});
      return this.runCell(cmd);
    });
    this.cellChain = mine.then(() => {}, () => {});
    return mine;
  }

  private async runCell(cmd: Extract<SessionCommand, { t: 'execute' }>): Promise<ApiCellResult> {
    const channel = this.assertLive();
    let unsubscribe = () => {};
    if (cmd.stream) unsubscribe = channel.subscribe(this.streamer(cmd.rid, cmd.code));
    try {
      const before = channel.usage();
      this.cellUsage = undefined;
      const r = await executeCell(channel, cmd.code, { timeoutMs: cmd.timeoutMs });
      const after = channel.usage();
      this.cellUsage = after;
      this.cells++;
      this.deps.metrics?.sessionCellsTotal.inc({ status: r.status });
      this.deps.metrics?.sessionCellSeconds.observe(r.wallMs / 1000);
      // The container's CPU over the cell: the kernel's, and the bridge's relaying (a restart's too).
      return this.toApi(r, before && after ? Math.max(0, after.cpuMs - before.cpuMs) : null);
    } finally {
      unsubscribe();
    }
  }

  /**
   * Passes the cell's outputs on as they come: the cell is the only one in flight on the channel,
   * so its request is the parent of the first execute_input that carries its code.
   */
  private streamer(rid: string, code: string): (frame: BridgeFrame) => void {
    let parent: string | undefined;
    let bytes = 0;
    return (frame) => {
      if (frame.kind !== 'message' || frame.ch !== 'iopub') return;
      const msg = frame.msg;
      if (parent === undefined) {
        if (msg.header.msg_type === 'execute_input' && msg.content.code === code) parent = parentMsgId(msg);
        return;
      }
      if (parentMsgId(msg) !== parent) return;
      const out = outputOf(msg);
      if (out === null || out === 'invalid') return;
      const text = JSON.stringify(out);
      if (bytes + text.length > STREAMED_BYTES_MAX) return;
      bytes += text.length;
      this.deps.reply(rid, { t: 'output', output: out });
    };
  }

  private toApi(r: CellResult, cpuMs: number | null): ApiCellResult {
    const out: ApiCellResult = {
      status: r.status, executionCount: r.executionCount, outputs: r.outputs, cpuMs, wallMs: r.wallMs,
      outputsTruncated: r.outputsTruncated, kernelRestarted: r.kernelRestarted,
    };
    if (r.error) out.error = r.error;
    if (r.kernelExit) {
      out.kernelExit = r.kernelExit;
      const how = r.kernelExit.signal !== null ? `signal ${r.kernelExit.signal}` : `exit code ${r.kernelExit.code}`;
      const oom = r.kernelExit.signal === 9 ? `; most likely killed at the session's memory limit of ${this.job.limits.memoryMb} MiB` : '';
      out.error ??= {
        ename: 'KernelDied',
        evalue: `the kernel process ended (${how})${oom}; its state is gone: restart the kernel (POST /v1/sessions/${this.job.id}/restart) to go on`,
        traceback: [],
      };
    }
    return out;
  }

  private async handle(cmd: Exclude<SessionCommand, { t: 'execute' | 'close' }>): Promise<unknown> {
    const channel = this.assertLive();
    const volume = this.volume!;
    switch (cmd.t) {
      case 'interrupt':
        channel.interrupt();
        return { interrupted: true };
      case 'restart': {
        if (!this.restarting) {
          const p = channel.restart();
          this.restarting = p.finally(() => { this.restarting = undefined; });
        }
        await this.restarting;
        return { status: 'ready', restarted: true };
      }
      case 'put': {
        const data = Buffer.from(cmd.dataBase64, 'base64');
        if (data.length > this.deps.fileMaxBytes) throw new RequestError('payload_too_large', `the file is larger than ${this.deps.fileMaxBytes} bytes`);
        try {
          await volume.writeFile(cmd.path, data, { mode: 0o644 });
        } catch (err) {
          if (err instanceof RangeError) throw new RequestError('validation_failed', err.message);
          throw new RequestError('session_file_failed', `cannot write ${cmd.path} in /box: ${(err as Error).message}`);
        }
        return { path: cmd.path, size: data.length };
      }
      case 'list': {
        // One more than listed, so that exactly LIST_MAX_FILES files is a whole list, not a truncated one.
        const files = await volume.collect(['**'], { maxFiles: LIST_MAX_FILES + 1, maxFileBytes: 0, maxTotalBytes: 0 });
        return { files: files.slice(0, LIST_MAX_FILES).map((f) => ({ path: f.path, size: f.size })), truncated: files.length > LIST_MAX_FILES };
      }
      case 'get': {
        const cap = this.deps.fileMaxBytes;
        const [file] = await volume.collect([cmd.path], { maxFiles: 1, maxFileBytes: cap, maxTotalBytes: cap });
        if (!file || file.path !== cmd.path) throw new RequestError('session_file_not_found', `no regular file at ${cmd.path} in /box`);
        if (file.truncated) throw new RequestError('file_too_large', `${cmd.path} has ${file.size} bytes; downloads are limited to ${cap}`, { size: file.size, maximumBytes: cap });
        return { path: file.path, size: file.size, contentBase64: file.content.toString('base64') };
      }
    }
  }
}
