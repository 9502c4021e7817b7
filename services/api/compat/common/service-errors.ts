// Classifies an error thrown by RunService so each compat API can answer in its own shape.
// RunService throws CorralError (services/core/errors.ts) with a stable code; this module switches
// on that code and nothing else: no probing of status fields, no reading of messages. Anything that
// is not a CorralError with one of the codes below is a failure of the service, not of the input.
import { CorralError, type ErrorCode } from '../../../core/errors.ts';

export type ServiceErrorKind =
  | { kind: 'queue_full'; message: string; retryAfterSeconds?: number }
  | { kind: 'invalid'; message: string; field?: string }
  | { kind: 'too_large'; message: string }
  | { kind: 'unavailable'; message: string; retryAfterSeconds?: number }
  | { kind: 'internal'; message: string };

/** The codes a face answers as the client's fault (422/400 in the face's shape). */
const INVALID_CODES: ReadonlySet<ErrorCode> = new Set(['validation_failed', 'limit_exceeded', 'too_many', 'unknown_language']);

/** Maps a thrown value to a kind; `field` is the offending request field when the error names one. */
export function classifyServiceError(err: unknown): ServiceErrorKind {
  if (!(err instanceof CorralError)) {
    return { kind: 'internal', message: err instanceof Error ? err.message : String(err) };
  }
  if (INVALID_CODES.has(err.code)) {
    const detail = firstDetail(err.details);
    return { kind: 'invalid', message: detail?.message ?? err.message, field: detail?.field };
  }
  switch (err.code) {
    case 'queue_full':
      return { kind: 'queue_full', message: err.message, retryAfterSeconds: retryAfterOf(err) };
    case 'not_ready':
      return { kind: 'unavailable', message: err.message, retryAfterSeconds: retryAfterOf(err) };
    case 'payload_too_large':
      return { kind: 'too_large', message: err.message };
    default:
      return { kind: 'internal', message: err.message };
  }
}

/** An `invalid` kind as one line of text: "field: message", without saying the field twice. */
export function invalidText(k: { message: string; field?: string }): string {
  return k.field && !k.message.startsWith(k.field) ? `${k.field}: ${k.message}` : k.message;
}

/**
 * The first `{field, message}` of a CorralError's details. The registry's shapes: a list of
 * `{field, message}` (validation_failed, from zodDetails), a list of `{field, value, maximum}`
 * (limit_exceeded) or one `{field, …}` object (too_many, unknown_language).
 */
function firstDetail(details: unknown): { field?: string; message?: string } | undefined {
  const first: unknown = Array.isArray(details) ? details[0] : details;
  if (typeof first !== 'object' || first === null) return undefined;
  const { field, message } = first as { field?: unknown; message?: unknown };
  return {
    ...(typeof field === 'string' ? { field } : {}),
    ...(typeof message === 'string' ? { message } : {}),
  };
}

/** Retry-After as the error carries it (its headers), in whole seconds. */
function retryAfterOf(err: CorralError): number | undefined {
  const header = Object.entries(err.headers).find(([name]) => name.toLowerCase() === 'retry-after')?.[1];
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : undefined;
}
