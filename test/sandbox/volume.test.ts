// Copy-in and copy-out of job volumes treat every byte the sandbox wrote as hostile: planted
// symlinks (to files or directories), FIFOs and device-like files are never followed or opened.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectFiles, SandboxError, type Volume } from '../../worker/sandbox/index.ts';
import { checkRelative, COLLECT_WALK_MAX_DEPTH, COLLECT_WALK_MAX_ENTRIES, globToRegExp, mountVolume } from '../../worker/sandbox/volume.ts';
import { loadNative } from '../../worker/sandbox/native.ts';
import { busyboxLayers, createVolume, expectNothingLeftBehind, fsTypeMountedAt, runInSandbox, testHost } from '../helpers/sandbox.ts';

let layers: string[];
const caps = { maxFiles: 100, maxFileBytes: 1 << 20, maxTotalBytes: 4 << 20 };

describe('job volumes', () => {
  let secretDir: string;
  before(async () => {
    layers = await busyboxLayers();
    secretDir = mkdtempSync(join(tmpdir(), 'corral-secret-'));
    writeFileSync(join(secretDir, 'secret'), 'host secret\n');
  });
  after(() => rmSync(secretDir, { recursive: true, force: true }));
  expectNothingLeftBehind();

  async function withVolume(fn: (v: Volume) => Promise<void>) {
    const v = await createVolume({ sizeBytes: 4 << 20 });
    try {
      await fn(v);
    } finally {
      await v.destroy();
    }
  }

  it('makes a volume in one step: a fresh tmpfs with box/ for the sandbox user and work/ for the container root; removes it whole', async () => {
    const host = testHost();
    const v = await mountVolume(host, 4 << 20);
    try {
      assert.equal(fsTypeMountedAt(v.mountPoint), 'tmpfs', 'no tmpfs at the mount point');
      assert.deepEqual(readdirSync(v.mountPoint).sort(), ['box', 'work']);
      const box = lstatSync(v.dir), work = lstatSync(v.workDir);
      assert.deepEqual([box.isDirectory(), box.mode & 0o7777, box.uid, box.gid], [true, 0o755, host.sandboxHostId, host.sandboxHostId]);
      assert.deepEqual([work.isDirectory(), work.mode & 0o7777, work.uid, work.gid], [true, 0o700, host.idBase, host.idBase]);
    } finally {
      await v.destroy();
    }
    assert.ok(fsTypeMountedAt(v.mountPoint) === undefined && !existsSync(v.mountPoint), 'the volume outlived destroy()');
    // A create that fails leaves nothing either (here: its parent directory is missing).
    const missing = join(host.volumesDir, 'no-such-dir', 'corral-volume');
    await assert.rejects(loadNative().volumeCreate(missing, 1 << 20, { uid: 0, gid: 0 }, { uid: 0, gid: 0 }),
      (err: unknown) => err instanceof SandboxError && err.code === 'file' && err.step === 'volume-create' && err.errno === 2 && /mkdir .*no-such-dir/.test(err.message));
    assert.ok(!existsSync(join(host.volumesDir, 'no-such-dir')));
  });

  it('writes inputs the program can read and outputs the host can read', () =>
    withVolume(async (v) => {
      await v.writeFile('src/main.sh', 'echo from-input\n');
      await v.writeFile('data.bin', Buffer.from([1, 2, 3]), { mode: 0o600 });
      const r = await runInSandbox({ layers, argv: ['sh', '-c', 'sh src/main.sh; wc -c < data.bin; echo result > out.txt; mkdir -p o/p; echo deep > o/p/q.txt'], box: { dir: v.dir } });
      assert.equal(r.status, 'ok', r.stderr.toString());
      assert.equal(r.stdout.toString(), 'from-input\n3\n');
      assert.equal((await v.readFile('out.txt', 100))!.data.toString(), 'result\n');
      const files = await v.collect(['*.txt', 'o/**'], caps);
      assert.deepEqual(files.map((f) => [f.path, f.content.toString()]), [['o/p/q.txt', 'deep\n'], ['out.txt', 'result\n']]);
    }));

  it('never follows a symlink the program planted, to a file or a directory, on copy-out', () =>
    withVolume(async (v) => {
      const target = join(secretDir, 'secret');
      const r = await runInSandbox({
        layers,
        argv: ['sh', '-c', `ln -s ${target} out.txt; ln -s ${secretDir} dir; ln -s /etc/passwd pw; mkfifo fifo; echo ok`],
        box: { dir: v.dir },
      });
      assert.equal(r.status, 'ok', r.stderr.toString());
      assert.equal(await v.readFile('out.txt', 100), null);
      assert.equal(await v.readFile('dir/secret', 100), null);
      assert.equal(await v.readFile('fifo', 100), null); // and does not hang on it
      const files = await v.collect(['**'], caps);
      assert.deepEqual(files, []);
    }));

  it('never follows a planted symlink on copy-in either', () =>
    withVolume(async (v) => {
      const target = join(secretDir, 'secret');
      await runInSandbox({ layers, argv: ['sh', '-c', `ln -s ${target} input.txt; ln -s ${secretDir} sub`], box: { dir: v.dir } });
      await assert.rejects(v.writeFile('input.txt', 'overwrite'), /input\.txt/);
      await assert.rejects(v.writeFile('sub/secret', 'overwrite'), /sub\/secret/);
      assert.equal(readFileSync(target, 'utf8'), 'host secret\n');
    }));

  it('bounds the walk of a collect: millions of empty files or a deep tree cannot stall the worker', () =>
    withVolume(async (v) => {
      // The defaults, scaled down (the defaults themselves: 20,000 entries, depth 32).
      assert.ok(COLLECT_WALK_MAX_ENTRIES >= 10_000 && COLLECT_WALK_MAX_DEPTH >= 16);
      const bounds = { maxEntries: 300, maxDepth: 4 };
      const many = 500;
      const deep = Array.from({ length: bounds.maxDepth + 2 }, () => 'd').join('/');
      const r = await runInSandbox({
        layers,
        argv: ['sh', '-c', `mkdir many && cd many && seq 1 ${many} | xargs touch && cd .. && mkdir -p ${deep} && echo x > ${deep}/deep.txt && echo y > d/shallow.txt && ls many | wc -l`],
        box: { dir: v.dir },
      });
      assert.equal(r.status, 'ok', r.stderr.toString());
      assert.equal(r.stdout.toString().trim(), String(many));
      const all = await v.collect(['**'], { ...caps, maxFiles: many * 2 });
      assert.equal(all.length, many + 2, 'without the bounds (the defaults are larger) everything is found');
      const files = await v.collect(['**'], { ...caps, maxFiles: many * 2, ...bounds });
      assert.ok(files.length > 0 && files.length <= bounds.maxEntries, `collected ${files.length}`);
      assert.ok(files.some((f) => f.path === 'd/shallow.txt'), 'a file above the depth bound is collected');
      assert.ok(!files.some((f) => f.path.endsWith('deep.txt')), 'a file below the depth bound is not');
    }));

  it('caps the size of each collected file and of all together', () =>
    withVolume(async (v) => {
      await runInSandbox({ layers, argv: ['sh', '-c', 'head -c 5000 /dev/zero > a.out; head -c 5000 /dev/zero > b.out; head -c 5000 /dev/zero > c.out'], box: { dir: v.dir } });
      const files = await v.collect(['*.out'], { maxFiles: 2, maxFileBytes: 3000, maxTotalBytes: 4000 });
      assert.deepEqual(files.map((f) => [f.path, f.size, f.content.length, f.truncated]), [['a.out', 5000, 3000, true], ['b.out', 5000, 1000, true]]);
    }));

  it('bounds the volume size (a tmpfs), so a program cannot fill the host disk', () =>
    withVolume(async (v) => {
      const r = await runInSandbox({ layers, argv: ['sh', '-c', 'head -c 8000000 /dev/zero > big 2>&1; echo rc=$?'], box: { dir: v.dir }, limits: { memoryBytes: 128 << 20 } });
      assert.match(r.stdout.toString() + r.stderr.toString(), /No space left on device|rc=1/, JSON.stringify({ ...r, stdout: r.stdout.toString(), stderr: r.stderr.toString() }));
    }));

  it('layers a fresh writable volume over a read-only one, so a run cannot change what the next one sees', async () => {
    const base = await createVolume({ sizeBytes: 4 << 20 });
    const layer1 = await createVolume({ sizeBytes: 4 << 20 });
    const layer2 = await createVolume({ sizeBytes: 4 << 20 });
    try {
      await base.writeFile('prog.txt', 'compiled\n');
      await base.writeFile('gone.txt', 'x');
      const first = await runInSandbox({
        layers,
        argv: ['sh', '-c', 'cat prog.txt; echo changed > prog.txt; rm gone.txt; echo new > new.txt'],
        box: { dir: layer1.dir, lowerDirs: [base.dir], workDir: layer1.workDir },
      });
      assert.equal(first.status, 'ok', first.stderr.toString() + (first.error ?? ''));
      const seen = await collectFiles([layer1.dir, base.dir], ['*.txt'], caps);
      assert.deepEqual(seen.map((f) => [f.path, f.content.toString()]), [['new.txt', 'new\n'], ['prog.txt', 'changed\n']]);
      const second = await runInSandbox({
        layers,
        argv: ['sh', '-c', 'cat prog.txt; ls'],
        box: { dir: layer2.dir, lowerDirs: [base.dir], workDir: layer2.workDir },
      });
      assert.equal(second.stdout.toString(), 'compiled\ngone.txt\nprog.txt\n');
      assert.equal((await base.readFile('prog.txt', 100))!.data.toString(), 'compiled\n');
    } finally {
      for (const v of [layer2, layer1, base]) await v.destroy();
    }
  });

  it('rejects paths that leave /box', () => {
    for (const bad of ['../x', '/etc/passwd', 'a/../../b', '', 'a//b', 'a\0b']) assert.throws(() => checkRelative(bad), RangeError, bad);
    assert.equal(checkRelative('/box/a/b.txt'), 'a/b.txt');
    assert.equal(checkRelative('./a'), 'a');
  });

  it('matches globs the way users expect', () => {
    assert.ok(globToRegExp('*.txt').test('a.txt'));
    assert.ok(!globToRegExp('*.txt').test('d/a.txt'));
    assert.ok(globToRegExp('**/*.txt').test('d/e/a.txt'));
    assert.ok(globToRegExp('**/*.txt').test('a.txt'));
    assert.ok(globToRegExp('/box/out/**').test('out/x/y'));
    assert.ok(globToRegExp('a?.c').test('ab.c'));
    assert.ok(!globToRegExp('a.c').test('abc'));
  });
});
