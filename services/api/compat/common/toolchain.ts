// The toolchain a Corral language's name states in parentheses ("BASIC (yabasic)" → "yabasic",
// "C (Clang)" → "Clang"): where a face must name the interpreter and only the image knows which
// one it holds, the name the image's recipe gives is the truth to repeat.
export function toolchainOf(name: string): string | undefined {
  return /\(([^()]+)\)\s*$/.exec(name)?.[1];
}
