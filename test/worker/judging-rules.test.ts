// The judging rules, pure and table-tested: testlib's exit codes and points, the interactive
// outcome precedence, group scoring and order, the new comparison modes, request validation of
// groups. (The same rules through the real sandbox: test/e2e/judging.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findDependencyCycle, RunRequest } from '../../services/core/schemas.ts';
import { checkerVerdict, judgeMessage, parsePoints, utf8Prefix } from '../../worker/checker.ts';
import { compareOutput } from '../../worker/compare.ts';
import { interactionVerdict, solutionLimitVerdict, transcriptResult } from '../../worker/interactor.ts';
import { groupOrder, groupScore, scoreGroup, shouldSkipGroup, testFraction, totalScore } from '../../worker/scoring.ts';
import { overallVerdict, shouldContinue } from '../../worker/verdict.ts';

const exited = (exitCode: number) => ({ status: exitCode === 0 ? 'ok' as const : 'runtime_error' as const, exitCode, signal: null });

test('checker exit codes (testlib): 0/1/2 → verdicts, 7 → partial with points, anything else → checker_error', () => {
  const table: Array<[ReturnType<typeof exited> | { status: any; exitCode: number | null; signal: string | null }, string, object]> = [
    [exited(0), '', { verdict: 'accepted' }],
    [exited(1), 'wrong answer', { verdict: 'wrong_answer' }],
    [exited(2), 'wrong output format', { verdict: 'presentation_error' }],
    [exited(7), 'points 0.25 close', { verdict: 'partial', points: 0.25 }],
    [exited(7), '0.5', { verdict: 'partial', points: 0.5 }],
    [exited(7), 'points 12', { verdict: 'partial', points: 1 }],
    [exited(7), 'points -3', { verdict: 'partial', points: 0 }],
    [exited(7), 'points nan', { verdict: 'checker_error' }],
    [exited(7), '', { verdict: 'checker_error' }],
    [exited(3), 'FAIL bad answer file', { verdict: 'checker_error' }],
    [exited(4), '', { verdict: 'checker_error' }],
    [exited(127), 'not found', { verdict: 'checker_error' }],
    [{ status: 'runtime_error', exitCode: null, signal: 'SIGSEGV' }, '', { verdict: 'checker_error' }],
    [{ status: 'time_limit', exitCode: null, signal: 'SIGKILL' }, '', { verdict: 'checker_error' }],
    [{ status: 'output_limit', exitCode: null, signal: 'SIGKILL' }, '', { verdict: 'checker_error' }],
    [{ status: 'memory_limit', exitCode: null, signal: 'SIGKILL' }, '', { verdict: 'checker_error' }],
  ];
  for (const [outcome, message, want] of table) assert.deepEqual(checkerVerdict(outcome, message), want, `${JSON.stringify(outcome)} ${message}`);
});

test('points: testlib\'s "points <value> <message>" or a bare number; clamped; anything else is null', () => {
  assert.equal(parsePoints('points 0.3333333333 ok'), 0.3333333333);
  assert.equal(parsePoints('  1e-1 tenth'), 0.1);
  assert.equal(parsePoints('points'), null);
  assert.equal(parsePoints('points Infinity'), null);
  assert.equal(parsePoints('partially correct (50)'), null);
  assert.equal(parsePoints('points 2'), 1);
  assert.equal(parsePoints('queries=19\npoints 0.5\n'), 0.5);
  assert.equal(parsePoints('queries=19\n'), null);
});

test('a judge\'s message: stderr then stdout, capped at a UTF-8 character boundary', () => {
  assert.equal(judgeMessage({ stderr: Buffer.from('err'), stdout: Buffer.alloc(0) }), 'err');
  assert.equal(judgeMessage({ stderr: Buffer.from('err'), stdout: Buffer.from('out') }), 'err\nout');
  const euro = Buffer.from('€'.repeat(2000)); // 3 bytes each
  const cut = judgeMessage({ stderr: euro, stdout: Buffer.alloc(0) }, 4096);
  assert.equal(cut, '€'.repeat(1365));
  assert.equal(utf8Prefix(Buffer.from('aé'), 2), 'a');
  assert.ok(Buffer.byteLength(judgeMessage({ stderr: Buffer.alloc(10_000, 0x61), stdout: Buffer.alloc(10_000, 0x62) })) <= 4096);
});

const side = (o: Partial<{ status: any; limit: any; exitCode: number | null; signal: string | null; cpuMs: number; wallMs: number }>) => ({
  status: 'ok' as const, limit: undefined, exitCode: 0, signal: null, cpuMs: 10, wallMs: 100, ...o,
});

