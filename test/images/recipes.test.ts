// The shipped recipes are valid and complete, and command templates expand without any shell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRecipes, chain, imageEnv, parseRecipe, RecipeError, checkRecipes } from '../../rootfs-images/recipe.ts';
import { commandsFor, expandArgv, getLanguage, judgeProgramFlags } from '../../rootfs-images/languages.ts';
import { layerId } from '../../rootfs-images/layer-id.ts';

const recipes = loadRecipes();

test('shipped recipes: every language the issue asks for is there, with examples', () => {
  const ids = [...recipes.values()].flatMap((r) => r.languages.map((l) => l.id)).sort();
  const wanted = ['ada', 'bash', 'c', 'clojure', 'cobol', 'commonlisp', 'cpp', 'csharp', 'd', 'elixir', 'erlang', 'fortran', 'go',
    'haskell', 'java', 'javascript', 'lua', 'nim', 'ocaml', 'pascal', 'perl', 'php', 'prolog', 'pypy', 'python', 'r', 'racket',
    'ruby', 'rust', 'scheme', 'sqlite', 'tcl', 'typescript'];
  for (const id of wanted) assert.ok(ids.includes(id), `language ${id} missing`);
  for (const r of recipes.values()) {
    for (const l of r.languages) {
      assert.ok(l.examples.hello && l.examples.echo && l.examples.runtimeError, `${l.id}: examples`);
      assert.equal(Boolean(l.compile), Boolean(l.examples.compileError), `${l.id}: compileError example iff compiled`);
    }
  }
});

test('CI images are light and layered over base; busybox stands alone', () => {
  for (const name of ['base', 'gcc', 'python']) {
    assert.equal(recipes.get(name)?.heavy, false, `${name} is built by CI`);
    assert.equal(chain(recipes, name)[0].name, 'base');
  }
  assert.deepEqual(chain(recipes, 'busybox').map((r) => r.name), ['busybox']);
  assert.deepEqual(chain(recipes, 'compiled').map((r) => r.name), ['base', 'gcc', 'compiled']);
});

test('judge defaults: gcc -O2 -std=gnu17 -lm, g++ -O2 -std=gnu++20, Java from Main.java, python -B', () => {
  const c = commandsFor(getLanguage('c')!);
  assert.deepEqual(c.compile, ['gcc', '-O2', '-std=gnu17', '-pipe', '-o', 'main', 'main.c', '-lm']);
  assert.deepEqual(c.run, ['./main']);
  assert.ok(commandsFor(getLanguage('cpp')!).compile!.includes('-std=gnu++20'));
  const java = getLanguage('java')!;
  assert.equal(java.fileName, 'Main.java');
  // The class to run is the one the compile found (corral-jvm); user args follow `--`.
  assert.deepEqual(commandsFor(java, { flags: ['-g'], args: ['a'] }), {
    compile: ['corral-jvm', 'javac', 'Main.java', '-J-XX:+UseSerialGC', '-J-XX:-UsePerfData', '-J-XX:TieredStopAtLevel=1', '-encoding', 'UTF-8', '-g'],
    run: ['corral-jvm', 'run', 'java', '-XX:+UseSerialGC', '-XX:-UsePerfData', '-Xss64m', '-cp', '.', '--', 'a'],
  });
  assert.deepEqual(commandsFor(getLanguage('python')!).run, ['python3', '-B', 'main.py']);
});

test('placeholders: {file}/{stem} inside elements, {flags*}/{args*} splice zero or more elements', () => {
  const t = ['cc', '{flags*}', '-o', '{stem}', '{file}', '--', '{args*}', 'x{stem}y'];
  assert.deepEqual(expandArgv(t, 'main.c'), ['cc', '-o', 'main', 'main.c', '--', 'xmainy']);
  assert.deepEqual(expandArgv(t, 'main.c', { flags: ['-DX=$(rm -rf /)', '-Wall'], args: ['a b', ';'] }),
    ['cc', '-DX=$(rm -rf /)', '-Wall', '-o', 'main', 'main.c', '--', 'a b', ';', 'xmainy']);
  assert.deepEqual(expandArgv(['java', '{stem}'], 'Main.java', { file: 'Other.java' }), ['java', 'Other']);
  assert.throws(() => expandArgv(t, 'main.c', { file: '../etc/passwd' }), /invalid submission file name/);
  assert.throws(() => expandArgv(t, 'main.c', { flags: ['a\0b'] }), /NUL/);
  // Run commands never receive compiler flags.
  assert.deepEqual(commandsFor(getLanguage('c')!, { flags: ['-Wall'], args: ['1'] }).run, ['./main', '1']);
});

