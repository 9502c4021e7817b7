// The worker's end of a kernel session: the kernel bridge (rootfs-images/files/kernel-bridge.py)
// running in one container through the sandbox's streamed run (Launcher.stream), spoken to in JSON lines (docs/sessions.md).
//
//   worker ── send(ch, msg) / interrupt() / restart() ──▶ stdin  ─▶ bridge ─▶ kernel
//   worker ◀─ subscribe() / frames() ◀── LineSplitter ◀── stdout ◀─ bridge ◀─ kernel
//                                         stderr: the last few KiB kept for the close reason
//
// Everything read from the container is hostile. A line longer than maxLineBytes, a line that is
// not a valid frame, more frames per second than maxFramesPerSecond, more queued for a slow
// frames() reader than maxQueuedBytes, a bridge that does not get ready or does not restart in
// time: each closes the channel at once (the container is killed) with a reason whose code says
// which. Nothing the bridge sends can make the worker hold more than about one line plus the
// queue, or wait forever.
import { randomUUID } from 'node:crypto';
import type { SandboxLimits, SandboxOutcome, SandboxSpec, SandboxUsage, StreamingOptions, StreamingRun } from '../sandbox/index.ts';
import {
  decodeFrame, encodeCommand, encodeMessage, FrameError, LineSplitter, LineTooLongError,
  type BridgeFrame, type EventFrame, type JupyterMessage, type MessageHeader, type SendChannel,
} from './frame-codec.ts';

const MiB = 1024 * 1024;

/** Where the python image installs the bridge (rootfs-images/python.json). */
export const BRIDGE_PATH = '/usr/lib/corral/kernel-bridge.py';

export interface ChannelCaps {
  /** Longest line from the bridge; one longer closes the channel (line_too_long). */
  maxLineBytes: number;
  /** Frames per second from the bridge, averaged over a one-second bucket; over it: flood. */
  maxFramesPerSecond: number;
  /** Frames received but not yet taken by a frames() reader, in line bytes; over it: overflow. */
  maxQueuedBytes: number;
  /** Bytes sent to the bridge since it last sent anything; over it: unresponsive (see send()). */
  maxUnansweredBytes: number;
  /** Largest single message sent to the kernel (as its JSON line). */
  maxSendBytes: number;
  /** Everything the bridge may write over the session's life (stdout and stderr together). */
  maxTotalBytes: number;
}

export const DEFAULT_CAPS: Readonly<ChannelCaps> = Object.freeze({
  maxLineBytes: 8 * MiB,
  maxFramesPerSecond: 2000,
  maxQueuedBytes: 32 * MiB,
  maxUnansweredBytes: 32 * MiB,
  maxSendBytes: 4 * MiB,
  maxTotalBytes: 1024 * MiB,
});

/** A session's container limits unless the caller gives its own: the wall limit is its lifetime. */
export const DEFAULT_SESSION_LIMITS: Readonly<Partial<SandboxLimits>> = Object.freeze({
  wallMs: 60 * 60 * 1000,
  cpuMs: 10 * 60 * 1000,
  memoryBytes: 512 * MiB,
  processes: 128,
  openFiles: 1024,
  diskBytes: 256 * MiB,
});

export type ChannelCloseCode =
  /** close() was called. */
  | 'closed'
  /** The bridge (and so the container) ended by itself. */
  | 'bridge_exited'
  /** The container hit one of its limits (wall = the session's lifetime, cpu, memory, output). */
  | 'sandbox_limit'
  | 'line_too_long'
  | 'bad_frame'
  | 'flood'
  | 'overflow'
  | 'unresponsive'
  | 'start_timeout'
  /** The kernel process ended before it first answered (its stderr tail is in the message). */
  | 'start_failed'
  | 'restart_timeout'
  /** The container could not be started, or a listener of ours threw. */
  | 'internal_error';

export interface ChannelCloseReason {
  code: ChannelCloseCode;
  message: string;
  /** The container's outcome (status, limit, memory peak, CPU), once it is known. */
  outcome?: SandboxOutcome;
  /** The last bytes the bridge wrote to stderr (its diagnostics), at most 4 KiB. */
  stderrTail?: string;
}

