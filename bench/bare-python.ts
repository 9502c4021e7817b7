// The baseline of the "python `pass` within 5 ms of the bare interpreter start-up": the
// python image's own interpreter, started with no isolation at all and measured in the same run.
//
// What runs: the image's python3 binary, loaded by the image's own dynamic loader
// (`<layer>/…/ld-linux-*.so --library-path <the image's lib dirs> <layer>/usr/bin/python3.11`),
// with PYTHONHOME at the image's /usr (so the image's standard library and site-packages), the
// language's environment and argv (`python3 -B main.py`, main.py = `pass`). It is spawned by
// glibc's posix_spawn (a CLONE_VM|CLONE_VFORK spawn, like the sandbox launcher's and
// corral_bare_spawn's) through koffi on a libuv thread and waited for with waitpid: the same kind
// of spawn as the sandbox's, minus every namespace, mount, cgroup and the queue. No chroot: paths
// glibc opens by absolute name (locale files, /etc/nsswitch.conf, /etc/localtime) are the
// host's — the same Debian release, and a handful of small reads either way. Before measuring,
// `ld.so --list` proves every shared library comes from the image's layers (else: an error).
//
// `npm run loadtest` runs it in a process of its own (loadtest/bench-child.ts):
//   tsx bench/bare-python.ts [--runs N] [--json]
import { execFile } from 'node:child_process';
import { lstat, mkdtemp, readdir, readlink, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import koffi from 'koffi';
import { loadConfig } from '../services/core/config.ts';
import { DEFAULT_PATH } from '../worker/sandbox/index.ts';
import { imagesRegistry } from '../worker/language-registry.ts';
import type { BareResult, Report } from '../loadtest/report.ts';
import { percentiles } from '../loadtest/stats.ts';
import { workloadName, WORKLOADS } from '../loadtest/workloads.ts';

export type { BareResult };

const MULTIARCH: Record<string, { triplet: string; loader: string }> = {
  x64: { triplet: 'x86_64-linux-gnu', loader: '/lib64/ld-linux-x86-64.so.2' },
  arm64: { triplet: 'aarch64-linux-gnu', loader: '/lib/ld-linux-aarch64.so.1' },
};

/**
 * Where `path` (absolute, inside the image) is on the host, resolving symlinks as the container
 * would see them: against the image's root (the layers merged, the top one wins), never the
 * host's. Whiteouts are not interpreted (a bench helper, not the overlay). Undefined if absent.
 */
export async function resolveInLayers(layersBottomFirst: readonly string[], path: string): Promise<string | undefined> {
  const top = [...layersBottomFirst].reverse();
  let pending = path.split('/').filter(Boolean);
  let resolved: string[] = [];
  for (let hops = 0; pending.length; ) {
    const name = pending.shift()!;
    if (name === '.') continue;
    if (name === '..') { resolved.pop(); continue; }
    const rel = [...resolved, name].join('/');
    let found: { layer: string; isLink: boolean } | undefined;
    for (const layer of top) {
      const st = await lstat(join(layer, rel)).catch(() => undefined);
      if (st) { found = { layer, isLink: st.isSymbolicLink() }; break; }
    }
    if (!found) return undefined;
    if (!found.isLink) { resolved.push(name); continue; }
    if (++hops > 40) throw new Error(`${path}: too many symlinks in the image`);
    const target = await readlink(join(found.layer, rel));
    if (isAbsolute(target)) resolved = [];
    pending = [...posix.normalize(target).split('/').filter(Boolean), ...pending];
  }
  const rel = resolved.join('/');
  for (const layer of top) if (await lstat(join(layer, rel)).catch(() => undefined)) return join(layer, rel);
  return undefined;
}

export interface BareCommand {
  /** The host path of the image's dynamic loader (what is executed). */
  file: string;
  argv: string[];
  env: Record<string, string>;
  /** The interpreter's host path inside its layer. */
  interpreter: string;
  /** For the report: what this baseline is. */
  describe: string;
}

/**
 * The bare command for `argv` (e.g. `['python3', '-B', '/tmp/x/main.py']`) over the image's
 * layers, or an error saying why it cannot be built honestly.
 */
export async function bareCommandFor(layersBottomFirst: readonly string[], argv: readonly string[], env: Record<string, string>): Promise<BareCommand> {
  const arch = MULTIARCH[process.arch];
  if (!arch) throw new Error(`bare baseline: no loader known for ${process.arch}`);
  const program = argv[0]!;
  let interpreter: string | undefined;
  for (const dir of (env.PATH ?? DEFAULT_PATH).split(':').filter((d) => d.startsWith('/'))) {
    interpreter = await resolveInLayers(layersBottomFirst, `${dir}/${program}`);
    if (interpreter) break;
  }
  if (!interpreter) throw new Error(`bare baseline: ${program} is not in the image`);
  const loader = await resolveInLayers(layersBottomFirst, arch.loader);
  if (!loader) throw new Error(`bare baseline: the image has no ${arch.loader}`);
  const layer = layersBottomFirst.find((l) => interpreter!.startsWith(`${l}/`))!;
  const stdlib = (await readdir(join(layer, 'usr/lib')).catch(() => [] as string[])).find((d) => /^python3\.\d+$/.test(d));
  if (!stdlib || !(await stat(join(layer, 'usr/lib', stdlib, 'os.py')).catch(() => undefined))) {
    throw new Error(`bare baseline: no standard library beside ${interpreter}`);
  }
  const libDirs: string[] = [];
  for (const l of [...layersBottomFirst].reverse()) {
    for (const d of [`usr/lib/${arch.triplet}`, 'usr/lib', `lib/${arch.triplet}`, 'lib']) {
      const real = await realpath(join(l, d)).catch(() => undefined);
      if (real && real.startsWith(`${l}/`) && !libDirs.includes(real)) libDirs.push(real);
    }
  }
  const libraryPath = libDirs.join(':');
  // Every library the interpreter needs must come from the image, not the host's ld.so.cache.
  const { stdout } = await promisify(execFile)(loader, ['--library-path', libraryPath, '--list', interpreter], { env: {} });
  for (const [, lib, where] of stdout.matchAll(/^\s*(\S+) => (\S+)/gm)) {
    if (!layersBottomFirst.some((l) => where!.startsWith(`${l}/`))) throw new Error(`bare baseline: ${lib} would come from ${where}, not from the image`);
  }
  return {
    file: loader,
    argv: [loader, '--library-path', libraryPath, interpreter, ...argv.slice(1)],
    env: { ...env, PYTHONHOME: join(layer, 'usr') },
    interpreter,
    describe: `the image's ${program} (${interpreter}) through the image's loader, PYTHONHOME=${join(layer, 'usr')}, no namespaces/mounts/cgroup; `
      + 'posix_spawn (CLONE_VM|CLONE_VFORK) + waitpid from this process; sequential runs',
  };
}

type Spawn = (file: string, argv: string[], env: string[]) => Promise<number>;
let spawner: Spawn | undefined;

/** glibc's posix_spawn + waitpid, each on a libuv thread; resolves with the wait status. */
function posixSpawner(): Spawn {
  if (spawner) return spawner;
  const libc = koffi.load('libc.so.6');
  const spawn = libc.func('int posix_spawn(_Out_ int *pid, const char *path, void *file_actions, void *attrp, const char **argv, const char **envp)');
  const waitpid = libc.func('int waitpid(int pid, _Out_ int *status, int options)');
  spawner = (file, argv, env) => new Promise((resolve, reject) => {
    const pid = [0];
    spawn.async(pid, file, null, null, [...argv, null], [...env, null], (err: unknown, rc: number) => {
      if (err) return reject(err);
      if (rc !== 0) return reject(new Error(`posix_spawn ${file}: errno ${rc}`));
      const status = [0];
      waitpid.async(pid[0], status, 0, (e: unknown, w: number) => (e ? reject(e) : w < 0 ? reject(new Error('waitpid failed')) : resolve(status[0]!)));
    });
  });
  return spawner;
}

/** `runs` sequential start-ups after 3 unrecorded ones; fails if one does not exit 0. */
export async function measureBare(cmd: BareCommand, runs: number): Promise<BareResult> {
  const spawn = posixSpawner();
  const env = Object.entries(cmd.env).map(([k, v]) => `${k}=${v}`);
  const once = async () => {
    const t = performance.now();
    const status = await spawn(cmd.file, cmd.argv, env);
    if (status !== 0) throw new Error(`bare baseline: ${cmd.argv.join(' ')} ended with wait status ${status}`);
    return performance.now() - t;
  };
  for (let i = 0; i < 3; i++) await once();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(await once());
  return { describe: cmd.describe, argv: cmd.argv, runs, latencyMs: percentiles(samples), meanMs: samples.reduce((a, b) => a + b, 0) / samples.length };
}

/** The bare interpreter start-up of the python image, measured `runs` times, or why there is none. */
export async function pythonBaseline(imagesDir: string, runs: number): Promise<NonNullable<Report['baseline']>> {
  const workload = workloadName('python');
  const registry = await imagesRegistry(imagesDir);
  const py = await registry.resolve('python', { flags: [], args: [] }).catch(() => undefined);
  if (!py) return { workload, skipped: 'the python image is not built' };
  const dir = await mkdtemp(join(tmpdir(), 'corral-bench-bare-'));
  try {
    const source = (WORKLOADS.find((w) => w.key === 'python')!.request.source);
    await writeFile(join(dir, py.fileName), source);
    // The language's own command line, with the file where it is on the host.
    const argv = py.run.map((a) => (a === py.fileName ? join(dir, py.fileName) : a));
    const cmd = await bareCommandFor(py.layers, argv, py.env);
    return { workload, ...await measureBare(cmd, runs) };
  } catch (err) {
    return { workload, skipped: `no honest bare baseline: ${(err as Error).message}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { runs: { type: 'string', default: '50' }, json: { type: 'boolean', default: false } } });
  pythonBaseline(loadConfig(process.env).imagesDir, Number(values.runs)).then((r) => {
    if (values.json) console.log(JSON.stringify(r));
    else console.log('skipped' in r ? `bare python baseline skipped: ${r.skipped}` : `bare python start-up (${r.runs} runs): p50 ${r.latencyMs.p50?.toFixed(2)} p90 ${r.latencyMs.p90?.toFixed(2)} p99 ${r.latencyMs.p99?.toFixed(2)} ms — ${r.describe}`);
  }, (err) => {
    console.error(`bare python: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
