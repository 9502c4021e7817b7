// The session relay's fast path against a real redis-server (AOF on, appendfsync always, as the
// embedded one runs): a request and its reply are published, so nothing is written to the AOF on
// their way (no fsync on a cell's path); when a publish reaches nobody, they fall back to the
// streams — a session's commands for good (their order kept), a request's replies from then on.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createLogger } from '../../services/core/logger.ts';
import { StreamReader } from '../../services/core/interactive-streams.ts';
import { kernelStreamState, kernelStreamWriter, eventEntry, kernelEntry } from '../../services/core/session-messages.ts';
import { liveChannel, nudgedRecord, replyToInbox, sendIfLive, SessionInbox, updateRecord, writeAnswerFields } from '../../services/core/session-relay.ts';
import { sessionKeys, type SessionReply } from '../../services/core/session-protocol.ts';
import type { EmbeddedRedis } from '../../services/core/redis.ts';
import { startRedis } from '../e2e/harness.ts';

const SILENCE_MS = 5_000;
const log = createLogger('silent');

describe('session relay (real Redis)', () => {
  let server: EmbeddedRedis;
  const conns: Redis[] = [];
  const connect = () => {
    const c = new Redis({ path: server.url.slice('unix://'.length) });
    conns.push(c);
    return c;
  };
  let redis: Redis;
  const keys = sessionKeys(`t${randomUUID().slice(0, 8)}`);

  before(async () => {
    server = await startRedis();
    redis = connect();
  });
  after(async () => {
    for (const c of conns) c.disconnect();
    await server.stop();
    await rm(dirname(server.socketPath), { recursive: true, force: true });
  });

  /** Bytes of the AOF so far (Redis's own count): what an fsync would have to write. */
  const aofBytes = async () => Number(/aof_current_size:(\d+)/.exec(await redis.info('persistence'))?.[1]);
  const liveSession = async () => {
    const id = randomUUID();
    await redis.hset(keys.record(id), { id, status: 'ready', worker: 'w', beatAt: String(Date.now()) });
    return id;
  };
  /** A subscriber of `channel` that collects what is published there. */
  const subscribe = async (channel: string) => {
    const sub = connect();
    const got: string[] = [];
    sub.on('message', (_ch: string, text: string) => got.push(text));
    await sub.subscribe(channel);
    return { sub, got };
  };
  const until = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(ok(), what);
  };

  it('publishes a command to the subscribed worker: nothing appended, nothing written to the AOF', async () => {
    const id = await liveSession();
    const { got } = await subscribe(liveChannel(keys.input(id)));
    const before = await aofBytes();
    assert.ok(Number.isFinite(before), 'the test Redis runs with an AOF');
    for (let i = 0; i < 5; i++) assert.deepEqual(await sendIfLive(redis, keys, id, { t: 'execute', n: i }, SILENCE_MS), { sent: true });
    await until('the worker got the five commands', () => got.length === 5);
    assert.deepEqual(got.map((t) => JSON.parse(t).n), [0, 1, 2, 3, 4]);
    assert.equal(await redis.exists(keys.input(id)), 0);
    assert.equal(await redis.hget(keys.record(id), 'viaStream'), null);
    assert.equal(await aofBytes(), before, 'a published command wrote to the AOF');
  });

  it('appends a command nobody is subscribed to, and every later one of that session, in order', async () => {
    const id = await liveSession();
    await sendIfLive(redis, keys, id, { n: 0 }, SILENCE_MS);
    assert.equal(await redis.hget(keys.record(id), 'viaStream'), '1');
    // The worker subscribes now (say, its connection came back): the session stays on its stream,
    // so command 1 cannot overtake command 0 that waits there.
    const { got } = await subscribe(liveChannel(keys.input(id)));
    await sendIfLive(redis, keys, id, { n: 1 }, SILENCE_MS);
    const entries = await redis.xrange(keys.input(id), '-', '+');
    assert.deepEqual(entries.map(([, f]) => JSON.parse(f[1]!).n), [0, 1]);
    assert.ok(await redis.ttl(keys.input(id)) > 0, 'the input stream expires');
    assert.deepEqual(got, []);
  });

  it('sends a command bigger than the publish bound by the stream, and every later one of that session with it', async () => {
    const id = await liveSession();
    const { got } = await subscribe(liveChannel(keys.input(id)));
    assert.deepEqual(await sendIfLive(redis, keys, id, { n: 0 }, SILENCE_MS, 100), { sent: true });
    await until('the small command was published', () => got.length === 1);
    assert.deepEqual(await sendIfLive(redis, keys, id, { n: 1, pad: 'x'.repeat(200) }, SILENCE_MS, 100), { sent: true });
    assert.deepEqual(await sendIfLive(redis, keys, id, { n: 2 }, SILENCE_MS, 100), { sent: true });
    assert.equal(await redis.hget(keys.record(id), 'viaStream'), '1');
    const entries = await redis.xrange(keys.input(id), '-', '+');
    assert.deepEqual(entries.map(([, f]) => JSON.parse(f[1]!).n), [1, 2], 'the big one and the one after it wait on the stream, in order');
    assert.deepEqual(got.map((t) => JSON.parse(t).n), [0]);
  });

  it('passes nothing on for an ended session or one whose worker stopped beating; answers the record', async () => {
    const ended = await liveSession();
    await redis.hset(keys.record(ended), 'status', 'ended');
    const r = await sendIfLive(redis, keys, ended, { t: 'execute' }, SILENCE_MS);
    assert.equal(r.sent, false);
    assert.equal(!r.sent && r.record.status, 'ended');
    const silent = await liveSession();
    await redis.hset(keys.record(silent), 'beatAt', String(Date.now() - SILENCE_MS - 1000));
    assert.equal((await sendIfLive(redis, keys, silent, { t: 'execute' }, SILENCE_MS)).sent, false);
    assert.equal((await sendIfLive(redis, keys, randomUUID(), { t: 'execute' }, SILENCE_MS)).sent, false);
    assert.equal(await redis.exists(keys.input(ended), keys.input(silent)), 0);
  });

  it('answers into an API inbox by publish (no AOF write), by its stream when asked or nobody listens; the inbox takes both', async () => {
    const inbox = new SessionInbox(connect(), connect(), redis, keys, log);
    try {
      await inbox.subscribed;
      const rid = randomUUID();
      const replies: SessionReply[] = [];
      const forget = inbox.expect(rid, (m) => replies.push(m));
      const before = await aofBytes();
      assert.equal(await replyToInbox(redis, inbox.key, rid, { t: 'output', output: { type: 'stream', name: 'stdout', text: 'a' } }), true);
      await until('the published reply arrived', () => replies.length === 1);
      assert.equal(await aofBytes(), before, 'a published reply wrote to the AOF');
      // streamOnly (an earlier reply of this request went to the stream): appended, and still received.
      assert.equal(await replyToInbox(redis, inbox.key, rid, { t: 'done', ok: true, body: 2 }, true), false);
      await until('the appended reply arrived', () => replies.length === 2);
      assert.deepEqual(replies.map((m) => m.t), ['output', 'done']);
      forget();
    } finally {
      await inbox.close();
    }
    // An inbox nobody subscribes to (its API process is gone, or reconnecting): appended, capped, expiring.
    const orphan = keys.inbox(randomUUID());
    assert.equal(await replyToInbox(redis, orphan, 'r1', { t: 'done', ok: true, body: null }), false);
    assert.equal(await redis.xlen(orphan), 1);
    assert.ok(await redis.ttl(orphan) > 0);
  });

  it('writes an answer\'s record fields in the answer\'s round trip without an AOF write, only to a record that exists', async () => {
    const inbox = new SessionInbox(connect(), connect(), redis, keys, log);
    try {
      await inbox.subscribed;
      const id = await liveSession();
      const rid = randomUUID();
      const replies: SessionReply[] = [];
      const forget = inbox.expect(rid, (m) => replies.push(m));
      const before = await aofBytes();
      const fields = { lastUsedAt: '2026-12-07T14:00:00.000Z', cells: '7', cpuMs: '12' };
      assert.equal(await replyToInbox(redis, inbox.key, rid, { t: 'done', ok: true, body: 2 }, false, { key: keys.record(id), fields }), true);
      // Written by the time the answer's round trip returns, so by the time the API has the answer.
      const h = await redis.hgetall(keys.record(id));
      assert.deepEqual({ lastUsedAt: h.lastUsedAt, cells: h.cells, cpuMs: h.cpuMs }, fields);
      assert.equal(h.status, 'ready', 'the other fields are kept');
      await until('the answer arrived', () => replies.length === 1);
      assert.equal(await aofBytes(), before, 'the answer or its record fields wrote to the AOF (an fsync on the cell\'s way)');
      forget();
      // Appended (nobody listens, or streamOnly): the append is logged as before, the fields still are not.
      const appended = await aofBytes();
      assert.equal(await replyToInbox(redis, inbox.key, randomUUID(), { t: 'done', ok: true, body: 3 }, true, { key: keys.record(id), fields: { cells: '8' } }), false);
      assert.equal(await redis.hget(keys.record(id), 'cells'), '8');
      const aof = await redis.info('persistence');
      assert.ok(Number(/aof_current_size:(\d+)/.exec(aof)?.[1]) > appended, 'the fallback append is in the AOF');
    } finally {
      await inbox.close();
    }
    // A record that is gone (expired, ended and swept) does not come back as a few fields.
    const gone = keys.record(randomUUID());
    await replyToInbox(redis, keys.inbox(randomUUID()), 'r2', { t: 'done', ok: true, body: null }, false, { key: gone, fields: { cells: '1' } });
    assert.equal(await redis.exists(gone), 0);
  });
  it('writes a local answer\'s record fields without an AOF write, only to a record that exists', async () => {
    const id = await liveSession();
    const before = await aofBytes();
    const fields = { lastUsedAt: '2026-12-07T16:00:00.000Z', cells: '3', cpuMs: '40' };
    assert.equal(await writeAnswerFields(redis, keys.record(id), fields), true);
    const h = await redis.hgetall(keys.record(id));
    assert.deepEqual({ lastUsedAt: h.lastUsedAt, cells: h.cells, cpuMs: h.cpuMs }, fields);
    assert.equal(h.status, 'ready', 'the other fields are kept');
    assert.equal(await aofBytes(), before, 'the record fields wrote to the AOF');
    const gone = keys.record(randomUUID());
    assert.equal(await writeAnswerFields(redis, gone, { cells: '1' }), false);
    assert.equal(await redis.exists(gone), 0, 'a record that is gone came back as a few fields');
    assert.equal(await writeAnswerFields(redis, keys.record(id), {}), false);
  });

  it('appends kernel messages to the kernel stream in order and expiring, without an AOF write; a new feed reads the state', async () => {
    const key = `${keys.record(randomUUID())}:kernel`;
    const errors: Error[] = [];
    const append = kernelStreamWriter(redis, key, (err) => errors.push(err));
    const before = await aofBytes();
    // Entries made in one turn go as one script; three turns here, then an event.
    for (let turn = 0; turn < 3; turn++) {
      for (let i = 0; i < 3; i++) append(kernelEntry('iopub', `p${turn}`, `{"n":${turn * 3 + i},"header":{"msg_type":"status","session":"k1"},"content":{"execution_state":"idle"}}`));
      await new Promise((r) => setImmediate(r));
    }
    append(eventEntry('dead', { message: 'gone' }));
    let entries: Array<[string, string[]]> = [];
    for (let i = 0; i < 500 && entries.length < 10; i++) {
      entries = await redis.xrange(key, '-', '+');
      if (entries.length < 10) await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(entries.length, 10);
    assert.deepEqual(entries.slice(0, 9).map(([, f]) => JSON.parse(f[1]!.split('\t')[2]!).n), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(entries[9]![1][1], eventEntry('dead', { message: 'gone' }));
    assert.ok(await redis.ttl(key) > 0, 'the kernel stream expires');
    assert.equal(await aofBytes(), before, 'a kernel message was written to the AOF (an fsync on its way)');
    assert.deepEqual(errors, []);
    // What a feed that connects now reads (kernelStreamState): from the last entry, the kernel dead, its session.
    assert.deepEqual(await kernelStreamState(redis, key), { from: entries[9]![0], dead: true, session: 'k1' });
  });

  it('wakes a stream reader for a newly followed stream without an AOF write', async () => {
    const reader = new StreamReader(connect(), redis, keys.wake, log);
    try {
      const first = `${keys.record(randomUUID())}:a`;
      const got: string[] = [];
      reader.follow(first, (t) => got.push(t));
      // The reader now sits in a blocking read of `first`; following `second` wakes it (a wake
      // entry), so that what is appended there is read without waiting out the block.
      await new Promise((r) => setTimeout(r, 50));
      const before = await aofBytes();
      const second = `${keys.record(randomUUID())}:b`;
      reader.follow(second, (t) => got.push(t));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(await aofBytes(), before, 'the wake entry was written to the AOF');
      await redis.xadd(second, '*', 'm', 'hello');
      await until('the new stream is read', () => got.length === 1);
      assert.deepEqual(got, ['hello']);
    } finally {
      await reader.close();
    }
  });

  it('writes record fields only to a record that exists, with the capacity entry, and nudges the starting API with the record as it is', async () => {
    const inbox = new SessionInbox(connect(), connect(), redis, keys, log);
    try {
      await inbox.subscribed;
      const id = randomUUID();
      await redis.hset(keys.record(id), { id, status: 'starting', language: 'python' });
      const bodies: unknown[] = [];
      const forget = inbox.expect(id, (m) => { if (m.t === 'done' && m.ok) bodies.push(m.body); });
      const capacity = { field: `w-${id}`, value: '{"slots":2,"held":1,"at":1}' };
      assert.equal(await updateRecord(redis, keys, id, { worker: 'w1', status: 'ready', warmKernel: '1' }, { nudge: inbox.key, capacity }), true);
      assert.equal(await redis.hget(keys.workers, capacity.field), capacity.value, 'the capacity entry is written with the record');
      await until('the nudge arrived', () => bodies.length === 1);
      assert.deepEqual(nudgedRecord(bodies[0], id), { id, status: 'ready', language: 'python', worker: 'w1', warmKernel: '1' });
      assert.deepEqual(await redis.hgetall(keys.record(id)), { id, status: 'ready', language: 'python', worker: 'w1', warmKernel: '1' });
      assert.equal(await redis.ttl(keys.record(id)), -1, 'no expiry unless asked');
      assert.equal(await updateRecord(redis, keys, id, { status: 'ended' }, { ttlS: 60 }), true);
      assert.ok(await redis.ttl(keys.record(id)) > 0);
      // A record that is gone (expired, withdrawn) does not come back as a few fields; the nudge says there is none.
      const gone = randomUUID();
      const goneBodies: unknown[] = [];
      const forgetGone = inbox.expect(gone, (m) => { if (m.t === 'done' && m.ok) goneBodies.push(m.body); });
      assert.equal(await updateRecord(redis, keys, gone, { status: 'ready' }, { nudge: inbox.key }), false);
      await until('the nudge for the missing record arrived', () => goneBodies.length === 1);
      assert.equal(goneBodies[0], null);
      assert.equal(await redis.exists(keys.record(gone)), 0);
      // Only a record of the session it names, all strings, is taken from a nudge.
      assert.equal(nudgedRecord({ id: 'other', status: 'ready' }, id), undefined);
      assert.equal(nudgedRecord({ id, cells: 1 }, id), undefined);
      assert.equal(nudgedRecord(null, id), undefined);
      forget();
      forgetGone();
    } finally {
      await inbox.close();
    }
  });
});
