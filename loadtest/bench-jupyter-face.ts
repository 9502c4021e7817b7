// npm run bench:jupyter-face — what Corral's Jupyter face (docs/compat.md)
// adds to a cell over the v1 API, measured so that both see the same load: `1+1` cells
// interleaved on one kernel, round after round —
//   v1       POST /v1/sessions/:id/execute (HTTP)
//   rawJson  a raw `ws` client, the JSON form: execute_request → execute_reply and status idle
//   rawV1    the same in the binary v1.kernel.websocket.jupyter.org protocol
//   jls      @jupyterlab/services' requestExecute().done (the v1 protocol, as JupyterLab uses it)
// — with each kind's p50/p90/min, and the CPU the stack process (API, worker, Redis) and this
// client spent per cell (ticks of /proc/<pid>/stat: load-independent where wall times are not).
// npm run bench:session compares the face and v1 in separate phases; this one in the same minute.
// Then BENCH_STARTS (default 10) warm starts through the face, as JupyterLab makes one
// (@jupyterlab/services: POST /api/kernels → WebSocket → its kernel_info → the first `1+1`
// answered), each after a pause that lets the warm pool refill, every sample printed.
// Never a timed assertion. BENCH_CELLS (default 200) rounds.
// BENCH_AB=NAME=a,b: warm starts only, a stack per value of the stack's variable NAME, alternated
// start by start (see abStarts); BENCH_AB_KIND=v1 times POST /v1/sessions → the first cell instead.
// BENCH_CELL_AB=NAME=a,b: the face's cells only, two stacks, alternated cell by cell (see abCells).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelManager, ServerConnection, type Kernel } from '@jupyterlab/services';
import { deserialize, serialize } from '@jupyterlab/services/lib/kernel/serialize.js';
import WebSocket from 'ws';
import { httpClient } from './http-client.ts';
import { measureJupyterKernel } from './jupyter-client-bench.ts';
import { forkStack } from './stack.ts';

const ROUNDS = Number(process.env.BENCH_CELLS ?? 200);
const STARTS = Number(process.env.BENCH_STARTS ?? 10);
/** Before each warm start: the pool starts its next kernel a second after a take, and a start is about a second of CPU. */
const REFILL_WAIT_MS = Number(process.env.BENCH_REFILL_WAIT_MS ?? 3000);
const V1_PROTOCOL = 'v1.kernel.websocket.jupyter.org';
/** Kernel clock ticks per second (USER_HZ, 100 on Linux). */
const TICK_MS = 10;

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');

