import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunRequest } from '../../services/core/schemas.ts';
import { findViolations, resolveLimits } from '../../services/core/limits.ts';
import { loadConfig } from '../../services/core/config.ts';

const ok = (r: unknown) => RunRequest.safeParse(r).success;

test('a file name may have up to 255 bytes (NAME_MAX), whatever its characters', () => {
  assert.ok(ok({ language: 'c', source: 'x', files: [{ path: `${'😀'.repeat(63)}abc`, content: '' }] })); // 255 bytes
  assert.ok(ok({ language: 'c', source: 'x', files: [{ path: `d/${'é'.repeat(127)}a`, content: '' }] })); // 255 bytes
  assert.ok(!ok({ language: 'c', source: 'x', files: [{ path: `${'😀'.repeat(63)}abcd`, content: '' }] })); // 256
  assert.ok(!ok({ language: 'c', source: 'x', collect: ['😀'.repeat(64)] }));
});

test('RunRequest accepts source, files or both (the source is the main file), not neither', () => {
  assert.ok(ok({ language: 'c', source: 'x' }));
  assert.ok(ok({ language: 'c', files: [{ path: 'a/b.c', content: 'x' }] }));
  assert.ok(!ok({ language: 'c' }));
  assert.ok(ok({ language: 'c', source: 'x', files: [] }));
  assert.ok(ok({ language: 'c', source: 'x', files: [{ path: 'util.h', content: 'y' }] }));
});

for (const path of ['/etc/passwd', '../x', 'a/../b', 'a//b', './a', 'a\0b', 'x'.repeat(300), '', '😀'.repeat(64), `d/${'é'.repeat(128)}`]) {
  test(`RunRequest rejects file path ${JSON.stringify(path.slice(0, 20))}`, () => {
    assert.ok(!ok({ language: 'c', files: [{ path, content: '' }] }));
  });
}

test('RunRequest rejects unknown fields, bad env names, NUL in args, duplicates, stdin with tests', () => {
  assert.ok(!ok({ language: 'c', source: 'x', bogus: 1 }));
  assert.ok(!ok({ language: 'c', source: 'x', env: { 'A=B': '1' } }));
  assert.ok(!ok({ language: 'c', source: 'x', args: ['a\0'] }));
  assert.ok(!ok({ language: 'c', files: [{ path: 'a', content: '' }, { path: 'a', content: '' }] }));
  assert.ok(!ok({ language: 'c', source: 'x', stdin: '', tests: [{ stdin: '' }] }));
  assert.ok(!ok({ language: 'c', source: 'x', callbackUrl: 'ftp://x/' }));
  assert.ok(!ok({ language: 'c', source: 'x', limits: { cpuMs: -1 } }));
  assert.ok(!ok({ language: 'c', source: 'x', compare: { float: { absolute: -1 } } }));
});

test('a file with encoding base64 must be canonical base64 (the decoder would skip the rest), in files, checkers and interactors', () => {
  const file = (content: string) => ({ path: 'data.bin', content, encoding: 'base64' });
  assert.ok(ok({ language: 'c', source: 'x', files: [file('/wA=')] }));
  assert.ok(ok({ language: 'c', source: 'x', files: [file('')] }));
  assert.ok(ok({ language: 'c', source: 'x', files: [{ path: 'a.txt', content: '!!!' }] })); // utf8: any text
  assert.ok(ok({ language: 'c', source: 'x', tests: [{ stdin: '' }], checker: { language: 'c', files: [{ path: 'chk.c', content: 'aGk=', encoding: 'base64' }] } }));
  for (const bad of ['!!!', '/wA', 'a b=', '/w==x', 'aGk=\n']) {
    const r = RunRequest.safeParse({ language: 'c', source: 'x', files: [file(bad)] });
    assert.ok(!r.success, bad);
    assert.deepEqual(r.error!.issues.map((i) => i.path), [['files', 0, 'content']], bad);
    assert.ok(!ok({ language: 'c', source: 'x', tests: [{ stdin: '' }], checker: { language: 'c', files: [{ path: 'chk.c', content: bad, encoding: 'base64' }] } }), `checker ${bad}`);
  }
});

test('stdinEncoding: utf8 by default; base64 must be canonical base64, for stdin and each test', () => {
  assert.equal(RunRequest.parse({ language: 'c', source: 'x' }).stdinEncoding, 'utf8');
  assert.ok(ok({ language: 'c', source: 'x', stdin: '/wA=', stdinEncoding: 'base64' }));
  assert.ok(ok({ language: 'c', source: 'x', stdin: '', stdinEncoding: 'base64' }));
  assert.ok(ok({ language: 'c', source: 'x', stdin: 'any text', stdinEncoding: 'utf8' }));
  for (const bad of ['/wA', 'a b=', '@@@@', '/w==x']) assert.ok(!ok({ language: 'c', source: 'x', stdin: bad, stdinEncoding: 'base64' }), bad);
  assert.ok(ok({ language: 'c', source: 'x', tests: [{ stdin: 'AQI=' }], stdinEncoding: 'base64' }));
  assert.ok(!ok({ language: 'c', source: 'x', tests: [{ stdin: 'AQI' }], stdinEncoding: 'base64' }));
  assert.ok(!ok({ language: 'c', source: 'x', stdinEncoding: 'hex' }));
});

test('defaults are applied', () => {
  const r = RunRequest.parse({ language: 'c', source: 'x' });
  assert.equal(r.compare, 'trailing-whitespace');
  assert.equal(r.stopOnFirstFailure, true);
  assert.equal(r.priority, 5);
  assert.equal(r.repeat, 1);
});

test('limits: defaults filled in, maxima named', () => {
  const c = loadConfig({});
  assert.equal(resolveLimits({ cpuMs: 5 }, c.limits.run.defaults).cpuMs, 5);
  assert.equal(resolveLimits({}, c.limits.run.defaults).wallMs, c.limits.run.defaults.wallMs);
  assert.deepEqual(findViolations({ cpuMs: 10 ** 9 }, c.limits.run.max, 'limits'), [{ field: 'limits.cpuMs', value: 10 ** 9, maximum: c.limits.run.max.cpuMs }]);
});
