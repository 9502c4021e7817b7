// Runs one build command in a chroot of a layer being built (see chroot-step.sh for the mounts),
// with its output appended to the build log and its last line reported as progress.
import { spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const STEP_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'chroot-step.sh');

export interface LayerMounts {
  /** Parent layers' fs dirs, bottom first; empty when `root` is a plain directory (base layer). */
  lowers: string[];
  upper: string;
  work: string;
  /** Mount point of the overlay (or the plain directory itself when there are no lowers). */
  root: string;
  /** Shared apt cache dir, or null to bind nothing. */
  aptCache: string | null;
}

export interface StepIo {
  log: WriteStream;
  /** Called with each output line (for a TTY progress line). */
  onLine?: (line: string) => void;
  stdin?: string | Buffer;
}

export class StepError extends Error {
  constructor(message: string, readonly tail: string[]) {
    super(message);
    this.name = 'StepError';
  }
}

/** The argv that runs `cmd` in the layer's chroot inside a private mount namespace. */
export function stepArgv(m: LayerMounts, cmd: string[]): string[] {
  // overlayfs wants lowerdirs top first; Corral stores and passes them bottom first.
  const lowers = m.lowers.length ? [...m.lowers].reverse().join(':') : '-';
  for (const p of [...m.lowers, m.upper, m.work, m.root]) {
    if (/[:,\n]/.test(p)) throw new Error(`path '${p}' contains ':', ',' or a newline, which overlay options cannot carry`);
  }
  // --kill-child: if unshare itself is killed (a timeout, Ctrl-C), the chrooted command dies too.
  return ['unshare', '--mount', '--propagation', 'private', '--fork', '--kill-child', '--', 'sh', STEP_SCRIPT,
    lowers, m.upper, m.work, m.root, m.aptCache ?? '-', '--', ...cmd];
}

export function runStep(m: LayerMounts, cmd: string[], io: StepIo): Promise<void> {
  return runLogged(stepArgv(m, cmd), io, `in chroot: ${cmd.join(' ')}`);
}

/** Spawns argv (no shell), tees its output into the log, rejects with the last lines on failure. */
export function runLogged(argv: string[], io: StepIo, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    io.log.write(`\n$ ${argv.join(' ')}\n`);
    const child = spawn(argv[0], argv.slice(1), { stdio: [io.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let partial = '';
    const onData = (buf: Buffer): void => {
      io.log.write(buf);
      const lines = (partial + buf.toString('utf8')).split(/\r?\n|\r/);
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        io.onLine?.(line);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    if (io.stdin !== undefined) child.stdin!.end(io.stdin);
    child.on('error', (err) => reject(new StepError(`${what}: cannot start ${argv[0]}: ${err.message}`, tail)));
    child.on('close', (code, signal) => {
      if (partial.trim()) tail.push(partial);
      if (code === 0) resolve();
      else reject(new StepError(`${what}: exited with ${signal ?? `status ${code}`}`, tail));
    });
  });
}

/**
 * Like runLogged but returns the output instead of logging it (version probes, du). A command
 * that outlives timeoutMs is killed, so a version command that hangs cannot hang a build.
 */
export function capture(argv: string[], timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    const chunks: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => chunks.push(b));
    child.stderr!.on('data', (b: Buffer) => chunks.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const output = Buffer.concat(chunks).toString('utf8');
      resolve({ code, output: signal ? `${output}\n(killed by ${signal} after ${timeoutMs} ms)` : output });
    });
  });
}

export function openLog(file: string): WriteStream {
  return createWriteStream(file, { flags: 'a' });
}
