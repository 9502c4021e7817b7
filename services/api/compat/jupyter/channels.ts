// The kernel WebSocket of the Jupyter face, /api/kernels/:id/channels, in the JSON form Jupyter
// Server 1.x and Kernel Gateway use (every message a JSON text frame with a `channel` field, a
// message with binary buffers a binary frame of that form), or in Jupyter Server 2's binary v1
// protocol when the client offers it (protocol.ts reads and writes both).
//
//   client ─ frame ─▶ read*Message ─▶ <session>:in:live {t:'kmsg'} ─▶ worker relay ─▶ kernel
//   client ◀─ ws.send ◀── KernelFeed (one per kernel per API process) ◀── <session>:kernel ◀── relay
//
// A client's messages go as a v1 request does (services/core/session-relay.ts: one script checks
// that the session is live and publishes the message to its worker, or appends it to the session's
// input stream when the publish reaches nobody — in order either way, nothing fsynced on the fast
// way); one to a session no longer live is dropped, and the feed looks at the session at once (its
// clients hear `dead` and are closed, as when the watch below finds it). Each goes the moment it
// comes, without waiting for the one before to be answered or for the feed to follow the kernel's
// stream: this process's commands reach Redis on one connection and run there in the order sent,
// so the feed's read of where the stream stands (sent when the feed was made, before its first
// connection's messages) comes before anything those messages make the kernel say.
//
// When the session's worker runs in this process and the session is ready as a connection opens
// (the local port, services/core/session-local.ts: `corral up`, CORRAL_SESSION_LOCAL_PATH), that
// connection's messages go to the worker's relay by a function call instead, for the connection's
// whole life (never split between two ways); they wait for the feed's read of the stream first.
// A feed made then also takes the kernel's messages as the worker appends them (the local port's
// listen, with each entry's stream id) and skips them when its stream read brings them (see
// KernelFeed); the stream still carries them all, for other API processes and later feeds.
//
// A feed follows the kernel stream through this process's StreamReader (one blocking XREAD over
// every followed stream: no polling on the way of a message) and hands each entry to the
// kernel's connections here: iopub to every one, a shell, control or stdin message only to the
// connection that sent its parent (as Jupyter Server's per-connection sockets do). A feed also
// looks at the session's record every beat interval, so a session whose worker died ends its
// connections even though no 'ended' entry ever comes.
//
// A kernel still starting (pending kernels: POST /api/kernels answered before it was ready,
// pending.ts) is waited for before the upgrade is accepted, as Jupyter Server's channels handler
// awaits a pending kernel's `ready`: the connection then finds the session ready (and, hosted in
// this process, takes the local path). A start that failed refuses the upgrade with its error in
// Jupyter's body (503 with Retry-After when no worker took it, 404 for a kernel shut down meanwhile).
//
// Bounds: a client message is at most CLIENT_MESSAGE_MAX_BYTES (ws closes bigger ones, 1009), at
// most CLIENT_MESSAGES_PER_S (1008); what waits to be sent to a client that does not read is
// capped at SEND_BUFFER_MAX_BYTES, past which the connection is cut (a client that never reads
// cannot make the API hold the kernel's output).
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Redis } from 'ioredis';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { CorralError } from '../../../core/errors.ts';
import { StreamReader } from '../../../core/interactive-streams.ts';
import type { Logger } from '../../../core/logger.ts';
import { connectRedis } from '../../../core/redis.ts';
import {
  CLIENT_MESSAGE_MAX_BYTES, CLIENT_PUBLISH_MAX_BYTES, entryIdAfter, kernelStatusFields, kernelStreamKey, kernelStreamState, parseEntry, type KernelCommand,
} from '../../../core/session-messages.ts';
import { SessionId, sessionBeatMs, sessionKeys, type SessionKeys } from '../../../core/session-protocol.ts';
import type { LocalSession } from '../../../core/session-local.ts';
import { sendIfLive } from '../../../core/session-relay.ts';
import type { PendingKernels } from './pending.ts';
import type { SessionService } from '../../../core/session-service.ts';
import { refuseUpgrade, routeUpgrades } from '../../upgrade-router.ts';
import {
  CLOSE, hasBuffers, jupyterError, readClientMessage, readLegacyBinaryMessage, readV1Message, statusMessage, toLegacyBinaryFrame,
  toV1Frame, V1_PROTOCOL,
} from './protocol.ts';

