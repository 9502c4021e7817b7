// Checkers, interactors and scored groups through the whole stack: HTTP → Redis/BullMQ → worker →
// real sandbox → result. Every program here (solution, checker, interactor) runs in its own
// container; the hostile ones try to read what they must not, plant symlinks, flood, hang, crash.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, readSse, type Stack } from './harness.ts';
import { needs, realSandbox, realStack, type RealSandbox } from './real-sandbox.ts';
import { expectNothingLeftBehind, slowHostLimits } from '../helpers/sandbox.ts';

const sb = await realSandbox();
if ('skip' in sb) console.log(`# e2e judging skipped: ${sb.skip}`);
let s: Stack;
before(async () => {
  if ('skip' in sb) return;
  s = await realStack(sb as RealSandbox);
});
after(async () => { await s?.stop(); });
if (!('skip' in sb)) expectNothingLeftBehind();

const run = async (body: object) => {
  const r = await api(s, 'POST', '/v1/runs?wait=true', body);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.status, 'completed', JSON.stringify(r.body));
  return r.body;
};
const verdicts = (r: any) => r.tests.map((t: any) => t.verdict);
/**
 * A time limit, longer under the cgroup v2 test kernel (User-Mode-Linux: a C program's exec alone
 * takes ~0.2 s of CPU, page faults and flooding a pipe are slow), so the limit that is meant is the
 * one reached, and a program that waits still counts as mostly idle.
 */
const wallLimit = (ms: number) => (process.env.CG2_VM ? ms * 10 : ms);

// A checker that does what the program's output tells it: "<exit code> <message…>".
const obedientChecker = { language: 'bash', source: 'read code msg < "$2"; echo "$msg" >&2; exit "$code"' };

test('checker exit codes: 0 accepted, 1 WA, 2 PE, 7 partial (testlib points, clamped), 3/other/no points → checker_error', { skip: needs(sb, 'bash') }, async () => {
  const cases: Array<[string, string, number?]> = [
    ['0 fine', 'accepted'], ['1 wrong answer 3 != 4', 'wrong_answer'], ['2 wrong output format', 'presentation_error'],
    ['7 points 0.25 a quarter', 'partial', 0.25], ['7 0.5', 'partial', 0.5], ['7 points 3', 'partial', 1], ['7 points -1', 'partial', 0],
    ['3 FAIL the answer file is broken', 'checker_error'], ['7 no number', 'checker_error'], ['42 what', 'checker_error'], ['4 dirt', 'checker_error'],
  ];
  const r = await run({ language: 'bash', source: 'cat', checker: obedientChecker, stopOnFirstFailure: false, tests: cases.map(([stdin]) => ({ stdin })) });
  assert.deepEqual(verdicts(r), cases.map((c) => c[1]));
  cases.forEach(([stdin, , points], i) => {
    const t = r.tests[i];
    assert.equal(t.checker.exitCode, Number(stdin.split(' ')[0]));
    assert.equal(t.checker.message, `${stdin.split(' ').slice(1).join(' ')}\n`);
    if (points !== undefined) { assert.equal(t.points, points); assert.equal(t.checker.points, points); }
  });
  assert.equal(r.verdict, 'wrong_answer', 'the first test not accepted, in test order');
});

test('a checker in C judges any valid answer (any a + b = n)', { skip: needs(sb, 'bash', 'c') }, async () => {
  const checker = `#include <stdio.h>
int main(int argc, char **argv) {
  if (argc != 4) return 3;
  FILE *in = fopen(argv[1], "r"), *out = fopen(argv[2], "r"), *ans = fopen(argv[3], "r");
  long n, a, b;
  if (!in || !out || !ans || fscanf(in, "%ld", &n) != 1) return 3;
  if (fscanf(out, "%ld %ld", &a, &b) != 2) { fprintf(stderr, "wrong output format: expected two numbers\\n"); return 2; }
  if (a + b != n) { fprintf(stderr, "wrong answer %ld + %ld != %ld\\n", a, b, n); return 1; }
  if (a < 0 || b < 0) { fprintf(stderr, "points 0.5 negative summands\\n"); return 7; }
  fprintf(stderr, "ok %ld = %ld + %ld\\n", n, a, b);
  return 0;
}`;
  const r = await run({
    language: 'bash', source: 'read n; case $n in 10) echo 3 7;; 11) echo 11 0;; 12) echo 13 -1;; 13) echo 1 1;; *) echo x;; esac',
    checker: { language: 'c', source: checker, compilerArgs: ['-O2'] }, stopOnFirstFailure: false,
    tests: [{ stdin: '10' }, { stdin: '11' }, { stdin: '12' }, { stdin: '13' }, { stdin: '14' }],
  });
  assert.deepEqual(verdicts(r), ['accepted', 'accepted', 'partial', 'wrong_answer', 'presentation_error']);
  assert.equal(r.tests[0].checker.message, 'ok 10 = 3 + 7\n');
  assert.equal(r.tests[2].points, 0.5);
  assert.equal(r.checkerCompile.exitCode, 0);
});

