// The worker's end of the Jupyter face (docs/compat.md): a client's raw Jupyter messages, taken
// from the session's input stream, go to the kernel as they are; once a client has attached,
// every message the kernel sends (iopub, and the shell, control and stdin replies) goes to the
// session's kernel stream, where the API processes with a client read it
// (services/core/session-messages.ts). The relay is per session; SessionHost gives it the
// kernel channel and counts its traffic as the session's use.
//
// What the kernel sends is hostile. The KernelChannel has validated each frame and bounded its
// size and rate; the relay also bounds the bytes per second it passes on (small messages such as
// statuses and replies always pass; outputs over the rate are dropped with one warning on the
// cell's stderr, as Jupyter Server's iopub_data_rate_limit does), so the kernel stream holds at
// most its trim window's worth.
//
// kernel_info_request is answered here when the kernel has nothing in hand (docs/compat.md): its
// kernel_info_reply content is known once it is ready (the bridge reports it, and again after each
// restart), so the relay sends what ipykernel would — status busy, the reply, status idle, each
// with the request as parent, in the kernel's session — without the kernel's round trip (a client
// sends it first on every connection: it was most of a warm start's way to its first cell). When
// the kernel may be busy — a request sent to it whose idle status has not come, a busy status not
// yet followed by idle, a restart under way — or its session is not known yet (no message from the
// kernel since it started), the request goes to the kernel, so an answer never overtakes work the
// kernel holds.
//
// Idle: a connected client does not by itself keep a session alive. A message from a client is
// use (like a v1 request), and so is a busy kernel (from its `busy` status to its `idle` one), so
// a long cell is never ended for idleness; an idle kernel with a WebSocket open but silent is
// ended after the session's idle timeout, as a v1 session with no request is.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../services/core/logger.ts';
import {
  eventEntry, kernelEntry, KernelCommand, RELAY_BYTES_PER_S, RELAY_SMALL_BYTES,
} from '../../services/core/session-messages.ts';
import type { BridgeFrame, JupyterMessage } from './frame-codec.ts';
import { PROTOCOL_VERSION, parentMsgId, statusOf } from './jupyter-messages.ts';
import type { KernelChannel } from './kernel-channel.ts';

/** What the relay needs of its session (SessionHost). */
export interface RelayHost {
  /** The kernel channel once the session is ready; rejects when it has ended. */
  kernelChannel(): Promise<KernelChannel>;
  /** Counts as use now (the idle timeout starts again). */
  touch(): void;
  /** Counts as use until the returned function is called. */
  hold(): () => void;
  /** Restarts the kernel as a client's restart request does. */
  restartKernel(): Promise<unknown>;
  end(reason: 'closed', message: string): void;
}

export interface MessageRelayDeps {
  host: RelayHost;
  /** Appends an entry to the session's kernel stream (in the order called). */
  append(entry: string): void;
  log: Logger;
}

const BURST_S = 1.5;
/** Client messages held while the kernel restarts (by count and by bytes); past either, dropped. */
const HELD_MAX = 256;
const HELD_MAX_BYTES = 16 * 1024 * 1024;
/**
 * Requests sent to the kernel and not yet seen idle, tracked to tell whether it has work in hand;
 * past this many (requests the kernel never answers with idle), the relay stops answering
 * kernel_info itself until the kernel restarts.
 */
const PENDING_MAX = 1024;

type ClientMessageCommand = Extract<KernelCommand, { t: 'kmsg' }>;

export class MessageRelay {
  private channel: KernelChannel | undefined;
  private attaching: Promise<KernelChannel | undefined> | undefined;
  private releaseBusy: (() => void) | undefined;
  /** Whether the kernel process is up as far as the relay knows (an exit restarts it once). */
  private kernelUp = true;
  private tokens = RELAY_BYTES_PER_S * BURST_S;
  private lastRefill = performance.now();
  private throttled = false;
  private dropped = 0;
  /** The kernel's own session id (its messages' header.session): clients drop messages of another. */
  private kernelSession: string | undefined;
  /**
   * While the relay restarts the kernel (after a death, or a client's shutdown_request with
   * restart), client messages wait here and go to the new kernel once it answers: the bridge
   * drops what a kernel says before it is ready, so a kernel_info_request sent meanwhile (what a
   * client sends first after it reconnects on `restarting`) would never be answered.
   */
  private held: { cmds: ClientMessageCommand[]; bytes: number } | undefined;
  /** msg_ids of shell and control requests sent to the kernel whose idle status has not come. */
  private readonly pending = new Set<string>();
  private pendingLost = false;

  constructor(private readonly deps: MessageRelayDeps) {}

  /** Takes a line of the input stream; false when it is not a kernel command (a SessionCommand). */
  receive(text: string): boolean {
    if (!text.startsWith('{"t":"k')) return false;
    let cmd: KernelCommand;
    try {
      const r = KernelCommand.safeParse(JSON.parse(text));
      if (!r.success) return false;
      cmd = r.data;
    } catch {
      return false;
    }
    this.take(cmd);
    return true;
  }

