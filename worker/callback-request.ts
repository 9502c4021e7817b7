// One callback HTTP request, to an address the operator allows. A callback URL comes from the
// client, and the worker sends it from inside the operator's network: without a rule, any client
// could make Corral PUT into a cloud metadata service or an internal admin port (server-side
// request forgery; Judge0 sends callbacks anywhere). The blocked networks are checked against the
// address actually connected to — after DNS resolution, on every try — so a name that resolves to
// a blocked address (or is re-pointed to one between tries) is refused too.
import http from 'node:http';
import https from 'node:https';
import type { BlockList, LookupFunction } from 'node:net';
import { lookup as dnsLookup } from 'node:dns';
import { isBlocked } from '../services/core/networks.ts';

export class BlockedCallbackError extends Error {
  constructor(readonly url: string, readonly address: string) {
    super(`callback to ${url} refused: ${address} is in CORRAL_CALLBACK_BLOCKED_NETWORKS`);
    this.name = 'BlockedCallbackError';
  }
}

export interface CallbackRequest {
  url: string;
  method: 'POST' | 'PUT';
  /** A stored result's JSON bytes are sent as they are. */
  body: string | Buffer;
  timeoutMs: number;
  blocked: BlockList;
}

/** Sends the request; resolves with the HTTP status. The answer's body is discarded. */
export function sendCallback(req: CallbackRequest): Promise<number> {
  const url = new URL(req.url);
  const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
  if (!client) return Promise.reject(new Error(`callback ${req.url}: only http and https URLs are sent`));
  const literal = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isBlocked(req.blocked, literal)) return Promise.reject(new BlockedCallbackError(req.url, literal));
  // Names are checked after resolution: every address the connection may use must be allowed.
  const lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const bad = addresses.find((a) => isBlocked(req.blocked, a.address));
      if (bad) return callback(new BlockedCallbackError(req.url, bad.address), '', 0);
      if (options.all) return (callback as unknown as (e: null, a: typeof addresses) => void)(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };
  return new Promise<number>((resolve, reject) => {
    const request = client.request(url, {
      method: req.method,
      lookup,
      agent: false, // one connection per try: no pooled socket outlives the address check
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(req.body), 'user-agent': 'corral-callback/1' },
    }, (res) => {
      res.resume();
      res.on('error', () => {});
      resolve(res.statusCode ?? 0);
      request.destroy();
    });
    const timer = setTimeout(() => request.destroy(new Error(`callback ${req.method} ${req.url}: no answer within ${req.timeoutMs} ms`)), req.timeoutMs);
    request.on('close', () => clearTimeout(timer));
    request.on('error', reject);
    request.end(req.body);
  });
}
