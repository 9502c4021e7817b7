// ImageStore.readImage keeps what it read while the image file is the same one: a worker resolves
// its image on every run. A rebuilt (replaced) or removed image file must be seen at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempStore } from './helpers.ts';

const meta = (layer: string) => ({ name: 'demo', layers: [layer], builtAt: new Date().toISOString(), versions: {} });

test('readImage serves the file it read until the file is replaced or removed', async () => {
  const { store, cleanup } = await tempStore();
  try {
    for (const id of ['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb']) {
      await mkdir(join(store.layerDir(id), 'fs'), { recursive: true });
      await writeFile(join(store.layerDir(id), 'layer.json'), JSON.stringify({ id }));
    }
    await store.writeImage(meta('aaaaaaaaaaaaaaaa') as never);
    const first = await store.resolve('demo');
    assert.deepEqual(first.layerDirs, [store.layerFsDir('aaaaaaaaaaaaaaaa')]);
    assert.equal(await store.readImage('demo'), await store.readImage('demo'), 'the same file is not read again');

    await store.writeImage(meta('bbbbbbbbbbbbbbbb') as never); // a rebuild: a new file by rename
    assert.deepEqual((await store.resolve('demo')).layerDirs, [store.layerFsDir('bbbbbbbbbbbbbbbb')]);

    await rm(store.imageFile('demo'));
    assert.equal(await store.readImage('demo'), null);
    await assert.rejects(store.resolve('demo'), /not built/);
  } finally {
    await cleanup();
  }
});