export class ChannelClosedError extends Error {
  constructor(readonly reason: ChannelCloseReason) {
    super(`kernel channel closed (${reason.code}): ${reason.message}`);
    this.name = 'ChannelClosedError';
  }
}

/** A restarted kernel that ended before it answered; the channel stays open (restart again, or close). */
export class KernelStartError extends Error {
  constructor(readonly exit: { code: number | null; signal: number | null; stderr: string }) {
    super(`the kernel ended before it was ready (${exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.code}`}): ${exit.stderr.slice(-1000)}`);
    this.name = 'KernelStartError';
  }
}

export interface KernelInfo {
  /** The kernel's kernel_info_reply content, as sent (hostile: read with care). */
  kernelInfo: Record<string, unknown>;
  /** The kernel's pid inside the container, when the bridge said. */
  pid?: number;
}

export interface KernelChannelOptions {
  /** The image's layers (bottom first) and, for the pool's metrics, its name. */
  layers: string[];
  imageName?: string;
  /** The session's /box volume (persists across kernel restarts, and across cells). */
  box: { dir: string };
  /** The container's whole environment (the image's env, PATH, HOME…). */
  env?: Record<string, string>;
  limits?: Partial<SandboxLimits>;
  /** The bridge program (default: python3 -I BRIDGE_PATH); the channel adds its own flags after it. */
  bridgeArgv?: string[];
  /** The kernel's argv with a `{connection_file}` element (default: the bridge's, ipykernel). */
  kernelArgv?: string[];
  caps?: Partial<ChannelCaps>;
  /** How long the bridge has to say ready, and to say restarted after a restart. */
  startTimeoutMs?: number;
  /** After close(): how long the bridge has to end by itself once its stdin is closed. */
  closeGraceMs?: number;
  /** The sandbox's streamed run: the worker's Launcher.stream (or a SandboxHost's stream). */
  stream: (spec: SandboxSpec, options: StreamingOptions) => StreamingRun;
}

type Listener = (frame: BridgeFrame) => void;
const STDERR_TAIL_BYTES = 4096;

/** One bridge in one container; see the file comment. */
export class KernelChannel {
  /** This worker's Jupyter session id (the header's `session` of everything it sends). */
  readonly session = randomUUID();
  readonly caps: Readonly<ChannelCaps>;
  /** Resolves when the kernel first answers; rejects with ChannelClosedError if the channel closes first. */
  readonly ready: Promise<KernelInfo>;
  /** Resolves once the channel is closed and the container is gone (never rejects). */
  readonly closed: Promise<ChannelCloseReason>;

  private readonly run: StreamingRun;
  /** Kills the container, even one still being prepared (run.kill needs a running one). */
  private readonly abort = new AbortController();
  private readonly splitter: LineSplitter;
  private readonly listeners = new Set<Listener>();
  private readonly closeListeners = new Set<(reason: ChannelCloseReason) => void>();
  private readonly queue: BridgeFrame[] = [];
  private queueBytes = 0;
  private queueWaiters: Array<() => void> = [];
  private queueing = false;
  private tokens: number;
  private lastRefill = performance.now();
  private unanswered = 0;
  private stderrTail = Buffer.alloc(0);
  private exited: { code: number | null; signal: number | null; stderr: string } | undefined;
  private info: KernelInfo | undefined;
  private lastHeader: MessageHeader | undefined;
  private closing: ChannelCloseReason | undefined;
  private resolveClosed!: (r: ChannelCloseReason) => void;
  private resolveReady!: (info: KernelInfo) => void;
  private rejectReady!: (err: Error) => void;
  private restartWaiter: { resolve: (info: KernelInfo) => void; reject: (err: Error) => void; timer: NodeJS.Timeout } | undefined;
  private startTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private readonly closeGraceMs: number;
  private readonly startTimeoutMs: number;

  constructor(options: KernelChannelOptions) {
    this.caps = Object.freeze({ ...DEFAULT_CAPS, ...options.caps });
    this.tokens = this.caps.maxFramesPerSecond;
    this.splitter = new LineSplitter(this.caps.maxLineBytes);
    this.startTimeoutMs = options.startTimeoutMs ?? 60_000;
    this.closeGraceMs = options.closeGraceMs ?? 2000;
    this.ready = new Promise((resolve, reject) => { this.resolveReady = resolve; this.rejectReady = reject; });
    this.ready.catch(() => { /* seen through closed as well; not every caller awaits ready */ });
    this.closed = new Promise((resolve) => { this.resolveClosed = resolve; });

    // The bridge gets the channel's line cap: a message too big for a line is dropped by a
    // well-behaved bridge (a 'dropped' event), so only a hostile one ever hits ours.
    // -I: the bridge's own imports ignore PYTHON* variables and anything in /box.
    const argv = [...(options.bridgeArgv ?? ['python3', '-I', BRIDGE_PATH]), '--max-line-bytes', String(this.caps.maxLineBytes),
      '--ready-timeout-s', String(Math.max(1, Math.floor(this.startTimeoutMs / 1000)))];
    if (options.kernelArgv) argv.push('--', ...options.kernelArgv);
    const spec: SandboxSpec = {
      layers: options.layers,
      imageName: options.imageName,
      argv,
      env: options.env,
      box: { dir: options.box.dir },
      cwd: '/box',
      limits: { ...DEFAULT_SESSION_LIMITS, ...options.limits },
      signal: this.abort.signal,
    };
    this.run = options.stream(spec, {
      stdinPipe: true,
      maxOutputBytes: this.caps.maxTotalBytes,
      onStdout: (chunk) => this.onStdout(chunk),
      onStderr: (chunk) => { this.stderrTail = Buffer.concat([this.stderrTail, chunk]).subarray(-STDERR_TAIL_BYTES); },
    });
    this.startTimer = setTimeout(() => this.fail('start_timeout', `the kernel was not ready within ${this.startTimeoutMs} ms`), this.startTimeoutMs);
    void this.run.outcome.then((outcome) => this.onOutcome(outcome), (err) => this.onOutcome(undefined, err as Error));
  }

  /** How the kernel process last ended, while no new one has been started (restart() clears it). */
  get kernelExit(): { code: number | null; signal: number | null; stderr: string } | undefined {
    return this.exited;
  }

  /** The kernel's kernel_info as the bridge last reported it: when it was ready, then after each restart. */
  get kernelInfo(): KernelInfo | undefined {
    return this.info;
  }

  /**
   * The header of the running kernel's latest message (its Jupyter session, username, protocol
   * version: what a message made on its behalf carries); undefined until it sends one, and again
   * once it exits, and while it is being restarted.
   */
  get kernelHeader(): MessageHeader | undefined {
    return this.lastHeader;
  }

  /** The container's use so far (memory now and at its peak, CPU time), while it runs. */
  usage(): SandboxUsage | undefined {
    return this.run.usage();
  }

  /** Whether the channel is closing or closed (nothing more is sent or delivered). */
  get isClosed(): boolean {
    return this.closing !== undefined;
  }

  /** Sends a message to the kernel on `ch`. Throws ChannelClosedError once the channel is closed. */
  send(ch: SendChannel, msg: JupyterMessage, buffers: Buffer[] = []): void {
    this.assertOpen();
    const line = encodeMessage(ch, msg, buffers);
    const bytes = Buffer.byteLength(line);
    if (bytes > this.caps.maxSendBytes) throw new RangeError(`message of ${bytes} bytes is over maxSendBytes (${this.caps.maxSendBytes})`);
    this.write(line, bytes);
  }

  /** KeyboardInterrupt in the kernel (SIGINT to its process group); the kernel lives on. Nothing
   * while a restart is under way: a SIGINT before the new kernel has installed its handler
   * would kill it (seen under load: an interrupt racing the restart after a cell timeout). */
  interrupt(): void {
    this.assertOpen();
    if (this.restartWaiter) return;
    const line = encodeCommand('interrupt');
    this.write(line, line.length);
  }

  /**
   * A fresh kernel process in the same container (its /box and /tmp kept); resolves when it
   * answers. Rejects with KernelStartError when the new kernel ends before that (the channel
   * stays open); a bridge that does not say restarted in time closes the channel (restart_timeout).
   */
  restart(): Promise<KernelInfo> {
    this.assertOpen();
    if (this.restartWaiter) return Promise.reject(new Error('a restart is already in progress'));
    const done = new Promise<KernelInfo>((resolve, reject) => {
      const timer = setTimeout(() => this.fail('restart_timeout', `the kernel did not restart within ${this.startTimeoutMs} ms`), this.startTimeoutMs);
      this.restartWaiter = { resolve, reject, timer };
    });
    this.lastHeader = undefined; // the kernel that sent it is going
    const line = encodeCommand('restart');
    this.write(line, line.length);
    return done;
  }

  /** Calls `listener` with every frame from the bridge, in order; returns the unsubscribe. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  /**
   * Calls `listener` once when the channel starts closing (at once if it has); returns the
   * unsubscribe. Unlike `closed`, it keeps nothing once unsubscribed (one per cell adds up).
   */
  onClose(listener: (reason: ChannelCloseReason) => void): () => void {
    if (this.closing) {
      const reason = this.closing;
      queueMicrotask(() => listener(reason));
      return () => {};
    }
    this.closeListeners.add(listener);
    return () => { this.closeListeners.delete(listener); };
  }

  /**
   * Every frame from the bridge from now on, in order, until the channel closes. One reader at
   * a time; frames it has not taken yet count against maxQueuedBytes.
   */
  async *frames(): AsyncGenerator<BridgeFrame, ChannelCloseReason> {
    if (this.queueing) throw new Error('frames() already has a reader');
    this.queueing = true;
    try {
      for (;;) {
        const frame = this.queue.shift();
        if (frame) {
          this.queueBytes -= frameBytes.get(frame) ?? 0;
          yield frame;
          continue;
        }
        if (this.closing) return this.closing;
        await new Promise<void>((resolve) => this.queueWaiters.push(resolve));
      }
    } finally {
      this.queueing = false;
      this.queue.length = 0;
      this.queueBytes = 0;
    }
  }

  /**
   * Ends the session: the bridge's stdin is closed (it kills the kernel and exits), and after
   * closeGraceMs the container is killed if it has not ended. Resolves like `closed`.
   */
  close(): Promise<ChannelCloseReason> {
    if (!this.closing) {
      this.beginClose({ code: 'closed', message: 'closed by the worker' });
      this.run.end();
      this.killTimer = setTimeout(() => this.abort.abort(), this.closeGraceMs);
    }
    return this.closed;
  }

  // -- internals -----------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closing) throw new ChannelClosedError(this.closing);
  }

  private write(line: string, bytes: number): void {
    // The streamed run does not tell how much of stdin the bridge has read, so what it has not
    // answered is the bound: a bridge that stops reading also stops answering.
    this.unanswered += bytes;
    if (this.unanswered > this.caps.maxUnansweredBytes) {
      this.fail('unresponsive', `${this.unanswered} bytes sent without an answer from the bridge`);
      throw new ChannelClosedError(this.closing!);
    }
    if (!this.run.write(line)) this.fail('bridge_exited', 'the bridge no longer reads its stdin');
  }

  private onStdout(chunk: Buffer): void {
    if (this.closing) return;
    let lines: Buffer[];
    try {
      lines = this.splitter.push(chunk);
    } catch (err) {
      if (err instanceof LineTooLongError) return this.fail('line_too_long', err.message);
      throw err;
    }
    for (const line of lines) {
      if (this.closing) return;
      if (!this.takeToken()) return this.fail('flood', `more than ${this.caps.maxFramesPerSecond} frames per second`);
      let frame: BridgeFrame;
      try {
        frame = decodeFrame(line.toString('utf8'));
      } catch (err) {
        if (err instanceof FrameError) return this.fail('bad_frame', err.message);
        throw err;
      }
      this.unanswered = 0;
      this.deliver(frame, line.length);
    }
  }

  /** A token bucket refilled at maxFramesPerSecond, holding one second's worth. */
  private takeToken(): boolean {
    const now = performance.now();
    const rate = this.caps.maxFramesPerSecond;
    this.tokens = Math.min(rate, this.tokens + ((now - this.lastRefill) / 1000) * rate);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private deliver(frame: BridgeFrame, bytes: number): void {
    if (frame.kind === 'event') this.onEvent(frame);
    else if (!this.restartWaiter) this.lastHeader = frame.msg.header; // the old kernel's last words are not the new one's
    if (this.closing) return;
    for (const listener of [...this.listeners]) {
      try {
        listener(frame);
      } catch (err) {
        return this.fail('internal_error', `a frame listener threw: ${(err as Error).message}`);
      }
      if (this.closing) return;
    }
    if (this.queueing) {
      this.queueBytes += bytes;
      if (this.queueBytes > this.caps.maxQueuedBytes) return this.fail('overflow', `more than ${this.caps.maxQueuedBytes} bytes of frames not taken by the reader`);
      frameBytes.set(frame, bytes);
      this.queue.push(frame);
      this.wakeReader();
    }
  }

  private onEvent(frame: { kind: 'event' } & EventFrame): void {
    if (frame.ev === 'kernel_exited') {
      const exit = { code: frame.code, signal: frame.signal, stderr: frame.stderr ?? '' };
      this.exited = exit;
      this.lastHeader = undefined;
      if (this.startTimer) {
        // Not ready yet: a kernel that cannot start is not worth the rest of the start timeout.
        const how = exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.code}`;
        return this.fail('start_failed', `the kernel ended before it was ready (${how}): ${exit.stderr.slice(-1000)}`);
      }
      if (this.restartWaiter) {
        clearTimeout(this.restartWaiter.timer);
        this.restartWaiter.reject(new KernelStartError(exit));
        this.restartWaiter = undefined;
      }
    }
    if (frame.ev === 'ready' || frame.ev === 'restarted') {
      this.exited = undefined;
      const info: KernelInfo = { kernelInfo: frame.kernel_info ?? {} };
      if (frame.pid !== undefined) info.pid = frame.pid;
      this.info = info;
      this.lastHeader = undefined;
      if (frame.ev === 'ready') {
        clearTimeout(this.startTimer);
        this.startTimer = undefined;
        this.resolveReady(info);
      } else if (this.restartWaiter) {
        clearTimeout(this.restartWaiter.timer);
        this.restartWaiter.resolve(info);
        this.restartWaiter = undefined;
      }
    }
  }

  private wakeReader(): void {
    for (const wake of this.queueWaiters.splice(0)) wake();
  }

  /** Closes the channel for a hostile or broken bridge: the container is killed at once. */
  private fail(code: ChannelCloseCode, message: string): void {
    if (this.closing) return;
    this.beginClose({ code, message });
    this.abort.abort();
  }

  private beginClose(reason: ChannelCloseReason): void {
    this.closing = reason;
    clearTimeout(this.startTimer);
    this.startTimer = undefined;
    const err = new ChannelClosedError(reason);
    this.rejectReady(err);
    if (this.restartWaiter) {
      clearTimeout(this.restartWaiter.timer);
      this.restartWaiter.reject(err);
      this.restartWaiter = undefined;
    }
    this.wakeReader();
    for (const listener of [...this.closeListeners]) listener(reason);
    this.closeListeners.clear();
  }

  private onOutcome(outcome: SandboxOutcome | undefined, err?: Error): void {
    clearTimeout(this.killTimer);
    if (!this.closing) {
      if (!outcome) this.beginClose({ code: 'internal_error', message: `the sandbox failed: ${err?.message}` });
      else if (outcome.limit) this.beginClose({ code: 'sandbox_limit', message: `the session's ${outcome.limit} limit was reached` });
      else if (outcome.status === 'internal_error') this.beginClose({ code: 'internal_error', message: outcome.error ?? 'the sandbox failed' });
      else this.beginClose({ code: 'bridge_exited', message: `the bridge ended (${outcome.signal ?? `exit code ${outcome.exitCode}`})` });
    }
    const reason: ChannelCloseReason = { ...this.closing! };
    if (outcome) reason.outcome = outcome;
    if (this.stderrTail.length) reason.stderrTail = this.stderrTail.toString('utf8');
    this.closing = reason;
    this.listeners.clear();
    this.wakeReader();
    this.resolveClosed(reason);
  }
}

/** Line bytes of each queued frame, for the queue's bound. */
const frameBytes = new WeakMap<BridgeFrame, number>();
