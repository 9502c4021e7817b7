// The compile cache's logic (worker/compile-cache.ts): keys that tell every input apart, holds,
// bounds and eviction; and the pipeline using it (fake launcher). Through the real stack:
// test/e2e/judging.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PhaseResult } from '../../worker/phase-result.ts';
import { CompileCache, compileKey, type CompileInputs } from '../../worker/compile-cache.ts';
import type { JobVolume } from '../../worker/launcher.ts';
import { runPipeline } from '../../worker/pipeline.ts';
import { loadConfig } from '../../services/core/config.ts';
import { fakeJob, fakeLauncher, fakeRegistry } from './fakes.ts';

const inputs = (over: Partial<CompileInputs> = {}): CompileInputs => ({
  layers: ['/l/base', '/l/gcc'], argv: ['gcc', '-O2', 'main.c'], env: { PATH: '/usr/bin' },
  files: [{ path: 'main.c', mode: 0o644, data: Buffer.from('int main(){}') }], limits: { cpuMs: 10_000, memoryBytes: 1 << 28 }, ...over,
});

test('compile keys: equal for equal inputs (env and limits in any order), different for any difference', () => {
  const k = compileKey(inputs());
  assert.equal(compileKey(inputs({ env: { PATH: '/usr/bin' }, limits: { memoryBytes: 1 << 28, cpuMs: 10_000 } })), k);
  const variants: Array<Partial<CompileInputs>> = [
    { layers: ['/l/base', '/l/gcc2'] },
    { layers: ['/l/base/l/gcc'] },
    { argv: ['gcc', '-O2', 'main.c', '-DX'] },
    { argv: ['gcc', '-O2main.c'] },
    { argv: ['gcc', '-O', '2', 'main.c'] },
    { env: { PATH: '/usr/bin', LANG: 'C' } },
    { env: { PATH: '/bin' } },
    { files: [{ path: 'main.c', mode: 0o644, data: Buffer.from('int main(){ }') }] },
    { files: [{ path: 'main.c', mode: 0o755, data: Buffer.from('int main(){}') }] },
    { files: [{ path: 'x.c', mode: 0o644, data: Buffer.from('int main(){}') }] },
    { files: [{ path: 'main.c', mode: 0o644, data: Buffer.from('int main(){}') }, { path: 'a.h', mode: 0o644, data: Buffer.alloc(0) }] },
    { limits: { cpuMs: 10_001, memoryBytes: 1 << 28 } },
  ];
  const keys = new Set([k, ...variants.map((v) => compileKey(inputs(v)))]);
  assert.equal(keys.size, variants.length + 1);
});

function fakeVolumes() {
  const destroyed: string[] = [];
  const volume = (name: string): JobVolume => ({
    dir: name, workDir: `${name}-work`, writeFile: async () => {}, collect: async () => [],
    destroy: async () => { destroyed.push(name); },
  });
  return { volume, destroyed };
}
const phase = { status: 'ok', exitCode: 0 } as PhaseResult;

test('compile cache: a hit is held until released; bounded in bytes and entries, least recently used out, held ones after release', async () => {
  const { volume, destroyed } = fakeVolumes();
  const sizes: Record<string, number> = { a: 40, b: 40, c: 40, big: 1000 };
  const cache = new CompileCache({ maxBytes: 100, maxEntries: 10 }, (dir) => sizes[dir]!);
  assert.equal(cache.take('ka'), undefined);
  const a = cache.put('ka', volume('a'), phase)!;
  assert.ok(a);
  assert.equal(cache.put('ka', volume('a2'), phase), undefined, 'a key is kept once');
  assert.equal(cache.put('kbig', volume('big'), phase), undefined, 'bigger than the whole cache: not kept');
  a.release();
  const b = cache.put('kb', volume('b'), phase)!;
  b.release();
  const hit = cache.take('ka')!; // a is now the most recently used, and held
  assert.equal(hit.volume.dir, 'a');
  assert.equal(hit.compile, phase);
  cache.put('kc', volume('c'), phase)!.release(); // 120 > 100: the least recently used one not held goes: b
  assert.deepEqual(destroyed, ['b']);
  assert.equal(cache.take('kb'), undefined);
  assert.deepEqual(cache.stats(), { entries: 2, bytes: 80, hits: 1, misses: 2, evictions: 1 });
  await cache.close();
  assert.deepEqual(destroyed.sort(), ['b', 'c'], 'a held entry outlives close until released');
  hit.release();
  hit.release(); // twice is once
  assert.deepEqual(destroyed.sort(), ['a', 'b', 'c']);
  assert.equal(cache.take('ka'), undefined, 'closed');
});

