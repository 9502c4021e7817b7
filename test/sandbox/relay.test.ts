// The native relay of a recorded connection (native/src/relay.c through worker/sandbox/relay.ts),
// on its own: real pipes and the real library's threads, this process standing in for both
// programs. What it must keep: the order and budget of the transcript, a plain pipe's
// backpressure, EOF and EPIPE, and a stop that works whatever the programs do. (Through two real
// containers: connect-transcript.test.ts.)
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { Socket } from 'node:net';
import { once } from 'node:events';
import { loadNative } from '../../worker/sandbox/native.ts';
import { SandboxError } from '../../worker/sandbox/errors.ts';
import { startRelay, TRANSCRIPT_ENTRY_COST_BYTES, type Relay, type Transcript } from '../../worker/sandbox/relay.ts';

/** This process's descriptors, each as what it is open on ("pipe:[inode]"). */
function openFiles(): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/self/fd/${fd}`)];
    } catch {
      return []; // closed meanwhile (readdir's own)
    }
  });
}
/** The pipes a test made (each once per end); none may be open after it. */
let testPipes = new Set<string>();
function pipe(): [number, number] {
  const ends = loadNative().pipe();
  testPipes.add(readlinkSync(`/proc/self/fd/${ends[0]}`));
  return ends;
}
const text = (t: Transcript) => t.entries.map((e) => [e.from, e.data.toString()]);

/** The two programs' ends of a relayed connection: what each writes (its stdout) and reads (its stdin). */
interface Link {
  relay: Relay;
  firstOut: Socket;
  firstIn: Socket;
  secondOut: Socket;
  secondIn: Socket;
}

let sockets: Socket[] = [];
function link(budgetBytes: number): Link {
  const [fromFirst, toSecond, fromSecond, toFirst] = [pipe(), pipe(), pipe(), pipe()];
  const relay = startRelay({ fromFirst: fromFirst[0], toSecond: toSecond[1], fromSecond: fromSecond[0], toFirst: toFirst[1] }, budgetBytes);
  const reader = (fd: number) => new Socket({ fd, readable: true, writable: false });
  const writer = (fd: number) => new Socket({ fd, readable: false, writable: true });
  const l = { relay, firstOut: writer(fromFirst[1]), secondIn: reader(toSecond[0]), secondOut: writer(fromSecond[1]), firstIn: reader(toFirst[0]) };
  const made = [l.firstOut, l.secondIn, l.secondOut, l.firstIn];
  for (const s of made) s.on('error', () => {});
  sockets.push(...made);
  return l;
}

/** Reads `n` bytes from a socket. */
async function take(s: Socket, n: number): Promise<string> {
  let got = Buffer.alloc(0);
  while (got.length < n) {
    const chunk = s.read() as Buffer | null;
    if (chunk) got = Buffer.concat([got, chunk]);
    else await once(s, 'readable');
  }
  return got.toString();
}

/** Resolves at the socket's EOF (which a socket read through read() may have reached already). */
function ended(s: Socket): Promise<unknown> {
  return s.readableEnded ? Promise.resolve() : once(s.resume(), 'end');
}

describe('the native relay of a recorded connection', () => {
  beforeEach(() => { testPipes = new Set(); });
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(sockets.map((s) => (s.closed ? undefined : once(s, 'close'))));
    sockets = [];
    assert.deepEqual(openFiles().filter((f) => testPipes.has(f)), [], 'every end of the test\'s pipes is closed (the relay\'s and ours)');
  });

  it('passes both ways; a run of one side\'s bytes is one entry, each entry pays its cost, recording stops at the budget', async () => {
    const l = link(2 * TRANSCRIPT_ENTRY_COST_BYTES + 10);
    l.firstOut.write('ab');
    assert.equal(await take(l.secondIn, 2), 'ab');
    l.firstOut.write('cd');
    assert.equal(await take(l.secondIn, 2), 'cd');
    l.secondOut.write('efghijkl');
    assert.equal(await take(l.firstIn, 8), 'efghijkl', 'past the budget the bytes still pass');
    l.firstOut.write('z');
    assert.equal(await take(l.secondIn, 1), 'z');
    l.firstOut.end();
    l.secondOut.end();
    const t = await l.relay.finish();
    assert.deepEqual(text(t), [['first', 'abcd'], ['second', 'efghij']]);
    assert.equal(t.truncated, true);
  });

  it('a transcript within its budget is whole; an EOF is passed on as EOF', async () => {
    const l = link(1000);
    l.secondOut.end('x');
    assert.equal(await take(l.firstIn, 1), 'x');
    await ended(l.firstIn);
    l.firstOut.end();
    await ended(l.secondIn);
    const t = await l.relay.finish();
    assert.deepEqual(text(t), [['second', 'x']]);
    assert.equal(t.truncated, false);
  });

  it('backpressure: while a side does not read, the relay stops reading the other (a few pipe buffers pass, not the flood), then goes on', async () => {
    const l = link(4096);
    const floodBytes = 16 << 20;
    l.firstOut.write(Buffer.alloc(floodBytes, 'a'));
    // Whatever the machine's speed, the kernel cannot have taken more than the two pipes' buffers
    // and the relay's one chunk while nobody reads the second side.
    await new Promise((r) => setTimeout(r, 300));
    const passedOn = floodBytes - l.firstOut.writableLength;
    assert.ok(passedOn <= 4 * 65536, `${passedOn} bytes left the writer with no reader`);
    let read = 0;
    l.secondIn.on('data', (chunk: Buffer) => { read += chunk.length; });
    l.firstOut.end();
    await once(l.secondIn, 'end');
    assert.equal(read, floodBytes, 'once read, everything arrives');
    l.secondOut.end();
    const t = await l.relay.finish();
    assert.equal(t.truncated, true);
    assert.equal(t.entries[0]!.data.length + TRANSCRIPT_ENTRY_COST_BYTES, 4096);
  });

  it('a reader that is gone: the writer\'s pipe is closed, so its writes fail with EPIPE as on a plain pipe', async () => {
    const l = link(1000);
    l.secondIn.destroy();
    const failed = once(l.firstOut, 'error');
    const writeUntilItFails = setInterval(() => l.firstOut.write('lost\n'), 5);
    try {
      const [err] = (await failed) as [NodeJS.ErrnoException];
      assert.equal(err.code, 'EPIPE');
    } finally {
      clearInterval(writeUntilItFails);
    }
    l.secondOut.end();
    await l.relay.finish();
  });

  it('finish stops a relay whose writer never closes after the grace period; abort stops one at once', async () => {
    const l = link(1000);
    l.firstOut.write('hi');
    assert.equal(await take(l.secondIn, 2), 'hi');
    const t = await l.relay.finish(); // neither writer closed: stopped after EOF_GRACE_MS
    assert.deepEqual(text(t), [['first', 'hi']]);
    await ended(l.secondIn); // its stop closed the relay's ends

    const m = link(1000);
    m.relay.abort();
    await Promise.all([ended(m.secondIn), ended(m.firstIn)]);
    m.relay.abort(); // twice is harmless
  });

  it('abort stops a relay in the middle of a flood that is being read', async () => {
    const l = link(1000);
    let read = 0;
    l.secondIn.on('data', (chunk: Buffer) => { read += chunk.length; });
    const chunk = Buffer.alloc(1 << 20, 'f');
    let writing = true;
    const pump = () => { while (writing && l.firstOut.write(chunk)); if (writing) l.firstOut.once('drain', pump); };
    pump();
    while (read < 4 << 20) await new Promise((r) => setTimeout(r, 5));
    l.relay.abort();
    await ended(l.secondIn); // the relay closed the second's stdin while bytes were still coming
    writing = false;
    assert.ok(read >= 4 << 20);
  });

  it('a budget out of range is refused as a spec error, and the four ends it was given are closed', () => {
    const pipes = [pipe(), pipe(), pipe(), pipe()];
    assert.throws(() => startRelay({ fromFirst: pipes[0]![0], toSecond: pipes[1]![1], fromSecond: pipes[2]![0], toFirst: pipes[3]![1] }, 0),
      (err: unknown) => err instanceof SandboxError && err.code === 'spec');
    // Ours are still open: closing them brings the count back (checked after the test).
    sockets.push(...[pipes[0]![1], pipes[1]![0], pipes[2]![1], pipes[3]![0]].map((fd) => new Socket({ fd, readable: false, writable: false })));
  });
});
