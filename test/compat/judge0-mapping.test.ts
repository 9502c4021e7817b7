// Pure mapping tests of the Judge0 translation layer (no HTTP, no RunService): statuses and
// signals, the RunResult → Judge0 outcome table, decimal-second strings, base64 rules, argv
// splitting, ?fields=, language ids and the submission → RunRequest table.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { RunRequest as RunRequestSchema, type LanguageInfo, type RunResult } from '../../services/core/schemas.ts';
import { decodeJudge0Base64, encodeJudge0Base64 } from '../../services/api/compat/judge0/base64.ts';
import { judge0FieldFor } from '../../services/api/compat/judge0/http-errors.ts';
import { JUDGE0_LANGUAGES, judge0Language, resolveJudge0Language, judge0LanguageName, versionNumber } from '../../services/api/compat/judge0/language-ids.ts';
import { rubyNumber } from '../../services/api/compat/judge0/submission-limits.ts';
import { parseJudge0Options } from '../../services/api/compat/judge0/options.ts';
import { judge0Outcome, judge0Seconds } from '../../services/api/compat/judge0/outcome.ts';
import { splitShellWords, ShellWordsError } from '../../services/api/compat/judge0/shell-words.ts';
import { ALL_STATUSES, signalNumber, statusForSignal } from '../../services/api/compat/judge0/statuses.ts';
import { judge0Workers } from '../../services/api/compat/judge0/workers.ts';
import { parseSubmission } from '../../services/api/compat/judge0/submission-request.ts';
import { ALL_FIELDS, DEFAULT_FIELDS, parseFields, serializeSubmission, Utf8ConversionError } from '../../services/api/compat/judge0/submission-response.ts';
import { DEFAULT_LANGUAGES, phase } from './fake-run-service.ts';

const result = (r: Partial<RunResult>): RunResult => ({
  id: 'r1', status: 'completed', language: 'c', verdict: 'accepted', compile: null, run: phase(), tests: null, files: [],
  error: null, createdAt: '2026-01-01T00:00:00.000Z', startedAt: '2026-01-01T00:00:00.100Z', finishedAt: '2026-01-01T00:00:01.000Z', queueWaitMs: 100, ...r,
});

describe('Judge0 statuses', () => {
  it('lists ids 1–14 with Judge0 CE 1.13.1\'s exact descriptions', () => {
    assert.deepEqual(ALL_STATUSES, [
      { id: 1, description: 'In Queue' }, { id: 2, description: 'Processing' }, { id: 3, description: 'Accepted' },
      { id: 4, description: 'Wrong Answer' }, { id: 5, description: 'Time Limit Exceeded' }, { id: 6, description: 'Compilation Error' },
      { id: 7, description: 'Runtime Error (SIGSEGV)' }, { id: 8, description: 'Runtime Error (SIGXFSZ)' },
      { id: 9, description: 'Runtime Error (SIGFPE)' }, { id: 10, description: 'Runtime Error (SIGABRT)' },
      { id: 11, description: 'Runtime Error (NZEC)' }, { id: 12, description: 'Runtime Error (Other)' },
      { id: 13, description: 'Internal Error' }, { id: 14, description: 'Exec Format Error' },
    ]);
  });
  for (const [sig, id] of [[11, 7], [25, 8], [8, 9], [6, 10], [9, 12], [15, 12], [4, 12]] as const) {
    it(`signal ${sig} → status ${id}`, () => assert.equal(statusForSignal(sig).id, id));
  }
  for (const [name, n] of [['SIGSEGV', 11], ['SEGV', 11], ['sigkill', 9], ['25', 25], [null, null], ['SIGNOPE', null]] as const) {
    it(`signalNumber(${name}) = ${n}`, () => assert.equal(signalNumber(name), n));
  }
});

describe('judge0Seconds', () => {
  for (const [ms, s] of [[0, '0.0'], [1, '0.001'], [12, '0.012'], [100, '0.1'], [1000, '1.0'], [2500, '2.5'], [12.6, '0.013'], [null, null]] as const) {
    it(`${ms} ms → ${s}`, () => assert.equal(judge0Seconds(ms), s));
  }
});

