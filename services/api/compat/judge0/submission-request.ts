// A Judge0 submission body → a Corral RunRequest, with Judge0 CE 1.13.1's validation rules,
// defaults and maxima and its 422 error shape ({"field": ["message", …]}). Pure: the languages
// offered and the options come in as arguments. Each part of the body is read by its own module
// (limits, options, files); this one checks presence and language, then assembles the request.
import type { LanguageInfo, RunRequest } from '../../../core/schemas.ts';
import { isValidUtf8 } from '../common/phase-output.ts';
import { resolveJudge0Language, type ResolvedLanguage } from './language-ids.ts';
import type { Judge0Options } from './options.ts';
import { blank, bytesOf, numeric, type AddFieldError, type FieldErrors } from './submission-casting.ts';
import { programFiles, readAdditionalFiles, sourceFileClash, type AdditionalFiles } from './submission-files.ts';
import { corralLimits, readLimits, type Judge0Limits } from './submission-limits.ts';
import {
  readCallbackUrl, readCommandLineArguments, readCompilerOptions, readSwitches, type Switches, type Words,
} from './submission-options.ts';

export type { FieldErrors } from './submission-casting.ts';

/** What the submission asked for, kept to echo Judge0's request fields back in responses. */
export interface SubmissionEcho extends Judge0Limits {
  languageId: number;
  sourceCode: Buffer;
  stdin: Buffer | null;
  expectedOutput: Buffer | null;
  compilerOptions: string | null;
  commandLineArguments: string | null;
  enablePerProcessAndThreadTimeLimit: boolean;
  enablePerProcessAndThreadMemoryLimit: boolean;
  redirectStderrToStdout: boolean;
  enableNetwork: boolean;
  additionalFiles: string | null;
  callbackUrl: string | null;
}

export type ParsedSubmission =
  | { ok: true; request: RunRequest; echo: SubmissionEcho }
  | { ok: false; errors: FieldErrors };

/** Everything read from a valid body, before it becomes a RunRequest. */
interface Submission {
  language: ResolvedLanguage;
  source: Buffer;
  stdin: Buffer | null;
  expected: Buffer | null;
  limits: Judge0Limits;
  switches: Switches;
  compiler: Words;
  cmdline: Words;
  callbackUrl: string | null;
  files: AdditionalFiles;
}

/** source_code: present and a string (Judge0: `validates :source_code, presence: true`). */
function checkSource(b: Record<string, unknown>, add: AddFieldError): void {
  if (blank(b.source_code)) add('source_code', "can't be blank");
  else if (typeof b.source_code !== 'string') add('source_code', 'must be a string');
}

/** language_id: present, and an id Judge0 published that a Corral language here serves. */
function readLanguage(b: Record<string, unknown>, offered: readonly LanguageInfo[], add: AddFieldError): ResolvedLanguage | undefined {
  if (blank(b.language_id)) { add('language_id', "can't be blank"); return undefined; }
  const id = numeric(b.language_id);
  const resolved = typeof id === 'number' && Number.isInteger(id) ? resolveJudge0Language(id, offered) : undefined;
  if (!resolved) add('language_id', `language with id ${typeof id === 'number' ? id : String(b.language_id)} doesn't exist`);
  return resolved;
}

function toRunRequest(s: Submission, o: Judge0Options): RunRequest {
  const request: RunRequest = {
    language: s.language.corral.id,
    ...programFiles(s.source, s.language.corral.fileName, s.files.files),
    limits: corralLimits(s.limits, o),
    compare: 'trailing-whitespace',
    redirectStderrToStdout: s.switches.redirectStderrToStdout,
    repeat: s.limits.numberOfRuns,
  };
  if (s.stdin) {
    // Stdin may be any bytes: UTF-8 travels as text, anything else as base64.
    if (isValidUtf8(s.stdin)) request.stdin = s.stdin.toString('utf8');
    else Object.assign(request, { stdin: s.stdin.toString('base64'), stdinEncoding: 'base64' as const });
  }
  if (s.expected) request.expectedOutput = s.expected.toString('utf8');
  if (s.callbackUrl) Object.assign(request, { callbackUrl: s.callbackUrl, callbackMethod: 'PUT' as const, callbackFormat: 'judge0' as const });
  if (s.cmdline.argv.length) request.args = s.cmdline.argv;
  if (s.compiler.argv.length) request.compilerArgs = s.compiler.argv;
  return request;
}

function toEcho(s: Submission): SubmissionEcho {
  return {
    ...s.limits,
    languageId: s.language.judge0.id,
    sourceCode: s.source,
    stdin: s.stdin,
    expectedOutput: s.expected,
    compilerOptions: s.compiler.raw,
    commandLineArguments: s.cmdline.raw,
    enablePerProcessAndThreadTimeLimit: s.switches.perProcessTime,
    enablePerProcessAndThreadMemoryLimit: s.switches.perProcessMemory,
    redirectStderrToStdout: s.switches.redirectStderrToStdout,
    enableNetwork: s.switches.enableNetwork,
    additionalFiles: s.files.raw,
    callbackUrl: s.callbackUrl,
  };
}

/**
 * Parses one submission. `base64` is the request's ?base64_encoded; `offered` the languages
 * RunService offers. Never throws on bad input: every problem is a field error.
 */
export function parseSubmission(body: unknown, base64: boolean, offered: readonly LanguageInfo[], o: Judge0Options): ParsedSubmission {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, errors: { submission: ['must be a JSON object'] } };
  }
  const b = body as Record<string, unknown>;
  const errors: FieldErrors = {};
  const add: AddFieldError = (field, message) => { (errors[field] ??= []).push(message); };

  checkSource(b, add);
  const language = readLanguage(b, offered, add);
  const limits = readLimits(b, o, add);
  const switches = readSwitches(b, o, add);
  const compiler = readCompilerOptions(b, o, language, add);
  const cmdline = readCommandLineArguments(b, o, add);
  const callbackUrl = readCallbackUrl(b, o, add);
  const expected = bytesOf(b.expected_output, base64);
  if (expected && !isValidUtf8(expected)) add('expected_output', 'must be valid UTF-8 (Corral compares text)');
  const files = readAdditionalFiles(b, o, add);
  if (Object.keys(errors).length > 0 || !language) return { ok: false, errors };

  const clash = sourceFileClash(files.files, language.corral.fileName);
  if (clash) return { ok: false, errors: { additional_files: [clash] } };

  const submission: Submission = {
    language, limits, switches, compiler, cmdline, callbackUrl, files, expected,
    source: bytesOf(b.source_code, base64) ?? Buffer.alloc(0),
    stdin: bytesOf(b.stdin, base64),
  };
  return { ok: true, request: toRunRequest(submission, o), echo: toEcho(submission) };
}