test('a checker in Python (case-insensitive tokens), and a checker that does not compile → checker_error', { skip: needs(sb, 'bash', 'python', 'c') }, async () => {
  const checker = `import sys
inp, out, ans = (open(p).read().split() for p in sys.argv[1:4])
if [t.lower() for t in out] != [t.lower() for t in ans]:
    print("wrong answer: expected", " ".join(ans), file=sys.stderr)
    sys.exit(1)
print("ok", len(ans), "tokens", file=sys.stderr)
`;
  const r = await run({ language: 'bash', source: 'cat', limits: slowHostLimits(), checker: { language: 'python', source: checker, limits: slowHostLimits() }, stopOnFirstFailure: false,
    tests: [{ stdin: 'YES  no', expectedOutput: 'yes\nNO' }, { stdin: 'yes', expectedOutput: 'no' }] });
  assert.deepEqual(verdicts(r), ['accepted', 'wrong_answer']);
  assert.equal(r.tests[0].checker.message, 'ok 2 tokens\n');
  const broken = await run({ language: 'bash', source: 'cat', checker: { language: 'c', source: 'int main( {' }, tests: [{ stdin: '1' }] });
  assert.equal(broken.verdict, 'checker_error');
  assert.equal(broken.tests, null);
  assert.equal(broken.checkerCompile.verdict, 'checker_error');
  assert.match(broken.checkerCompile.stderr, /error/);
});

test('a checker that crashes, hangs, floods or forks stops at its own limits: checker_error, message capped', { skip: needs(sb, 'bash') }, async () => {
  const r = await run({
    language: 'bash', source: 'cat', stopOnFirstFailure: false, limits: slowHostLimits(),
    checker: { language: 'bash', source: 'read what < "$2"; case $what in crash) kill -SEGV $$;; hang) sleep 60;; flood) head -c 5000000 /dev/zero | tr "\\0" x; exit 0;; noisy) head -c 100000 /dev/zero | tr "\\0" y >&2; exit 1;; fork) while :; do sleep 5 & done;; esac', limits: { wallMs: wallLimit(1500), outputBytes: 1_000_000, processes: 16 } },
    tests: [{ stdin: 'crash' }, { stdin: 'hang' }, { stdin: 'flood' }, { stdin: 'noisy' }, { stdin: 'fork' }],
  });
  assert.deepEqual(verdicts(r), ['checker_error', 'checker_error', 'checker_error', 'wrong_answer', 'checker_error'], JSON.stringify(r.tests.map((t: any) => ({ ...t.checker, message: t.checker?.message.slice(0, 100) }))));
  assert.equal(r.tests[0].checker.signal, 'SIGSEGV');
  assert.equal(r.tests[1].checker.status, 'time_limit');
  assert.equal(r.tests[2].checker.status, 'output_limit');
  assert.equal(Buffer.byteLength(r.tests[3].checker.message), 4096);
  assert.equal(r.verdict, 'checker_error');
});

test('the checker gets worker-written files: planted symlinks and files of the solution never reach it; the solution sees no answer', { skip: needs(sb, 'bash') }, async () => {
  const solution = 'if [ -e answer.txt ] || [ -e input.txt ] || grep -rqs "expected-4""2" /box /tmp; then echo saw; else echo blind; fi; '
    + 'ln -s /etc/shadow output.txt; ln -s /etc/passwd answer.txt; mkfifo input.txt 2>/dev/null; echo secret > leak';
  const checker = 'for f in "$1" "$2" "$3"; do [ -f "$f" ] && [ ! -L "$f" ] || { echo "$f is not a regular file" >&2; exit 3; }; done; '
    + '[ -e leak ] && { echo "sees the solution box" >&2; exit 3; }; '
    + 'out=$(cat "$2"); echo "out=$out ans=$(cat "$3")" >&2; [ "$out" = blind ] && exit 0; exit 1';
  const r = await run({ language: 'bash', source: solution, checker: { language: 'bash', source: checker }, tests: [{ stdin: 'in', expectedOutput: 'expected-42' }] });
  assert.equal(r.verdict, 'accepted', JSON.stringify(r.tests[0]));
  assert.equal(r.tests[0].checker.message, 'out=blind ans=expected-42\n');
  // Top-level stdin/expectedOutput form one test (result in run), also with a checker.
  const one = await run({ language: 'bash', source: 'echo blind', checker: { language: 'bash', source: checker }, stdin: 'x', expectedOutput: 'y' });
  assert.equal(one.run.verdict, 'accepted');
  assert.equal(one.run.checker.exitCode, 0);
});

