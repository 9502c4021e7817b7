// The seccomp program every sandboxed program runs under (native/src/seccomp.c) is a binary search
// over the calls it decides on; native/test/seccomp-filter.c runs it in a small BPF interpreter
// for every syscall number and compares each verdict with the list it was built from (denied:
// EPERM; clone: EPERM with any namespace flag; clone3: ENOSYS; a foreign ABI: killed; the rest
// allowed). No syscall is made; isolation.test.ts checks the filter in a real container.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const NATIVE = join(dirname(fileURLToPath(import.meta.url)), '../../native');

function compiler(): string | undefined {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    return 'cc';
  } catch {
    return undefined;
  }
}

it('decides every syscall number as its list says', { skip: compiler() ? false : 'no C compiler (cc) to build the check' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'corral-seccomp-'));
  try {
    const bin = join(dir, 'seccomp-filter');
    execFileSync('cc', ['-O2', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter', '-o', bin, join(NATIVE, 'test/seccomp-filter.c'), '-lpthread']);
    const out = execFileSync(bin, { encoding: 'utf8' });
    const m = /^(\d+) passed, (\d+) failed$/m.exec(out);
    assert.ok(m, out);
    assert.equal(Number(m[2]), 0, out);
    assert.ok(Number(m[1]) > 2000, `checked too few verdicts: ${out}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
