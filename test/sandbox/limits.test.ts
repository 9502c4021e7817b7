// Limits and supervision: every status the launcher can report, each caused for real.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SandboxError, type SandboxSpec } from '../../worker/sandbox/index.ts';
import { busyboxLayers, expectNothingLeftBehind, runInSandbox, testHost } from '../helpers/sandbox.ts';

let layers: string[];
const sh = (script: string, extra: Partial<SandboxSpec> = {}) => runInSandbox({ layers, argv: ['/bin/sh', '-c', script], ...extra });

describe('limits and outcomes', () => {
  before(async () => {
    layers = await busyboxLayers();
  });
  expectNothingLeftBehind();

  it('reports ok with exit code 0, and runtime_error with the exit code', async () => {
    const ok = await sh('echo out; echo err >&2');
    assert.equal(ok.status, 'ok');
    assert.equal(ok.exitCode, 0);
    assert.equal(ok.signal, null);
    assert.equal(ok.stdout.toString(), 'out\n');
    assert.equal(ok.stderr.toString(), 'err\n');
    const bad = await sh('exit 42');
    assert.equal(bad.status, 'runtime_error');
    assert.equal(bad.exitCode, 42);
  });

  for (const sig of ['SEGV', 'FPE', 'ABRT', 'KILL']) {
    it(`names the killing signal SIG${sig}`, async () => {
      const r = await sh(`kill -${sig} $$`);
      assert.equal(r.status, 'runtime_error');
      assert.equal(r.exitCode, null);
      assert.equal(r.signal, `SIG${sig}`);
    });
  }

  it('feeds stdin from bytes, binary-safe', async () => {
    const input = Buffer.from([0, 1, 2, 255, 10, 65]);
    const r = await runInSandbox({ layers, argv: ['cat'], stdin: input });
    assert.deepEqual(r.stdout, input);
  });

  it('can merge stderr into stdout', async () => {
    const r = await sh('echo a; echo b >&2; echo c', { mergeStderr: true });
    assert.equal(r.stdout.toString(), 'a\nb\nc\n');
    assert.equal(r.stderr.length, 0);
  });

  it('stops a busy loop at the CPU limit', async () => {
    const r = await sh('while :; do :; done', { limits: { cpuMs: 300, wallMs: 10_000 } });
    assert.equal(r.status, 'time_limit');
    assert.equal(r.limit, 'cpu');
    assert.ok(r.cpuMs >= 300, `cpu ${r.cpuMs} ms`);
    assert.equal(r.signal, 'SIGKILL');
  });

  it('stops a sleeper at the wall-clock limit', async () => {
    const r = await sh('sleep 100', { limits: { wallMs: 300 } });
    assert.equal(r.status, 'time_limit');
    assert.equal(r.limit, 'wall');
    assert.ok(r.wallMs >= 300 && r.cpuMs < 300, `wall ${r.wallMs} cpu ${r.cpuMs}`);
  });

  it('counts CPU burned by every process of the run, not just the main one', async () => {
    // The shell's `times` reports the CPU its reaped children used; the cgroup's figure must
    // cover all of it (CPU time is the same whatever else the machine is doing).
    const burn = 'i=0; while [ $i -lt 60000 ]; do i=$((i+1)); done';
    const r = await sh(`(${burn}) & (${burn}) & (${burn}) & wait; times`, { limits: { cpus: 2 } });
    assert.equal(r.status, 'ok', r.stderr.toString());
    const children = r.stdout.toString().trim().split('\n').at(-1)!;
    const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
    assert.ok(seconds >= 0.05, `the children used ${seconds} s: ${children}`);
    assert.ok(r.cpuMs >= seconds * 1000 * 0.9, `cgroup ${r.cpuMs} ms < the children's ${seconds * 1000} ms (${children})`);
  });

  it('reports memory_limit when the cgroup OOM-kills a hog, with the peak near the limit', async () => {
    const limit = 32 << 20;
    const r = await runInSandbox({ layers, argv: ['awk', 'BEGIN { s = "xxxxxxxxxxxxxxxx"; while (1) s = s s }'], limits: { memoryBytes: limit, cpuMs: 20_000, wallMs: 40_000 } }); // generous time: the UML kernel is slow
    assert.equal(r.status, 'memory_limit', JSON.stringify({ ...r, stdout: undefined, stderr: r.stderr.toString() }));
    assert.equal(r.limit, 'memory');
    assert.ok(r.memoryKb * 1024 > limit / 2 && r.memoryKb * 1024 <= limit + (1 << 20), `peak ${r.memoryKb} KiB`);
  });

  it('reports the peak memory of a normal run', async () => {
    const r = await sh('head -c 20000000 /dev/zero > /dev/shm/x; echo done', { limits: { memoryBytes: 128 << 20 } });
    assert.equal(r.status, 'ok', r.stderr.toString());
    assert.ok(r.memoryKb > 18_000, `peak ${r.memoryKb} KiB`);
  });

  it('stops `yes` at the output cap and keeps exactly the cap', async () => {
    const r = await runInSandbox({ layers, argv: ['yes'], limits: { outputBytes: 100_000 } });
    assert.equal(r.status, 'output_limit');
    assert.equal(r.limit, 'output');
    assert.equal(r.stdout.length, 100_000);
    assert.ok(r.stdoutTruncated);
    assert.ok(!r.stderrTruncated);
  });

  it('contains a fork bomb with the pids limit and leaves nothing', async () => {
    const r = await sh('bomb() { bomb | bomb & }; bomb; sleep 1; echo survived', { limits: { processes: 32, wallMs: 3000 } });
    assert.ok(['ok', 'runtime_error', 'time_limit'].includes(r.status), r.status);
    assert.match(r.stderr.toString() + r.stdout.toString(), /can't fork|Resource temporarily unavailable|survived/);
  });

  it('applies the file size limit (SIGXFSZ)', async () => {
    const r = await sh('head -c 200000 /dev/zero > /tmp/f', { limits: { fileSizeBytes: 100_000 } });
    assert.equal(r.status, 'runtime_error');
    assert.equal(r.signal, 'SIGXFSZ');
  });

  it('kills a run when its signal aborts, and says cancelled', async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 200);
    const r = await sh('sleep 100', { signal: abort.signal, limits: { wallMs: 60_000 } });
    assert.equal(r.status, 'cancelled');
    assert.ok(r.wallMs < 30_000, `wall ${r.wallMs}`);
    const early = await sh('true', { signal: AbortSignal.abort() });
    assert.equal(early.status, 'cancelled');
  });

  it('reports a missing program as a runtime error with exit 127 and the reason', async () => {
    const r = await runInSandbox({ layers, argv: ['no-such-program'] });
    assert.equal(r.status, 'runtime_error');
    assert.equal(r.exitCode, 127);
    assert.match(r.error ?? '', /execve no-such-program: No such file or directory/);
    assert.equal(r.failure, undefined, 'the program failing to start is not a sandbox failure');
  });

  it('reports a broken image as internal_error naming the failed step, and cleans up', async () => {
    const before = testHost().setupRetries;
    const r = await runInSandbox({ layers: ['/nonexistent/layer'], argv: ['true'] });
    assert.equal(r.status, 'internal_error');
    assert.match(r.error ?? '', /mount overlay on .*\/root: No such file or directory/);
    // The failure keeps its meaning from C up: which step, which operation, which errno.
    assert.equal(r.failure?.code, 'container');
    assert.equal(r.failure?.step, 'mount-plan');
    assert.equal(r.failure?.op, 'mount');
    assert.equal(r.failure?.errno, 2);
    assert.equal(r.failure?.retriable, true);
    // A failed mount plan is built again once (nothing of the job ran), and only once.
    assert.equal(r.timings.setupRetried, true);
    assert.equal(testHost().setupRetries, before + 1);
  });

  it('refuses an invalid spec with a SandboxError naming it, before anything runs', async () => {
    await assert.rejects(runInSandbox({ layers: ['relative/layer'], argv: ['true'] }),
      (err: unknown) => err instanceof SandboxError && err.code === 'spec' && !err.retriable && /layer path/.test(err.message));
    await assert.rejects(runInSandbox({ layers, argv: ['true'], hostname: 'bad host' }),
      (err: unknown) => err instanceof SandboxError && err.code === 'spec');
  });

  it('reports setup timings that add up to less than the total', async () => {
    const r = await runInSandbox({ layers, argv: ['true'] });
    const t = r.timings;
    for (const [k, v] of Object.entries(t)) assert.ok(v >= 0, `${k} = ${v}`);
    assert.ok(t.cgroupMs + t.namespacesMs + t.mountsMs + t.execMs + t.teardownMs <= t.totalMs + 0.01, JSON.stringify(t));
  });
});
