// Judge programs in C and C++ are linked statically (the gcc image's languages' `judgeProgram`
// flags, -static-pie): each checker and interactor here looks at its own /proc/self/maps in its
// real container and fails the test when a shared C or C++ library or the dynamic loader is
// mapped — so every test here fails with the flags taken out of rootfs-images/gcc.json. Through
// the whole stack: HTTP → Redis/BullMQ → worker → real sandbox.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, type Stack } from './harness.ts';
import { needs, realSandbox, realStack, type RealSandbox } from './real-sandbox.ts';
import { expectNothingLeftBehind, slowHostLimits } from '../helpers/sandbox.ts';

const sb = await realSandbox();
if ('skip' in sb) console.log(`# e2e static judge programs skipped: ${sb.skip}`);
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
const tests = [{ stdin: '2 3', expectedOutput: '5' }, { stdin: '40 2', expectedOutput: '42' }];
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

// In testlib's style: iostreams throughout (libstdc++, the library a dynamic C++ program loads).
const cppChecker = `#include <fstream>
#include <iostream>
#include <string>
int main(int argc, char **argv) {
  if (argc != 4) return 3;
  std::ifstream maps("/proc/self/maps"), out(argv[2]), ans(argv[3]);
  const std::string shared[] = {${SHARED.map((w) => `"${w}"`).join(', ')}};
  bool dynamic = false;
  for (std::string line; std::getline(maps, line);)
    for (const auto &w : shared)
      if (line.find(w) != std::string::npos) { std::cerr << line << '\\n'; dynamic = true; }
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
  const std::string shared[] = {${SHARED.map((w) => `"${w}"`).join(', ')}};
  bool dynamic = false;
  for (std::string line; std::getline(maps, line);)
    for (const auto &w : shared)
      if (line.find(w) != std::string::npos) { std::cerr << line << '\\n'; dynamic = true; }
  long long a, b, want, got;
  if (!(in >> a >> b) || !(ans >> want)) return 3;
  std::cout << a << ' ' << b << std::endl;
  if (!(std::cin >> got)) { std::cerr << "no answer" << std::endl; return 2; }
  if (dynamic) return 1;
  std::cerr << "static " << (got == want ? "ok" : "wrong") << std::endl;
  return got == want ? 0 : 1;
}`;

test('a C checker is linked statically; the user\'s compilerArgs reach its compile, and a link of their own (-pie) wins', { skip: needs(sb, 'bash', 'c') }, async () => {
  const r = await run({ language: 'bash', source: adder, stopOnFirstFailure: false, tests,
    checker: { language: 'c', source: cChecker, compilerArgs: ['-DMARK="from-compilerArgs"'] } });
  assert.deepEqual(verdicts(r), ['accepted', 'accepted'], JSON.stringify(r.tests.map((t: any) => t.checker)));
  assert.equal(r.tests[0].checker.message, 'static from-compilerArgs ok\n');
  assert.equal(r.checkerCompile.exitCode, 0);
  // The user chose the link: the language's default is left out, and the checker is the dynamic
  // program gcc makes by default — which this checker rejects (so the check above can fail).
  const own = await run({ language: 'bash', source: adder, stopOnFirstFailure: false, tests,
    checker: { language: 'c', source: cChecker, compilerArgs: ['-DMARK="x"', '-pie'] } });
  assert.deepEqual(verdicts(own), ['wrong_answer', 'wrong_answer']);
  assert.match(own.tests[0].checker.message, /libc\.so/);
  // Their own -static (which would fail to link beside -static-pie) links.
  const staticOwn = await run({ language: 'bash', source: adder, tests: tests.slice(0, 1),
    checker: { language: 'c', source: cChecker, compilerArgs: ['-DMARK="own"', '-static'] } });
  assert.deepEqual(verdicts(staticOwn), ['accepted'], JSON.stringify(staticOwn.checkerCompile));
});

test('a C++ checker (iostreams, testlib\'s style) is linked statically, libstdc++ included', { skip: needs(sb, 'bash', 'cpp') }, async () => {
  const r = await run({ language: 'bash', source: adder, stopOnFirstFailure: false, tests: [...tests, { stdin: '1 1', expectedOutput: '3' }],
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
  const r = await run({ language: 'cpp', source: solution, stopOnFirstFailure: false, tests, limits: slowHostLimits(),
    interactor: { language: 'cpp', source: cppInteractor, limits: slowHostLimits() } });
  assert.deepEqual(verdicts(r), ['accepted', 'accepted'], JSON.stringify(r.tests.map((t: any) => t.interactor)));
  assert.equal(r.tests[0].interactor.message, 'static ok\n');
  assert.equal(r.tests[0].stderr, 'dynamic\n', 'the solution is linked as before');
  assert.equal(r.interactorCompile.exitCode, 0);
});