test('compile cache: entries bound', () => {
  const { volume, destroyed } = fakeVolumes();
  const cache = new CompileCache({ maxBytes: 1e9, maxEntries: 2 }, () => 1);
  for (const n of ['a', 'b', 'c']) cache.put(`k${n}`, volume(n), phase)!.release();
  assert.deepEqual(destroyed, ['a']);
  assert.equal(cache.stats().entries, 2);
});

test('pipeline: the same program with tests compiles once; its volume outlives the job and is only a lower layer; other inputs compile again', async () => {
  const config = loadConfig({});
  const cache = new CompileCache({ maxBytes: 1 << 30 }, () => 4096);
  const launcher = fakeLauncher();
  const deps = { launcher, registry: fakeRegistry(), collectCaps: { maxFiles: 1, maxFileBytes: 1, maxTotalBytes: 1 }, compileCache: cache };
  const job = (stdout: string, over = {}) => fakeJob({ stdout }, { language: 'fakec', tests: [{ stdin: '', expectedOutput: stdout }, { stdin: '', expectedOutput: stdout }], ...over });
  const first = await runPipeline(job('ok'), deps);
  assert.equal(first.verdict, 'accepted');
  assert.equal(first.compile!.cached, undefined);
  const compiledDir = launcher.specs[0]!.box!.dir;
  const second = await runPipeline(job('ok'), deps);
  assert.equal(second.verdict, 'accepted');
  assert.equal(second.compile!.cached, true);
  assert.equal(launcher.specs.filter((s) => s.argv[0] === 'fakecc').length, 1, 'compiled once');
  const runs = launcher.specs.filter((s) => s.argv[0] === 'fakerun');
  assert.equal(runs.length, 4);
  for (const r of runs) {
    assert.deepEqual(r.box!.lowerDirs, [compiledDir], 'every test over the compiled volume');
    assert.notEqual(r.box!.dir, compiledDir, 'never written');
  }
  assert.equal(launcher.destroyed, launcher.volumes - 1, 'all but the cached volume destroyed');
  // Different source, other flags, other compile limits, or no tests: compiled again.
  await runPipeline(job('other'), deps);
  await runPipeline(job('ok', { compilerArgs: ['-O0'] }), deps);
  await runPipeline(job('ok', { compileLimits: { ...config.limits.compile.defaults, cpuMs: 1234 } }), deps);
  await runPipeline(fakeJob({ stdout: 'ok' }, { language: 'fakec' }), deps);
  assert.equal(launcher.specs.filter((s) => s.argv[0] === 'fakecc').length, 5);
  // A failed compile is never kept.
  await runPipeline(fakeJob({ compileError: 'nope' }, { language: 'fakec', tests: [{ stdin: '' }] }), deps);
  const again = await runPipeline(fakeJob({ compileError: 'nope' }, { language: 'fakec', tests: [{ stdin: '' }] }), deps);
  assert.equal(again.verdict, 'compile_error');
  assert.equal(again.compile!.cached, undefined);
  await cache.close();
  assert.equal(launcher.destroyed, launcher.volumes, 'closing the cache destroys its volumes');
});

test('pipeline: a checker compiled once serves every submission of the problem', async () => {
  const config = loadConfig({});
  const cache = new CompileCache({ maxBytes: 1 << 30 }, () => 4096);
  const launcher = fakeLauncher();
  const deps = { launcher, registry: fakeRegistry(), collectCaps: { maxFiles: 1, maxFileBytes: 1, maxTotalBytes: 1 }, compileCache: cache };
  const checker = { language: 'fakec', source: JSON.stringify({ obedient: true }), files: [], compilerArgs: [], limits: { ...config.limits.run.defaults } };
  for (const answer of ['0 fine', '1 wrong']) {
    const r = await runPipeline(fakeJob({ echo: true }, { tests: [{ stdin: answer }], checker }), deps);
    assert.equal(r.verdict, answer.startsWith('0') ? 'accepted' : 'wrong_answer');
  }
  const compiles = launcher.specs.filter((s) => s.argv[0] === 'fakecc');
  assert.equal(compiles.length, 1);
  const checks = launcher.specs.filter((s) => s.argv.length === 5);
  assert.equal(checks.length, 2);
  assert.deepEqual(checks.map((s) => s.box!.lowerDirs), [[compiles[0]!.box!.dir], [compiles[0]!.box!.dir]]);
  await cache.close();
  assert.equal(launcher.destroyed, launcher.volumes);
});
