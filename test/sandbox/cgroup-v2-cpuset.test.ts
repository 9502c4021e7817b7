// CPU placement on cgroup v2 (docs/sandbox.md#cpu-placement): the placement suite
// (test/sandbox/cpu-placement.test.ts — cpus 1 and 2 by every count, Python, Node, the host's view
// of each run's cgroup, held containers' programs, the warm pool, placement off, nothing left
// behind) inside a throw-away qemu guest (../shared/tools/cg2-kernel, `--vm qemu`: Debian's 6.1
// kernel, pure cgroup v2 with the cpuset controller, 2 vCPUs). The User-Mode-Linux kernel of
// cgroup-v2.test.ts cannot do this: it has one CPU and no cpuset controller. Booted once for the
// whole file. Skipped, with the reason printed, where qemu, busybox-static or the kernel are
// missing or the guest cannot boot.
//
// Run alone, after the rest of the suite: scripts/test.sh (npm test) runs every file with
// CORRAL_TEST_QEMU=0 (this one skips, saying so), then this file with CORRAL_TEST_QEMU=1; alone:
// `npm run test:cgroup-v2-cpuset`. The guest's CPUs are emulated, so its time follows the host's
// load — 80–110 s alone on the 2-core development VM, but more than 6 minutes (the guest's timeout)
// beside the other files and the UML suite, where Node's start-up in a run alone took 17 s.
//
// A suite whose node dies by a signal outside Corral's code (the guest's dmesg, printed on a
// failure, does not name libcorral.so) gets one more boot, said in the output (emulatorCrash).
//
// qemu runs with TCG (software emulation): /dev/kvm on the development machine is nested and
// stock kernels do not run under it (qemu aborts on an MSR or the guest hangs), so no KVM.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { detectCgroups } from '../../worker/sandbox/cgroups.ts';
import { tapFailures } from '../helpers/tap.ts';

const repo = resolve(import.meta.dirname, '../..');
const harness = resolve(repo, '../shared/tools/cg2-kernel/run-in-cg2-kernel.sh');
/** The guest's kernel and initramfs, made once (the kernel .deb fetched with apt-get download,
 * ~100 MB unpacked) and kept across runs; the harness's own default is beside it, read-only here. */
const qemuCache = process.env.CG2_QEMU_CACHE ?? '/var/cache/corral/cg2-qemu';
const suite = ['test/sandbox/cpu-placement.test.ts'];
/** The guest must be what this test is for: cgroup v2 only, with cpuset for the runs, 2 CPUs. */
const CHECK_GUEST = 'test "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs && grep -qw cpuset /sys/fs/cgroup/cgroup.subtree_control && '
  + 'test "$(nproc)" = 2 && echo "# guest: cgroup v2 with cpuset, $(nproc) CPUs, $(uname -r)" || { echo "# guest: not cgroup v2 with cpuset on 2 CPUs"; exit 3; }';

function hostIsV2(): boolean {
  try {
    return detectCgroups('corral').version === 2;
  } catch {
    return false;
  }
}

function onPath(program: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((dir) => existsSync(`${dir}/${program}`));
}

function skipReason(): string | false {
  if (process.env.CG2_VM) return 'already inside a cg2 kernel';
  if (process.env.CORRAL_TEST_QEMU !== '1') return 'runs alone after the suite (scripts/test.sh sets CORRAL_TEST_QEMU=1 for it; alone: npm run test:cgroup-v2-cpuset)';
  if (process.getuid?.() !== 0) return 'needs root';
  if (hostIsV2()) return 'this host is cgroup v2: test/sandbox/cpu-placement.test.ts runs natively on it';
  if (!existsSync(harness)) return `no cgroup-v2 kernel harness at ${harness}`;
  if (!onPath('qemu-system-x86_64')) return 'qemu is not installed (apt-get install qemu-system-x86: ~20 MB, ~25 s)';
  if (!existsSync('/bin/busybox')) return 'busybox-static is not installed (the guest\'s initramfs is built from it)';
  return false;
}

const reason = skipReason();
if (reason) console.log(`# cgroup v2 CPU placement (qemu) skipped: ${reason}`);

/**
 * Lines the guest's kernel logged for a crash (a segfault, a general protection fault, a trap),
 * printed after the suite when it failed: they name the object the fault was in (Corral's
 * libcorral.so, or node itself).
 */
const CRASH_LINES = `dmesg | grep -E 'segfault|general protection|traps:' | tail -n 8 | sed 's/^/# guest kernel: /'`;

/**
 * The guest's CPU model: the harness asks qemu for `-cpu max`, and these options come after it (the
 * last `-cpu` wins). The suite's node died by SIGSEGV under `-cpu max` in some boots (see
 * emulatorCrash), never in Corral's code. This machine's qemu (7.2) is the first whose software
 * CPU offers AVX/AVX2, which node picks at run time when CPUID shows them (V8, simdutf); a model
 * without AVX takes that new emulation out of the way. A suspicion, not a proof: the crash is too
 * rare to show its cause in a few boots. What the suite checks (cpusets, cgroup v2) does not
 * depend on the model. CG2_QEMU_OPTS set in the environment replaces this.
 */
