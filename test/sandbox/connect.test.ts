// Two programs connected stdout ⇄ stdin (host.connect), each in its own fresh container with its
// own cgroup and limits — the shape an interactor and a solution need. The pipes run from
// container to container; each one's stderr is captured as usual.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { busyboxLayers, connectInSandbox, expectNothingLeftBehind, testHost } from '../helpers/sandbox.ts';

let layers: string[];
const sh = (script: string, limits = {}) => ({ layers, argv: ['/bin/sh', '-c', script], limits: { wallMs: 20_000, cpuMs: 10_000, ...limits } });

describe('connected runs', () => {
  before(async () => { layers = await busyboxLayers(); testHost(); });
  expectNothingLeftBehind();

  it('exchanges lines both ways, in order, and captures each stderr apart', async () => {
    const asker = sh('i=0; while [ $i -lt 200 ]; do echo "ping $i"; read reply; [ "$reply" = "pong $i" ] || { echo "bad: $reply" >&2; exit 3; }; i=$((i+1)); done; echo "asker done $i" >&2');
    const answerer = sh('n=0; while read line; do echo "pong ${line#ping }"; n=$((n+1)); done; echo "answered $n" >&2');
    const { first, second } = await connectInSandbox(asker, answerer);
    assert.equal(first.status, 'ok', first.stderr.toString());
    assert.equal(second.status, 'ok', second.stderr.toString());
    assert.equal(first.stderr.toString(), 'asker done 200\n');
    assert.equal(second.stderr.toString(), 'answered 200\n');
    assert.equal(first.stdout.length + second.stdout.length, 0, 'connected stdout is not captured');
  });

  it('gives each program its own container: own pid namespace, hostname and limits', async () => {
    // Each sees only its own processes (its pid namespace): the other's `cat`/`head` never shows.
    const procs = 'for p in /proc/[0-9]*; do cat $p/comm; done | sort | tr "\\n" " " >&2; echo >&2';
    const a = { ...sh(`hostname >&2; ${procs}; cat > /dev/null`, { memoryBytes: 32 << 20 }), hostname: 'first' };
    const b = { ...sh(`hostname >&2; ${procs}; exec head -c 200000000 /dev/zero | cat > /dev/shm/x`, { memoryBytes: 16 << 20 }), hostname: 'second' };
    const { first, second } = await connectInSandbox(a, b);
    const [firstHost, firstProcs] = first.stderr.toString().split('\n');
    const [secondHost, secondProcs] = second.stderr.toString().split('\n');
    assert.equal(firstHost, 'first');
    assert.equal(secondHost, 'second');
    assert.doesNotMatch(firstProcs!, /head/);
    assert.doesNotMatch(secondProcs!, /\bcat\b.*\bcat\b/);
    // Only the second one's cgroup runs out of memory; the first ends normally (EOF on its stdin).
    assert.equal(second.status, 'memory_limit');
    assert.equal(first.status, 'ok');
  });

  it('one side exiting early closes the other side\'s stdin (EOF) and stdout (EPIPE)', async () => {
    const quitter = sh('echo bye; exit 0');
    const reader = sh('read first; echo "read: $first" >&2; if read more; then echo "more: $more" >&2; else echo "eof" >&2; fi');
    const { first, second } = await connectInSandbox(quitter, reader);
    assert.equal(first.status, 'ok');
    assert.equal(second.stderr.toString(), 'read: bye\neof\n');
    // Each end on one clock (its dispatch plus its wall time: the interactive verdict's "who ended first").
    const { endedMs } = await connectInSandbox(quitter, reader);
    assert.ok(endedMs.first > 0 && endedMs.second > 0, JSON.stringify(endedMs));
  });

  it('mutual waiting ends at a wall limit (the other side then reads EOF), and a cancel stops both at once', async () => {
    // Long enough for both containers to start even under the slow cgroup v2 test kernel.
    const { first, second } = await connectInSandbox(sh('read x', { wallMs: 2000 }), sh('read y', { wallMs: 2000 }));
    // Whichever container started first reaches its limit first; its end closes the other's
    // stdin, which then may read EOF (exit 1) a moment before its own limit.
    const ends = [first, second].map((o) => `${o.status}/${o.limit ?? ''}`).sort();
    assert.ok(ends.includes('time_limit/wall'), ends.join(' '));
    for (const end of ends) assert.ok(['time_limit/wall', 'runtime_error/'].includes(end), ends.join(' '));
    const ac = new AbortController();
    const running = connectInSandbox(sh('sleep 30'), sh('sleep 30'), ac.signal);
    setTimeout(() => ac.abort(), 200);
    const stopped = await running;
    assert.equal(stopped.first.status, 'cancelled');
    assert.equal(stopped.second.status, 'cancelled');
  });

  it('a side whose container cannot be built fails alone; the other reads EOF', async () => {
    const broken = { layers: ['/nonexistent/layer'], argv: ['true'] };
    const { first, second } = await connectInSandbox(broken, sh('if read x; then echo "got $x" >&2; else echo eof >&2; fi'));
    assert.equal(first.status, 'internal_error');
    assert.equal(first.failure?.step, 'mount-plan');
    assert.equal(second.status, 'ok');
    assert.equal(second.stderr.toString(), 'eof\n');
  });
});
