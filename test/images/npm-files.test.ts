// Files from npm registry packages (recipe field `npm`): validation, what the layer id hashes,
// the integrity check and cache, member extraction, and real builds over busybox — from a
// tarball made here and seeded into the cache (no network), and one fetched with `npm pack`
// from the registry (skipped with the reason when the registry cannot be reached).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, BuildError } from '../../rootfs-images/builder.ts';
import { layerId } from '../../rootfs-images/layer-id.ts';
import { parseRecipe, RecipeError, type NpmFile } from '../../rootfs-images/recipe.ts';
import { fetchNpmTarball, npmCacheFile, readNpmMember, sriOf } from '../../rootfs-images/npm-files.ts';
import { openLog } from '../../rootfs-images/run-step.ts';
import { ImageStore } from '../../rootfs-images/store.ts';
import { inspectOverlay, mountTable, quiet, recipeSet, tempStore } from './helpers.ts';

const INTEGRITY = `sha512-${'A'.repeat(86)}==`;
const entry = (o: Partial<NpmFile> = {}) => ({
  package: '@corral-test/tool-linux-x64', version: '1.2.3', integrity: INTEGRITY, from: 'bin/tool', path: '/usr/local/bin/tool', ...o,
});
const recipe = (npm: object[]) => parseRecipe({ name: 'x', parent: 'base', npm }, 'test');

let scratch: string;
let store: ImageStore;
let cleanup: () => Promise<void>;
let mountsBefore: string[];
const devNullLog = () => openLog('/dev/null');

