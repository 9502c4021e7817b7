// Real builds of small layers over the busybox image: caching, atomicity, whiteouts and opaque
// directories as the sandbox sees them, gc, version probes. No mocks: real chroots, real overlays.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, BuildError } from '../../rootfs-images/builder.ts';
import { listLanguages } from '../../rootfs-images/languages.ts';
import { ImageStore } from '../../rootfs-images/store.ts';
import { inspectOverlay, mountTable, quiet, recipeSet, tempStore } from './helpers.ts';

const busybox = { name: 'busybox', source: 'busybox' as const };
// Parent with files the child will delete (whiteout) and a directory it will replace (opaque).
const parent = {
  name: 'parent', parent: 'busybox',
  setup: [
    ['mkdir', '-p', '/opt/replaced', '/opt/kept'],
    ['sh', '-c', 'echo old > /opt/replaced/old && echo gone > /opt/gone.txt && echo kept > /opt/kept/a'],
  ],
};
const child = {
  name: 'child', parent: 'parent',
  setup: [
    ['rm', '/opt/gone.txt'],
    ['sh', '-c', 'rm -rf /opt/replaced && mkdir /opt/replaced && echo new > /opt/replaced/new'],
  ],
  languages: [{
    id: 'shtest', name: 'Shell (test)', fileName: 'main.sh', run: ['sh', '{file}'],
    version: ['sh', '-c', 'echo "shtest version 1.2.3"'], versionPattern: 'version (\\S+)',
    examples: { hello: 'echo hi\n', echo: 'cat\n', runtimeError: 'exit 3\n' },
  }],
};

let store: ImageStore;
let cleanup: () => Promise<void>;
let mountsBefore: string[];

before(async () => {
  mountsBefore = await mountTable();
  ({ store, cleanup } = await tempStore());
});
after(async () => {
  await cleanup();
  // Every build and inspection mounts only inside private namespaces: nothing may be left.
  assert.deepEqual(await mountTable(), mountsBefore, 'mount table changed');
});

test('builds a child layer whose whiteout and opaque dir the sandbox-style overlay honours', async () => {
  const recipes = recipeSet(busybox, parent, child);
  const res = await buildImage('child', { store, recipes, progress: quiet });
  assert.deepEqual(res.layers.map((l) => l.image), ['busybox', 'parent', 'child']);
  const top = store.layerFsDir(res.layers[2].id);

  // On disk: a 0/0 character device for the deleted file.
  const wh = lstatSync(join(top, 'opt/gone.txt'));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'whiteout is a 0/0 char device');
  assert.deepEqual(readdirSync(join(top, 'opt/replaced')), ['new']);

  // Through a userxattr overlay in a user namespace (the sandbox's view).
  const mnt = await mkdtemp(join(tmpdir(), 'corral-inspect-'));
  try {
    const { layerDirs } = await store.resolve('child');
    const out = inspectOverlay(layerDirs, 'ls -A opt; echo --; ls -A opt/replaced; echo --; cat opt/kept/a', mnt);
    assert.equal(out.status, 0, out.stderr);
    assert.equal(out.stdout, 'kept\nreplaced\n--\nnew\n--\nkept\n');
    // And the parent image alone still has everything.
    const p = inspectOverlay((await store.resolve('parent')).layerDirs, 'ls -A opt opt/replaced', mnt);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /gone\.txt/);
    assert.match(p.stdout, /old/);
  } finally {
    await rm(mnt, { recursive: true, force: true });
  }
});

test('an unchanged recipe is not rebuilt; a changed one rebuilds only its own layer', async () => {
  const recipes = recipeSet(busybox, parent, child);
  const first = await buildImage('child', { store, recipes, progress: quiet });
  assert.ok(first.layers.every((l) => l.cached), 'second build of the same recipes is all cached');

  const changed = recipeSet(busybox, parent, { ...child, setup: [...child.setup, ['touch', '/opt/extra']] });
  const second = await buildImage('child', { store, recipes: changed, progress: quiet });
  assert.deepEqual(second.layers.map((l) => l.cached), [true, true, false]);
  assert.notEqual(second.layers[2].id, first.layers[2].id);
  assert.equal(second.layers[1].id, first.layers[1].id);
});

