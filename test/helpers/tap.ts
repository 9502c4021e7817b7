// Reading the TAP output of a test run started by a test (the cgroup v2 guests run a suite inside
// and hand back its output).

/** Each failing test of the TAP output with the lines that follow it (its error and stack). */
export function tapFailures(tap: string): string {
  const lines = tap.split('\n');
  const out: string[] = [];
  lines.forEach((line, i) => {
    if (/^\s*not ok \d+/.test(line)) out.push(...lines.slice(Math.max(0, i - 1), i + 40), '…');
  });
  return out.join('\n').slice(0, 20_000);
}