test('the phase events of a checked run carry the checker\'s report', { skip: needs(sb, 'bash') }, async () => {
  const q = await api(s, 'POST', '/v1/runs', { language: 'bash', source: 'cat', checker: obedientChecker, stopOnFirstFailure: false, tests: [{ stdin: '0 a' }, { stdin: '1 b' }] });
  assert.equal(q.status, 202);
  const events = await readSse(`${s.url}/v1/runs/${q.body.id}/events`);
  const phases = events.filter((e) => e.event === 'phase').map((e) => e.data.phase);
  assert.deepEqual(phases.map((p: any) => [p.index, p.result.verdict, p.result.checker.exitCode]), [[0, 'accepted', 0], [1, 'wrong_answer', 1]]);
});

// Guess the number in 1..10^6 with at most 30 queries: "up", "down" or "=". The interactor alone
// reads input.txt and writes output.txt (the number of queries) for the checker.
const guessInteractor = `#include <stdio.h>
int main(int argc, char **argv) {
  FILE *in = fopen(argv[1], "r");
  long n;
  if (!in || fscanf(in, "%ld", &n) != 1) return 3;
  for (int q = 1; q <= 30; q++) {
    long g;
    if (scanf("%ld", &g) != 1) { fprintf(stderr, "wrong answer: unexpected eof after %d queries\\n", q - 1); return 1; }
    if (g == n) {
      printf("=\\n"); fflush(stdout);
      FILE *o = fopen(argv[2], "w"); if (o) { fprintf(o, "%d\\n", q); fclose(o); }
      fprintf(stderr, "ok guessed in %d\\n", q);
      return 0;
    }
    printf(g < n ? "up\\n" : "down\\n"); fflush(stdout);
  }
  fprintf(stderr, "wrong answer: too many queries\\n");
  return 1;
}`;
const guesser = (before = '', afterQueries = '') => `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(void) {
  ${before}
  if (access("input.txt", F_OK) == 0 || access("answer.txt", F_OK) == 0) { puts("-1"); return 0; }
  long lo = 1, hi = 1000000; char r[8]; int q = 0;
  while (lo <= hi) {
    long m = (lo + hi) / 2;
    printf("%ld\\n", m); fflush(stdout);
    if (++q == 3) { ${afterQueries} }
    if (scanf("%7s", r) != 1) return 1;
    if (r[0] == '=') return 0;
    if (r[0] == 'u') lo = m + 1; else hi = m - 1;
  }
  return 0;
}`;
const interactive = (source: string, extra: object = {}) => run({
  language: 'c', source, interactor: { language: 'c', source: guessInteractor }, stopOnFirstFailure: false,
  limits: { cpuMs: 1000, wallMs: 3000, memoryMb: 64 }, tests: [{ stdin: '777777' }, { stdin: '1' }], ...extra,
});

test('interactive: a correct solution, with the checker judging the interactor\'s output.txt', { skip: needs(sb, 'c', 'bash') }, async () => {
  const r = await interactive(guesser());
  assert.deepEqual(verdicts(r), ['accepted', 'accepted'], JSON.stringify(r.tests));
  assert.match(r.tests[0].interactor.message, /^ok guessed in \d+\n$/);
  assert.equal(r.tests[0].stdout, '', 'the conversation is not captured');
  const checked = await interactive(guesser(), { checker: { language: 'bash', source: 'q=$(cat "$2"); echo "queries=$q" >&2; [ "$q" -le 18 ] && exit 0; echo "points 0.5" >&2; exit 7' } });
  assert.deepEqual(verdicts(checked), ['accepted', 'partial'], JSON.stringify(checked.tests));
  assert.match(checked.tests[0].checker.message, /^queries=\d+\n$/);
  assert.equal(checked.tests[1].points, 0.5);
});

