// The load test's in-process measurements (the bare interpreter baseline, the sandbox-only
// series) run in a process of their own, from bench/: this side forks the script by path, lets its
// progress lines through (stderr) and reads its result, one JSON line, from its stdout. So the
// load generator loads nothing of the worker or the sandbox, and its event loop is its own.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Runs bench/<script> with `args` and resolves with the JSON value of the last line it prints; rejects when it fails, prints no JSON or outlives `timeoutMs`. */
export function runBenchScript<T>(script: string, args: string[], timeoutMs: number): Promise<T> {
  const path = fileURLToPath(new URL(`../bench/${script}`, import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', path, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGTERM'); reject(new Error(`bench/${script} did not finish within ${timeoutMs} ms`)); }, timeoutMs);
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').at(-1) ?? '';
      if (code !== 0) return reject(new Error(`bench/${script} ended with ${signal ?? `exit code ${code}`}`));
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`bench/${script} printed no JSON result (last line: ${JSON.stringify(last.slice(0, 200))})`));
      }
    });
  });
}
