// An API process's reply inbox for session answers (services/core/session-relay.ts) is made when
// the API starts, not by its first session request (that cost the first session start ~25 ms:
// two connections and a subscription), and the API's shutdown closes it: its connections, its
// channel and its stream are gone. Real Redis, the real API stack (no worker needed).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Redis } from 'ioredis';
import type { EmbeddedRedis } from '../../services/core/redis.ts';
import { sessionKeys } from '../../services/core/session-protocol.ts';
import { startRedis, startStack } from '../e2e/harness.ts';

describe('session inbox at API start (real Redis)', () => {
  let server: EmbeddedRedis;
  let probe: Redis;

  before(async () => {
    server = await startRedis();
    probe = new Redis({ path: server.url.slice('unix://'.length) });
  });
  after(async () => {
    probe.disconnect();
    await server.stop();
    await rm(dirname(server.socketPath), { recursive: true, force: true });
  });

  /** Names of the clients connected now (the inbox's are corral-sessions-api and -api-sub). */
  const clientNames = async () => String(await probe.client('LIST')).split('\n')
    .map((l) => /(?:^| )name=(\S*)/.exec(l)?.[1] ?? '').filter((n) => n !== '');

  it('subscribes the inbox before the first session request, and closes it on shutdown', async () => {
    const stack = await startStack({ redis: server, worker: false });
    const keys = sessionKeys(stack.config.keyPrefix);
    const pattern = `${keys.inbox('*')}:live`;
    let stopped = false;
    try {
      // No request has been made: the inbox's channel is subscribed already.
      const channels = await probe.pubsub('CHANNELS', pattern) as string[];
      assert.equal(channels.length, 1, `one inbox channel subscribed at start, got ${JSON.stringify(channels)}`);
      const names = await clientNames();
      assert.ok(names.includes('corral-sessions-api-sub'), `the inbox's subscriber is connected: ${names.join(', ')}`);
      assert.ok(names.includes('corral-sessions-api'), `the inbox's reader is connected: ${names.join(', ')}`);
      await stack.stop();
      stopped = true;
      assert.deepEqual(await probe.pubsub('CHANNELS', pattern), [], 'no inbox channel left subscribed');
      const left = (await clientNames()).filter((n) => n.startsWith('corral-sessions-api'));
      assert.deepEqual(left, [], 'no inbox connection left');
      assert.deepEqual(await probe.keys(keys.inbox('*')), [], 'no inbox stream left');
    } finally {
      if (!stopped) await stack.stop();
    }
  });
});
