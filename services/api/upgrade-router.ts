// One `upgrade` listener per HTTP server, handing each WebSocket upgrade to the face whose path it
// is (Piston's /api/v2/connect, Jupyter's /api/kernels/:id/channels); any other path is answered
// 404. Several listeners on the event would each answer a path that is not theirs.
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

interface Route {
  matches: (path: string) => boolean;
  handler: UpgradeHandler;
}

const routers = new WeakMap<Server, Route[]>();

/** Routes upgrades whose path `matches` to `handler`; returns the function that removes the route. */
export function routeUpgrades(server: Server, matches: (path: string) => boolean, handler: UpgradeHandler): () => void {
  let routes = routers.get(server);
  if (!routes) {
    const list: Route[] = [];
    routes = list;
    routers.set(server, list);
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => {});
      let path: string;
      try {
        path = new URL(req.url ?? '/', 'http://localhost').pathname;
      } catch {
        return refuseUpgrade(socket, 400, { message: 'bad request target' });
      }
      const route = list.find((r) => r.matches(path));
      if (!route) return refuseUpgrade(socket, 404, { message: 'Not Found' });
      route.handler(req, socket, head);
    });
  }
  const route: Route = { matches, handler };
  routes.push(route);
  return () => {
    const i = routes.indexOf(route);
    if (i >= 0) routes.splice(i, 1);
  };
}

/** An HTTP answer instead of the upgrade, with a JSON body. */
export function refuseUpgrade(socket: Duplex, status: number, body: object, headers: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  const text = JSON.stringify(body);
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json\r\n${extra}`
    + `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
}
