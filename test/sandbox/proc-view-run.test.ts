// A truthful /proc through the real sandbox: corral-procview's files bound over the container's
// /proc (spec.proc_view_dir) describe the run's own limits, live; a dead daemon fails the run's
// setup instead of showing the host.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNative, type NativeOutcome } from '../../worker/sandbox/native.ts';
import { nativeSpecFor } from '../../worker/sandbox/spec.ts';
import { toOutcome } from '../../worker/sandbox/outcome.ts';
import { PROCVIEW_BIN, ProcView, type ProcViewEvent } from '../../worker/sandbox/proc-view.ts';
import type { SandboxLimits, SandboxOutcome } from '../../worker/sandbox/types.ts';
import { ImageStore } from '../../rootfs-images/store.ts';
import { busyboxLayers, expectNothingLeftBehind, slowHostLimits, testHost } from '../helpers/sandbox.ts';

const MiB = 1024 * 1024;
const skip = process.getuid?.() !== 0 ? 'needs root'
  : !existsSync('/dev/fuse') ? 'no /dev/fuse'
  : !existsSync(PROCVIEW_BIN) ? `${PROCVIEW_BIN} is not built (apt-get install libfuse3-dev; make -C native)`
  : false;

/** A cold run (corral_run) with the view bound, or with viewDir null, without. */
async function runWithView(layers: string[], script: string, limits: Partial<SandboxLimits>, viewDir: string | null): Promise<SandboxOutcome> {
  const out: Partial<NativeOutcome> = {};
  const spec = { ...nativeSpecFor({ layers, argv: ['/bin/sh', '-c', script], limits: { ...slowHostLimits(), ...limits } }, testHost()), proc_view_dir: viewDir };
  await loadNative().run(spec, out);
  return toOutcome(out as NativeOutcome);
}

function field(text: string, key: string): number {
  const m = new RegExp(`^${key.replace(/[()]/g, '\\$&')}:\\s+(\\d+) kB$`, 'm').exec(text);
  assert.ok(m, `${key} in\n${text}`);
  return Number(m[1]);
}

