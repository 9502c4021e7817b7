// Two programs, each in its own fresh container with its own cgroup and limits, whose stdio is
// connected by two pipes: the first's stdout is the second's stdin and the second's stdout the
// first's stdin (a solution and its interactor). The pipes go from container to container: no
// byte passes through this process, so the exchange runs at the kernel's pipe speed. Each
// program's stderr is captured as usual; stdin/stdout bytes are not captured.
import { closeSync } from 'node:fs';
import type { HostContext } from './context.ts';
import { SandboxError } from './errors.ts';
import { loadNative, type NativeSpec } from './native.ts';
import { failedOutcome } from './outcome.ts';
import { acquire, dispatchJob, stopwatch } from './run.ts';
import { nativeSpecFor } from './spec.ts';
import type { ConnectedOutcome, SandboxOutcome, SandboxSpec } from './types.ts';

export async function connectTwo(first: SandboxSpec, second: SandboxSpec, host: HostContext, signal?: AbortSignal): Promise<ConnectedOutcome> {
  const elapsed = stopwatch();
  const native = loadNative();
  const a = nativeSpecFor(first, host);
  const b = nativeSpecFor(second, host);
  const toSecond = native.pipe(); // first's stdout → second's stdin
  let toFirst: [number, number];
  try {
    toFirst = native.pipe(); // second's stdout → first's stdin
  } catch (err) {
    for (const fd of toSecond) closeSync(fd);
    throw err;
  }
  a.stdin_fd = toFirst[0];
  a.stdout_fd = toSecond[1];
  b.stdin_fd = toSecond[0];
  b.stdout_fd = toFirst[1];
  const both = AbortSignal.any([signal, first.signal, second.signal].filter((s): s is AbortSignal => !!s));
  const one = async (spec: NativeSpec, s: SandboxSpec): Promise<SandboxOutcome> => {
    // A program whose container cannot be built leaves its pipe ends closed: the other one
    // reads EOF and its writes fail (EPIPE), as if this one had exited at once.
    const closeOurs = () => { for (const fd of [spec.stdin_fd, spec.stdout_fd]) closeSync(fd); };
    if (both.aborted) {
      closeOurs();
      return failedOutcome('cancelled', new SandboxError('cancelled', 'cancelled before it started'), elapsed());
    }
    const got = await acquire(spec, s.imageName, host);
    if ('failure' in got) {
      closeOurs();
      return failedOutcome('internal_error', got.failure, elapsed());
    }
    return dispatchJob(got, spec, both, host); // owns the pipe ends from here on
  };
  const [firstOutcome, secondOutcome] = await Promise.all([one(a, first), one(b, second)]);
  return { first: firstOutcome, second: secondOutcome };
}
