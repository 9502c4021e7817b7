// Pure mapping tests of the Piston translation layer: runtimes and aliases, the semver version
// selector, /execute bodies → RunRequest (with Piston's messages), and phases → stages.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { RunRequest as RunRequestSchema, type RunResult } from '../../services/core/schemas.ts';
import { parseExecute } from '../../services/api/compat/piston/execute-request.ts';
import { pistonResponse, pistonStage } from '../../services/api/compat/piston/execute-response.ts';
import { parsePistonOptions } from '../../services/api/compat/piston/options.ts';
import { pistonRuntimes, pistonVersion, selectRuntime } from '../../services/api/compat/piston/runtimes.ts';
import { DEFAULT_LANGUAGES, phase } from './fake-run-service.ts';

const o = parsePistonOptions();
const runtimes = pistonRuntimes([
  ...DEFAULT_LANGUAGES,
  { id: 'python3', name: 'Python 3.12', version: '3.12.1', compiled: false, fileName: 'main.py', available: true },
]);

describe('Piston runtimes', () => {
  it('names Corral languages Piston\'s way, with aliases and runtime, only when available', () => {
    const js = runtimes.find((r) => r.language === 'javascript')!;
    assert.deepEqual({ ...js, corral: undefined }, { language: 'javascript', version: '18.19.0', aliases: ['node-javascript', 'node-js', 'javascript', 'js'], runtime: 'node', corral: undefined });
    assert.ok(runtimes.some((r) => r.language === 'c++' && r.aliases.includes('cpp')));
    assert.ok(!runtimes.some((r) => r.language === 'rust'), 'rust is not available');
  });
  for (const [v, s] of [['3.11.2', '3.11.2'], ['21', '21.0.0'], ['17.0.9+9', '17.0.9'], ['go1.21.5', '1.21.5'], ['none', '0.0.0']] as const) {
    it(`version ${v} → ${s}`, () => assert.equal(pistonVersion(v), s));
  }
  const select: Array<[string, string, string | undefined]> = [
    ['python', '*', '3.12.1'], ['py', '3.x', '3.12.1'], ['python3', '3.11.x', '3.11.2'], ['python', '3.11.2', '3.11.2'],
    ['python', '>=3.0.0 <3.12.0', '3.11.2'], ['python', '4', undefined], ['cobol', '*', undefined], ['js', '18', '18.19.0'],
    ['python', 'not a range', undefined], ['c++', '*', '12.2.0'], ['gcc', '12.2.0', '12.2.0'],
  ];
  for (const [lang, range, want] of select) {
    it(`select ${lang}@${range} → ${want}`, () => assert.equal(selectRuntime(runtimes, lang, range)?.version, want));
  }
});