describe('RunResult → Judge0 outcome', () => {
  const table: Array<[string, Partial<RunResult>, number, Partial<ReturnType<typeof judge0Outcome>>]> = [
    ['queued', { status: 'queued', verdict: null, run: null }, 1, { stdout: null, time: null }],
    ['running', { status: 'running', verdict: null, run: null }, 2, {}],
    ['accepted', { verdict: 'accepted', run: phase({ stdout: 'hi\n' }) }, 3, { exitCode: 0, exitSignal: null, message: null }],
    ['plain run (no verdict), ok', { verdict: null }, 3, {}],
    ['wrong answer', { verdict: 'wrong_answer' }, 4, {}],
    ['cpu time limit', { verdict: 'time_limit', run: phase({ status: 'time_limit', limit: 'cpu', exitCode: null, signal: 'SIGKILL' }) }, 5, { message: 'Time limit exceeded', exitSignal: 9 }],
    ['wall time limit', { verdict: 'time_limit', run: phase({ status: 'time_limit', limit: 'wall', exitCode: null, signal: 'SIGKILL' }) }, 5, { message: 'Time limit exceeded (wall clock)' }],
    ['compile error', { verdict: 'compile_error', compile: phase({ status: 'runtime_error', exitCode: 1, stderr: 'main.c:1: error' }), run: null }, 6, { stdout: null }],
    ['SIGSEGV', { verdict: 'runtime_error', run: phase({ status: 'runtime_error', exitCode: null, signal: 'SIGSEGV' }) }, 7, { exitSignal: 11, exitCode: 0, message: 'Caught fatal signal 11' }],
    ['output limit → SIGXFSZ', { verdict: 'output_limit', run: phase({ status: 'output_limit', limit: 'output', truncated: true }) }, 8, { exitSignal: 25 }],
    ['output limit killed by SIGKILL → still SIGXFSZ', { verdict: 'output_limit', run: phase({ status: 'output_limit', limit: 'output', exitCode: null, signal: 'SIGKILL' }) }, 8, { exitSignal: 25, exitCode: 0 }],
    ['SIGFPE', { verdict: 'runtime_error', run: phase({ status: 'runtime_error', exitCode: null, signal: 'SIGFPE' }) }, 9, { exitSignal: 8 }],
    ['SIGABRT', { verdict: 'runtime_error', run: phase({ status: 'runtime_error', exitCode: null, signal: 'SIGABRT' }) }, 10, { exitSignal: 6 }],
    ['NZEC', { verdict: 'runtime_error', run: phase({ status: 'runtime_error', exitCode: 3 }) }, 11, { exitCode: 3, exitSignal: null, message: 'Exited with error status 3' }],
    ['other signal', { verdict: 'runtime_error', run: phase({ status: 'runtime_error', exitCode: null, signal: 'SIGTERM' }) }, 12, { exitSignal: 15 }],
    ['memory limit (SIGKILL)', { verdict: 'memory_limit', run: phase({ status: 'memory_limit', limit: 'memory', exitCode: null, signal: 'SIGKILL', memoryKb: 131072 }) }, 12, { exitSignal: 9 }],
    ['memory limit (no signal)', { verdict: 'memory_limit', run: phase({ status: 'memory_limit', limit: 'memory', exitCode: null }) }, 12, { exitSignal: 9 }],
    ['memory limit showing as SIGSEGV', { verdict: 'memory_limit', run: phase({ status: 'memory_limit', exitCode: null, signal: 'SIGSEGV' }) }, 7, {}],
    ['internal error', { verdict: 'internal_error', run: phase({ status: 'internal_error', error: 'mount overlay: EINVAL' }) }, 13, { message: 'mount overlay: EINVAL' }],
    ['exec format error', { verdict: 'internal_error', run: phase({ status: 'internal_error', error: 'execve: Exec format error' }) }, 14, {}],
    ['failed run', { status: 'failed', verdict: null, run: null, error: { code: 'sandbox', message: 'no slots' } }, 13, { message: 'sandbox: no slots' }],
    ['cancelled run', { status: 'cancelled', verdict: null, run: null, error: null }, 13, {}],
  ];
  for (const [name, r, id, expect] of table) {
    it(`${name} → ${id}`, () => {
      const out = judge0Outcome(result(r), { memoryLimitKb: 128000 });
      assert.equal(out.status.id, id);
      for (const [k, v] of Object.entries(expect)) assert.deepEqual((out as any)[k], v, k);
    });
  }
  it('reports a memory-limit kill with Corral\'s exact reason in message', () => {
    const out = judge0Outcome(result({ verdict: 'memory_limit', run: phase({ status: 'memory_limit', limit: 'memory', signal: 'SIGKILL', exitCode: null, memoryKb: 131072 }) }), { memoryLimitKb: 128000 });
    assert.match(out.message!, /^Memory limit exceeded: peak 131072 KB, limit 128000 KB \(Corral memory_limit\)$/);
  });
  it('puts compiler output (stdout then stderr) into compile_output even when the run succeeds', () => {
    const out = judge0Outcome(result({ compile: phase({ stdout: 'note\n', stderr: 'warning: x\n' }) }));
    assert.equal(out.compileOutput!.toString(), 'note\nwarning: x\n');
    assert.equal(out.status.id, 3);
  });
  it('keeps non-UTF-8 output bytes exactly (encoding base64 in the phase)', () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
    const out = judge0Outcome(result({ run: phase({ stdout: bytes.toString('base64'), encoding: 'base64' }) }));
    assert.deepEqual(out.stdout, bytes);
  });
  it('reports time, wall_time and memory from the run phase', () => {
    const out = judge0Outcome(result({ run: phase({ cpuMs: 1234, wallMs: 2000, memoryKb: 3000.4 }) }));
    assert.deepEqual([out.time, out.wallTime, out.memoryKb], ['1.234', '2.0', 3000]);
  });
});

