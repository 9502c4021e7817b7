// The gcc image's precompiled <bits/stdc++.h> (rootfs-images/gcc.json, docs/images.md), through
// the real sandbox with the image in the store: the default C++ compile uses it; each flag set the
// recipe precompiles uses its own file; other flags, and macros defined before the include, make
// g++ parse the header instead, and every program behaves as its flags and macros say.
// `g++ -H` shows what happened: "! FILE.gch" used, "x FILE.gch" tried and rejected, ". FILE" parsed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImageStore, DEFAULT_IMAGE_ROOT } from '../../rootfs-images/store.ts';
import { loadRecipes } from '../../rootfs-images/recipe.ts';
import { layerId } from '../../rootfs-images/layer-id.ts';
import { getLanguage } from '../../rootfs-images/languages.ts';
import { compileAndRun, describeOutcome, COMPILE_LIMITS, type LanguageRun } from './run-language.ts';
import { STDCXX_PROGRAM, STDCXX_INPUT, STDCXX_OUTPUT, pchLines } from './pch-programs.ts';

const store = new ImageStore(process.env.CORRAL_IMAGES_DIR ?? DEFAULT_IMAGE_ROOT);
const recipes = loadRecipes();
const gcc = recipes.get('gcc')!;
const cpp = getLanguage('cpp', recipes)!;
// The service's default compile memory (services/core/config.ts): the PCH must fit in it.
const compileLimits = { ...COMPILE_LIMITS, memoryBytes: 512 * 2 ** 20 };

/** The flag sets gcc.json precompiles: setup steps `pch-stdc++.sh NAME FLAG...`. */
const pchSets = gcc.setup.filter((argv) => argv[0].endsWith('/pch-stdc++.sh')).map(([, name, ...flags]) => ({ name, flags }));
/** The C++ compile command's own flags before the user's ({flags*}); -pipe changes nothing g++ checks. */
const ownFlags = cpp.compile!.slice(1, cpp.compile!.indexOf('{flags*}')).filter((f) => f !== '-pipe');
const GCH_DIR = /^\/usr\/include\/.*\/bits\/stdc\+\+\.h\.gch$/;

/** The gcc image's layers, or why this file cannot test it here. */
async function gccImage(): Promise<string[] | string> {
  const meta = await store.readImage('gcc');
  if (!meta || !(await store.isBuilt('gcc'))) return `image 'gcc' is not built in ${store.root} (run: corral images build gcc)`;
  // Another checkout may have built the image from an older gcc.json, without these PCH files.
  const expected = layerId(gcc, meta.layers.at(-2) ?? null);
  if (meta.layers.at(-1) !== expected) return `image 'gcc' in ${store.root} was built from another gcc.json (run: corral images build gcc)`;
  return (await store.resolve('gcc')).layerDirs;
}
const image = await gccImage();
const skip = typeof image === 'string' ? image : false;
const layers = typeof image === 'string' ? [] : image;

async function build(source: string, flags: string[], stdin = ''): Promise<LanguageRun & { pch: ReturnType<typeof pchLines>; stderr: string }> {
  const r = await compileAndRun(cpp, layers, source, stdin, { flags: [...flags, '-H', '-Winvalid-pch'], compile: compileLimits });
  assert.equal(r.compile?.status, 'ok', `compile with ${flags.join(' ') || 'the default flags'}: ${describeOutcome(r.compile)}`);
  const stderr = r.compile!.stderr.toString('utf8');
  return { ...r, stderr, pch: pchLines(stderr) };
}

function assertUsed(r: Awaited<ReturnType<typeof build>>, name: string): void {
  assert.equal(r.pch.used.length, 1, `exactly one PCH used; -H/-Winvalid-pch said:\n${r.stderr.slice(0, 3000)}`);
  const file = r.pch.used[0];
  assert.equal(file.slice(file.lastIndexOf('/') + 1), `${name}.gch`);
  assert.match(file.slice(0, file.lastIndexOf('/')), GCH_DIR);
  assert.equal(r.pch.parsed, false, 'with a PCH, bits/stdc++.h itself is not parsed');
}

