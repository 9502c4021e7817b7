// npm run bench:session — notebook sessions (docs/sessions.md) through the whole stack (HTTP →
// Redis → worker → sandbox → kernel bridge → ipykernel), the stack in a process of its own
// (forkStack), against the references measured in the same run:
//   - a `1+1` cell over HTTP in a live session (p50/p99), against a fresh `print(1+1)` run
//     through POST /v1/runs?wait=true;
//   - session start (POST /v1/sessions) → first `1+1` answered: cold (a session with limits of
//     its own starts its kernel) and warm (a session with the default limits takes a started
//     kernel from the worker's pool, CORRAL_SESSION_WARM_KERNELS);
//   - the same `1+1` and kernel start through Corral's Jupyter face (/api/kernels + WebSocket);
//   - Debian's jupyter-server with the host's ipykernel, no sandbox, measured by JupyterLab's own
//     client (@jupyterlab/services; loadtest/jupyter-client-bench.ts): kernel start → first
//     `1+1`, and `1+1` p50/p99;
//   - the kernel alone, the floor under any cell (test/sessions/measure-kernel-roundtrip.py): the
//     `1+1` round trip of stock ipykernel driven by jupyter_client over its own sockets, and of
//     Corral's kernel (the bridge and its launcher's ipykernel) over the bridge's stdio — both on
//     the host, with no HTTP, no Redis, no Node and no sandbox.
// Never a timed assertion: the machine is shared; figures vary with its load (printed).
//   BENCH_CELLS (default 200) cells; BENCH_STARTS (default 5) session starts of each kind.
//   BENCH_CELL_PATHS: `both` (default) alternates the cells, one by one, with a second stack whose
//   API and worker do not hand requests over in-process (CORRAL_SESSION_LOCAL_PATH=false: the
//   Redis relay, as between processes); `local` measures the first stack alone.
//   BENCH_ONLY=cells: the cells and fresh runs alone (no starts, no Jupyter face, no reference);
//   BENCH_KERNEL_FLOOR=0 leaves the kernel-alone figures out.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpClient, type HttpClient } from './http-client.ts';
import { measureJupyterKernel, startReferenceJupyterServer, type JupyterKernelFigures } from './jupyter-client-bench.ts';
import { forkStack } from './stack.ts';

const CELLS = Number(process.env.BENCH_CELLS ?? 200);
const STARTS = Number(process.env.BENCH_STARTS ?? 5);
/** Long enough for the pool to start its next kernel (about a second unloaded) between warm starts. */
const REFILL_WAIT_MS = Number(process.env.BENCH_REFILL_WAIT_MS ?? 4000);
const COMPARE_PATHS = (process.env.BENCH_CELL_PATHS ?? 'both') !== 'local';
const CELLS_ONLY = process.env.BENCH_ONLY === 'cells';
const KERNEL_FLOOR = process.env.BENCH_KERNEL_FLOOR !== '0';
const ROUNDTRIP_SCRIPT = fileURLToPath(new URL('../test/sessions/measure-kernel-roundtrip.py', import.meta.url));

type KernelAlone = { mode: 'client' | 'bridge'; p50: number; p90: number; min: number; cpuMsPerCell: number[] };

/**
 * The kernel's own `1+1` round trip, with nothing of Corral's stack around it: stock ipykernel
 * through jupyter_client, and Corral's bridge with its patched launcher, each on the host (Debian's
 * python3 has the python image's pyzmq, ipykernel and jupyter_client). No cell over HTTP can be
 * faster than these; a failure (no ipykernel on the host) is printed and the figures left out.
 */