describe('Judge0 base64', () => {
  it('encodes like Ruby Base64.encode64: 60-char lines, each ending in a newline', () => {
    assert.equal(encodeJudge0Base64(Buffer.from('hello, Judge0\n')), 'aGVsbG8sIEp1ZGdlMAo=\n');
    const long = encodeJudge0Base64(Buffer.alloc(100, 0x61));
    assert.deepEqual(long.split('\n').map((l) => l.length), [60, 60, 16, 0]);
    assert.equal(encodeJudge0Base64(Buffer.alloc(0)), '');
  });
  it('decodes leniently like Ruby Base64.decode64 (newlines and junk skipped)', () => {
    assert.equal(decodeJudge0Base64('aGVs\nbG8=\n').toString(), 'hello');
    assert.equal(decodeJudge0Base64('aGVsbG8').toString(), 'hello');
    assert.equal(decodeJudge0Base64('!!aGVsbG8=??').toString(), 'hello');
  });
});

describe('splitShellWords (compiler_options, command_line_arguments)', () => {
  const table: Array<[string, string[]]> = [
    ['', []], ['  -O2   -Wall ', ['-O2', '-Wall']], ["'a b' c", ['a b', 'c']], ['"a \\"b\\"" c', ['a "b"', 'c']],
    ['a\\ b', ['a b']], ['$(rm -rf /); echo `x` | y', ['$(rm', '-rf', '/);', 'echo', '`x`', '|', 'y']], ["''", ['']], ['-DX="1 2"', ['-DX=1 2']],
  ];
  for (const [input, words] of table) it(`${JSON.stringify(input)} → ${JSON.stringify(words)}`, () => assert.deepEqual(splitShellWords(input), words));
  it('refuses an unterminated quote, saying where', () => {
    assert.throws(() => splitShellWords("a 'b"), (e: Error) => e instanceof ShellWordsError && /single quote at character 3/.test(e.message));
    assert.throws(() => splitShellWords('"x'), ShellWordsError);
  });
});

describe('?fields=', () => {
  it('defaults to Judge0\'s default fields', () => assert.deepEqual(parseFields(undefined), { ok: true, fields: DEFAULT_FIELDS }));
  it('* selects every field', () => assert.deepEqual(parseFields('*'), { ok: true, fields: ALL_FIELDS }));
  it('selects named fields', () => assert.deepEqual(parseFields('stdout, status_id,language_id'), { ok: true, fields: ['stdout', 'status_id', 'language_id'] }));
  it('names the invalid fields', () => assert.deepEqual(parseFields('stdout,foo,bar'), { ok: false, invalid: ['foo', 'bar'] }));
});

