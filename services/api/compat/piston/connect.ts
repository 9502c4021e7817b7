// Piston v2's interactive WebSocket, /api/v2/connect, on the API's HTTP server. The client sends
// `init` (an /execute body) within CORRAL_INTERACTIVE_INIT_TIMEOUT_MS; the session is validated
// like /execute, queued on the interactive queue and relayed to the worker that takes it
// (services/core/interactive-service.ts): `runtime`, then per stage `stage`, `data`… and `exit`,
// then close 4999. Client `data` (stdin) and `signal` messages reach the running program. Close
// codes and reasons are Piston's (connect-protocol.ts). What Corral adds: caps on the output
// streamed per stage and on the stdin a session may send, the init's `stdin` fed to the program
// (Piston ignores it here), typed-ahead stdin kept for the run stage, signals that really reach
// the program, and an `eof` message that closes its stdin.
//
// The WebSocket is served from the HTTP server's `upgrade` event with the `ws` package, not
// through hono: @hono/node-ws declares @hono/node-server 1.x as its peer (Corral runs 2.x), and
// @hono/node-server's own WebSocket helper routes the upgrade through the app, where the Piston
// routes already answer plain GETs on this path (routes.ts). Auth is the same as the other Piston
// endpoints: a configured API key in `Authorization` (Bearer or bare) or `X-Auth-Token`.
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Hono } from 'hono';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { InteractiveService, InteractiveSession } from '../../../core/interactive-service.ts';
import type { Logger } from '../../../core/logger.ts';
import type { RunService } from '../../../core/run-service.ts';
import type { RunRequest } from '../../../core/schemas.ts';
import { routeUpgrades } from '../../upgrade-router.ts';
import { keyMatches } from '../common/api-keys.ts';
import { classifyServiceError, invalidText } from '../common/service-errors.ts';
import { CLOSE, PISTON_SIGNALS, pistonExit, readClientMessage, type Close } from './connect-protocol.ts';
import { parseExecute } from './execute-request.ts';
import type { PistonOptions } from './options.ts';
import { markConnectOffered } from './routes.ts';
import { pistonRuntimes, type PistonRuntime } from './runtimes.ts';

export interface PistonConnectDeps {
  interactive: Pick<InteractiveService, 'open'>;
  runService: Pick<RunService, 'languages'>;
  options: PistonOptions;
  /** How long a new socket may take to send `init` (Piston: 1000 ms, then 4001). */
  initTimeoutMs: number;
  /** Most stdin bytes one session may send. */
  maxStdinBytes: number;
  /** Largest WebSocket message accepted (bigger ones close the socket with 1009). */
  maxMessageBytes: number;
  log?: Logger;
}

export interface PistonConnect {
  /** Open sockets. */
  readonly size: number;
  /** Ends every session (its client gets an error and 4002) and stops accepting sockets. */
  close(): Promise<void>;
}

