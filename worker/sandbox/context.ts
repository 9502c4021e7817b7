// What the run paths (run.ts, stream.ts, connect.ts, held.ts, spec.ts) need from the host that owns them,
// as an interface: they never import host.ts, so the host can import them without a cycle.
import type { CgroupLayout } from './cgroups.ts';
import type { NativeContainer } from './native.ts';
import type { WarmPool } from './pool.ts';

/** The program's uid and gid inside the container. */
export const SANDBOX_ID = 1000;

export interface HostContext {
  /** The directory every container mounts its scratch tmpfs over, in its own namespace. */
  readonly runsDir: string;
  /** The container's /dev, bound read-only into every run. */
  readonly devDir: string;
  /** An empty read-only directory that hides /proc subdirectories. */
  readonly emptyDir: string;
  /** Where generated init layers live. */
  readonly initDir: string;
  /** Host uid/gid that container id 0 maps to. */
  readonly idBase: number;
  readonly cgroups: CgroupLayout;
  /** The CPUs runs may be placed on (spec.cpuset), or null: no placement on this host. */
  readonly placementCpus: readonly number[] | null;
  readonly hasTimeNamespace: boolean;
  readonly pool: WarmPool | undefined;
  /** A name for a run's cgroup (and a volume's mount point), unique among every host of the process. */
  nextName(): string;
  /** Destroys a used (or unused) container in the background. */
  discard(container: NativeContainer): void;
  /** Counts a cold container built again after its mount plan failed. */
  noteSetupRetry(): void;
  /** The proc-view daemon's mount point bound over /proc/<file>s (a truthful /proc), or null. */
  readonly procViewDir: string | null;
  /** Why no container may be built now (the proc view is configured but down), or undefined. */
  notReady(): string | undefined;
}