test('interactive precedence: judge failure, early WA, solution limits, WA, RE, OK', () => {
  const wa = side({ status: 'runtime_error', exitCode: 1 });
  const table: Array<[string, ReturnType<typeof side>, ReturnType<typeof side>, string, boolean, object]> = [
    ['both fine', side({}), side({}), 'ok', false, { verdict: 'accepted' }],
    ['both fine, checker next', side({}), side({}), 'ok', true, { verdict: 'accepted', toChecker: true }],
    ['interactor points', side({}), side({ status: 'runtime_error', exitCode: 7 }), 'points 0.4', false, { verdict: 'partial', points: 0.4 }],
    ['interactor FAIL', side({}), side({ status: 'runtime_error', exitCode: 3 }), 'FAIL', false, { verdict: 'checker_error' }],
    ['interactor crash beats solution TLE', side({ status: 'time_limit', limit: 'cpu', exitCode: null, signal: 'SIGKILL' }), side({ status: 'runtime_error', exitCode: null, signal: 'SIGSEGV' }), '', false, { verdict: 'checker_error' }],
    ['interactor memory limit', side({}), side({ status: 'memory_limit', limit: 'memory', exitCode: null, signal: 'SIGKILL' }), '', false, { verdict: 'checker_error' }],
    ['interactor alone at its wall limit', side({}), side({ status: 'time_limit', limit: 'wall', exitCode: null, signal: 'SIGKILL', wallMs: 5000 }), '', false, { verdict: 'checker_error' }],
    ['WA first, then the solution spins to TLE', side({ status: 'time_limit', limit: 'cpu', exitCode: null, signal: 'SIGKILL', cpuMs: 2000, wallMs: 2100 }), { ...wa, wallMs: 50 }, 'wrong answer', false, { verdict: 'wrong_answer' }],
    ['PE first', side({ status: 'runtime_error', exitCode: null, signal: 'SIGPIPE', wallMs: 900 }), side({ status: 'runtime_error', exitCode: 2, wallMs: 40 }), '', false, { verdict: 'presentation_error' }],
    ['solution TLE, interactor WA on the EOF after', side({ status: 'time_limit', limit: 'cpu', exitCode: null, signal: 'SIGKILL', cpuMs: 1000, wallMs: 1050 }), { ...wa, wallMs: 1060 }, 'unexpected eof', false, { verdict: 'time_limit' }],
    ['solution MLE', side({ status: 'memory_limit', limit: 'memory', exitCode: null, signal: 'SIGKILL', wallMs: 300 }), { ...wa, wallMs: 310 }, '', false, { verdict: 'memory_limit' }],
    ['solution output limit (stderr)', side({ status: 'output_limit', limit: 'output', exitCode: null, signal: 'SIGKILL', wallMs: 300 }), { ...wa, wallMs: 290 }, '', false, { verdict: 'output_limit' }],
    ['mutual wait: both at the wall, solution idle', side({ status: 'time_limit', limit: 'wall', exitCode: null, signal: 'SIGKILL', cpuMs: 2, wallMs: 1000 }), side({ status: 'time_limit', limit: 'wall', exitCode: null, signal: 'SIGKILL', cpuMs: 2, wallMs: 1000 }), '', false, { verdict: 'idleness_limit' }],
    ['solution at the wall but busy', side({ status: 'time_limit', limit: 'wall', exitCode: null, signal: 'SIGKILL', cpuMs: 600, wallMs: 1000 }), { ...wa, wallMs: 1001 }, '', false, { verdict: 'time_limit' }],
    ['solution RE, interactor WA after (EOF)', side({ status: 'runtime_error', exitCode: null, signal: 'SIGABRT', wallMs: 5 }), { ...wa, wallMs: 8 }, '', false, { verdict: 'wrong_answer' }],
    ['solution RE after interactor OK', side({ status: 'runtime_error', exitCode: 1, wallMs: 20 }), side({ wallMs: 10 }), 'ok', false, { verdict: 'runtime_error' }],
    ['interactor SIGPIPE: the solution left and closed the pipe', side({ wallMs: 5 }), side({ status: 'runtime_error', exitCode: null, signal: 'SIGPIPE', wallMs: 6 }), '', false, { verdict: 'wrong_answer' }],
    ['interactor SIGPIPE after the solution crashed', side({ status: 'runtime_error', exitCode: 139, wallMs: 5 }), side({ status: 'runtime_error', exitCode: null, signal: 'SIGPIPE', wallMs: 6 }), '', false, { verdict: 'runtime_error' }],
    ['a sandbox failure on either side', side({ status: 'internal_error', exitCode: null }), side({}), '', false, { verdict: 'internal_error' }],
  ];
  for (const [name, solution, interactor, message, hasChecker, want] of table) {
    assert.deepEqual(interactionVerdict(solution, interactor, message, hasChecker), want, name);
  }
  assert.equal(solutionLimitVerdict(side({})), null);
  // One clock for both ends decides "first" when given: here the interactor's container started
  // 185 ms later (a slow host), so its wall time is shorter, yet it ended after the solution was
  // killed (it read EOF): the mutual wait is the solution's idleness, not the interactor's WA.
  const idle = side({ status: 'time_limit', limit: 'wall', exitCode: null, signal: 'SIGKILL', cpuMs: 2, wallMs: 808 });
  const eof = { ...wa, wallMs: 623 };
  assert.deepEqual(interactionVerdict(idle, eof, 'unexpected eof', false), { verdict: 'wrong_answer' }, 'by wall times');
  assert.deepEqual(interactionVerdict(idle, eof, 'unexpected eof', false, { solution: 1000, interactor: 1004 }), { verdict: 'idleness_limit' }, 'by one clock');
  assert.deepEqual(interactionVerdict(idle, eof, 'unexpected eof', false, { solution: 1000, interactor: 400 }), { verdict: 'wrong_answer' }, 'clearly first on one clock');
});