/** A package tarball as npm makes them (members under package/), built with tar from `files`. */
async function makeTarball(name: string, files: Record<string, string | { symlinkTo: string }>): Promise<string> {
  const dir = await mkdtemp(join(scratch, 'pkg-'));
  for (const [rel, what] of Object.entries(files)) {
    const p = join(dir, 'package', rel);
    await mkdir(join(p, '..'), { recursive: true });
    if (typeof what === 'string') await writeFile(p, what, { mode: 0o644 });
    else await symlink(what.symlinkTo, p);
  }
  const out = join(scratch, `${name}.tgz`);
  const r = spawnSync('tar', ['-czf', out, '-C', dir, 'package'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return out;
}

before(async () => {
  mountsBefore = await mountTable();
  scratch = await mkdtemp(join(tmpdir(), 'corral-npm-test-'));
  ({ store, cleanup } = await tempStore());
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
  await cleanup();
  assert.deepEqual(await mountTable(), mountsBefore, 'mount table changed');
});

test('npm entries are validated: exact version, sha512 integrity, a relative member without ..', () => {
  assert.equal(recipe([entry()]).npm[0].mode, '0755', 'mode defaults to executable');
  for (const [bad, why] of [
    [{ version: '^1.2.3' }, 'a range'], [{ version: 'latest' }, 'a tag'],
    [{ integrity: 'sha1-abc' }, 'not sha512'], [{ from: '../etc/passwd' }, '..'], [{ from: 'bin/../../x' }, '.. inside'],
    [{ from: '/bin/tool' }, 'absolute member'], [{ path: 'usr/bin/tool' }, 'relative target'], [{ package: 'Upper/Case' }, 'bad name'],
  ] as const) {
    assert.throws(() => recipe([entry(bad)]), RecipeError, why);
  }
  assert.throws(() => parseRecipe({ name: 'b', source: 'busybox', npm: [entry()] }, 'test'), /no packages, npm files or setup/);
});

test('the layer id hashes every npm field; recipes without npm keep their ids', () => {
  const none = recipe([]);
  // The pinned id of layer-id.test.ts's recipe: an empty npm list is not hashed at all.
  assert.equal(layerId(parseRecipe({ name: 'x', parent: 'base', packages: ['gcc', 'make'], setup: [['true']] }, 't'), 'p1'),
    '9c4f5edf75a8e117dcc01198025226a7');
  const a = recipe([entry()]);
  assert.notEqual(layerId(a, 'p'), layerId(none, 'p'));
  for (const change of [{ version: '1.2.4' }, { package: '@corral-test/other' }, { integrity: `sha512-${'B'.repeat(86)}==` },
    { from: 'bin/other' }, { path: '/usr/bin/tool' }, { mode: '0700' }]) {
    assert.notEqual(layerId(recipe([entry(change)]), 'p'), layerId(a, 'p'), JSON.stringify(change));
  }
  assert.equal(layerId(recipe([entry()]), 'p'), layerId(a, 'p'));
});

test('a cached tarball is used only when its hash matches the pin', async () => {
  const tgz = await makeTarball('cached', { 'bin/tool': '#!/bin/sh\necho tool\n' });
  const integrity = await sriOf(tgz);
  assert.match(integrity, /^sha512-[A-Za-z0-9+/]{86}==$/);
  const cacheDir = join(scratch, 'cache');
  await mkdir(cacheDir, { recursive: true });
  const e = recipe([entry({ integrity })]).npm[0];
  await copyFile(tgz, npmCacheFile(cacheDir, e));
  const log = devNullLog();
  try {
    assert.equal(await fetchNpmTarball(e, cacheDir, { log }), npmCacheFile(cacheDir, e));
    // Same name and version, another pin: the cached file is not trusted, and the package does
    // not exist on the registry (or the registry is unreachable), so the fetch fails.
    const other = recipe([entry({ integrity: `sha512-${'B'.repeat(86)}==` })]).npm[0];
    await assert.rejects(fetchNpmTarball(other, cacheDir, { log }), /npm pack @corral-test\/tool-linux-x64@1\.2\.3/);
    assert.deepEqual(readdirSync(cacheDir).sort(), [`@corral-test+tool-linux-x64-1.2.3.tgz`], 'no scratch dirs left');
  } finally {
    log.end();
  }
});

test('only a regular file member is taken: symlinks and missing members are refused', async () => {
  const tgz = await makeTarball('members', {
    'bin/tool': 'real\n', 'bin/link': { symlinkTo: '/etc/passwd' }, 'dirlink': { symlinkTo: '/etc' },
  });
  const log = devNullLog();
  try {
    assert.equal((await readNpmMember(tgz, 'bin/tool', scratch, { log })).toString(), 'real\n');
    await assert.rejects(readNpmMember(tgz, 'bin/link', scratch, { log }), /not a regular file/);
    await assert.rejects(readNpmMember(tgz, 'dirlink/passwd', scratch, { log }), /extract|not a regular file/);
    await assert.rejects(readNpmMember(tgz, 'bin/absent', scratch, { log }), /extract package\/bin\/absent/);
    assert.deepEqual(readdirSync(scratch).filter((f) => f.startsWith('npm-')), [], 'extraction dirs removed');
  } finally {
    log.end();
  }
});

test('a build writes the member into the layer with its mode; a wrong pin builds nothing', async () => {
  const tgz = await makeTarball('tool', { 'bin/tool': '#!/bin/sh\necho from-npm\n', 'README.md': 'not taken\n' });
  const integrity = await sriOf(tgz);
  const e = entry({ integrity });
  await mkdir(join(store.cacheDir, 'npm'), { recursive: true });
  await copyFile(tgz, npmCacheFile(join(store.cacheDir, 'npm'), e));
  const busybox = { name: 'busybox', source: 'busybox' as const };
  const res = await buildImage('tool', { store, recipes: recipeSet(busybox, { name: 'tool', parent: 'busybox', npm: [e] }), progress: quiet });
  const top = store.layerFsDir(res.layers[1].id);
  assert.equal(statSync(join(top, 'usr/local/bin/tool')).mode & 0o777, 0o755);
  assert.ok(!existsSync(join(top, 'README.md')));
  const mnt = await mkdtemp(join(scratch, 'mnt-'));
  const out = inspectOverlay((await store.resolve('tool')).layerDirs, 'sh usr/local/bin/tool', mnt);
  assert.equal(out.status, 0, out.stderr);
  assert.equal(out.stdout, 'from-npm\n');

  const wrong = { name: 'wrong', parent: 'busybox', npm: [{ ...e, version: '1.2.4', integrity }] };
  await assert.rejects(buildImage('wrong', { store, recipes: recipeSet(busybox, wrong), progress: quiet }), BuildError);
  assert.equal(await store.isBuilt('wrong'), false);
  assert.deepEqual(readdirSync(store.tmpDir).filter((f) => !f.startsWith('.')), [], 'no temp dir left');
});

test('a real package from the registry: npm pack, integrity checked, cached for the next build', async (t) => {
  const ping = spawnSync('npm', ['ping'], { encoding: 'utf8', timeout: 30_000 });
  if (ping.status !== 0) {
    t.skip(`the npm registry is not reachable: ${(ping.stderr || ping.error?.message || '').trim().split('\n').at(-1)}`);
    return;
  }
  const e = recipe([{
    package: 'is-number', version: '7.0.0', from: 'index.js', path: '/opt/is-number/index.js', mode: '0644',
    integrity: 'sha512-41Cifkg6e8TylSpdtTpeLVMqvSBEVzTttHvERD741+pnZ8ANv0004MRL43QKPDlK9cGvNp6NZWZUBlbGXYxxng==',
  }]).npm[0];
  const cacheDir = join(scratch, 'registry-cache');
  const log = devNullLog();
  try {
    const file = await fetchNpmTarball(e, cacheDir, { log });
    assert.equal(await sriOf(file), e.integrity);
    assert.match((await readNpmMember(file, 'index.js', scratch, { log })).toString(), /module\.exports/);
    const mtime = statSync(file).mtimeMs;
    assert.equal(await fetchNpmTarball(e, cacheDir, { log }), file);
    assert.equal(statSync(file).mtimeMs, mtime, 'served from the cache');
  } finally {
    log.end();
  }
});
