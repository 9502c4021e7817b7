// One registry of API errors with stable codes. Routes throw CorralError; one onError turns it into
// `{"error":{"code","message","details"}}` with the registered HTTP status.
export const ERRORS = {
  invalid_json: { status: 400, message: 'The request body is not valid JSON' },
  validation_failed: { status: 422, message: 'The request is invalid' },
  limit_exceeded: { status: 422, message: 'A limit is beyond the configured maximum' },
  unknown_language: { status: 422, message: 'Unknown language' },
  too_many: { status: 422, message: 'Too many items in one request' },
  response_too_large: { status: 422, message: 'The answer would be larger than the configured maximum; ask for fewer items' },
  unauthorized: { status: 401, message: 'A valid API key is required (Authorization: Bearer <key>, Authorization: token <key> or X-Auth-Token: <key>)' },
  not_found: { status: 404, message: 'No such route' },
  run_not_found: { status: 404, message: 'No run with this id (unknown or expired)' },
  run_active: { status: 409, message: 'The run is queued or running; cancel it, or delete it once it has finished' },
  session_not_found: { status: 404, message: 'No session with this id (unknown, or ended and expired)' },
  session_file_not_found: { status: 404, message: 'No regular file at this path in the session\'s /box' },
  session_ended: { status: 410, message: 'The session has ended; start a new one' },
  session_lost: { status: 410, message: 'The worker holding the session is gone; start a new one' },
  session_file_failed: { status: 422, message: 'The file could not be written in the session\'s /box (full, or a directory in the way)' },
  file_too_large: { status: 422, message: 'The file is larger than the session file limit' },
  no_session_capacity: { status: 503, message: 'No worker has a free session slot; retry later' },
  session_start_failed: { status: 503, message: 'The session\'s kernel could not be started' },
  session_unresponsive: { status: 503, message: 'The worker holding the session did not answer in time; retry, or end the session' },
  method_not_allowed: { status: 405, message: 'Method not allowed' },
  payload_too_large: { status: 413, message: 'The request body is too large' },
  unsupported_media_type: { status: 415, message: 'The request body must be application/json' },
  queue_full: { status: 503, message: 'The queue is full; retry later' },
  not_ready: { status: 503, message: 'The service is not ready' },
  internal: { status: 500, message: 'Internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class CorralError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details: unknown = null,
    readonly headers: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(message ?? ERRORS[code].message, options);
    this.name = 'CorralError';
    this.status = ERRORS[code].status;
  }

  toBody(): { error: { code: string; message: string; details: unknown } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

/** zod issues → a details list naming each bad field as a dotted path. */
export function zodDetails(issues: ReadonlyArray<{ path: PropertyKey[]; message: string; code?: string }>, prefix = ''): Array<{ field: string; message: string }> {
  return issues.map((i) => ({
    field: [prefix, ...i.path.map(String)].filter(Boolean).join('.').replace(/\.(\d+)(?=\.|$)/g, '[$1]') || '(root)',
    message: i.message,
  }));
}
