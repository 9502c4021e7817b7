// For benchmarks: one fresh container's three steps taken apart — build (prepare, waited until
// ready: what the warm pool does ahead), run (one dispatch) and teardown (discard) — through the
// launcher of a given library file (default this tree's build), so that a benchmark can compare
// two builds of the same ABI in one process (bench/sandbox-cpu.ts). A run never uses the pool.
import type { HostContext } from './context.ts';
import { SandboxError } from './errors.ts';
import { LIBRARY_PATH, loadNative, type NativeContainer, type NativeOutcome } from './native.ts';
import { nativeSpecFor } from './spec.ts';
import type { SandboxSpec } from './types.ts';

export interface ContainerSteps {
  /** Builds the container, ready for its job. */
  build(): Promise<void>;
  /** Runs the spec's program in it; resolves to its exit code (rejects when the sandbox failed). */
  run(): Promise<number>;
  /** Removes it (its cgroups; its processes ended with the run). */
  teardown(): Promise<void>;
}

export function containerSteps(host: HostContext, spec: SandboxSpec, libraryPath: string = LIBRARY_PATH): ContainerSteps {
  const native = loadNative(libraryPath);
  const nativeSpec = nativeSpecFor(spec, host);
  let container: NativeContainer | undefined;
  return {
    async build() {
      container = await native.prepare(nativeSpec);
    },
    async run() {
      if (!container) throw new SandboxError('spec', 'containerSteps: run before build');
      const out: Partial<NativeOutcome> = {};
      await native.dispatch(container, nativeSpec, out);
      if (out.status !== 0 || !out.exited) throw new SandboxError('host', `containerSteps: the run ended with status ${out.status}`);
      return out.exit_code!;
    },
    async teardown() {
      if (container) await native.discard(container);
      container = undefined;
    },
  };
}