/** Messages a connection may send per second (a bucket holding two seconds' worth). */
export const CLIENT_MESSAGES_PER_S = 1000;
/** Bytes waiting to be sent to one client past which its connection is cut. */
export const SEND_BUFFER_MAX_BYTES = 32 * 1024 * 1024;
/** Bytes of a connection's messages held until its feed follows the kernel's stream (local path), past which it is cut. */
const HELD_MAX_BYTES = 8 * 1024 * 1024;
/** Tapped kernel entries a feed holds until its stream read has caught up; past this, the feed drops the tap. */
const TAP_HELD_MAX = 4096;
/** msg_ids a connection remembers, to route the kernel's replies to it. */
const SENT_IDS_MAX = 4096;

export interface JupyterChannelsDeps {
  sessions: Pick<SessionService, 'info' | 'local'>;
  redis: Redis;
  redisUrl: string;
  keyPrefix: string;
  workerSilenceMs: number;
  /** Kernels still starting, waited for before an upgrade is accepted. */
  pending: Pick<PendingKernels, 'started'>;
  /** Whether a request carries a valid API key (always true when none is configured). */
  authorized: (req: IncomingMessage, token: string | undefined) => boolean;
  log: Logger;
}

export interface JupyterChannels {
  /** Open connections to `kernelId` in this process. */
  connections(kernelId: string): number;
  /** The kernel's execution state as its last status said, if this process has seen one. */
  executionState(kernelId: string): string | undefined;
  close(): Promise<void>;
}

const CHANNELS_PATH = /^\/api\/kernels\/([^/]+)\/channels\/?$/;