describe('Piston /execute body → RunRequest', () => {
  const parse = (b: unknown) => parseExecute(b, runtimes, o);
  it('maps the documented example', () => {
    const p = parse({
      language: 'js', version: '18.19.0', files: [{ name: 'my_cool_code.js', content: 'console.log(process.argv)' }], stdin: '',
      args: ['1', '2', '3'], compile_timeout: 10000, run_timeout: 3000, compile_memory_limit: -1, run_memory_limit: -1,
    });
    assert.ok(p.ok);
    assert.deepEqual(p.request, {
      language: 'javascript', files: [{ path: 'main.js', content: 'console.log(process.argv)', encoding: 'utf8' }],
      stdin: '\n', args: ['1', '2', '3'], limits: { wallMs: 3000, cpuMs: 3000 },
    });
    assert.ok(RunRequestSchema.safeParse(p.request).success);
  });
  it('writes the first utf8 file under the language\'s file name, keeps others, decodes base64 and hex', () => {
    const p = parse({ language: 'c', version: '*', files: [
      { name: 'data.bin', content: '00ff', encoding: 'hex' }, { name: 'prog.c', content: 'int main(){}' },
      { name: 'inc/x.h', content: Buffer.from('#define X 1').toString('base64'), encoding: 'base64' }, { content: 'extra' },
    ], run_memory_limit: 64 * 1024 * 1024, compile_memory_limit: 300 * 1024 * 1024, compile_timeout: 5000, compile_cpu_time: 4000, run_cpu_time: 1000 });
    assert.ok(p.ok);
    assert.deepEqual(p.request.files, [
      { path: 'data.bin', content: Buffer.from([0, 255]).toString('base64'), encoding: 'base64' },
      { path: 'main.c', content: 'int main(){}', encoding: 'utf8' },
      { path: 'inc/x.h', content: Buffer.from('#define X 1').toString('base64'), encoding: 'base64' },
      { path: 'file3.code', content: 'extra', encoding: 'utf8' },
    ]);
    assert.deepEqual(p.request.limits, { wallMs: 3000, cpuMs: 1000, memoryMb: 64 });
    assert.deepEqual(p.request.compileLimits, { wallMs: 5000, cpuMs: 4000, memoryMb: 300 });
  });
  it('keeps stdin ending in a newline as it is, and adds one otherwise (as Piston does)', () => {
    const a = parse({ language: 'py', version: '*', files: [{ content: 'x' }], stdin: 'a\n' });
    const b = parse({ language: 'py', version: '*', files: [{ content: 'x' }], stdin: 'a' });
    assert.ok(a.ok && b.ok);
    assert.equal(a.request.stdin, 'a\n');
    assert.equal(b.request.stdin, 'a\n');
  });
  const bad: Array<[string, unknown, string]> = [
    ['no language', { version: '*', files: [] }, 'language is required as a string'],
    ['no version', { language: 'py', files: [] }, 'version is required as a string'],
    ['no files', { language: 'py', version: '*' }, 'files is required as an array'],
    ['content not a string', { language: 'py', version: '*', files: [{ content: 5 }] }, 'files[0].content is required as a string'],
    ['unknown runtime', { language: 'py', version: '9', files: [{ content: 'x' }] }, 'py-9 runtime is unknown'],
    ['no utf8 file', { language: 'py', version: '*', files: [{ content: 'eA==', encoding: 'base64' }] }, 'files must include at least one utf8 encoded file'],
    ['run_timeout over max', { language: 'py', version: '*', files: [{ content: 'x' }], run_timeout: 60001 }, 'run_timeout cannot exceed the configured limit of 60000'],
    ['run_timeout not a number', { language: 'py', version: '*', files: [{ content: 'x' }], run_timeout: '5' }, 'If specified, run_timeout must be a number'],
    ['negative cpu time', { language: 'py', version: '*', files: [{ content: 'x' }], run_cpu_time: -5 }, 'run_cpu_time must be non-negative'],
    ['negative memory (not -1)', { language: 'py', version: '*', files: [{ content: 'x' }], run_memory_limit: -2 }, 'run_memory_limit must be non-negative'],
    ['memory over max', { language: 'py', version: '*', files: [{ content: 'x' }], run_memory_limit: 3 * 1024 ** 3 }, `run_memory_limit cannot exceed the configured limit of ${2048 * 1024 * 1024}`],
    ['path escape', { language: 'py', version: '*', files: [{ content: 'x' }, { name: '../etc/passwd', content: 'y' }] }, 'File path "../etc/passwd" tries to escape the submission directory (empty, "." or ".." segment)'],
    ['absolute path', { language: 'py', version: '*', files: [{ content: 'x' }, { name: '/etc/x', content: 'y' }] }, 'File path "/etc/x" must be relative, not absolute'],
    ['duplicate name', { language: 'py', version: '*', files: [{ content: 'x' }, { name: 'a', content: 'y' }, { name: 'a', content: 'z' }] }, 'files[2].name "a" is given twice'],
    ['clash with the main file name', { language: 'py', version: '*', files: [{ content: 'x' }, { name: 'main.py', content: 'y' }] }, 'files[1].name "main.py" clashes with main.py, the name the main file is run as'],
    ['bad hex', { language: 'py', version: '*', files: [{ content: 'x' }, { name: 'b', content: 'zz', encoding: 'hex' }] }, 'files[1].content is not valid hex'],
    ['args not strings', { language: 'py', version: '*', files: [{ content: 'x' }], args: [1, 2] }, 'args must be an array of strings'],
    ['body is an array', [], 'request body must be a JSON object'],
  ];
  for (const [name, body, msg] of bad) {
    it(`400: ${name}`, () => assert.deepEqual(parse(body), { ok: false, message: msg }));
  }
});

