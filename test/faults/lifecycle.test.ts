// services/core/lifecycle.ts with real signals: the first signal starts the stop, a second one
// forces it, and a stop that never ends still exits (code 1) within FORCED_EXIT_MS of the second
// signal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FORCED_EXIT_MS } from '../../services/core/lifecycle.ts';
import { EXIT_BOUND_MS } from './processes.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/stop-never-ends.ts', import.meta.url));

test('a stop that never ends: a second signal exits 1 within the forced bound', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { stdio: ['ignore', 'pipe', 'inherit'] });
  const events: string[] = [];
  let wake = () => {};
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) events.push(JSON.parse(buf.slice(0, i)).event);
    wake();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const until = async (event: string) => { while (!events.includes(event)) await new Promise<void>((r) => { wake = r; }); };
  try {
    await until('ready');
    child.kill('SIGTERM');
    await until('stop');
    const t0 = performance.now();
    child.kill('SIGTERM');
    await until('forced');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<'hang'>((r) => { timer = setTimeout(() => r('hang'), EXIT_BOUND_MS); })]);
    clearTimeout(timer);
    t.diagnostic(`exited ${Math.round(performance.now() - t0)} ms after the second signal (FORCED_EXIT_MS ${FORCED_EXIT_MS})`);
    assert.equal(code, 1, 'the forced exit');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});
