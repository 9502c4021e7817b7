import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareOutput } from '../../worker/compare.ts';
import type { CompareMode } from '../../services/core/schemas.ts';

const cases: Array<[string, string, CompareMode, boolean]> = [
  // exact
  ['1 2\n', '1 2\n', 'exact', true],
  ['1 2\n', '1 2', 'exact', false],
  ['1 2 \n', '1 2\n', 'exact', false],
  // trailing-whitespace (default)
  ['1 2 \n', '1 2\n', 'trailing-whitespace', true],
  ['1 2\r\n3\r\n', '1 2\n3', 'trailing-whitespace', true],
  ['1 2\n\n\n', '1 2', 'trailing-whitespace', true],
  [' 1 2\n', '1 2\n', 'trailing-whitespace', false],
  ['1  2\n', '1 2\n', 'trailing-whitespace', false],
  ['1\n\n2\n', '1\n2\n', 'trailing-whitespace', false],
  ['', '', 'trailing-whitespace', true],
  ['\n', '', 'trailing-whitespace', true],
  // tokens
  ['1  2\n\n3', '1 2 3\n', 'tokens', true],
  ['1 2', '1 2 3', 'tokens', false],
  ['1 2 4', '1 2 3', 'tokens', false],
  ['1.0', '1', 'tokens', false],
  // float
  ['1.0001', '1', { float: { absolute: 1e-3, relative: 0 } }, true],
  ['1.01', '1', { float: { absolute: 1e-3, relative: 0 } }, false],
  ['1000.5', '1000', { float: { absolute: 0, relative: 1e-3 } }, true],
  ['1002', '1000', { float: { absolute: 0, relative: 1e-3 } }, false],
  ['yes 1.0000001', 'yes 1', { float: { absolute: 1e-6, relative: 0 } }, true],
  ['no 1', 'yes 1', { float: { absolute: 1, relative: 1 } }, false],
  ['1e3', '1000', { float: { absolute: 0, relative: 0 } }, true],
  ['nan', 'NaN', { float: { absolute: 0, relative: 0 } }, true],
  ['inf', 'inf', { float: { absolute: 0, relative: 0 } }, true],
  ['inf', '1e308', { float: { absolute: 1, relative: 1 } }, false],
  ['abc', '1', { float: { absolute: 10, relative: 10 } }, false],
  ['1 2', '1', { float: { absolute: 10, relative: 10 } }, false],
];

for (const [actual, expected, mode, want] of cases) {
  test(`compare ${JSON.stringify(mode)}: ${JSON.stringify(actual)} vs ${JSON.stringify(expected)} → ${want}`, () => {
    assert.equal(compareOutput(actual, expected, mode), want);
  });
}

test('compare defaults to trailing-whitespace', () => {
  assert.equal(compareOutput('a \n', 'a'), true);
  assert.equal(compareOutput(' a', 'a'), false);
});