/** user + system ticks of a process (0 when it is gone). */
function cpuTicks(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** A raw client on the kernel's WebSocket: one `1+1` per call, resolved on both its reply and its idle. */
async function rawClient(url: string, protocol?: string): Promise<{ cell: () => Promise<void>; close: () => void }> {
  const ws = new WebSocket(url, protocol ? [protocol] : []);
  ws.binaryType = 'arraybuffer';
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let n = 0;
  const cell = () => new Promise<void>((resolve) => {
    const msgId = `bench-${protocol ?? 'json'}-${++n}`;
    const msg = {
      channel: 'shell', buffers: [], parent_header: {}, metadata: {},
      header: { msg_id: msgId, msg_type: 'execute_request', session: 'bench', username: 'bench', date: new Date().toISOString(), version: '5.3' },
      content: { code: '1+1', silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true },
    };
    let reply = false;
    let idle = false;
    const onMessage = (data: ArrayBuffer | Buffer) => {
      const m = (protocol ? deserialize(data as ArrayBuffer, protocol) : JSON.parse(data.toString())) as { header: { msg_type: string }; parent_header: { msg_id?: string }; content: { execution_state?: string } };
      if (m.parent_header.msg_id !== msgId) return;
      if (m.header.msg_type === 'execute_reply') reply = true;
      if (m.header.msg_type === 'status' && m.content.execution_state === 'idle') idle = true;
      if (reply && idle) {
        ws.off('message', onMessage);
        resolve();
      }
    };
    ws.on('message', onMessage);
    ws.send(protocol ? serialize(msg as never, protocol) as ArrayBuffer : JSON.stringify(msg));
  });
  return { cell, close: () => ws.close() };
}

/** `NAME=a,b[,c…]`: the variable and its values (at least `min`, at most `max`); `what` names the setting in the error. */
function abSpec(what: string, spec: string, min: number, max = Infinity): { name: string; values: string[] } {
  const eq = spec.indexOf('=');
  const values = spec.slice(eq + 1).split(',');
  if (eq <= 0 || values.length < min || values.length > max) throw new Error(`${what}: NAME=a,b (got ${spec})`);
  return { name: spec.slice(0, eq), values };
}

/**
 * BENCH_AB=NAME=a,b[,c…]: warm starts only (BENCH_STARTS of each), one stack per value of the
 * stack's environment variable NAME, the starts alternated between the stacks value by value (same
 * minutes, same load) and every sample printed. BENCH_AB_KIND: `face` (default: POST /api/kernels
 * → WebSocket → kernel_info → the first `1+1`, as above) or `v1` (POST /v1/sessions → the first
 * `1+1` over HTTP). A start that found no warm kernel (a cold start's time) is left out, counted.
 */
async function abStarts(spec: string, kind: string): Promise<void> {
  const { name, values } = abSpec('BENCH_AB', spec, 2);
  if (kind !== 'face' && kind !== 'v1') throw new Error(`BENCH_AB_KIND: face or v1 (got ${kind})`);
  const dir = mkdtempSync(join(tmpdir(), 'corral-bench-jupyter-face-'));
  console.log(`bench-jupyter-face A/B of ${name}: ${values.join(' / ')}, ${kind} warm starts — load average ${load()}; stack logs in ${dir}`);
  const stacks: Array<Awaited<ReturnType<typeof forkStack>>> = [];
  const samples: number[][] = values.map(() => []);
  const cold: number[] = values.map(() => 0);
  try {
    for (const [i, v] of values.entries()) {
      stacks.push(await forkStack({
        CORRAL_PORT: '0', CORRAL_LOG_LEVEL: 'warn', CORRAL_DATA_DIR: join(dir, `data-${i}`), CORRAL_SESSION_SLOTS: '2', CORRAL_SESSION_WARM_KERNELS: '1', [name]: v,
      }, join(dir, `stack-${i}.log`)));
    }
    // A stack's pool starts its next kernel a second after its take: the other stacks' starts are part of its pause.
    const pauseMs = Math.max(0, REFILL_WAIT_MS - (values.length - 1) * 1000);
    for (let r = 0; r < STARTS; r++) {
      for (const [i, stack] of stacks.entries()) {
        const http = httpClient(stack.url, 300_000);
        try {
          let id: string;
          let ms: number;
          if (kind === 'face') {
            const one = await measureJupyterKernel(stack.url, '', { starts: 1, cells: 0, pauseBeforeStartMs: pauseMs });
            id = one.startedKernelIds[0]!;
            ms = one.startToFirstReplyMs[0]!;
          } else {
            await new Promise((resolve) => setTimeout(resolve, pauseMs));
            const t0 = performance.now();
            const s = await http.request('POST', '/v1/sessions', { language: 'python' });
            if (s.status !== 201) throw new Error(`POST /v1/sessions: ${s.status} ${JSON.stringify(s.body).slice(0, 300)}`);
            id = (s.body as { id: string }).id;
            const c = await http.request('POST', `/v1/sessions/${id}/execute`, { code: '1+1' });
            ms = performance.now() - t0;
            if ((c.body as { status?: string }).status !== 'ok') throw new Error(`the first cell: ${JSON.stringify(c.body).slice(0, 300)}`);
          }
          const info = await http.request('GET', `/v1/sessions/${id}`);
          if ((info.body as { warm?: boolean }).warm === true) samples[i]!.push(ms);
          else cold[i]!++;
          if (kind === 'v1') await http.request('DELETE', `/v1/sessions/${id}`);
        } finally {
          http.close();
        }
      }
    }
  } finally {
    for (const stack of stacks) await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [i, v] of values.entries()) {
    const ms = samples[i]!;
    console.log(`${name}=${v}: start → first \`1+1\` (warm, ${kind}) p50 ${pct(ms, 50).toFixed(1)} ms  min ${Math.min(...ms).toFixed(1)} ms  (n=${ms.length}${cold[i] ? `; ${cold[i]} not warm, left out` : ''})`);
    console.log(`  ${ms.map((x) => x.toFixed(1)).join(' ')}`);
  }
  console.log(`load average after: ${load()}`);
}

/**
 * BENCH_CELL_AB=NAME=a,b: the face's cells (raw JSON client, `1+1`) on one kernel in each of two
 * stacks, one per value of the stack's variable NAME (e.g. CORRAL_SESSION_LOCAL_PATH=true,false),
 * alternated cell by cell (which stack goes first alternating too): each stack's p50, and the
 * median of the pairs' differences (b − a) with how many pairs a was faster in.
 */
async function abCells(spec: string): Promise<void> {
  const { name, values } = abSpec('BENCH_CELL_AB', spec, 2, 2);
  const dir = mkdtempSync(join(tmpdir(), 'corral-bench-jupyter-face-'));
  console.log(`bench-jupyter-face cells A/B of ${name}: ${values.join(' / ')} — load average ${load()}; stack logs in ${dir}`);
  const stacks: Array<Awaited<ReturnType<typeof forkStack>>> = [];
  const clients: Array<Awaited<ReturnType<typeof rawClient>>> = [];
  const samples: number[][] = [[], []];
  try {
    for (const [i, v] of values.entries()) {
      const stack = await forkStack({
        CORRAL_PORT: '0', CORRAL_LOG_LEVEL: 'warn', CORRAL_DATA_DIR: join(dir, `data-${i}`), CORRAL_SESSION_SLOTS: '2', CORRAL_SESSION_WARM_KERNELS: '1', [name]: v,
      }, join(dir, `stack-${i}.log`));
      stacks.push(stack);
      const http = httpClient(stack.url, 300_000);
      try {
        const started = await http.request('POST', '/api/kernels', { name: 'python3' });
        if (started.status !== 201) throw new Error(`POST /api/kernels: ${started.status} ${JSON.stringify(started.body).slice(0, 300)}`);
        clients.push(await rawClient(`${stack.url.replace(/^http/, 'ws')}/api/kernels/${(started.body as { id: string }).id}/channels`));
      } finally {
        http.close();
      }
    }
    for (let i = 0; i < 10; i++) for (const c of clients) await c.cell();
    await new Promise((r) => setTimeout(r, REFILL_WAIT_MS));
    for (let r = 0; r < ROUNDS; r++) {
      for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) {
        const t0 = performance.now();
        await clients[i]!.cell();
        samples[i]!.push(performance.now() - t0);
      }
    }
  } finally {
    for (const c of clients) c.close();
    for (const stack of stacks) await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [i, v] of values.entries()) {
    const ms = samples[i]!;
    console.log(`${name}=${v}: face cell (raw JSON) p50 ${pct(ms, 50).toFixed(1)} ms  p90 ${pct(ms, 90).toFixed(1)} ms  min ${Math.min(...ms).toFixed(1)} ms  (n=${ms.length})`);
  }
  const diffs = samples[1]!.map((b, r) => b - samples[0]![r]!);
  console.log(`${values[1]} − ${values[0]}, median of pairs: ${pct(diffs, 50).toFixed(2)} ms (${values[0]} faster in ${diffs.filter((d) => d > 0).length} of ${diffs.length})`);
  console.log(`load average after: ${load()}`);
}

