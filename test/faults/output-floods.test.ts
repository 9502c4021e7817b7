// Issue 22: floods at the output cap through the real stack — separate `corral api` and `corral
// worker` processes on a private redis-server, programs in the real sandbox writing stdout and
// stderr at and beyond the output cap. Asserts no run lost or finished twice, every answer
// bounded (a truncated output flagged), the worker's and the API's peak memory within the
// documented worst case (docs/operations.md#memory, test/faults/memory-bounds.ts: resident memory,
// the kernel's VmHWM, never time), and nothing left behind.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { Redis } from 'ioredis';
import { redisKeys, type EmbeddedRedis } from '../../services/core/redis.ts';
import { startRedis } from '../e2e/harness.ts';
import { IMAGES_DIR, needs, realSandbox } from '../e2e/real-sandbox.ts';
import { apiGetBytes, apiListBytes, compatAnswerBytes, resultJsonBytes, workerRunBytes, workerSlotBytes, type OutputLimits } from './memory-bounds.ts';
import { complaints, exitWithin, killGroup, leftoversOf, peakGrowth, spawnCorral, type CorralProcess } from './processes.ts';

const sb = await realSandbox();
const skip = needs(sb, 'bash');
const MiB = 1024 * 1024;
/** The output cap (the largest outputBytes a run may ask for: the default maximum). */
const CAP = 16 * MiB;
const SLOTS = 4;

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => { for (const c of cleanups.splice(0).reverse()) await c().catch(() => {}); });

let redis: EmbeddedRedis;
let client: Redis;
let prefix: string;
let url: string;
let apiProc: CorralProcess;
let worker: CorralProcess;

before(async () => {
  if (skip) return;
  redis = await startRedis();
  cleanups.push(async () => { await redis.stop(); await rm(dirname(redis.socketPath), { recursive: true, force: true }); });
  prefix = `o${randomUUID().slice(0, 8)}`;
  const env = { REDIS_URL: redis.url, CORRAL_KEY_PREFIX: prefix, CORRAL_IMAGES_DIR: IMAGES_DIR, CORRAL_HEARTBEAT_MS: '200', CORRAL_LOG_LEVEL: 'warn' };
  client = new Redis({ path: redis.socketPath, maxRetriesPerRequest: null });
  client.on('error', () => {});
  cleanups.push(async () => client.disconnect());
  apiProc = spawnCorral('api', { ...env, CORRAL_PORT: '0', CORRAL_LOG_LEVEL: 'info' });
  cleanups.push(async () => killGroup(apiProc));
  url = (await apiProc.line('API listening')).url;
  worker = spawnCorral('worker', { ...env, CORRAL_LOG_LEVEL: 'info', CORRAL_WORKER_SLOTS: String(SLOTS), CORRAL_POOL_MAX_WARM: '0' });
  cleanups.push(async () => killGroup(worker));
  await worker.line('worker started');
});

/**
 * One HTTP request on a connection of its own (no keep-alive): this process is busy for seconds
 * parsing answers of tens of MB, long enough for a kept-alive socket to be closed by the server
 * just as it is used again ("other side closed").
 */
