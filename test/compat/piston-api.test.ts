// Contract tests of the Piston translation layer over HTTP, with the in-memory RunService test
// double (see fake-run-service.ts), and the real `piston-client` npm package, unchanged, against
// /api/v2. The real stack is exercised in e2e.test.ts.
import { strict as assert } from 'node:assert';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { piston } from 'piston-client';
import type { ParsedRunRequest } from '../../services/core/schemas.ts';
import { startCompatServer, type CompatServer } from './compat-server.ts';
import { FakeRunService, phase, type Outcome } from './fake-run-service.ts';
import { REENCODE_GATE_MIN_BYTES, REENCODES_AT_ONCE, reencodes } from '../../services/api/compat/common/reencode-gate.ts';

/** A scripted "interpreter": prints the args as JSON for `argv` programs, echoes stdin otherwise. */
function program(req: ParsedRunRequest): Outcome {
  const main = (req.files ?? []).find((f) => f.encoding === 'utf8' && /^main\./.test(f.path));
  const stdout = main?.content.includes('argv') ? `${JSON.stringify(req.args)}\n` : main?.content.includes('hello') ? 'hello\n' : req.stdin ?? '';
  return { verdict: 'accepted', compile: req.language === 'c' ? phase() : undefined, run: phase({ stdout, cpuMs: 5, wallMs: 9, memoryKb: 100 }) };
}

