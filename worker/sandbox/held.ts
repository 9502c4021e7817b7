// A container held open across several programs (SandboxHost.hold): taken like any run's
// container (a warm one from the host's pool when there is one for its image, else built now),
// then given its programs one at a time with the launcher's held dispatch — each a new process
// that the container's init starts once the previous program and everything it started are gone
// (native/src/launcher.c, "Held containers"). /box, the writable root and /dev/shm carry over;
// processes, descriptors and limits do not. The container is destroyed by close().
import type { HostContext } from './context.ts';
import { SandboxError } from './errors.ts';
import { loadNative, type NativeContainer, type NativeOutcome } from './native.ts';
import { failedOutcome, toOutcome } from './outcome.ts';
import { acquire, stopwatch } from './run.ts';
import { nativeSpecFor } from './spec.ts';
import type { HeldContainer, HeldProgramSpec, HoldSpec, SandboxOutcome, SandboxSpec } from './types.ts';

const LIMIT_NONE = 0; // enum corral_limit

/** The spec of a held container's program: the container's fields from `hold`, the program's own. */
function programSpec(hold: HoldSpec, program: HeldProgramSpec): SandboxSpec {
  return {
    ...program,
    layers: hold.layers,
    ...(hold.box ? { box: hold.box } : {}),
    ...(hold.hostname ? { hostname: hold.hostname } : {}),
    ...(hold.imageName ? { imageName: hold.imageName } : {}),
    // The disk is the container's: the writable tmpfs every program shares.
    limits: { ...program.limits, ...(hold.diskBytes ? { diskBytes: hold.diskBytes } : {}) },
    // The container's CPUs, unless the program names its own: each program's cgroup (v2: a fresh
    // leaf per program) is written with the list at dispatch, so none runs on every CPU.
    ...(program.cpuset ?? hold.cpuset ? { cpuset: program.cpuset ?? hold.cpuset } : {}),
  };
}

class Held implements HeldContainer {
  programs = 0;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();
  /** The number of the program under way, 0 between programs. */
  private running = 0;

  constructor(private readonly container: NativeContainer, private readonly spec: HoldSpec,
    private readonly host: HostContext, readonly pooled: boolean, private readonly onClose: (held: Held) => void) {}

  run(program: HeldProgramSpec): Promise<SandboxOutcome> {
    if (this.closed) return Promise.reject(new SandboxError('used', 'the held container is closed', { step: 'held' }));
    // A bad spec rejects at once, as host.run does, and takes no program number.
    let nativeSpec: ReturnType<typeof nativeSpecFor>;
    try {
      nativeSpec = nativeSpecFor(programSpec(this.spec, program), this.host);
    } catch (err) {
      return Promise.reject(err);
    }
    const elapsed = stopwatch();
    const next = this.queue.then(async (): Promise<SandboxOutcome> => {
      if (program.signal?.aborted) return failedOutcome('cancelled', new SandboxError('cancelled', 'cancelled before it started'), elapsed());
      if (this.closed) return failedOutcome('cancelled', new SandboxError('cancelled', 'the held container was closed before this program started', { step: 'held' }), elapsed());
      const native = loadNative();
      const number = ++this.programs;
      const stop = () => native.stopHeld(this.container, number, LIMIT_NONE);
      program.signal?.addEventListener('abort', stop, { once: true });
      const out: Partial<NativeOutcome> = {};
      this.running = number;
      try {
        await native.dispatchHeld(this.container, number, nativeSpec, out);
      } finally {
        this.running = 0;
        program.signal?.removeEventListener('abort', stop);
      }
      const outcome = toOutcome(out as NativeOutcome);
      if (number === 1 && this.pooled) outcome.timings.pooled = true;
      outcome.timings.totalMs = elapsed();
      return outcome;
    });
    this.queue = next.catch(() => {});
    return next;
  }

  /** Stops the program under way (cancelled), cancels those queued, then destroys the container. */
  async close(): Promise<void> {
    if (this.closed) return this.queue.then(() => {});
    this.closed = true;
    if (this.running) loadNative().stopHeld(this.container, this.running, LIMIT_NONE);
    await this.queue;
    this.host.discard(this.container);
    this.onClose(this);
  }
}

/** Takes a container for `spec` and holds it; rejects with a SandboxError when none can be built.
 * `onClose` hears when it is closed (the host keeps those open, to close them with itself). */
export async function holdOne(spec: HoldSpec, host: HostContext, onClose: (held: HeldContainer) => void = () => {}): Promise<HeldContainer> {
  // The container's fields; the program fields are placeholders, sent with no job.
  const nativeSpec = nativeSpecFor(programSpec(spec, { argv: ['/bin/true'] }), host);
  const got = await acquire(nativeSpec, spec.imageName, host);
  if ('failure' in got) throw got.failure;
  return new Held(got.container, spec, host, got.pooled, onClose);
}
