// Two programs, each in its own fresh container with its own cgroup and limits, whose stdio is
// connected by two pipes: the first's stdout is the second's stdin and the second's stdout the
// first's stdin (a solution and its interactor). The pipes go from container to container: no
// byte passes through this process, so the exchange runs at the kernel's pipe speed. Each
// program's stderr is captured as usual; stdin/stdout bytes are not captured — unless a
// transcript is asked for: then each stdout comes to the worker and is relayed to the other's
// stdin by a native thread (relay.ts, with backpressure), recording what passes up to the budget.
import { closeSync } from 'node:fs';
import type { HostContext } from './context.ts';
import { SandboxError } from './errors.ts';
import { loadNative, type NativeSpec } from './native.ts';
import { failedOutcome } from './outcome.ts';
import { startRelay, type Relay } from './relay.ts';
import { acquire, dispatchJob, stopwatch } from './run.ts';
import { nativeSpecFor } from './spec.ts';
import type { ConnectedOutcome, ConnectOptions, SandboxOutcome, SandboxSpec } from './types.ts';

/** `count` close-on-exec pipes, or none (those made are closed) when one cannot be made. */
function pipes(count: number): Array<[number, number]> {
  const made: Array<[number, number]> = [];
  try {
    while (made.length < count) made.push(loadNative().pipe());
  } catch (err) {
    for (const fd of made.flat()) closeSync(fd);
    throw err;
  }
  return made;
}

export async function connectTwo(first: SandboxSpec, second: SandboxSpec, host: HostContext, signal?: AbortSignal, options: ConnectOptions = {}): Promise<ConnectedOutcome> {
  const elapsed = stopwatch();
  const a = nativeSpecFor(first, host);
  const b = nativeSpecFor(second, host);
  const recording = options.transcriptBytes !== undefined && options.transcriptBytes > 0;
  let relay: Relay | undefined;
  if (!recording) {
    const [toSecond, toFirst] = pipes(2); // first's stdout → second's stdin, and back
    a.stdin_fd = toFirst![0];
    a.stdout_fd = toSecond![1];
    b.stdin_fd = toSecond![0];
    b.stdout_fd = toFirst![1];
  } else {
    // Four pipes: each program's stdout to us, and from us to each one's stdin.
    const [fromFirst, toSecond, fromSecond, toFirst] = pipes(4);
    a.stdout_fd = fromFirst![1];
    b.stdin_fd = toSecond![0];
    b.stdout_fd = fromSecond![1];
    a.stdin_fd = toFirst![0];
    try {
      relay = startRelay({ fromFirst: fromFirst![0], toSecond: toSecond![1], fromSecond: fromSecond![0], toFirst: toFirst![1] }, options.transcriptBytes!);
    } catch (err) { // the relay closed its ends; the programs' are still ours
      for (const fd of [a.stdin_fd, a.stdout_fd, b.stdin_fd, b.stdout_fd]) closeSync(fd);
      throw err;
    }
  }
  const both = AbortSignal.any([signal, first.signal, second.signal].filter((s): s is AbortSignal => !!s));
  // When each one ended, on one clock: when its job was dispatched (its container built or taken
  // and released) plus its wall time. Not when its outcome arrived here: a side killed at a limit
  // is reported later than one that exited by itself.
  const endedMs = { first: 0, second: 0 };
  const one = async (spec: NativeSpec, s: SandboxSpec, side: 'first' | 'second'): Promise<SandboxOutcome> => {
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
      endedMs[side] = elapsed();
      return failedOutcome('internal_error', got.failure, endedMs[side]);
    }
    const dispatchedMs = elapsed();
    const outcome = await dispatchJob(got, spec, both, host); // owns the pipe ends from here on
    endedMs[side] = Math.round((dispatchedMs + outcome.wallMs) * 100) / 100;
    return outcome;
  };
  let outcomes: [SandboxOutcome, SandboxOutcome];
  try {
    outcomes = await Promise.all([one(a, first, 'first'), one(b, second, 'second')]);
  } catch (err) {
    relay?.abort();
    throw err;
  }
  const [firstOutcome, secondOutcome] = outcomes;
  if (!relay) return { first: firstOutcome, second: secondOutcome, endedMs };
  // Both runs are over, every writer of the pipes is gone: what is left in them is relayed (or
  // dropped, the reader being gone), then each direction ends at its EOF.
  return { first: firstOutcome, second: secondOutcome, endedMs, transcript: await relay.finish() };
}
