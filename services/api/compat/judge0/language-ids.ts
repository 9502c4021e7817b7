// Judge0 CE's published language ids → Corral language ids. Stable forever: an id here is never
// reused for another language and never removed (a language Corral stops offering stays listed
// here and simply resolves to nothing). Several Judge0 ids name one language in different
// compiler versions (48/49/50/75 are all C); the first id of each language is the one /languages
// lists, the others are accepted and shown as archived in /languages/all.
//
// `corral` lists the Corral language ids to try, in order; the first one RunService offers wins,
// so the table survives the registry's choice between e.g. "python" and "python3".
import type { LanguageInfo } from '../../../core/schemas.ts';

export interface Judge0Language {
  /** Judge0's id. */
  id: number;
  /** Judge0's family name; the version shown is Corral's own ("Python (3.11.2)"). */
  family: string;
  corral: readonly string[];
  /** Judge0's source_file name for the language. */
  sourceFile: string;
  /** Listed by GET /languages (false: accepted, but listed only by /languages/all as archived). */
  primary: boolean;
}

const L = (id: number, family: string, corral: string[], sourceFile: string, primary = true): Judge0Language =>
  ({ id, family, corral, sourceFile, primary });

export const JUDGE0_LANGUAGES: readonly Judge0Language[] = Object.freeze([
  L(43, 'Plain Text', ['plaintext', 'text'], 'text.txt'),
  L(44, 'Executable', [], 'a.out'),
  L(45, 'Assembly (NASM)', ['nasm', 'assembly', 'asm'], 'main.asm'),
  L(46, 'Bash', ['bash'], 'script.sh'),
  L(47, 'Basic (FBC)', ['freebasic', 'basic'], 'main.bas'),
  L(50, 'C (GCC)', ['c'], 'main.c'),
  L(48, 'C (GCC)', ['c'], 'main.c', false),
  L(49, 'C (GCC)', ['c'], 'main.c', false),
  L(75, 'C (Clang)', ['c-clang', 'c'], 'main.c', false),
  L(51, 'C# (Mono)', ['csharp', 'cs', 'mono'], 'Main.cs'),
  L(54, 'C++ (GCC)', ['cpp', 'c++'], 'main.cpp'),
  L(52, 'C++ (GCC)', ['cpp', 'c++'], 'main.cpp', false),
  L(53, 'C++ (GCC)', ['cpp', 'c++'], 'main.cpp', false),
  L(76, 'C++ (Clang)', ['cpp-clang', 'cpp', 'c++'], 'main.cpp', false),
  L(55, 'Common Lisp (SBCL)', ['commonlisp', 'lisp', 'sbcl'], 'script.lisp'),
  L(56, 'D (DMD)', ['d', 'dmd'], 'main.d'),
  L(57, 'Elixir', ['elixir'], 'script.exs'),
  L(58, 'Erlang (OTP)', ['erlang'], 'main.erl'),
  L(59, 'Fortran (GFortran)', ['fortran'], 'main.f90'),
  L(60, 'Go', ['go', 'golang'], 'main.go'),
  L(61, 'Haskell (GHC)', ['haskell'], 'main.hs'),
  L(62, 'Java (OpenJDK)', ['java'], 'Main.java'),
  L(63, 'JavaScript (Node.js)', ['javascript', 'node', 'nodejs', 'js'], 'script.js'),
  L(64, 'Lua', ['lua'], 'script.lua'),
  L(65, 'OCaml', ['ocaml'], 'main.ml'),
  L(66, 'Octave', ['octave'], 'script.m'),
  L(67, 'Pascal (FPC)', ['pascal', 'fpc'], 'main.pas'),
  L(68, 'PHP', ['php'], 'script.php'),
  L(69, 'Prolog (GNU Prolog)', ['prolog', 'gprolog'], 'main.pro'),
  L(70, 'Python', ['python2'], 'script.py'),
  L(71, 'Python', ['python', 'python3'], 'script.py'),
  L(72, 'Ruby', ['ruby'], 'script.rb'),
  L(73, 'Rust', ['rust'], 'main.rs'),
  L(74, 'TypeScript', ['typescript', 'ts'], 'script.ts'),
  L(77, 'COBOL (GnuCOBOL)', ['cobol'], 'main.cob'),
  L(78, 'Kotlin', ['kotlin'], 'Main.kt'),
  L(79, 'Objective-C (Clang)', ['objective-c', 'objc'], 'main.m'),
  L(80, 'R', ['r'], 'script.r'),
  L(81, 'Scala', ['scala'], 'Main.scala'),
  L(82, 'SQL (SQLite)', ['sqlite', 'sql', 'sqlite3'], 'script.sql'),
  L(83, 'Swift', ['swift'], 'Main.swift'),
  L(84, 'Visual Basic.Net (vbnc)', ['vbnet', 'visualbasic'], 'Main.vb'),
  L(85, 'Perl', ['perl'], 'script.pl'),
  L(86, 'Clojure', ['clojure'], 'main.clj'),
  L(87, 'F# (.NET)', ['fsharp'], 'script.fsx'),
  L(88, 'Groovy', ['groovy'], 'script.groovy'),
  // Judge0 runs 89 through user-supplied `compile`/`run` shell scripts; Corral never runs a
  // shell line from a request, so the id stays reserved with no language.
  L(89, 'Multi-file program', [], ''),
]);

const BY_ID = new Map(JUDGE0_LANGUAGES.map((l) => [l.id, l]));

export function judge0Language(id: number): Judge0Language | undefined {
  return BY_ID.get(id);
}

export interface ResolvedLanguage {
  judge0: Judge0Language;
  corral: LanguageInfo;
}

/** The Corral language a Judge0 id runs as, among the languages RunService offers; undefined if none. */
export function resolveJudge0Language(id: number, offered: readonly LanguageInfo[]): ResolvedLanguage | undefined {
  const judge0 = BY_ID.get(id);
  if (!judge0) return undefined;
  for (const candidate of judge0.corral) {
    const corral = offered.find((l) => l.id === candidate);
    if (corral) return { judge0, corral };
  }
  return undefined;
}

/** Every Judge0 id Corral can serve, with the Corral language it runs as, in id order. */
export function servedLanguages(offered: readonly LanguageInfo[]): ResolvedLanguage[] {
  const out: ResolvedLanguage[] = [];
  for (const l of JUDGE0_LANGUAGES) {
    const r = resolveJudge0Language(l.id, offered);
    if (r) out.push(r);
  }
  return out.sort((a, b) => a.judge0.id - b.judge0.id);
}

/** Judge0's display name: the family with Corral's version, e.g. "Python (3.11.2)". */
export function judge0LanguageName(r: ResolvedLanguage): string {
  const family = r.judge0.family;
  if (!r.corral.version) return family;
  const open = family.indexOf(' (');
  if (open >= 0) return `${family.slice(0, -1)} ${r.corral.version})`;
  return `${family} (${r.corral.version})`;
}
