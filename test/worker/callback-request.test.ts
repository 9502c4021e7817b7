// The callback address rule: networks parsed from configuration, and the check made on the
// address actually connected to (literal or resolved), so no callback reaches a blocked network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isBlocked, parseNetworks } from '../../services/core/networks.ts';
import { DEFAULT_BLOCKED_NETWORKS, loadConfig } from '../../services/core/config.ts';
import { BlockedCallbackError, sendCallback } from '../../worker/callback-request.ts';

test('parseNetworks: CIDRs and single addresses of both families; bad entries name themselves', () => {
  const b = parseNetworks(' 10.0.0.0/8 , 192.0.2.7, fd00::/8 ,');
  assert.equal(isBlocked(b, '10.200.3.4'), true);
  assert.equal(isBlocked(b, '11.0.0.1'), false);
  assert.equal(isBlocked(b, '192.0.2.7'), true);
  assert.equal(isBlocked(b, '192.0.2.8'), false);
  assert.equal(isBlocked(b, 'fd12::1'), true);
  assert.equal(isBlocked(b, 'fe80::1'), false);
  assert.equal(isBlocked(b, 'not-an-address'), false);
  for (const bad of ['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0.0/8/1', '10.0.0.0/x', '1.2.3']) {
    assert.throws(() => parseNetworks(bad), new RegExp(bad.replace(/[./]/g, '\\$&')));
  }
});

test('the default blocks cloud metadata, link-local and 0.0.0.0 (also as IPv4-mapped IPv6), not loopback or private networks', () => {
  const b = parseNetworks(DEFAULT_BLOCKED_NETWORKS);
  for (const a of ['169.254.169.254', '::ffff:169.254.169.254', 'fd00:ec2::254', 'fe80::1', '0.0.0.0', '::']) assert.equal(isBlocked(b, a), true, a);
  for (const a of ['127.0.0.1', '::1', '10.1.2.3', '192.168.1.1', '93.184.216.34']) assert.equal(isBlocked(b, a), false, a);
});

test('config: a bad CORRAL_CALLBACK_BLOCKED_NETWORKS is refused at start with the variable named', () => {
  assert.throws(() => loadConfig({ CORRAL_CALLBACK_BLOCKED_NETWORKS: '10.0.0.0/8,nonsense' }), /CORRAL_CALLBACK_BLOCKED_NETWORKS/);
  assert.equal(loadConfig({}).callback.blockedNetworks, DEFAULT_BLOCKED_NETWORKS);
});

test('sendCallback: sends to an allowed address; refuses a blocked one by literal, bracketed IPv6 or resolved name, without connecting', async () => {
  let hits = 0;
  const server = createServer((req, res) => { hits++; req.resume(); req.on('end', () => res.end('ok')); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const send = (url: string, blocked: string) => sendCallback({ url, method: 'PUT', body: '{}', timeoutMs: 5000, blocked: parseNetworks(blocked) });
    assert.equal(await send(`http://127.0.0.1:${port}/x`, DEFAULT_BLOCKED_NETWORKS), 200);
    assert.equal(hits, 1);
    await assert.rejects(send(`http://127.0.0.1:${port}/x`, '127.0.0.0/8'), BlockedCallbackError);
    await assert.rejects(send(`http://localhost:${port}/x`, '127.0.0.0/8,::1/128'), BlockedCallbackError);
    await assert.rejects(send(`http://[::1]:${port}/x`, '::1/128'), BlockedCallbackError);
    await assert.rejects(send(`ftp://127.0.0.1:${port}/x`, ''), /only http and https/);
    assert.equal(hits, 1);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
