// The languages of the native, interp, js-runtimes, octave and groovy images: the ids other
// code maps Judge0 and Piston ids to, their aliases, and the conventions they promise
// (docs/images.md). That they really run is languages.test.ts's job.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRecipes } from '../../rootfs-images/recipe.ts';
import { commandsFor, getLanguage } from '../../rootfs-images/languages.ts';

const recipes = loadRecipes();

const WANTED: Record<string, { image: string; aliases: string[] }> = {
  'clang-c': { image: 'native', aliases: ['clang'] },
  'clang-cpp': { image: 'native', aliases: ['clang++'] },
  nasm: { image: 'native', aliases: ['asm'] },
  gprolog: { image: 'native', aliases: [] },
  crystal: { image: 'native', aliases: [] },
  vala: { image: 'native', aliases: [] },
  awk: { image: 'interp', aliases: ['gawk'] },
  raku: { image: 'interp', aliases: ['perl6'] },
  elisp: { image: 'interp', aliases: ['emacs'] },
  haxe: { image: 'interp', aliases: [] },
  basic: { image: 'interp', aliases: [] },
  brainfuck: { image: 'interp', aliases: ['bf'] },
  deno: { image: 'js-runtimes', aliases: ['deno-ts'] },
  bun: { image: 'js-runtimes', aliases: ['bun-js'] },
  coffeescript: { image: 'js-runtimes', aliases: [] },
  octave: { image: 'octave', aliases: [] },
  groovy: { image: 'groovy', aliases: [] },
};

test('at least 52 languages; the seventeen added ids, images and aliases are stable', () => {
  const all = [...recipes.values()].flatMap((r) => r.languages);
  assert.ok(all.length >= 52, `${all.length} languages`);
  for (const [id, want] of Object.entries(WANTED)) {
    const lang = getLanguage(id, recipes);
    assert.ok(lang, `language ${id} missing`);
    assert.equal(lang.image, want.image, id);
    for (const alias of want.aliases) assert.equal(getLanguage(alias, recipes)?.id, id, `alias ${alias}`);
  }
  for (const name of new Set(Object.values(WANTED).map((w) => w.image))) {
    assert.equal(recipes.get(name)?.heavy, true, `${name} is heavy: CI's default build stays busybox, base, gcc, python`);
  }
});

test('the compilers are the ones the names say, with the conventions other judges use', () => {
  assert.equal(commandsFor(getLanguage('clang-c', recipes)!).compile![0], 'clang');
  assert.equal(commandsFor(getLanguage('clang-cpp', recipes)!).compile![0], 'clang++');
  // Judge0's GNU Prolog: a native program without the toplevel (no banner; stdin is the program's).
  const gprolog = commandsFor(getLanguage('gprolog', recipes)!, { flags: ['--min-size'] });
  assert.deepEqual(gprolog.compile, ['gplc', '--no-top-level', '--min-size', '-o', 'main', 'main.pl']);
  assert.deepEqual(gprolog.run, ['./main']);
  // NASM then ld, user flags reaching nasm as arguments, never as shell text.
  const nasm = commandsFor(getLanguage('nasm', recipes)!, { flags: ['-DX=$(id)'] });
  assert.equal(nasm.compile![0], 'sh');
  assert.deepEqual(nasm.compile!.slice(-3), ['main.asm', 'main', '-DX=$(id)']);
  assert.deepEqual(commandsFor(getLanguage('elisp', recipes)!).run, ['emacs', '-Q', '--script', 'main.el']);
  assert.deepEqual(commandsFor(getLanguage('deno', recipes)!).run.slice(0, 2), ['deno', 'run']);
  assert.equal(getLanguage('haxe', recipes)!.fileName, 'Main.hx');
});

test('Deno and Bun come from npm packages pinned by exact version and integrity', () => {
  const npm = recipes.get('js-runtimes')!.npm;
  assert.deepEqual(npm.map((n) => n.path).sort(), ['/usr/local/bin/bun', '/usr/local/bin/deno']);
  for (const n of npm) {
    assert.match(n.version, /^\d+\.\d+\.\d+$/);
    assert.match(n.integrity, /^sha512-/);
  }
});
