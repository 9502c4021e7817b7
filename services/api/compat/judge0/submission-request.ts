// A Judge0 submission body → a Corral RunRequest, with Judge0's validation rules, defaults and
// maxima and Judge0's 422 error shape ({"field": ["message", …]}). Pure: the languages offered
// and the options come in as arguments.
import type { LanguageInfo, RunRequest } from '../../../core/schemas.ts';
import { decodeJudge0Base64 } from './base64.ts';
import { resolveJudge0Language } from './language-ids.ts';
import type { Judge0Options } from './options.ts';
import { isValidUtf8 } from '../common/phase-output.ts';
import { splitShellWords, ShellWordsError } from './shell-words.ts';
import { readZip, ZipError } from './zip-reader.ts';

/** Judge0's 422 body: each invalid field with its messages. */
export type FieldErrors = Record<string, string[]>;

/** What the submission asked for, kept to echo Judge0's request fields back in responses. */
export interface SubmissionEcho {
  languageId: number;
  sourceCode: Buffer;
  stdin: Buffer | null;
  expectedOutput: Buffer | null;
  compilerOptions: string | null;
  commandLineArguments: string | null;
  cpuTimeLimit: number;
  cpuExtraTime: number;
  wallTimeLimit: number;
  memoryLimitKb: number;
  stackLimitKb: number;
  maxProcessesAndOrThreads: number;
  enablePerProcessAndThreadTimeLimit: boolean;
  enablePerProcessAndThreadMemoryLimit: boolean;
  maxFileSizeKb: number;
  redirectStderrToStdout: boolean;
  enableNetwork: boolean;
  numberOfRuns: number;
  additionalFiles: string | null;
  callbackUrl: string | null;
}

export type ParsedSubmission =
  | { ok: true; request: RunRequest; echo: SubmissionEcho }
  | { ok: false; errors: FieldErrors };

const TEXT_MAX_CHARS = 512; // Judge0's length limit of compiler_options and command_line_arguments

function blank(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
}

/** Rails numericality: numbers and numeric strings; "" and null mean "use the default". */
function numeric(v: unknown): number | 'nan' | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number') return Number.isFinite(v) ? v : 'nan';
  if (typeof v === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(v)) return Number(v);
  return 'nan';
}

/** Rails boolean casting: true/"true"/"1"/1/"t"/"on" are true; null/"" mean the default. */
function boolish(v: unknown): boolean | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'boolean') return v;
  const s = String(v).toLowerCase();
  return !['false', '0', 'f', 'off', 'no', 'n'].includes(s);
}

