// Limit defaults live in services/core/limit-defaults.ts (the API's); the sandbox's fallback for a
// spec that leaves a limit out and the C debug launcher's repeat the values (neither may import
// them) and must agree with them: this test is what keeps the three one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../../services/core/config.ts';
import { DEFAULT_LIMITS } from '../../worker/sandbox/index.ts';

const MiB = 1024 * 1024;

test('the sandbox falls back to a run\'s API defaults', () => {
  const api = loadConfig({}).limits.run.defaults;
  assert.equal(DEFAULT_LIMITS.cpuMs, api.cpuMs);
  assert.equal(DEFAULT_LIMITS.wallMs, api.wallMs);
  assert.equal(DEFAULT_LIMITS.memoryBytes, api.memoryMb * MiB);
  assert.equal(DEFAULT_LIMITS.processes, api.processes);
  assert.equal(DEFAULT_LIMITS.outputBytes, api.outputBytes);
  assert.equal(DEFAULT_LIMITS.diskBytes, api.diskMb * MiB);
  assert.equal(DEFAULT_LIMITS.fileSizeBytes, api.fileSizeMb * MiB);
  assert.equal(DEFAULT_LIMITS.stackBytes, api.stackMb * MiB);
});

test('native/cli/corral-run.c uses the same defaults', () => {
  const c = readFileSync(new URL('../../native/cli/corral-run.c', import.meta.url), 'utf8');
  const value = (field: string) => {
    const m = new RegExp(`s\\.${field} = (\\d+)(?: << (\\d+))?`).exec(c);
    assert.ok(m, `corral-run.c sets ${field}`);
    return Number(m[1]) * 2 ** Number(m[2] ?? 0);
  };
  assert.equal(value('cpu_ms'), DEFAULT_LIMITS.cpuMs);
  assert.equal(value('wall_ms'), DEFAULT_LIMITS.wallMs);
  assert.equal(value('memory_bytes'), DEFAULT_LIMITS.memoryBytes);
  assert.equal(value('processes'), DEFAULT_LIMITS.processes);
  assert.equal(value('output_bytes'), DEFAULT_LIMITS.outputBytes);
  assert.equal(value('disk_bytes'), DEFAULT_LIMITS.diskBytes);
  assert.equal(value('fsize_bytes'), DEFAULT_LIMITS.fileSizeBytes);
  assert.equal(value('nofile'), DEFAULT_LIMITS.openFiles);
});