  /**
   * Takes a client's message: one read from the input stream (receive), or handed over by the API
   * in this process (services/core/session-local.ts), which checked it against KernelCommand.
   */
  take(cmd: KernelCommand): void {
    this.deps.host.touch();
    if (cmd.t === 'kattach') {
      void this.attach();
      return;
    }
    if (this.channel && !this.channel.isClosed) this.send(this.channel, cmd);
    else void this.attach().then((channel) => { if (channel) this.send(channel, cmd); });
  }

  private attach(): Promise<KernelChannel | undefined> {
    this.attaching ??= this.deps.host.kernelChannel().then((channel) => {
      this.channel = channel;
      channel.subscribe((frame) => this.onFrame(channel, frame));
      channel.onClose((reason) => {
        this.releaseBusy?.();
        this.deps.append(eventEntry('ended', { reason: reason.code, message: reason.message }));
      });
      return channel;
    }, (err: Error) => {
      this.deps.append(eventEntry('ended', { reason: 'ended', message: err.message }));
      return undefined;
    });
    return this.attaching;
  }

  private send(channel: KernelChannel, cmd: ClientMessageCommand): void {
    const msg = cmd.msg as JupyterMessage;
    if (cmd.ch === 'control' && msg.header.msg_type === 'shutdown_request') return this.shutdown(channel, msg);
    if (this.held) return this.hold(cmd);
    if (msg.header.msg_type === 'kernel_info_request' && cmd.ch !== 'stdin' && this.answerKernelInfo(channel, cmd.ch, msg)) return;
    try {
      channel.send(cmd.ch, msg, cmd.buffers?.map((b) => Buffer.from(b, 'base64')));
      if (cmd.ch !== 'stdin') this.sentRequest(msg.header.msg_id);
    } catch (err) {
      // Closed meanwhile (the 'ended' entry tells the clients), or over the channel's size cap.
      this.deps.log.debug({ err: (err as Error).message }, 'relay: message not sent to the kernel');
    }
  }

  /** A request the kernel now has in hand, until its idle status. */
  private sentRequest(msgId: string): void {
    if (this.pendingLost) return;
    if (this.pending.size >= PENDING_MAX) {
      this.pending.clear();
      this.pendingLost = true;
      return;
    }
    this.pending.add(msgId);
  }

  /**
   * Answers a kernel_info_request as the kernel would, when the kernel has nothing in hand and its
   * info and session are known; false when it must go to the kernel.
   */
  private answerKernelInfo(channel: KernelChannel, ch: 'shell' | 'control', request: JupyterMessage): boolean {
    if (!this.kernelUp || this.releaseBusy || this.pending.size > 0 || this.pendingLost || channel.kernelExit) return false;
    const info = channel.kernelInfo?.kernelInfo;
    const header = channel.kernelHeader;
    if (!info || typeof info.protocol_version !== 'string' || !header?.session) return false;
    const reply = JSON.stringify({ ...this.message(channel, 'kernel_info_reply', info, request.header), channel: ch });
    // The kernel's info is hostile (a restarted kernel imports from /box first) and up to a frame's
    // size: what the relay says for the kernel counts against the byte rate as the kernel's own does.
    if (!this.admit(reply.length)) return false;
    const status = (state: string) => JSON.stringify({ ...this.message(channel, 'status', { execution_state: state }, request.header), channel: 'iopub' });
    this.deps.append(kernelEntry('iopub', request.header.msg_id, status('busy')));
    this.deps.append(kernelEntry(ch, request.header.msg_id, reply));
    this.deps.append(kernelEntry('iopub', request.header.msg_id, status('idle')));
    return true;
  }

  private hold(cmd: ClientMessageCommand): void {
    const bytes = JSON.stringify(cmd.msg).length + (cmd.buffers ?? []).reduce((n, b) => n + b.length, 0);
    if (this.held!.cmds.length >= HELD_MAX || this.held!.bytes + bytes > HELD_MAX_BYTES) {
      this.deps.log.debug({ msgType: cmd.msg.header.msg_type }, 'relay: too much held while the kernel restarts; message dropped');
      return;
    }
    this.held!.cmds.push(cmd);
    this.held!.bytes += bytes;
  }

  /** Restarts the kernel, holding client messages until the new one answers (or it cannot start). */
  private restart(): void {
    this.held ??= { cmds: [], bytes: 0 };
    void this.deps.host.restartKernel().then(() => this.release(), (err: Error) => {
      this.held = undefined;
      this.deps.append(eventEntry('dead', { message: err.message }));
    });
  }

  /** The kernel answers again: what was held goes to it, in order. */
  private release(): void {
    const held = this.held;
    this.held = undefined;
    this.deps.append(eventEntry('restarted'));
    if (!held || !this.channel || this.channel.isClosed) return;
    for (const cmd of held.cmds) this.send(this.channel, cmd);
  }

