// The whole machine's CPU time so far, from the first line of /proc/stat: for benchmarks that say
// how busy the host was while they measured (this machine is shared; its load moves every figure).
import { readFileSync } from 'node:fs';

/**
 * All CPUs' time in clock ticks since boot: idle (idle + iowait), busy (the rest of the first
 * eight fields: user, nice, system, irq, softirq, steal) and their sum. Guest time is already in
 * user and nice, so the fields after the eighth are not added.
 */
export function hostCpuTicks(): { idle: number; busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3]! + fields[4]!;
  return { idle, busy: total - idle, total };
}