describe('Judge0 language ids', () => {
  it('maps the published ids to Corral languages', () => {
    for (const [id, corral] of [[50, 'c'], [54, 'cpp'], [62, 'java'], [63, 'javascript'], [71, 'python'], [46, 'bash'], [48, 'c'], [49, 'c'], [52, 'cpp'], [53, 'cpp']] as const) {
      assert.equal(resolveJudge0Language(id, DEFAULT_LANGUAGES)?.corral.id, corral, `id ${id}`);
    }
  });
  it('resolves nothing for an id Judge0 never published or a language Corral lacks', () => {
    assert.equal(resolveJudge0Language(999, DEFAULT_LANGUAGES), undefined);
    assert.equal(resolveJudge0Language(72, DEFAULT_LANGUAGES), undefined);
  });
  it('never gives one Judge0 id twice (ids are stable forever)', () => {
    const ids = JUDGE0_LANGUAGES.map((l) => l.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(
      Object.fromEntries(JUDGE0_LANGUAGES.filter((l) => [50, 54, 60, 62, 63, 71, 73, 46].includes(l.id)).map((l) => [l.id, l.corral[0]])),
      { 46: 'bash', 50: 'c', 54: 'cpp', 60: 'go', 62: 'java', 63: 'javascript', 71: 'python', 73: 'rust' },
    );
  });
  it('resolves the published ids against the language ids of Corral\'s recipes (rootfs-images/)', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const dir = new URL('../../rootfs-images/', import.meta.url);
    const recipeIds = readdirSync(dir).filter((f) => f.endsWith('.json'))
      .flatMap((f) => (JSON.parse(readFileSync(new URL(f, dir), 'utf8')).languages ?? []) as Array<{ id: string; name: string; fileName: string }>);
    const offered = recipeIds.map((l) => ({ id: l.id, name: l.name, version: '1', compiled: false, fileName: l.fileName, available: true }));
    const got = Object.fromEntries([46, 50, 51, 54, 60, 62, 63, 71, 72, 73, 74, 78, 82].map((id) => [id, resolveJudge0Language(id, offered)?.corral.id]));
    assert.deepEqual(got, { 46: 'bash', 50: 'c', 51: 'csharp', 54: 'cpp', 60: 'go', 62: 'java', 63: 'javascript', 71: 'python', 72: 'ruby', 73: 'rust', 74: 'typescript', 78: 'kotlin', 82: 'sqlite' });
    assert.equal(resolveJudge0Language(89, offered), undefined);
  });
  it('names a language with Corral\'s version in Judge0\'s format', () => {
    assert.equal(judge0LanguageName(resolveJudge0Language(71, DEFAULT_LANGUAGES)!), 'Python (3.11.2)');
    assert.equal(judge0LanguageName(resolveJudge0Language(54, DEFAULT_LANGUAGES)!), 'C++ (GCC 12.2.0)');
    const unbuilt = [{ id: 'python', name: 'Python', version: '', compiled: false, fileName: 'main.py', available: false }];
    assert.equal(judge0LanguageName(resolveJudge0Language(71, unbuilt)!), 'Python');
  });
});

describe('Judge0 1.13.1\'s active ids, each with the compiler its name says', () => {
  const lang = (id: string, version: string, compiled = true): LanguageInfo => ({ id, name: id, version, compiled, fileName: `main.${id}`, available: true });
  /** Corral's languages as the images record them (the new ones built by another recipe set). */
  const offered: LanguageInfo[] = [
    ...DEFAULT_LANGUAGES,
    lang('clang-c', 'Debian clang version 14.0.6'), lang('clang-cpp', '14.0.6'), lang('gprolog', 'GNU Prolog 1.4.5'),
    lang('prolog', '9.0.4', false), lang('nasm', 'NASM version 2.16.01'), lang('octave', '7.3.0', false),
    { ...lang('basic', '2.90.3', false), name: 'BASIC (yabasic)' }, lang('groovy', '2.4.21'), lang('d', '12.2.0'),
  ];
  /** judge0/judge0 db/languages/active.rb: every id 1.13.1's /languages lists. */
  const ACTIVE_1_13_1 = Array.from({ length: 89 - 43 + 1 }, (_, i) => 43 + i);

  it('keeps every active 1.13.1 id in the table, under Judge0\'s own 1.13.1 name', () => {
    assert.deepEqual(JUDGE0_LANGUAGES.map((l) => l.id).sort((a, b) => a - b), ACTIVE_1_13_1);
    assert.equal(judge0Language(75)!.judge0Name, 'C (Clang 7.0.1)');
    assert.equal(judge0Language(48)!.judge0Name, 'C (GCC 7.4.0)');
  });
  const routes: Array<[number, string, string]> = [
    [48, 'c', 'C (GCC 12.2.0, stands in for GCC 7.4.0)'], [49, 'c', 'C (GCC 12.2.0, stands in for GCC 8.3.0)'], [50, 'c', 'C (GCC 12.2.0)'],
    [52, 'cpp', 'C++ (GCC 12.2.0, stands in for GCC 7.4.0)'], [53, 'cpp', 'C++ (GCC 12.2.0, stands in for GCC 8.3.0)'], [54, 'cpp', 'C++ (GCC 12.2.0)'],
    [75, 'clang-c', 'C (Clang 14.0.6)'], [76, 'clang-cpp', 'C++ (Clang 14.0.6)'],
    [69, 'gprolog', 'Prolog (GNU Prolog 1.4.5)'], [45, 'nasm', 'Assembly (NASM 2.16.01)'], [66, 'octave', 'Octave (7.3.0)'],
    [47, 'basic', 'Basic (yabasic 2.90.3, stands in for FBC 1.07.1)'], [56, 'd', 'D (GDC 12.2.0, stands in for DMD 2.089.1)'],
    [88, 'groovy', 'Groovy (2.4.21)'],
  ];
  for (const [id, corral, name] of routes) {
    it(`${id} → ${corral}, named "${name}"`, () => {
      const r = resolveJudge0Language(id, offered);
      assert.equal(r?.corral.id, corral);
      assert.equal(judge0LanguageName(r!), name);
    });
  }
  it('never falls back to another compiler: 75/76 without Clang and 69 without GNU Prolog resolve to nothing', () => {
    for (const id of [75, 76, 69]) assert.equal(resolveJudge0Language(id, [...DEFAULT_LANGUAGES, lang('prolog', '9.0.4', false)]), undefined, `id ${id}`);
  });
  it('prefers an available candidate over one whose image is not built', () => {
    const both = [{ ...lang('python', '3.11.2', false), available: false }, lang('python3', '3.12.1', false)];
    assert.equal(resolveJudge0Language(71, both)?.corral.id, 'python3');
  });
  it('reads the version number out of a recorded version line', () => {
    for (const [line, v] of [['5.2.15(1)-release', '5.2.15'], ['javac 17.0.9', '17.0.9'], ['3.11.2 numpy 1.24.2 pandas 1.5.3', '3.11.2'], ['', ''], ['none', '']]) {
      assert.equal(versionNumber(line), v, line);
    }
  });
});