export function mountJupyterChannels(server: Server, deps: JupyterChannelsDeps): JupyterChannels {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: CLIENT_MESSAGE_MAX_BYTES,
    perMessageDeflate: false,
    // Jupyter Server 1.x's gateway client (what `--gateway-url` runs) sends a message with buffers
    // in a text frame (tornado's write_message without binary=True): its bytes are not UTF-8. Text
    // frames are read here instead (a JSON text is decoded with replacement characters; see onMessage).
    skipUTF8Validation: true,
    // Jupyter's binary v1 protocol when the client offers it (ws would otherwise pick the first
    // offered, whatever it is); none, and so the JSON form, otherwise.
    handleProtocols: (offered: Set<string>) => (offered.has(V1_PROTOCOL) ? V1_PROTOCOL : false),
  });
  const keys = sessionKeys(deps.keyPrefix);
  let reader: StreamReader | undefined;
  const readerOf = () => {
    if (!reader) {
      const blocking = connectRedis(deps.redisUrl, 'corral-jupyter');
      blocking.on('error', (err) => deps.log.warn({ err: err.message }, 'jupyter: stream connection error'));
      reader = new StreamReader(blocking, deps.redis, keys.wake, deps.log);
    }
    return reader;
  };
  const feeds = new Map<string, KernelFeed>();
  let closing = false;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const id = decodeURIComponent(CHANNELS_PATH.exec(url.pathname)?.[1] ?? '');
    const token = url.searchParams.get('token') ?? undefined;
    if (!deps.authorized(req, token)) {
      const e = jupyterError(new CorralError('unauthorized', 'a valid API key is required (Authorization: token <key>, or ?token=<key>)'));
      return refuseUpgrade(socket, e.status, e.body);
    }
    const notFound = () => {
      const e = jupyterError(new CorralError('session_not_found', `no kernel with id ${JSON.stringify(id.slice(0, 64))}`));
      refuseUpgrade(socket, e.status, e.body);
    };
    if (closing || !SessionId.safeParse(id).success) return notFound();
    // Jupyter Server keys a reconnecting client's buffered messages by session_id; Corral buffers
    // nothing across connections, so it is only checked.
    const clientSession = url.searchParams.get('session_id');
    if (clientSession !== null && clientSession.length > 256) return refuseUpgrade(socket, 400, { message: 'session_id is too long' });
    void deps.pending.started(id).then((info) => {
      if (info.status === 'ended') return notFound();
      wss.handleUpgrade(req, socket, head, (ws) => {
        if (closing) return ws.close(CLOSE.serverRestart, 'server shutting down');
        const local = deps.sessions.local?.find(id);
        let feed = feeds.get(id);
        if (!feed) {
          feed = new KernelFeed(id, deps, readerOf(), () => feeds.delete(id), local);
          feeds.set(id, feed);
        }
        feed.add(new Connection(ws, id, deps, keys, local));
      });
    }, (err: unknown) => {
      // A start's failure (logged where it settled) or a kernel still starting past the bound: its
      // status and Jupyter's body. Anything else is not the kernel's answer: Redis unreachable.
      if (!(err instanceof CorralError)) deps.log.warn({ err: (err as Error).message, kernelId: id }, 'jupyter: cannot look the kernel up');
      const e = jupyterError(err instanceof CorralError ? err : new CorralError('not_ready', 'cannot reach Redis; retry later'));
      refuseUpgrade(socket, e.status, e.body, e.headers);
    });
  };
  const unroute = routeUpgrades(server, (path) => CHANNELS_PATH.test(path), onUpgrade);

  return {
    connections: (id) => feeds.get(id)?.size ?? 0,
    executionState: (id) => feeds.get(id)?.executionState,
    async close() {
      closing = true;
      unroute();
      for (const feed of [...feeds.values()]) feed.end(CLOSE.serverRestart, 'the server is shutting down');
      await reader?.close();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** One kernel's stream, followed once by this process, fanned out to its connections here. */
class KernelFeed {
  private readonly conns = new Set<Connection>();
  private unfollow: (() => void) | undefined;
  private readonly watch: NodeJS.Timeout;
  private ended = false;
  /** The kernel's Jupyter session (its messages' header.session), for the statuses the face adds. */
  private kernelSession = '';
  executionState: string | undefined;
  /**
   * Resolves once the stream is followed (from where it stood when this feed was made: its
   * connections' messages are sent after that read, on the same Redis connection).
   */
  readonly started: Promise<void>;

  /** The last entry id handed to the connections, by the stream or the local tap: an entry up to it is not handed again. */
  private delivered = '0-0';
  /** The local tap (the session's worker in this process, services/core/session-local.ts): entries as the worker appends them. */
  private tap: { stop(): void } | undefined;
  /** The last entry appended before the tap began: until the stream read has passed it, tapped entries wait here. */
  private tapBefore = '0-0';
  private tapHeld: Array<[id: string, entry: string]> | undefined;

  constructor(private readonly id: string, private readonly deps: JupyterChannelsDeps, reader: StreamReader, private readonly forget: () => void,
    local: LocalSession | undefined) {
    const key = kernelStreamKey(deps.keyPrefix, id);
    if (local) {
      this.tapHeld = [];
      const tap = local.listen((entryId, entry) => this.fromTap(entryId, entry));
      this.tap = tap;
      this.tapBefore = tap.before;
    }
    this.started = kernelStreamState(deps.redis, key).then(({ from, dead, session }) => {
      if (session) this.kernelSession = session;
      if (dead) this.executionState = 'dead';
      this.delivered = from;
      if (this.ended) return;
      // The stream already holds every entry appended before the tap: tapped ones may be handed on.
      if (this.tapHeld && !entryIdAfter(this.tapBefore, from)) this.tapCaughtUp();
      this.unfollow = reader.follow(key, (entry, entryId) => this.fromStream(entryId, entry), from);
    }, (err: Error) => this.end(CLOSE.goingAway, `cannot read the kernel's stream: ${err.message}`.slice(0, 120)));
    this.watch = setInterval(() => this.check(), sessionBeatMs(deps.workerSilenceMs));
  }

  /** Looks at the session's record: an ended (or lost, or expired) one ends the kernel's connections here. */
  check(): void {
    if (this.ended) return;
    void this.deps.sessions.info(this.id).then((info) => {
      if (info.status === 'ended') this.endKernel(`the kernel's session ended (${info.endedReason ?? 'unknown'})`);
    }, (err: unknown) => {
      if (err instanceof CorralError && err.code === 'session_not_found') this.endKernel('the kernel is gone');
    });
  }

  get size(): number {
    return this.conns.size;
  }

  add(conn: Connection): void {
    this.conns.add(conn);
    conn.onNotLive = () => this.check();
    conn.onClosed = () => {
      this.conns.delete(conn);
      if (this.conns.size === 0) this.end();
    };
    conn.attach(this.started);
    // A kernel whose restart failed before this connection: the client hears it dead now (the
    // `dead` on the stream came before this feed followed it).
    void this.started.then(() => {
      if (this.executionState === 'dead') conn.deliver(statusMessage('dead', this.kernelSession));
    });
  }

  /** An entry read from the stream: handed on unless the tap already did. */
  private fromStream(entryId: string, entry: string): void {
    this.deliverOnce(entryId, entry);
    if (this.tapHeld && !this.ended && !entryIdAfter(this.tapBefore, entryId)) this.tapCaughtUp();
  }

  /** An entry as the worker in this process appends it (before Redis has it). */
  private fromTap(entryId: string, entry: string): void {
    if (this.ended) return;
    if (this.tapHeld) {
      if (this.tapHeld.length < TAP_HELD_MAX) return void this.tapHeld.push([entryId, entry]);
      // The stream read does not come (Redis slow or gone): the stream alone, as without the tap (none of these was handed on).
      this.tap?.stop();
      this.tap = undefined;
      this.tapHeld = undefined;
      return;
    }
    this.deliverOnce(entryId, entry);
  }

  /** The stream read has passed every entry appended before the tap: what the tap held goes on, once. */
  private tapCaughtUp(): void {
    const held = this.tapHeld ?? [];
    this.tapHeld = undefined;
    for (const [entryId, entry] of held) {
      if (this.ended) return;
      this.deliverOnce(entryId, entry);
    }
  }

  /** Hands an entry on unless one at or after its id was (by the stream or the tap). */
  private deliverOnce(entryId: string, entry: string): void {
    if (!entryIdAfter(entryId, this.delivered)) return;
    this.delivered = entryId;
    this.onEntry(entry);
  }

  private onEntry(entry: string): void {
    const e = parseEntry(entry);
    if (!e) return;
    if (e.kind === 'event') {
      if (e.event === 'restarting') {
        this.executionState = 'restarting';
        this.broadcast(statusMessage('restarting', this.kernelSession));
      } else if (e.event === 'restarted') {
        // Nothing to the clients (as Jupyter Server: they reconnect on `restarting` and ask the
        // new kernel); the kernel's model says what it is now.
        this.executionState = 'idle';
      } else if (e.event === 'dead') {
        // As Jupyter Server's restart_failed: the clients hear it dead (the session itself lives on:
        // POST /api/kernels/:id/restart can still bring a kernel back).
        this.executionState = 'dead';
        this.broadcast(statusMessage('dead', this.kernelSession));
      }
      else if (e.event === 'ended') this.endKernel(`the kernel ended: ${safeMessage(e.details)}`);
      return;
    }
    if (e.channel === 'iopub') {
      // The only fields read of a kernel message, without parsing it whole: a status's state, its session.
      const status = kernelStatusFields(e.text);
      if (status) {
        if (status.state) this.executionState = status.state;
        if (status.session) this.kernelSession = status.session;
      }
      this.broadcast(e.text);
      return;
    }
    for (const c of this.conns) if (c.sent(e.parent)) c.deliver(e.text);
  }

  private broadcast(text: string): void {
    for (const c of this.conns) c.deliver(text);
  }

  /** The kernel is gone: each client hears it dead, and its connection closes. */
  private endKernel(why: string): void {
    this.executionState = 'dead';
    this.broadcast(statusMessage('dead', this.kernelSession));
    this.end(CLOSE.goingAway, why.slice(0, 120));
  }

  end(code?: number, reason?: string): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.watch);
    this.unfollow?.();
    this.tap?.stop();
    this.tapHeld = undefined;
    this.forget();
    for (const c of [...this.conns]) c.close(code ?? CLOSE.goingAway, reason ?? '');
    this.conns.clear();
    this.deps.log.debug({ kernelId: this.id }, 'jupyter: kernel feed ended');
  }
}

