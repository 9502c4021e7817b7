// Serialises a submission the way Judge0's SubmissionSerializer does: `?fields=` selection
// (default fields, `*` for all, 400 on unknown names), base64 text fields when asked, and the
// "cannot be converted to UTF-8" error when output is not UTF-8 and base64 was not asked for.
import type { RunResult } from '../../../core/schemas.ts';
import { encodeJudge0Base64 } from './base64.ts';
import { isValidUtf8 } from '../common/phase-output.ts';
import { judge0Outcome, judge0Seconds } from './outcome.ts';
import type { SubmissionEcho } from './submission-request.ts';

/** Judge0 CE 1.13.1's default fields (app/serializers/submission_serializer.rb, default_fields). */
export const DEFAULT_FIELDS = ['token', 'time', 'memory', 'stdout', 'stderr', 'compile_output', 'message', 'status'] as const;

/**
 * What `fields=*` answers, exactly Judge0 CE 1.13.1's: SubmissionSerializer's attributes are the
 * submissions table's columns without `id` (db/schema.rb, version 2021_03_08_152656), in column
 * order, then `status` and `language`. Strict clients (judge0-python's models) refuse any other
 * field, so nothing of Corral's may appear here.
 */
export const ALL_FIELDS = [
  'source_code', 'language_id', 'stdin', 'expected_output', 'stdout', 'status_id', 'created_at', 'finished_at',
  'time', 'memory', 'stderr', 'token', 'number_of_runs', 'cpu_time_limit', 'cpu_extra_time', 'wall_time_limit',
  'memory_limit', 'stack_limit', 'max_processes_and_or_threads', 'enable_per_process_and_thread_time_limit',
  'enable_per_process_and_thread_memory_limit', 'max_file_size', 'compile_output', 'exit_code', 'exit_signal',
  'message', 'wall_time', 'compiler_options', 'command_line_arguments', 'redirect_stderr_to_stdout', 'callback_url',
  'additional_files', 'enable_network', 'status', 'language',
] as const;

/** Corral's extra facts, answered only when a client names them in `fields=` (never by `*`). */
export const EXTRA_FIELDS = ['started_at', 'queued_at', 'updated_at', 'queue', 'execution_host'] as const;

const KNOWN = new Set<string>([...ALL_FIELDS, ...EXTRA_FIELDS]);

export type FieldsParse = { ok: true; fields: readonly string[] } | { ok: false; invalid: string[] };

/** Parses ?fields= like Judge0's Fields service. */
export function parseFields(param: string | undefined): FieldsParse {
  if (param === undefined || param.trim() === '') return { ok: true, fields: DEFAULT_FIELDS };
  const names = param.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.includes('*')) {
    // `*` is Judge0's set; Corral's extras join it only when named beside it ("*,started_at").
    const extras = EXTRA_FIELDS.filter((f) => names.includes(f));
    return { ok: true, fields: extras.length ? [...ALL_FIELDS, ...extras] : ALL_FIELDS };
  }
  const invalid = names.filter((n) => !KNOWN.has(n));
  if (invalid.length) return { ok: false, invalid };
  return { ok: true, fields: [...new Set(names)] };
}

/** Thrown when a text field is not UTF-8 and the client did not ask for base64. */
export class Utf8ConversionError extends Error {
  constructor(readonly field: string) {
    super(`${field} cannot be converted to UTF-8`);
  }
}

export const CONVERSION_ERROR_MESSAGE = 'some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter';
export const CONVERSION_ERROR_MESSAGE_MANY = 'some attributes for one or more submissions cannot be converted to UTF-8, use base64_encoded=true query parameter';

export interface SerializeContext {
  token: string;
  result: RunResult;
  echo: SubmissionEcho | null;
  languageName: (languageId: number) => string | null;
  /** Limits for the limit messages when there is no echo (the worker's callback). */
  limits?: { memoryLimitKb?: number; outputBytes?: number };
}

/**
 * The body of Judge0's callback PUT: the default fields, base64-encoded (as Judge0 sends it).
 * Used by the worker's callback queue (worker/callbacks.ts) for callbackFormat 'judge0'.
 */