function api(_: { url: string }, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = httpRequest(url + path, {
      method, agent: false,
      headers: data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {},
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let parsed: any = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** A bash program writing `outBytes` to stdout, then `errBytes` to stderr ("y\n" lines). */
function flood(outBytes: number, errBytes: number) {
  return {
    language: 'bash', source: `yes | head -c ${outBytes}; yes | head -c ${errBytes} >&2`,
    limits: { outputBytes: CAP, wallMs: 60_000, cpuMs: 20_000 },
  };
}

async function submit(body: unknown): Promise<string> {
  const r = await api({ url }, 'POST', '/v1/runs', body).catch((e) => { throw new Error(`submit: ${e.message}: ${e.cause}`); });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.id;
}


/** Waits for the run's record to be terminal, reading Redis directly (the API reads nothing). */
async function finishedQuietly(id: string): Promise<void> {
  const key = redisKeys(prefix).run(id);
  for (;;) {
    if (['completed', 'cancelled', 'failed'].includes((await client.hget(key, 'status')) ?? '')) return;
    await new Promise((res) => setTimeout(res, 50));
  }
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;

/** 503 not_ready answers met, over the suite (counted, printed). */
let busy = 0;

/**
 * GET /v1/runs/:id → the result. 503 not_ready is the documented answer while Redis does not
 * answer in time (a loaded host, a result of tens of MB on its way in or out); a few are allowed
 * and counted, then an answer must come.
 */
async function getResult(id: string): Promise<any> {
  for (let attempt = 1; ; attempt++) {
    const r = await api({ url }, 'GET', `/v1/runs/${id}`);
    if (r.status === 503 && r.body?.error?.code === 'not_ready' && attempt < 4) { busy++; continue; }
    assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 300));
    return r.body;
  }
}

test('one run at the output cap: the worker holds its output once and its JSON once; the API\'s peak memory', { skip }, async (t) => {
  // Warm up with a small run and a small GET: the code is loaded and compiled, no big buffer yet.
  const small = await submit(flood(10, 10));
  await finishedQuietly(small);
  await getResult(small);
  const ids: string[] = [];
  const stored = async (id: string) => client.hstrlen(redisKeys(prefix).run(id), 'result');
  const worker1 = await peakGrowth(worker.pid, async () => { ids.push(await submit(flood(CAP, CAP))); await finishedQuietly(ids[0]!); });
  const worker2 = await peakGrowth(worker.pid, async () => { ids.push(await submit(flood(CAP, CAP))); await finishedQuietly(ids[1]!); });
  const textBound = workerRunBytes(2 * CAP, await stored(ids[0]!)) + SLACK;
  t.diagnostic(`one run, stdout and stderr at the ${CAP / MiB} MiB cap (${mib(2 * CAP)} of output, ${mib(await stored(ids[0]!))} of JSON): worker peak +${mib(worker1)} for the first such run (${(worker1 / (2 * CAP)).toFixed(1)} × the output), +${mib(worker2)} for the next (bound ${mib(textBound)})`);
  // The output as bytes once and its JSON once (memory-bounds.ts): the output held again as text,
  // the JSON as a string or a Redis command assembled from it is beyond this.
  assert.ok(worker1 <= textBound, `the first run grew the worker by ${mib(worker1)}, beyond ${mib(textBound)}`);
  assert.ok(worker2 <= textBound, `the next run grew the worker by ${mib(worker2)}, beyond ${mib(textBound)}`);
  // NUL bytes: as JSON text each is six characters; phase-result.ts sends them as base64.
  const workerNul = await peakGrowth(worker.pid, async () => { ids.push(await submit(nulFlood(CAP, CAP))); await finishedQuietly(ids[2]!); });
  const nulBound = workerRunBytes(2 * CAP, await stored(ids[2]!)) + SLACK;
  t.diagnostic(`NUL bytes at the cap: worker +${mib(workerNul)} (bound ${mib(nulBound)}), stored ${mib(await stored(ids[2]!))}`);
  assert.ok(workerNul <= nulBound, `the NUL run grew the worker by ${mib(workerNul)}, beyond ${mib(nulBound)}`);
  const api1 = await peakGrowth(apiProc.pid, async () => {
    const r = await getResult(ids[0]!);
    assert.equal(r.run.stdout.length, CAP);
    assert.equal(r.run.stderr.length, CAP);
    assert.equal(r.run.truncated, false);
  });
  const api2 = await peakGrowth(apiProc.pid, () => getResult(ids[1]!));
  t.diagnostic(`API GET of its result +${mib(api1)}, the next +${mib(api2)}`);
  const apiNul = await peakGrowth(apiProc.pid, () => getResult(ids[2]!));
  t.diagnostic(`NUL bytes at the cap: API GET +${mib(apiNul)}; ${busy} GETs answered 503 not_ready first`);

  // ?wait=true and the SSE terminal event answer with the stored bytes as GET does (2 × the
  // stored JSON: apiGetBytes), not parsed and serialised again (~6 ×).
  let waitedId = '';
  const apiWait = await peakGrowth(apiProc.pid, async () => {
    const r = await api({ url }, 'POST', '/v1/runs?wait=true', flood(CAP, CAP));
    assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 300));
    assert.equal(r.body.run.stdout.length, CAP);
    waitedId = r.body.id;
  });
  const waitBound = 2 * await stored(waitedId) + SLACK;
  const apiSse = await peakGrowth(apiProc.pid, async () => {
    const last = (await sseText(`/v1/runs/${waitedId}/events`)).trim().split('\n\n').at(-1)!;
    assert.match(last, /^event: completed\n/);
    assert.equal(JSON.parse(last.split('\n')[1]!.slice('data: '.length)).result.run.stderr.length, CAP);
  });
  t.diagnostic(`?wait=true of a run at the cap: API +${mib(apiWait)}; its SSE events +${mib(apiSse)} (bound ${mib(waitBound)})`);
  assert.ok(apiWait <= waitBound, `?wait=true grew the API by ${mib(apiWait)}, beyond ${mib(waitBound)}`);
  assert.ok(apiSse <= waitBound, `the SSE stream grew the API by ${mib(apiSse)}, beyond ${mib(waitBound)}`);
});