  /**
   * shutdown_request is answered here, not by the kernel: a kernel that exits by itself would
   * leave the session with no kernel. With restart: a fresh kernel; without: the session ends.
   */
  private shutdown(channel: KernelChannel, request: JupyterMessage): void {
    const restart = request.content.restart === true;
    const reply = this.message(channel, 'shutdown_reply', { status: 'ok', restart }, request.header);
    this.deps.append(kernelEntry('control', request.header.msg_id, JSON.stringify({ ...reply, channel: 'control' })));
    if (restart) {
      this.deps.append(eventEntry('restarting'));
      this.restart();
    } else {
      this.deps.host.end('closed', 'shut down by a Jupyter client (shutdown_request)');
    }
  }

  private onFrame(channel: KernelChannel, frame: BridgeFrame): void {
    if (frame.kind === 'event') {
      if (frame.ev === 'restarted' || frame.ev === 'kernel_exited') {
        // A new kernel (or none) has nothing of the old one's in hand.
        this.pending.clear();
        this.pendingLost = false;
      }
      if (frame.ev === 'restarted') this.kernelUp = true;
      if (frame.ev === 'kernel_exited') this.onKernelExit(frame.signal, frame.code);
      return;
    }
    const msg = frame.msg;
    if (msg.header.session) this.kernelSession = msg.header.session;
    const state = frame.ch === 'iopub' ? statusOf(msg) : undefined;
    if (state === 'busy') this.releaseBusy ??= this.deps.host.hold();
    else if (state === 'idle') {
      this.releaseBusy?.();
      this.releaseBusy = undefined;
      const parent = parentMsgId(msg);
      if (parent !== undefined) this.pending.delete(parent);
    }
    // The client's JSON form (Jupyter Server's): the message, its channel, and its binary buffers
    // in base64 — first, so that the API sees whether there are any without parsing the message
    // (it sends a message with buffers as a binary frame).
    const text = JSON.stringify({
      buffers: frame.buffers, header: msg.header, parent_header: msg.parent_header, metadata: msg.metadata, content: msg.content,
      channel: frame.ch, msg_id: msg.header.msg_id, msg_type: msg.header.msg_type,
    });
    if (!this.admit(text.length)) {
      this.dropped++;
      if (!this.throttled) {
        this.throttled = true;
        const warning = this.message(channel, 'stream', {
          name: 'stderr',
          text: `Corral: the kernel's output is over ${RELAY_BYTES_PER_S / 1048576} MiB/s; output is dropped until it slows down.\n`,
        }, msg.parent_header);
        this.deps.append(kernelEntry('iopub', parentMsgId(msg), JSON.stringify({ ...warning, channel: 'iopub' })));
      }
      return;
    }
    this.deps.append(kernelEntry(frame.ch, parentMsgId(msg), text));
  }

  /** A byte bucket refilled at RELAY_BYTES_PER_S; small messages always pass (and cost nothing). */
  private admit(bytes: number): boolean {
    const now = performance.now();
    this.tokens = Math.min(RELAY_BYTES_PER_S * BURST_S, this.tokens + ((now - this.lastRefill) / 1000) * RELAY_BYTES_PER_S);
    this.lastRefill = now;
    if (bytes <= RELAY_SMALL_BYTES) return true;
    if (this.tokens < bytes) return false;
    this.tokens -= bytes;
    if (this.throttled && this.tokens > RELAY_BYTES_PER_S / 2) {
      this.throttled = false;
      this.deps.log.info({ dropped: this.dropped }, 'relay: kernel output over the byte rate was dropped');
    }
    return true;
  }

  /** Jupyter Server's autorestart: a kernel that died (killed at the memory limit…) is started again, once. */
  private onKernelExit(signal: number | null, code: number | null): void {
    this.releaseBusy?.();
    this.releaseBusy = undefined;
    // A restart of the relay's own under way: its failure says dead (once).
    if (this.held) return;
    if (!this.kernelUp) {
      this.deps.append(eventEntry('dead', { message: `the restarted kernel ended too (${signal !== null ? `signal ${signal}` : `exit code ${code}`})` }));
      return;
    }
    this.kernelUp = false;
    this.deps.append(eventEntry('restarting', { signal, code }));
    this.restart();
  }

  /** A message from the relay itself (a reply it answers, a warning), in the kernel's session and under its name. */
  private message(channel: KernelChannel, msgType: string, content: Record<string, unknown>, parent: Record<string, unknown>): JupyterMessage & { msg_id: string; msg_type: string; buffers: [] } {
    const msgId = randomUUID();
    const kernel = channel.kernelHeader;
    return {
      header: {
        msg_id: msgId, msg_type: msgType, session: kernel?.session ?? this.kernelSession ?? channel.session, username: kernel?.username ?? 'corral',
        date: new Date().toISOString(), version: kernel?.version ?? PROTOCOL_VERSION,
      },
      parent_header: parent, metadata: {}, content, buffers: [], msg_id: msgId, msg_type: msgType,
    };
  }
}