export function judge0CallbackBody(result: RunResult, limits: { memoryLimitKb?: number; outputBytes?: number } = {}): Record<string, unknown> {
  return serializeSubmission({ token: result.id, result, echo: null, languageName: () => null, limits }, DEFAULT_FIELDS, true);
}

/** One submission as a Judge0 JSON object with `fields`; throws Utf8ConversionError (see above). */
export function serializeSubmission(ctx: SerializeContext, fields: readonly string[], base64: boolean): Record<string, unknown> {
  const { result, echo } = ctx;
  const out = judge0Outcome(result, echo
    ? { memoryLimitKb: echo.memoryLimitKb, outputBytes: echo.maxFileSizeKb * 1024 }
    : { memoryLimitKb: ctx.limits?.memoryLimitKb, outputBytes: ctx.limits?.outputBytes });
  const textField = (name: string, bytes: Buffer | null): string | null => {
    if (bytes === null) return null;
    if (base64) return encodeJudge0Base64(bytes);
    if (!isValidUtf8(bytes)) throw new Utf8ConversionError(name);
    return bytes.toString('utf8');
  };
  const value = (f: string): unknown => {
    switch (f) {
      case 'token': return ctx.token;
      case 'source_code': return textField(f, echo?.sourceCode ?? null);
      case 'stdin': return textField(f, echo?.stdin ?? null);
      case 'expected_output': return textField(f, echo?.expectedOutput ?? null);
      case 'stdout': return textField(f, out.stdout);
      case 'stderr': return textField(f, out.stderr);
      case 'compile_output': return textField(f, out.compileOutput);
      case 'message': return out.message === null ? null : base64 ? encodeJudge0Base64(Buffer.from(out.message)) : out.message;
      case 'status': return { id: out.status.id, description: out.status.description };
      case 'status_id': return out.status.id;
      case 'language_id': return echo?.languageId ?? null;
      case 'language': {
        if (!echo) return null;
        return { id: echo.languageId, name: ctx.languageName(echo.languageId) };
      }
      case 'time': return out.time;
      case 'wall_time': return out.wallTime;
      case 'memory': return out.memoryKb;
      case 'exit_code': return out.exitCode;
      case 'exit_signal': return out.exitSignal;
      case 'created_at': return result.createdAt;
      case 'queued_at': return result.createdAt;
      case 'started_at': return result.startedAt;
      case 'finished_at': return result.finishedAt;
      case 'updated_at': return result.finishedAt ?? result.startedAt ?? result.createdAt;
      case 'queue': return null;
      case 'execution_host': return null;
      case 'number_of_runs': return echo?.numberOfRuns ?? null;
      case 'cpu_time_limit': return echo ? judge0Seconds(echo.cpuTimeLimit * 1000) : null;
      case 'cpu_extra_time': return echo ? judge0Seconds(echo.cpuExtraTime * 1000) : null;
      case 'wall_time_limit': return echo ? judge0Seconds(echo.wallTimeLimit * 1000) : null;
      case 'memory_limit': return echo?.memoryLimitKb ?? null;
      case 'stack_limit': return echo?.stackLimitKb ?? null;
      case 'max_processes_and_or_threads': return echo?.maxProcessesAndOrThreads ?? null;
      case 'enable_per_process_and_thread_time_limit': return echo?.enablePerProcessAndThreadTimeLimit ?? null;
      case 'enable_per_process_and_thread_memory_limit': return echo?.enablePerProcessAndThreadMemoryLimit ?? null;
      case 'max_file_size': return echo?.maxFileSizeKb ?? null;
      case 'compiler_options': return echo?.compilerOptions ?? null;
      case 'command_line_arguments': return echo?.commandLineArguments ?? null;
      case 'redirect_stderr_to_stdout': return echo?.redirectStderrToStdout ?? null;
      case 'callback_url': return echo?.callbackUrl ?? null;
      case 'additional_files': return echo?.additionalFiles ?? null;
      case 'enable_network': return echo?.enableNetwork ?? null;
      default: return null;
    }
  };
  const obj: Record<string, unknown> = {};
  for (const f of fields) obj[f] = value(f);
  return obj;
}
