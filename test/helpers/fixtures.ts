// Test programs in C (test/fixtures/*.c) built static with the host's C compiler, for images
// without a libc (busybox). Built once per test process into a temp dir that is removed right
// away: the caller gets the binary's bytes, to put into a job volume.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const built = new Map<string, Promise<Buffer>>();

/** The static binary of test/fixtures/<name>.c (`gcc -static -O2`); throws with the compiler's message. */
export function staticFixture(name: string): Promise<Buffer> {
  let p = built.get(name);
  if (!p) {
    p = (async () => {
      const dir = await mkdtemp(join(tmpdir(), 'corral-fixture-'));
      try {
        const out = join(dir, name);
        await promisify(execFile)(process.env.CC || 'gcc', ['-static', '-O2', '-Wall', '-o', out, join(FIXTURES, `${name}.c`)]).catch((err: Error & { stderr?: string }) => {
          throw new Error(`cannot build test/fixtures/${name}.c static (needs gcc and libc6-dev): ${err.stderr || err.message}`);
        });
        return await readFile(out);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    })();
    built.set(name, p);
  }
  return p;
}
