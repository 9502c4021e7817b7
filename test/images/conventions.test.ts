// Programs written the way Judge0 and Piston expect them, run unchanged on Corral's languages
// through the real sandbox (docs/images.md, "Program conventions"). Erlang and Elixir run under
// Judge0's default max_file_size (1024 KB). A language whose image is not built is skipped with
// the reason. CORRAL_LANGUAGES=erlang,java limits the run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImageStore, DEFAULT_IMAGE_ROOT } from '../../rootfs-images/store.ts';
import { loadRecipes } from '../../rootfs-images/recipe.ts';
import { getLanguage, commandsFor } from '../../rootfs-images/languages.ts';
import { compileAndRun, describeOutcome, type LanguageRun, type RunOptions } from './run-language.ts';
import { imageOfThisCheckout } from './helpers.ts';

const store = new ImageStore(process.env.CORRAL_IMAGES_DIR ?? DEFAULT_IMAGE_ROOT);
const recipes = loadRecipes();
const only = process.env.CORRAL_LANGUAGES?.split(',').map((s) => s.trim()).filter(Boolean);

const KiB = 1024;
/** Judge0's default max_file_size (1024 KB), for both phases. */
const JUDGE0_FILE_SIZE: RunOptions = { compile: { fileSizeBytes: 1024 * KiB }, run: { fileSizeBytes: 1024 * KiB } };
const INPUT = 'first line\n  second line\n';
const HELLO_AND_INPUT = `Hello, World!\n${INPUT}`;

/** A test per language: skipped when its image is not built; `run` compiles and runs a source. */
function languageTest(id: string, body: (run: (source: string, stdin?: string, limits?: RunOptions) => Promise<LanguageRun>, t: test.TestContext) => Promise<void>): void {
  if (only && !only.includes(id)) return;
  const lang = getLanguage(id, recipes);
  test(`${id}: programs written for Judge0 or Piston`, async (t) => {
    assert.ok(lang, `language ${id} exists`);
    const image = imageOfThisCheckout(store, recipes, lang.image);
    if ('skip' in image) {
      t.skip(image.skip);
      return;
    }
    const { layerDirs } = image;
    await body((source, stdin = '', limits = {}) => compileAndRun(lang, layerDirs, source, stdin, limits), t);
  });
}

/** Asserts a clean compile (if any) and a clean run printing exactly `stdout`. */
function assertRan(r: LanguageRun, stdout: string): void {
  assert.equal(r.compile?.status ?? 'ok', 'ok', `compile: ${describeOutcome(r.compile)}`);
  assert.equal(r.run?.status, 'ok', `run: ${describeOutcome(r.run)}`);
  assert.equal(r.run.exitCode, 0, describeOutcome(r.run));
  assert.equal(r.run.stdout.toString('utf8'), stdout, describeOutcome(r.run));
}

