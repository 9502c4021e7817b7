// Two connected programs with their exchange recorded (host.connect with transcriptBytes): the
// bytes are relayed through the worker with backpressure instead of going container to
// container. Real sandbox, busybox shells.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TRANSCRIPT_ENTRY_COST_BYTES, type Transcript } from '../../worker/sandbox/index.ts';
import { busyboxLayers, connectInSandbox, expectNothingLeftBehind, testHost } from '../helpers/sandbox.ts';

let layers: string[];
const sh = (script: string, limits = {}) => ({ layers, argv: ['/bin/sh', '-c', script], limits: { wallMs: 20_000, cpuMs: 10_000, ...limits } });
const text = (t: Transcript) => t.entries.map((e) => `${e.from === 'first' ? '>' : '<'}${e.data.toString()}`).join('');
const bytes = (t: Transcript) => t.entries.reduce((n, e) => n + e.data.length, 0);
const cost = (t: Transcript) => t.entries.reduce((n, e) => n + e.data.length + TRANSCRIPT_ENTRY_COST_BYTES, 0);

describe('connected runs with a transcript', () => {
  before(async () => { layers = await busyboxLayers(); testHost(); });
  expectNothingLeftBehind();

  it('records both directions in order, and the exchange is the same as on plain pipes', async () => {
    const asker = sh('i=0; while [ $i -lt 50 ]; do echo "ping $i"; read reply; [ "$reply" = "pong $i" ] || { echo "bad: $reply" >&2; exit 3; }; i=$((i+1)); done; echo "asker done $i" >&2');
    const answerer = sh('n=0; while read line; do echo "pong ${line#ping }"; n=$((n+1)); done; echo "answered $n" >&2');
    const { first, second, transcript } = await connectInSandbox(asker, answerer, undefined, { transcriptBytes: 1 << 20 });
    assert.equal(first.status, 'ok', first.stderr.toString());
    assert.equal(second.status, 'ok', second.stderr.toString());
    assert.equal(second.stderr.toString(), 'answered 50\n');
    assert.ok(transcript);
    assert.equal(transcript.truncated, false);
    const want = Array.from({ length: 50 }, (_, i) => `>ping ${i}\n<pong ${i}\n`).join('');
    assert.equal(text(transcript), want);
    // Each side waits for the other's line, so the entries alternate: one per line.
    assert.equal(transcript.entries.length, 100);
  });

  it('stops recording at the budget (entries pay their cost) and the exchange goes on to its end', async () => {
    const asker = sh('i=0; while [ $i -lt 200 ]; do echo "ping $i"; read reply; i=$((i+1)); done; echo "asked $i" >&2');
    const answerer = sh('while read line; do echo "pong ${line#ping }"; done');
    const budget = 300;
    const { first, transcript } = await connectInSandbox(asker, answerer, undefined, { transcriptBytes: budget });
    assert.equal(first.status, 'ok');
    assert.equal(first.stderr.toString(), 'asked 200\n', 'the relay went on past the budget');
    assert.ok(transcript?.truncated);
    assert.ok(cost(transcript) <= budget, `${cost(transcript)} > ${budget}`);
    assert.ok(cost(transcript) > budget - 2 * (TRANSCRIPT_ENTRY_COST_BYTES + 10), `${cost(transcript)}: the budget was used`);
    assert.ok(text(transcript).startsWith('>ping 0\n<pong 0\n>ping 1\n'), text(transcript));
  });

  it('a side that floods a reader that never reads is held by backpressure until its wall limit; nothing piles up here', async () => {
    // 200 MB offered; the reader never reads: the relay's pending write stays pending, it stops
    // reading the flooder, whose writes block. A relay that buffered would take 200 MB here.
    const flooder = sh('head -c 200000000 /dev/zero; echo "flooder wrote it all" >&2', { wallMs: 1500 });
    const sleeper = sh('sleep 5', { wallMs: 3000 });
    const rssBefore = process.memoryUsage().rss;
    const { first, second, transcript } = await connectInSandbox(flooder, sleeper, undefined, { transcriptBytes: 4096 });
    assert.equal(first.status, 'time_limit');
    assert.equal(first.limit, 'wall');
    assert.equal(first.stderr.toString(), '', 'the flooder never got all its bytes out');
    assert.notEqual(second.status, 'internal_error');
    assert.ok(transcript?.truncated);
    assert.equal(bytes(transcript) + TRANSCRIPT_ENTRY_COST_BYTES, 4096);
    const grewMb = (process.memoryUsage().rss - rssBefore) / (1 << 20);
    assert.ok(grewMb < 64, `the worker grew by ${grewMb.toFixed(0)} MiB`);
  });

  it('a side that closes early: the other reads EOF, and its writes then fail (SIGPIPE) as on a plain pipe', async () => {
    const quitter = sh('echo bye; exec 0<&-; exit 0');
    const talker = sh('read first; echo "read: $first" >&2; if read more; then echo "more" >&2; else echo "eof" >&2; fi; sleep 0.2; i=0; while [ $i -lt 2000 ]; do echo "still talking $i" || exit 9; i=$((i+1)); done; echo "wrote all" >&2');
    const { first, second, transcript } = await connectInSandbox(quitter, talker, undefined, { transcriptBytes: 1 << 16 });
    assert.equal(first.status, 'ok');
    assert.match(second.stderr.toString(), /^read: bye\neof\n/);
    assert.doesNotMatch(second.stderr.toString(), /wrote all/, 'a write to a gone reader failed');
    assert.ok(second.signal === 'SIGPIPE' || second.exitCode === 9, `${second.status} ${second.signal} ${second.exitCode}`);
    assert.ok(transcript);
    assert.equal(transcript.entries[0]?.from, 'first');
    assert.equal(transcript.entries[0]?.data.toString(), 'bye\n');
  });

  it('a side whose container cannot be built: the other reads EOF, the transcript holds what the other wrote', async () => {
    const broken = { layers: ['/nonexistent/layer'], argv: ['true'] };
    const { first, second, transcript } = await connectInSandbox(broken, sh('echo hello; if read x; then echo "got $x" >&2; else echo eof >&2; fi'), undefined, { transcriptBytes: 1024 });
    assert.equal(first.status, 'internal_error');
    assert.equal(second.stderr.toString(), 'eof\n');
    assert.ok(transcript);
    assert.ok(transcript.entries.every((e) => e.from === 'second'));
  });
});
