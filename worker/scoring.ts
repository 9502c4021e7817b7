// Scored groups of tests (subtasks), pure: the order groups run in, whether one is skipped, each
// group's score and the run's. A test's fraction is 1 when accepted, its points when partial, else 0.
import type { GroupResult, GroupScoring, TestGroup, Verdict } from '../services/core/schemas.ts';

export interface ScoredTest {
  verdict: Verdict;
  /** For partial: the fraction in [0, 1]. */
  points?: number | undefined;
}

export function testFraction(t: ScoredTest): number {
  if (t.verdict === 'accepted') return 1;
  if (t.verdict === 'partial') return Math.min(1, Math.max(0, t.points ?? 0));
  return 0;
}

/** A group's score from its tests' results (all run; a test not run counts as 0). */
export function groupScore(scoring: GroupScoring, points: number, tests: ScoredTest[]): number {
  if (tests.length === 0) return 0;
  const fractions = tests.map(testFraction);
  switch (scoring) {
    case 'all-or-nothing': return tests.every((t) => t.verdict === 'accepted') ? points : 0;
    case 'min-partial': return points * Math.min(...fractions);
    case 'sum': return points * (fractions.reduce((a, f) => a + f, 0) / fractions.length);
  }
}

/**
 * The order groups run in: each after the groups it depends on, otherwise in request order
 * (Kahn's algorithm, always taking the earliest ready group). The request is validated acyclic.
 */
export function groupOrder(groups: Array<Pick<TestGroup, 'name' | 'dependsOn'>>): string[] {
  const done = new Set<string>();
  const order: string[] = [];
  while (order.length < groups.length) {
    const next = groups.find((g) => !done.has(g.name) && (g.dependsOn ?? []).every((d) => done.has(d)));
    if (!next) throw new Error(`groups ${groups.filter((g) => !done.has(g.name)).map((g) => g.name).join(', ')} depend on each other`);
    done.add(next.name);
    order.push(next.name);
  }
  return order;
}

/** Indexes of each group's tests, in index order. */
export function testsByGroup(tests: Array<{ group?: string | undefined }>): Map<string, number[]> {
  const out = new Map<string, number[]>();
  tests.forEach((t, i) => {
    if (t.group === undefined) return;
    const list = out.get(t.group) ?? [];
    list.push(i);
    out.set(t.group, list);
  });
  return out;
}

/** A group runs only when every group it depends on got its full points. */
export function shouldSkipGroup(group: Pick<TestGroup, 'dependsOn'>, scored: Map<string, GroupResult>): boolean {
  return (group.dependsOn ?? []).some((d) => {
    const r = scored.get(d);
    return !r || r.status !== 'passed';
  });
}

export function groupStatus(score: number, points: number, skipped: boolean): GroupResult['status'] {
  if (skipped) return 'skipped';
  if (score >= points) return 'passed';
  return score > 0 ? 'partial' : 'failed';
}

/**
 * One group's result. `tests`: the results of its tests in index order; a test not run (after a
 * failure with stopOnFirstFailure) is `skipped` and counts as 0.
 */
export function scoreGroup(group: TestGroup, indexes: number[], tests: ScoredTest[], skipped: boolean): GroupResult {
  const score = skipped ? 0 : groupScore(group.scoring, group.points, tests);
  // A group worth 0 points passes when all its tests are accepted (so its dependants run).
  const status = group.points === 0 && !skipped
    ? (tests.every((t) => t.verdict === 'accepted') ? 'passed' : 'failed')
    : groupStatus(score, group.points, skipped);
  return { name: group.name, points: group.points, score: round(score), status, tests: indexes };
}

/** The run's score and maximum over all groups. */
export function totalScore(results: GroupResult[]): { score: number; maxScore: number } {
  return {
    score: round(results.reduce((a, g) => a + g.score, 0)),
    maxScore: round(results.reduce((a, g) => a + g.points, 0)),
  };
}

/** Scores carry at most 6 decimals, so sums of fractions read as the numbers they are. */
function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
