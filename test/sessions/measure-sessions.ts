// Figures for docs/sessions.md (printed, never asserted): over real HTTP, real Redis and the real
// sandbox with the python image — a `1+1` cell's round trip in a live session vs. a fresh
// `python3 -c 'print(1+1)'` run through POST /v1/runs?wait=true in the same run, session start to
// first cell answered, and each idle session's container memory (its peak, from the ended record).
//   UV_THREADPOOL_SIZE=32 node --import tsx test/sessions/measure-sessions.ts [cells] [sessions]
import { api, startStack } from '../e2e/harness.ts';
import { needs, realSandbox, type RealSandbox } from '../e2e/real-sandbox.ts';

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, p90 ${pct(xs, 90).toFixed(1)} ms, min ${Math.min(...xs).toFixed(1)} ms (n=${xs.length})`;

async function main(): Promise<void> {
  const cells = Number(process.argv[2] ?? 50);
  const sessions = Number(process.argv[3] ?? 3);
  const sb = await realSandbox();
  const skip = needs(sb, 'python');
  if (skip) {
    console.log(`skipped: ${skip}`);
    return;
  }
  const real = sb as RealSandbox;
  const s = await startStack({ launcher: real.launcher, registry: real.registry, selfTest: real.selfTest, env: { CORRAL_SESSION_SLOTS: String(sessions), CORRAL_WORKER_SLOTS: '2' } });
  try {
    const starts: number[] = [];
    const firsts: number[] = [];
    const ids: string[] = [];
    for (let i = 0; i < sessions; i++) {
      const t0 = performance.now();
      const r = await api(s, 'POST', '/v1/sessions', { language: 'python' });
      if (r.status !== 201) throw new Error(`POST /v1/sessions: ${r.status} ${JSON.stringify(r.body)}`);
      starts.push(performance.now() - t0);
      const c = await api(s, 'POST', `/v1/sessions/${r.body.id}/execute`, { code: '1+1' });
      if (c.body.status !== 'ok') throw new Error(JSON.stringify(c.body));
      firsts.push(performance.now() - t0);
      ids.push(r.body.id);
    }
    const id = ids[0]!;
    const cell: number[] = [];
    const run: number[] = [];
    for (let i = 0; i < cells; i++) {
      let t0 = performance.now();
      const c = await api(s, 'POST', `/v1/sessions/${id}/execute`, { code: '1+1' });
      cell.push(performance.now() - t0);
      if (c.body.outputs?.[0]?.data?.['text/plain'] !== '2') throw new Error(JSON.stringify(c.body));
      if (i % 2 === 0) {
        t0 = performance.now();
        const r = await api(s, 'POST', '/v1/runs?wait=true', { language: 'python', source: 'print(1+1)' });
        run.push(performance.now() - t0);
        if (r.body.run?.stdout !== '2\n') throw new Error(JSON.stringify(r.body).slice(0, 500));
      }
    }
    // Idle a moment, then end them: the record then has the container's peak memory and CPU.
    await new Promise((r) => setTimeout(r, 3000));
    const ended = [];
    for (const sid of ids) {
      await api(s, 'DELETE', `/v1/sessions/${sid}`);
      let info;
      for (let i = 0; i < 200; i++) {
        info = (await api(s, 'GET', `/v1/sessions/${sid}`)).body;
        if (info.memoryKb !== null) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      ended.push(info);
    }
    console.log(`session start (POST → 201, kernel ready): ${fmt(starts)}`);
    console.log(`session start → first 1+1 answered:       ${fmt(firsts)}`);
    console.log(`1+1 cell over HTTP, live session:          ${fmt(cell)}`);
    console.log(`fresh python3 print(1+1), /v1/runs?wait:   ${fmt(run)}`);
    console.log(`ratio fresh run p50 / cell p50:            ${(pct(run, 50) / pct(cell, 50)).toFixed(1)}×`);
    console.log(`container memory peak per session (MiB):   ${ended.map((e: any) => (e.memoryKb / 1024).toFixed(1)).join(', ')} (session 1 ran ${cells + 1} cells; the others one)`);
    console.log(`container CPU per session (ms):            ${ended.map((e: any) => e.cpuMs).join(', ')}`);
    console.log(`load average: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  } finally {
    await s.stop();
  }
}
void main();