function safeMessage(details: string): string {
  try {
    const d = JSON.parse(details) as { message?: unknown };
    return typeof d.message === 'string' ? d.message : 'ended';
  } catch {
    return 'ended';
  }
}

/** One client's WebSocket. */
class Connection {
  onClosed: () => void = () => {};
  /** A message found the session no longer live (ended, or its worker silent). */
  onNotLive: () => void = () => {};
  private readonly sentIds = new Set<string>();
  /** Messages for the local port, held until the feed follows the kernel's stream (see attach). */
  private held: { cmds: KernelCommand[]; bytes: number } | undefined;
  private tokens = CLIENT_MESSAGES_PER_S * 2;
  private lastRefill = performance.now();
  private closed = false;
  private isGone = false;
  /** Whether the client chose the v1 binary protocol (else the JSON form). */
  private readonly v1: boolean;

  /**
   * @param local the session's host in this process, when it was hosted here and ready as the
   *   connection opened: every message of the connection then goes to it directly (see forward).
   */
  constructor(private readonly ws: WebSocket, private readonly kernelId: string, private readonly deps: JupyterChannelsDeps,
    private readonly keys: SessionKeys, private readonly local: LocalSession | undefined) {
    this.v1 = ws.protocol === V1_PROTOCOL;
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('close', () => this.gone());
    ws.on('error', () => this.gone());
  }