languageTest('erlang', async (run, t) => {
  // Judge0 runs `escript main.erl` after prefixing a newline, so its programs start with code.
  const judge0 = 'main(_) ->\n    io:format("Hello, World!~n"),\n    echo().\n\n' +
    'echo() ->\n    case io:get_line("") of\n        eof -> ok;\n        Line -> io:put_chars(Line), echo()\n    end.\n';
  await t.test('Judge0 escript (main/1, code on line 1), 1024 KB file-size limit', async () => {
    assertRan(await run(judge0, INPUT, JUDGE0_FILE_SIZE), HELLO_AND_INPUT);
  });
  // Piston runs `escript main.erl` as is: escript skips line 1, so its programs leave it empty.
  await t.test('Piston escript (empty line 1) with -module and -export', async () => {
    const piston = `\n-module(main).\n-export([main/1]).\n\n${judge0}`;
    assertRan(await run(piston, INPUT, JUDGE0_FILE_SIZE), HELLO_AND_INPUT);
  });
  await t.test('#! escript', async () => {
    assertRan(await run(`#!/usr/bin/env escript\n${judge0}`, INPUT, JUDGE0_FILE_SIZE), HELLO_AND_INPUT);
  });
  await t.test("Corral's module with start/0 still works, under the same limit", async () => {
    const lang = getLanguage('erlang', recipes)!;
    assertRan(await run(lang.examples.hello, '', JUDGE0_FILE_SIZE), 'Hello, World!\n');
    assertRan(await run(lang.examples.echo, INPUT, JUDGE0_FILE_SIZE), INPUT);
  });
  await t.test('the file-size limit still holds for what the program writes', async () => {
    const writer = 'main(_) ->\n    R = file:write_file("big", binary:copy(<<0>>, 2000000)),\n' +
      '    io:format("~p ~p~n", [R, filelib:file_size("big")]).\n';
    assertRan(await run(writer, '', JUDGE0_FILE_SIZE), `{error,efbig} ${1024 * KiB}\n`);
  });
  await t.test('escript compile error fails the compile phase', async () => {
    const r = await run('main(_) -> io:format("x~n".\n', '', JUDGE0_FILE_SIZE);
    assert.equal(r.compile?.status, 'runtime_error', describeOutcome(r.compile));
    assert.equal(r.run, undefined);
    assert.match(r.compile.stderr.toString('utf8') + r.compile.stdout.toString('utf8'), /main\.escript:1:\d+: syntax error/);
  });
  await t.test('runtime errors: no crash dump under the limit', async () => {
    const escript = await run('main(_) -> erlang:error(about_to_fail).\n', '', JUDGE0_FILE_SIZE);
    assert.equal(escript.run?.status, 'runtime_error', describeOutcome(escript.run));
    assert.match(escript.run.stderr.toString('utf8'), /about_to_fail/);
    const module = await run(getLanguage('erlang', recipes)!.examples.runtimeError, '', JUDGE0_FILE_SIZE);
    assert.equal(module.run?.status, 'runtime_error', describeOutcome(module.run));
    assert.equal(module.run.signal, null, 'ended by its own exit, not by SIGXFSZ');
    assert.doesNotMatch(module.run.stderr.toString('utf8') + module.run.stdout.toString('utf8'), /crash dump/i);
  });
});

languageTest('elixir', async (run) => {
  const program = 'IO.puts("Hello, World!")\nIO.binwrite(IO.binread(:stdio, :eof))\n';
  assertRan(await run(program, INPUT, JUDGE0_FILE_SIZE), HELLO_AND_INPUT);
});

languageTest('java', async (run, t) => {
  await t.test('public class Solution in Main.java (Piston: any class name)', async () => {
    const src = 'import java.util.Scanner;\n\npublic class Solution {\n    public static void main(String[] args) {\n' +
      '        System.out.println("Hello, World!");\n        Scanner in = new Scanner(System.in);\n' +
      '        while (in.hasNextLine()) System.out.println(in.nextLine());\n    }\n}\n';
    assertRan(await run(src, INPUT), HELLO_AND_INPUT);
  });
  await t.test('non-public class with main next to a helper class', async () => {
    const src = 'import java.io.*;\n\nclass Helper {\n    static String greet() { return "Hello, World!"; }\n}\n\n' +
      'class Program {\n    public static void main(String[] args) throws IOException {\n' +
      '        System.out.println(Helper.greet());\n        BufferedReader r = new BufferedReader(new InputStreamReader(System.in));\n' +
      '        for (String l; (l = r.readLine()) != null; ) System.out.println(l);\n    }\n}\n';
    assertRan(await run(src, INPUT), HELLO_AND_INPUT);
  });
  await t.test('a class in a package, with a comment that names a decoy public class', async () => {
    const src = 'package app;\n\n/* public class Decoy */\npublic class Runner {\n    public static void main(String[] args) throws Exception {\n' +
      '        System.out.println("Hello, World!");\n        System.in.transferTo(System.out);\n    }\n}\n';
    assertRan(await run(src, INPUT), HELLO_AND_INPUT);
  });
  await t.test('compile and runtime errors of a public class Solution', async () => {
    const bad = await run('public class Solution {\n    public static void main(String[] a) {\n        int x = "no";\n    }\n}\n');
    assert.equal(bad.compile?.status, 'runtime_error', describeOutcome(bad.compile));
    assert.match(bad.compile.stderr.toString('utf8'), /Solution\.java:3: error: incompatible types/);
    const fails = await run('public class Solution {\n    public static void main(String[] a) {\n        throw new IllegalStateException("about to fail");\n    }\n}\n');
    assert.equal(fails.run?.status, 'runtime_error', describeOutcome(fails.run));
    assert.match(fails.run.stderr.toString('utf8'), /IllegalStateException: about to fail/);
  });
});