test('interactive: transcriptBytes returns the exchange in order, cut at its budget; a flood is held by backpressure', { skip: needs(sb, 'c') }, async () => {
  const r = await interactive(guesser(), { tests: [{ stdin: '500000' }, { stdin: '1' }], transcriptBytes: 4096 });
  assert.deepEqual(verdicts(r), ['accepted', 'accepted'], JSON.stringify(r.tests));
  const first = r.tests[0].transcript;
  assert.equal(first.encoding, 'utf8');
  assert.equal(first.truncated, false);
  assert.deepEqual(first.entries, [{ from: 'program', data: '500000\n' }, { from: 'interactor', data: '=\n' }]);
  // Binary search from 500000 down to 1: 19 questions, each answered.
  const second = r.tests[1].transcript.entries;
  assert.equal(second.length, 2 * 19, JSON.stringify(second));
  assert.deepEqual(second.slice(0, 4), [{ from: 'program', data: '500000\n' }, { from: 'interactor', data: 'down\n' }, { from: 'program', data: '250000\n' }, { from: 'interactor', data: 'down\n' }]);
  assert.deepEqual(second.at(-1), { from: 'interactor', data: '=\n' });
  // A budget of 40 bytes: the first entry (16 + 7 bytes) and 1 byte of the second (16 + 1).
  const cut = await interactive(guesser(), { tests: [{ stdin: '1' }], transcriptBytes: 40 });
  assert.equal(cut.verdict, 'accepted', 'the exchange went on past the budget');
  assert.equal(cut.tests[0].transcript.truncated, true);
  assert.deepEqual(cut.tests[0].transcript.entries, [{ from: 'program', data: '500000\n' }, { from: 'interactor', data: 'd' }]);
  // A program that floods an interactor that stopped reading: held until its wall limit, the
  // transcript at its budget.
  const flood = await run({
    language: 'c', source: '#include <stdio.h>\nint main(void){for(;;) fputs("0123456789abcdef", stdout);}',
    interactor: { language: 'c', source: '#include <unistd.h>\nint main(void){sleep(30); return 0;}', limits: { wallMs: 3000 } },
    limits: { wallMs: wallLimit(1000) }, tests: [{ stdin: '' }], transcriptBytes: 1000,
  });
  assert.equal(flood.tests[0].verdict, 'idleness_limit', JSON.stringify(flood.tests[0]).slice(0, 500));
  const t = flood.tests[0].transcript;
  assert.equal(t.truncated, true);
  assert.equal(t.entries.length, 1);
  assert.equal(t.entries[0].data.length, 1000 - 16);
  // Without transcriptBytes there is none (pipe to pipe).
  const plain = await interactive(guesser(), { tests: [{ stdin: '1' }] });
  assert.equal(plain.tests[0].transcript, undefined);
});

test('interactive: wrong answers, a solution that never reads, exits early, or peeks at the input', { skip: needs(sb, 'c') }, async () => {
  const wrong = await interactive(guesser().replace('lo = m + 1; else hi = m - 1', 'lo = m + 2; else hi = m - 2'), { tests: [{ stdin: '500001' }] });
  assert.deepEqual(verdicts(wrong), ['wrong_answer'], JSON.stringify(wrong.tests));
  const neverReads = await interactive('#include <stdio.h>\nint main(void){for(;;){puts("1");fflush(stdout);}}', { tests: [{ stdin: '5' }] });
  assert.deepEqual(verdicts(neverReads), ['wrong_answer'], JSON.stringify(neverReads.tests));
  assert.match(neverReads.tests[0].interactor.message, /too many queries/);
  const early = await interactive('int main(void){return 0;}', { tests: [{ stdin: '5' }] });
  assert.deepEqual(verdicts(early), ['wrong_answer']);
  assert.match(early.tests[0].interactor.message, /unexpected eof after 0/);
  // A crash the interactor sees as EOF is its wrong answer (rule 4 before rule 5, docs/api.md);
  // a crash after the interactor accepted is the solution's runtime error.
  const crashesEarly = await interactive('#include <stdlib.h>\nint main(void){abort();}', { tests: [{ stdin: '5' }] });
  assert.deepEqual(verdicts(crashesEarly), ['wrong_answer'], JSON.stringify(crashesEarly.tests));
  const crashesLate = await interactive(guesser().replace("if (r[0] == '=') return 0;", "if (r[0] == '=') abort();"), { tests: [{ stdin: '5' }] });
  assert.deepEqual(verdicts(crashesLate), ['runtime_error'], JSON.stringify(crashesLate.tests));
});