test('a callback of a run at the output cap: the stored bytes sent as they are, the worker within the run\'s bound and one read', { skip }, async (t) => {
  // A receiver that counts what it gets and keeps nothing.
  const received: number[] = [];
  const rx = createServer((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => { received.push(n); res.end(); });
  });
  await new Promise<void>((res) => rx.listen(0, '127.0.0.1', res));
  try {
    let id = '';
    const growth = await peakGrowth(worker.pid, async () => {
      id = await submit({ ...flood(CAP, CAP), callbackUrl: `http://127.0.0.1:${(rx.address() as AddressInfo).port}/` });
      await finishedQuietly(id);
      while (received.length === 0) await new Promise((res) => setTimeout(res, 50));
    });
    const json = await client.hstrlen(redisKeys(prefix).run(id), 'result');
    assert.deepEqual(received, [json], 'the callback body is not the stored result');
    // The run's peak, then the callback's read of the stored JSON (the reply and the chunks it was
    // put together from) — while the run's own buffers may not have been collected yet.
    const bound = workerRunBytes(2 * CAP, json) + 2 * json + SLACK;
    t.diagnostic(`a run at the cap with a callback: worker +${mib(growth)} (bound ${mib(bound)}), callback body ${mib(received[0]!)}`);
    assert.ok(growth <= bound, `the run and its callback grew the worker by ${mib(growth)}, beyond ${mib(bound)}`);
  } finally {
    await new Promise<void>((res) => { rx.close(() => res()); rx.closeAllConnections(); });
  }
});

/** A whole SSE stream (it ends after the terminal event), as text. */
function sseText(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url + path, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString()));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The stack's limits (the defaults: the processes above set none of them). */
const LIMITS: OutputLimits = { outputCapBytes: CAP, resultOutputMaxBytes: 64 * MiB, collectTotalBytes: 8 * MiB, listMaxBytes: 64 * MiB };
/** What a process grows by that is no run's: code compiled, thread stacks, allocator arenas. */
const SLACK = 64 * MiB;

/** A run writing NUL bytes: each one `\u0000` (6 characters) in JSON, were it sent as text. */
function nulFlood(outBytes: number, errBytes: number) {
  return { ...flood(0, 0), source: `head -c ${outBytes} /dev/zero; head -c ${errBytes} /dev/zero >&2` };
}

/** A stream of the phase as bytes (text or base64, as `encoding` says). */
const bytesOf = (phase: any, stream: 'stdout' | 'stderr') => Buffer.from(phase[stream], phase.encoding === 'base64' ? 'base64' : 'utf8');

