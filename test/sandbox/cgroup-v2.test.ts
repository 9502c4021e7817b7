// The sandbox suite again, on cgroup v2: inside a throw-away User-Mode-Linux kernel whose only
// hierarchy is cgroup v2 (../shared/tools/cg2-kernel), or natively on a host that is cgroup v2.
// Skipped, with the reason printed, where neither is possible.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { detectCgroups } from '../../worker/sandbox/cgroups.ts';
import { tapFailures } from '../helpers/tap.ts';

const repo = resolve(import.meta.dirname, '../..');
const harness = resolve(repo, '../shared/tools/cg2-kernel/run-in-cg2-kernel.sh');
const suite = ['isolation', 'limits', 'lifecycle', 'volume', 'cgroups', 'pool', 'streaming', 'streaming-pool', 'shared-memory', 'proc-view', 'proc-view-run', 'proc-view-host', 'proc-view-cgroup', 'cpu-placement', 'connect', 'held', 'connect-transcript', 'time-namespace'].map((f) => `test/sandbox/${f}.test.ts`);
// FUSE is a module in the UML kernel: loaded when kmod's insmod is there, else the proc-view
// suites skip ("no /dev/fuse").
const loadFuse = 'insmod /usr/lib/uml/modules/$(uname -r)/kernel/fs/fuse/fuse.ko 2>/dev/null && { [ -e /dev/fuse ] || mknod /dev/fuse c 10 229; }; ';

function hostIsV2(): boolean {
  try {
    return detectCgroups('corral').version === 2;
  } catch {
    return false;
  }
}

function skipReason(): string | false {
  if (process.env.CG2_VM) return 'already inside the cg2 kernel';
  if (hostIsV2()) return 'this host is cgroup v2: the sandbox suite runs natively on it';
  if (!existsSync(harness)) return `no cgroup-v2 kernel harness at ${harness}`;
  if (!existsSync('/usr/bin/linux.uml')) return 'user-mode-linux is not installed (apt-get install user-mode-linux)';
  return false;
}

const reason = skipReason();
if (reason) console.log(`# cgroup v2 sandbox suite skipped: ${reason}`);

it('passes the sandbox suite on a pure cgroup v2 kernel', { skip: reason, timeout: 900_000 }, () => {
  const command = `${loadFuse}UV_THREADPOOL_SIZE=16 node --import tsx --test --test-concurrency=1 ${suite.join(' ')}`;
  const r = spawnSync(harness, ['-C', repo, '-t', '800', command], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const output = `${r.stdout}\n${r.stderr}`;
  const summary = output.split('\n').filter((l) => /^# (tests|pass|fail|skipped) /.test(l)).join(', ');
  console.log(`# cgroup v2 (UML): ${summary}`);
  assert.equal(r.status, 0, `the sandbox suite failed under cgroup v2:\n${tapFailures(output) || output.slice(-6000)}`);
  assert.match(output, /# fail 0/);
  assert.doesNotMatch(output, /# pass 0\b/);
});
