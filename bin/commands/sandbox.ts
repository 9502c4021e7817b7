// `corral sandbox`: one program in one fresh container, outcome as JSON — the operator's tool
// for checking what a run sees and gets (in the spirit of isolate's --run).
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { SandboxHost, type SandboxLimits } from '../../worker/sandbox/index.ts';
import { ImageStore } from '../../rootfs-images/store.ts';

export const summary = 'Run one program in a fresh container and print the outcome as JSON';

export const help = `Usage: corral sandbox [options] -- PROGRAM [ARGS...]

Runs PROGRAM in a fresh container (all namespaces, its own cgroup, an overlay of the image,
a tmpfs volume at /box) and prints the outcome as JSON: status, limit, exitCode, signal,
cpuMs, wallMs, memoryKb, stdout, stderr, timings.

Options:
  --image NAME        image from the image store (default: busybox)
  --layer DIR         an image layer directory instead of --image (repeatable, bottom first)
  --time MS           CPU time limit, all processes together (default 5000)
  --wall-time MS      wall-clock limit (default 10000)
  --memory SIZE       memory limit, e.g. 64m, 1g (default 256m)
  --processes N       max processes+threads (default 64)
  --output SIZE       cap per output stream (default 1m)
  --disk SIZE         writable layer size (default 64m)
  --cpus N            CPU bandwidth in CPUs (default 1)
  --stdin FILE        feed FILE to stdin ('-' = this process's stdin)
  --file PATH=SRC     copy host file SRC into /box/PATH before the run (repeatable)
  --env K=V           environment variable (repeatable; default PATH, HOME, LANG)
  --hostname NAME     hostname inside (default corral)
  --merge-stderr      send stderr into stdout
  --cgroup-version N  force cgroup v1 or v2 instead of detecting
  --state-dir DIR     Corral's host state directory (default /var/lib/corral)
  -h, --help          this help

Exit status: 0 when an outcome was printed (whatever the program did), 1 on internal_error,
2 on bad usage.

Example:
  corral sandbox --image busybox --memory 64m -- sh -c 'id; hostname; ls /'`;

function size(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmg]?)b?$/i.exec(text.trim());
  if (!m) throw new Error(`--${option}: '${text}' is not a size (e.g. 512k, 64m, 1g)`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * unit);
}

function positive(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${option}: '${text}' is not a positive number`);
  return n;
}

export async function run(args: string[]): Promise<number> {
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
  if (cgroupVersion !== undefined && cgroupVersion !== 1 && cgroupVersion !== 2) throw new Error('--cgroup-version: 1 or 2');

  const host = SandboxHost.open({ stateDir: values['state-dir'], cgroupVersion });
  const layers = values.layer?.length ? values.layer : (await new ImageStore().resolve(values.image ?? 'busybox')).layerDirs;
  const env = values.env?.length
    ? Object.fromEntries(values.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
    : undefined;
  const stdin = values.stdin === undefined ? undefined : readFileSync(values.stdin === '-' ? 0 : values.stdin);

  const volume = await host.createVolume({ sizeBytes: limits.diskBytes ?? 64 << 20 });
  try {
    for (const spec of values.file ?? []) {
      const eq = spec.indexOf('=');
      if (eq < 1) throw new Error(`--file: '${spec}' is not PATH=SRC`);
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