test('a failing build leaves no layer, no temp dir and no image; the parent stays cached', async () => {
  const broken = { name: 'broken', parent: 'parent', setup: [['sh', '-c', 'echo partial > /opt/partial; echo boom >&2; exit 7']] };
  const recipes = recipeSet(busybox, parent, broken);
  const layersBefore = await store.layerIds();
  await assert.rejects(buildImage('broken', { store, recipes, progress: quiet }), (err: unknown) => {
    assert.ok(err instanceof BuildError);
    assert.match(err.message, /image 'broken'.*status 7/);
    assert.ok(err.tail.includes('boom'), `tail has the command's output: ${err.tail}`);
    assert.ok(err.logFile && existsSync(err.logFile));
    return true;
  });
  assert.deepEqual(await store.layerIds(), layersBefore);
  assert.deepEqual(readdirSync(store.tmpDir), []);
  assert.equal(await store.readImage('broken'), null);

  // Fixing the recipe resumes: busybox and parent come from the cache.
  const fixed = recipeSet(busybox, parent, { ...broken, setup: [['sh', '-c', 'echo done > /opt/partial']] });
  const res = await buildImage('broken', { store, recipes: fixed, progress: quiet });
  assert.deepEqual(res.layers.map((l) => l.cached), [true, true, false]);
});

test('versions are probed at build time and listed with availability', async () => {
  const recipes = recipeSet(busybox, parent, child);
  const res = await buildImage('child', { store, recipes, progress: quiet });
  assert.deepEqual(res.versions, { shtest: '1.2.3' });
  const langs = await listLanguages(store, recipes);
  assert.deepEqual(langs, [{ id: 'shtest', name: 'Shell (test)', version: '1.2.3', compiled: false, fileName: 'main.sh', available: true, image: 'child' }]);
  const other = await tempStore();
  try {
    const none = await listLanguages(other.store, recipes);
    assert.equal(none[0].available, false);
    assert.equal(none[0].version, null);
  } finally {
    await other.cleanup();
  }
});

test('gc removes only layers no image uses; rm forgets an image', async () => {
  const recipes = recipeSet(busybox, parent, child, { name: 'sibling', parent: 'parent', setup: [['touch', '/sibling']] });
  const sib = await buildImage('sibling', { store, recipes, progress: quiet });
  const kid = await buildImage('child', { store, recipes, progress: quiet });
  const sibTop = sib.layers[2].id;

  assert.equal(await store.rm('sibling'), true);
  assert.equal(await store.rm('sibling'), false);
  await assert.rejects(store.resolve('sibling'), /not built/);
  const { removed } = await store.gc();
  assert.ok(removed.includes(sibTop), 'the sibling-only layer is collected');
  for (const l of kid.layers) assert.ok(!removed.includes(l.id), `layer ${l.id} of 'child' is kept`);
  assert.ok(!existsSync(store.layerDir(sibTop)));
  const { layerDirs } = await store.resolve('child');
  assert.deepEqual(layerDirs, kid.layers.map((l) => store.layerFsDir(l.id)));
  for (const d of layerDirs) assert.ok(existsSync(d));
});

test('resolve says what is missing', async () => {
  await assert.rejects(store.resolve('nope'), /image 'nope' is not built in .* \(run: corral images build nope\)/);
  const recipes = recipeSet(busybox);
  const res = await buildImage('busybox', { store, recipes, progress: quiet });
  await rm(store.layerDir(res.layers[0].id), { recursive: true });
  await assert.rejects(store.resolve('busybox'), /lacks layer\(s\)/);
  assert.equal(await store.isBuilt('busybox'), false);
});

test('the busybox layer needs a static busybox: the ELF check tells static from dynamic', async () => {
  const { isStaticElf } = await import('../../rootfs-images/busybox.ts');
  const { readFileSync } = await import('node:fs');
  assert.equal(isStaticElf(readFileSync('/bin/busybox')), true);
  assert.equal(isStaticElf(readFileSync(process.execPath)), false, 'node is dynamically linked');
  assert.equal(isStaticElf(Buffer.from('#!/bin/sh\n')), false);
});