test('interactive: the interactor exits early, crashes or fails → checker_error, never the contestant\'s fault', { skip: needs(sb, 'c') }, async () => {
  for (const [source, expected] of [
    ['int main(void){return 3;}', 'checker_error'],
    ['#include <stdlib.h>\nint main(void){abort();}', 'checker_error'],
    ['int main(void){return 9;}', 'checker_error'],
    ['#include <stdio.h>\nint main(void){long g; if (scanf("%ld", &g) != 1) return 1; puts("="); fflush(stdout); fputs("points 0.3\\n", stderr); return 7;}', 'partial'],
  ] as const) {
    const r = await run({ language: 'c', source: guesser(), interactor: { language: 'c', source }, tests: [{ stdin: '5' }], limits: { wallMs: 3000 } });
    assert.equal(r.verdict, expected, `${source}: ${JSON.stringify(r.tests[0])}`);
  }
});

test('interactive: mutual wait is idleness_limit; TLE and MLE in mid-conversation are the solution\'s', { skip: needs(sb, 'c') }, async () => {
  const waits = await interactive('#include <stdio.h>\nint main(void){long x; return scanf("%ld",&x)==1 ? 0 : 1;}', { tests: [{ stdin: '5' }], limits: { wallMs: wallLimit(800) } });
  assert.deepEqual(verdicts(waits), ['idleness_limit'], JSON.stringify(waits.tests));
  // A wall limit far beyond the CPU limit: on a loaded host the spinner still reaches its CPU limit first.
  const spins = await interactive(guesser('', 'for (volatile long i = 0;; i++);'), { tests: [{ stdin: '5' }], limits: { cpuMs: 300, wallMs: 60_000 } });
  assert.deepEqual(verdicts(spins), ['time_limit'], JSON.stringify(spins.tests));
  const eats = await interactive(guesser('', 'for (;;) { char *p = malloc(1 << 20); if (p) memset(p, 1, 1 << 20); }'), { tests: [{ stdin: '5' }], limits: { cpuMs: wallLimit(1000), wallMs: wallLimit(3000), memoryMb: 64 } });
  assert.deepEqual(verdicts(eats), ['memory_limit'], JSON.stringify(eats.tests));
});

test('interactive: a huge exchange (100 000 round trips) goes through', { skip: needs(sb, 'c') }, async () => {
  const pingInteractor = `#include <stdio.h>
int main(int argc, char **argv) {
  FILE *in = fopen(argv[1], "r"); long n;
  if (!in || fscanf(in, "%ld", &n) != 1) return 3;
  for (long i = 0; i < n; i++) {
    long r;
    printf("%ld\\n", i); fflush(stdout);
    if (scanf("%ld", &r) != 1 || r != i + 1) { fprintf(stderr, "wrong answer at %ld\\n", i); return 1; }
  }
  printf("-1\\n"); fflush(stdout);
  fprintf(stderr, "ok %ld round trips\\n", n);
  return 0;
}`;
  const pong = '#include <stdio.h>\nint main(void){long x; while(scanf("%ld",&x)==1 && x>=0){printf("%ld\\n",x+1);fflush(stdout);} return 0;}';
  // Under the cgroup v2 test kernel (User-Mode-Linux, every context switch a trip through the
  // host) 100 000 round trips take minutes: 5 000 there.
  const trips = process.env.CG2_VM ? 5000 : 100_000;
  const r = await run({ language: 'c', source: pong, interactor: { language: 'c', source: pingInteractor, limits: { cpuMs: 20000, wallMs: 60000 } },
    limits: { cpuMs: 20000, wallMs: 60000 }, tests: [{ stdin: String(trips) }] });
  assert.equal(r.verdict, 'accepted', JSON.stringify(r.tests[0]));
  assert.equal(r.tests[0].interactor.message, `ok ${trips} round trips\n`);
});

