// The seam between the pipeline and the sandbox. The pipeline only sees `Launcher`; the real one
// (below) calls worker/sandbox, a fake one lets the pipeline's logic be unit-tested.
import type { SandboxOutcome, SandboxSpec } from './sandbox/types.ts';

export interface CollectedFile { path: string; size: number; content: Buffer; truncated: boolean }
export interface CollectCaps { maxFiles: number; maxFileBytes: number; maxTotalBytes: number }

/** A job volume (see docs/architecture.md): a size-limited host directory mounted at /box. */
export interface JobVolume {
  dir: string;
  /** Overlay workdir on the same filesystem; pass as spec.box.workDir with lowerDirs. */
  workDir: string;
  writeFile(relPath: string, data: string | Buffer, opts?: { mode?: number }): Promise<void>;
  collect(patterns: string[], caps: CollectCaps): Promise<CollectedFile[]>;
  destroy(): Promise<void>;
}

export interface Launcher {
  createVolume(opts: { sizeBytes: number }): Promise<JobVolume>;
  /** Runs one program; aborting `signal` kills it (the outcome's status is then `cancelled`). */
  run(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxOutcome>;
}

/** The real launcher over worker/sandbox, loaded on first use so a host without it fails clearly. */
export function sandboxLauncher(): Launcher {
  type SandboxModule = typeof import('./sandbox/index.ts');
  let mod: Promise<SandboxModule> | undefined;
  const load = () => (mod ??= import('./sandbox/index.ts'));
  return {
    async createVolume(opts) {
      return (await load()).createVolume(opts);
    },
    async run(spec, signal) {
      return (await load()).runInSandbox(signal ? { ...spec, signal } : spec);
    },
  };
}
