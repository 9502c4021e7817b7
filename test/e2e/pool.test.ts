// `corral up` with the warm pool on: runs are served from containers and job volumes made ahead of
// need, the pool shows in /metrics, and SIGTERM destroys every warm container and volume (no
// process, cgroup, run directory, mount or volume of this Corral is left).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readdir } from 'node:fs/promises';
import { readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, spawnCorralUp, waitFor } from './harness.ts';
import { IMAGES_DIR, needs, realSandbox } from './real-sandbox.ts';
import { cgroupParentDirs, detectCgroups } from '../../worker/sandbox/cgroups.ts';

const sb = await realSandbox();

/** Processes whose cgroup names a run of the Corral with this pid. */
function runProcessesOf(pid: number): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(`corral-${pid}-`);
    } catch {
      return false;
    }
  }).map(Number);
}

test('corral up with CORRAL_POOL_MAX_WARM serves warm containers and removes them on SIGTERM', { skip: needs(sb, 'bash') }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'corral-pool-'));
  const { child, lines, exit } = spawnCorralUp({
    CORRAL_DATA_DIR: dataDir, CORRAL_PORT: '0', CORRAL_IMAGES_DIR: IMAGES_DIR,
    CORRAL_LOG_LEVEL: 'info', CORRAL_WORKER_SLOTS: '1', CORRAL_POOL_MAX_WARM: '2',
  });
  try {
    const listening = await waitFor(async () => lines.find((l) => l.msg === 'API listening'), 'the API to listen');
    assert.ok(lines.some((l) => l.msg === 'warm pool on'), 'the worker says the pool is on');
    const s = { url: listening.url as string };
    for (let i = 0; i < 6; i++) {
      const r = await api(s, 'POST', '/v1/runs?wait=true', { language: 'bash', source: `echo run-${i}; ls /tmp` });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.run.stdout, `run-${i}\n`, 'a clean /tmp every time');
      await new Promise((res) => setTimeout(res, 50));
    }
    const metrics = String((await api(s, 'GET', '/metrics')).body);
    const hits = [...metrics.matchAll(/^corral_pool_hits\{image="([^"]+)"\} (\d+)/gm)];
    assert.ok(hits.some(([, , n]) => Number(n) > 0), `no pool hits in /metrics:\n${metrics.split('\n').filter((l) => l.startsWith('corral_pool')).join('\n')}`);
    assert.ok(hits.every(([, image]) => /^[a-z]/.test(image!)), 'pool metrics are labelled with image names');
    assert.match(metrics, /^corral_pool_handoffs\{image="[a-z][^"]*"\} \d+$/m, 'hand-offs are counted per image');
    const volumeHits = /^corral_pool_volume_hits (\d+)/m.exec(metrics);
    assert.ok(volumeHits && Number(volumeHits[1]) > 0, `no warm volume was used:\n${metrics.split('\n').filter((l) => l.startsWith('corral_pool_volume')).join('\n')}`);
    assert.ok(runProcessesOf(child.pid!).length > 0, 'warm containers are waiting');
    const cgroupsOf = (pid: number) => cgroupParentDirs(detectCgroups('corral')).flatMap((d) => readdirSync(d).filter((n) => n.startsWith(`corral-${pid}-`)));
    assert.ok(cgroupsOf(child.pid!).length > 0, 'warm containers have their cgroups');
    const volumesDir = '/var/lib/corral/volumes';
    assert.ok((await readdir(volumesDir)).some((n) => n.startsWith(`corral-${child.pid}-`)), 'warm volumes are waiting');
    child.kill('SIGTERM');
    assert.equal(await exit, 0);
    assert.deepEqual(runProcessesOf(child.pid!), [], 'a warm container survived SIGTERM');
    assert.deepEqual(cgroupsOf(child.pid!), [], 'a warm container\'s cgroup survived SIGTERM');
    assert.deepEqual((await readdir(volumesDir)).filter((n) => n.startsWith(`corral-${child.pid}-`)), [], 'a warm volume survived SIGTERM');
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(`${volumesDir}/corral-${child.pid}-`), 'a warm volume is still mounted');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    const redisPid = lines.find((l) => l.msg === 'embedded redis started')?.pid;
    if (redisPid) try { process.kill(redisPid, 'SIGKILL'); } catch { /* stopped */ }
    await rm(dataDir, { recursive: true, force: true });
  }
});
