// Shared by pch.test.ts and pch-measure.ts: the bits/stdc++.h submission a judge typically sees,
// and a reader for what `g++ -H` says about precompiled headers.

/** A typical 10-line competitive-programming submission: sum and maximum of n numbers. */
export const STDCXX_PROGRAM = `#include <bits/stdc++.h>
using namespace std;
int main() {
  ios::sync_with_stdio(false); cin.tie(nullptr);
  int n; cin >> n;
  vector<long long> a(n);
  for (auto& x : a) cin >> x;
  sort(a.begin(), a.end());
  cout << accumulate(a.begin(), a.end(), 0LL) << ' ' << a.back() << '\\n';
}
`;
export const STDCXX_INPUT = '5\n3 -1 4 1 5\n';
export const STDCXX_OUTPUT = '12 5\n';

/**
 * The .gch files named in `g++ -H` output: `! FILE` is the precompiled header g++ used, `x FILE` one
 * it tried and rejected. A header that g++ parsed instead shows up as `. FILE`.
 */
export function pchLines(stderr: string): { used: string[]; rejected: string[]; parsed: boolean } {
  const lines = stderr.split('\n');
  const pick = (mark: string) => lines.filter((l) => l.startsWith(`${mark} `) && l.includes('.gch')).map((l) => l.slice(2));
  return { used: pick('!'), rejected: pick('x'), parsed: lines.some((l) => /^\. .*\/bits\/stdc\+\+\.h$/.test(l)) };
}
