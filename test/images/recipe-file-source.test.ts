// files[].source: a recipe file's text comes from a file under the recipe directory, read when the
// recipes are loaded, and it is the text (not the name) that decides the layer id.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRecipes, RecipeError, RECIPE_DIR } from '../../rootfs-images/recipe.ts';
import { layerId } from '../../rootfs-images/layer-id.ts';

let dir: string;

function writeRecipe(name: string, files: unknown[]): void {
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({ name, source: 'busybox', files }));
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'corral-recipes-'));
  mkdirSync(join(dir, 'files'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('a source file becomes the content, and its text decides the layer id', () => {
  writeFileSync(join(dir, 'files', 'tool.py'), 'print("one")\n');
  writeRecipe('x', [{ path: '/usr/lib/tool.py', mode: '0755', source: 'files/tool.py' }]);
  const first = loadRecipes(dir).get('x')!;
  assert.equal(first.files[0]!.content, 'print("one")\n');
  assert.equal(first.files[0]!.mode, '0755');
  writeFileSync(join(dir, 'files', 'tool.py'), 'print("two")\n');
  const second = loadRecipes(dir).get('x')!;
  assert.equal(second.files[0]!.content, 'print("two")\n');
  assert.notEqual(layerId(first, null), layerId(second, null), 'a changed source file is a new layer');
});

test('source and content exclude each other; a path may not leave the recipe directory', () => {
  writeFileSync(join(dir, 'files', 'a.txt'), 'a');
  writeRecipe('x', [{ path: '/a', source: 'files/a.txt', content: 'b' }]);
  assert.throws(() => loadRecipes(dir), (err: Error) => err instanceof RecipeError && /exclude each other/.test(err.message));
  for (const source of ['../outside', 'files/../../outside', '/etc/passwd', '..']) {
    writeRecipe('x', [{ path: '/a', source }]);
    assert.throws(() => loadRecipes(dir), (err: Error) => err instanceof RecipeError && /not a relative path/.test(err.message), source);
  }
  writeRecipe('x', [{ path: '/a', source: 'files/missing.txt' }]);
  assert.throws(() => loadRecipes(dir), (err: Error) => err instanceof RecipeError && /files\.0\.source: .*ENOENT/.test(err.message));
});

test('the python image carries the kernel bridge from rootfs-images/files/', () => {
  const python = loadRecipes().get('python')!;
  const bridge = python.files.find((f) => f.path === '/usr/lib/corral/kernel-bridge.py');
  assert.ok(bridge, 'the python recipe installs the kernel bridge');
  assert.equal(bridge.content, readFileSync(join(RECIPE_DIR, 'files', 'kernel-bridge.py'), 'utf8'));
});
