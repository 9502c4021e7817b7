// Corral languages as Piston runtimes: Piston's language names and aliases (what Piston clients
// send), and semver versions with Piston's selector rule: among the runtimes whose name or alias
// matches, the highest version satisfying the request's semver range (`*`, `3.x`, `3.11.2`) wins.
import semver from 'semver';
import type { LanguageInfo } from '../../../core/schemas.ts';
import { toolchainOf } from '../common/toolchain.ts';

interface PistonName {
  /** Piston's language name, or how to name it from the Corral language (its toolchain). */
  language: string | ((l: LanguageInfo) => string);
  aliases: readonly string[];
  /** Piston's `runtime` field, for languages Piston reports one for. */
  runtime?: string;
}

/**
 * Corral language id → Piston name and aliases: Piston's own package names and aliases
 * (engineer-man/piston packages/<name>/<version>/metadata.json) where Piston has the language.
 * A Corral language Piston lacks, or whose toolchain differs from Piston's package of that name,
 * gets a name of its own so that no Piston name reaches another toolchain than the one it names.
 */
export const PISTON_NAMES: Readonly<Record<string, PistonName | readonly PistonName[]>> = {
  bash: { language: 'bash', aliases: ['sh'] },
  c: { language: 'c', aliases: ['gcc'], runtime: 'gcc' },
  cpp: { language: 'c++', aliases: ['cpp', 'g++'], runtime: 'gcc' },
  // Piston has no Clang package: own names, so that `c`/`c++` keep meaning GCC.
  'clang-c': { language: 'clang', aliases: ['clang-c'], runtime: 'clang' },
  'clang-cpp': { language: 'clang++', aliases: ['clang-cpp'], runtime: 'clang' },
  csharp: { language: 'csharp', aliases: ['mono', 'mono-csharp', 'mono-c#', 'mono-cs', 'c#', 'cs'], runtime: 'mono' },
  d: { language: 'd', aliases: ['gdc'] },
  dart: { language: 'dart', aliases: [] },
  elixir: { language: 'elixir', aliases: ['exs'] },
  erlang: { language: 'erlang', aliases: ['erl', 'escript'] },
  fortran: { language: 'fortran', aliases: ['fortran', 'f90', 'f95'] },
  go: { language: 'go', aliases: ['go', 'golang'] },
  groovy: { language: 'groovy', aliases: ['groovy', 'gvy'] },
  haskell: { language: 'haskell', aliases: ['haskell', 'hs'] },
  java: { language: 'java', aliases: [] },
  javascript: { language: 'javascript', aliases: ['node-javascript', 'node-js', 'javascript', 'js'], runtime: 'node' },
  // Piston's deno and bun packages each provide TypeScript (`deno`, `deno-ts`; `bun`, `bun-ts`) and
  // JavaScript (`deno-js`; `bun-js`). Corral's deno and bun run a main.ts without type-checking,
  // which runs JavaScript as well: each answers both, as in Piston.
  deno: [
    { language: 'typescript', aliases: ['deno', 'deno-ts'], runtime: 'deno' },
    { language: 'javascript', aliases: ['deno-js'], runtime: 'deno' },
  ],
  bun: [
    { language: 'typescript', aliases: ['bun', 'bun-ts'], runtime: 'bun' },
    { language: 'javascript', aliases: ['bun-js'], runtime: 'bun' },
  ],
  julia: { language: 'julia', aliases: ['jl'] },
  kotlin: { language: 'kotlin', aliases: ['kt'] },
  lua: { language: 'lua', aliases: [] },
  // Piston's `nasm` is 32-bit, its `nasm64` x86-64; Corral's NASM builds x86-64 ELF, so it is
  // nasm64, and also answers `nasm`/`asm` (Corral's own id and alias).
  nasm: { language: 'nasm64', aliases: ['asm64', 'nasm', 'asm'], runtime: 'nasm' },
  ocaml: { language: 'ocaml', aliases: ['ocaml', 'ml'] },
  pascal: { language: 'pascal', aliases: ['freepascal', 'pp', 'pas'] },
  perl: { language: 'perl', aliases: ['pl'] },
  php: { language: 'php', aliases: [] },
  prolog: { language: 'prolog', aliases: ['prolog', 'plg'] },
  // Piston's `prolog` is SWI-Prolog (Corral's `prolog`); GNU Prolog has a name of its own.
  gprolog: { language: 'gprolog', aliases: ['gnu-prolog'] },
  python: { language: 'python', aliases: ['py', 'py3', 'python3'] },
  python3: { language: 'python', aliases: ['py', 'py3', 'python3'] },
  python2: { language: 'python2', aliases: ['py2'] },
  r: { language: 'rscript', aliases: ['r'] },
  ruby: { language: 'ruby', aliases: ['ruby3', 'rb'] },
  rust: { language: 'rust', aliases: ['rs'] },
  scala: { language: 'scala', aliases: ['sc'] },
  sqlite: { language: 'sqlite3', aliases: ['sqlite', 'sql'] },
  swift: { language: 'swift', aliases: [] },
  typescript: { language: 'typescript', aliases: ['ts', 'node-ts', 'tsc'] },
  zig: { language: 'zig', aliases: [] },
  nim: { language: 'nim', aliases: [] },
  crystal: { language: 'crystal', aliases: ['crystal', 'cr'] },
  clojure: { language: 'clojure', aliases: ['clojure', 'clj'] },
  commonlisp: { language: 'lisp', aliases: ['lisp', 'cl', 'sbcl', 'commonlisp'] },
  cobol: { language: 'cobol', aliases: ['cob'] },
  fsharp: { language: 'fsharp', aliases: ['fs', 'f#', 'fsi'] },
  octave: { language: 'octave', aliases: ['matlab', 'm'] },
  racket: { language: 'racket', aliases: ['rkt'] },
  tcl: { language: 'tcl', aliases: [] },
  coffeescript: { language: 'coffeescript', aliases: ['coffeescript', 'coffee'] },
  raku: { language: 'raku', aliases: ['raku', 'rakudo', 'perl6', 'p6', 'pl6'] },
  awk: { language: 'awk', aliases: ['gawk'], runtime: 'gawk' },
  elisp: { language: 'emacs', aliases: ['emacs', 'el', 'elisp'] },
  brainfuck: { language: 'brainfuck', aliases: ['bf'] },
  // Piston's `basic` is Visual Basic (mono) and FreeBASIC answers `basic` too; Corral's BASIC is
  // neither: it is named after its interpreter, as the Corral name gives it ("BASIC (yabasic)").
  basic: { language: (l) => toolchainOf(l.name)?.toLowerCase() ?? 'basic-interpreter', aliases: [] },
  haxe: { language: 'haxe', aliases: ['hx'] },
  vala: { language: 'vala', aliases: [] },
};

