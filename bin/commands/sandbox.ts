// `corral sandbox`: one program in one fresh container, outcome as JSON — the operator's tool
// for checking what a run sees and gets (in the spirit of isolate's --run).
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { DEFAULT_LIMITS, SandboxHost, type SandboxLimits } from '../../worker/sandbox/index.ts';
import { ImageStore } from '../../rootfs-images/store.ts';
import { loadConfig } from '../../services/core/config.ts';

export const summary = 'Run one program in a fresh container and print the outcome as JSON';

/** A size as the options below take it: 64m, 1g, 512k (whole units where they divide). */
function sizeText(bytes: number): string {
  for (const [unit, n] of [['g', 1024 ** 3], ['m', 1024 ** 2], ['k', 1024]] as const) if (bytes % n === 0) return `${bytes / n}${unit}`;
  return String(bytes);
}

// The defaults shown are the sandbox's own (DEFAULT_LIMITS), so the help cannot drift from them.
export const help = `Usage: corral sandbox [options] -- PROGRAM [ARGS...]

Runs PROGRAM in a fresh container (all namespaces, its own cgroup, an overlay of the image,
a tmpfs volume at /box) and prints the outcome as JSON: status, limit, exitCode, signal,
cpuMs, wallMs, memoryKb, stdout, stderr, timings.

Options:
  --image NAME        image from the image store (default: busybox; the store is
                      CORRAL_IMAGES_DIR, default /var/lib/corral/images)
  --layer DIR         an image layer directory instead of --image (repeatable, bottom first)
  --time MS           CPU time limit, all processes together (default ${DEFAULT_LIMITS.cpuMs})
  --wall-time MS      wall-clock limit (default ${DEFAULT_LIMITS.wallMs})
  --memory SIZE       memory limit, e.g. 64m, 1g (default ${sizeText(DEFAULT_LIMITS.memoryBytes)})
  --processes N       max processes+threads (default ${DEFAULT_LIMITS.processes})
  --output SIZE       cap per output stream (default ${sizeText(DEFAULT_LIMITS.outputBytes)})
  --disk SIZE         size of the writable layer (/, /tmp) and of /box, each (default ${sizeText(DEFAULT_LIMITS.diskBytes)})
  --cpus N            CPU bandwidth in CPUs (default ${DEFAULT_LIMITS.cpus})
  --stdin FILE        feed FILE to stdin ('-' = this process's stdin)
  --file PATH=SRC     copy host file SRC into /box/PATH before the run (repeatable)
  --env K=V           environment variable (repeatable; default PATH, HOME, LANG)
  --hostname NAME     hostname inside (default corral)
  --merge-stderr      send stderr into stdout
  --cgroup-version N  force cgroup v1 or v2 instead of detecting
  --state-dir DIR     Corral's host state directory (default /var/lib/corral)
  -h, --help          this help

Exit status: 0 when an outcome was printed (whatever the program did), 1 on internal_error
or when the run could not be set up (an image not in the store), 2 on bad usage.

Example:
  corral sandbox --image busybox --memory 64m -- sh -c 'id; hostname; ls /'`;

/** Bad usage: printed with the help's first line, exit status 2. */
class UsageError extends Error {}

function size(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmg]?)b?$/i.exec(text.trim());
  if (!m) throw new UsageError(`--${option}: '${text}' is not a size (e.g. 512k, 64m, 1g)`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * unit);
}

function positive(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${option}: '${text}' is not a positive number`);
  return n;
}

/** `K=V` pairs; a pair without `=` or with an empty name is bad usage, not a variable. */
function environment(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of pairs) {
    const eq = kv.indexOf('=');
    if (eq < 1) throw new UsageError(`--env: '${kv}' is not K=V`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

export async function run(args: string[]): Promise<number> {
  try {
    return await runSandbox(args);
  } catch (err) {
    // parseArgs's own errors (an unknown option, a missing value) are bad usage too.
    const code = (err as { code?: string }).code;
    if (err instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_'))) {
      console.error(`corral sandbox: ${(err as Error).message}\n(corral sandbox --help for the options)`);
      return 2;
    }
    throw err;
  }
}

async function runSandbox(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      image: { type: 'string' }, layer: { type: 'string', multiple: true },
      time: { type: 'string' }, 'wall-time': { type: 'string' }, memory: { type: 'string' },
      processes: { type: 'string' }, output: { type: 'string' }, disk: { type: 'string' }, cpus: { type: 'string' },
      stdin: { type: 'string' }, file: { type: 'string', multiple: true }, env: { type: 'string', multiple: true },
      hostname: { type: 'string' }, 'merge-stderr': { type: 'boolean' },
      'cgroup-version': { type: 'string' }, 'state-dir': { type: 'string' },
    },
  });
  if (!positionals.length) {
    console.error(`corral sandbox: no program given\n\n${help}`);
    return 2;
  }
  const limits: Partial<SandboxLimits> = {};
  if (values.time) limits.cpuMs = positive(values.time, 'time');
  if (values['wall-time']) limits.wallMs = positive(values['wall-time'], 'wall-time');
  if (values.memory) limits.memoryBytes = size(values.memory, 'memory');
  if (values.processes) limits.processes = positive(values.processes, 'processes');
  if (values.output) limits.outputBytes = size(values.output, 'output');
  if (values.disk) limits.diskBytes = size(values.disk, 'disk');
  if (values.cpus) limits.cpus = positive(values.cpus, 'cpus');
  const cgroupVersion = values['cgroup-version'] ? (Number(values['cgroup-version']) as 1 | 2) : undefined;
  if (cgroupVersion !== undefined && cgroupVersion !== 1 && cgroupVersion !== 2) throw new UsageError('--cgroup-version: 1 or 2');
  const env = values.env?.length ? environment(values.env) : undefined;
  for (const spec of values.file ?? []) if (spec.indexOf('=') < 1) throw new UsageError(`--file: '${spec}' is not PATH=SRC`);

  const host = SandboxHost.open({ stateDir: values['state-dir'], cgroupVersion });
  // The image store as `corral images` and the worker find it: CORRAL_IMAGES_DIR, through the one configuration parser.
  const layers = values.layer?.length ? values.layer : (await new ImageStore(loadConfig().imagesDir).resolve(values.image ?? 'busybox')).layerDirs;
  const stdin = values.stdin === undefined ? undefined : readFileSync(values.stdin === '-' ? 0 : values.stdin);

  const volume = await host.createVolume({ sizeBytes: limits.diskBytes ?? 64 << 20 });
  try {
    for (const spec of values.file ?? []) {
      const eq = spec.indexOf('=');
      await volume.writeFile(spec.slice(0, eq), readFileSync(spec.slice(eq + 1)), { mode: 0o755 });
    }
    const outcome = await host.run(
      { layers, argv: positionals, env, stdin, limits, hostname: values.hostname, mergeStderr: values['merge-stderr'], box: { dir: volume.dir } },
    );
    console.log(JSON.stringify({ ...outcome, stdout: outcome.stdout.toString(), stderr: outcome.stderr.toString(), failure: outcome.failure?.toJSON() }, null, 2));
    return outcome.status === 'internal_error' ? 1 : 0;
  } finally {
    await volume.destroy();
  }
}
