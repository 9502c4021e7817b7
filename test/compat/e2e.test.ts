// End-to-end tests of the Judge0 and Piston APIs through the real stack: a private redis-server,
// the real QueueRunService, a worker host with the real sandbox and the built language images.
// Skipped, with the reason printed, when a piece is missing on this machine (no redis-server, no
// built images, a sandbox that fails its self-test).
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const IMAGES_DIR = process.env.CORRAL_IMAGES_DIR ?? '/var/lib/corral/images';
const NEEDED_IMAGES = ['busybox', 'base', 'python', 'gcc'];

interface Running {
  url: string;
  stop(): Promise<void>;
}

/** Why the real stack cannot run here, or null when it can. */
async function missingPiece(): Promise<string | null> {
  if (!existsSync('/usr/bin/redis-server')) return 'redis-server is not installed (/usr/bin/redis-server)';
  for (const image of NEEDED_IMAGES) {
    if (!existsSync(join(IMAGES_DIR, 'images', `${image}.json`))) return `image ${image} is not built in ${IMAGES_DIR} (corral images build ${image})`;
  }
  for (const f of ['../../services/core/context.ts', '../../worker/worker-host.ts', '../../worker/sandbox/index.ts', '../e2e/harness.ts']) {
    if (!existsSync(new URL(f, import.meta.url))) return `${f.replace('../../', '')} does not exist yet`;
  }
  try {
    const { sandboxLauncher } = await import('../../worker/launcher.ts');
    const { sandboxSelfTest } = await import('../../worker/self-test.ts');
    const { testHost } = await import('../helpers/sandbox.ts');
    await sandboxSelfTest(sandboxLauncher(testHost()), IMAGES_DIR);
  } catch (err) {
    return `the sandbox self-test fails here: ${(err as Error).message}`;
  }
  return null;
}

