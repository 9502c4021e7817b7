// The seam between the job pipeline and the sandbox. The pipeline, interactive sessions and the
// self-test only see `Launcher`; the real one (sandboxLauncher) is a SandboxHost, and a fake one
// lets the pipeline's logic be unit-tested (test/worker/fakes.ts). Integration tests always use
// the real one.
import type {
  CollectCaps, CollectedFile, ConnectOptions, ConnectedOutcome, SandboxHost, SandboxOutcome, SandboxSpec, StreamingOptions, StreamingRun,
} from './sandbox/index.ts';

export type { CollectCaps, CollectedFile };

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
  /** Runs one program with its stdio streamed (interactive sessions). */
  stream(spec: SandboxSpec, options: StreamingOptions): StreamingRun;
  /** Runs two programs whose stdout feeds the other's stdin, each in its own container (the exchange recorded with options.transcriptBytes). */
  connect(first: SandboxSpec, second: SandboxSpec, signal?: AbortSignal, options?: ConnectOptions): Promise<ConnectedOutcome>;
}

/** The real launcher: the worker's SandboxHost. */
export function sandboxLauncher(host: SandboxHost): Launcher {
  return {
    createVolume: (opts) => host.createVolume(opts),
    run: (spec, signal) => host.run(signal ? { ...spec, signal } : spec),
    stream: (spec, options) => host.stream(spec, options),
    connect: (first, second, signal, options) => host.connect(first, second, signal, options),
  };
}
