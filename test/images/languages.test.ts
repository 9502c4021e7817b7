// Every language of every recipe, through the real sandbox: hello world, stdin echo, a compile
// error (compiled languages) and a runtime error. A language whose image is not built on this
// machine is skipped with the reason; `npm run test:languages` builds them all first and prints
// a summary table. CORRAL_LANGUAGES=c,python limits the run to some languages.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ImageStore, DEFAULT_IMAGE_ROOT } from '../../rootfs-images/store.ts';
import { loadRecipes } from '../../rootfs-images/recipe.ts';
import { getLanguage } from '../../rootfs-images/languages.ts';
import { compileAndRun, describeOutcome } from './run-language.ts';
import { imageOfThisCheckout } from './helpers.ts';

const store = new ImageStore(process.env.CORRAL_IMAGES_DIR ?? DEFAULT_IMAGE_ROOT);
const recipes = loadRecipes();
const only = process.env.CORRAL_LANGUAGES?.split(',').map((s) => s.trim()).filter(Boolean);

// Leading spaces must survive; trailing spaces on a line need not (COBOL's line-sequential records drop them).
const ECHO_INPUT = 'first line\n  second line, indented\nthird: 1 2 3\n';
const mark = (b: boolean | undefined) => (b === undefined ? '-' : b ? 'ok' : 'FAIL');

interface Row { id: string; version: string; hello?: boolean; echo?: boolean; compileError?: boolean; runtimeError?: boolean; firstRunMs?: number; note?: string }
const rows: Row[] = [];

for (const recipe of recipes.values()) {
  for (const language of recipe.languages) {
    if (only && !only.includes(language.id)) continue;
    test(`${language.id} (${language.name}, image ${recipe.name})`, async (t) => {
      const row: Row = { id: language.id, version: '' };
      rows.push(row);
      const image = imageOfThisCheckout(store, recipes, recipe.name);
      if ('skip' in image) {
        row.note = `image '${recipe.name}' not tested`;
        t.skip(image.skip);
        return;
      }
      const lang = getLanguage(language.id, recipes)!;
      const { layerDirs } = image;
      row.version = (await store.readImage(recipe.name))?.versions[lang.id] ?? '?';
      const ex = lang.examples;

      await t.test('hello world', async () => {
        row.hello = false;
        const r = await compileAndRun(lang, layerDirs, ex.hello);
        row.firstRunMs = Math.round(r.totalMs);
        assert.equal(r.compile?.status ?? 'ok', 'ok', `compile: ${describeOutcome(r.compile)}`);
        assert.equal(r.run?.status, 'ok', `run: ${describeOutcome(r.run)}`);
        assert.equal(r.run.exitCode, 0);
        assert.equal(r.run.stdout.toString('utf8').trim(), 'Hello, World!', describeOutcome(r.run));
        row.hello = true;
      });

      await t.test('stdin echo', async () => {
        row.echo = false;
        const r = await compileAndRun(lang, layerDirs, ex.echo, ECHO_INPUT);
        assert.equal(r.compile?.status ?? 'ok', 'ok', `compile: ${describeOutcome(r.compile)}`);
        assert.equal(r.run?.status, 'ok', `run: ${describeOutcome(r.run)}`);
        // Trailing whitespace of the whole output may differ (SQLite adds a row separator).
        assert.equal(r.run.stdout.toString('utf8').trimEnd(), ECHO_INPUT.trimEnd(), describeOutcome(r.run));
        row.echo = true;
      });

      if (lang.compile) {
        await t.test('compile error', async () => {
          row.compileError = false;
          const r = await compileAndRun(lang, layerDirs, ex.compileError!);
          assert.ok(r.compile, 'a compiled language has a compile phase');
          assert.equal(r.compile.status, 'runtime_error', `compile must fail: ${describeOutcome(r.compile)}`);
          assert.notEqual(r.compile.exitCode, 0);
          assert.equal(r.run, undefined, 'nothing runs after a failed compile');
          const message = r.compile.stdout.toString('utf8') + r.compile.stderr.toString('utf8');
          // The compiler's own diagnostic: it names the file or says "error".
          const file = lang.fileName.replace(/\./g, '\\.');
          assert.match(message, new RegExp(`error|${file}`, 'i'), describeOutcome(r.compile));
          row.compileError = true;
        });
      }

      await t.test('runtime error', async () => {
        row.runtimeError = false;
        const r = await compileAndRun(lang, layerDirs, ex.runtimeError);
        assert.equal(r.compile?.status ?? 'ok', 'ok', `compile: ${describeOutcome(r.compile)}`);
        assert.equal(r.run?.status, 'runtime_error', describeOutcome(r.run));
        assert.ok(r.run.exitCode !== 0 || r.run.signal !== null, describeOutcome(r.run));
        row.runtimeError = true;
      });
    });
  }
}

after(() => {
  if (!rows.length) return;
  const head = ['language', 'version', 'hello', 'stdin', 'compile-error', 'runtime-error', 'first-run ms'];
  const body = rows.map((r) => r.note
    ? [r.id, '-', 'skip', 'skip', 'skip', 'skip', r.note]
    : [r.id, r.version, mark(r.hello), mark(r.echo), mark(r.compileError), mark(r.runtimeError), String(r.firstRunMs ?? '-')]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i])).join('  ').trimEnd();
  // Printed from the test file, the table reaches the terminal through the runner's reporter.
  console.log(`\n${[line(head), ...body.map(line)].join('\n')}`);
});
