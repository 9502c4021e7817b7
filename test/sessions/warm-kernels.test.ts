// The warm pool's refill after a take (worker/sessions/warm-kernels.ts): the next kernel's start
// waits REFILL_AFTER_TAKE_MS, so that its second of CPU does not run beside the taking session's
// first cells. The pool's own logic only, with stand-in kernels that answer the warm-up cell (the
// real kernels, containers and slots are tested end to end in test/e2e/sessions-warm.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../services/core/logger.ts';
import type { BridgeFrame } from '../../worker/sessions/frame-codec.ts';
import type { JupyterMessage } from '../../worker/sessions/frame-codec.ts';
import type { KernelChannel } from '../../worker/sessions/kernel-channel.ts';
import type { JobVolume } from '../../worker/launcher.ts';
import { REFILL_AFTER_TAKE_MS, WarmKernels } from '../../worker/sessions/warm-kernels.ts';

/** A started kernel as far as the pool sees one: ready, answers every shell request at once. */
function standIn(): { channel: KernelChannel; volume: JobVolume } {
  const subscribers = new Set<(frame: BridgeFrame) => void>();
  let closedResolve!: () => void;
  const closed = new Promise<void>((resolve) => { closedResolve = resolve; });
  let isClosed = false;
  const channel = {
    session: 'stand-in',
    ready: Promise.resolve({}),
    closed,
    get isClosed() { return isClosed; },
    subscribe(f: (frame: BridgeFrame) => void) { subscribers.add(f); return () => { subscribers.delete(f); }; },
    onClose() { return () => {}; },
    send(_ch: string, msg: JupyterMessage) {
      const reply = { header: { msg_id: `r-${msg.header.msg_id}`, msg_type: 'execute_reply', session: 'stand-in' }, parent_header: { msg_id: msg.header.msg_id }, metadata: {}, content: { status: 'ok' } };
      queueMicrotask(() => { for (const f of [...subscribers]) f({ kind: 'message', ch: 'shell', msg: reply } as unknown as BridgeFrame); });
    },
    async close() { isClosed = true; closedResolve(); return {}; },
  };
  return { channel: channel as unknown as KernelChannel, volume: { destroy: async () => {} } as unknown as JobVolume };
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
}

function pool(refillAfterTakeMs?: number) {
  let starts = 0;
  const kernels = new WarmKernels({
    perLanguage: 1, languages: ['python'], maxAgeMs: 60 * 60_000, room: () => 3, log: createLogger('silent'),
    async start() { starts++; return standIn(); },
    ...(refillAfterTakeMs !== undefined ? { refillAfterTakeMs } : {}),
  });
  return { kernels, starts: () => starts };
}

describe('warm kernels: the refill after a take', () => {
  it('waits a second by default', () => {
    assert.equal(REFILL_AFTER_TAKE_MS, 1_000);
  });

  it('does not start the next kernel at the take, but once the delay has passed', async () => {
    const { kernels, starts } = pool(60_000);
    try {
      kernels.refill();
      await until('the first kernel is ready', () => kernels.readyCount('python') === 1);
      assert.equal(starts(), 1);
      assert.ok(kernels.take('python'), 'a ready kernel is taken');
      // Nothing is started meanwhile (the delay here is a minute): no second start, no entry.
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(starts(), 1, 'the next kernel started at the take');
      assert.equal(kernels.size, 0);
    } finally {
      await kernels.close();
    }
    assert.equal(starts(), 1, 'a closed pool starts nothing when the delay ends');
  });

  it('starts the next kernel after the delay', async () => {
    const { kernels, starts } = pool(20);
    try {
      kernels.refill();
      await until('the first kernel is ready', () => kernels.readyCount('python') === 1);
      assert.ok(kernels.take('python'));
      await until('the pool refilled', () => kernels.readyCount('python') === 1);
      assert.equal(starts(), 2);
    } finally {
      await kernels.close();
    }
  });
});
