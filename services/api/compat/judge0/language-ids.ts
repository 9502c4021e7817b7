// Judge0 CE 1.13.1's language ids → Corral languages. The ids are Judge0's active list
// (judge0/judge0 db/languages/active.rb, ids 43–89): stable forever, never reused for another
// language, never removed (a language Corral does not offer stays here and resolves to nothing).
//
// Names tell the truth: `label` names the toolchain Corral really runs ("C (GCC)", "D (GDC)";
// for BASIC the interpreter the image's own name gives) and the version shown is the one recorded when the image was built. Where
// Corral runs another compiler than Judge0's name said, or one toolchain serves several ids that
// named different versions (48/49/50 were GCC 7.4.0/8.3.0/9.2.0), `standsInFor` says what the id
// stood for in Judge0: "C (GCC 12.2.0, stands in for GCC 7.4.0)".
//
// `corral` lists the Corral language ids to try, in order; an available one wins over one whose
// image is not built. A Judge0 id only ever maps to a language with the compiler its label names
// (75 is Clang or nothing, never GCC; 69 is GNU Prolog or nothing, never SWI-Prolog).
import type { LanguageInfo } from '../../../core/schemas.ts';
import { toolchainOf } from '../common/toolchain.ts';

export interface Judge0Language {
  /** Judge0's id. */
  id: number;
  /** Judge0 CE 1.13.1's name for the id, for reference (db/languages/active.rb). */
  judge0Name: string;
  /** The toolchain Corral runs, in Judge0's naming style; the version goes inside the parentheses. */
  label: string;
  corral: readonly string[];
  /** What the id named in Judge0 when Corral runs a different compiler or version family for it. */
  standsInFor?: string;
  /** The toolchain is the one the Corral language's name gives ("BASIC (yabasic)"), not a fixed one. */
  toolchainFromCorral?: boolean;
}

const L = (id: number, judge0Name: string, label: string, corral: string[], standsInFor?: string, toolchainFromCorral?: boolean): Judge0Language =>
  Object.freeze({ id, judge0Name, label, corral, ...(standsInFor ? { standsInFor } : {}), ...(toolchainFromCorral ? { toolchainFromCorral } : {}) });

