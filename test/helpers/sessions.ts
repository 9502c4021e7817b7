// What the session suites (test/e2e/sessions*.test.ts) read from answers and from the host.
import { readFileSync } from 'node:fs';
import { processesInOurRuns, testHost } from './sandbox.ts';

/** An HTTP answer (or its body) for an assertion message, cut to a readable length. */
export const show = (r: any) => JSON.stringify(r.body ?? r).slice(0, 1500);

/** A cell result's `execute_result` as text/plain (undefined when it has none). */
export const plain = (r: any) => r.outputs?.find((o: any) => o.type === 'execute_result')?.data?.['text/plain'];

/** Kernel containers of this process's runs, counted by their bridges (one per container). */
export const bridges = () => processesInOurRuns(testHost()).filter((pid) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kernel-bridge');
  } catch {
    return false; // exited while we looked
  }
}).length;

/**
 * A bound for work that scales with exec/fork/syscall speed (a kernel's start, a fork bomb): ×5
 * inside the cgroup v2 User-Mode-Linux kernel (CG2_VM; ../shared/tools/cg2-kernel), where every
 * fork and syscall is slow — a bound, never an assertion about speed.
 */
export const slowVmBound = (ms: number) => (process.env.CG2_VM ? ms * 5 : ms);