test('floods at the output cap: no run lost or finished twice, each answer bounded and truncation flagged, memory within the documented bound', { skip }, async (t) => {
  // Three runs per slot, all at once: text and NUL bytes, exactly at the cap and beyond it.
  const kinds = [
    { name: 'text at the cap', body: flood(CAP, CAP), status: 'accepted', truncated: false },
    { name: 'NUL bytes at the cap', body: nulFlood(CAP, CAP), status: 'accepted', truncated: false },
    { name: 'text beyond the cap', body: flood(CAP + MiB, CAP), status: 'output_limit', truncated: true },
    { name: 'NUL bytes beyond the cap on stderr', body: nulFlood(0, CAP + MiB), status: 'output_limit', truncated: true },
  ];
  const planned = Array.from({ length: 3 * SLOTS }, (_, i) => kinds[i % kinds.length]!);
  const ids: string[] = [];
  const workerGrowth = await peakGrowth(worker.pid, async () => {
    ids.push(...await Promise.all(planned.map((k) => submit(k.body))));
    await Promise.all(ids.map(finishedQuietly));
  });
  const workerBound = SLOTS * workerSlotBytes(LIMITS, 2 * CAP) + SLACK;
  t.diagnostic(`${ids.length} runs flooding at and beyond the ${CAP / MiB} MiB cap on ${SLOTS} slots: worker peak +${mib(workerGrowth)} (bound ${mib(workerBound)})`);
  assert.ok(workerGrowth <= workerBound, `the worker grew by ${mib(workerGrowth)}, beyond the documented ${mib(workerBound)}`);

  // Every run finished once: one terminal event each, its job completed once.
  const keys = redisKeys(prefix);
  for (const id of ids) {
    const events = (await client.lrange(keys.events(id), 0, -1)).map((e) => JSON.parse(e));
    assert.equal(events.filter((e) => ['completed', 'failed', 'cancelled'].includes(e.type)).length, 1, `run ${id}: ${events.map((e) => e.type)}`);
    // Events keep a preview, never the output again: a few hundred KB at most.
    const eventBytes = events.reduce((n, e) => n + JSON.stringify(e).length, 0);
    assert.ok(eventBytes < 512 * 1024, `run ${id}: its events hold ${eventBytes} bytes`);
    // The stored result is within its documented size.
    assert.ok(await client.hstrlen(keys.run(id), 'result') <= resultJsonBytes(LIMITS, 2 * CAP));
  }

  // The answers: the whole output up to the cap, truncation flagged, bytes as written. Four GETs
  // at once; the API's growth is within four times the per-request bound.
  const answers: any[] = [];
  const apiGrowth = await peakGrowth(apiProc.pid, async () => {
    for (let i = 0; i < ids.length; i += 4) answers.push(...await Promise.all(ids.slice(i, i + 4).map(getResult)));
  });
  const apiBound = 4 * apiGetBytes(LIMITS, 2 * CAP) + SLACK;
  t.diagnostic(`API, ${ids.length} GETs of those results four at a time: peak +${mib(apiGrowth)} (bound ${mib(apiBound)}); ${busy} GETs in all answered 503 not_ready first`);
  assert.ok(apiGrowth <= apiBound, `the API grew by ${mib(apiGrowth)}, beyond the documented ${mib(apiBound)}`);
  answers.forEach((r, i) => {
    const k = planned[i]!;
    assert.equal(r.status, 'completed', `${k.name}: ${JSON.stringify(r.error)}`);
    assert.equal(r.verdict, k.status, k.name);
    assert.equal(r.run.truncated, k.truncated, k.name);
    const out = bytesOf(r.run, 'stdout');
    const err = bytesOf(r.run, 'stderr');
    if (k.name.startsWith('NUL')) {
      assert.equal(r.run.encoding, 'base64', `${k.name}: JSON would be 6 × the output as text`);
      assert.ok(err.every((b) => b === 0), k.name);
    }
    if (k.name.endsWith('on stderr')) assert.deepEqual([out.length, err.length], [0, CAP], k.name);
    else assert.equal(out.length, CAP, k.name);
    if (k.truncated === false) assert.equal(err.length, CAP, k.name);
  });

  // A list holding more than CORRAL_LIST_MAX_BYTES is refused before anything is read; one
  // within it is answered.
  const listGrowth = await peakGrowth(apiProc.pid, async () => {
    const all = await api({ url }, 'GET', `/v1/runs?ids=${ids.join(',')}`).catch((e) => { throw new Error(`list: ${e.message}: ${e.cause}`); });
    assert.equal(all.status, 422, JSON.stringify(all.body).slice(0, 300));
    assert.equal(all.body.error.code, 'response_too_large');
    // One result at the cap (~48 MB) fits; two would not. An unknown id is a null.
    const unknown = randomUUID();
    const one = await api({ url }, 'GET', `/v1/runs?ids=${ids[0]},${unknown}`);
    assert.equal(one.status, 200, JSON.stringify(one.body).slice(0, 300));
    assert.deepEqual(one.body.runs.map((r: any) => r?.id ?? null), [ids[0], null]);
    assert.equal(one.body.runs[0].run.stdout.length, CAP);
  });
  t.diagnostic(`API, a list refused and a list of one result and an unknown id: peak +${mib(listGrowth)} (bound ${mib(apiListBytes(LIMITS) + SLACK)})`);
  assert.ok(listGrowth <= apiListBytes(LIMITS) + SLACK);

  // Judge0's batch GET: the same maximum, answered in Judge0's form (never a 500), before any
  // result is read; a batch within it is answered whole, one result re-encoded at a time.
  const refusedGrowth = await peakGrowth(apiProc.pid, async () => {
    const all = await api({ url }, 'GET', `/submissions/batch?tokens=${ids.join(',')}&base64_encoded=true`);
    assert.equal(all.status, 400, JSON.stringify(all.body).slice(0, 300));
    assert.match(all.body.error, /more than the maximum answer of \d+ bytes; ask for fewer tokens/);
  });
  assert.ok(refusedGrowth <= SLACK, `refusing the batch grew the API by ${mib(refusedGrowth)}`);
  // Judge0's paged list of every submission: a page is held to the same maximum.
  const page = await api({ url }, 'GET', '/submissions?per_page=20&base64_encoded=true');
  assert.equal(page.status, 400, JSON.stringify(page.body).slice(0, 300));
  assert.match(page.body.error, /more than the maximum answer of \d+ bytes; ask for a smaller per_page/);
  const batchGrowth = await peakGrowth(apiProc.pid, async () => {
    const one = await api({ url }, 'GET', `/submissions/batch?tokens=${ids[0]},${randomUUID()}&base64_encoded=true&fields=token,stdout,stderr,status`);
    assert.equal(one.status, 200, JSON.stringify(one.body).slice(0, 300));
    assert.equal(one.body.submissions.length, 2);
    assert.equal(one.body.submissions[1], null);
    const s = one.body.submissions[0];
    assert.equal(s.token, ids[0]);
    assert.equal(Buffer.from(s.stdout, 'base64').length, CAP);
    assert.equal(Buffer.from(s.stderr, 'base64').length, CAP);
  });
  const batchBound = apiGetBytes(LIMITS, 2 * CAP) + compatAnswerBytes(LIMITS, 2 * CAP) + SLACK;
  t.diagnostic(`Judge0 batch GET: refused over the maximum +${mib(refusedGrowth)}; one result at the cap +${mib(batchGrowth)} (bound ${mib(batchBound)})`);
  assert.ok(batchGrowth <= batchBound, `the Judge0 batch grew the API by ${mib(batchGrowth)}, beyond ${mib(batchBound)}`);
});

test('nothing left behind', { skip }, async (t) => {
  for (const l of worker.lines.filter((x) => x.level >= 40)) t.diagnostic(`worker: ${JSON.stringify(l).slice(0, 400)}`);
  for (const l of apiProc.lines.filter((x) => x.level >= 40)) t.diagnostic(`api: ${JSON.stringify(l).slice(0, 400)}`);
  worker.child.kill('SIGTERM');
  const out = await exitWithin(worker, performance.now());
  assert.equal(out.code, 0, complaints(worker));
  assert.deepEqual(leftoversOf(worker.pid), []);
});
