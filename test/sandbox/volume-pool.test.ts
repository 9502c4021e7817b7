// Warm job volumes: empty tmpfs volumes mounted ahead and used exactly once. A warm volume is
// as fresh as a cold one (empty, the requested size, owned as the sandbox expects), a written
// volume is never handed out again, and close() leaves no mount or directory behind.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync, statfsSync } from 'node:fs';
import { SandboxHost, type Volume } from '../../worker/sandbox/index.ts';
import { busyboxLayers, createVolume, fsTypeMountedAt, runInSandbox, snapshot } from '../helpers/sandbox.ts';

const MiB = 1024 * 1024;
let host: SandboxHost;
let layers: string[];
let before_: string;

/** Waits until the host has `n` warm volumes ready. */
async function warmed(n: number): Promise<void> {
  for (let i = 0; i < 500 && host.volumes!.stats().ready < n; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(host.volumes!.stats().ready >= n, `warm volumes never reached ${n}: ${JSON.stringify(host.volumes!.stats())}`);
}

describe('warm job volumes', () => {
  before(async () => {
    layers = await busyboxLayers();
    host = SandboxHost.open({ volumes: { perSize: 2, idleMs: 60_000 } });
    before_ = snapshot(host);
  });
  after(async () => {
    await host.close();
    await host.settle();
    assert.equal(snapshot(host), before_, 'a warm volume was left behind');
  });

  it('mounts cold on the first ask, then hands out warm ones of the asked size, empty and fresh', async () => {
    const first = await createVolume({ sizeBytes: 8 * MiB, host });
    assert.equal(host.volumes!.stats().misses, 1);
    await warmed(2);
    const second = await createVolume({ sizeBytes: 8 * MiB, host });
    assert.equal(host.volumes!.stats().hits, 1);
    for (const v of [first, second]) {
      assert.deepEqual(readdirSync(v.dir), []);
      assert.equal(statSync(v.dir).uid, host.sandboxHostId);
      const fs = statfsSync(v.mountPoint);
      assert.equal(fs.blocks * fs.bsize, 8 * MiB);
    }
    assert.notEqual(first.mountPoint, second.mountPoint);
    await first.destroy();
    await second.destroy();
  });

  it('never hands out a volume twice: what one run wrote is not seen by the next', async () => {
    await warmed(2);
    const seen = new Set<string>();
    const taken: Volume[] = [];
    for (let i = 0; i < 6; i++) {
      await warmed(1);
      const v = await createVolume({ sizeBytes: 8 * MiB, host });
      assert.ok(!seen.has(v.mountPoint), `volume ${v.mountPoint} handed out twice`);
      seen.add(v.mountPoint);
      const out = await runInSandbox({ layers, argv: ['sh', '-c', 'ls -A /box | wc -l; echo left-behind > /box/mark'], box: { dir: v.dir } }, host);
      assert.equal(out.status, 'ok');
      assert.equal(out.stdout.toString().trim(), '0', 'a warm volume held files');
      taken.push(v);
      await v.destroy(); // the run is over: its volume goes, and a fresh one is mounted for the set
    }
    assert.ok(host.volumes!.stats().hits >= 6);
    for (const v of taken) assert.equal(fsTypeMountedAt(v.mountPoint), undefined);
  });

  it('keeps a set per disk size', async () => {
    const small = await createVolume({ sizeBytes: 4 * MiB, host });
    const fs = statfsSync(small.mountPoint);
    assert.equal(fs.blocks * fs.bsize, 4 * MiB);
    await small.destroy();
    await warmed(3); // 2 of 8 MiB + at least one of 4 MiB
  });

  it('lets go of a size nobody asked for within the idle window', async () => {
    const quick = SandboxHost.open({ volumes: { perSize: 2, idleMs: 200 } });
    try {
      const v = await createVolume({ sizeBytes: 2 * MiB, host: quick });
      await v.destroy();
      for (let i = 0; i < 200 && quick.volumes!.stats().ready < 2; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(quick.volumes!.stats().ready, 2);
      for (let i = 0; i < 300 && quick.volumes!.stats().ready > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(quick.volumes!.stats().ready, 0, 'idle volumes were kept');
    } finally {
      await quick.close();
    }
  });
});
