// CPU placement through the whole stack with the production worker (worker/start-worker.ts, its own
// SandboxHost): with 2 slots on a host of 2 or more CPUs a run's affinity mask holds one CPU; with
// CORRAL_CPU_PLACEMENT=off it holds the host's. Runs as the worker runs them: HTTP → Redis → worker.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { api, startStack, type Stack } from './harness.ts';
import { needs, realSandbox } from './real-sandbox.ts';
import { detectCgroups, parseCpuList } from '../../worker/sandbox/cgroups.ts';

const hostCpus = parseCpuList(/^Cpus_allowed_list:\s*(.*)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!);
const cpusetMounted = (() => { try { return 'cpuset' in detectCgroups('corral'); } catch { return false; } })();
const sb = await realSandbox();
const skip = needs(sb, 'python') || (!cpusetMounted ? 'no cpuset controller on this host' : hostCpus.length < 2 ? 'the host has one CPU' : false);
if (skip) console.log(`# e2e CPU placement skipped: ${skip}`);

const AFFINITY = 'import os; print(len(os.sched_getaffinity(0)))';

async function affinityThrough(env: Record<string, string>): Promise<string> {
  let stack: Stack | undefined;
  try {
    stack = await startStack({ worker: true, env: { CORRAL_WORKER_SLOTS: '2', CORRAL_POOL_MAX_WARM: '0', CORRAL_PROC_VIEW: 'off', ...env } });
    const r = await api(stack, 'POST', '/v1/runs?wait=true', { language: 'python', source: AFFINITY });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.status, 'completed', JSON.stringify(r.body));
    return String(r.body.run.stdout).trim();
  } finally {
    await stack?.stop();
  }
}

describe('CPU placement through the worker', { skip }, () => {
  it('2 slots on 2+ CPUs: a run sees one CPU', async () => {
    assert.equal(await affinityThrough({}), '1');
  });
  it('CORRAL_CPU_PLACEMENT=off: a run sees the host\'s CPUs', async () => {
    assert.equal(await affinityThrough({ CORRAL_CPU_PLACEMENT: 'off' }), String(hostCpus.length));
  });
});