/** Serves /api/v2/connect on `server` (the one serving `app`, whose plain GETs then answer 426). */
export function mountPistonConnect(app: Hono, server: Server, deps: PistonConnectDeps): PistonConnect {
  const paths = new Set([`${deps.options.prefix}/connect`, `${deps.options.prefix}/connect/`]);
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.maxMessageBytes });
  const sessions = new Set<ConnectSession>();

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      return refuse(socket, 400, 'bad request target');
    }
    if (!paths.has(path) || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return refuse(socket, 404, 'Not Found');
    const keys = deps.options.apiKeys;
    if (keys.length > 0) {
      const auth = req.headers.authorization;
      const token = req.headers['x-auth-token'];
      const key = (Array.isArray(token) ? token[0] : token) ?? auth?.replace(/^Bearer\s+/i, '');
      if (!keyMatches(key, keys)) return refuse(socket, 401, 'a valid API key is required (Authorization or X-Auth-Token header)');
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const s = new ConnectSession(ws, deps, () => sessions.delete(s));
      sessions.add(s);
    });
  };
  const unroute = routeUpgrades(server, (path) => paths.has(path), onUpgrade);
  markConnectOffered(app);

  return {
    get size() {
      return sessions.size;
    },
    async close() {
      unroute();
      await Promise.all([...sessions].map((s) => s.shutdown()));
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** An HTTP answer instead of the upgrade, in Piston's error shape. */
function refuse(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ message });
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json\r\n`
    + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

type State = 'new' | 'initialising' | 'ready' | 'closed';

/** One client socket: Piston's protocol over one interactive session. */
class ConnectSession {
  private state: State = 'new';
  private session: InteractiveSession | undefined;
  private runtime: PistonRuntime | undefined;
  private stdinBytes = 0;
  private readonly initTimer: NodeJS.Timeout;
  /** Messages are handled one after the other, so stdin sent right after init waits for it. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly ws: WebSocket, private readonly deps: PistonConnectDeps, private readonly forget: () => void) {
    this.initTimer = setTimeout(() => { if (this.state === 'new') this.close(CLOSE.initializationTimeout); }, deps.initTimeoutMs);
    ws.on('message', (data: RawData) => {
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
      this.chain = this.chain.then(() => this.handle(text)).catch((err: Error) => {
        deps.log?.error({ err: err.message }, 'piston connect: unexpected error');
        this.fail(`internal error: ${err.message}`);
      });
    });
    ws.on('close', () => this.closed());
    ws.on('error', () => this.closed());
  }

  private send(message: object): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Closes with a Piston code; the session (if any) is ended, its run stopped. */
  private close(c: Close): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.initTimer);
    this.ws.close(c.code, c.reason);
    void this.session?.close();
    this.forget();
  }

  /** Piston's error path: the reason as a message (close reasons are limited to 123 bytes), then 4002. */
  private fail(message: string): void {
    if (this.state === 'closed') return;
    this.send({ type: 'error', message });
    this.close(CLOSE.notifiedError);
  }

  private closed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.initTimer);
    void this.session?.close();
    this.forget();
  }

  async shutdown(): Promise<void> {
    this.fail('the server is shutting down; start a new session');
    await this.session?.close();
  }

  private async handle(text: string): Promise<void> {
    if (this.state === 'closed') return;
    const m = readClientMessage(text);
    switch (m.type) {
      case 'invalid':
        return this.fail(m.message);
      case 'ignored':
        return;
      case 'init':
        if (this.state !== 'new') return this.close(CLOSE.alreadyInitialized);
        return this.init(m.body);
      case 'data':
        if (this.state !== 'ready') return this.close(CLOSE.notYetInitialized);
        if (m.stream !== 'stdin') return this.close(CLOSE.canOnlyWriteToStdin);
        if (typeof m.data !== 'string') return this.fail('data must be a string');
        this.stdinBytes += Buffer.byteLength(m.data);
        if (this.stdinBytes > this.deps.maxStdinBytes) {
          return this.fail(`stdin limit exceeded: a session may send at most ${this.deps.maxStdinBytes} bytes of stdin`);
        }
        return this.session!.stdin(m.data);
      case 'signal':
        if (this.state !== 'ready') return this.close(CLOSE.notYetInitialized);
        if (typeof m.signal !== 'string' || !PISTON_SIGNALS.includes(m.signal)) return this.close(CLOSE.invalidSignal);
        return this.session!.signal(m.signal);
      case 'eof':
        if (this.state !== 'ready') return this.close(CLOSE.notYetInitialized);
        return this.session!.eof();
    }
  }

  private async init(body: Record<string, unknown>): Promise<void> {
    this.state = 'initialising';
    clearTimeout(this.initTimer);
    const offered = await this.deps.runService.languages();
    if (this.state !== 'initialising') return;
    if (offered.length === 0) return this.fail('no worker has reported its languages yet; retry shortly');
    const parsed = parseExecute(body, pistonRuntimes(offered), this.deps.options);
    if (!parsed.ok) return this.fail(parsed.message);
    // /execute's stdin gets Piston's trailing newline; here the init's stdin is only the start of
    // a stream the client goes on writing, so it is fed exactly as sent.
    const { stdin: _batchStdin, ...request } = parsed.request;
    const stdin = typeof body.stdin === 'string' ? body.stdin : '';
    if (Buffer.byteLength(stdin) > this.deps.maxStdinBytes) {
      return this.fail(`stdin limit exceeded: a session may send at most ${this.deps.maxStdinBytes} bytes of stdin`);
    }
    this.stdinBytes = Buffer.byteLength(stdin);
    const withStdin: RunRequest = stdin ? { ...request, stdin } : request;
    this.runtime = parsed.runtime;
    let session: InteractiveSession;
    try {
      session = await this.deps.interactive.open(withStdin, {
        started: () => this.send({ type: 'runtime', language: this.runtime!.language, version: this.runtime!.version }),
        stage: (stage) => this.send({ type: 'stage', stage }),
        data: (stream, data) => this.send({ type: 'data', stream, data }),
        exit: (exit) => {
          const limits = exit.stage === 'compile' ? session.request.compileLimits : session.request.limits;
          this.send(pistonExit(exit, limits.outputBytes));
        },
        done: () => this.close(CLOSE.jobCompleted),
        failed: (message) => this.fail(message),
      });
    } catch (err) {
      const k = classifyServiceError(err);
      if (k.kind === 'internal') throw err;
      const message = k.kind === 'queue_full' ? 'queue is full; retry later' : k.kind === 'invalid' ? invalidText(k) : k.message;
      return this.fail(message);
    }
    this.session = session;
    if (this.state !== 'initialising') {
      await session.close(); // the client left while the session was being set up
      return;
    }
    this.state = 'ready';
  }
}