describe('Corral phase → Piston stage', () => {
  const table: Array<[string, Parameters<typeof phase>[0], Partial<ReturnType<typeof pistonStage>>]> = [
    ['success', { stdout: 'a', stderr: 'b' }, { status: null, code: 0, signal: null, output: 'ab', message: null }],
    ['non-zero exit', { status: 'runtime_error', exitCode: 2 }, { status: 'RE', code: 2, message: 'Exited with error status 2' }],
    ['signal', { status: 'runtime_error', exitCode: null, signal: 'SIGSEGV' }, { status: 'SG', code: null, signal: 'SIGSEGV', message: 'Caught fatal signal 11' }],
    ['time limit', { status: 'time_limit', limit: 'wall', exitCode: null, signal: 'SIGKILL' }, { status: 'TO', signal: 'SIGKILL', code: null, message: 'Time limit exceeded (wall clock)' }],
    ['stdout too long', { status: 'output_limit', truncated: true, stdout: 'xxxx' }, { status: 'OL', signal: 'SIGKILL', code: null, message: 'stdout length exceeded' }],
    ['stderr too long', { status: 'output_limit', truncated: true, stderr: 'xxxx' }, { status: 'EL', message: 'stderr length exceeded' }],
    ['memory limit', { status: 'memory_limit', exitCode: null, signal: 'SIGKILL', memoryKb: 1000 }, { status: 'SG', signal: 'SIGKILL', memory: 1024000, message: 'Memory limit exceeded (peak 1024000 bytes)' }],
    ['internal error', { status: 'internal_error', error: 'clone: EPERM' }, { status: 'XX', message: 'clone: EPERM' }],
  ];
  for (const [name, p, want] of table) {
    it(name, () => {
      const s = pistonStage(phase(p));
      for (const [k, v] of Object.entries(want)) assert.deepEqual((s as any)[k], v, k);
    });
  }
  it('reports times in ms and memory in bytes', () => {
    assert.deepEqual(pistonStage(phase({ cpuMs: 12.4, wallMs: 30, memoryKb: 2 })), {
      stdout: '', stderr: '', output: '', code: 0, signal: null, message: null, status: null, cpu_time: 12, wall_time: 30, memory: 2048,
    });
  });
  const result = (r: Partial<RunResult>): RunResult => ({
    id: 'r', status: 'completed', language: 'c', verdict: 'accepted', compile: null, run: phase(), tests: null, files: [], error: null,
    createdAt: 'x', startedAt: null, finishedAt: null, queueWaitMs: null, ...r,
  });
  it('a compile failure is the compile stage, and run = compile (Piston\'s backward compatibility)', () => {
    const r = pistonResponse(result({ verdict: 'compile_error', compile: phase({ status: 'runtime_error', exitCode: 1, stderr: 'error' }), run: null }), { language: 'c', version: '12.2.0' });
    assert.equal(r.compile!.code, 1);
    assert.deepEqual(r.run, r.compile);
  });
  it('a compiled success has both stages; an interpreted one only run', () => {
    const compiled = pistonResponse(result({ compile: phase(), run: phase({ stdout: 'hi' }) }), { language: 'c', version: '12.2.0' });
    assert.deepEqual(Object.keys(compiled), ['language', 'version', 'run', 'compile']);
    assert.equal(compiled.run.stdout, 'hi');
    assert.equal('compile' in pistonResponse(result({}), { language: 'python', version: '3.11.2' }), false);
  });
  it('a failed run is an XX stage saying why', () => {
    const r = pistonResponse(result({ status: 'failed', verdict: null, run: null, error: { code: 'sandbox_failed', message: 'no cgroup' } }), { language: 'c', version: '1.0.0' });
    assert.deepEqual([r.run.status, r.run.message], ['XX', 'sandbox_failed: no cgroup']);
  });
});
