// Where the CPU of a `1+1` cell goes, process by process, through the whole stack (HTTP → API →
// the worker's local path → sandbox → kernel bridge → ipykernel and back): the figures behind
// docs/sessions.md "A cell's CPU". Printed, never asserted (the machine is shared; print the load).
//   node --import tsx test/sessions/measure-cell-cpu.ts [cells=500]
// The stack runs in a process of its own (loadtest/stack.ts), as in bench:session; this process
// is the HTTP client. CPU is read from /proc (the stack's threads, the embedded Redis) and from
// the session's own record (its container's CPU: the bridge and the kernel).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpClient } from '../../loadtest/http-client.ts';
import { forkStack } from '../../loadtest/stack.ts';

const cells = Number(process.argv[2] ?? 500);
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const TICK_MS = 10; // USER_HZ = 100 on Linux

/** utime + stime of a process (all its threads) or of one thread, ms. */
function cpuMsOf(statPath: string): number {
  const raw = readFileSync(statPath, 'utf8');
  const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}
/** Each thread's CPU, by "tid name". */
function threadsCpuMs(pid: number): Map<string, number> {
  const m = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const raw = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      m.set(`${tid} ${raw.slice(raw.indexOf('(') + 1, raw.lastIndexOf(')'))}`, cpuMsOf(`/proc/${pid}/task/${tid}/stat`));
    } catch { /* the thread ended */ }
  }
  return m;
}

const dir = mkdtempSync(join(tmpdir(), 'corral-cell-cpu-'));
const stack = await forkStack({
  CORRAL_PORT: '0', CORRAL_LOG_LEVEL: 'warn', CORRAL_DATA_DIR: join(dir, 'data'), CORRAL_SESSION_SLOTS: '2', CORRAL_SESSION_WARM_KERNELS: '0',
}, join(dir, 'stack.log'));
try {
  const http = httpClient(stack.url, 300_000);
  const s = (await http.request('POST', '/v1/sessions', { language: 'python' })).body as { id: string };
  if (!s.id) throw new Error(`no session: ${JSON.stringify(s)}`);
  const cell = () => http.request('POST', `/v1/sessions/${s.id}/execute`, { code: '1+1' });
  const sessionCpuMs = async () => Number(((await http.request('GET', `/v1/sessions/${s.id}`)).body as { cpuMs: number }).cpuMs);
  for (let i = 0; i < 50; i++) await cell(); // warm-up
  console.log(`load before: ${load()}; ${cells} cells`);
  const stack0 = cpuMsOf(`/proc/${stack.pid}/stat`);
  const threads0 = threadsCpuMs(stack.pid);
  const redis0 = stack.redisPid ? cpuMsOf(`/proc/${stack.redisPid}/stat`) : NaN;
  const container0 = await sessionCpuMs();
  const client0 = process.cpuUsage();
  const wall: number[] = [];
  for (let i = 0; i < cells; i++) {
    const t0 = performance.now();
    const r = await cell();
    wall.push(performance.now() - t0);
    if (r.status !== 200) throw new Error(`cell ${i}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  }
  const client = process.cpuUsage(client0);
  const container = await sessionCpuMs() - container0;
  const stackMs = cpuMsOf(`/proc/${stack.pid}/stat`) - stack0;
  const threads1 = threadsCpuMs(stack.pid);
  const redis = stack.redisPid ? cpuMsOf(`/proc/${stack.redisPid}/stat`) - redis0 : NaN;
  const per = (x: number) => `${(x / cells).toFixed(2)} ms`;
  const [mainTid] = [...threads1.keys()].sort((a, b) => Number(a.split(' ')[0]) - Number(b.split(' ')[0]));
  const main = (threads1.get(mainTid!) ?? 0) - (threads0.get(mainTid!) ?? 0);
  wall.sort((a, b) => a - b);
  console.log(`cell wall p50 ${wall[cells >> 1]!.toFixed(2)} ms, min ${wall[0]!.toFixed(2)} ms (load after: ${load()})`);
  console.log('CPU per cell:');
  console.log(`  the session's container (bridge + ipykernel, its cgroup): ${per(container)}`);
  console.log(`  the stack process (API + worker), all threads:             ${per(stackMs)}  (main thread ${per(main)}, the others ${per(stackMs - main)})`);
  console.log(`  the embedded Redis:                                        ${per(redis)}`);
  console.log(`  this HTTP client:                                          ${per((client.user + client.system) / 1000)}`);
  console.log(`  total:                                                     ${per(container + stackMs + redis + (client.user + client.system) / 1000)}`);
  await http.request('DELETE', `/v1/sessions/${s.id}`);
} finally {
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
}