async function startRealStack(): Promise<Running> {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { randomUUID } = await import('node:crypto');
  const { startRedis } = await import('../e2e/harness.ts');
  const { loadConfig } = await import('../../services/core/config.ts');
  const { createCoreContext } = await import('../../services/core/context.ts');
  const { createLogger } = await import('../../services/core/logger.ts');
  const { createApp } = await import('../../services/api/app.ts');
  const { listen } = await import('../../services/api/server.ts');
  const { startWorkerHost } = await import('../../worker/worker-host.ts');
  const { sandboxLauncher } = await import('../../worker/launcher.ts');
  const { imagesRegistry } = await import('../../worker/language-registry.ts');
  const { mountCompat } = await import('../../services/api/compat/mount-compat.ts');

  const dir = await mkdtemp(join(tmpdir(), 'corral-compat-e2e-'));
  const redis = await startRedis(join(dir, 'redis'));
  const config = loadConfig({
    REDIS_URL: redis.url, CORRAL_PORT: '0', CORRAL_LOG_LEVEL: 'silent', CORRAL_KEY_PREFIX: `c${randomUUID().slice(0, 8)}`,
    CORRAL_IMAGES_DIR: IMAGES_DIR, CORRAL_WORKER_SLOTS: '2', CORRAL_HEARTBEAT_MS: '200',
  });
  const log = createLogger(config.logLevel, 'corral-compat-e2e');
  const core = await createCoreContext(config, redis.url, log);
  const app = createApp({ config, runService: core.runService, readiness: core.readiness, log });
  const judge0 = mountCompat(app, { runService: core.runService, config, log, workers: () => core.directory.fresh() });
  const server = await listen(app, '127.0.0.1', 0);
  const launcher = sandboxLauncher((await import('../helpers/sandbox.ts')).testHost());
  const worker = await startWorkerHost({
    config, redisUrl: redis.url, log, launcher, registry: await imagesRegistry(IMAGES_DIR), selfTest: async () => {},
    callbackFormats: (await import('../../bin/faces.ts')).FACE_CALLBACK_FORMATS,
  });
  return {
    url: server.url,
    async stop() {
      judge0.close();
      await server.close();
      await worker.close(true).catch(() => {});
      await core.close();
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const reason = await missingPiece();
if (reason) {
  console.log(`# compat e2e skipped: ${reason}`);
  it('Judge0 and Piston through the real stack', { skip: reason }, () => {});
}

describe('Judge0 and Piston through the real stack (redis, queue, worker, sandbox)', { skip: reason ?? false }, () => {
  let stack: Running;
  const j0 = async (path: string, body?: unknown) => {
    const res = await fetch(stack.url + path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: any = text;
    try { parsed = JSON.parse(text); } catch { /* text */ }
    return { status: res.status, body: parsed };
  };
  const waitResult = (body: Record<string, unknown>, fields = '*', base64 = false) =>
    j0(`/submissions?wait=true&fields=${fields}&base64_encoded=${base64}`, body);

  before(async () => {
    stack = await startRealStack();
    // Languages come from worker heartbeats: wait until the worker has reported (bounded).
    for (let i = 0; i < 400; i++) {
      const r = await j0('/languages');
      if (r.status === 200 && r.body.some((l: any) => l.id === 71)) return;
      await new Promise((res) => setTimeout(res, 25));
    }
    throw new Error('the worker never reported its languages');
  });
  after(async () => { await stack?.stop(); });

  it('Judge0: Python hello, wait=true → Accepted', async () => {
    const r = await waitResult({ source_code: 'print("hello, " + input())', language_id: 71, stdin: 'Judge0', expected_output: 'hello, Judge0' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(r.body.status, { id: 3, description: 'Accepted' });
    assert.equal(r.body.stdout, 'hello, Judge0\n');
    assert.match(r.body.time, /^\d+\.\d+$/);
    assert.ok(r.body.memory > 0);
  });
  it('Judge0: wrong answer', async () => {
    const r = await waitResult({ source_code: 'print(41)', language_id: 71, expected_output: '42' });
    assert.deepEqual(r.body.status, { id: 4, description: 'Wrong Answer' });
  });
  it('Judge0: C compile error', async () => {
    const r = await waitResult({ source_code: 'int main( {', language_id: 50 });
    assert.deepEqual(r.body.status, { id: 6, description: 'Compilation Error' });
    assert.match(r.body.compile_output, /error/);
  });
  it('Judge0: C segfault → SIGSEGV', async () => {
    const r = await waitResult({ source_code: 'int main(void){ volatile int *p = 0; *p = 1; return 0; }', language_id: 50 });
    assert.deepEqual([r.body.status.id, r.body.exit_signal], [7, 11], JSON.stringify(r.body));
  });
  it('Judge0: non-zero exit → NZEC with its exit code', async () => {
    const r = await waitResult({ source_code: 'import sys; sys.exit(3)', language_id: 71 });
    assert.deepEqual([r.body.status.id, r.body.exit_code], [11, 3], JSON.stringify(r.body));
  });
  it('Judge0: CPU time limit', async () => {
    const r = await waitResult({ source_code: 'while True: pass', language_id: 71, cpu_time_limit: 0.5, wall_time_limit: 5 });
    assert.equal(r.body.status.id, 5, JSON.stringify(r.body));
  });
  it('Judge0: memory limit, with Corral\'s reason in message', async () => {
    const r = await waitResult({ source_code: 'x = bytearray(400 * 1024 * 1024)\nprint(len(x))', language_id: 71, memory_limit: 64000 });
    assert.deepEqual([r.body.status.id, r.body.exit_signal], [12, 9], JSON.stringify(r.body));
    assert.match(r.body.message, /^Memory limit exceeded: peak \d+ KB, limit 64000 KB \(Corral memory_limit\)$/);
  });
  it('Judge0: output beyond max_file_size → SIGXFSZ', async () => {
    const r = await waitResult({ source_code: 'import sys\nsys.stdout.write("y" * 5000000)', language_id: 71, max_file_size: 1024 });
    assert.deepEqual([r.body.status.id, r.body.exit_signal], [8, 25], JSON.stringify({ ...r.body, stdout: r.body.stdout?.length }));
    assert.equal(r.body.stdout.length, 1024 * 1024);
  });
  it('Judge0: command_line_arguments reach the program literally', async () => {
    const r = await waitResult({ source_code: 'import sys; print(sys.argv[1:])', language_id: 71, command_line_arguments: `a 'b c' $(id)` });
    assert.equal(r.body.stdout, "['a', 'b c', '$(id)']\n");
  });
  it('Judge0: additional_files are unpacked next to the program', async () => {
    const { makeZip } = await import('./zip-writer.ts');
    const zip = makeZip([{ name: 'data/input.txt', data: 'from the zip\n' }]);
    const r = await waitResult({ source_code: 'print(open("data/input.txt").read(), end="")', language_id: 71, additional_files: zip.toString('base64') });
    assert.equal(r.body.stdout, 'from the zip\n', JSON.stringify(r.body));
  });
  it('Judge0: non-UTF-8 output needs base64_encoded=true', async () => {
    const body = { source_code: 'import sys; sys.stdout.buffer.write(b"\\xfe\\xff")', language_id: 71 };
    const plain = await waitResult(body, 'stdout');
    assert.equal(plain.status, 201);
    assert.match(plain.body.error, /cannot be converted to UTF-8/);
    const b64 = await j0(`/submissions/${plain.body.token}?base64_encoded=true&fields=stdout`);
    assert.equal(b64.body.stdout, '/v8=\n');
  });
  it('Judge0: non-UTF-8 stdin (base64) reaches the program byte for byte', async () => {
    const stdin = Buffer.from([0xff, 0x00, 0x80, 0x41]);
    const r = await waitResult({ source_code: Buffer.from('import sys; print(sys.stdin.buffer.read().hex())').toString('base64'), language_id: 71,
      stdin: stdin.toString('base64') }, 'stdout,stdin,status', true);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(Buffer.from(r.body.stdout, 'base64').toString(), 'ff008041\n');
    assert.deepEqual(Buffer.from(r.body.stdin, 'base64'), stdin);
    assert.equal(r.body.status.id, 3);
  });
  it('Judge0: callback_url gets Judge0\'s PUT from the worker\'s callback queue', async () => {
    const { createServer } = await import('node:http');
    const hits: Array<{ method: string; body: any }> = [];
    let got: () => void = () => {};
    const arrived = new Promise<void>((r) => { got = r; });
    const rx = createServer((req, res) => {
      let data = '';
      req.on('data', (d) => { data += d; });
      req.on('end', () => { hits.push({ method: req.method!, body: JSON.parse(data) }); res.end(); got(); });
    });
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(rx.address() as { port: number }).port}/cb`;
      const r = await j0('/submissions', { source_code: 'print("called back")', language_id: 71, callback_url: url });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      await arrived;
      assert.equal(hits.length, 1);
      assert.equal(hits[0]!.method, 'PUT');
      assert.equal(hits[0]!.body.token, r.body.token);
      assert.equal(Buffer.from(hits[0]!.body.stdout, 'base64').toString(), 'called back\n');
      assert.deepEqual(hits[0]!.body.status, { id: 3, description: 'Accepted' });
      assert.deepEqual(Object.keys(hits[0]!.body).sort(), ['compile_output', 'memory', 'message', 'status', 'stderr', 'stdout', 'time', 'token']);
    } finally {
      await new Promise<void>((r) => { rx.close(() => r()); rx.closeAllConnections(); });
    }
  });
  it('Piston: piston-client runs Python and C unchanged', async () => {
    const { piston } = await import('piston-client');
    const client = piston({ server: stack.url });
    const py = await client.execute('python', 'import sys; print(sys.argv[1:], input())', { stdin: 'in' });
    assert.equal(py.run.stdout, "['1', '2', '3'] in\n", JSON.stringify(py));
    const c = await client.execute({ language: 'c', version: '*', files: [{ name: 'x.c', content: '#include <stdio.h>\nint main(){puts("c ok");return 0;}' }], args: [] });
    assert.equal(c.run.stdout, 'c ok\n', JSON.stringify(c));
    assert.equal(c.compile.code, 0);
  });
  it('API v1 keeps its own routes, errors and shapes beside the compat APIs', async () => {
    const langs = await j0('/v1/languages');
    assert.equal(langs.status, 200, JSON.stringify(langs.body));
    const missing = await j0('/v1/runs/does-not-exist');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'run_not_found');
    const j = await j0('/submissions/does-not-exist');
    assert.deepEqual(j.body, { status: 404, error: 'Not Found' });
  });
  it('Judge0: /workers counts the worker\'s sandbox slots', async () => {
    const r = await j0('/workers');
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 1);
    assert.equal(r.body[0].queue, '1.13.1');
    assert.equal(r.body[0].total, 2, JSON.stringify(r.body));
  });
  it('Piston: time limit → TO', async () => {
    const res = await fetch(`${stack.url}/api/v2/execute`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'python', version: '*', files: [{ content: 'while True: pass' }], run_timeout: 1000, run_cpu_time: 500 }),
    });
    const body = await res.json();
    assert.equal(body.run.status, 'TO', JSON.stringify(body));
  });

  // Each Judge0 C/C++ id compiled by the compiler its name says, asked of the compiler itself.
  const WHO_COMPILED = '#include <stdio.h>\nint main(void) {\n#if defined(__clang__)\n  printf("clang %d\\n", __clang_major__);\n#elif defined(__GNUC__)\n  printf("gcc %d\\n", __GNUC__);\n#else\n  puts("unknown");\n#endif\n  return 0;\n}\n';
  for (const [id, compiler] of [[48, 'GCC'], [49, 'GCC'], [50, 'GCC'], [52, 'GCC'], [53, 'GCC'], [54, 'GCC'], [75, 'Clang'], [76, 'Clang']] as const) {
    it(`Judge0: id ${id} is compiled by ${compiler}, the compiler (and major version) its name says`, async (t) => {
      const listed = (await j0('/languages')).body.find((l: { id: number }) => l.id === id);
      if (!listed) {
        const why = `id ${id} is not listed here: no worker offers its Corral language (${compiler === 'Clang' ? (id === 75 ? 'clang-c' : 'clang-cpp') : id < 51 ? 'c' : 'cpp'}) with a built image`;
        console.log(`# ${why}`);
        t.skip(why);
        return;
      }
      const major = new RegExp(`\\(${compiler} (\\d+)`).exec(listed.name)?.[1];
      assert.ok(major, `the name tells the compiler and its version: ${listed.name}`);
      const r = await waitResult({ source_code: WHO_COMPILED, language_id: id });
      assert.equal(r.body.status?.id, 3, JSON.stringify(r.body));
      assert.equal(r.body.stdout, `${compiler.toLowerCase()} ${major}\n`, listed.name);
    });
  }
  it('Judge0: id 69 runs GNU Prolog, not SWI-Prolog', async (t) => {
    const listed = (await j0('/languages')).body.find((l: { id: number }) => l.id === 69);
    if (!listed) {
      console.log('# id 69 is not listed here: no worker offers gprolog with a built image');
      t.skip('id 69 is not listed here: no worker offers gprolog with a built image');
      return;
    }
    assert.match(listed.name, /^Prolog \(GNU Prolog /);
    const r = await waitResult({ source_code: ':- initialization(main).\nmain :- current_prolog_flag(prolog_name, N), write(N), nl, halt.\n', language_id: 69 });
    assert.equal(r.body.stdout, 'GNU Prolog\n', JSON.stringify(r.body));
  });
  it('Judge0: the zeros Judge0 accepts run (no CPU, extra-time, stack or file-size limit, as isolate reads 0)', async () => {
    const r = await waitResult({ source_code: 'import sys\nsys.stdout.write("z" * 3000000)', language_id: 71, cpu_time_limit: 0, cpu_extra_time: 0, stack_limit: 0, max_file_size: 0 }, 'status,stdout,cpu_time_limit,stack_limit,max_file_size');
    assert.deepEqual(r.body.status, { id: 3, description: 'Accepted' }, JSON.stringify({ ...r.body, stdout: r.body.stdout?.length }));
    assert.equal(r.body.stdout.length, 3000000, 'more than the 4096 KB max_file_size could allow: 0 is no limit');
    assert.deepEqual([r.body.cpu_time_limit, r.body.stack_limit, r.body.max_file_size], ['0.0', 0, 0]);
  });
  it('Judge0: stack_limit 0 is an unlimited stack (within memory_limit); 8000 KB is not', async () => {
    // ~40 MB of stack frames: over 8000 KB, well under the 128000 KB memory limit.
    const deep = '#include <stdio.h>\nint f(int n) { volatile char pad[1024]; pad[0] = (char)n; return n ? f(n - 1) + pad[0] % 2 : 0; }\nint main(void) { printf("%d\\n", f(40000)); return 0; }\n';
    const unlimited = await waitResult({ source_code: deep, language_id: 50, stack_limit: 0 });
    assert.equal(unlimited.body.status?.id, 3, JSON.stringify(unlimited.body));
    const small = await waitResult({ source_code: deep, language_id: 50, stack_limit: 8000 });
    assert.equal(small.body.status?.id, 7, JSON.stringify(small.body));
  });
});
