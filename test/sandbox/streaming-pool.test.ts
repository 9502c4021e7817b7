// Streaming runs in warm containers: the pipes travel with the job, so a container built before
// its job (the pool) streams like a cold one; nothing is left after the pool is closed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { SandboxHost } from '../../worker/sandbox/index.ts';
import { busyboxLayers, runStreaming, snapshot } from '../helpers/sandbox.ts';

let layers: string[];
let host: SandboxHost;
let before_: string;
let fdsBefore: number;
const openFds = () => readdirSync('/proc/self/fd').length;

describe('streaming in a warm container', () => {
  before(async () => {
    layers = await busyboxLayers();
    host = SandboxHost.open({ pool: { maxWarm: 1, maxPerImage: 1 } });
    before_ = snapshot(host);
    fdsBefore = openFds();
  });
  after(async () => {
    await host.close();
    assert.equal(snapshot(host), before_, 'the pool left a container behind');
    assert.equal(openFds(), fdsBefore, 'a pipe end was left open in the worker');
  });

  it('streams stdin and stdout through a pooled container', async () => {
    const once = async () => {
      let out = '';
      let sawReady!: () => void;
      const ready = new Promise<void>((r) => { sawReady = r; });
      const run = runStreaming({ layers, argv: ['/bin/sh', '-c', 'echo ready; read x; echo "got $x"'] }, {
        stdinPipe: true,
        maxOutputBytes: 1000,
        onStdout: (c) => { out += c.toString(); if (out.includes('ready\n')) sawReady(); },
        onStderr: () => {},
      }, host);
      await ready;
      run.write('warm\n');
      const o = await run.outcome;
      assert.equal(o.status, 'ok', o.error ?? '');
      assert.equal(out, 'ready\ngot warm\n');
      return o;
    };
    await once(); // cold: the pool learns the image is in demand
    let pooled = false;
    for (let i = 0; i < 20 && !pooled; i++) {
      while (!host.pool!.stats().some((e) => e.warm > 0)) await new Promise((r) => setTimeout(r, 10));
      pooled = (await once()).timings.pooled === true;
    }
    assert.ok(pooled, 'no streaming run was served by a warm container');
  });
});