describe('Judge0 1.13.1 validation: zeros, minimums and Rails\' messages', () => {
  const o = parseJudge0Options();
  const parse = (extra: Record<string, unknown>) => parseSubmission({ source_code: 'x', language_id: 71, ...extra }, false, DEFAULT_LANGUAGES, o);
  const accepted: Array<[string, Record<string, unknown>]> = [
    ['cpu_time_limit 0', { cpu_time_limit: 0 }], ['cpu_extra_time 0', { cpu_extra_time: 0 }], ['stack_limit 0', { stack_limit: 0 }],
    ['max_file_size 0', { max_file_size: 0 }], ['memory_limit 2048 (the minimum)', { memory_limit: 2048 }],
    ['wall_time_limit 1 (the minimum)', { wall_time_limit: 1 }], ['number_of_runs 1', { number_of_runs: 1 }],
    ['max_processes_and_or_threads 1', { max_processes_and_or_threads: 1 }], ['numeric strings', { cpu_time_limit: '0', memory_limit: '2048' }],
  ];
  for (const [name, extra] of accepted) {
    it(`accepts ${name}`, () => {
      const p = parse(extra);
      assert.ok(p.ok, JSON.stringify(!p.ok && p.errors));
      assert.ok(RunRequestSchema.safeParse(p.request).success);
    });
  }
  const refused: Array<[string, Record<string, unknown>, Record<string, string[]>]> = [
    ['memory_limit under 2048', { memory_limit: 2047 }, { memory_limit: ['must be greater than or equal to 2048'] }],
    ['wall_time_limit under 1', { wall_time_limit: 0.5 }, { wall_time_limit: ['must be greater than or equal to 1'] }],
    ['wall_time_limit 0', { wall_time_limit: 0 }, { wall_time_limit: ['must be greater than or equal to 1'] }],
    ['number_of_runs 0', { number_of_runs: 0 }, { number_of_runs: ['must be greater than 0'] }],
    ['max_processes_and_or_threads 0', { max_processes_and_or_threads: 0 }, { max_processes_and_or_threads: ['must be greater than 0'] }],
    ['cpu_extra_time negative', { cpu_extra_time: -0.5 }, { cpu_extra_time: ['must be greater than or equal to 0'] }],
    ['stack_limit negative', { stack_limit: -1 }, { stack_limit: ['must be greater than or equal to 0'] }],
    ['max_file_size negative', { max_file_size: '-1' }, { max_file_size: ['must be greater than or equal to 0'] }],
    ['several at once', { number_of_runs: 0, memory_limit: 1 }, { number_of_runs: ['must be greater than 0'], memory_limit: ['must be greater than or equal to 2048'] }],
  ];
  for (const [name, extra, errors] of refused) {
    it(`refuses ${name}`, () => {
      const p = parse(extra);
      assert.equal(p.ok, false);
      if (!p.ok) assert.deepEqual(p.errors, errors);
    });
  }
  it('maps the zeros to what Judge0 meant (isolate: 0 = no limit) within Corral\'s maxima', () => {
    const p = parse({ cpu_time_limit: 0, cpu_extra_time: 0, stack_limit: 0, max_file_size: 0 });
    assert.ok(p.ok);
    assert.deepEqual(p.request.limits, {
      cpuMs: 15000, extraCpuMs: 0, wallMs: 10000, memoryMb: 125, stackMb: 0, processes: 60, fileSizeMb: 4, outputBytes: 16 * 1024 * 1024,
    });
    assert.deepEqual([p.echo.cpuTimeLimit, p.echo.stackLimitKb, p.echo.maxFileSizeKb], [0, 0, 0], 'echoed as sent');
  });
  it('with Corral\'s configuration, the zeros become its run maxima, and a capped Float maximum prints as Ruby prints it', () => {
    const limits = { cpuMs: 3000, wallMs: 8000, memoryMb: 100, processes: 50, outputBytes: 1000, diskMb: 64, stackMb: 8, fileSizeMb: 2, extraCpuMs: 500 };
    const capped = parseJudge0Options({}, { limits: { run: { defaults: limits, max: limits }, compile: { defaults: limits, max: limits } }, queueMaxDepth: 7, batchMax: 5, maxWaitMs: 1000, apiKeys: [], filesMax: 10 });
    const p = parseSubmission({ source_code: 'x', language_id: 71, cpu_time_limit: 0, stack_limit: 0, max_file_size: 0 }, false, DEFAULT_LANGUAGES, capped);
    assert.ok(p.ok);
    assert.deepEqual([p.request.limits!.cpuMs, p.request.limits!.stackMb, p.request.limits!.fileSizeMb, p.request.limits!.outputBytes], [3000, 8, 2, 1000]);
    const over = parseSubmission({ source_code: 'x', language_id: 71, cpu_time_limit: 4 }, false, DEFAULT_LANGUAGES, capped);
    assert.deepEqual(!over.ok && over.errors, { cpu_time_limit: ['must be less than or equal to 3.0'] });
  });
  it('answers Judge0\'s messages when the operator disabled callbacks and additional files', () => {
    const off = parseJudge0Options({ enableCallbacks: false, enableAdditionalFiles: false });
    const p = parseSubmission({ source_code: 'x', language_id: 71, callback_url: 'http://127.0.0.1:9/', additional_files: 'UEsFBg==' }, false, DEFAULT_LANGUAGES, off);
    assert.deepEqual(!p.ok && p.errors, { callback_url: ['setting callback is not allowed'], additional_files: ['setting additional files is not allowed'] });
  });
  it('rubyNumber prints Floats with a decimal point', () => {
    assert.deepEqual([rubyNumber(15, true), rubyNumber(2.5, true), rubyNumber(512000, false)], ['15.0', '2.5', '512000']);
  });
});