const GUEST_CPU_OPTS = '-cpu Nehalem';

/** The harness's output (stdout, then stderr) and exit status for one boot running `command`. */
function runGuest(command: string): { status: number | null; output: string } {
  // -t: the guest's own timeout (the harness kills the VM 60 s after it); the test's is above.
  // Output to write-only files: qemu writes its serial consoles to the harness's fds 3/4 through
  // /dev/fdset, which hands out only a descriptor of the access mode asked for (O_WRONLY) — the
  // read-write socket pairs node gives a child for its stdio are refused (EACCES).
  const dir = mkdtempSync(join(tmpdir(), 'corral-cg2-qemu-'));
  try {
    const out = openSync(join(dir, 'out'), 'w');
    const err = openSync(join(dir, 'err'), 'w');
    let status: number | null;
    try {
      status = spawnSync(harness, ['--vm', 'qemu', '--cpus', '2', '--module', 'fuse', '-C', repo, '-t', '600', command], {
        stdio: ['ignore', out, err], env: { ...process.env, CG2_QEMU_CACHE: qemuCache, CG2_QEMU_OPTS: process.env.CG2_QEMU_OPTS ?? GUEST_CPU_OPTS },
      }).status;
    } finally {
      closeSync(out);
      closeSync(err);
    }
    return { status, output: `${readFileSync(join(dir, 'out'), 'utf8')}\n${readFileSync(join(dir, 'err'), 'utf8')}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The suite's process in the guest was killed by a fault outside Corral's own code: node under
 * qemu's software CPU (TCG) — seen in a CI run after the whole suite (SIGSEGV 13 s in) and once
 * more in nine boots alone, unexplained so far. A fault in libcorral.so is never this.
 */
/** Boots at most, when node in the guest dies outside Corral's code (two crashed boots in a row were seen in one CI run). */
const GUEST_BOOTS_MAX = 3;

function emulatorCrash(output: string): boolean {
  return /signal: 'SIG(SEGV|BUS|ILL)'/.test(output) && !/^# guest kernel: .*libcorral/m.test(output);
}

it('places runs and held programs on their CPUs on a pure cgroup v2 kernel with cpuset (qemu)', { skip: reason, timeout: 1_440_000 }, (t) => {
  mkdirSync(qemuCache, { recursive: true });
  const command = `${CHECK_GUEST} && { UV_THREADPOOL_SIZE=16 node --import tsx --test --test-concurrency=1 ${suite.join(' ')}; s=$?; `
    + `[ $s -eq 0 ] || ${CRASH_LINES}; exit $s; }`;
  let r = runGuest(command);
  for (let boot = 2; boot <= GUEST_BOOTS_MAX && r.status !== 0 && emulatorCrash(r.output); boot++) {
    // Said, not hidden: each crashed boot and its kernel lines, then one more boot; the last
    // boot's result alone decides.
    const crash = r.output.split('\n').filter((l) => /^# guest kernel: |signal: /.test(l.trim())).join('; ');
    console.log(`# cgroup v2 CPU placement (qemu): the suite's node died by a signal outside Corral's code (${crash}); boot ${boot} of at most ${GUEST_BOOTS_MAX}`);
    t.diagnostic(`boot ${boot - 1}: node died by a signal outside Corral's code (${crash}); booting again`);
    r = runGuest(command);
  }
  const { status, output } = r;
  // 125: the harness itself failed — no kernel to fetch, qemu could not start, the guest did not
  // boot. Nothing of Corral ran: a skip with the harness's words, not a failure.
  if (status === 125 && !output.includes('TAP version')) {
    const why = output.split('\n').filter((l) => /^(run-in-cg2-kernel|qemu)/.test(l)).join('; ') || output.trim().slice(-500);
    console.log(`# cgroup v2 CPU placement (qemu) skipped: the VM did not boot: ${why}`);
    return t.skip(`the VM did not boot: ${why}`);
  }
  const summary = output.split('\n').filter((l) => /^# (guest:|tests|pass|fail|skipped) /.test(l)).join(', ');
  console.log(`# cgroup v2 + cpuset (qemu): ${summary}`);
  const crashLines = output.split('\n').filter((l) => l.startsWith('# guest kernel: ')).join('\n');
  assert.equal(status, 0, `the placement suite failed under cgroup v2 (qemu):\n${tapFailures(output) || output.slice(-6000)}\n${crashLines}`);
  assert.match(output, /^# guest: cgroup v2 with cpuset, 2 CPUs/m);
  assert.doesNotMatch(output, /CPU placement suite skipped/, 'the placement suite must run, not skip, in the guest');
  assert.match(output, /^# fail 0$/m);
  // Placement on v2 itself, by name: one CPU per run, two, the run's v2 cgroup, held programs, the pool.
  for (const name of ['cpus 1 on one CPU', 'cpus 2 on two CPUs sees 2', 'the host sees the run\'s CPUs in its cgroup',
    'every program runs on the hold\'s CPUs', 'the worker\'s placing hold', 'a pooled container takes its job\'s CPUs', 'placement off']) {
    assert.match(output, new RegExp(`^\\s*ok \\d+ - ${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'), `"${name}" did not pass in the guest`);
  }
});
