// The time namespace where the kernel allows it, and runs without it where it doesn't: Linux 5.6
// to 6.2 have time namespaces but refuse the init's CLONE_VM spawn into one (EINVAL), which made
// every run fail there (native/src/timens.c). The probe must say what the kernel does, and a host
// must run programs either way.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { SandboxHost } from '../../worker/sandbox/index.ts';
import { loadNative } from '../../worker/sandbox/native.ts';
import { busyboxLayers, snapshot } from '../helpers/sandbox.ts';

/** Whether this kernel is one that allows CLONE_VM beside a new time namespace (6.3 and later). */
function kernelAllowsVmSpawn(): boolean {
  const [major, minor] = release().split('.').map((n) => Number.parseInt(n, 10));
  return major > 6 || (major === 6 && minor >= 3);
}

const skip = !existsSync('/proc/self/ns/time') ? 'this kernel has no time namespaces (CONFIG_TIME_NS)' : false;

describe('time namespace probe', { skip }, () => {
  let layers: string[];
  let host: SandboxHost;
  let start: string;
  before(async () => {
    layers = await busyboxLayers();
    host = SandboxHost.open({});
    start = snapshot(host);
  });
  after(async () => {
    await host.close();
    assert.equal(snapshot(host), start, 'something was left behind');
  });

  it('answers what the kernel does, and the host uses the answer', () => {
    const usable = loadNative().timeNamespaceUsable();
    assert.equal(usable, kernelAllowsVmSpawn(), `probe said ${usable} on Linux ${release()}`);
    assert.equal(loadNative().timeNamespaceUsable(), usable, 'a second call answers the same (cached)');
    assert.equal(host.hasTimeNamespace, usable);
  });

  it('runs a program either way', async () => {
    const out = await host.run({ layers, argv: ['/bin/cat', '/proc/uptime'], limits: { cpuMs: 2000, wallMs: 5000 } });
    assert.equal(out.status, 'ok', JSON.stringify(out.failure ?? out.stderr));
    const uptimeS = Number.parseFloat(out.stdout.toString());
    assert.ok(Number.isFinite(uptimeS), `uptime ${out.stdout.toString()}`);
  });
});