test('scoring: fractions, group scores by mode, status, totals', () => {
  assert.equal(testFraction({ verdict: 'accepted' }), 1);
  assert.equal(testFraction({ verdict: 'partial', points: 0.3 }), 0.3);
  assert.equal(testFraction({ verdict: 'wrong_answer' }), 0);
  assert.equal(testFraction({ verdict: 'skipped' }), 0);
  const tests = [{ verdict: 'accepted' as const }, { verdict: 'partial' as const, points: 0.5 }, { verdict: 'partial' as const, points: 0.25 }];
  assert.equal(groupScore('all-or-nothing', 30, tests), 0);
  assert.equal(groupScore('all-or-nothing', 30, [tests[0]!, tests[0]!]), 30);
  assert.equal(groupScore('min-partial', 40, tests), 10);
  assert.equal(groupScore('sum', 30, tests), 17.5);
  const g = { name: 'g', points: 30, scoring: 'sum' as const };
  assert.deepEqual(scoreGroup(g, [0, 1, 2], tests, false), { name: 'g', points: 30, score: 17.5, status: 'partial', tests: [0, 1, 2] });
  assert.equal(scoreGroup(g, [0], [tests[0]!], false).status, 'passed');
  assert.equal(scoreGroup(g, [0], [{ verdict: 'wrong_answer' }], false).status, 'failed');
  assert.equal(scoreGroup(g, [0], [tests[0]!], true).status, 'skipped');
  assert.equal(scoreGroup(g, [0], [tests[0]!], true).score, 0);
  assert.equal(scoreGroup({ name: 'samples', points: 0, scoring: 'all-or-nothing' }, [0], [tests[0]!], false).status, 'passed');
  assert.equal(scoreGroup({ name: 'samples', points: 0, scoring: 'all-or-nothing' }, [0], [{ verdict: 'time_limit' }], false).status, 'failed');
  // Scores are rounded to 6 decimals, so a group of thirds reads as the number it is.
  const thirds = [{ verdict: 'partial' as const, points: 1 / 3 }, { verdict: 'partial' as const, points: 1 / 3 }, { verdict: 'partial' as const, points: 1 / 3 }];
  assert.equal(scoreGroup({ ...g, points: 10 }, [0, 1, 2], thirds, false).score, 3.333333);
  assert.equal(scoreGroup({ ...g, points: 10, scoring: 'min-partial' }, [0, 1, 2], thirds.map((x) => ({ ...x, points: 0.1 + 0.2 })), false).score, 3);
  assert.deepEqual(totalScore([scoreGroup(g, [0, 1, 2], tests, false), scoreGroup({ ...g, name: 'h', points: 70 }, [3], [tests[0]!], false)]), { score: 87.5, maxScore: 100 });
});

test('group order: dependencies first, else request order; a dependant of a group short of full points is skipped', () => {
  assert.deepEqual(groupOrder([{ name: 'c', dependsOn: ['a', 'b'] }, { name: 'b', dependsOn: ['a'] }, { name: 'a' }, { name: 'd' }]), ['a', 'b', 'c', 'd']);
  assert.throws(() => groupOrder([{ name: 'a', dependsOn: ['b'] }, { name: 'b', dependsOn: ['a'] }]), /depend on each other/);
  const done = new Map([['a', { name: 'a', points: 1, score: 1, status: 'passed' as const, tests: [] }], ['b', { name: 'b', points: 1, score: 0.5, status: 'partial' as const, tests: [] }]]);
  assert.equal(shouldSkipGroup({ dependsOn: ['a'] }, done), false);
  assert.equal(shouldSkipGroup({ dependsOn: ['a', 'b'] }, done), true);
  assert.equal(shouldSkipGroup({}, done), false);
});

