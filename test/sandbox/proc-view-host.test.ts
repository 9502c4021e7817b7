// A host with the truthful /proc on (host.startProcView): every container it builds shows its own
// memory limit; while the daemon is down no container is built (fail closed, a retriable host
// failure), warm containers built under a dead daemon are dropped, and close() leaves nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { SandboxHost } from '../../worker/sandbox/index.ts';
import { PROCVIEW_BIN } from '../../worker/sandbox/proc-view.ts';
import { busyboxLayers, snapshot } from '../helpers/sandbox.ts';

const skip = !existsSync(PROCVIEW_BIN) ? `${PROCVIEW_BIN} is not built (needs libfuse3-dev: apt-get install libfuse3-dev)`
  : !existsSync('/dev/fuse') ? 'no /dev/fuse on this host' : false;

describe('a host with the truthful /proc', { skip }, () => {
  let layers: string[];
  let host: SandboxHost;
  let start: string;
  before(async () => {
    layers = await busyboxLayers();
    host = SandboxHost.open({ pool: { maxWarm: 2, maxPerImage: 2 } });
    start = snapshot(host);
    await host.startProcView();
  });
  after(async () => {
    await host.close();
    assert.equal(snapshot(host), start, 'something was left behind');
    assert.deepEqual(readdirSync(host.procViewsDir).filter((n) => n.includes(host.tag)), [], 'the proc view directory was left behind');
  });

  const memTotal = async () => {
    const r = await host.run({ layers, argv: ['/bin/sh', '-c', 'grep MemTotal /proc/meminfo'], limits: { memoryBytes: 128 << 20 } });
    return r;
  };

  it('shows each container its own memory limit, cold and warm', async () => {
    for (let i = 0; i < 4; i++) {
      const r = await memTotal();
      assert.equal(r.status, 'ok', r.error ?? '');
      assert.match(r.stdout.toString(), /^MemTotal:\s+131072 kB$/m);
    }
  });

  it('builds no container while the daemon is down, and serves again once it is restarted', async () => {
    const view = (host as unknown as { procView: { pid?: number; generation: number; healthy(): boolean } }).procView;
    const before = view.generation;
    process.kill(view.pid!, 'SIGKILL');
    let refused: Awaited<ReturnType<typeof memTotal>> | undefined;
    for (let i = 0; i < 200 && view.generation === before; i++) {
      const r = await memTotal();
      if (r.status === 'internal_error') refused ??= r;
      // A container built before the daemon's death was noticed reads errors, never the host's values.
      assert.doesNotMatch(r.stdout.toString(), /^MemTotal:\s+(?!131072 kB)/m, 'never the host\'s values');
      await new Promise((res) => setTimeout(res, 10));
    }
    assert.ok(view.generation > before, 'the daemon was restarted');
    if (refused) {
      assert.equal(refused.failure?.code, 'host');
      assert.equal(refused.failure?.retriable, true);
    }
    const after = await memTotal();
    assert.equal(after.status, 'ok', after.error ?? '');
    assert.match(after.stdout.toString(), /^MemTotal:\s+131072 kB$/m);
  });
});