function text(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

function bytesOf(v: unknown, base64: boolean): Buffer | null {
  const s = text(v);
  if (s === undefined) return null;
  return base64 ? decodeJudge0Base64(s) : Buffer.from(s, 'utf8');
}

/**
 * Parses one submission. `base64` is the request's ?base64_encoded; `offered` the languages
 * RunService offers. Never throws on bad input: every problem is a field error.
 */
export function parseSubmission(body: unknown, base64: boolean, offered: readonly LanguageInfo[], o: Judge0Options): ParsedSubmission {
  const errors: FieldErrors = {};
  const add = (field: string, message: string) => { (errors[field] ??= []).push(message); };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, errors: { submission: ['must be a JSON object'] } };
  }
  const b = body as Record<string, unknown>;

  // source_code, language_id: presence
  if (blank(b.source_code)) add('source_code', "can't be blank");
  else if (typeof b.source_code !== 'string') add('source_code', 'must be a string');
  let resolved: ReturnType<typeof resolveJudge0Language>;
  const langNum = numeric(b.language_id);
  if (blank(b.language_id)) add('language_id', "can't be blank");
  else if (langNum === 'nan' || langNum === undefined || !Number.isInteger(langNum)) add('language_id', `language with id ${String(b.language_id)} doesn't exist`);
  else {
    resolved = resolveJudge0Language(langNum, offered);
    if (!resolved) add('language_id', `language with id ${langNum} doesn't exist`);
  }

  // Numeric limits with Judge0's defaults and (Corral-capped) maxima.
  const limit = (field: string, dflt: number, max: number, integer: boolean): number => {
    const v = numeric(b[field]);
    if (v === undefined) return dflt;
    if (v === 'nan') { add(field, 'is not a number'); return dflt; }
    if (v <= 0) { add(field, 'must be greater than 0'); return dflt; }
    if (v > max) { add(field, `must be less than or equal to ${max}`); return dflt; }
    return integer ? Math.trunc(v) : v;
  };
  const cpuTimeLimit = limit('cpu_time_limit', o.cpuTimeLimit, o.maxCpuTimeLimit, false);
  const cpuExtraTime = limit('cpu_extra_time', o.cpuExtraTime, o.maxCpuExtraTime, false);
  const wallTimeLimit = limit('wall_time_limit', o.wallTimeLimit, o.maxWallTimeLimit, false);
  const memoryLimitKb = limit('memory_limit', o.memoryLimitKb, o.maxMemoryLimitKb, true);
  const stackLimitKb = limit('stack_limit', o.stackLimitKb, o.maxStackLimitKb, true);
  const maxProcesses = limit('max_processes_and_or_threads', o.maxProcessesAndOrThreads, o.maxMaxProcessesAndOrThreads, true);
  const maxFileSizeKb = limit('max_file_size', o.maxFileSizeKb, o.maxMaxFileSizeKb, true);
  const numberOfRuns = limit('number_of_runs', o.numberOfRuns, o.maxNumberOfRuns, true);

  // Switches Corral cannot honour are refused, never silently ignored.
  const perProcessTime = boolish(b.enable_per_process_and_thread_time_limit) ?? false;
  if (perProcessTime && !o.allowEnablePerProcessAndThreadTimeLimit) add('enable_per_process_and_thread_time_limit', 'this option cannot be enabled');
  const perProcessMemory = boolish(b.enable_per_process_and_thread_memory_limit) ?? false;
  if (perProcessMemory && !o.allowEnablePerProcessAndThreadMemoryLimit) add('enable_per_process_and_thread_memory_limit', 'this option cannot be enabled');
  const enableNetwork = boolish(b.enable_network) ?? false;
  if (enableNetwork) {
    add('enable_network', o.allowEnableNetwork
      ? "this option cannot be enabled: this server's sandbox has no network"
      : 'this option cannot be enabled');
  }
  const redirect = boolish(b.redirect_stderr_to_stdout) ?? false;

  // compiler_options, command_line_arguments: split into argv words, never given to a shell.
  const words = (field: string, enabled: boolean, disabledMsg: string): { raw: string | null; argv: string[] } => {
    const raw = text(b[field]);
    if (raw === undefined || raw === '') return { raw: null, argv: [] };
    if (!enabled) { add(field, disabledMsg); return { raw, argv: [] }; }
    if (raw.length > TEXT_MAX_CHARS) { add(field, `is too long (maximum is ${TEXT_MAX_CHARS} characters)`); return { raw, argv: [] }; }
    if (raw.includes('\0')) { add(field, 'must not contain NUL'); return { raw, argv: [] }; }
    try {
      return { raw, argv: splitShellWords(raw) };
    } catch (err) {
      if (err instanceof ShellWordsError) { add(field, err.message); return { raw, argv: [] }; }
      throw err;
    }
  };
  const compiler = words('compiler_options', o.enableCompilerOptions, 'setting compiler options is not allowed');
  if (compiler.argv.length > 0 && resolved && !resolved.corral.compiled) {
    add('compiler_options', `setting compiler options is only allowed for compiled languages (language with id ${resolved.judge0.id} is not compiled)`);
  }
  const cmdline = words('command_line_arguments', o.enableCommandLineArguments, 'setting command line arguments is not allowed');

  // callback_url
  let callbackUrl: string | null = null;
  const cb = text(b.callback_url);
  if (cb !== undefined && cb !== '') {
    if (!o.enableCallbacks) add('callback_url', 'callbacks are not allowed');
    else {
      let ok = false;
      try { ok = ['http:', 'https:'].includes(new URL(cb).protocol) && cb.length <= 2048; } catch { ok = false; }
      if (!ok) add('callback_url', 'must be an http or https URL of at most 2048 characters');
      else callbackUrl = cb;
    }
  }

  // Stdin may be any bytes (sent as base64 when not UTF-8); expected output is compared as text.
  const sourceCode = bytesOf(b.source_code, base64) ?? Buffer.alloc(0);
  const stdin = bytesOf(b.stdin, base64);
  const expected = bytesOf(b.expected_output, base64);
  if (expected && !isValidUtf8(expected)) add('expected_output', 'must be valid UTF-8 (Corral compares text)');

  // additional_files: a base64 zip, unpacked with caps and no path escape.
  let extraFiles: Array<{ path: string; data: Buffer }> = [];
  const af = text(b.additional_files);
  if (af !== undefined && af !== '') {
    if (!o.enableAdditionalFiles) add('additional_files', 'additional files are not allowed');
    else {
      try {
        extraFiles = readZip(decodeJudge0Base64(af), {
          maxTotalBytes: o.maxExtractSizeKb * 1024,
          maxEntries: o.maxExtractFiles,
          maxNameChars: 255,
        });
      } catch (err) {
        if (err instanceof ZipError) add('additional_files', `invalid zip: ${err.message}`);
        else throw err;
      }
    }
  }

  if (Object.keys(errors).length > 0 || !resolved) return { ok: false, errors };

  const fileName = resolved.corral.fileName;
  if (extraFiles.some((f) => f.path === fileName)) {
    return { ok: false, errors: { additional_files: [`contains ${fileName}, which is where source_code is written`] } };
  }
  const sourceAsFile = (): { path: string; content: string; encoding: 'utf8' | 'base64' } =>
    isValidUtf8(sourceCode)
      ? { path: fileName, content: sourceCode.toString('utf8'), encoding: 'utf8' }
      : { path: fileName, content: sourceCode.toString('base64'), encoding: 'base64' };

  const request: RunRequest = {
    language: resolved.corral.id,
    limits: {
      cpuMs: Math.max(1, Math.round(cpuTimeLimit * 1000)),
      extraCpuMs: Math.round(cpuExtraTime * 1000),
      wallMs: Math.max(1, Math.round(wallTimeLimit * 1000)),
      memoryMb: Math.max(1, Math.ceil(memoryLimitKb / 1024)),
      stackMb: Math.max(1, Math.ceil(stackLimitKb / 1024)),
      processes: maxProcesses,
      fileSizeMb: Math.max(1, Math.ceil(maxFileSizeKb / 1024)),
      // Judge0 captures stdout in a file bounded by max_file_size; Corral bounds each stream.
      outputBytes: Math.min(maxFileSizeKb * 1024, o.maxOutputBytes),
    },
    compare: 'trailing-whitespace',
    redirectStderrToStdout: redirect,
    repeat: numberOfRuns,
  };
  if (extraFiles.length > 0 || !isValidUtf8(sourceCode)) {
    request.files = [sourceAsFile(), ...extraFiles.map((f) => ({ path: f.path, content: f.data.toString('base64'), encoding: 'base64' as const }))];
  } else {
    request.source = sourceCode.toString('utf8');
  }
  if (stdin) {
    if (isValidUtf8(stdin)) request.stdin = stdin.toString('utf8');
    else Object.assign(request, { stdin: stdin.toString('base64'), stdinEncoding: 'base64' as const });
  }
  if (expected) request.expectedOutput = expected.toString('utf8');
  if (callbackUrl) Object.assign(request, { callbackUrl, callbackMethod: 'PUT' as const, callbackFormat: 'judge0' as const });
  if (cmdline.argv.length) request.args = cmdline.argv;
  if (compiler.argv.length) request.compilerArgs = compiler.argv;

  const echo: SubmissionEcho = {
    languageId: resolved.judge0.id,
    sourceCode,
    stdin,
    expectedOutput: expected,
    compilerOptions: compiler.raw,
    commandLineArguments: cmdline.raw,
    cpuTimeLimit,
    cpuExtraTime,
    wallTimeLimit,
    memoryLimitKb,
    stackLimitKb,
    maxProcessesAndOrThreads: maxProcesses,
    enablePerProcessAndThreadTimeLimit: perProcessTime,
    enablePerProcessAndThreadMemoryLimit: perProcessMemory,
    maxFileSizeKb,
    redirectStderrToStdout: redirect,
    enableNetwork,
    numberOfRuns,
    additionalFiles: af && af !== '' ? af : null,
    callbackUrl,
  };
  return { ok: true, request, echo };
}