export const JUDGE0_LANGUAGES: readonly Judge0Language[] = Object.freeze([
  L(43, 'Plain Text', 'Plain Text', []),
  L(44, 'Executable', 'Executable', []),
  L(45, 'Assembly (NASM 2.14.02)', 'Assembly (NASM)', ['nasm']),
  L(46, 'Bash (5.0.0)', 'Bash', ['bash']),
  // Corral's BASIC is an interpreter (yabasic in today's recipe), not FreeBASIC: a FreeBASIC
  // program may not run on it, and the name says so, with the interpreter the image's name gives.
  L(47, 'Basic (FBC 1.07.1)', 'Basic', ['basic'], 'FBC 1.07.1', true),
  L(48, 'C (GCC 7.4.0)', 'C (GCC)', ['c'], 'GCC 7.4.0'),
  L(49, 'C (GCC 8.3.0)', 'C (GCC)', ['c'], 'GCC 8.3.0'),
  L(50, 'C (GCC 9.2.0)', 'C (GCC)', ['c']),
  L(51, 'C# (Mono 6.6.0.161)', 'C# (Mono)', ['csharp']),
  L(52, 'C++ (GCC 7.4.0)', 'C++ (GCC)', ['cpp'], 'GCC 7.4.0'),
  L(53, 'C++ (GCC 8.3.0)', 'C++ (GCC)', ['cpp'], 'GCC 8.3.0'),
  L(54, 'C++ (GCC 9.2.0)', 'C++ (GCC)', ['cpp']),
  L(55, 'Common Lisp (SBCL 2.0.0)', 'Common Lisp (SBCL)', ['commonlisp']),
  // Corral's D compiler is GDC (the GCC front end), not DMD.
  L(56, 'D (DMD 2.089.1)', 'D (GDC)', ['d'], 'DMD 2.089.1'),
  L(57, 'Elixir (1.9.4)', 'Elixir', ['elixir']),
  L(58, 'Erlang (OTP 22.2)', 'Erlang (OTP)', ['erlang']),
  L(59, 'Fortran (GFortran 9.2.0)', 'Fortran (GFortran)', ['fortran']),
  L(60, 'Go (1.13.5)', 'Go', ['go']),
  L(61, 'Haskell (GHC 8.8.1)', 'Haskell (GHC)', ['haskell']),
  L(62, 'Java (OpenJDK 13.0.1)', 'Java (OpenJDK)', ['java']),
  L(63, 'JavaScript (Node.js 12.14.0)', 'JavaScript (Node.js)', ['javascript']),
  L(64, 'Lua (5.3.5)', 'Lua', ['lua']),
  L(65, 'OCaml (4.09.0)', 'OCaml', ['ocaml']),
  L(66, 'Octave (5.1.0)', 'Octave', ['octave']),
  L(67, 'Pascal (FPC 3.0.4)', 'Pascal (FPC)', ['pascal']),
  L(68, 'PHP (7.4.1)', 'PHP', ['php']),
  L(69, 'Prolog (GNU Prolog 1.4.5)', 'Prolog (GNU Prolog)', ['gprolog']),
  L(70, 'Python (2.7.17)', 'Python', ['python2']),
  L(71, 'Python (3.8.1)', 'Python', ['python', 'python3']),
  L(72, 'Ruby (2.7.0)', 'Ruby', ['ruby']),
  L(73, 'Rust (1.40.0)', 'Rust', ['rust']),
  L(74, 'TypeScript (3.7.4)', 'TypeScript', ['typescript']),
  L(75, 'C (Clang 7.0.1)', 'C (Clang)', ['clang-c']),
  L(76, 'C++ (Clang 7.0.1)', 'C++ (Clang)', ['clang-cpp']),
  L(77, 'COBOL (GnuCOBOL 2.2)', 'COBOL (GnuCOBOL)', ['cobol']),
  L(78, 'Kotlin (1.3.70)', 'Kotlin', ['kotlin']),
  L(79, 'Objective-C (Clang 7.0.1)', 'Objective-C (Clang)', ['objective-c']),
  L(80, 'R (4.0.0)', 'R', ['r']),
  L(81, 'Scala (2.13.2)', 'Scala', ['scala']),
  L(82, 'SQL (SQLite 3.27.2)', 'SQL (SQLite)', ['sqlite']),
  L(83, 'Swift (5.2.3)', 'Swift', ['swift']),
  L(84, 'Visual Basic.Net (vbnc 0.0.0.5943)', 'Visual Basic.Net (vbnc)', ['vbnet']),
  L(85, 'Perl (5.28.1)', 'Perl', ['perl']),
  L(86, 'Clojure (1.10.1)', 'Clojure', ['clojure']),
  L(87, 'F# (.NET Core SDK 3.1.202)', 'F# (.NET Core SDK)', ['fsharp']),
  L(88, 'Groovy (3.0.3)', 'Groovy', ['groovy']),
  // Judge0 runs 89 through user-supplied `compile`/`run` shell scripts; Corral never runs a
  // shell line from a request, so the id stays reserved with no language.
  L(89, 'Multi-file program', 'Multi-file program', []),
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
  const candidates = judge0.corral.flatMap((cid) => offered.filter((l) => l.id === cid));
  const corral = candidates.find((l) => l.available) ?? candidates[0];
  return corral ? { judge0, corral } : undefined;
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

/**
 * The version number in a recorded version line: "5.2.15(1)-release" → "5.2.15",
 * "javac 17.0.9" → "17.0.9", "3.11.2 numpy 1.24.2" → "3.11.2"; '' when there is none.
 */
export function versionNumber(version: string): string {
  return /\d+(?:\.\d+)*/.exec(version)?.[0] ?? '';
}

/**
 * Judge0's display name with the real toolchain and version: "C (GCC 12.2.0)",
 * "Python (3.11.2)", "D (GDC 12.2.0, stands in for DMD 2.089.1)".
 */
export function judge0LanguageName(r: ResolvedLanguage): string {
  const { label, standsInFor, toolchainFromCorral } = r.judge0;
  const open = label.indexOf(' (');
  const family = open >= 0 ? label.slice(0, open) : label;
  const toolchain = open >= 0 ? label.slice(open + 2, -1) : toolchainFromCorral ? toolchainOf(r.corral.name) ?? '' : '';
  const first = [toolchain, versionNumber(r.corral.version)].filter(Boolean).join(' ');
  const inside = [first, standsInFor ? `stands in for ${standsInFor}` : ''].filter(Boolean).join(', ');
  return inside ? `${family} (${inside})` : family;
}