describe('Judge0 submission → RunRequest', () => {
  const o = parseJudge0Options();
  const parse = (body: unknown, base64 = false) => parseSubmission(body, base64, DEFAULT_LANGUAGES, o);

  it('applies Judge0\'s defaults in Corral units, and the request passes Corral\'s schema', () => {
    const p = parse({ source_code: 'print(1)', language_id: 71 });
    assert.ok(p.ok);
    assert.deepEqual(p.request, {
      language: 'python', source: 'print(1)', compare: 'trailing-whitespace', redirectStderrToStdout: false, repeat: 1,
      limits: { cpuMs: 5000, extraCpuMs: 1000, wallMs: 10000, memoryMb: 125, stackMb: 63, processes: 60, fileSizeMb: 1, outputBytes: 1048576 },
    });
    assert.ok(RunRequestSchema.safeParse(p.request).success);
  });

  it('maps every field', () => {
    const p = parse({
      source_code: 'int main(){}', language_id: '50', compiler_options: '-O2 -lm', command_line_arguments: "a 'b c'",
      stdin: 'in', expected_output: 'out', cpu_time_limit: '2.5', cpu_extra_time: 0.5, wall_time_limit: 7, memory_limit: 256000,
      stack_limit: 32000, max_processes_and_or_threads: 10, max_file_size: 2048, redirect_stderr_to_stdout: true, number_of_runs: 3,
      callback_url: 'http://127.0.0.1:9/cb', enable_per_process_and_thread_time_limit: false, enable_network: false,
    });
    assert.ok(p.ok);
    assert.deepEqual(p.request, {
      language: 'c', source: 'int main(){}', stdin: 'in', expectedOutput: 'out', args: ['a', 'b c'], compilerArgs: ['-O2', '-lm'],
      compare: 'trailing-whitespace', redirectStderrToStdout: true, repeat: 3,
      limits: { cpuMs: 2500, extraCpuMs: 500, wallMs: 7000, memoryMb: 250, stackMb: 32, processes: 10, fileSizeMb: 2, outputBytes: 2097152 },
      callbackUrl: 'http://127.0.0.1:9/cb', callbackMethod: 'PUT', callbackFormat: 'judge0',
    });
    assert.equal(p.echo.callbackUrl, 'http://127.0.0.1:9/cb');
    assert.ok(RunRequestSchema.safeParse(p.request).success);
  });

  it('decodes base64 fields when base64_encoded=true', () => {
    const p = parse({ source_code: Buffer.from('print(1)').toString('base64'), language_id: 71, stdin: 'aGk=', expected_output: 'aGk=\n' }, true);
    assert.ok(p.ok);
    assert.equal(p.request.source, 'print(1)');
    assert.equal(p.request.stdin, 'hi');
    assert.equal(p.request.expectedOutput, 'hi');
  });

  it('sends non-UTF-8 source as a base64 file under the language\'s file name', () => {
    const p = parse({ source_code: Buffer.from([0x23, 0xff, 0x0a]).toString('base64'), language_id: 71 }, true);
    assert.ok(p.ok);
    assert.deepEqual(p.request.files, [{ path: 'main.py', content: Buffer.from([0x23, 0xff, 0x0a]).toString('base64'), encoding: 'base64' }]);
    assert.equal(p.request.source, undefined);
  });

  const errors: Array<[string, unknown, Record<string, string[]>]> = [
    ['blank source and language', {}, { source_code: ["can't be blank"], language_id: ["can't be blank"] }],
    ['whitespace source', { source_code: '  \n', language_id: 71 }, { source_code: ["can't be blank"] }],
    ['unknown language', { source_code: 'x', language_id: 9999 }, { language_id: ["language with id 9999 doesn't exist"] }],
    ['language Corral lacks', { source_code: 'x', language_id: 72 }, { language_id: ["language with id 72 doesn't exist"] }],
    ['non-numeric language', { source_code: 'x', language_id: 'python' }, { language_id: ["language with id python doesn't exist"] }],
    ['cpu over max (Ruby prints the Float maximum)', { source_code: 'x', language_id: 71, cpu_time_limit: 16 }, { cpu_time_limit: ['must be less than or equal to 15.0'] }],
    ['cpu negative', { source_code: 'x', language_id: 71, cpu_time_limit: -1 }, { cpu_time_limit: ['must be greater than or equal to 0'] }],
    ['cpu not a number', { source_code: 'x', language_id: 71, cpu_time_limit: 'fast' }, { cpu_time_limit: ['is not a number'] }],
    ['memory over max', { source_code: 'x', language_id: 71, memory_limit: 512001 }, { memory_limit: ['must be less than or equal to 512000'] }],
    ['wall over max', { source_code: 'x', language_id: 71, wall_time_limit: 21 }, { wall_time_limit: ['must be less than or equal to 20.0'] }],
    ['stack over max', { source_code: 'x', language_id: 71, stack_limit: 128001 }, { stack_limit: ['must be less than or equal to 128000'] }],
    ['processes over max', { source_code: 'x', language_id: 71, max_processes_and_or_threads: 121 }, { max_processes_and_or_threads: ['must be less than or equal to 120'] }],
    ['file size over max', { source_code: 'x', language_id: 71, max_file_size: 4097 }, { max_file_size: ['must be less than or equal to 4096'] }],
    ['runs over max', { source_code: 'x', language_id: 71, number_of_runs: 21 }, { number_of_runs: ['must be less than or equal to 20'] }],
    ['extra time over max', { source_code: 'x', language_id: 71, cpu_extra_time: 6 }, { cpu_extra_time: ['must be less than or equal to 5.0'] }],
    ['network refused (CVE-2024-29021)', { source_code: 'x', language_id: 71, enable_network: true }, { enable_network: ['enabling network is not allowed'] }],
    ['per-process time refused', { source_code: 'x', language_id: 71, enable_per_process_and_thread_time_limit: true }, { enable_per_process_and_thread_time_limit: ['this option cannot be enabled'] }],
    ['per-process memory refused', { source_code: 'x', language_id: 71, enable_per_process_and_thread_memory_limit: 'true' }, { enable_per_process_and_thread_memory_limit: ['this option cannot be enabled'] }],
    ['compiler options for an interpreted language', { source_code: 'x', language_id: 71, compiler_options: '-O2' }, { compiler_options: ['setting compiler options is only allowed for compiled languages'] }],
    ['unbalanced quote', { source_code: 'x', language_id: 71, command_line_arguments: '"a' }, { command_line_arguments: ['unterminated double quote at character 1'] }],
    ['args too long', { source_code: 'x', language_id: 71, command_line_arguments: 'a'.repeat(513) }, { command_line_arguments: ['is too long (maximum is 512 characters)'] }],
    ['bad callback', { source_code: 'x', language_id: 71, callback_url: 'file:///etc/passwd' }, { callback_url: ['must be an http or https URL of at most 2048 characters'] }],
    ['not a zip', { source_code: 'x', language_id: 71, additional_files: 'aGVsbG8=' }, { additional_files: ['invalid zip: not a zip archive: too short'] }],
    ['body not an object', [1, 2], { submission: ['must be a JSON object'] }],
  ];
  for (const [name, body, expected] of errors) {
    it(`422 field errors: ${name}`, () => {
      const p = parse(body);
      assert.equal(p.ok, false);
      if (!p.ok) assert.deepEqual(p.errors, expected);
    });
  }
  it('passes non-UTF-8 stdin (base64) on as base64 stdin, byte for byte', () => {
    const bytes = Buffer.from([0xff, 0x00, 0x80, 0x0a]);
    const p = parse({ source_code: 'eA==', language_id: 71, stdin: bytes.toString('base64') }, true);
    assert.equal(p.ok, true);
    if (p.ok) {
      assert.equal(p.request.stdinEncoding, 'base64');
      assert.deepEqual(Buffer.from(p.request.stdin!, 'base64'), bytes);
      assert.deepEqual(p.echo.stdin, bytes);
    }
  });
  it('keeps UTF-8 stdin as text (no stdinEncoding)', () => {
    const p = parse({ source_code: 'eA==', language_id: 71, stdin: Buffer.from('héllo').toString('base64') }, true);
    assert.equal(p.ok, true);
    if (p.ok) { assert.equal(p.request.stdin, 'héllo'); assert.equal(p.request.stdinEncoding, undefined); }
  });
  it('with an operator allowing the network, still refuses it, saying the sandbox has none', () => {
    const p = parseSubmission({ source_code: 'x', language_id: 71, enable_network: true }, false, DEFAULT_LANGUAGES, parseJudge0Options({ allowEnableNetwork: true }));
    assert.equal(p.ok, false);
    if (!p.ok) assert.match(p.errors.enable_network[0], /no network/);
  });
  it('caps Judge0 maxima at Corral\'s configured run maxima', () => {
    const limits = { cpuMs: 3000, wallMs: 8000, memoryMb: 100, processes: 50, outputBytes: 1000, diskMb: 64, stackMb: 8, fileSizeMb: 2, extraCpuMs: 500 };
    const capped = parseJudge0Options({}, { limits: { run: { defaults: limits, max: limits }, compile: { defaults: limits, max: limits } }, queueMaxDepth: 7, batchMax: 5, maxWaitMs: 1000, apiKeys: [], filesMax: 10 });
    assert.deepEqual(
      [capped.maxCpuTimeLimit, capped.cpuTimeLimit, capped.maxWallTimeLimit, capped.maxMemoryLimitKb, capped.memoryLimitKb, capped.maxStackLimitKb, capped.maxMaxProcessesAndOrThreads, capped.maxMaxFileSizeKb, capped.maxCpuExtraTime, capped.maxQueueSize, capped.maxSubmissionBatchSize, capped.maxOutputBytes, capped.maxExtractFiles],
      [3, 3, 8, 102400, 102400, 8192, 50, 2048, 0.5, 7, 5, 1000, 9],
    );
  });
});

