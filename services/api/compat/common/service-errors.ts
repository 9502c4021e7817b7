// Classifies an error thrown by RunService so each compat API can answer in its own error shape.
// RunService (services/core) throws registry errors carrying an HTTP status and a stable code;
// this module reads them structurally so the compat layer does not depend on the registry's
// class names. Anything unrecognised is an internal failure of the service, not of the input.

export type ServiceErrorKind =
  | { kind: 'queue_full'; message: string; retryAfterSeconds?: number }
  | { kind: 'invalid'; message: string; field?: string }
  | { kind: 'too_large'; message: string }
  | { kind: 'unavailable'; message: string }
  | { kind: 'internal'; message: string };

function httpStatusOf(err: any): number | undefined {
  const s = err?.status ?? err?.statusCode ?? err?.httpStatus;
  return typeof s === 'number' ? s : undefined;
}

/** Maps a thrown value to a kind; `field` is the offending request field when the error names one. */
export function classifyServiceError(err: unknown): ServiceErrorKind {
  const e = err as any;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const code = typeof e?.code === 'string' ? e.code.toUpperCase() : '';
  const status = httpStatusOf(e);
  if (status === 503 && /QUEUE|FULL|BACKPRESSURE/.test(code + ' ' + message.toUpperCase())) {
    return { kind: 'queue_full', message, retryAfterSeconds: retryAfterOf(e) };
  }
  if (code.includes('QUEUE_FULL')) return { kind: 'queue_full', message, retryAfterSeconds: retryAfterOf(e) };
  if (status === 413) return { kind: 'too_large', message };
  if (status === 503) return { kind: 'unavailable', message };
  if (status !== undefined && status >= 400 && status < 500) {
    return { kind: 'invalid', message: detailMessageOf(e) ?? message, field: fieldOf(e) };
  }
  if (e?.name === 'ZodError' || Array.isArray(e?.issues)) {
    const issue = e.issues?.[0];
    const field = Array.isArray(issue?.path) ? issue.path.join('.') : undefined;
    return { kind: 'invalid', message: issue ? `${field}: ${issue.message}` : message, field };
  }
  return { kind: 'internal', message };
}

function fieldOf(e: any): string | undefined {
  const d = e?.details ?? e?.detail;
  if (typeof d?.field === 'string') return d.field;
  if (typeof e?.field === 'string') return e.field;
  const issue = Array.isArray(d?.issues) ? d.issues[0] : Array.isArray(d) ? d[0] : undefined;
  if (typeof issue?.field === 'string') return issue.field;
  if (Array.isArray(issue?.path)) return issue.path.join('.');
  if (typeof issue?.path === 'string') return issue.path;
  return undefined;
}

function detailMessageOf(e: any): string | undefined {
  const d = e?.details ?? e?.detail;
  const issue = Array.isArray(d?.issues) ? d.issues[0] : Array.isArray(d) ? d[0] : d;
  return typeof issue?.message === 'string' ? issue.message : undefined;
}

function retryAfterOf(e: any): number | undefined {
  const v = e?.retryAfterSeconds ?? e?.details?.retryAfterSeconds ?? e?.headers?.['retry-after'] ?? e?.headers?.['Retry-After'];
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}