function kernelAlone(cells: number): Promise<KernelAlone[] | string> {
  return new Promise((resolve) => {
    execFile('/usr/bin/python3', [ROUNDTRIP_SCRIPT, 'client', 'bridge', '--cells', String(cells), '--json'],
      { timeout: 300_000, maxBuffer: 1 << 20, env: { ...process.env, PYDEVD_DISABLE_FILE_VALIDATION: '1' } },
      (err, stdout, stderr) => {
        if (err) return resolve(`${err.message.split('\n')[0]} ${stderr.trim().split('\n').at(-1) ?? ''}`);
        resolve(stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as KernelAlone));
      });
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;
const line = (what: string, xs: number[]) => console.log(`${what.padEnd(52)} p50 ${ms(pct(xs, 50)).padStart(9)}  p99 ${ms(pct(xs, 99)).padStart(9)}  min ${ms(Math.min(...xs)).padStart(9)}  (n=${xs.length})`);
/** Every sample, in the order taken (starts are few: their spread says more than a p99). */
const samples = (xs: number[]) => console.log(`${''.padEnd(52)} ${xs.map((x) => x.toFixed(1)).join(' ')}`);
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

async function check(r: { status: number; body: any }, status: number, what: string): Promise<any> {
  if (r.status !== status) throw new Error(`bench: ${what}: ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
  return r.body;
}

/** POST /v1/sessions → first `1+1` answered; the session's id, the time and whether it was warm. */
async function startOne(http: HttpClient, body: Record<string, unknown>): Promise<{ id: string; ms: number; warm: boolean }> {
  const t0 = performance.now();
  const s = await check(await http.request('POST', '/v1/sessions', { language: 'python', ...body }), 201, 'POST /v1/sessions');
  const c = await check(await http.request('POST', `/v1/sessions/${s.id}/execute`, { code: '1+1' }), 200, 'the first cell');
  const elapsed = performance.now() - t0;
  if (c.status !== 'ok') throw new Error(`bench: the first cell: ${JSON.stringify(c).slice(0, 500)}`);
  const info = await check(await http.request('GET', `/v1/sessions/${s.id}`), 200, 'GET /v1/sessions/:id');
  return { id: s.id, ms: elapsed, warm: info.warm === true };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'corral-bench-session-'));
  console.log(`bench:session — load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}; stack log in ${dir}/stack.log`);
  const env = {
    CORRAL_PORT: '0', CORRAL_LOG_LEVEL: 'warn', CORRAL_DATA_DIR: join(dir, 'data'), CORRAL_MAX_WAIT_MS: '600000',
    CORRAL_SESSION_SLOTS: '3', CORRAL_SESSION_WARM_KERNELS: '1',
  };
  const stack = await forkStack(env, join(dir, 'stack.log'));
  const http = httpClient(stack.url, 300_000);
  const figures: { cell: number[]; relayCell: number[]; run: number[]; cold: number[]; warm: number[]; notWarm: number } = { cell: [], relayCell: [], run: [], cold: [], warm: [], notWarm: 0 };
  let loadAtCells = '';
  let kernels = '';
  let corralJupyter: JupyterKernelFigures | undefined;
  try {
    // Sessions starts, one at a time: cold ones ask for a limit of their own (no warm kernel fits).
    for (let i = 0; i < (CELLS_ONLY ? 0 : STARTS); i++) {
      // The pool refills one kernel at a time, as slowly as a cold start: under load a fixed wait
      // let "warm" starts take a kernel still starting (a cold start's time, counted as warm).
      await sleep(Math.max(REFILL_WAIT_MS, 2 * (figures.cold.at(-1) ?? 0)));
      const w = await startOne(http, {});
      if (w.warm) figures.warm.push(w.ms);
      else figures.notWarm++;
      await check(await http.request('DELETE', `/v1/sessions/${w.id}`), 200, 'DELETE');
      const c = await startOne(http, { limits: { memoryMb: 500 } });
      figures.cold.push(c.ms);
      await check(await http.request('DELETE', `/v1/sessions/${c.id}`), 200, 'DELETE');
    }
    // Cells in one live session, and fresh runs between them (same load, same minute); with
    // COMPARE_PATHS, alternated one by one with a cell of a second stack that takes the Redis
    // relay (its own Redis, worker and kernel; the same code and configuration otherwise).
    const relayStack = COMPARE_PATHS
      ? await forkStack({ ...env, CORRAL_DATA_DIR: join(dir, 'data-relay'), CORRAL_SESSION_LOCAL_PATH: 'false' }, join(dir, 'stack-relay.log'))
      : undefined;
    const relayHttp = relayStack ? httpClient(relayStack.url, 300_000) : undefined;
    try {
      // Both sessions from their stack's warm pool (a kernel of the same origin on both sides):
      // a stack just started has not made its warm kernel yet.
      if (relayHttp || CELLS_ONLY) await sleep(REFILL_WAIT_MS);
      const live = await startOne(http, {});
      const relayLive = relayHttp ? await startOne(relayHttp, {}) : undefined;
      kernels = `${live.warm ? 'warm' : 'cold'}${relayLive ? ` / ${relayLive.warm ? 'warm' : 'cold'}` : ''}`;
      const cell = async (client: HttpClient, id: string, into: number[]) => {
        const t0 = performance.now();
        const c = await check(await client.request('POST', `/v1/sessions/${id}/execute`, { code: '1+1' }), 200, 'a cell');
        into.push(performance.now() - t0);
        if (c.outputs?.[0]?.data?.['text/plain'] !== '2') throw new Error(`bench: a cell: ${JSON.stringify(c).slice(0, 500)}`);
      };
      // A stack just started is still filling its pools (a warm kernel, the run pool's containers):
      // both stacks get the refill's time before their cells are measured, or the younger pays for it.
      if (relayHttp) await sleep(REFILL_WAIT_MS);
      for (let i = 0; i < 10; i++) {
        await cell(http, live.id, []);
        if (relayHttp) await cell(relayHttp, relayLive!.id, []);
      }
      loadAtCells = loadavg().map((x) => x.toFixed(1)).join(' ');
      for (let i = 0; i < CELLS; i++) {
        // Which of the two goes first alternates too.
        if (relayHttp && i % 2 === 1) await cell(relayHttp, relayLive!.id, figures.relayCell);
        await cell(http, live.id, figures.cell);
        if (relayHttp && i % 2 === 0) await cell(relayHttp, relayLive!.id, figures.relayCell);
        if (i % 4 === 0) {
          // A run leaves work behind in its stack's process (its container's teardown, the run
          // pool's next build): taken in turn by both stacks, so that neither path's cells pay more of it.
          const client = relayHttp && i % 8 === 4 ? relayHttp : http;
          const t0 = performance.now();
          const r = await check(await client.request('POST', '/v1/runs?wait=true', { language: 'python', source: 'print(1+1)' }), 200, 'a run');
          figures.run.push(performance.now() - t0);
          if (r.run?.stdout !== '2\n') throw new Error(`bench: a run: ${JSON.stringify(r).slice(0, 500)}`);
        }
      }
      loadAtCells += ` → ${loadavg().map((x) => x.toFixed(1)).join(' ')}`;
      await check(await http.request('DELETE', `/v1/sessions/${live.id}`), 200, 'DELETE');
      if (relayHttp) await check(await relayHttp.request('DELETE', `/v1/sessions/${relayLive!.id}`), 200, 'DELETE');
    } finally {
      relayHttp?.close();
      await relayStack?.stop();
    }
    // The same through Corral's Jupyter face (/api/kernels and its WebSocket), by the same client
    // as the reference below: default limits, so each start may take a warm kernel.
    if (!CELLS_ONLY) corralJupyter = await measureJupyterKernel(stack.url, '', { starts: STARTS, cells: CELLS, pauseBeforeStartMs: REFILL_WAIT_MS });
  } finally {
    http.close();
    await stack.stop();
  }

  // The reference: Jupyter's own server and client, no sandbox, after the stack is gone.
  let jupyter: JupyterKernelFigures | undefined;
  if (!CELLS_ONLY) {
    const ref = await startReferenceJupyterServer();
    try {
      jupyter = await measureJupyterKernel(ref.baseUrl, ref.token, { starts: STARTS, cells: CELLS });
    } finally {
      await ref.stop();
    }
  }
  const loadAtKernel = loadavg().map((x) => x.toFixed(1)).join(' ');
  const alone = KERNEL_FLOOR ? await kernelAlone(Math.max(CELLS, 300)) : 'BENCH_KERNEL_FLOOR=0';
  rmSync(dir, { recursive: true, force: true });

  console.log('\nCorral (HTTP API v1, the real sandbox, the python image\'s ipykernel):');
  console.log(`  (cells at load average ${loadAtCells}; the live session's kernel, local / relay: ${kernels})`);
  line('`1+1` cell over HTTP, live session', figures.cell);
  if (figures.relayCell.length) line('`1+1` cell, the Redis relay (LOCAL_PATH=false)', figures.relayCell);
  line('fresh python3 print(1+1), POST /v1/runs?wait=true', figures.run);
  if (figures.cold.length) line('session start → first `1+1`, cold', figures.cold);
  if (figures.warm.length) line('session start → first `1+1`, warm (from the pool)', figures.warm);
  if (figures.warm.length) samples(figures.warm);
  if (figures.notWarm) console.log(`  (${figures.notWarm} default-limit start(s) found no warm kernel: the pool had not refilled)`);
  if (corralJupyter) {
    console.log('\nCorral\'s Jupyter face (/api/kernels + WebSocket, @jupyterlab/services), same sandbox and kernel:');
    line('`1+1` round trip (requestExecute().done)', corralJupyter.cellMs);
    line('kernel start → first `1+1` (warm pool when refilled)', corralJupyter.startToFirstReplyMs);
    samples(corralJupyter.startToFirstReplyMs);
  }
  if (jupyter) {
    console.log('\nReference: jupyter-server + host ipykernel, no sandbox, @jupyterlab/services:');
    line('`1+1` round trip (requestExecute().done)', jupyter.cellMs);
    line('kernel start → first `1+1`', jupyter.startToFirstReplyMs);
  }
  const stock = typeof alone === 'string' ? undefined : alone.find((k) => k.mode === 'client');
  const bridged = typeof alone === 'string' ? undefined : alone.find((k) => k.mode === 'bridge');
  if (typeof alone === 'string') console.log(`\nThe kernel alone: left out (${alone})`);
  else {
    console.log(`\nThe kernel alone, on the host: no HTTP, Redis, Node or sandbox (load average ${loadAtKernel}):`);
    const kernelLine = (what: string, k: KernelAlone | undefined) => {
      if (k) console.log(`${what.padEnd(52)} p50 ${ms(k.p50).padStart(9)}  p90 ${ms(k.p90).padStart(9)}  min ${ms(k.min).padStart(9)}  (CPU per cell: ${k.mode === 'bridge' ? 'bridge' : 'client'} ${k.cpuMsPerCell[0]!.toFixed(1)} + kernel ${k.cpuMsPerCell[1]!.toFixed(1)} ms)`);
    };
    kernelLine('stock ipykernel ↔ jupyter_client, `1+1`', stock);
    kernelLine("Corral's bridge + launcher's ipykernel, `1+1`", bridged);
  }
  const r = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  console.log('\nRatios (p50):');
  if (stock) console.log(`  session cell / stock ipykernel alone:      ${r(pct(figures.cell, 50), stock.p50)}  (the cell's 5 ms target is ${r(5, stock.p50)} of stock ipykernel's own round trip here)`);
  if (bridged) console.log(`  session cell − Corral's kernel alone:      ${(pct(figures.cell, 50) - bridged.p50).toFixed(1)} ms  (HTTP, the API, Redis or the local path, the worker, the container's stdio; a 5 ms cell leaves them ${(5 - bridged.p50).toFixed(1)} ms)`);
  console.log(`  fresh run / session cell:                 ${r(pct(figures.run, 50), pct(figures.cell, 50))}  (target ≥ 4×)`);
  if (figures.relayCell.length) {
    console.log(`  fresh run / cell by the Redis relay:      ${r(pct(figures.run, 50), pct(figures.relayCell, 50))}`);
    console.log(`  relay cell − local cell (p50):            ${(pct(figures.relayCell, 50) - pct(figures.cell, 50)).toFixed(2)} ms`);
    // Cells were taken in pairs, one of each, back to back: the median of the pairs' differences
    // is less swayed by the load drifting over the run than the difference of the two p50s.
    const pairs = figures.cell.map((c, i) => figures.relayCell[i]! - c);
    console.log(`  relay − local, median of the pairs:       ${pct(pairs, 50).toFixed(2)} ms  (local faster in ${pairs.filter((d) => d > 0).length} of ${pairs.length} pairs)`);
  }
  if (!jupyter) {
    console.log(`load average after: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    return;
  }
  console.log(`  session cell / jupyter-server cell:       ${r(pct(figures.cell, 50), pct(jupyter.cellMs, 50))}`);
  if (corralJupyter) {
    console.log(`  Jupyter-face cell / jupyter-server cell:  ${r(pct(corralJupyter.cellMs, 50), pct(jupyter.cellMs, 50))}  (target ≤ 0.1×: cell p50 ≤ 5 ms)`);
    console.log(`  Jupyter-face cell − v1 session cell:      ${(pct(corralJupyter.cellMs, 50) - pct(figures.cell, 50)).toFixed(1)} ms  (target within 1 ms)`);
    console.log(`  Jupyter-face start / jupyter-server start: ${r(pct(corralJupyter.startToFirstReplyMs, 50), pct(jupyter.startToFirstReplyMs, 50))}`);
  }
  console.log(`  cold start / warm start:                  ${r(pct(figures.cold, 50), pct(figures.warm, 50))}`);
  console.log(`  warm start / jupyter-server kernel start: ${r(pct(figures.warm, 50), pct(jupyter.startToFirstReplyMs, 50))}`);
  console.log(`  cold start / jupyter-server kernel start: ${r(pct(figures.cold, 50), pct(jupyter.startToFirstReplyMs, 50))}`);
  console.log(`load average after: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
