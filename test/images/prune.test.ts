// What pruneLayer drops from a freshly built layer, and what it must keep (copyright files,
// mount-point directories, and above all whiteouts, which record deletions from parent layers).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, writeFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { pruneLayer } from '../../rootfs-images/prune.ts';
import { pickVersion } from '../../rootfs-images/builder.ts';

const dirs: string[] = [];
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

function put(root: string, rel: string, content = 'x'): void {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), content);
}

function whiteout(root: string, rel: string): void {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  const r = spawnSync('mknod', [join(root, rel), 'c', '0', '0']);
  assert.equal(r.status, 0, `mknod: ${r.stderr}`);
}

test('pruneLayer drops caches, logs, docs and man pages but keeps copyright files and whiteouts', async () => {
  const fs = await mkdtemp(join(tmpdir(), 'corral-prune-'));
  dirs.push(fs);
  put(fs, 'var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease');
  put(fs, 'var/cache/apt/archives/gcc_12_amd64.deb');
  put(fs, 'var/cache/apt/pkgcache.bin');
  put(fs, 'var/log/dpkg.log');
  put(fs, 'var/log/apt/history.log');
  put(fs, 'var/lib/dpkg/status-old');
  put(fs, 'usr/share/doc/gcc/README.gz');
  put(fs, 'usr/share/doc/gcc/copyright');
  put(fs, 'usr/share/man/man1/gcc.1.gz');
  put(fs, 'usr/share/man/de/man1/gcc.1.gz');
  put(fs, 'usr/share/locale/de/LC_MESSAGES/gcc.mo');
  put(fs, 'usr/share/locale/locale.alias');
  put(fs, 'usr/bin/gcc');
  put(fs, 'var/lib/dpkg/status');
  whiteout(fs, 'usr/share/doc/removed-package');
  whiteout(fs, 'var/log/removed.log');
  whiteout(fs, 'usr/share/man/man8');

  await pruneLayer(fs);

  for (const gone of ['var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease', 'var/cache/apt/archives/gcc_12_amd64.deb',
    'var/cache/apt/pkgcache.bin', 'var/log/dpkg.log', 'var/log/apt/history.log', 'var/lib/dpkg/status-old',
    'usr/share/doc/gcc/README.gz', 'usr/share/man/de', 'usr/share/locale/de']) {
    assert.ok(!existsSync(join(fs, gone)), `${gone} should be pruned`);
  }
  for (const kept of ['usr/share/doc/gcc/copyright', 'usr/share/locale/locale.alias', 'usr/bin/gcc', 'var/lib/dpkg/status',
    'var/lib/apt/lists', 'var/cache/apt/archives', 'usr/share/man/man1']) {
    assert.ok(existsSync(join(fs, kept)), `${kept} should be kept`);
  }
  // man1 stays (openjdk's postinst needs it), emptied.
  assert.deepEqual(readdirSync(join(fs, 'usr/share/man/man1')), []);
  for (const wh of ['usr/share/doc/removed-package', 'var/log/removed.log', 'usr/share/man/man8']) {
    const st = lstatSync(join(fs, wh));
    assert.ok(st.isCharacterDevice() && st.rdev === 0, `whiteout ${wh} must survive`);
  }
});

test('pickVersion: the pattern group, else the first non-empty line', () => {
  assert.equal(pickVersion('gcc (Debian 12.2.0-14) 12.2.0\nCopyright', '^gcc \\S+ \\S+ (\\S+)'), '12.2.0');
  assert.equal(pickVersion('\n  Python 3.11.2  \nmore'), 'Python 3.11.2');
  assert.equal(pickVersion('no match here', 'version (\\S+)'), null);
  assert.equal(pickVersion(''), null);
});