function assertFellBack(r: Awaited<ReturnType<typeof build>>): void {
  assert.deepEqual(r.pch.used, [], `no PCH may be used; -H said:\n${r.stderr.slice(0, 3000)}`);
  assert.equal(r.pch.parsed, true, 'g++ parsed bits/stdc++.h');
}

function stdout(r: LanguageRun): string {
  assert.equal(r.run?.status, 'ok', `run: ${describeOutcome(r.run)}`);
  return r.run.stdout.toString('utf8');
}

// Prints the language level the binary was compiled for, as g++ saw it.
const LEVEL_PROGRAM = `#include <bits/stdc++.h>
int main() {
#ifdef __STRICT_ANSI__
  const char* dialect = "strict";
#else
  const char* dialect = "gnu";
#endif
#ifdef __OPTIMIZE__
  const char* opt = "optimized";
#else
  const char* opt = "unoptimized";
#endif
#ifdef LOCAL
  const char* local = "local";
#else
  const char* local = "judge";
#endif
  std::cout << __cplusplus << ' ' << dialect << ' ' << opt << ' ' << local << ' ' << std::is_signed<char>::value << '\\n';
}
`;
const level = (cplusplus: number, dialect: string, opt = 'optimized', local = 'judge', signedChar = 1) =>
  `${cplusplus} ${dialect} ${opt} ${local} ${signedChar}\n`;
const CPLUSPLUS: Record<string, number> = { 'c++14': 201402, 'c++17': 201703, 'c++20': 202002 };
/** What LEVEL_PROGRAM prints when compiled with `-std=STD`. */
function levelOf(std: string): string {
  const [, gnu, num] = /^(gnu|c)\+\+(\d+)$/.exec(std)!;
  return level(CPLUSPLUS[`c++${num}`], gnu === 'gnu' ? 'gnu' : 'strict');
}

// Out of range on purpose: libstdc++'s debug mode (_GLIBCXX_DEBUG) must catch it.
const OUT_OF_RANGE = `#include <bits/stdc++.h>
int main() { std::vector<int> v(3); volatile int i = 5; std::cout << v[i] << '\\n'; }
`;

test('gcc.json precompiles bits/stdc++.h for the default C++ flags, and each set starts with them', () => {
  assert.deepEqual(ownFlags, ['-O2', '-std=gnu++20']);
  assert.ok(pchSets.some((s) => s.flags.join(' ') === ownFlags.join(' ')), `a setup step for ${ownFlags.join(' ')}: ${JSON.stringify(pchSets)}`);
  // A PCH matches what g++ sees: the command's own flags, then the user's.
  for (const s of pchSets) assert.deepEqual(s.flags.slice(0, ownFlags.length), ownFlags, `${s.name}: ${s.flags.join(' ')}`);
});

test('the default C++ compile of a bits/stdc++.h program uses the PCH', { skip }, async () => {
  const r = await build(STDCXX_PROGRAM, [], STDCXX_INPUT);
  assertUsed(r, 'O2-gnu++20');
  assert.equal(stdout(r), STDCXX_OUTPUT);
  // And exactly the language's compile argv, no -H: the same program, the same answer.
  const plain = await compileAndRun(cpp, layers, STDCXX_PROGRAM, STDCXX_INPUT, { compile: compileLimits });
  assert.equal(plain.compile?.status, 'ok', describeOutcome(plain.compile));
  assert.equal(stdout(plain), STDCXX_OUTPUT);
});

for (const set of pchSets) {
  const std = set.flags.filter((f) => f.startsWith('-std=')).at(-1)!.slice('-std='.length);
  // What a user passes (compilerArgs, Judge0's compiler_options) to get this set, e.g. -O2 -std=c++17.
  const userFlags = ['-O2', ...set.flags.slice(ownFlags.length)];
  test(`user flags ${userFlags.join(' ')} use ${set.name}.gch and build a ${std} binary`, { skip }, async () => {
    const r = await build(LEVEL_PROGRAM, userFlags);
    assertUsed(r, set.name);
    assert.equal(stdout(r), levelOf(std));
  });
}

