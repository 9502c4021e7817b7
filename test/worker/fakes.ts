// A fake Launcher for unit-testing the pipeline's logic (and the API layer) without the sandbox.
// The "program" is JSON in the submitted file: what to print, how to exit, how long to take.
// Integration and e2e tests use the real sandbox instead (test/e2e/).
import { mkdtemp, mkdir, readFile, rm, writeFile, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { JobVolume, Launcher } from '../../worker/launcher.ts';
import { loadConfig } from '../../services/core/config.ts';
import type { JobRequest } from '../../services/core/schemas.ts';
import type { LanguageRegistry } from '../../worker/language-registry.ts';
import { SandboxError, type SandboxOutcome, type SandboxSpec } from '../../worker/sandbox/index.ts';

export interface FakeProgram {
  stdout?: string;
  /** Print stdin back. */
  echo?: boolean;
  exitCode?: number;
  status?: SandboxOutcome['status'];
  signal?: string;
  sleepMs?: number;
  /** Fail to "compile" (fake-compiled language). */
  compileError?: string;
  /** Write these files into /box. */
  writes?: Record<string, string>;
  /** Per-test programs keyed by stdin. */
  byStdin?: Record<string, FakeProgram>;
  /** A testlib-style judge: reads "<exit code> <message>" from /box/output.txt (a checker) or its
   * stdin (an interactor), prints the message to stderr and exits with the code. */
  obedient?: boolean;
  /** Which limit stopped it (with status time_limit etc.), and its times. */
  limit?: SandboxOutcome['limit'];
  cpuMs?: number;
  wallMs?: number;
}

export async function fakeVolume(): Promise<JobVolume> {
  const dir = await mkdtemp(join(tmpdir(), 'corral-fakevol-'));
  return {
    dir,
    workDir: `${dir}.work`,
    async writeFile(rel, data) {
      await mkdir(dirname(join(dir, rel)), { recursive: true });
      await writeFile(join(dir, rel), data);
    },
    async collect(patterns, caps) {
      const out = [];
      for (const p of patterns) {
        const names = p.includes('*') ? (await readdir(dir)).filter((n) => new RegExp(`^${p.replace(/\./g, '\\.').replace(/\*/g, '.*')}$`).test(n)) : [p];
        for (const n of names) {
          try {
            const s = await stat(join(dir, n));
            if (!s.isFile()) continue;
            const content = await readFile(join(dir, n));
            out.push({ path: n, size: s.size, content: content.subarray(0, caps.maxFileBytes), truncated: content.length > caps.maxFileBytes });
          } catch { /* absent */ }
        }
      }
      return out;
    },
    async destroy() { await rm(dir, { recursive: true, force: true }); },
  };
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<boolean>((resolve) => {
  if (signal?.aborted) return resolve(true);
  const t = setTimeout(() => resolve(false), ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(true); }, { once: true });
});

export interface FakeLauncher extends Launcher {
  specs: SandboxSpec[];
  volumes: number;
  destroyed: number;
  /** Pairs of programs run by connect (solution, interactor). */
  connected: Array<[SandboxSpec, SandboxSpec]>;
  /** The files in /box (its upper dir) of each judge (obedient) run, name → content. */
  judgeFiles: Array<Record<string, string>>;
}

export function fakeLauncher(): FakeLauncher {
  const self: FakeLauncher = {
    specs: [], volumes: 0, destroyed: 0, connected: [], judgeFiles: [],
    async createVolume() {
      self.volumes++;
      const v = await fakeVolume();
      const destroy = v.destroy;
      return { ...v, destroy: async () => { self.destroyed++; await destroy(); } };
    },
    async run(spec, signal) {
      self.specs.push(spec);
      const dirs = [spec.box!.dir, ...(spec.box!.lowerDirs ?? [])];
      let src = '{}';
      for (const d of dirs) { try { src = await readFile(join(d, 'main.json'), 'utf8'); break; } catch { /* next */ } }
      let prog = JSON.parse(src) as FakeProgram;
      const stdin = spec.stdin === undefined ? '' : String(spec.stdin);
      if (prog.byStdin?.[stdin]) prog = { ...prog, ...prog.byStdin[stdin] };
      const base = { limit: undefined, cpuMs: 1, wallMs: 1, memoryKb: 100, stdoutTruncated: false, stderrTruncated: false, stderr: Buffer.alloc(0),
        timings: { cgroupMs: 0, namespacesMs: 0, mountsMs: 0, execMs: 0, teardownMs: 0, totalMs: 0 } };
      if (spec.argv[0] === 'fakecc') {
        if (prog.compileError) return { ...base, status: 'runtime_error', exitCode: 1, signal: null, stdout: Buffer.alloc(0), stderr: Buffer.from(prog.compileError) };
        await writeFile(join(spec.box!.dir, 'a.out'), 'compiled');
        return { ...base, status: 'ok', exitCode: 0, signal: null, stdout: Buffer.alloc(0) };
      }
      if (prog.sleepMs && await sleep(prog.sleepMs, signal)) {
        return { ...base, status: 'cancelled', exitCode: null, signal: 'SIGKILL', stdout: Buffer.alloc(0) };
      }
      const files: Record<string, string> = {};
      if (prog.obedient) for (const n of await readdir(spec.box!.dir)) files[n] = await readFile(join(spec.box!.dir, n), 'utf8');
      for (const [p, c] of Object.entries(prog.writes ?? {})) await writeFile(join(spec.box!.dir, p), c);
      const times = { ...(prog.cpuMs !== undefined ? { cpuMs: prog.cpuMs } : {}), ...(prog.wallMs !== undefined ? { wallMs: prog.wallMs } : {}), ...(prog.limit ? { limit: prog.limit } : {}) };
      if (prog.obedient && !prog.status && !prog.signal) {
        self.judgeFiles.push(files);
        const said = files['output.txt'] ?? stdin;
        const [code, ...msg] = said.trim().split(' ');
        const exitCode = Number(code);
        return { ...base, ...times, status: exitCode === 0 ? 'ok' : 'runtime_error', exitCode, signal: null, stdout: Buffer.from(prog.stdout ?? ''), stderr: Buffer.from(msg.join(' ')) };
      }
      const status = prog.status ?? (prog.signal || (prog.exitCode ?? 0) !== 0 ? 'runtime_error' : 'ok');
      return { ...base, ...times, status, exitCode: prog.signal ? null : prog.exitCode ?? 0, signal: prog.signal ?? null,
        stdout: Buffer.from(prog.echo ? stdin : prog.stdout ?? '') };
    },
    stream() {
      throw new Error('the fake launcher does not stream');
    },
    // The first program runs, then the second with the first's stdout as its stdin (enough for
    // the pipeline's logic: each side's outcome is what its FakeProgram says).
    async connect(first, second, signal) {
      self.connected.push([first, second]);
      const a = await self.run({ ...first, stdin: '' }, signal);
      const b = await self.run({ ...second, stdin: a.stdout }, signal);
      // Both "start" at 0 here: each ends at its own wall time.
      return { first: { ...a, stdout: Buffer.alloc(0) }, second: { ...b, stdout: Buffer.alloc(0) }, endedMs: { first: a.wallMs, second: b.wallMs } };
    },
  };
  return self;
}

/** Languages `fake` (interpreted) and `fakec` (compiled by `fakecc`), both reading main.json; `broken` always fails
 * the way a retry could help (a host resource), `hopeless` the way it could not (an invalid spec). */
export function fakeRegistry(): LanguageRegistry {
  const info = (id: string, compiled: boolean) => ({ id, name: id, version: '1', compiled, fileName: 'main.json', available: true });
  return {
    async list() { return [info('broken', false), info('fake', false), info('fakec', true), info('hopeless', false)]; },
    async resolve(id, values) {
      if (id === 'broken') throw new SandboxError('host', 'fake sandbox failure: volume setup failed', { step: 'volume-create', errno: 12 });
      if (id === 'hopeless') throw new SandboxError('spec', 'fake sandbox failure: the spec is invalid', { step: 'validate' });
      if (id !== 'fake' && id !== 'fakec') throw new Error(`language ${id}: no such language`);
      return {
        id, fileName: 'main.json', layers: ['/nonexistent-layer'], env: { PATH: '/bin' },
        ...(id === 'fakec' ? { compile: ['fakecc', 'main.json', ...values.flags] } : {}),
        run: ['fakerun', 'main.json', ...values.args],
      };
    },
  };
}

/** A job for the fake languages, with the configured default limits; `over` changes any field. */
export function fakeJob(program: FakeProgram, over: Partial<JobRequest> = {}): JobRequest {
  const limits = loadConfig({}).limits;
  return {
    language: 'fake', source: JSON.stringify(program), files: [], args: [], env: {},
    limits: { ...limits.run.defaults }, compileLimits: { ...limits.compile.defaults },
    compilerArgs: [], stopOnFirstFailure: true, compare: 'trailing-whitespace', collect: [],
    redirectStderrToStdout: false, repeat: 1, parallelTests: false, callbackMethod: 'POST', callbackFormat: 'corral', stdinEncoding: 'utf8', ...over,
  };
}
