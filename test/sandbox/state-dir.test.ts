// Two Corrals on one host: a host on another state directory gets its own cgroup parent, so
// neither sweeps nor counts the other's runs; and a live host sweeps a dead owner's leftovers
// periodically, not only when it opens.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SandboxHost } from '../../worker/sandbox/index.ts';
import { cgroupParentDirs } from '../../worker/sandbox/cgroups.ts';
import { defaultCgroupParent } from '../../worker/sandbox/host.ts';
import { busyboxLayers } from '../helpers/sandbox.ts';

describe('state directories', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'corral-state-'));
  const opened: SandboxHost[] = [];
  after(async () => {
    for (const h of opened) await h.close();
    for (const h of opened) for (const d of cgroupParentDirs(h.cgroups)) if (!d.endsWith('/corral')) try { rmdirSync(d); } catch { /* shared, or busy */ }
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('gives another state directory its own cgroup parent, and runs there', async () => {
    assert.equal(defaultCgroupParent('/var/lib/corral'), 'corral');
    assert.equal(defaultCgroupParent('/var/lib/corral/'), 'corral');
    assert.match(defaultCgroupParent(stateDir), /^corral-[0-9a-f]{12}$/);
    // mkdtemp made it 0700: refused with the reason, since no container could be set up there.
    assert.throws(() => SandboxHost.open({ stateDir }), /not searchable by others.*chmod o\+x/);
    chmodSync(stateDir, 0o755);
    const host = SandboxHost.open({ stateDir, sweepIntervalMs: 100 });
    opened.push(host);
    for (const dir of cgroupParentDirs(host.cgroups)) assert.ok(dir.endsWith(`/${defaultCgroupParent(stateDir)}`), dir);
    const r = await host.run({ layers: await busyboxLayers(), argv: ['true'] });
    assert.equal(r.status, 'ok', r.error ?? '');
    assert.ok(existsSync(join(stateDir, 'volumes')));
  });

  it('sweeps a dead owner\'s leftovers while it is open', async () => {
    const host = opened[0]!;
    // What a worker killed after this host opened leaves: a cgroup and a volume directory named
    // for an owner that does not exist (pid 2^22 - 1 is above any pid_max default).
    const dead = 'corral-4194303-1-7';
    const cgroups = cgroupParentDirs(host.cgroups).map((d) => join(d, dead));
    for (const d of cgroups) mkdirSync(d, { recursive: true });
    mkdirSync(join(host.volumesDir, dead));
    for (let i = 0; i < 100 && (cgroups.some(existsSync) || existsSync(join(host.volumesDir, dead))); i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(cgroups.filter(existsSync), [], 'a dead owner\'s cgroup survived the periodic sweep');
    assert.ok(!existsSync(join(host.volumesDir, dead)), 'a dead owner\'s volume directory survived the periodic sweep');
    assert.deepEqual(readdirSync(host.volumesDir).filter((n) => n.startsWith('corral-4194303-')), []);
  });
});
