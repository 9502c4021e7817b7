// The proc-view daemons (corral-procview and lxcfs) for real: started on a private mount point,
// their views read, killed with SIGKILL and seen down then restarted, a dead owner's leftover
// stopped, nothing left at close.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountedFsType, PROC_VIEW_FILES, PROCVIEW_BIN, ProcView, type ProcViewDaemon, type ProcViewEvent } from '../../worker/sandbox/proc-view.ts';

function skipFor(daemon: ProcViewDaemon): string | false {
  if (process.getuid?.() !== 0) return 'needs root (FUSE mount)';
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse';
  if (daemon === 'lxcfs' && spawnSync('lxcfs', ['--version']).error) return 'lxcfs is not installed (apt-get install lxcfs)';
  if (daemon === 'corral-procview' && !existsSync(PROCVIEW_BIN)) return `${PROCVIEW_BIN} is not built (apt-get install libfuse3-dev; make -C native)`;
  return false;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves with the first event `pick` accepts. */
function nextEvent(events: ProcViewEvent[], pick: (e: ProcViewEvent) => boolean): Promise<ProcViewEvent> {
  return new Promise((resolve) => {
    const poll = () => {
      const e = events.find(pick);
      if (e) resolve(e);
      else setTimeout(poll, 10);
    };
    poll();
  });
}

for (const daemon of ['corral-procview', 'lxcfs'] as const) describe(`proc view daemon: ${daemon}`, { skip: skipFor(daemon) }, () => {
  let base: string;
  before(() => { base = mkdtempSync(join(tmpdir(), 'corral-procview-')); });
  after(() => rmSync(base, { recursive: true, force: true }));

  it('serves every view from its mount, and close leaves no mount, process or pid file', async () => {
    const dir = join(base, 'serve');
    const view = await ProcView.start({ daemon, dir });
    const pid = view.pid!;
    try {
      assert.equal(view.healthy(), true);
      assert.equal(view.generation, 1);
      assert.match(mountedFsType(view.mountDir) ?? '', /^fuse/);
      assert.match(await readFile(join(view.mountDir, 'proc', 'meminfo'), 'utf8'), /^MemTotal:\s+\d+ kB$/m);
      for (const name of PROC_VIEW_FILES) assert.ok(existsSync(join(view.mountDir, 'proc', name)), name);
    } finally {
      await view.close();
    }
    assert.equal(view.healthy(), false);
    assert.equal(mountedFsType(view.mountDir), undefined);
    assert.equal(alive(pid), false);
    assert.equal(existsSync(view.pidFile), false);
  });

  // The timeout only guards against a hang (a restart that never comes); nothing is timed.
  it('sees a SIGKILLed daemon: unhealthy, its views fail (ENOTCONN), then a new daemon serves', { timeout: 120_000 }, async () => {
    const events: ProcViewEvent[] = [];
    // A long first pause: the dead mount can be looked at before the restart replaces it.
    const view = await ProcView.start({ daemon, dir: join(base, 'kill'), restartDelayMs: 3000, onChange: (e) => events.push(e) });
    try {
      const first = view.pid!;
      process.kill(first, 'SIGKILL');
      const down = await nextEvent(events, (e) => e.state === 'down');
      assert.match((down as { reason: string }).reason, /SIGKILL/);
      assert.equal(view.healthy(), false);
      await assert.rejects(readFile(join(view.mountDir, 'proc', 'meminfo'), 'utf8'), { code: 'ENOTCONN' });

      const up = await nextEvent(events, (e) => e.state === 'serving' && e.generation === 2);
      assert.notEqual((up as { pid: number }).pid, first);
      assert.equal(view.healthy(), true);
      assert.match(await readFile(join(view.mountDir, 'proc', 'meminfo'), 'utf8'), /^MemTotal:/);
      // One mount, not the new one stacked over the dead one.
      const stacked = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === view.mountDir);
      assert.equal(stacked.length, 1);
    } finally {
      await view.close();
    }
    assert.equal(mountedFsType(view.mountDir), undefined);
  });

  it('stops the daemon a dead owner left serving its directory, and takes over its mount', async () => {
    const dir = join(base, 'leftover');
    // The leftover: a daemon serving the directory with its pid file, whose owner is gone.
    mkdirSync(join(dir, 'mnt'), { recursive: true });
    const [bin, args] = daemon === 'lxcfs'
      ? ['lxcfs', ['-f', '-p', join(dir, 'daemon.pid'), join(dir, 'mnt')]]
      : [PROCVIEW_BIN, ['-f', '-o', 'allow_other', join(dir, 'mnt')]];
    const leftover = spawn(bin, args, { stdio: 'ignore', detached: true });
    leftover.unref();
    const leftoverPid = leftover.pid!;
    if (daemon !== 'lxcfs') writeFileSync(join(dir, 'daemon.pid'), `${leftoverPid}\n`);
    while (!mountedFsType(join(dir, 'mnt')) || !existsSync(join(dir, 'daemon.pid'))) await new Promise((r) => setTimeout(r, 20));
    const view = await ProcView.start({ daemon, dir });
    try {
      assert.equal(alive(leftoverPid), false);
      assert.notEqual(view.pid, leftoverPid);
      assert.equal(view.healthy(), true);
      assert.match(await readFile(join(view.mountDir, 'proc', 'uptime'), 'utf8'), /^\d+\.\d+ \d+\.\d+/);
    } finally {
      await view.close();
    }
    assert.equal(mountedFsType(view.mountDir), undefined);
  });

  it('fails closed at start: a daemon that serves nothing is an error and leaves no mount', async () => {
    const dir = join(base, 'broken');
    await assert.rejects(ProcView.start({ daemon, dir, bin: '/bin/false' }), /proc view: .*(exited at start|not served)/);
    assert.equal(mountedFsType(join(dir, 'mnt')), undefined);
  });

  it('a daemon that is not on PATH is reported by name', async () => {
    await assert.rejects(ProcView.start({ daemon, dir: join(base, 'missing'), bin: 'corral-no-such-daemon' }), /cannot start corral-no-such-daemon/);
  });
});