  /**
   * Tells the worker a client is here. `following`: the feed follows the kernel's stream from where
   * it stood. A message by Redis goes after that read on the same connection (see the file comment);
   * one handed over locally could make the kernel (or the relay, which answers kernel_info itself)
   * write before the read, and the client would miss the answer: until then they wait here.
   */
  attach(following: Promise<void>): void {
    if (this.local) {
      this.held = { cmds: [], bytes: 0 };
      void following.then(() => {
        const held = this.held;
        this.held = undefined;
        if (!this.closed) for (const cmd of held?.cmds ?? []) this.forward(cmd);
      });
    }
    this.forward({ t: 'kattach' });
  }

  sent(msgId: string): boolean {
    return msgId !== '' && this.sentIds.has(msgId);
  }

  deliver(text: string): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    if (this.ws.bufferedAmount > SEND_BUFFER_MAX_BYTES) {
      this.deps.log.warn({ kernelId: this.kernelId, bufferedBytes: this.ws.bufferedAmount }, 'jupyter: a client does not read its messages; connection cut');
      this.closed = true;
      this.ws.terminate();
      return;
    }
    if (!this.v1 && !hasBuffers(text)) return this.ws.send(text);
    const frame = this.v1 ? toV1Frame(text) : toLegacyBinaryFrame(text);
    if (frame) this.ws.send(frame);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.deps.log.debug({ kernelId: this.kernelId, code, reason }, 'jupyter: closing a client connection');
    this.ws.close(code, reason);
  }

  private gone(): void {
    if (this.isGone) return;
    this.isGone = true;
    this.closed = true;
    this.onClosed();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    if (!this.takeToken()) return this.close(CLOSE.policyViolation, `more than ${CLIENT_MESSAGES_PER_S} messages per second`);
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    // A binary frame is a message with buffers: in the v1 protocol's form, or Jupyter Server 1.x's in
    // the JSON form — which that server's gateway client sends as a text frame: one that starts with
    // a NUL byte (the part count's high byte; JSON never does) is read as such.
    const legacyBinary = !this.v1 && (isBinary || bytes[0] === 0);
    const m = legacyBinary ? readLegacyBinaryMessage(bytes) : isBinary ? readV1Message(bytes) : readClientMessage(bytes.toString('utf8'));
    if (m.kind === 'invalid') return this.close(CLOSE.invalidPayload, m.reason.slice(0, 120));
    if (m.kind === 'dropped') {
      this.deps.log.debug({ kernelId: this.kernelId, reason: m.reason }, 'jupyter: client message dropped');
      return;
    }
    this.remember(m.msg.header.msg_id);
    const cmd: KernelCommand = { t: 'kmsg', ch: m.channel, msg: m.msg };
    if (m.buffers.length) cmd.buffers = m.buffers.map((b) => b.toString('base64'));
    this.forward(cmd, bytes.length);
  }

  /**
   * Sends a message on to the worker now (in order with this process's other commands; see the file
   * comment). A connection opened on a session hosted here takes the local port for its whole life,
   * any other the Redis relay for its whole life: its messages never split between two ways, so
   * none overtakes another of its own.
   */
  private forward(cmd: KernelCommand, bytes = 0): void {
    if (this.local) {
      if (this.held) {
        // Bounded: a stream read that does not come back (Redis stuck) must not make the API hold a client's messages.
        if (this.held.bytes + bytes > HELD_MAX_BYTES) return this.close(1011, 'cannot reach the kernel; reconnect');
        this.held.cmds.push(cmd);
        this.held.bytes += bytes;
        return;
      }
      if (this.local.sendKernel(cmd)) return;
      this.deps.log.debug({ kernelId: this.kernelId, t: cmd.t }, 'jupyter: the session has ended; message dropped');
      return this.onNotLive();
    }
    sendIfLive(this.deps.redis, this.keys, this.kernelId, cmd, this.deps.workerSilenceMs, CLIENT_PUBLISH_MAX_BYTES).then((r) => {
      if (r.sent) return;
      this.deps.log.debug({ kernelId: this.kernelId, t: cmd.t }, 'jupyter: the session is not live; message dropped');
      this.onNotLive();
    }, (err: Error) => {
      this.deps.log.warn({ kernelId: this.kernelId, err: err.message }, 'jupyter: cannot pass a message on');
      this.close(1011, 'cannot reach the kernel; reconnect');
    });
  }

  private remember(msgId: string): void {
    this.sentIds.delete(msgId);
    this.sentIds.add(msgId);
    if (this.sentIds.size > SENT_IDS_MAX) this.sentIds.delete(this.sentIds.values().next().value!);
  }

  private takeToken(): boolean {
    const now = performance.now();
    this.tokens = Math.min(CLIENT_MESSAGES_PER_S * 2, this.tokens + ((now - this.lastRefill) / 1000) * CLIENT_MESSAGES_PER_S);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
