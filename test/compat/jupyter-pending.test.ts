// The Jupyter face's pending-kernel registry (services/api/compat/jupyter/pending.ts) on its own:
// how a start's outcome is told and logged, and the bounded wait for a kernel another process is
// starting. The session lookups are a stand-in here (the registry's logic only); the face with a
// real stack is test/e2e/jupyter-pending.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PendingKernels } from '../../services/api/compat/jupyter/pending.ts';
import { CorralError } from '../../services/core/errors.ts';
import type { SessionInfo } from '../../services/core/session-protocol.ts';

const info = (id: string, status: SessionInfo['status']): SessionInfo => ({
  id, status, language: 'python', createdAt: '', lastUsedAt: '', idleTimeoutS: 1, maxLifetimeS: 1,
  limits: { memoryMb: 1, cpuS: 1, cpus: 1, processes: 1, diskMb: 1 }, memoryKb: null, memoryCurrentKb: null, cpuMs: null, usageAt: null, cells: 0, warm: false,
});

function registry(statuses: Array<SessionInfo['status'] | 'gone'>, boundMs = 10_000) {
  const logs: Array<[string, string]> = [];
  const log = { debug: (_: object, m: string) => logs.push(['debug', m]), info: (_: object, m: string) => logs.push(['info', m]), warn: (_: object, m: string) => logs.push(['warn', m]) };
  let looks = 0;
  const sessions = {
    info: async (id: string) => {
      const s = statuses[Math.min(looks++, statuses.length - 1)]!;
      if (s === 'gone') throw new CorralError('session_not_found', `no session ${id}`);
      return info(id, s);
    },
  };
  return { pending: new PendingKernels({ sessions, boundMs, log: log as never }), logs, looks: () => looks };
}
const settled = () => new Promise((r) => setImmediate(r));

describe('pending kernels', () => {
  it('hands a waiting upgrade its own start\'s outcome, and forgets the start once it settled', async () => {
    const { pending, looks } = registry(['starting']);
    let resolve!: (i: SessionInfo) => void;
    pending.add('k1', new Promise((r) => { resolve = r; }));
    assert.equal(pending.size, 1);
    const waiting = pending.started('k1');
    resolve(info('k1', 'ready'));
    assert.equal((await waiting).status, 'ready');
    await settled();
    assert.equal(pending.size, 0);
    assert.equal(looks(), 0, 'its own start was waited for, not the record');
  });

  it('tells a kernel closed while it started as 404, without a warning; other failures keep their status', async () => {
    const { pending, logs } = registry(['gone']);
    const closed = new CorralError('session_start_failed', 'the session did not start (closed)', { id: 'k2', reason: 'closed' }, { 'Retry-After': '5' });
    const ready = Promise.reject(closed);
    pending.add('k2', ready);
    await assert.rejects(pending.started('k2'), (e: CorralError) => e.code === 'session_not_found' && e.status === 404);
    const full = new CorralError('no_session_capacity', 'no worker took it', null, { 'Retry-After': '5' });
    pending.add('k3', Promise.reject(full));
    await assert.rejects(pending.started('k3'), (e: CorralError) => e.code === 'no_session_capacity' && e.headers['Retry-After'] === '5');
    const failed = new CorralError('session_start_failed', 'the kernel did not start', { id: 'k4', reason: 'start_failed' });
    pending.add('k4', Promise.reject(failed));
    await assert.rejects(pending.started('k4'), (e: CorralError) => e.code === 'session_start_failed' && e.status === 503);
    await settled();
    assert.deepEqual(logs.map(([level]) => level), ['debug', 'info', 'warn']);
    assert.equal(pending.size, 0);
  });

  it('polls the record of a kernel it did not start until it is not starting', async () => {
    const { pending, looks } = registry(['starting', 'starting', 'ready']);
    assert.equal((await pending.started('other')).status, 'ready');
    assert.equal(looks(), 3);
  });

  it('gives up after its bound: 503 not_ready with Retry-After, never the kernel half-started', async () => {
    const { pending } = registry(['starting'], 60);
    await assert.rejects(pending.started('slow'), (e: CorralError) => e.code === 'not_ready' && e.status === 503 && e.headers['Retry-After'] === '5');
    // Its own start that never settles: the same bound.
    const own = registry(['starting'], 60);
    own.pending.add('mine', new Promise<SessionInfo>(() => {}));
    await assert.rejects(own.pending.started('mine'), (e: CorralError) => e.code === 'not_ready');
  });
});
