// Starts a hono app with the Judge0 and Piston compat APIs over a RunService on a loopback port
// (port 0), for the contract tests. close() stops the server and the callback watchers.
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import type { RunService } from '../../services/core/run-service.ts';
import { parseJudge0Options, type Judge0OptionsInput } from '../../services/api/compat/judge0/options.ts';
import { mountJudge0 } from '../../services/api/compat/judge0/routes.ts';
import { parsePistonOptions, type PistonOptionsInput } from '../../services/api/compat/piston/options.ts';
import { mountPiston } from '../../services/api/compat/piston/routes.ts';

export interface CompatServer {
  url: string;
  close(): Promise<void>;
}

export async function startCompatServer(
  runService: RunService,
  opts: { judge0?: Judge0OptionsInput; piston?: PistonOptionsInput; bodyLimitBytes?: number; extra?: (app: Hono) => void } = {},
): Promise<CompatServer> {
  const app = new Hono();
  opts.extra?.(app);
  const judge0 = mountJudge0(app, { runService, options: parseJudge0Options({ maxWaitMs: 5_000, ...opts.judge0 }), bodyLimitBytes: opts.bodyLimitBytes });
  mountPiston(app, { runService, options: parsePistonOptions({ maxWaitMs: 5_000, ...opts.piston }), bodyLimitBytes: opts.bodyLimitBytes });
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve, reject) => {
      judge0.close();
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      server.close((err) => (err ? reject(err) : resolve()));
    }),
  };
}
