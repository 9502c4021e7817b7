// Starts and stops bench/stack-child.ts: one real Corral stack per configuration, in its own
// process (so the load generator's event loop is not the API's, and each configuration starts
// fresh). The stack is composed in that process; this side only forks it by path and talks to it
// over HTTP, so nothing of the worker or the sandbox is loaded here.
import { fork, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface RunningStack {
  url: string;
  slots: number;
  pid: number;
  redisPid: number | undefined;
  stop(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('../bench/stack-child.ts', import.meta.url));

/** Forks the stack with `env` added to this environment; its logs go to `logFile`. Bounded by `startMs`. */
export async function forkStack(env: Record<string, string>, logFile: string, startMs = 120_000): Promise<RunningStack> {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child: ChildProcess = fork(CHILD, [], {
    env: { ...process.env, UV_THREADPOOL_SIZE: '64', ...env },
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let timer: NodeJS.Timeout | undefined;
  try {
    const ready = await Promise.race([
      new Promise<{ url: string; slots: number; redisPid: number | undefined }>((resolve) => child.once('message', (m) => resolve(m as { url: string; slots: number; redisPid: number | undefined }))),
      exited.then((code) => { throw new Error(`the stack exited at start (code ${code}); see ${logFile}`); }),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`the stack did not start within ${startMs} ms; see ${logFile}`)), startMs); }),
    ]);
    return {
      ...ready,
      pid: child.pid!,
      async stop() {
        if (child.exitCode === null && child.connected) child.send('stop');
        let t: NodeJS.Timeout | undefined;
        const late = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => { t = setTimeout(() => r(true), 20_000); })]);
        clearTimeout(t);
        if (late) {
          // The stack did not stop by itself: kill it and the redis-server it started (by pid).
          child.kill('SIGKILL');
          await exited;
          if (ready.redisPid) try { process.kill(ready.redisPid, 'SIGKILL'); } catch { /* already gone */ }
        }
        log.end();
      },
    };
  } catch (err) {
    if (child.exitCode === null) { child.kill('SIGKILL'); await exited; }
    log.end();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