test('compile cache: a resubmit runs the very binary of the first compile over fresh layers; other flags compile again', { skip: needs(sb, 'c') }, async () => {
  // The binary carries its compile's moment and a nonce: equal output = the same binary. Each test
  // also leaves a file in /box and says whether it found the previous job's.
  const nonce = `${process.pid}-${Date.now()}`;
  const source = `#include <stdio.h>
int main(void) {
  FILE *seen = fopen("left-behind", "r");
  printf("%s %s ${nonce} X=%d %s\\n", __DATE__, __TIME__, X, seen ? "saw-a-file" : "clean");
  FILE *f = fopen("left-behind", "w"); if (f) fputs("x", f);
  return 0;
}`;
  const body = (x: number) => ({ language: 'c', source, compilerArgs: [`-DX=${x}`], tests: [{ stdin: '' }, { stdin: '' }] });
  const first = await run(body(1));
  assert.equal(first.compile.cached, undefined);
  await new Promise((r) => setTimeout(r, 1100)); // a new compile would print another __TIME__
  const second = await run(body(1));
  assert.equal(second.compile.cached, true, JSON.stringify(second.compile));
  assert.equal(second.compile.exitCode, 0);
  assert.equal(second.tests[0].stdout, first.tests[0].stdout, 'the same binary');
  for (const t of [...first.tests, ...second.tests]) assert.match(t.stdout, / clean\n$/, 'each test over a fresh layer');
  const other = await run(body(2));
  assert.equal(other.compile.cached, undefined);
  assert.match(other.tests[0].stdout, / X=2 /);
});

test('groups: all-or-nothing, min-partial and sum scores; a failed dependency skips its dependants', { skip: needs(sb, 'bash') }, async () => {
  const r = await run({
    language: 'bash', source: 'cat', checker: obedientChecker, stopOnFirstFailure: true, limits: slowHostLimits(),
    groups: [
      { name: 'samples', points: 0 },
      { name: 'small', points: 20, dependsOn: ['samples'], scoring: 'all-or-nothing' },
      { name: 'medium', points: 30, dependsOn: ['samples'], scoring: 'min-partial' },
      { name: 'large', points: 40, dependsOn: ['small', 'medium'], scoring: 'all-or-nothing' },
      { name: 'extra', points: 10, scoring: 'sum' },
    ],
    tests: [
      { stdin: '0 ok', group: 'samples' },
      { stdin: '0 ok', group: 'small' }, { stdin: '0 ok', group: 'small' },
      { stdin: '7 points 0.5', group: 'medium' }, { stdin: '7 points 0.8', group: 'medium' }, { stdin: '1 no', group: 'medium' }, { stdin: '0 ok', group: 'medium' },
      { stdin: '0 ok', group: 'large' },
      { stdin: '0 ok', group: 'extra' }, { stdin: '7 points 0.5', group: 'extra' },
    ],
  });
  assert.deepEqual(verdicts(r), ['accepted', 'accepted', 'accepted', 'partial', 'partial', 'wrong_answer', 'skipped', 'skipped', 'accepted', 'partial']);
  assert.deepEqual(r.groups.map((g: any) => [g.name, g.status, g.score]), [
    ['samples', 'passed', 0], ['small', 'passed', 20], ['medium', 'failed', 0], ['large', 'skipped', 0], ['extra', 'partial', 7.5],
  ]);
  assert.deepEqual(r.groups[2].tests, [3, 4, 5, 6]);
  assert.equal(r.score, 27.5);
  assert.equal(r.maxScore, 100);
  assert.equal(r.verdict, 'partial', 'the first non-accepted test in test order');
  const minPartial = await run({ language: 'bash', source: 'cat', checker: obedientChecker, limits: slowHostLimits(),
    groups: [{ name: 'g', points: 10, scoring: 'min-partial' }],
    tests: [{ stdin: '7 points 0.5', group: 'g' }, { stdin: '7 points 0.25', group: 'g' }, { stdin: '0 ok', group: 'g' }] });
  assert.equal(minPartial.score, 2.5);
  assert.equal(minPartial.groups[0].status, 'partial');
});

