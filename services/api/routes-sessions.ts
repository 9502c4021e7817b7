// /v1/sessions: notebook sessions (docs/sessions.md). Start, inspect and end a session; run cells
// in it (optionally streamed as Server-Sent Events); interrupt or restart its kernel; put, list
// and get files in its /box. Everything goes through SessionService (services/core).
import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { CorralError } from '../core/errors.ts';
import { BoxPath, SessionId } from '../core/session-protocol.ts';
import type { SessionService } from '../core/session-service.ts';
import { jsonBody, parseWith } from './validate.ts';

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const ExecuteQuery = z.object({ stream: bool.optional() }).strict();
/** A file path checked as a field, so that a 422's details name it (`path`), not the value's root. */
const FilePathField = z.object({ path: BoxPath });

function sessionId(c: Context): string {
  const raw = c.req.param('id') ?? '';
  if (!SessionId.safeParse(raw).success) throw new CorralError('session_not_found', `no session with id ${JSON.stringify(raw.slice(0, 64))}`);
  return raw;
}

/** The file path after /files/, decoded and checked (422 when it is not a plain relative path). */
function filePath(c: Context, id: string): string {
  const prefix = `/v1/sessions/${id}/files/`;
  const raw = c.req.path.startsWith(prefix) ? c.req.path.slice(prefix.length) : '';
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    throw new CorralError('validation_failed', 'the file path is not valid percent-encoding', [{ field: 'path', message: 'bad percent-encoding' }]);
  }
  return parseWith(FilePathField, { path }, 'file path').path;
}

export function mountSessionRoutes(app: Hono, sessions: SessionService): void {
  app.post('/v1/sessions', async (c) => {
    const info = await sessions.create(await jsonBody(c));
    return c.json({ id: info.id, status: info.status }, 201);
  });

  app.get('/v1/sessions/:id', async (c) => c.json(await sessions.info(sessionId(c))));

  app.delete('/v1/sessions/:id', async (c) => c.json(await sessions.close(sessionId(c))));

  app.post('/v1/sessions/:id/execute', async (c) => {
    const id = sessionId(c);
    const q = parseWith(ExecuteQuery, c.req.query(), 'query');
    const body = await jsonBody(c);
    if (!q.stream) return c.json(await sessions.execute(id, body));
    // Errors that can be known before the cell runs are plain HTTP answers, not stream events:
    // a bad request (422) and a session that is not live (404, 410).
    const cell = sessions.checkCell(body);
    await sessions.live(id);
    return streamSSE(c, async (stream) => {
      let seq = 0;
      try {
        const result = await sessions.runCell(id, cell, (output) => {
          stream.writeSSE({ id: String(++seq), event: 'output', data: JSON.stringify(output) }).catch(() => {});
        });
        await stream.writeSSE({ id: String(++seq), event: 'result', data: JSON.stringify(result) });
      } catch (err) {
        const e = err instanceof CorralError ? err : new CorralError('internal', 'internal error; see the server log');
        await stream.writeSSE({ id: String(++seq), event: 'error', data: JSON.stringify({ status: e.status, ...e.toBody() }) });
      }
    });
  });

  app.post('/v1/sessions/:id/interrupt', async (c) => c.json(await sessions.interrupt(sessionId(c)) as object));

  app.post('/v1/sessions/:id/restart', async (c) => c.json(await sessions.restart(sessionId(c)) as object));

  app.get('/v1/sessions/:id/files', async (c) => c.json(await sessions.listFiles(sessionId(c)) as object));

  app.put('/v1/sessions/:id/files/*', async (c) => {
    const id = sessionId(c);
    const path = filePath(c, id);
    const data = Buffer.from(await c.req.arrayBuffer());
    return c.json(await sessions.putFile(id, path, data) as object, 201);
  });

  app.get('/v1/sessions/:id/files/*', async (c) => {
    const id = sessionId(c);
    const data = await sessions.getFile(id, filePath(c, id));
    return c.body(new Uint8Array(data), 200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) });
  });
}
