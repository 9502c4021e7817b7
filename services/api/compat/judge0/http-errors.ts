// Judge0's error bodies and statuses, in one place: {"error": "..."} with 400/503, Rails'
// {"status":404,"error":"Not Found"} for an unknown token or language, bare 401/403 for auth, and
// field errors ({"field": ["message"]}) with 422. Also maps Corral's field names in a RunService
// validation error back to the Judge0 field the client sent.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { classifyServiceError } from '../common/service-errors.ts';
import type { FieldErrors } from './submission-request.ts';

export const judge0Error = (c: Context, status: ContentfulStatusCode, error: string, headers?: Record<string, string>) =>
  c.json({ error }, status, headers);

export const notFound = (c: Context) => c.json({ status: 404, error: 'Not Found' }, 404);

export const fieldErrors = (c: Context, errors: FieldErrors) => c.json(errors, 422);

const CORRAL_TO_JUDGE0: Record<string, string> = {
  language: 'language_id',
  source: 'source_code',
  files: 'additional_files',
  stdin: 'stdin',
  args: 'command_line_arguments',
  compilerArgs: 'compiler_options',
  expectedOutput: 'expected_output',
  redirectStderrToStdout: 'redirect_stderr_to_stdout',
  repeat: 'number_of_runs',
  callbackUrl: 'callback_url',
  'limits.cpuMs': 'cpu_time_limit',
  'limits.extraCpuMs': 'cpu_extra_time',
  'limits.wallMs': 'wall_time_limit',
  'limits.memoryMb': 'memory_limit',
  'limits.stackMb': 'stack_limit',
  'limits.processes': 'max_processes_and_or_threads',
  'limits.fileSizeMb': 'max_file_size',
  'limits.outputBytes': 'max_file_size',
};

/** The Judge0 field a Corral request path ("limits.cpuMs", "files[2].path") came from. */
export function judge0FieldFor(corralField: string | undefined): string {
  if (!corralField) return 'submission';
  const plain = corralField.replace(/\[\d+\]/g, '').replace(/\.\d+(?=\.|$)/g, '');
  if (CORRAL_TO_JUDGE0[plain]) return CORRAL_TO_JUDGE0[plain];
  const top = plain.split('.')[0];
  return CORRAL_TO_JUDGE0[top] ?? 'submission';
}

/** A RunService failure as Judge0 would answer it. */
export function serviceErrorResponse(c: Context, err: unknown) {
  const k = classifyServiceError(err);
  switch (k.kind) {
    case 'queue_full':
      return judge0Error(c, 503, 'queue is full', k.retryAfterSeconds ? { 'retry-after': String(k.retryAfterSeconds) } : undefined);
    case 'invalid':
      return fieldErrors(c, { [judge0FieldFor(k.field)]: [k.message] });
    case 'too_large':
      return judge0Error(c, 413, 'request body is too large');
    case 'unavailable':
      return judge0Error(c, 503, k.message, k.retryAfterSeconds ? { 'retry-after': String(k.retryAfterSeconds) } : undefined);
    case 'internal':
      return judge0Error(c, 500, `internal error: ${k.message}`);
  }
}
