// The bench-only language the benchmarks and the load test add to the image registry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../services/core/config.ts';
import { benchRegistry, BUSYBOX_ECHO } from '../../bench/bench-stack.ts';
import { busyboxLayers } from '../helpers/sandbox.ts';

test('busybox-echo is listed beside the image languages and resolves to echo in the busybox image', async () => {
  const layers = await busyboxLayers();
  const { registry, busybox } = await benchRegistry(loadConfig({}).imagesDir);
  assert.deepEqual(busybox, layers);
  const listed = (await registry.list()).find((l) => l.id === BUSYBOX_ECHO.id);
  assert.equal(listed?.available, true);
  const r = await registry.resolve(BUSYBOX_ECHO.id, { flags: [], args: [] });
  assert.deepEqual(r.run, ['echo', 'hi']);
  assert.deepEqual(r.layers, layers);
  assert.equal(r.compile, undefined);
});

test('without a busybox image it is listed as not available and does not resolve', async () => {
  const empty = await mkdtemp(join(tmpdir(), 'corral-bench-images-'));
  try {
    const { registry, busybox } = await benchRegistry(empty);
    assert.equal(busybox, undefined);
    assert.equal((await registry.list()).find((l) => l.id === BUSYBOX_ECHO.id)?.available, false);
    await assert.rejects(registry.resolve(BUSYBOX_ECHO.id, { flags: [], args: [] }), /busybox image is not built/);
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
});
