// Redis connections and the embedded redis-server that `corral up` starts when REDIS_URL is unset.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';

/** ioredis options for a redis://, rediss:// or unix:// URL. BullMQ needs maxRetriesPerRequest: null. */
export function redisOptions(url: string): RedisOptions {
  const u = new URL(url);
  const base: RedisOptions = { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false };
  if (u.protocol === 'unix:') {
    const db = u.searchParams.get('db');
    return { ...base, path: decodeURIComponent(u.pathname), ...(db ? { db: Number(db) } : {}) };
  }
  return {
    ...base,
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/**
 * A worker's or subscriber's connection: commands wait for Redis (through reconnects) as BullMQ
 * needs.
 */
export function connectRedis(url: string, name: string): Redis {
  return new Redis({ ...redisOptions(url), connectionName: name });
}

/** How long the API's connection waits between reconnect attempts at most (recovery delay). */
const API_RECONNECT_MAX_MS = 500;

/**
 * The API's connection: it never makes a request wait for Redis beyond `timeoutMs`. While the
 * connection is down a command fails at once (no offline queue), a command sent to a Redis that
 * does not answer fails after `timeoutMs`, and a command whose connection dropped under it is not
 * sent again after the reconnect (its request has been answered 503 already). Reconnects are
 * tried every API_RECONNECT_MAX_MS at most, so the API recovers by itself within about that long
 * after Redis is back. Resolves once the connection is ready (at start the API waits for Redis);
 * `onError` hears every connection error from the first attempt on. `timeoutMs` undefined: the
 * caller bounds each command itself (the bulk reads of run-store.ts, bounded by their size).
 */
export async function connectApiRedis(url: string, name: string, timeoutMs: number | undefined, onError: (err: Error) => void): Promise<Redis> {
  const redis = new Redis({
    ...redisOptions(url),
    connectionName: name,
    enableOfflineQueue: false,
    ...(timeoutMs !== undefined ? { commandTimeout: timeoutMs } : {}),
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(attempt * 50, API_RECONNECT_MAX_MS),
  });
  redis.on('error', onError); // before the first connect fails
  if (redis.status !== 'ready') await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
  return redis;
}

/** True for errors that mean "Redis is unreachable" (as opposed to a bug). */
export function isRedisUnavailable(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: string };
  return e?.name === 'MaxRetriesPerRequestError'
    || /Connection is closed|Stream isn't writeable|Command timed out|ECONNREFUSED|ENOENT|ECONNRESET|EPIPE/.test(`${e?.message ?? ''} ${e?.code ?? ''}`);
}

/** Redis key names, all under one prefix. */
export function redisKeys(prefix: string) {
  return {
    queue: `${prefix}-runs`,
    callbackQueue: `${prefix}-callbacks`,
    bullPrefix: `${prefix}:bull`,
    run: (id: string) => `${prefix}:run:${id}`,
    events: (id: string) => `${prefix}:run:${id}:events`,
    cancel: (id: string) => `${prefix}:run:${id}:cancel`,
    /** Sorted set of run ids scored by creation time (ms), for listing newest first. */
    runIndex: `${prefix}:runs:by-created`,
    eventsChannel: `${prefix}:events`,
    cancelChannel: `${prefix}:cancels`,
    workers: `${prefix}:workers`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;

export interface EmbeddedRedisOptions {
  /** Directory for the socket, AOF and config (created if missing). */
  dir: string;
  bin?: string;
}

/** util-linux's setpriv (Debian's is always there): sets the parent-death signal, then execs. */
const SETPRIV = '/usr/bin/setpriv';

/** A redis-server child on a unix socket (no TCP port) with AOF persistence. */
export class EmbeddedRedis {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private stderr = '';
  readonly socketPath: string;

  constructor(private readonly opts: EmbeddedRedisOptions) {
    this.socketPath = join(opts.dir, 'redis.sock');
  }

  get url(): string {
    return `unix://${this.socketPath}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get pidFile(): string {
    return join(this.opts.dir, 'redis.pid');
  }

  /**
   * A redis-server left running by a Corral that was SIGKILLed would share this directory's AOF
   * with the new one: stop it first (only if its pid file names a live redis-server).
   */
  private async stopLeftover(): Promise<void> {
    const pid = Number((await readFile(this.pidFile, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(pid) || pid <= 1) return;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes('redis-server') || !cmdline.includes(this.socketPath)) return;
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 400; i++) {
      try { process.kill(pid, 0); } catch { return; }
      await new Promise((r) => setTimeout(r, 25));
    }
    process.kill(pid, 'SIGKILL');
  }

  async start(): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true, mode: 0o700 });
    await this.stopLeftover();
    const args = [
      '--port', '0',
      '--unixsocket', this.socketPath,
      '--unixsocketperm', '700',
      '--dir', this.opts.dir,
      '--appendonly', 'yes',
      // always, not everysec: while a background fsync is slow, everysec Redis postpones its AOF
      // write (up to 2 s) but still answers, so a Redis killed then loses runs already answered
      // 202 (the fault suite saw it under CI's disk load). always writes and fsyncs each event
      // loop's writes before it answers them (one fsync for all clients: ~0.5 ms here).
      '--appendfsync', 'always',
      '--save', '',
      '--daemonize', 'no',
      '--pidfile', this.pidFile,
      '--maxmemory-policy', 'noeviction',
      '--loglevel', 'warning',
    ];
    // In its own session (setsid, so its own process group): a signal to Corral's process group
    // (a terminal's Ctrl-C, `kill -TERM -<pgid>`, `docker stop` of an npm init) does not stop it
    // under Corral, which still needs it while it shuts down and stops it last (stop()).
    // Through setpriv's --pdeathsig, when there is one (util-linux): a Corral killed by SIGKILL
    // (or a bench's stack) then stops its Redis too, which would otherwise keep its socket and AOF
    // until the next start found it — never, in a temporary directory. setpriv execs redis-server
    // (same pid); SIGTERM makes it write its AOF out and exit, as stop() does.
    const bin = this.opts.bin ?? 'redis-server';
    const child = existsSync(SETPRIV)
      ? spawn(SETPRIV, ['--pdeathsig', 'TERM', '--', bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
      : spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    this.child = child;
    child.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const spawnError = new Promise<never>((_, reject) => child.once('error', (e) => reject(new Error(`embedded redis: cannot start ${this.opts.bin ?? 'redis-server'}: ${e.message}`))));
    const early = this.exited.then(() => { throw new Error(`embedded redis exited at start: ${this.stderr.trim() || 'no output'}`); });
    await Promise.race([this.waitReady(), spawnError, early]);
  }

  private async waitReady(): Promise<void> {
    for (let i = 0; i < 400; i++) {
      const c = new Redis({ path: this.socketPath, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => {});
      try {
        await c.connect();
        // Loading the AOF answers LOADING until done.
        if ((await c.ping()) === 'PONG') { c.disconnect(); return; }
      } catch { /* not up yet */ }
      c.disconnect();
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`embedded redis did not answer on ${this.socketPath}`);
  }

  /**
   * Stops the server: SIGTERM makes redis flush the AOF and exit; SIGKILL after `killAfterMs`
   * (a redis that cannot write its AOF must not hold Corral's exit).
   */
  async stop(killAfterMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    await this.exited;
    clearTimeout(timer);
  }
}
