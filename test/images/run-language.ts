// Runs a language's example programs through the real sandbox: compile in one run with a fresh
// job volume at /box, then run the result in a second run over the same volume.
import { createVolume, runInSandbox } from '../helpers/sandbox.ts';
import type { SandboxLimits, SandboxOutcome } from '../../worker/sandbox/types.ts';
import { commandsFor, type LanguageSpec } from '../../rootfs-images/languages.ts';

const MiB = 2 ** 20;
// Roomy limits: these tests check that languages work, not that limits bite (sandbox tests do).
// Compilers like GHC, kotlinc and go build need hundreds of MiB and many threads.
export const COMPILE_LIMITS: Partial<SandboxLimits> = {
  cpuMs: 120_000, wallMs: 180_000, memoryBytes: 2048 * MiB, processes: 256, diskBytes: 1024 * MiB, fileSizeBytes: 512 * MiB, cpus: 2,
};
export const RUN_LIMITS: Partial<SandboxLimits> = {
  cpuMs: 20_000, wallMs: 60_000, memoryBytes: 1024 * MiB, processes: 128, diskBytes: 256 * MiB, cpus: 2,
};

export interface LanguageRun {
  compile?: SandboxOutcome;
  run?: SandboxOutcome;
  /** Wall time of both runs as the caller sees it (launch overhead included). */
  totalMs: number;
}

/** How a language run differs from the defaults: compiler flags, and limits that replace the roomy
 * defaults above (e.g. a judge's file-size limit for the run). */
export interface RunOptions {
  /** User compiler flags, spliced where the language's compile argv has `{flags*}`. */
  flags?: string[];
  compile?: Partial<SandboxLimits>;
  run?: Partial<SandboxLimits>;
}

export async function compileAndRun(lang: LanguageSpec, layers: string[], source: string, stdin = '', opts: RunOptions = {}): Promise<LanguageRun> {
  const started = performance.now();
  const volume = await createVolume({ sizeBytes: 512 * MiB });
  try {
    await volume.writeFile(lang.fileName, source);
    const cmds = commandsFor(lang, { flags: opts.flags });
    const base = { layers, env: lang.runEnv, box: { dir: volume.dir } };
    let compile: SandboxOutcome | undefined;
    if (cmds.compile) {
      compile = await runInSandbox({ ...base, argv: cmds.compile, limits: { ...COMPILE_LIMITS, ...opts.compile } });
      if (compile.status !== 'ok') return { compile, totalMs: performance.now() - started };
    }
    const run = await runInSandbox({ ...base, argv: cmds.run, stdin, limits: { ...RUN_LIMITS, ...opts.run } });
    return { compile, run, totalMs: performance.now() - started };
  } finally {
    await volume.destroy();
  }
}

/** A readable account of an outcome for assertion messages. */
export function describeOutcome(o: SandboxOutcome | undefined): string {
  if (!o) return '(no run)';
  const cut = (b: Buffer) => JSON.stringify(b.toString('utf8').slice(0, 1500));
  return `status=${o.status} exit=${o.exitCode} signal=${o.signal} limit=${o.limit ?? '-'} wallMs=${Math.round(o.wallMs)}` +
    `${o.error ? ` error=${o.error}` : ''}\nstdout=${cut(o.stdout)}\nstderr=${cut(o.stderr)}`;
}