// Flags g++ does not accept with any of the PCH files: it parses the header, and the binary
// follows the flags.
// (LeakSanitizer cannot run in the sandbox, which forbids ptrace: the ASan program turns it off.)
const NO_LSAN = 'extern "C" int __lsan_is_turned_off() { return 1; }\n';
const fallbacks: { flags: string[]; why: RegExp; output: string; source?: string }[] = [
  { flags: ['-O0'], why: /`__OPTIMIZE__' not defined/, output: level(202002, 'gnu', 'unoptimized') },
  { flags: ['-std=c++14'], why: /not used because/, output: levelOf('c++14') },
  { flags: ['-std=gnu++17'], why: /not used because/, output: levelOf('gnu++17') },
  { flags: ['-funsigned-char'], why: /`__CHAR_UNSIGNED__' is defined/, output: level(202002, 'gnu', 'optimized', 'judge', 0) },
  { flags: ['-g'], why: /created with .* debug info, but used with/, output: level(202002, 'gnu') },
  { flags: ['-fsanitize=address'], why: /`__SANITIZE_ADDRESS__' is defined/, output: level(202002, 'gnu'), source: LEVEL_PROGRAM + NO_LSAN },
];
for (const f of fallbacks) {
  test(`flags ${f.flags.join(' ')}: no PCH fits, the header is parsed, the binary follows the flags`, { skip }, async () => {
    const r = await build(f.source ?? LEVEL_PROGRAM, f.flags);
    assertFellBack(r);
    assert.equal(r.pch.rejected.length, pchSets.length, `every PCH file tried and rejected:\n${r.stderr.slice(0, 3000)}`);
    assert.match(r.stderr, f.why);
    assert.equal(stdout(r), f.output);
  });
}

test('-D_GLIBCXX_DEBUG on the command line: no PCH, and debug mode catches the bad index', { skip }, async () => {
  const r = await build(OUT_OF_RANGE, ['-D_GLIBCXX_DEBUG']);
  assertFellBack(r);
  assert.equal(r.run?.status, 'runtime_error', describeOutcome(r.run));
  assert.match(r.run.stderr.toString('utf8'), /out-of-bounds|__n < this->size\(\)/, describeOutcome(r.run));
});

test('-DLOCAL (a macro the header never looks at) keeps the PCH, and the program sees it', { skip }, async () => {
  const r = await build(LEVEL_PROGRAM, ['-DLOCAL', '-Wall']);
  assertUsed(r, 'O2-gnu++20');
  assert.equal(stdout(r), level(202002, 'gnu', 'optimized', 'local'));
});

test('#define _GLIBCXX_DEBUG before the include: no PCH, and debug mode catches the bad index', { skip }, async () => {
  const r = await build(`#define _GLIBCXX_DEBUG\n${OUT_OF_RANGE}`, []);
  assertFellBack(r);
  assert.match(r.stderr, /`_GLIBCXX_DEBUG' is defined/);
  assert.equal(r.run?.status, 'runtime_error', describeOutcome(r.run));
  assert.match(r.run.stderr.toString('utf8'), /out-of-bounds|__n < this->size\(\)/, describeOutcome(r.run));
});

test('#define NDEBUG before the include: no PCH, and assert() is compiled out', { skip }, async () => {
  const source = `#define NDEBUG
#include <bits/stdc++.h>
int main() { assert(1 == 2); std::cout << "past the assert\\n"; }
`;
  const r = await build(source, []);
  assertFellBack(r);
  assert.match(r.stderr, /`NDEBUG' is defined/);
  assert.equal(stdout(r), 'past the assert\n');
});

test('#define ll long long before the include (unused by the header) keeps the PCH', { skip }, async () => {
  const source = `#define ll long long
${STDCXX_PROGRAM.replace('long long', 'll')}`;
  const r = await build(source, [], STDCXX_INPUT);
  assertUsed(r, 'O2-gnu++20');
  assert.equal(stdout(r), STDCXX_OUTPUT);
});
