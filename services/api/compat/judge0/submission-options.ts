// A submission's switches and text options, with Judge0 CE 1.13.1's rules and messages
// (app/models/submission.rb: compiler_options_allowed, command_line_arguments_allowed,
// callbacks_allowed, network_allowed, the per-process inclusion checks, the 512-character
// lengths). Where Corral is stricter than Judge0 (argv words never given to a shell, http(s)
// callbacks only, no network at all) its own message says why.
import type { ResolvedLanguage } from './language-ids.ts';
import type { Judge0Options } from './options.ts';
import { boolish, text, type AddFieldError } from './submission-casting.ts';
import { splitShellWords, ShellWordsError } from './shell-words.ts';

/** Judge0's length limit of compiler_options and command_line_arguments. */
const TEXT_MAX_CHARS = 512;
const CALLBACK_URL_MAX_CHARS = 2048;

export interface Switches {
  perProcessTime: boolean;
  perProcessMemory: boolean;
  enableNetwork: boolean;
  redirectStderrToStdout: boolean;
}

/** The boolean switches; those Corral cannot honour are refused, never silently ignored. */
export function readSwitches(b: Record<string, unknown>, o: Judge0Options, add: AddFieldError): Switches {
  const perProcessTime = boolish(b.enable_per_process_and_thread_time_limit) ?? false;
  if (perProcessTime && !o.allowEnablePerProcessAndThreadTimeLimit) add('enable_per_process_and_thread_time_limit', 'this option cannot be enabled');
  const perProcessMemory = boolish(b.enable_per_process_and_thread_memory_limit) ?? false;
  if (perProcessMemory && !o.allowEnablePerProcessAndThreadMemoryLimit) add('enable_per_process_and_thread_memory_limit', 'this option cannot be enabled');
  const enableNetwork = boolish(b.enable_network) ?? false;
  if (enableNetwork) {
    // Judge0's message when ALLOW_ENABLE_NETWORK is off; an operator turning it on changes only
    // the message: Corral's sandbox has no network to give.
    add('enable_network', o.allowEnableNetwork ? "this option cannot be enabled: this server's sandbox has no network" : 'enabling network is not allowed');
  }
  return { perProcessTime, perProcessMemory, enableNetwork, redirectStderrToStdout: boolish(b.redirect_stderr_to_stdout) ?? false };
}

/** A text option as given (echoed back) and its argv words, never given to a shell. */
export interface Words { raw: string | null; argv: string[] }

function readWords(b: Record<string, unknown>, field: string, enabled: boolean, disabledMessage: string, add: AddFieldError): Words {
  const raw = text(b[field]);
  if (raw === undefined || raw === '') return { raw: null, argv: [] };
  if (!enabled) { add(field, disabledMessage); return { raw, argv: [] }; }
  if (raw.length > TEXT_MAX_CHARS) { add(field, `is too long (maximum is ${TEXT_MAX_CHARS} characters)`); return { raw, argv: [] }; }
  if (raw.includes('\0')) { add(field, 'must not contain NUL'); return { raw, argv: [] }; }
  try {
    return { raw, argv: splitShellWords(raw) };
  } catch (err) {
    if (!(err instanceof ShellWordsError)) throw err;
    add(field, err.message);
    return { raw, argv: [] };
  }
}

/** compiler_options: only where the operator allows it and only for compiled languages. */
export function readCompilerOptions(b: Record<string, unknown>, o: Judge0Options, language: ResolvedLanguage | undefined, add: AddFieldError): Words {
  const words = readWords(b, 'compiler_options', o.enableCompilerOptions, 'setting compiler options is not allowed', add);
  if (words.argv.length > 0 && language && !language.corral.compiled) {
    add('compiler_options', 'setting compiler options is only allowed for compiled languages');
  }
  return words;
}

export function readCommandLineArguments(b: Record<string, unknown>, o: Judge0Options, add: AddFieldError): Words {
  return readWords(b, 'command_line_arguments', o.enableCommandLineArguments, 'setting command line arguments is not allowed', add);
}

/** callback_url: an http(s) URL (where the workers PUT the result), or null. */
export function readCallbackUrl(b: Record<string, unknown>, o: Judge0Options, add: AddFieldError): string | null {
  const url = text(b.callback_url);
  if (url === undefined || url === '') return null;
  if (!o.enableCallbacks) { add('callback_url', 'setting callback is not allowed'); return null; }
  let ok = false;
  try { ok = ['http:', 'https:'].includes(new URL(url).protocol) && url.length <= CALLBACK_URL_MAX_CHARS; } catch { ok = false; }
  if (!ok) { add('callback_url', `must be an http or https URL of at most ${CALLBACK_URL_MAX_CHARS} characters`); return null; }
  return url;
}