describe('Corral field → Judge0 field (service validation errors)', () => {
  for (const [corral, judge0] of [['limits.cpuMs', 'cpu_time_limit'], ['limits.memoryMb', 'memory_limit'], ['files[3].path', 'additional_files'], ['language', 'language_id'], ['runs[2].limits.wallMs', 'submission'], [undefined, 'submission']] as const) {
    it(`${corral} → ${judge0}`, () => assert.equal(judge0FieldFor(corral), judge0));
  }
});

describe('serializeSubmission', () => {
  const ctx = (r: Partial<RunResult>) => ({ token: 't1', result: result(r), echo: null, languageName: () => null });
  it('returns text as is without base64, and Ruby-style base64 with it', () => {
    const c = ctx({ run: phase({ stdout: 'hello\n' }) });
    assert.equal(serializeSubmission(c, ['stdout'], false).stdout, 'hello\n');
    assert.equal(serializeSubmission(c, ['stdout'], true).stdout, 'aGVsbG8K\n');
  });
  it('refuses non-UTF-8 output without base64 (Judge0\'s conversion error) and encodes it with base64', () => {
    const c = ctx({ run: phase({ stdout: Buffer.from([0xc3, 0x28]).toString('base64'), encoding: 'base64' }) });
    assert.throws(() => serializeSubmission(c, ['stdout'], false), Utf8ConversionError);
    assert.equal(serializeSubmission(c, ['stdout'], true).stdout, 'wyg=\n');
  });
  it('gives null for empty output, like Judge0', () => {
    assert.equal(serializeSubmission(ctx({ run: phase({ stdout: '' }) }), ['stdout'], false).stdout, null);
  });
});

describe('GET /workers from heartbeats', () => {
  it('counts sandbox slots as Judge0 worker processes', () => {
    assert.deepEqual(judge0Workers([
      { slots: 4, active: 1, selfTest: { ok: true } }, { slots: 2, active: 0, selfTest: { ok: false } },
    ]), [{ queue: '1.13.1', total: 6, available: 4, idle: 3, working: 1, paused: 0, failed: 2 }]);
    assert.deepEqual(judge0Workers([]), [{ queue: '1.13.1', total: 0, available: 0, idle: 0, working: 0, paused: 0, failed: 0 }]);
  });
});
