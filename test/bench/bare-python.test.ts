// The bare baseline finds the image's own files: symlinks resolve against the image's root (the
// layers merged, the top one winning), never against the host's.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { resolveInLayers } from '../../bench/bare-python.ts';

let root: string;
let bottom: string;
let top: string;

async function file(layer: string, path: string, content = path): Promise<void> {
  await mkdir(dirname(join(layer, path)), { recursive: true });
  await writeFile(join(layer, path), content);
}
async function link(layer: string, path: string, target: string): Promise<void> {
  await mkdir(dirname(join(layer, path)), { recursive: true });
  await symlink(target, join(layer, path));
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'corral-bare-test-'));
  bottom = join(root, 'bottom');
  top = join(root, 'top');
  await file(bottom, 'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2');
  await link(bottom, 'lib64', 'usr/lib64');
  await link(bottom, 'usr/lib64/ld-linux-x86-64.so.2', '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2');
  await link(bottom, 'lib', 'usr/lib');
  await file(bottom, 'usr/bin/tool', 'bottom');
  await link(bottom, 'usr/bin/hostname-link', '/etc/hostname'); // exists on the host, not in the image
  await link(bottom, 'usr/bin/loop-a', 'loop-b');
  await link(bottom, 'usr/bin/loop-b', 'loop-a');
  await file(top, 'usr/bin/python3.11');
  await link(top, 'usr/bin/python3', 'python3.11');
  await file(top, 'usr/bin/tool', 'top');
});
after(() => rm(root, { recursive: true, force: true }));

test('absolute and relative symlinks resolve inside the image, across layers', async () => {
  const layers = [bottom, top];
  assert.equal(await resolveInLayers(layers, '/lib64/ld-linux-x86-64.so.2'), join(bottom, 'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'));
  assert.equal(await resolveInLayers(layers, '/usr/bin/python3'), join(top, 'usr/bin/python3.11'));
  assert.equal(await resolveInLayers(layers, '/usr/bin/../bin/./python3'), join(top, 'usr/bin/python3.11'));
});

test('the top layer wins; what only the host has is absent; a loop is an error', async () => {
  assert.equal(await resolveInLayers([bottom, top], '/usr/bin/tool'), join(top, 'usr/bin/tool'));
  assert.equal(await resolveInLayers([bottom], '/usr/bin/tool'), join(bottom, 'usr/bin/tool'));
  assert.equal(await resolveInLayers([bottom, top], '/usr/bin/hostname-link'), undefined);
  assert.equal(await resolveInLayers([bottom, top], '/usr/bin/missing'), undefined);
  await assert.rejects(resolveInLayers([bottom, top], '/usr/bin/loop-a'), /too many symlinks/);
});