test('the run\'s verdict is the first non-accepted test, skipped ones aside; stopping rules', () => {
  assert.equal(overallVerdict(['accepted', 'skipped', 'partial', 'wrong_answer']), 'partial');
  assert.equal(overallVerdict(['accepted', 'skipped']), 'accepted');
  assert.equal(shouldContinue('partial', true), true);
  assert.equal(shouldContinue('partial', true, 'all-or-nothing'), false);
  assert.equal(shouldContinue('partial', true, 'min-partial'), true);
  assert.equal(shouldContinue('wrong_answer', true, 'sum'), false);
  assert.equal(shouldContinue('checker_error', false), true);
  assert.equal(shouldContinue('internal_error', false), false);
});

test('compare: unordered-lines and case-insensitive', () => {
  assert.equal(compareOutput('b\na\na  \n\n', 'a\na\nb', 'unordered-lines'), true);
  assert.equal(compareOutput('b\na\n', 'a\na\nb', 'unordered-lines'), false);
  assert.equal(compareOutput('a\nb b', 'a\nb  b', 'unordered-lines'), false);
  assert.equal(compareOutput('YES\r\n', 'yes', 'case-insensitive'), true);
  assert.equal(compareOutput('YES NO', 'yes  no', 'case-insensitive'), false);
});

test('request validation: groups, dependencies, cycles, judges', () => {
  const issues = (body: object) => {
    const r = RunRequest.safeParse({ language: 'c', source: 'x', ...body });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  const t = (group?: string) => ({ stdin: '', ...(group ? { group } : {}) });
  assert.deepEqual(issues({ tests: [t('a'), t('b')], groups: [{ name: 'a', points: 1 }, { name: 'b', points: 2, dependsOn: ['a'], scoring: 'sum' }] }), []);
  assert.match(issues({ tests: [t('a')], groups: [{ name: 'a', points: 1, dependsOn: ['a'] }] }).join(), /groups\.0\.dependsOn: dependency cycle: a → a/);
  assert.match(issues({ tests: [t('a'), t('b'), t('c')], groups: [{ name: 'a', points: 1, dependsOn: ['c'] }, { name: 'b', points: 1, dependsOn: ['a'] }, { name: 'c', points: 1, dependsOn: ['b'] }] }).join(), /dependency cycle: a → c → b → a/);
  assert.match(issues({ tests: [t('a')], groups: [{ name: 'a', points: 1 }, { name: 'b', points: 1 }] }).join(), /groups\.1: group b has no tests/);
  assert.match(issues({ groups: [{ name: 'a', points: 1 }] }).join(), /groups: groups need tests/);
  assert.match(issues({ tests: [t('a')], groups: [{ name: 'a', points: -1 }] }).join(), /groups\.0\.points/);
  assert.match(issues({ tests: [t('a b')], groups: [{ name: 'a b', points: 1 }] }).join(), /tests\.0\.group/);
  assert.match(issues({ checker: { language: 'c' } }).join(), /checker\.source: give source, files or both/);
  assert.match(issues({ interactor: { language: 'c', source: 'x', files: [{ path: 'a', content: '' }, { path: 'a', content: '' }] } }).join(), /interactor\.files\.1\.path: duplicate path a/);
  assert.match(issues({ interactor: { language: 'c', source: 'x', limits: { cpuMs: 0 } } }).join(), /interactor\.limits\.cpuMs/);
  assert.deepEqual(issues({ checker: { language: 'c', source: 'x', compilerArgs: ['-O2'], limits: { cpuMs: 500 } }, compare: 'unordered-lines' }), []);
  assert.equal(findDependencyCycle([{ name: 'a' }, { name: 'b', dependsOn: ['a'] }]), null);
  assert.match(issues({ checker: { language: 'c', source: 'x' }, callbackFormat: 'judge0', callbackUrl: 'http://x.test/' }).join(), /callbackFormat: judge0 cannot carry the results of checker/);
});

// How the exchange is recorded (entries, their cost, the budget): test/sandbox/relay.test.ts.

test('transcript: the program is first; UTF-8 text unless an entry is not valid UTF-8, then base64', () => {
  const text = transcriptResult({ entries: [{ from: 'first', data: Buffer.from('1\n') }, { from: 'second', data: Buffer.from('é\n') }], truncated: false });
  assert.deepEqual(text, { encoding: 'utf8', truncated: false, entries: [{ from: 'program', data: '1\n' }, { from: 'interactor', data: 'é\n' }] });
  const binary = transcriptResult({ entries: [{ from: 'first', data: Buffer.from([0xff, 0x00]) }, { from: 'second', data: Buffer.from('ok') }], truncated: true });
  assert.deepEqual(binary, { encoding: 'base64', truncated: true, entries: [{ from: 'program', data: '/wA=' }, { from: 'interactor', data: 'b2s=' }] });
});
