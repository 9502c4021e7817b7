// A small HTTP/1.1 client for the load generator: keep-alive connections without a cap (a cap
// would queue requests in the client and turn the open loop into a closed one), JSON bodies, a
// timeout per request. Loopback only.
import http from 'node:http';

export interface Reply { status: number; body: any }

export interface HttpClient {
  request(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<Reply>;
  close(): void;
}

export function httpClient(baseUrl: string, defaultTimeoutMs: number): HttpClient {
  const base = new URL(baseUrl);
  if (base.hostname !== '127.0.0.1') throw new Error(`the load test only talks to 127.0.0.1, not ${base.hostname}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024 });
  const once = (method: string, path: string, payload: Buffer | undefined, timeoutMs: number, retried: boolean): Promise<Reply> =>
    new Promise<Reply>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1', port: base.port, method, path, agent,
        headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try { parsed = JSON.parse(text); } catch { /* not JSON: keep the text */ }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'CLIENT_TIMEOUT' })), timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        // A kept-alive socket the server closed as idle just as this request went out: the
        // server never read it, so sending it again on a fresh socket is safe (Node's
        // documented pattern for request.reusedSocket). Once only.
        if (err.code === 'ECONNRESET' && req.reusedSocket && !retried) resolve(once(method, path, payload, timeoutMs, true));
        else reject(err);
      });
      req.end(payload);
    });
  return {
    request(method, path, body, timeoutMs = defaultTimeoutMs) {
      return once(method, path, body === undefined ? undefined : Buffer.from(JSON.stringify(body)), timeoutMs, false);
    },
    close: () => agent.destroy(),
  };
}
