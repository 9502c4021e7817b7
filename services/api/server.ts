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
  close(): Promise<void>;
}

export function listen(app: Hono, host: string, port: number): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    let server: ServerType;
    server = serve({ fetch: app.fetch, hostname: host, port }, (info: AddressInfo) => {
      resolve({
        port: info.port,
        url: `http://${host.includes(':') ? `[${host}]` : host}:${info.port}`,
        http: server as Server,
        close: () => new Promise<void>((res) => {
          server.close(() => res());
          (server as any).closeAllConnections?.();
        }),
      });
    });
    server.once('error', reject);
  });
}
