// Serves the hono app on @hono/node-server; resolves once listening (port 0 = any free port).
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RunningServer {
  port: number;
  url: string;
  /** The Node HTTP server (for WebSocket upgrades: services/api/compat/piston/connect.ts). */
  http: Server;
  /**
   * Stops listening, lets requests in progress answer for up to `drainMs` (closing each
   * connection once it is idle), then closes whatever is still open.
   */
  close(drainMs?: number): Promise<void>;
}

/** How often idle connections are closed while draining. */
const DRAIN_POLL_MS = 25;

export function listen(app: Hono, host: string, port: number): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    let server: ServerType;
    server = serve({ fetch: app.fetch, hostname: host, port }, (info: AddressInfo) => {
      resolve({
        port: info.port,
        url: `http://${host.includes(':') ? `[${host}]` : host}:${info.port}`,
        http: server as Server,
        close: (drainMs = 0) => new Promise<void>((res) => {
          const http = server as Server;
          const poll = setInterval(() => http.closeIdleConnections(), DRAIN_POLL_MS);
          const cut = setTimeout(() => http.closeAllConnections(), drainMs);
          http.close(() => { clearInterval(poll); clearTimeout(cut); res(); });
          http.closeIdleConnections();
          if (drainMs <= 0) http.closeAllConnections();
        }),
      });
    });
    server.once('error', reject);
  });
}