describe('Piston v2 API (contract tests of the translation layer, in-memory RunService)', () => {
  let fake: FakeRunService;
  let server: CompatServer;
  const post = (path: string, body: unknown, type = 'application/json') =>
    fetch(server.url + path, { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  beforeEach(async () => {
    fake = new FakeRunService();
    fake.execute = program;
    server = await startCompatServer(fake);
  });
  afterEach(async () => { await server.close(); });

  it('GET /api/v2/runtimes (documented shape)', async () => {
    const res = await fetch(`${server.url}/api/v2/runtimes`);
    const body = await res.json();
    assert.equal(res.status, 200);
    assert.deepEqual(body.find((r: any) => r.language === 'bash'), { language: 'bash', version: '5.2.15', aliases: ['sh'] });
    assert.deepEqual(body.find((r: any) => r.language === 'javascript'), { language: 'javascript', version: '18.19.0', aliases: ['node-javascript', 'node-js', 'javascript', 'js'], runtime: 'node' });
  });

  it('POST /api/v2/execute: the documented example', async () => {
    const res = await post('/api/v2/execute', {
      language: 'js', version: '18.19.0', files: [{ name: 'my_cool_code.js', content: 'console.log(process.argv)' }], stdin: '',
      args: ['1', '2', '3'], compile_timeout: 10000, run_timeout: 3000, compile_memory_limit: -1, run_memory_limit: -1,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      language: 'javascript', version: '18.19.0',
      run: { stdout: '["1","2","3"]\n', stderr: '', output: '["1","2","3"]\n', code: 0, signal: null, message: null, status: null, cpu_time: 5, wall_time: 9, memory: 102400 },
    });
  });

  it('answers a big result in its turn: at most REENCODES_AT_ONCE re-encodes at once per process', async () => {
    const stdout = 'x'.repeat(REENCODE_GATE_MIN_BYTES * 2);
    fake.execute = () => ({ verdict: 'accepted', run: phase({ stdout }) });
    const releases: Array<() => void> = [];
    const holders = Array.from({ length: REENCODES_AT_ONCE }, () => reencodes.run(Infinity, () => new Promise<void>((r) => releases.push(r))));
    let answered = false;
    const answer = post('/api/v2/execute', { language: 'py', version: '*', files: [{ content: 'x' }] }).then((r) => { answered = true; return r; });
    try {
      // The request reaches the gate and waits there (the gate is full).
      for (let i = 0; i < 400 && reencodes.waitingCount === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(reencodes.waitingCount, 1, 'the big result did not wait for its turn');
      assert.equal(answered, false);
    } finally {
      for (const release of releases) release();
      await Promise.all(holders);
    }
    const body = await (await answer).json();
    assert.equal(body.run.stdout.length, stdout.length);
  });

  it('a compiled language reports its compile stage', async () => {
    const body = await (await post('/api/v2/execute', { language: 'gcc', version: '12', files: [{ content: 'hello' }] })).json();
    assert.equal(body.language, 'c');
    assert.equal(body.compile.code, 0);
    assert.equal(body.run.stdout, 'hello\n');
    assert.deepEqual(fake.submitted[0].compileLimits, { wallMs: 10000, cpuMs: 10000 });
  });

  it('400 {message} for bad requests; nothing queued', async () => {
    for (const [body, msg] of [
      [{ version: '*', files: [] }, 'language is required as a string'],
      [{ language: 'html', version: '5.0.0', files: [{ content: 'x' }] }, 'html-5.0.0 runtime is unknown'],
      [{ language: 'py', version: '*', files: [{ content: 'x' }], run_timeout: 1e9 }, 'run_timeout cannot exceed the configured limit of 60000'],
    ] as const) {
      const res = await post('/api/v2/execute', body);
      assert.deepEqual([res.status, await res.json()], [400, { message: msg }]);
    }
    assert.equal(fake.submitted.length, 0);
  });

  it('415 for a body that is not JSON by type, 400 for invalid JSON', async () => {
    const form = await post('/api/v2/execute', 'language=py', 'application/x-www-form-urlencoded');
    assert.deepEqual([form.status, await form.json()], [415, { message: 'requests must be of type application/json' }]);
    const broken = await post('/api/v2/execute', '{"language":');
    assert.equal(broken.status, 400);
    assert.match((await broken.json()).message, /not valid JSON/);
  });

  it('503 when the queue is full', async () => {
    fake.queueMaxDepth = 0;
    const res = await post('/api/v2/execute', { language: 'py', version: '*', files: [{ content: 'x' }] });
    assert.deepEqual([res.status, await res.json()], [503, { message: 'queue is full; retry later' }]);
  });

  it('503, not a hang, when the run does not finish within the maximum wait', async () => {
    await server.close();
    server = await startCompatServer(fake, { piston: { maxWaitMs: 50 } });
    fake.hold = true;
    const res = await post('/api/v2/execute', { language: 'py', version: '*', files: [{ content: 'x' }] });
    assert.equal(res.status, 503);
    assert.match((await res.json()).message, /did not finish within 50 ms \(still queued\)/);
  });

  it('GET /api/v2/packages lists Corral images with their installed state', async () => {
    const body = await (await fetch(`${server.url}/api/v2/packages`)).json();
    assert.deepEqual(body.find((p: any) => p.language === 'rust'), { language: 'rust', language_version: '1.63.0', installed: false });
    assert.deepEqual(body.find((p: any) => p.language === 'python'), { language: 'python', language_version: '3.11.2', installed: true });
  });

  it('POST/DELETE /api/v2/packages: built images answer as installed, others are the operator\'s job', async () => {
    const installed = await post('/api/v2/packages', { language: 'bash', version: '5.x' });
    assert.deepEqual([installed.status, await installed.json()], [200, { language: 'bash', version: '5.2.15' }]);
    const unbuilt = await post('/api/v2/packages', { language: 'rust', version: '*' });
    assert.equal(unbuilt.status, 405);
    const unknown = await post('/api/v2/packages', { language: 'whitespace', version: '*' });
    assert.deepEqual([unknown.status, await unknown.json()], [404, { message: 'Requested package whitespace-* does not exist' }]);
    const del = await fetch(`${server.url}/api/v2/packages`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'bash', version: '5.x' }) });
    assert.equal(del.status, 405);
  });

  it('/api/v2/connect says it is not offered', async () => {
    const res = await fetch(`${server.url}/api/v2/connect`);
    assert.equal(res.status, 404);
    assert.match((await res.json()).message, /WebSocket .* not offered yet/);
  });

  it('bad input never gives a 5xx', async () => {
    const bodies = ['null', '[]', '"x"', '{"language":{},"version":[],"files":{}}', JSON.stringify({ language: 'py', version: '*', files: [{ content: 'x' }, { content: 'y', name: 'a\u0000b' }] }),
      JSON.stringify({ language: 'py', version: '*', files: Array.from({ length: 101 }, (_, i) => ({ name: `f${i}`, content: 'x' })) }),
      JSON.stringify({ language: 'py', version: '>=', files: [{ content: 'x' }], run_memory_limit: 'lots' })];
    for (const b of bodies) {
      const res = await post('/api/v2/execute', b);
      const text = await res.text();
      assert.ok(res.status >= 400 && res.status < 500, `${b.slice(0, 60)}: ${res.status} ${text}`);
    }
    assert.equal((await fetch(`${server.url}/api/v2/runtimes`)).status, 200);
  });

  describe('the piston-client npm package, unchanged', () => {
    it('lists runtimes', async () => {
      const client = piston({ server: server.url });
      const runtimes = await client.runtimes();
      assert.ok(Array.isArray(runtimes), JSON.stringify(runtimes));
      assert.ok(runtimes.some((r: any) => r.language === 'python' && r.version === '3.11.2'));
    });
    it('executes code with its defaults (latest version, args 1 2 3, memory -1)', async () => {
      const client = piston({ server: server.url });
      const result = await client.execute('python', 'import sys; print(sys.argv)');
      assert.equal(result.run.stdout, '["1","2","3"]\n');
      assert.equal(result.language, 'python');
      assert.equal(result.version, '3.11.2');
      assert.equal(fake.submitted[0].language, 'python');
    });
    it('executes with a config object (files, stdin, version)', async () => {
      const client = piston({ server: server.url });
      const result = await client.execute({ language: 'javascript', version: '18.19.0', files: [{ name: 'a.js', content: 'echo' }], stdin: 'from stdin', args: [] });
      assert.equal(result.run.stdout, 'from stdin\n');
      assert.equal(result.run.code, 0);
    });
    it('gets Piston\'s message for an unknown language', async () => {
      const client = piston({ server: server.url });
      const result = await client.execute({ language: 'python', version: '9.9.9', files: [{ content: 'x' }] });
      assert.deepEqual(result, { message: 'python-9.9.9 runtime is unknown' });
    });
  });

  describe('the new languages under Piston\'s names and aliases (piston-client, unchanged)', () => {
    const lang = (id: string, version: string, fileName: string, compiled = false, name = id) => ({ id, name, version, compiled, fileName, available: true });
    beforeEach(() => {
      fake.languagesList = [
        ...fake.languagesList,
        lang('typescript', 'Version 4.9.5', 'main.ts', true), lang('deno', 'deno 2.1.4 (stable, release, x86_64-unknown-linux-gnu)', 'main.ts'),
        lang('bun', '1.1.38', 'main.ts', false, 'JavaScript (Bun)'), lang('clang-c', 'Debian clang version 14.0.6', 'main.c', true), lang('gprolog', 'GNU Prolog 1.4.5', 'main.pl', true),
        lang('prolog', '9.0.4', 'main.pl'), lang('nasm', 'NASM version 2.16.01', 'main.asm', true), lang('octave', '7.3.0', 'main.m'),
        lang('basic', '2.90.3', 'main.bas', false, 'BASIC (yabasic)'), lang('crystal', 'Crystal 1.6.2', 'main.cr', true),
        lang('groovy', '2.4.21', 'main.groovy'), lang('coffeescript', '2.7.0', 'main.coffee'), lang('raku', 'Rakudo v2022.12', 'main.raku'),
        lang('awk', 'GNU Awk 5.2.1, API 3.2', 'main.awk'), lang('elisp', 'GNU Emacs 28.2', 'main.el'), lang('brainfuck', '1.0.0', 'main.bf'),
        lang('haxe', '4.2.5', 'main.hx', true), lang('vala', '0.56.3', 'main.vala', true), lang('clang-cpp', '14.0.6', 'main.cpp', true),
      ];
    });
    const aliases: Array<[string, string, string]> = [
      // [what a Piston client sends, the Corral language it must run, the Piston language answered]
      ['deno', 'deno', 'typescript'], ['deno-ts', 'deno', 'typescript'], ['deno-js', 'deno', 'javascript'],
      ['bun', 'bun', 'typescript'], ['bun-ts', 'bun', 'typescript'], ['bun-js', 'bun', 'javascript'],
      ['typescript', 'typescript', 'typescript'], ['ts', 'typescript', 'typescript'], ['javascript', 'javascript', 'javascript'],
      ['crystal', 'crystal', 'crystal'], ['cr', 'crystal', 'crystal'], ['groovy', 'groovy', 'groovy'], ['gvy', 'groovy', 'groovy'],
      ['coffeescript', 'coffeescript', 'coffeescript'], ['coffee', 'coffeescript', 'coffeescript'], ['raku', 'raku', 'raku'],
      ['perl6', 'raku', 'raku'], ['rakudo', 'raku', 'raku'], ['awk', 'awk', 'awk'], ['gawk', 'awk', 'awk'], ['emacs', 'elisp', 'emacs'],
      ['elisp', 'elisp', 'emacs'], ['el', 'elisp', 'emacs'], ['brainfuck', 'brainfuck', 'brainfuck'], ['bf', 'brainfuck', 'brainfuck'],
      ['octave', 'octave', 'octave'], ['matlab', 'octave', 'octave'], ['nasm', 'nasm', 'nasm64'], ['asm', 'nasm', 'nasm64'], ['nasm64', 'nasm', 'nasm64'],
      ['prolog', 'prolog', 'prolog'], ['gprolog', 'gprolog', 'gprolog'], ['c', 'c', 'c'], ['gcc', 'c', 'c'], ['clang', 'clang-c', 'clang'],
      ['c++', 'cpp', 'c++'], ['clang++', 'clang-cpp', 'clang++'], ['yabasic', 'basic', 'yabasic'], ['haxe', 'haxe', 'haxe'], ['vala', 'vala', 'vala'],
    ];
    for (const [sent, corral, answered] of aliases) {
      it(`"${sent}" runs Corral's ${corral}`, async () => {
        const result = await piston({ server: server.url }).execute({ language: sent, version: '*', files: [{ content: 'hello' }], args: [] });
        assert.equal(result.run?.stdout, 'hello\n', JSON.stringify(result));
        assert.equal(result.language, answered);
        assert.equal(fake.submitted.at(-1)!.language, corral);
      });
    }
    it('lists them in /runtimes with Piston\'s runtime names; `basic` stays nobody\'s (Piston: Visual Basic / FreeBASIC), BASIC is named after its interpreter', async () => {
      const runtimes = await piston({ server: server.url }).runtimes();
      const of = (language: string, runtime?: string) => runtimes.find((r: any) => r.language === language && r.runtime === runtime);
      assert.deepEqual(of('typescript', 'deno'), { language: 'typescript', version: '2.1.4', aliases: ['deno', 'deno-ts'], runtime: 'deno' });
      assert.deepEqual(of('typescript', 'bun'), { language: 'typescript', version: '1.1.38', aliases: ['bun', 'bun-ts'], runtime: 'bun' });
      assert.deepEqual(of('javascript', 'bun'), { language: 'javascript', version: '1.1.38', aliases: ['bun-js'], runtime: 'bun' });
      assert.deepEqual(of('javascript', 'deno'), { language: 'javascript', version: '2.1.4', aliases: ['deno-js'], runtime: 'deno' });
      assert.deepEqual(of('awk', 'gawk'), { language: 'awk', version: '5.2.1', aliases: ['gawk'], runtime: 'gawk' });
      assert.ok(!runtimes.some((r: any) => r.language === 'basic' || r.aliases.includes('basic')));
      assert.ok(runtimes.some((r: any) => r.language === 'yabasic'));
      const result = await piston({ server: server.url }).execute({ language: 'basic', version: '*', files: [{ content: 'x' }] });
      assert.deepEqual(result, { message: 'basic-* runtime is unknown' });
    });
    it('the highest version wins among a name\'s runtimes, as in Piston: typescript@* stays tsc 4.9.5 over deno 2.1.4 and bun 1.1.38', async () => {
      const result = await piston({ server: server.url }).execute({ language: 'typescript', version: '*', files: [{ content: 'hello' }] });
      assert.equal(result.version, '4.9.5');
      assert.equal(fake.submitted.at(-1)!.language, 'typescript');
    });
  });
});
