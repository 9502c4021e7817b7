// An API process with a local port (API and worker in one process) counts, per session, the
// commands it sent by Redis and has no answer to yet, so that the session's later commands follow
// them by Redis, in order (services/core/session-service.ts, docs/sessions.md "The cell in one
// process"). A command never answered (its bound passed) stays counted; the sweep forgets the
// count once the session is over (ended, or its record expired), and keeps it while it is live.
// Real Redis; the session is a record only (no worker answers: that is the point).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../services/core/config.ts';
import { createLogger } from '../../services/core/logger.ts';
import { connectRedis, type EmbeddedRedis } from '../../services/core/redis.ts';
import { SessionService } from '../../services/core/session-service.ts';
import { startRedis } from '../e2e/harness.ts';

describe('the unanswered-command counts of a process with a local port (real Redis)', () => {
  let dir: string | undefined;
  let server: EmbeddedRedis | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-unanswered-'));
    server = await startRedis(dir);
  });
  after(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps a live session\'s count after an unanswered command, and forgets it once the session ended or expired', async () => {
    const prefix = `tu${Math.random().toString(16).slice(2, 8)}`;
    const config = loadConfig({ REDIS_URL: server!.url, CORRAL_KEY_PREFIX: prefix, CORRAL_SESSION_ANSWER_MARGIN_MS: '100' });
    const redis = connectRedis(server!.url, 'test-unanswered');
    // A local port that holds no session: every request goes by Redis, and is counted.
    const svc = new SessionService({ config, redis, redisUrl: server!.url, log: createLogger('silent', 'test'), local: { find: () => undefined, written: async () => {} } });
    try {
      await svc.open();
      const live = { status: 'ready', worker: 'gone', beatAt: String(Date.now()), createdAt: new Date().toISOString(), lastUsedAt: new Date().toISOString(), language: 'python', cells: '0', limits: '{}', idleTimeoutS: '600', maxLifetimeS: '3600' };
      const ids = ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'];
      for (const id of ids) await redis.hset(svc.keys.record(id), { id, ...live });
      // Sent (live: appended for a worker that never reads it), never answered: its bound (2 × the margin) passes.
      for (const id of ids) {
        await assert.rejects(svc.interrupt(id), (err: { code?: string }) => err.code === 'session_unresponsive');
      }
      assert.equal(svc.unansweredSessions, 2, 'both sessions counted after their unanswered commands');
      await svc.sweepUnanswered();
      assert.equal(svc.unansweredSessions, 2, 'live sessions keep their counts');
      await redis.hset(svc.keys.record(ids[0]!), 'status', 'ended');
      await redis.del(svc.keys.record(ids[1]!));
      await svc.sweepUnanswered();
      assert.equal(svc.unansweredSessions, 0, 'an ended and an expired session are forgotten');
    } finally {
      await svc.shutdown();
      redis.disconnect();
    }
  });
});
