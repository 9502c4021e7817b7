// Two programs, each in its own fresh container with its own cgroup and limits, whose stdio is
// connected by two pipes: the first's stdout is the second's stdin and the second's stdout the
// first's stdin (a solution and its interactor). The pipes go from container to container: no
// byte passes through this process, so the exchange runs at the kernel's pipe speed. Each
// program's stderr is captured as usual; stdin/stdout bytes are not captured — unless a
// transcript is asked for: then each stdout comes here and is relayed to the other's stdin
// (relay.ts, with backpressure), recording what passes up to the budget.
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { HostContext } from './context.ts';
import { SandboxError } from './errors.ts';
import { loadNative, type NativeSpec } from './native.ts';
import { failedOutcome } from './outcome.ts';
import { closed, relay, TranscriptRecorder } from './relay.ts';
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
  let sockets: Socket[] = [];
  let recorder: TranscriptRecorder | undefined;
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
    const reader = (fd: number) => new Socket({ fd, readable: true, writable: false });
    const writer = (fd: number) => new Socket({ fd, readable: false, writable: true });
    const firstOut = reader(fromFirst![0]);
    const secondIn = writer(toSecond![1]);
    const secondOut = reader(fromSecond![0]);
    const firstIn = writer(toFirst![1]);
    sockets = [firstOut, secondIn, secondOut, firstIn];
    const rec = new TranscriptRecorder(options.transcriptBytes!);
    recorder = rec;
    relay(firstOut, secondIn, (chunk) => rec.record('first', chunk));
    relay(secondOut, firstIn, (chunk) => rec.record('second', chunk));
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
  const [firstOutcome, secondOutcome] = await Promise.all([one(a, first, 'first'), one(b, second, 'second')]);
  if (!recorder) return { first: firstOutcome, second: secondOutcome, endedMs };
  // Both runs are over, every writer of the pipes is gone: what is left in them is relayed (or
  // dropped, the reader being gone), then EOF closes each socket.
  await Promise.all(sockets.map(closed));
  for (const s of sockets) s.destroy();
  return { first: firstOutcome, second: secondOutcome, endedMs, transcript: recorder.result() };
}
