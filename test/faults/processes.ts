// Real Corral processes for the fault tests: `bin/corral <command>` in its own process group (so a
// test can signal the whole group, as systemd, `docker stop` or a terminal does), its JSON log
// lines collected, and what a Corral may leave behind on this host.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { api, collectJsonLines, waitFor } from '../e2e/harness.ts';

const CORRAL = fileURLToPath(new URL('../../bin/corral', import.meta.url));

/** Hang bound: a shutdown that takes longer than this is a hang, not a slow machine. */
export const EXIT_BOUND_MS = 20_000;

export interface CorralProcess {
  child: ChildProcess;
  pid: number;
  lines: any[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` to the whole process group (the command was started as its leader). */
  signalGroup(signal: NodeJS.Signals): void;
  /** The first log line with this msg (waits for it; gives up with the process' exit). */
  line(msg: string): Promise<any>;
}

export function spawnCorral(command: 'up' | 'api' | 'worker', env: Record<string, string>): CorralProcess {
  const child = spawn(CORRAL, [command], {
    env: { PATH: process.env.PATH ?? '', CORRAL_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true, // its own process group, pgid = its pid
  });
  const lines: any[] = [];
  const waiting: Array<() => void> = [];
  collectJsonLines(child.stdout!, lines, () => { for (const w of waiting.splice(0)) w(); });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => {
    for (const w of waiting.splice(0)) w();
    r({ code, signal });
  }));
  const pid = child.pid!;
  return {
    child, pid, lines, exit,
    signalGroup(signal) { process.kill(-pid, signal); },
    async line(msg) {
      for (;;) {
        const found = lines.find((l) => l.msg === msg);
        if (found) return found;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`corral ${command} exited before logging "${msg}"`);
        await new Promise<void>((r) => waiting.push(r));
      }
    },
  };
}

/**
 * Waits for the process to exit, at most EXIT_BOUND_MS (then kills its group and fails: a hang).
 * Returns the exit and how long it took from `since`.
 */
export async function exitWithin(p: CorralProcess, since: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  let timer: NodeJS.Timeout | undefined;
  const out = await Promise.race([
    p.exit,
    new Promise<'hang'>((r) => { timer = setTimeout(() => r('hang'), EXIT_BOUND_MS); }),
  ]);
  clearTimeout(timer);
  if (out === 'hang') {
    killGroup(p);
    throw new Error(`corral (pid ${p.pid}) did not exit within ${EXIT_BOUND_MS} ms; last lines: ${JSON.stringify(p.lines.slice(-5))}`);
  }
  return { ...out, ms: Math.round(performance.now() - since) };
}

/** The process' warnings and errors (pino levels ≥ 40), for a failure message. */
export function complaints(p: CorralProcess): string {
  return JSON.stringify(p.lines.filter((l) => l.level >= 40).slice(-10));
}

export function killGroup(p: CorralProcess): void {
  try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
}

export function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/**
 * What the Corral with this pid left on the host: processes in its run cgroups, its cgroups in
 * any hierarchy, its mounts (job volumes), its volume directories. Empty: nothing.
 */
export function leftoversOf(pid: number, stateDir = '/var/lib/corral'): string[] {
  const tag = `corral-${pid}-`;
  const out: string[] = [];
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(tag)) out.push(`process ${p}`);
    } catch { /* gone */ }
  }
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  for (const line of mountinfo) {
    const fields = line.split(' ');
    const fsType = fields[fields.indexOf('-') + 1];
    if (fsType === 'cgroup' || fsType === 'cgroup2') {
      const parent = join(fields[4]!, 'corral');
      try {
        for (const n of readdirSync(parent)) if (n.startsWith(tag)) out.push(`cgroup ${join(parent, n)}`);
      } catch { /* no corral parent in this hierarchy */ }
    }
    if (line.includes(tag)) out.push(`mount ${fields[4]}`);
  }
  try {
    for (const n of readdirSync(join(stateDir, 'volumes'))) if (n.startsWith(tag)) out.push(`volume dir ${n}`);
  } catch { /* none */ }
  return out;
}

/** Starts `n` bash runs that sleep `seconds`, and resolves with their ids once all are running. */
export async function startSleepers(url: string, n: number, seconds: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await api({ url }, 'POST', '/v1/runs', { language: 'bash', source: `sleep ${seconds}; echo done-${i}`, limits: { wallMs: 60_000 } });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    ids.push(r.body.id);
  }
  await waitFor(async () => {
    for (const id of ids) if ((await api({ url }, 'GET', `/v1/runs/${id}`)).body.status !== 'running') return false;
    return true;
  }, 'the runs to start');
  return ids;
}

/** A process's resident memory now and at its peak since the last resetPeak (bytes). */
export function memoryOf(pid: number): { rssBytes: number; peakBytes: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024;
  return { rssBytes: kb('VmRSS'), peakBytes: kb('VmHWM') };
}

/** Resets the process's peak resident memory (VmHWM) to its current RSS (clear_refs 5, root). */
export function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** How far `fn` raised the process's resident memory above what it was at the start (bytes). */
export async function peakGrowth(pid: number, fn: () => Promise<unknown>): Promise<number> {
  resetPeak(pid);
  const before = memoryOf(pid).rssBytes;
  await fn();
  return memoryOf(pid).peakBytes - before;
}
