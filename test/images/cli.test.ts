// `corral images` end to end against a temp store: build busybox, list, languages, rm, gc.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempStore } from './helpers.ts';

const CORRAL = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'corral');
const { store, cleanup } = await tempStore();
after(cleanup);

function corral(...args: string[]) {
  const r = spawnSync(CORRAL, ['images', ...args, '--root', store.root], { encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('build, list, languages, rm and gc through the CLI', () => {
  const b = corral('build', 'busybox');
  assert.equal(b.code, 0, b.err);
  assert.match(b.err, /\[busybox 1\/1\] layer [0-9a-f]{12} built in/);
  assert.match(b.err, /1\/1 image\(s\) ready/);
  assert.match(corral('build', 'busybox').err, /cached/);

  const l = corral('list');
  assert.equal(l.code, 0, l.err);
  assert.match(l.out, /^IMAGE\s+LAYERS\s+SIZE\s+BUILT \(UTC\)\s+VERSIONS$/m);
  assert.match(l.out, /^busybox\s+1\s+\d+\.\d MiB\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/m);
  const json = JSON.parse(corral('list', '--json').out);
  assert.equal(json[0].name, 'busybox');

  const langs = JSON.parse(corral('languages', '--json').out) as Array<{ id: string; available: boolean }>;
  assert.equal(langs.find((x) => x.id === 'c')?.available, false, 'gcc is not built in this temp store');

  assert.equal(corral('build', 'no-such-image').code, 2);
  assert.equal(corral('rm', 'busybox').code, 0);
  assert.equal(corral('rm', 'busybox').code, 1);
  const g = corral('gc');
  assert.equal(g.code, 0, g.err);
  assert.match(g.out, /removed 1 layer\(s\)/);
  assert.match(corral('list').out, /no images/);
});