languageTest('scala', async (run, t) => {
  await t.test('object Solution extends App', async () => {
    const src = 'object Solution extends App {\n  println("Hello, World!")\n' +
      '  Iterator.continually(scala.io.StdIn.readLine()).takeWhile(_ != null).foreach(println)\n}\n';
    assertRan(await run(src, INPUT), HELLO_AND_INPUT);
  });
  await t.test('object Program with main, next to a class', async () => {
    const src = 'class Greeter { def greet = "Hello, World!" }\n\nobject Program {\n  def main(args: Array[String]): Unit = {\n' +
      '    println(new Greeter().greet)\n    scala.io.Source.stdin.getLines().foreach(println)\n  }\n}\n';
    assertRan(await run(src, INPUT), HELLO_AND_INPUT);
  });
});

languageTest('prolog', async (run, t) => {
  // Judge0's Prolog programs start main through initialization/1 and expect no toplevel after it.
  await t.test(':- initialization(main). reads its own stdin; no banner, no toplevel output', async () => {
    const src = ':- initialization(main).\n\nmain :- write(\'Hello, World!\'), nl, read_term(user_input, T, []), write(T), nl.\n';
    const r = await run(src, 'greeting(hi).\nX = 1.\n');
    assertRan(r, 'Hello, World!\ngreeting(hi)\n');
    assert.equal(r.run!.stderr.toString('utf8'), '', describeOutcome(r.run));
  });
  // Piston's own Prolog test is a bare directive.
  await t.test('a bare directive (Piston), stdin left unread is not run as queries', async () => {
    const r = await run(":- write('Hello, World!'), nl.\n", 'halt.\nwrite(oops).\n');
    assertRan(r, 'Hello, World!\n');
    assert.equal(r.run!.stderr.toString('utf8'), '', describeOutcome(r.run));
  });
  await t.test('an error in initialization(main) is a runtime error', async () => {
    const r = await run(':- initialization(main).\nmain :- X is 1 / 0, write(X).\n');
    assert.equal(r.run?.status, 'runtime_error', describeOutcome(r.run));
    assert.match(r.run.stderr.toString('utf8'), /zero_divisor/);
  });
});

languageTest('kotlin', async (run) => {
  // Judge0's compile_output is null only when the compiler prints nothing.
  const r = await run(getLanguage('kotlin', recipes)!.examples.hello);
  assertRan(r, 'Hello, World!\n');
  assert.equal(r.compile!.stdout.toString('utf8') + r.compile!.stderr.toString('utf8'), '', describeOutcome(r.compile));
});

test('language names say which compiler runs (D is GDC, Prolog is SWI-Prolog)', () => {
  const d = getLanguage('d', recipes)!;
  assert.equal(d.name, 'D (GDC)');
  assert.equal(commandsFor(d).compile![0], 'gdc');
  const prolog = getLanguage('prolog', recipes)!;
  assert.equal(prolog.name, 'Prolog (SWI)');
  assert.equal(commandsFor(prolog).run[0], 'swipl');
});
