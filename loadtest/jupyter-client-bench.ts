// Jupyter's own client measuring a Jupyter server: the reference figures of `npm run bench:session`
// (loadtest/bench-session.ts), and the same measurement for any server that speaks Jupyter's REST +
// WebSocket API (/api/kernels, /api/kernels/:id/channels) — Corral's Jupyter face among them.
//
//   startReferenceJupyterServer()   Debian's jupyter-server on a loopback port with a token, no
//                                   sandbox, its kernels the host's python3-ipykernel; its state in a
//                                   temp dir (nothing in $HOME); stop() kills it and removes the dir.
//   measureJupyterKernel(baseUrl, token, opts)
//                                   with @jupyterlab/services (the JupyterLab front end's own client):
//                                   kernel start → first `1+1` answered, then `1+1` round trips
//                                   (requestExecute(...).done), each kernel shut down after.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelManager, ServerConnection } from '@jupyterlab/services';
import WebSocket from 'ws';

export interface ReferenceJupyterServer {
  baseUrl: string;
  token: string;
  pid: number;
  stop(): Promise<void>;
}

export interface JupyterKernelFigures {
  /** Per kernel start: POST of the kernel → its first `1+1` answered, ms. */
  startToFirstReplyMs: number[];
  /** The kernel each start made, in the same order (a server may say more of it: Corral, whether it was warm). */
  startedKernelIds: string[];
  /** `1+1` round trips on one live kernel, ms. */
  cellMs: number[];
}

export interface MeasureOptions {
  /** Kernels started one after the other for the start figure (default 3). */
  starts?: number;
  /** `1+1` round trips on the first kernel (default 100). */
  cells?: number;
  /** The kernelspec name (default python3). */
  kernelName?: string;
  /** Bound on each step, ms (default 120 000). */
  timeoutMs?: number;
  /** Pause before each kernel start, ms (default 0): lets a server's warm pool refill. */
  pauseBeforeStartMs?: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const JUPYTER_SERVER = '/usr/bin/jupyter-server';

/** Starts Debian's jupyter-server on 127.0.0.1 with a fresh token; resolves once its API answers. */
export async function startReferenceJupyterServer(opts: { startTimeoutMs?: number } = {}): Promise<ReferenceJupyterServer> {
  const dir = mkdtempSync(join(tmpdir(), 'corral-jupyter-ref-'));
  const token = randomBytes(24).toString('hex');
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', HOME: dir,
    JUPYTER_CONFIG_DIR: join(dir, 'config'), JUPYTER_DATA_DIR: join(dir, 'data'), JUPYTER_RUNTIME_DIR: join(dir, 'runtime'),
    IPYTHONDIR: join(dir, 'ipython'), MPLCONFIGDIR: join(dir, 'mpl'),
  };
  const child = spawn(JUPYTER_SERVER, [
    '--no-browser', '--ServerApp.ip=127.0.0.1', `--ServerApp.port=${port}`, '--ServerApp.port_retries=0',
    `--ServerApp.token=${token}`, `--ServerApp.root_dir=${dir}`, '--ServerApp.open_browser=False',
    // The bench runs as root on the bench host (the sandbox needs it); the server is loopback-only with a token.
    ...(process.getuid?.() === 0 ? ['--allow-root'] : []),
  ], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr = (stderr + c.toString('utf8')).slice(-4000); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const baseUrl = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`jupyter-server exited at start: ${stderr}`);
    }
    const ok = await fetch(`${baseUrl}api/status`, { headers: { authorization: `token ${token}` } }).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`jupyter-server did not answer within ${opts.startTimeoutMs ?? 60_000} ms: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { baseUrl, token, pid: child.pid!, stop };
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(t));
}

/**
 * Measures a Jupyter server with @jupyterlab/services: `starts` kernels (start → first `1+1`
 * answered each), then `cells` `1+1` round trips on a live kernel. Every kernel it started is
 * shut down before it returns.
 */
export async function measureJupyterKernel(baseUrl: string, token: string, opts: MeasureOptions = {}): Promise<JupyterKernelFigures> {
  const starts = opts.starts ?? 3;
  const cells = opts.cells ?? 100;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const wsUrl = baseUrl.replace(/^http/, 'ws');
  const serverSettings = ServerConnection.makeSettings({
    baseUrl, wsUrl, token, appendToken: true,
    // Node 20 has fetch but no WebSocket global: the `ws` package's.
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
  });
  // The client logs each WebSocket start and status change with console.debug: not for the bench's output.
  const debug = console.debug;
  console.debug = () => {};
  const manager = new KernelManager({ serverSettings });
  await bounded(manager.ready, timeoutMs, 'the kernel manager');
  const figures: JupyterKernelFigures = { startToFirstReplyMs: [], startedKernelIds: [], cellMs: [] };
  const run = async (kernel: Awaited<ReturnType<KernelManager['startNew']>>, code: string) => {
    const reply = await bounded(kernel.requestExecute({ code, store_history: false }).done, timeoutMs, 'a cell');
    if (reply.content.status !== 'ok') throw new Error(`the cell failed: ${JSON.stringify(reply.content).slice(0, 500)}`);
  };
  try {
    for (let i = 0; i < Math.max(1, starts); i++) {
      if (opts.pauseBeforeStartMs) await new Promise((r) => setTimeout(r, opts.pauseBeforeStartMs));
      const t0 = performance.now();
      const kernel = await bounded(manager.startNew({ name: opts.kernelName ?? 'python3' }), timeoutMs, 'a kernel start');
      try {
        await run(kernel, '1+1');
        figures.startToFirstReplyMs.push(performance.now() - t0);
        figures.startedKernelIds.push(kernel.id);
        if (i === 0) {
          for (let c = 0; c < cells; c++) {
            const t1 = performance.now();
            await run(kernel, '1+1');
            figures.cellMs.push(performance.now() - t1);
          }
        }
      } finally {
        await bounded(kernel.shutdown(), timeoutMs, 'a kernel shutdown').catch(() => {});
        kernel.dispose();
      }
    }
  } finally {
    manager.dispose();
    console.debug = debug;
  }
  return figures;
}