test('bad judging requests get 422 naming the field', { skip: 'skip' in sb ? sb.skip : false }, async () => {
  const bad = async (body: object, field: string) => {
    const r = await api(s, 'POST', '/v1/runs', { language: 'bash', source: 'cat', ...body });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    const fields = JSON.stringify(r.body.error.details);
    assert.ok(fields.includes(field), `${field} not in ${fields}`);
  };
  const g = (name: string, extra = {}) => ({ name, points: 10, ...extra });
  await bad({ tests: [{ stdin: '', group: 'x' }], groups: [g('a')] }, 'tests[0].group');
  await bad({ tests: [{ stdin: '', group: 'a' }, { stdin: '', group: 'a' }], groups: [g('a'), g('a')] }, 'groups[1].name');
  await bad({ tests: [{ stdin: '', group: 'a' }, { stdin: '', group: 'b' }], groups: [g('a', { dependsOn: ['b'] }), g('b', { dependsOn: ['a'] })] }, 'groups[0].dependsOn');
  await bad({ tests: [{ stdin: '', group: 'a' }], groups: [g('a', { dependsOn: ['zz'] })] }, 'groups[0].dependsOn[0]');
  await bad({ tests: [{ stdin: '', group: 'a' }], groups: [g('a', { scoring: 'best' })] }, 'groups[0].scoring');
  await bad({ tests: [{ stdin: '' }], groups: [g('a')] }, 'tests[0].group');
  await bad({ tests: [{ stdin: '', group: 'a' }] }, 'tests[0].group');
  await bad({ checker: { language: 'bash' } }, 'checker.source');
  await bad({ checker: { language: 'bash', source: 'x', limits: { cpuMs: 10_000_000 } } }, 'checker.limits.cpuMs');
  await bad({ interactor: { language: 'nope', source: 'x' } }, 'interactor.language');
  await bad({ interactor: { language: 'bash', source: 'x' }, redirectStderrToStdout: true }, 'redirectStderrToStdout');
  await bad({ checker: obedientChecker, repeat: 2 }, 'repeat');
  await bad({ transcriptBytes: 100 }, 'transcriptBytes');
  await bad({ interactor: { language: 'bash', source: 'x' }, transcriptBytes: 0 }, 'transcriptBytes');
  await bad({ interactor: { language: 'bash', source: 'x' }, transcriptBytes: 1e9 }, 'transcriptBytes');
  await bad({ files: [{ path: 'main.sh', content: 'x' }] }, 'files[0].path');
});

// Judge programs in C and C++ are linked statically (the gcc image's languages' `judgeProgram`
// flags, -static-pie): each checker and interactor below looks at its own /proc/self/maps in its
// real container and fails the test when a shared C or C++ library or the dynamic loader is
// mapped — so each of these tests fails with the flags taken out of rootfs-images/gcc.json.
const addTests = [{ stdin: '2 3', expectedOutput: '5' }, { stdin: '40 2', expectedOutput: '42' }];
const adder = 'read a b; echo $((a + b))';

/** Words of /proc/self/maps that only a dynamically linked C or C++ program has mapped. */
const SHARED = ['libc.so', 'ld-linux', 'libstdc++.so', 'libm.so', 'libgcc_s.so'];

// testlib's exit codes: 1 (WA) when it finds itself dynamically linked, with the mapped lines.
const cChecker = `#include <stdio.h>
#include <string.h>
static const char *shared[] = {${SHARED.map((w) => `"${w}"`).join(', ')}};
int main(int argc, char **argv) {
  FILE *maps = fopen("/proc/self/maps", "r"), *out = fopen(argv[2], "r"), *ans = fopen(argv[3], "r");
  char line[512];
  int dynamic = 0;
  long long o, a;
  if (argc != 4 || !maps || !out || !ans || fscanf(ans, "%lld", &a) != 1) return 3;
  while (fgets(line, sizeof line, maps))
    for (unsigned i = 0; i < sizeof shared / sizeof *shared; i++)
      if (strstr(line, shared[i])) { fputs(line, stderr); dynamic = 1; }
  if (dynamic) return 1;
  if (fscanf(out, "%lld", &o) != 1) return 2;
  fprintf(stderr, "static %s %s\\n", MARK, o == a ? "ok" : "wrong");
  return o == a ? 0 : 1;
}`;

/** C++ statements that set `dynamic` when the program's own maps (an open std::ifstream `maps`)
 * show a shared library, each such line told on stderr. */
const CPP_MAPS_SCAN = `  const std::string shared[] = {${SHARED.map((w) => `"${w}"`).join(', ')}};
  bool dynamic = false;
  for (std::string line; std::getline(maps, line);)
    for (const auto &w : shared)
      if (line.find(w) != std::string::npos) { std::cerr << line << '\\n'; dynamic = true; }`;

// In testlib's style: iostreams throughout (libstdc++, the library a dynamic C++ program loads).
const cppChecker = `#include <fstream>
#include <iostream>
#include <string>
int main(int argc, char **argv) {
  if (argc != 4) return 3;
  std::ifstream maps("/proc/self/maps"), out(argv[2]), ans(argv[3]);
${CPP_MAPS_SCAN}
  if (dynamic) return 1;
  long long o, a;
  if (!(ans >> a)) return 3;
  if (!(out >> o)) return 2;
  std::cerr << "static " << (o == a ? "ok" : "wrong") << std::endl;
  return o == a ? 0 : 1;
}`;

