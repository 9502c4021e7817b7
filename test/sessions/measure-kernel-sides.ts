// Where a `1+1` cell's kernel round trip is spent outside ipykernel (docs/sessions.md "The kernel's
// own round trip"), next to measure-kernel-roundtrip.py:
//   in-container  that Python driver (bridge mode) run inside a real sandbox container of the python
//                 image, this checkout's bridge copied into its /box: the container's own cost,
//                 against the same driver on the host
//   host-node     the worker's KernelChannel + executeCell with this checkout's bridge spawned on
//                 the host by child_process (Debian's /usr/bin/python3): Node's side without the
//                 sandbox, against test/sessions/measure-kernel.ts (the same through the sandbox)
// Figures are printed, never asserted; print the load with them.
//   UV_THREADPOOL_SIZE=32 node --import tsx test/sessions/measure-kernel-sides.ts [in-container|host-node] [cells=400]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { executeCell } from '../../worker/sessions/execute-cell.ts';
import { KernelChannel } from '../../worker/sessions/kernel-channel.ts';
import type { SandboxOutcome, StreamingRun } from '../../worker/sandbox/index.ts';
import { createVolume, testHost } from '../helpers/sandbox.ts';
import { kernelImage, type KernelImage } from './helpers.ts';

const mode = process.argv[2] ?? 'in-container';
const cells = Number(process.argv[3] ?? 400);
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const BRIDGE = new URL('../../rootfs-images/files/kernel-bridge.py', import.meta.url).pathname;
const DRIVER = new URL('./measure-kernel-roundtrip.py', import.meta.url).pathname;

async function inContainer(): Promise<void> {
  const image = kernelImage();
  if ('skip' in image) throw new Error(image.skip);
  const img = image as KernelImage;
  const host = testHost();
  const volume = await createVolume({ sizeBytes: 64 << 20, host });
  try {
    await volume.writeFile('measure-kernel-roundtrip.py', readFileSync(DRIVER));
    await volume.writeFile('kernel-bridge.py', readFileSync(BRIDGE));
    const o = await host.run({
      layers: img.layers,
      argv: ['python3', '/box/measure-kernel-roundtrip.py', 'bridge', '--cells', String(cells)],
      env: { ...img.env, KERNEL_BRIDGE: '/box/kernel-bridge.py' },
      box: { dir: volume.dir },
      cwd: '/box',
      limits: { wallMs: 300_000, cpuMs: 300_000, memoryBytes: 512 << 20, processes: 128 },
    });
    if (o.status !== 'ok') throw new Error(`the driver in the container: ${o.status} ${o.stderr.toString().slice(-1000)}`);
    // The bridge's CPU is not seen from inside (its pid is the container's): the kernel's is.
    for (const l of o.stdout.toString().split('\n').filter((x) => x.startsWith('bridge'))) console.log(`in-container ${l}`);
  } finally {
    await volume.destroy();
  }
}

async function hostNode(): Promise<void> {
  const channel = new KernelChannel({
    layers: [],
    box: { dir: '/tmp' },
    bridgeArgv: ['/usr/bin/python3', '-I', BRIDGE],
    stream: (spec, o): StreamingRun => {
      const p = spawn(spec.argv[0]!, spec.argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
      p.stdout.on('data', (c: Buffer) => o.onStdout(c));
      p.stderr.on('data', (c: Buffer) => o.onStderr(c));
      const outcome = new Promise<SandboxOutcome>((resolve) => p.on('exit', (code, signal) =>
        resolve({ status: code === 0 ? 'ok' : 'runtime_error', exitCode: code, signal } as unknown as SandboxOutcome)));
      return { write: (d) => p.stdin.write(d), end: () => p.stdin.end(), kill: (s) => p.kill(s as NodeJS.Signals), usage: () => undefined, outcome };
    },
  });
  try {
    await channel.ready;
    for (let i = 0; i < 30; i++) await executeCell(channel, '1+1');
    const xs: number[] = [];
    for (let i = 0; i < cells; i++) {
      const t = performance.now();
      const r = await executeCell(channel, '1+1');
      if (r.status !== 'ok') throw new Error(`1+1: ${JSON.stringify(r)}`);
      xs.push(performance.now() - t);
    }
    console.log(`host-node done p50 ${pct(xs, 0.5).toFixed(2)} ms  p90 ${pct(xs, 0.9).toFixed(2)}  min ${Math.min(...xs).toFixed(2)} (n=${cells})`);
  } finally {
    await channel.close();
  }
}

console.log(`load ${load()}`);
if (mode === 'in-container') await inContainer();
else if (mode === 'host-node') await hostNode();
else throw new Error(`unknown mode ${mode}`);
console.log(`load after ${load()}`);
process.exit(0);
