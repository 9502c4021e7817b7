// One program with its stdio streamed (SandboxHost.stream): its stdout and stderr passed on
// while it runs and, with `stdinPipe`, its stdin written while it runs. The pipes are made by the
// launcher (corral_pipe) and given to the program as fds 0/1/2 with the job; the output cap is
// enforced here, and hitting it stops the run through the launcher's stop (output_limit).
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import type { HostContext } from './context.ts';
import { SandboxError } from './errors.ts';
import { loadNative, type NativeContainer } from './native.ts';
import { failedOutcome } from './outcome.ts';
import { acquire, dispatchJob, stopwatch } from './run.ts';
import { nativeSpecFor } from './spec.ts';
import type { SandboxOutcome, SandboxSpec, StreamingOptions, StreamingRun } from './types.ts';

/** Once every process of the run is gone, no writer is left: EOF is only waited for this long. */
const EOF_GRACE_MS = 2000;

/** Resolves once the socket is closed (destroyed after EOF_GRACE_MS at the latest). */
function closed(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), EOF_GRACE_MS);
    socket.once('close', () => { clearTimeout(timer); resolve(); });
  });
}

const LIMIT_OUTPUT = 4; // enum corral_limit

/** A signal name or number → its number, or undefined. */
export function signalNumber(signal: string | number): number | undefined {
  const num = typeof signal === 'number' ? signal : constants.signals[signal as keyof typeof constants.signals];
  return Number.isInteger(num) && num > 0 ? num : undefined;
}

export function streamOne(spec: SandboxSpec, options: StreamingOptions, host: HostContext): StreamingRun {
  const nativeSpec = nativeSpecFor(spec, host);
  const native = loadNative();
  const elapsed = stopwatch();
  // Our ends are sockets; the program's ends travel with the job (dispatch owns them from then on).
  const ours: number[] = [];
  const theirs: number[] = [];
  const pipe = (): [number, number] => {
    const fds = native.pipe();
    ours.push(fds[0], fds[1]);
    return fds;
  };
  let out: [number, number], err: [number, number], inp: [number, number] | undefined;
  try {
    out = pipe();
    err = pipe();
    inp = options.stdinPipe ? pipe() : undefined;
  } catch (e) {
    for (const fd of ours) closeSync(fd);
    throw e;
  }
  nativeSpec.stdout_fd = out[1];
  nativeSpec.stderr_fd = err[1];
  theirs.push(out[1], err[1]);
  if (inp) {
    nativeSpec.stdin_fd = inp[0];
    theirs.push(inp[0]);
  }
  const stdout = new Socket({ fd: out[0], readable: true, writable: false });
  const stderr = new Socket({ fd: err[0], readable: true, writable: false });
  const stdin = inp ? new Socket({ fd: inp[1], readable: false, writable: true }) : undefined;
  stdin?.on('error', () => { /* EPIPE: the program is gone or closed its stdin */ });
  const closeTheirs = () => { for (const fd of theirs.splice(0)) closeSync(fd); };

  let active: NativeContainer | undefined;
  let streamed = 0;
  let overCap = false;
  let stopWanted = false;
  const truncated = { stdout: false, stderr: false };
  const stopForOutput = () => {
    stopWanted = true;
    if (active) native.stop(active, LIMIT_OUTPUT);
  };
  const pass = (stream: 'stdout' | 'stderr', deliver: (chunk: Buffer) => void) => (chunk: Buffer) => {
    if (overCap) return; // the run is being stopped; what is left is drained and dropped
    const room = options.maxOutputBytes - streamed;
    if (chunk.length > room) {
      chunk = chunk.subarray(0, room);
      overCap = true;
      truncated[stream] = true;
    }
    streamed += chunk.length;
    if (chunk.length > 0) deliver(chunk);
    if (overCap) stopForOutput();
  };
  stdout.on('data', pass('stdout', options.onStdout));
  stderr.on('data', pass('stderr', options.onStderr));
  stdout.on('error', () => {});
  stderr.on('error', () => {});

  const outcome = (async (): Promise<SandboxOutcome> => {
    const finish = async (o: SandboxOutcome) => {
      await Promise.all([closed(stdout), closed(stderr)]);
      stdin?.destroy();
      return o;
    };
    const giveUp = (status: 'internal_error' | 'cancelled', failure: SandboxError) => {
      closeTheirs();
      stdout.destroy();
      stderr.destroy();
      return finish(failedOutcome(status, failure, elapsed()));
    };
    if (spec.signal?.aborted) return giveUp('cancelled', new SandboxError('cancelled', 'cancelled before it started'));
    const got = await acquire(nativeSpec, spec.imageName, host);
    if ('failure' in got) return giveUp('internal_error', got.failure);
    theirs.length = 0; // dispatch owns them now, on every path
    const o = await dispatchJob(got, nativeSpec, spec.signal, host, (container) => {
      active = container;
      if (container && stopWanted) native.stop(container, LIMIT_OUTPUT);
    });
    // Every process of the run is gone: the pipes hold what is left, then EOF.
    await Promise.all([closed(stdout), closed(stderr)]);
    o.timings.totalMs = elapsed();
    o.stdoutTruncated = truncated.stdout;
    o.stderrTruncated = truncated.stderr;
    // Over the cap but ended by itself before the stop took effect: still an output limit.
    if (overCap && o.status !== 'internal_error' && o.status !== 'cancelled') {
      o.status = 'output_limit';
      o.limit = 'output';
    }
    return finish(o);
  })();

  return {
    write: (data) => (stdin && stdin.writable && !stdin.writableEnded ? (stdin.write(data), true) : false),
    end: () => { stdin?.end(); },
    kill(signal) {
      const num = signalNumber(signal);
      if (!active || num === undefined) return false;
      return native.signal(active, num) > 0;
    },
    usage() {
      // `active` is unset (on this thread) before the container is discarded: the read is in its window.
      if (!active) return undefined;
      const u = native.usage(active);
      if (u.memoryBytes < 0 || u.cpuUs < 0) return undefined;
      return { memoryBytes: u.memoryBytes, memoryPeakBytes: u.memoryPeakBytes < 0 ? null : u.memoryPeakBytes, cpuMs: Math.round(u.cpuUs / 1000) };
    },
    outcome,
  };
}
