// /v1/runs: submit (optionally waiting), get, list by ids, events (SSE), cancel, batch.
import type { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { CorralError } from '../core/errors.ts';
import type { RunService } from '../core/run-service.ts';
import { isTerminal } from '../core/run-store.ts';
import type { RunRequest, RunResult } from '../core/schemas.ts';
import { jsonBody, parseWith } from './validate.ts';
import { asBody, bodyOfParts } from './body-parts.ts';

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
export const SubmitQuery = z.object({ wait: bool.optional() }).strict();
export const ListQuery = z.object({ ids: z.string().min(1).max(100_000) }).strict();
export const RunId = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/);
const BatchBody = z.object({ runs: z.array(z.unknown()).min(1) }).strict();

const accepted = (r: RunResult) => ({ id: r.id, status: r.status });

const COMMA = Buffer.from(',');
const NULL_JSON = Buffer.from('null');

export interface RunRoutesDeps {
  runService: RunService;
  maxWaitMs: number;
  /** Most ids one GET /v1/runs?ids= may name (CORRAL_BATCH_MAX), well-formed or not. */
  batchMax: number;
}

function runIdOr404(raw: string): string {
  if (!RunId.safeParse(raw).success) throw new CorralError('run_not_found', `no run with id ${JSON.stringify(raw.slice(0, 130))}`);
  return raw;
}

export function mountRunRoutes(app: Hono, deps: RunRoutesDeps): void {
  const { runService } = deps;

  app.post('/v1/runs/batch', async (c) => {
    const body = parseWith(BatchBody, await jsonBody(c), 'batch body');
    const results = await runService.submitBatch(body.runs as RunRequest[]);
    return c.json({ runs: results.map(accepted) }, 202);
  });

  app.post('/v1/runs', async (c) => {
    const q = parseWith(SubmitQuery, c.req.query(), 'query');
    const body = await jsonBody(c);
    if (q.wait) {
      // A run finished in time is answered as GET /v1/runs/:id answers it: the stored bytes.
      const out = await runService.submitWaitingJson(body as RunRequest, deps.maxWaitMs);
      if (Buffer.isBuffer(out)) return c.body(asBody(out), 200, { 'content-type': 'application/json' });
      return c.json(accepted(out), 202);
    }
    return c.json(accepted(await runService.submit(body as RunRequest)), 202);
  });

  app.get('/v1/runs', async (c) => {
    const q = parseWith(ListQuery, c.req.query(), 'query');
    const ids = q.ids.split(',').map((s) => s.trim()).filter(Boolean);
    // Every id counts, a malformed one too: each is a place in the answer (a null).
    if (ids.length > deps.batchMax) {
      throw new CorralError('too_many', `ids: at most ${deps.batchMax} ids`, { field: 'ids', maximum: deps.batchMax });
    }
    const valid = ids.map((id) => RunId.safeParse(id).success);
    // Stored JSON bytes, sent as they are, one after another: no parse, no re-serialising and no
    // joined copy of results that may hold megabytes each.
    const found = await runService.getManyJson(ids.filter((_, i) => valid[i]));
    let k = 0;
    const parts: Uint8Array[] = [Buffer.from('{"runs":[')];
    ids.forEach((_, i) => {
      if (i > 0) parts.push(COMMA);
      parts.push((valid[i] ? found[k++] : null) ?? NULL_JSON);
    });
    parts.push(Buffer.from(']}'));
    return c.body(bodyOfParts(parts), 200, { 'content-type': 'application/json' });
  });

  app.get('/v1/runs/:id', async (c) => {
    const id = runIdOr404(c.req.param('id'));
    // The stored JSON bytes as they are (what c.json would make of the parsed result, without
    // holding the result three more times).
    const result = await runService.getJson(id);
    if (!result) throw new CorralError('run_not_found', `no run with id ${id} (unknown or expired)`);
    return c.body(asBody(result), 200, { 'content-type': 'application/json' });
  });

  app.delete('/v1/runs/:id', async (c) => {
    const id = runIdOr404(c.req.param('id'));
    const result = await runService.cancel(id);
    if (!result) throw new CorralError('run_not_found', `no run with id ${id} (unknown or expired)`);
    return c.json(result);
  });

  app.get('/v1/runs/:id/events', async (c) => {
    const id = runIdOr404(c.req.param('id'));
    // Known, its result not read: the terminal event reads it once, as bytes.
    if (!(await runService.exists(id))) throw new CorralError('run_not_found', `no run with id ${id} (unknown or expired)`);
    const lastSeen = Number(c.req.header('last-event-id') ?? 0) || 0;
    return streamSSE(c, async (stream) => {
      const abort = new AbortController();
      stream.onAbort(() => abort.abort());
      const ping = setInterval(() => { void stream.write(': ping\n\n').catch(() => abort.abort()); }, 15_000);
      try {
        for await (const ev of runService.events(id, abort.signal, { resultAsJson: true })) {
          if (ev.seq <= lastSeen) continue;
          const { resultJson, ...event } = ev;
          if (!resultJson) {
            await stream.writeSSE({ id: String(ev.seq), event: ev.type, data: JSON.stringify(event) });
            continue;
          }
          // The terminal event with the stored result's bytes as they are, on the one data line
          // writeSSE would make of it (JSON has no raw line breaks): what JSON.stringify of the
          // event with its result last gave, without the result as text and objects.
          await stream.write(`event: ${ev.type}\ndata: ${JSON.stringify(event).slice(0, -1)},"result":`);
          await stream.write(asBody(resultJson));
          await stream.write(`}\nid: ${ev.seq}\n\n`);
        }
      } finally {
        clearInterval(ping);
      }
    });
  });
}
