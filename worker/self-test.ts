// The sandbox self-test a worker runs at start (and reports in its heartbeat for /readyz):
// `echo` in the busybox image must print what it was given.
import type { Launcher } from './launcher.ts';

export async function sandboxSelfTest(launcher: Launcher, imagesDir: string): Promise<void> {
  const { ImageStore } = await import('../rootfs-images/store.ts');
  const image = await new ImageStore(imagesDir).resolve('busybox');
  const out = await launcher.run({
    layers: image.layerDirs,
    argv: ['echo', 'corral-self-test'],
    env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
    limits: { cpuMs: 2_000, wallMs: 10_000 },
  });
  if (out.status !== 'ok' || out.exitCode !== 0 || out.stdout.toString() !== 'corral-self-test\n') {
    throw new Error(`sandbox self-test: echo in busybox gave status ${out.status}, exit ${out.exitCode}${out.error ? `: ${out.error}` : ''}`);
  }
}
