// The verdict of an interactive test, pure: the solution's outcome and the interactor's (each from
// its own container) → one verdict, by a fixed precedence (Codeforces/DMOJ practice, see
// docs/api.md "Interactive problems"):
//   1. the interactor failed (crash, its own limit, FAIL 3, an unknown exit code) → checker_error,
//      except a wall limit that both sides hit (they waited on each other: the solution's rule 3)
//      and SIGPIPE (the solution closed its stdin and left: the solution's rules);
//   2. the interactor said WA/PE and ended clearly before the solution (ENDED_FIRST_MARGIN_MS) →
//      that verdict (the solution's trouble after it, e.g. a limit while it waits, follows from it);
//   3. the solution stopped at its own limit: memory → memory_limit, cpu → time_limit, output →
//      output_limit, wall while mostly idle → idleness_limit, else time_limit;
//   4. the interactor said WA/PE → that verdict;
//   5. the solution exited ≠ 0 or by a signal → runtime_error;
//   6. the interactor said OK → accepted (or the checker's verdict), points (7) → partial.
import { isUtf8 } from 'node:buffer';
import type { Transcript, Verdict } from '../services/core/schemas.ts';
import { checkerVerdict, type JudgeVerdict } from './checker.ts';
import type { OutcomeCore } from './phase-result.ts';
import type { Transcript as RelayedTranscript } from './sandbox/index.ts';

/** A solution whose CPU time is below this share of its wall time was mostly waiting. */
export const IDLE_CPU_SHARE = 0.1;

/**
 * The interactor "ended before the solution" when it ended earlier by more than this: an
 * interactor that reads EOF because the solution was just killed at a limit ends at about the same
 * time and must not count as first. The ends are compared on one clock (ConnectedOutcome.endedMs:
 * each side's dispatch plus its wall time); without it, by wall times alone — but each wall clock
 * starts at its own container's release, and the two can be ready far apart (seen: 185 ms under
 * the cgroup v2 test kernel, one container warm and one built cold).
 */
export const ENDED_FIRST_MARGIN_MS = 100;

/**
 * The interactor's wall limit is at least the solution's plus this: in a mutual wait the solution
 * reaches its own wall limit first (idleness_limit), not the interactor (which would be the
 * judge's failure).
 */
export const INTERACTOR_WALL_MARGIN_MS = 1000;

export function interactorWallMs(interactorWallMs: number, solutionWallMs: number): number {
  return Math.max(interactorWallMs, solutionWallMs + INTERACTOR_WALL_MARGIN_MS);
}

type Side = Pick<OutcomeCore, 'status' | 'limit' | 'exitCode' | 'signal' | 'cpuMs' | 'wallMs'>;

export interface InteractionVerdict {
  verdict: Verdict;
  /** For partial: the fraction in [0, 1]. */
  points?: number;
  /** True when the interactor accepted and a checker is to judge its output.txt. */
  toChecker?: boolean;
}

/** Which limit stopped the solution, as a verdict (rule 3); null when none did. */
export function solutionLimitVerdict(s: Side): Verdict | null {
  if (s.status === 'memory_limit') return 'memory_limit';
  if (s.status === 'output_limit') return 'output_limit';
  if (s.status !== 'time_limit') return null;
  if (s.limit === 'wall' && s.cpuMs < IDLE_CPU_SHARE * s.wallMs) return 'idleness_limit';
  return 'time_limit';
}

/** When each side's end was known, on one clock (ms). */
export interface EndTimes { solution: number; interactor: number }

export function interactionVerdict(solution: Side, interactor: Side, interactorMessage: string, hasChecker: boolean, ended?: EndTimes): InteractionVerdict {
  if (solution.status === 'internal_error' || interactor.status === 'internal_error') return { verdict: 'internal_error' };
  const said: JudgeVerdict = checkerVerdict(interactor, interactorMessage);
  const bothWaited = interactor.status === 'time_limit' && interactor.limit === 'wall' && solution.status === 'time_limit' && solution.limit === 'wall';
  const brokenPipe = interactor.signal === 'SIGPIPE';
  // 1. The judge's own program failed.
  if (said.verdict === 'checker_error' && !bothWaited && !brokenPipe) return { verdict: 'checker_error' };
  const rejected = said.verdict === 'wrong_answer' || said.verdict === 'presentation_error';
  // 2. It rejected the conversation before the solution was done.
  const interactorFirst = ended
    ? ended.interactor + ENDED_FIRST_MARGIN_MS < ended.solution
    : interactor.wallMs + ENDED_FIRST_MARGIN_MS < solution.wallMs;
  if (rejected && interactorFirst) return { verdict: said.verdict };
  // 3. The solution's own limits.
  const limit = solutionLimitVerdict(solution);
  if (limit) return { verdict: limit };
  // 4. Rejected after the solution ended.
  if (rejected) return { verdict: said.verdict };
  // 5. The solution failed.
  if (solution.exitCode !== 0 || solution.signal !== null) return { verdict: 'runtime_error' };
  // The interactor wrote into a pipe the solution had closed by leaving: the solution stopped
  // talking before the interactor was done.
  if (brokenPipe) return { verdict: 'wrong_answer' };
  // 6. Its verdict (or the checker's).
  if (said.verdict === 'partial') return { verdict: 'partial', points: said.points! };
  return hasChecker ? { verdict: 'accepted', toChecker: true } : { verdict: 'accepted' };
}

/** The relayed exchange (the program connected first) as the API returns it: UTF-8 text when every entry is. */
export function transcriptResult(t: RelayedTranscript): Transcript {
  const utf8 = t.entries.every((e) => isUtf8(e.data));
  return {
    encoding: utf8 ? 'utf8' : 'base64',
    truncated: t.truncated,
    entries: t.entries.map((e) => ({ from: e.from === 'first' ? 'program' : 'interactor', data: e.data.toString(utf8 ? 'utf8' : 'base64') })),
  };
}