// Asks the program for a + b (the test's input), checks the answer against answer.txt.
const cppInteractor = `#include <fstream>
#include <iostream>
#include <string>
int main(int argc, char **argv) {
  std::ifstream maps("/proc/self/maps"), in(argv[1]), ans(argv[3]);
${CPP_MAPS_SCAN}
  long long a, b, want, got;
  if (!(in >> a >> b) || !(ans >> want)) return 3;
  std::cout << a << ' ' << b << std::endl;
  if (!(std::cin >> got)) { std::cerr << "no answer" << std::endl; return 2; }
  if (dynamic) return 1;
  std::cerr << "static " << (got == want ? "ok" : "wrong") << std::endl;
  return got == want ? 0 : 1;
}`;

test('a C checker is linked statically; the user\'s compilerArgs reach its compile, and a link of their own (-pie) wins', { skip: needs(sb, 'bash', 'c') }, async () => {
  const r = await run({ language: 'bash', source: adder, stopOnFirstFailure: false, tests: addTests,
    checker: { language: 'c', source: cChecker, compilerArgs: ['-DMARK="from-compilerArgs"'] } });
  assert.deepEqual(verdicts(r), ['accepted', 'accepted'], JSON.stringify(r.tests.map((t: any) => t.checker)));
  assert.equal(r.tests[0].checker.message, 'static from-compilerArgs ok\n');
  assert.equal(r.checkerCompile.exitCode, 0);
  // The user chose the link: the language's default is left out, and the checker is the dynamic
  // program gcc makes by default — which this checker rejects (so the check above can fail).
  const own = await run({ language: 'bash', source: adder, stopOnFirstFailure: false, tests: addTests,
    checker: { language: 'c', source: cChecker, compilerArgs: ['-DMARK="x"', '-pie'] } });
  assert.deepEqual(verdicts(own), ['wrong_answer', 'wrong_answer']);
  assert.match(own.tests[0].checker.message, /libc\.so/);
  // Their own -static (which would fail to link beside -static-pie) links.
  const staticOwn = await run({ language: 'bash', source: adder, tests: addTests.slice(0, 1),
    checker: { language: 'c', source: cChecker, compilerArgs: ['-DMARK="own"', '-static'] } });
  assert.deepEqual(verdicts(staticOwn), ['accepted'], JSON.stringify(staticOwn.checkerCompile));
});

test('a C++ checker (iostreams, testlib\'s style) is linked statically, libstdc++ included', { skip: needs(sb, 'bash', 'cpp') }, async () => {
  const r = await run({ language: 'bash', source: adder, stopOnFirstFailure: false, tests: [...addTests, { stdin: '1 1', expectedOutput: '3' }],
    checker: { language: 'cpp', source: cppChecker, limits: slowHostLimits() } });
  assert.deepEqual(verdicts(r), ['accepted', 'accepted', 'wrong_answer'], JSON.stringify(r.tests.map((t: any) => t.checker)));
  assert.equal(r.tests[0].checker.message, 'static ok\n');
  assert.equal(r.tests[2].checker.message, 'static wrong\n');
});

test('a C++ interactor is linked statically too; the solution is not', { skip: needs(sb, 'cpp') }, async () => {
  // The solution, in C++ too, reports its own maps: a solution's compile takes no judge-program flags.
  const solution = `#include <fstream>
#include <iostream>
#include <string>
int main() {
  long long a, b;
  std::cin >> a >> b;
  std::ifstream maps("/proc/self/maps");
  bool dynamic = false;
  for (std::string line; std::getline(maps, line);) if (line.find("libstdc++.so") != std::string::npos) dynamic = true;
  std::cout << a + b << std::endl;
  std::cerr << (dynamic ? "dynamic" : "static") << std::endl;
}`;
  const r = await run({ language: 'cpp', source: solution, stopOnFirstFailure: false, tests: addTests, limits: slowHostLimits(),
    interactor: { language: 'cpp', source: cppInteractor, limits: slowHostLimits() } });
  assert.deepEqual(verdicts(r), ['accepted', 'accepted'], JSON.stringify(r.tests.map((t: any) => t.interactor)));
  assert.equal(r.tests[0].interactor.message, 'static ok\n');
  assert.equal(r.tests[0].stderr, 'dynamic\n', 'the solution is linked as before');
  assert.equal(r.interactorCompile.exitCode, 0);
});