async function main(): Promise<void> {
  if (process.env.BENCH_CELL_AB) return abCells(process.env.BENCH_CELL_AB);
  if (process.env.BENCH_AB) return abStarts(process.env.BENCH_AB, process.env.BENCH_AB_KIND ?? 'face');
  const dir = mkdtempSync(join(tmpdir(), 'corral-bench-jupyter-face-'));
  console.log(`bench-jupyter-face — load average ${load()}; stack log in ${dir}/stack.log`);
  const stack = await forkStack({
    CORRAL_PORT: '0', CORRAL_LOG_LEVEL: 'warn', CORRAL_DATA_DIR: join(dir, 'data'), CORRAL_SESSION_SLOTS: '2', CORRAL_SESSION_WARM_KERNELS: '1',
  }, join(dir, 'stack.log'));
  const http = httpClient(stack.url, 300_000);
  const debug = console.debug;
  console.debug = () => {}; // @jupyterlab/services logs each status change
  try {
    const started = await http.request('POST', '/api/kernels', { name: 'python3' });
    if (started.status !== 201) throw new Error(`POST /api/kernels: ${started.status} ${JSON.stringify(started.body).slice(0, 300)}`);
    const id = (started.body as { id: string }).id;
    const wsUrl = `${stack.url.replace(/^http/, 'ws')}/api/kernels/${id}/channels`;
    const json = await rawClient(wsUrl);
    const v1proto = await rawClient(wsUrl, V1_PROTOCOL);
    const manager = new KernelManager({ serverSettings: ServerConnection.makeSettings({ baseUrl: stack.url, wsUrl: stack.url.replace(/^http/, 'ws'), WebSocket: WebSocket as unknown as typeof globalThis.WebSocket }) });
    const kernel = manager.connectTo({ model: { id, name: 'python3' } });
    await new Promise<void>((resolve) => {
      if (kernel.connectionStatus === 'connected') return resolve();
      kernel.connectionStatusChanged.connect((_: unknown, s: Kernel.ConnectionStatus) => { if (s === 'connected') resolve(); });
    });
    const kinds: Record<string, () => Promise<unknown>> = {
      v1: async () => {
        const r = await http.request('POST', `/v1/sessions/${id}/execute`, { code: '1+1' });
        if ((r.body as { status?: string }).status !== 'ok') throw new Error(`a v1 cell: ${JSON.stringify(r.body).slice(0, 300)}`);
      },
      rawJson: json.cell,
      rawV1: v1proto.cell,
      jls: () => kernel.requestExecute({ code: '1+1', store_history: false }).done,
    };
    const figures = Object.fromEntries(Object.keys(kinds).map((k) => [k, { ms: [] as number[], stackTicks: 0, clientMs: 0 }]));
    for (let i = 0; i < 10; i++) for (const run of Object.values(kinds)) await run();
    // The kernel came from the warm pool, which starts the next one a second after: not beside the rounds.
    await new Promise((r) => setTimeout(r, REFILL_WAIT_MS));
    for (let i = 0; i < ROUNDS; i++) {
      for (const [kind, run] of Object.entries(kinds)) {
        const f = figures[kind]!;
        const ticks0 = cpuTicks(stack.pid) + cpuTicks(stack.redisPid);
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await run();
        f.ms.push(performance.now() - t0);
        const cpu = process.cpuUsage(cpu0);
        f.clientMs += (cpu.user + cpu.system) / 1000;
        f.stackTicks += cpuTicks(stack.pid) + cpuTicks(stack.redisPid) - ticks0;
      }
    }
    for (const [kind, f] of Object.entries(figures)) {
      console.log(`${kind.padEnd(8)} p50 ${pct(f.ms, 50).toFixed(1).padStart(7)} ms  p90 ${pct(f.ms, 90).toFixed(1).padStart(7)} ms  min ${Math.min(...f.ms).toFixed(1).padStart(6)} ms`
        + `   CPU per cell: stack ${(f.stackTicks * TICK_MS / ROUNDS).toFixed(2)} ms, client ${(f.clientMs / ROUNDS).toFixed(2)} ms  (n=${f.ms.length})`);
    }
    const p50 = (k: string) => pct(figures[k]!.ms, 50);
    console.log(`face − v1 (p50): @jupyterlab/services ${(p50('jls') - p50('v1')).toFixed(1)} ms, raw JSON ${(p50('rawJson') - p50('v1')).toFixed(1)} ms, raw v1 protocol ${(p50('rawV1') - p50('v1')).toFixed(1)} ms  (target within 1 ms)`);
    kernel.dispose();
    manager.dispose();
    json.close();
    v1proto.close();
    await http.request('DELETE', `/api/kernels/${id}`);
    if (STARTS > 0) {
      console.log(`warm starts — load average ${load()}`);
      const starts = await measureJupyterKernel(stack.url, '', { starts: STARTS, cells: 0, pauseBeforeStartMs: REFILL_WAIT_MS });
      // Corral's session record says whether the kernel came from the pool — one it took while the
      // kernel was still starting counts too (a cold start's time: under load the refill wait may be short).
      const warm = await Promise.all(starts.startedKernelIds.map(async (k) => ((await http.request('GET', `/v1/sessions/${k}`)).body as { warm?: boolean }).warm === true));
      const ms = starts.startToFirstReplyMs.filter((_, i) => warm[i]);
      console.log(`start → first \`1+1\` (warm) p50 ${pct(ms, 50).toFixed(1).padStart(7)} ms  min ${Math.min(...ms).toFixed(1).padStart(6)} ms  (n=${ms.length}; target ≤ 50 ms)`);
      console.log(`  ${ms.map((x) => x.toFixed(1)).join(' ')}`);
      if (ms.length < warm.length) console.log(`  (${warm.length - ms.length} start(s) found no warm kernel in the pool; left out)`);
    }
  } finally {
    console.debug = debug;
    http.close();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`load average after: ${load()}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
