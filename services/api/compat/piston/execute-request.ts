// A Piston v2 /execute body → a Corral RunRequest, with Piston's checks and messages
// ("language is required as a string", "python-4 runtime is unknown", "run_timeout cannot exceed
// the configured limit of 3000", …). Pure: runtimes and options come in as arguments.
import type { RunRequest } from '../../../core/schemas.ts';
import type { PistonOptions } from './options.ts';
import { selectRuntime, type PistonRuntime } from './runtimes.ts';

export type ParsedExecute =
  | { ok: true; request: RunRequest; runtime: PistonRuntime }
  | { ok: false; message: string };

const ENCODINGS = ['utf8', 'base64', 'hex'] as const;
type Encoding = (typeof ENCODINGS)[number];

function fail(message: string): ParsedExecute {
  return { ok: false, message };
}

/** Checks a Piston file name as a path under /box; null when fine, else why not. */
export function fileNameProblem(name: string): string | null {
  if (name.length === 0 || name.length > 255) return 'must be 1 to 255 characters';
  if (name.includes('\0')) return 'must not contain NUL';
  if (name.startsWith('/')) return 'must be relative, not absolute';
  if (name.split('/').some((s) => s === '' || s === '.' || s === '..')) return 'tries to escape the submission directory (empty, "." or ".." segment)';
  return null;
}

/** Decodes content to check it and re-encodes it as utf8 or base64 for Corral. */
function toCorralContent(content: string, encoding: Encoding): { content: string; encoding: 'utf8' | 'base64' } | null {
  if (encoding === 'utf8') return { content, encoding: 'utf8' };
  if (encoding === 'hex') {
    if (!/^([0-9a-fA-F]{2})*$/.test(content)) return null;
    return { content: Buffer.from(content, 'hex').toString('base64'), encoding: 'base64' };
  }
  if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(content)) return null;
  return { content: Buffer.from(content, 'base64').toString('base64'), encoding: 'base64' };
}

type Constraint = { field: string; value: unknown; dflt: number; max: number };

/** Piston's limit check: absent/0 → default; -1 (piston-client's "unlimited") → default for memory. */
function constraint(c: Constraint, memory: boolean): number | string {
  const v = c.value;
  if (v === undefined || v === null || v === 0 || v === false || v === '') return c.dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) return `If specified, ${c.field} must be a number`;
  if (memory && v === -1) return c.dflt;
  if (v > c.max) return `${c.field} cannot exceed the configured limit of ${c.max}`;
  if (v < 0) return `${c.field} must be non-negative`;
  return v;
}

export function parseExecute(body: unknown, runtimes: readonly PistonRuntime[], o: PistonOptions): ParsedExecute {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail('request body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (!b.language || typeof b.language !== 'string') return fail('language is required as a string');
  if (!b.version || typeof b.version !== 'string') return fail('version is required as a string');
  if (!b.files || !Array.isArray(b.files)) return fail('files is required as an array');
  if (b.files.length === 0) return fail('files must include at least one utf8 encoded file');
  if (b.files.length > o.maxFiles) return fail(`files cannot have more than ${o.maxFiles} entries`);
  for (const [i, f] of (b.files as unknown[]).entries()) {
    if (typeof f !== 'object' || f === null || typeof (f as { content?: unknown }).content !== 'string') {
      return fail(`files[${i}].content is required as a string`);
    }
  }
  const runtime = selectRuntime(runtimes, b.language, b.version);
  if (!runtime) return fail(`${b.language}-${b.version} runtime is unknown`);

  const files = (b.files as Array<{ name?: unknown; content: string; encoding?: unknown }>).map((f, i) => ({
    name: typeof f.name === 'string' && f.name !== '' ? f.name : `file${i}.code`,
    content: f.content,
    encoding: (ENCODINGS as readonly unknown[]).includes(f.encoding) ? (f.encoding as Encoding) : 'utf8' as Encoding,
  }));
  const mainIndex = files.findIndex((f) => f.encoding === 'utf8');
  if (mainIndex < 0) return fail('files must include at least one utf8 encoded file');

  // Piston runs the first utf8 file; Corral runs its language's file name, so that file is
  // written under that name and every other file keeps its own.
  const corralFiles: NonNullable<RunRequest['files']> = [];
  const seen = new Set<string>();
  for (const [i, f] of files.entries()) {
    const path = i === mainIndex ? runtime.corral.fileName : f.name;
    const problem = fileNameProblem(path);
    if (problem) return fail(`File path "${f.name}" ${problem}`);
    if (seen.has(path)) {
      return fail(i === mainIndex || path === runtime.corral.fileName
        ? `files[${i}].name "${f.name}" clashes with ${runtime.corral.fileName}, the name the main file is run as`
        : `files[${i}].name "${f.name}" is given twice`);
    }
    seen.add(path);
    const content = toCorralContent(f.content, f.encoding);
    if (!content) return fail(`files[${i}].content is not valid ${f.encoding}`);
    corralFiles.push({ path, ...content });
  }

  if (b.args !== undefined && b.args !== null && (!Array.isArray(b.args) || b.args.some((a) => typeof a !== 'string'))) {
    return fail('args must be an array of strings');
  }
  if (b.stdin !== undefined && b.stdin !== null && typeof b.stdin !== 'string') return fail('stdin must be a string');

  const limits: Record<string, number> = {};
  const checks: Array<[string, number, number, boolean]> = [
    ['compile_memory_limit', -1, o.maxCompileMemoryBytes, true],
    ['run_memory_limit', -1, o.maxRunMemoryBytes, true],
    ['compile_timeout', o.compileTimeoutMs, o.maxCompileTimeoutMs, false],
    ['run_timeout', o.runTimeoutMs, o.maxRunTimeoutMs, false],
    ['compile_cpu_time', o.compileCpuTimeMs, o.maxCompileCpuTimeMs, false],
    ['run_cpu_time', o.runCpuTimeMs, o.maxRunCpuTimeMs, false],
  ];
  for (const [field, dflt, max, memory] of checks) {
    const v = constraint({ field, value: b[field], dflt, max }, memory);
    if (typeof v === 'string') return fail(v);
    limits[field] = v;
  }

  // Piston appends a newline to stdin that does not end with one.
  let stdin = typeof b.stdin === 'string' ? b.stdin : '';
  if (stdin.slice(-1) !== '\n') stdin += '\n';

  const run: NonNullable<RunRequest['limits']> = {
    wallMs: Math.max(1, Math.round(limits.run_timeout)),
    cpuMs: Math.max(1, Math.round(limits.run_cpu_time)),
  };
  if (limits.run_memory_limit > 0) run.memoryMb = Math.max(1, Math.ceil(limits.run_memory_limit / (1024 * 1024)));
  const request: RunRequest = {
    language: runtime.corral.id,
    files: corralFiles,
    stdin,
    args: (b.args as string[] | undefined) ?? [],
    limits: run,
  };
  if (runtime.corral.compiled) {
    const compile: NonNullable<RunRequest['compileLimits']> = {
      wallMs: Math.max(1, Math.round(limits.compile_timeout)),
      cpuMs: Math.max(1, Math.round(limits.compile_cpu_time)),
    };
    if (limits.compile_memory_limit > 0) compile.memoryMb = Math.max(1, Math.ceil(limits.compile_memory_limit / (1024 * 1024)));
    request.compileLimits = compile;
  }
  return { ok: true, request, runtime };
}