test('judge programs: C and C++ link statically (-static-pie) before the user\'s flags, unless those choose the link; solutions and other languages unchanged', () => {
  const c = getLanguage('c')!;
  const judged = (id: string, flags: string[]) => commandsFor(getLanguage(id)!, { flags: judgeProgramFlags(getLanguage(id)!, flags) }).compile;
  assert.deepEqual(judged('c', ['-DX=1']), ['gcc', '-O2', '-std=gnu17', '-pipe', '-static-pie', '-DX=1', '-o', 'main', 'main.c', '-lm']);
  assert.ok(judged('cpp', [])!.includes('-static-pie'));
  // The user's own link (or code model) wins: -static with -static-pie fails to link, -pie/-no-pie undo it.
  for (const own of ['-static', '-pie', '-no-pie', '-fno-pie', '-shared', '-fsanitize=address,undefined']) {
    assert.deepEqual(judged('c', ['-O3', own]), commandsFor(c, { flags: ['-O3', own] }).compile, own);
    assert.ok(!judged('cpp', [own])!.includes('-static-pie'), own);
  }
  assert.ok(judged('c', ['-fsanitize'])!.includes('-static-pie'), 'an entry ending in = matches as a prefix only');
  // A solution's compile never takes them (the pipeline asks for them only for judge programs).
  assert.ok(!commandsFor(c, { flags: ['-DX=1'] }).compile!.includes('-static-pie'));
  // A language without the field: the same compile either way.
  for (const id of ['python', 'java', 'rust', 'bash']) {
    const lang = getLanguage(id)!;
    assert.equal(lang.judgeProgram, undefined, id);
    assert.deepEqual(judgeProgramFlags(lang, ['-g']), ['-g'], id);
  }
  // Language data, not image content: the gcc image's layer id is what it was without the field.
  const gcc = recipes.get('gcc')!;
  const bare = { ...gcc, languages: gcc.languages.map(({ judgeProgram: _, ...l }) => l) };
  assert.equal(layerId(gcc, 'p'), layerId(bare, 'p'));
  // Only a compile command with {flags*} can take them.
  const noFlags = parseRecipe({ name: 'nf', parent: 'base', languages: [{ ...gcc.languages[0], id: 'nf', aliases: [], compile: ['gcc', 'main.c'] }] }, 'nf');
  assert.throws(() => checkRecipes(new Map([...recipes, ['nf', noFlags]])), /judgeProgram flags but no \{flags\*\}/);
  assert.throws(() => parseRecipe({ name: 'x', parent: 'base', languages: [{ ...gcc.languages[0], judgeProgram: { flags: [] } }] }, 'x.json'), /judgeProgram\.flags/);
});

test('aliases resolve; env is the image chain plus the language', () => {
  assert.equal(getLanguage('py')?.id, 'python');
  assert.equal(getLanguage('c++')?.id, 'cpp');
  assert.equal(getLanguage('no-such-language'), undefined);
  const go = getLanguage('go')!;
  assert.equal(go.image, 'compiled');
  assert.equal(go.runEnv.HOME, '/tmp', 'from base');
  assert.equal(go.runEnv.GOCACHE, '/tmp/go-cache', 'from the language');
  assert.equal(imageEnv(recipes, 'python').PYTHONDONTWRITEBYTECODE, '1');
  for (const r of recipes.values()) {
    if (r.name === 'busybox') continue;
    assert.ok(imageEnv(recipes, r.name).PATH, `${r.name} has a PATH`);
  }
});

test('invalid recipes are rejected with the file and field', () => {
  assert.throws(() => parseRecipe({ name: 'x' }, 'x.json'), /x\.json: invalid recipe: .*"parent" or "source"/);
  assert.throws(() => parseRecipe({ name: 'x', parent: 'base', packages: ['bad name'] }, 'x.json'), /packages\.0/);
  assert.throws(() => parseRecipe({ name: 'x', parent: 'base', setup: ['echo hi'] }, 'x.json'), /setup\.0/, 'setup is argv arrays, not shell strings');
  const cyc = new Map([['a', parseRecipe({ name: 'a', parent: 'b' }, 'a')], ['b', parseRecipe({ name: 'b', parent: 'a' }, 'b')]]);
  assert.throws(() => checkRecipes(cyc), RecipeError);
  const dup = new Map([...recipes, ['dup', parseRecipe({ name: 'dup', parent: 'base', languages: [{ ...recipes.get('gcc')!.languages[0] }] }, 'dup')]]);
  assert.throws(() => checkRecipes(dup), /language id\/alias 'c' is defined by both/);
});