export interface PistonRuntime {
  language: string;
  version: string;
  aliases: string[];
  runtime?: string;
  /** The Corral language it runs as. */
  corral: LanguageInfo;
}

/** A Corral version string as semver ("21" → "21.0.0", "3.11.2" stays); "0.0.0" if it has no number. */
export function pistonVersion(version: string): string {
  return semver.valid(version) ?? semver.coerce(version)?.version ?? '0.0.0';
}

/** The runtimes Piston clients see: every available Corral language, named Piston's way. */
export function pistonRuntimes(offered: readonly LanguageInfo[]): PistonRuntime[] {
  return offered.filter((l) => l.available).flatMap((l) => {
    const entry = PISTON_NAMES[l.id];
    const names: readonly (PistonName | undefined)[] = Array.isArray(entry) ? entry : [entry as PistonName | undefined];
    return names.map((name) => {
      const rt: PistonRuntime = {
        language: typeof name?.language === 'function' ? name.language(l) : name?.language ?? l.id,
        version: pistonVersion(l.version),
        aliases: [...(name?.aliases ?? [])],
        corral: l,
      };
      if (name?.runtime) rt.runtime = name.runtime;
      return rt;
    });
  });
}

/** Piston's get_latest_runtime_matching_language_version; undefined when none matches. */
export function selectRuntime(runtimes: readonly PistonRuntime[], language: string, versionRange: string): PistonRuntime | undefined {
  const matching = runtimes.filter((rt) => {
    if (rt.language !== language && !rt.aliases.includes(language)) return false;
    try {
      return semver.satisfies(rt.version, versionRange);
    } catch {
      return false;
    }
  });
  return matching.sort((a, b) => semver.rcompare(a.version, b.version))[0];
}
