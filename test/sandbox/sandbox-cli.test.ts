// `corral sandbox`, the operator's one-run tool, as an operator runs it: bin/corral in a process
// of its own, on the real sandbox. Its help shows the sandbox's own defaults, bad usage exits 2
// (never a run with a misread option), the image store is CORRAL_IMAGES_DIR as everywhere else,
// and a run leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LIMITS } from '../../worker/sandbox/spec.ts';
import { cgroupParentDirs } from '../../worker/sandbox/cgroups.ts';
import { ImageStore, DEFAULT_IMAGE_ROOT } from '../../rootfs-images/store.ts';
import { testHost } from '../helpers/sandbox.ts';

const CORRAL = fileURLToPath(new URL('../../bin/corral', import.meta.url));
const IMAGES_DIR = process.env.CORRAL_IMAGES_DIR || DEFAULT_IMAGE_ROOT;

type Ran = { code: number | null; stdout: string; stderr: string; pid: number };

function corralSandbox(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(CORRAL, ['sandbox', ...args], {
      env: { PATH: process.env.PATH ?? '', CORRAL_IMAGES_DIR: IMAGES_DIR, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr, pid: child.pid! }));
  });
}

/** What a process's sandbox host named after itself (`corral-<pid>-<start>-N`) and left behind. */
function leftoversOf(pid: number): string[] {
  const mine = (name: string) => name.startsWith(`corral-${pid}-`) || name.includes(`/corral-${pid}-`);
  const list = (dir: string) => { try { return readdirSync(dir); } catch { return []; } };
  const h = testHost();
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter(mine);
  const cgroups = cgroupParentDirs(h.cgroups).flatMap((d) => list(d).filter(mine).map((n) => join(d, n)));
  return [...mounts, ...cgroups, ...list(h.runsDir).filter(mine), ...list(h.volumesDir).filter(mine)];
}

test('--help shows the sandbox\'s own default limits', async () => {
  const r = await corralSandbox(['--help']);
  assert.equal(r.code, 0, r.stderr);
  const defaultOf = (option: string) => new RegExp(`^\\s+${option} \\S+\\s.*\\(default ([^)]+)\\)`, 'm').exec(r.stdout)?.[1];
  assert.equal(defaultOf('--time'), String(DEFAULT_LIMITS.cpuMs));
  assert.equal(defaultOf('--wall-time'), String(DEFAULT_LIMITS.wallMs));
  assert.equal(defaultOf('--processes'), String(DEFAULT_LIMITS.processes));
  assert.equal(defaultOf('--memory'), `${DEFAULT_LIMITS.memoryBytes / 2 ** 20}m`);
  assert.equal(defaultOf('--cpus'), String(DEFAULT_LIMITS.cpus));
});

test('bad usage exits 2 with the reason, before any run', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--env', 'FOO', '--', 'true'], /--env: 'FOO' is not K=V/],
    [['--env', '=x', '--', 'true'], /--env: '=x' is not K=V/],
    [['--time', 'soon', '--', 'true'], /--time: 'soon' is not a positive number/],
    [['--memory', 'lots', '--', 'true'], /--memory: 'lots' is not a size/],
    [['--file', 'nothing', '--', 'true'], /--file: 'nothing' is not PATH=SRC/],
    [['--cgroup-version', '3', '--', 'true'], /--cgroup-version: 1 or 2/],
    [['--no-such-option', '--', 'true'], /Unknown option '--no-such-option'/],
    [[], /no program given/],
  ];
  for (const [args, reason] of cases) {
    const r = await corralSandbox(args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, ${r.stderr}`);
    assert.match(r.stderr, reason, args.join(' '));
    assert.equal(r.stdout, '', `${args.join(' ')}: printed an outcome`);
  }
});

test('the image store is CORRAL_IMAGES_DIR', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'corral-cli-store-'));
  try {
    const r = await corralSandbox(['--image', 'busybox', '--', 'true'], { CORRAL_IMAGES_DIR: empty });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`image 'busybox' is not built in ${empty}`));
    assert.equal(r.stdout, '');
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('a run: every K=V reaches the program as given, the outcome is JSON, nothing is left behind', async (t) => {
  if (!(await new ImageStore(IMAGES_DIR).isBuilt('busybox'))) return t.skip(`the busybox image is not built in ${IMAGES_DIR} (./bin/corral images build busybox)`);
  const r = await corralSandbox(['--env', 'A=b=c', '--env', 'EMPTY=', '--', 'sh', '-c', 'echo "$A|$EMPTY|${LANG:-no LANG}"']);
  assert.equal(r.code, 0, r.stderr);
  const outcome = JSON.parse(r.stdout) as { status: string; exitCode: number; stdout: string };
  assert.equal(outcome.status, 'ok');
  assert.equal(outcome.exitCode, 0);
  // --env replaces the default environment (PATH, HOME, LANG=C.UTF-8): no LANG unless given.
  assert.equal(outcome.stdout, 'b=c||no LANG\n');
  assert.deepEqual(leftoversOf(r.pid), []);
});
