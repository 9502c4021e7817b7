import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, layerId } from '../../rootfs-images/layer-id.ts';
import { parseRecipe } from '../../rootfs-images/recipe.ts';

const recipe = (o: object) => parseRecipe({ name: 'x', parent: 'base', ...o }, 'test');

test('canonical JSON sorts keys at every depth', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: null } }), '{"a":{"c":null,"d":[1,{"e":3,"f":2}]},"b":1}');
});

test('a layer id depends on the files-relevant recipe fields and the parent id, not on key order', () => {
  const a = recipe({ packages: ['gcc', 'make'], setup: [['true']] });
  const reordered = parseRecipe({ setup: [['true']], packages: ['gcc', 'make'], parent: 'base', name: 'x' }, 'test');
  assert.equal(layerId(a, 'p1'), layerId(reordered, 'p1'));
  assert.match(layerId(a, 'p1'), /^[0-9a-f]{32}$/);
  // Known value: a change here means every store rebuilds every layer (bump BUILDER_VERSION on purpose).
  assert.equal(layerId(a, 'p1'), '9c4f5edf75a8e117dcc01198025226a7');
  assert.notEqual(layerId(a, 'p1'), layerId(a, 'p2'));
  assert.notEqual(layerId(a, 'p1'), layerId(recipe({ packages: ['make', 'gcc'], setup: [['true']] }), 'p1'));
  assert.notEqual(layerId(a, 'p1'), layerId(recipe({ packages: ['gcc', 'make'], setup: [['true', 'x']] }), 'p1'));
  assert.notEqual(layerId(a, 'p1'), layerId(recipe({ packages: ['gcc', 'make'], setup: [['true']], files: [{ path: '/f', content: '' }] }), 'p1'));
});

test('languages, env and description do not change a layer id (no rebuild for a new run command)', () => {
  const a = recipe({ packages: ['gcc'] });
  const b = recipe({
    packages: ['gcc'], description: 'words', env: { X: '1' },
    languages: [{ id: 'c', name: 'C', fileName: 'main.c', compile: ['gcc', '{file}'], run: ['./main'], version: ['gcc', '--version'],
      examples: { hello: '', echo: '', compileError: '', runtimeError: '' } }],
  });
  assert.equal(layerId(a, 'p'), layerId(b, 'p'));
});
