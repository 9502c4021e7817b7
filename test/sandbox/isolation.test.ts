// What a program inside the box can see and do: namespaces, ids, filesystem, /proc, /dev,
// network, capabilities, seccomp. Every test runs the real launcher on the real kernel.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { SandboxSpec } from '../../worker/sandbox/index.ts';
import { busyboxLayers, createVolume, expectNothingLeftBehind, hostNamespaces, NAMESPACES, processesInOurRuns, runInSandbox, testHost } from '../helpers/sandbox.ts';

let layers: string[];
const sh = (script: string, extra: Partial<SandboxSpec> = {}) =>
  runInSandbox({ layers, argv: ['/bin/sh', '-c', script], ...extra });

describe('isolation', () => {
  before(async () => {
    layers = await busyboxLayers();
  });
  expectNothingLeftBehind('a run left a mount, cgroup, directory or process behind');

  it('runs in its own pid namespace: a few small pids, the program is not pid 1, no host process visible', async () => {
    const r = await sh('echo self=$$; ls /proc | grep -E "^[0-9]+$" | tr "\\n" " "');
    assert.equal(r.status, 'ok', r.stderr.toString());
    const out = r.stdout.toString();
    const self = Number(/self=(\d+)/.exec(out)![1]);
    assert.ok(self > 1 && self < 10, `program pid ${self}`);
    const pids = out.split('\n')[1]!.trim().split(' ').map(Number);
    assert.ok(pids.every((p) => p < 20), `pids seen: ${pids}`);
    assert.ok(!pids.includes(1), 'the init (which shares the worker\'s memory) is hidden by hidepid');
    assert.ok(pids.length <= 4, `pids seen: ${pids}`);
  });

  it('is in a new namespace of every kind, time included where the kernel allows it', async () => {
    const host = hostNamespaces();
    // Linux 5.6–6.2 have time namespaces but refuse the init's spawn into one: the host goes without.
    if (!testHost().hasTimeNamespace) delete host.time;
    const r = await sh(NAMESPACES.map((ns) => `readlink /proc/self/ns/${ns} || echo ${ns}:absent`).join('; '));
    assert.equal(r.status, 'ok', r.stderr.toString());
    const inside = r.stdout.toString().trim().split('\n');
    for (const ns of NAMESPACES) {
      if (!host[ns]) continue;
      const line = inside.find((l) => l.startsWith(`${ns}:`));
      assert.ok(line, `no ${ns} namespace line in ${inside}`);
      assert.notEqual(line, host[ns], `${ns} namespace is the host's`);
    }
  });

  it('has its own hostname and domain-less uts namespace', async () => {
    const r = await sh('hostname; cat /etc/hostname', { hostname: 'judge-7' });
    assert.equal(r.stdout.toString(), 'judge-7\njudge-7\n');
  });

  it('sees only lo, up, and no route out', async () => {
    const r = await sh('cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "; ip link; echo routes:; ip route');
    const out = r.stdout.toString();
    assert.deepEqual(out.split('\n').slice(0, 1), ['lo']);
    assert.match(out, /1: lo: <LOOPBACK,UP/);
    assert.doesNotMatch(out, /^\d+: (?!lo)/m);
    assert.match(out, /routes:\n$/);
  });

  it('runs as uid/gid 1000 inside, which is an unprivileged uid on the host', async () => {
    const host = testHost();
    const r = await sh('id -u; id -g; grep -E "^(Uid|Gid)" /proc/self/status; cat /proc/self/uid_map');
    const [uid, gid, uidLine, gidLine, map] = r.stdout.toString().trim().split('\n');
    assert.equal(uid, '1000');
    assert.equal(gid, '1000');
    assert.match(uidLine!, /^Uid:\s+1000\s+1000\s+1000\s+1000$/);
    assert.match(gidLine!, /^Gid:\s+1000\s+1000\s+1000\s+1000$/);
    assert.deepEqual(map!.trim().split(/\s+/).map(Number), [0, host.idBase, 65536]);
    assert.ok(host.idBase >= 65536, 'container root maps onto an unprivileged host uid');

    // Seen from the host while it runs: the process's real uid is idBase + 1000.
    const running = sh('sleep 6');
    let hostUid: number | undefined;
    for (let i = 0; i < 250 && hostUid === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
      for (const pid of processesInOurRuns(host)) {
        // Only once it has exec'd: before that the launcher is still dropping privileges.
        let status: string;
        try {
          status = readFileSync(`/proc/${pid}/status`, 'utf8');
        } catch {
          continue; // gone between the listing and the read (a process of the previous run)
        }
        if (/^Name:\s+sleep$/m.test(status)) hostUid = Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
      }
    }
    await running;
    assert.equal(hostUid, host.idBase + 1000);
  });

  it('has no capabilities, no_new_privs, and a seccomp filter', async () => {
    const r = await sh('grep -E "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):" /proc/self/status');
    const fields = Object.fromEntries(r.stdout.toString().trim().split('\n').map((l) => l.split(/:\s+/)));
    for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.equal(fields[cap], '0000000000000000', cap);
    assert.equal(fields.NoNewPrivs, '1');
    assert.equal(fields.Seccomp, '2');
  });

  it('refuses namespace creation, mounts and ptrace through seccomp', async () => {
    const r = await sh('unshare -U true; echo unshare=$?; mount -t tmpfs x /tmp; echo mount=$?; unshare -n true; echo net=$?');
    const out = r.stdout.toString() + r.stderr.toString();
    assert.match(out, /unshare=1/);
    assert.match(out, /mount=(1|255)/);
    assert.match(out, /net=1/);
    assert.match(out, /Operation not permitted/);
  });

  it('has a read-only image, a writable /tmp that is gone on the next run, and a /box that keeps files', async () => {
    const volume = await createVolume({ sizeBytes: 8 << 20 });
    try {
      const first = await sh('touch /usr/x 2>&1 || echo usr-refused; touch /etc/x 2>&1 || echo etc-refused; echo one > /tmp/t && cat /tmp/t; echo kept > /box/k', { box: { dir: volume.dir } });
      assert.equal(first.status, 'ok', first.stderr.toString());
      const out = first.stdout.toString();
      assert.match(out, /usr-refused/);
      assert.match(out, /etc-refused/);
      assert.match(out, /one/);
      const second = await sh('ls /tmp; cat /box/k', { box: { dir: volume.dir } });
      assert.equal(second.stdout.toString(), 'kept\n');
      assert.equal((await volume.readFile('k', 100))?.data.toString(), 'kept\n');
    } finally {
      await volume.destroy();
    }
  });

  it('limits the writable layer to the disk size', async () => {
    const r = await sh('dd if=/dev/zero of=/tmp/big bs=1M count=20 2>&1; echo rc=$?', { limits: { diskBytes: 4 << 20, memoryBytes: 256 << 20 } });
    assert.match(r.stdout.toString(), /No space left on device/);
  });

  it('mounts a fresh read-only /proc with sensitive files masked and no /sys', async () => {
    const r = await sh('echo x > /proc/sys/kernel/hostname 2>&1 || echo proc-ro; wc -c < /proc/timer_list; ls /proc/acpi | wc -l; ls /sys 2>&1 | wc -l');
    const lines = r.stdout.toString().trim().split('\n');
    assert.ok(lines.some((l) => l.includes('proc-ro')), lines.join('|'));
    assert.deepEqual(lines.slice(-3).map((l) => l.trim()), ['0', '0', lines.at(-1)!.trim()]);
    const sys = await sh('ls -A /sys 2>/dev/null | wc -l');
    assert.equal(sys.stdout.toString().trim(), '0');
  });

  it('masks /proc directories with empty, read-only, nosuid, nodev, noexec mounts', async () => {
    const dirs = ['acpi', 'irq', 'bus', 'fs', 'sysvipc', 'driver', 'tty', 'scsi'];
    const r = await sh(`for d in ${dirs.join(' ')}; do [ -d /proc/$d ] || continue; echo "$d $(ls -A /proc/$d | wc -l) $(grep " /proc/$d " /proc/self/mountinfo | cut -d" " -f6)"; done`);
    const rows = r.stdout.toString().trim().split('\n').map((l) => l.trim().split(/\s+/));
    assert.ok(rows.length >= 5, `too few of ${dirs.join(', ')} exist here: ${r.stdout}`);
    for (const [dir, entries, options] of rows) {
      assert.equal(entries, '0', `/proc/${dir} shows entries`);
      assert.deepEqual(options!.split(',').filter((o) => ['ro', 'nosuid', 'nodev', 'noexec'].includes(o)).sort(), ['nodev', 'noexec', 'nosuid', 'ro'], `/proc/${dir}: ${options}`);
    }
  });

  it('offers a minimal /dev: null, zero, full, random, urandom, shm; nothing can be created there', async () => {
    const r = await sh('ls /dev | tr "\\n" " "; echo; head -c 4 /dev/zero | wc -c; echo x > /dev/full || echo full-refused; touch /dev/new 2>/dev/null || echo dev-ro; echo s > /dev/shm/s && cat /dev/shm/s');
    const [names, zero, ...rest] = r.stdout.toString().trim().split('\n');
    assert.deepEqual(names!.trim().split(' ').sort(), ['fd', 'full', 'null', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'urandom', 'zero']);
    assert.equal(zero, '4');
    assert.deepEqual(rest, ['full-refused', 'dev-ro', 's']);
  });

  it('starts from a clean environment and the given one only', async () => {
    process.env.CORRAL_TEST_SECRET = 'leak';
    const r = await runInSandbox({ layers, argv: ['env'], env: { A: '1', PATH: '/usr/bin:/bin' } });
    delete process.env.CORRAL_TEST_SECRET;
    assert.deepEqual(r.stdout.toString().trim().split('\n').sort(), ['A=1', 'PATH=/usr/bin:/bin']);
  });

  it('closes every descriptor but stdio', async () => {
    const r = await sh('ls /proc/self/fd | tr "\\n" " "');
    // 0 1 2, plus the one ls itself has open on the directory
    assert.deepEqual(r.stdout.toString().trim().split(' ').map(Number).filter((fd) => fd > 3), []);
  });

  it('runs in its own cgroup namespace rooted at the run\'s cgroup', async () => {
    const r = await sh('cat /proc/self/cgroup');
    for (const line of r.stdout.toString().trim().split('\n')) {
      const path = line.split(':')[2];
      assert.equal(path, '/', line);
    }
  });
});