describe('a truthful /proc inside a run', { skip }, () => {
  let base: string;
  let view: ProcView;
  let layers: string[];
  const limits = { memoryBytes: 128 * MiB, cpus: 1 };
  before(async () => {
    layers = await busyboxLayers();
    testHost();
    base = mkdtempSync(join(tmpdir(), 'corral-procview-run-'));
    // The container's root (an unprivileged host uid) binds from here: every directory on the way must be searchable.
    chmodSync(base, 0o755);
    view = await ProcView.start({ dir: join(base, 'view') });
  });
  after(async () => {
    await view?.close();
    rmSync(base, { recursive: true, force: true });
  });
  expectNothingLeftBehind();

  it('meminfo, cpuinfo, stat, uptime and swaps describe the run (memoryMb 128, cpus 1), read-only', async () => {
    const script = 'cat /proc/meminfo; echo @@; cat /proc/cpuinfo; echo @@; cat /proc/stat; echo @@; cat /proc/uptime; echo @@; cat /proc/swaps; echo @@;'
      + ' grep " /proc/meminfo " /proc/self/mountinfo; echo @@; echo x > /proc/meminfo 2>/dev/null && echo writable || echo refused';
    const startedMs = performance.now();
    const r = await runWithView(layers, script, limits, view.mountDir);
    const elapsedS = (performance.now() - startedMs) / 1000;
    assert.equal(r.status, 'ok', `${r.error ?? ''} ${r.stderr.toString()}`);
    const [meminfo, cpuinfo, stat, uptime, swaps, mountinfo, write] = r.stdout.toString().split('@@\n');
    assert.equal(field(meminfo!, 'MemTotal'), 128 * 1024);
    assert.ok(field(meminfo!, 'MemFree') <= 128 * 1024 && field(meminfo!, 'MemAvailable') <= 128 * 1024);
    assert.equal(field(meminfo!, 'SwapTotal'), 0);
    assert.equal(cpuinfo!.match(/^processor\s*:/gm)?.length, 1);
    assert.match(cpuinfo!, /^processor\t: 0$/m);
    assert.deepEqual(stat!.match(/^cpu\d*/gm), ['cpu', 'cpu0']);
    // The container started after this test asked for it: its uptime is within the call's time.
    const [up] = uptime!.trim().split(' ').map(Number);
    assert.ok(up! >= 0 && up! <= elapsedS + 0.01, `uptime ${up} s, the run took ${elapsedS} s`);
    assert.equal(swaps!.trim().split('\n').length, 1, swaps);
    assert.match(mountinfo!, / \/proc\/meminfo ro,.* - fuse\.corral-procview /);
    assert.equal(write!.trim(), 'refused');
  });

  it('without a view the same run sees the host (the view is what changes it)', async () => {
    const r = await runWithView(layers, 'cat /proc/meminfo', limits, null);
    assert.equal(r.status, 'ok', r.error ?? '');
    assert.equal(field(r.stdout.toString(), 'MemTotal'), field(readFileSync('/proc/meminfo', 'utf8'), 'MemTotal'));
  });

  it('values are live: MemFree falls and Shmem grows as the program fills 32 MiB of /dev/shm', async () => {
    const r = await runWithView(layers, 'cat /proc/meminfo; echo @@; head -c 33554432 /dev/zero > /dev/shm/fill; cat /proc/meminfo', limits, view.mountDir);
    assert.equal(r.status, 'ok', `${r.error ?? ''} ${r.stderr.toString()}`);
    const [before, afterFill] = r.stdout.toString().split('@@\n');
    assert.ok(field(before!, 'MemFree') - field(afterFill!, 'MemFree') >= 30 * 1024, `${before}\n---\n${afterFill}`);
    assert.ok(field(afterFill!, 'Shmem') >= 32 * 1024);
  });

  it('cpus: 2 shows two CPUs where the host has them', { skip: availableParallelism() < 2 ? 'one CPU' : false }, async () => {
    const r = await runWithView(layers, 'grep -c ^processor /proc/cpuinfo; grep -c "^cpu[0-9]" /proc/stat', { ...limits, cpus: 2 }, view.mountDir);
    assert.equal(r.status, 'ok', r.error ?? '');
    assert.equal(r.stdout.toString(), '2\n2\n');
  });

  it('python: os.cpu_count() is the run\'s (sched_getaffinity is not: that needs a cpuset)', async (t) => {
    let python: string[];
    try {
      python = (await new ImageStore().resolve('python')).layerDirs;
    } catch {
      t.skip('the python image is not built (./bin/corral images build python)');
      return;
    }
    const r = await runWithView(python, 'python3 -c "import os;print(os.cpu_count(), len(os.sched_getaffinity(0)))"', limits, view.mountDir);
    assert.equal(r.status, 'ok', `${r.error ?? ''} ${r.stderr.toString()}`);
    const [count, affinity] = r.stdout.toString().trim().split(' ').map(Number);
    assert.equal(count, 1);
    t.diagnostic(`sched_getaffinity: ${affinity} CPUs (the host's; a cpuset would make it 1)`);
  });

  // The timeout only guards against a hang (a restart that never comes); nothing is timed.
  it('fails closed: with the daemon dead a run fails at setup and never sees the host; after the restart runs see the view again', { timeout: 120_000 }, async () => {
    const events: ProcViewEvent[] = [];
    const dir = join(base, 'fail-closed');
    const dying = await ProcView.start({ dir, restartDelayMs: 3000, onChange: (e) => events.push(e) });
    try {
      process.kill(dying.pid!, 'SIGKILL');
      while (!events.some((e) => e.state === 'down')) await new Promise((r) => setTimeout(r, 10));
      assert.equal(dying.healthy(), false);
      // Either the bind fails at setup (6.18 here) or, when the kernel still has the file's dentry
      // cached (6.1 under UML), the bind succeeds and every read fails: never the host's values.
      const r = await runWithView(layers, 'cat /proc/meminfo', limits, dying.mountDir);
      if (r.status === 'internal_error') {
        assert.match(r.error ?? '', /container setup: bind .*\/proc\/meminfo.*Transport endpoint is not connected/);
      } else {
        assert.equal(r.status, 'runtime_error');
        assert.match(r.stderr.toString(), /not connected/i);
      }
      assert.equal(r.stdout.length, 0);

      while (!dying.healthy()) await new Promise((r) => setTimeout(r, 20));
      const again = await runWithView(layers, 'cat /proc/meminfo', limits, dying.mountDir);
      assert.equal(again.status, 'ok', again.error ?? '');
      assert.equal(field(again.stdout.toString(), 'MemTotal'), 128 * 1024);
    } finally {
      await dying.close();
    }
  });
});
