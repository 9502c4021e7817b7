// testlib's conventions for a checker's (and an interactor's) answer, pure: its exit code and
// message → a test's verdict, and the report returned with the test. Every byte of the message
// comes from a program the problem setter wrote, run in a sandbox: it is capped and never trusted
// to be well-formed.
import type { JudgeReport, Verdict } from '../services/core/schemas.ts';
import type { OutcomeCore } from './phase-result.ts';

/** testlib's argv after the program: `checker input.txt output.txt answer.txt` (the interactor's too). */
export const TESTLIB_FILES = { input: 'input.txt', output: 'output.txt', answer: 'answer.txt' } as const;
export const TESTLIB_ARGS = [TESTLIB_FILES.input, TESTLIB_FILES.output, TESTLIB_FILES.answer];

/** Most bytes of a checker's message returned per test (stderr, then stdout). */
export const JUDGE_MESSAGE_MAX_BYTES = 4096;

/** testlib's exit codes (without EJUDGE/CONTESTER/TESTSYS): 0 OK, 1 WA, 2 PE, 3 FAIL, 7 points. */
export const TESTLIB_EXIT = { ok: 0, wrongAnswer: 1, presentationError: 2, fail: 3, points: 7 } as const;

export interface JudgeVerdict {
  verdict: Extract<Verdict, 'accepted' | 'wrong_answer' | 'presentation_error' | 'partial' | 'checker_error'>;
  /** For partial: the fraction in [0, 1]. */
  points?: number;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * The points of exit code 7. testlib's quitp(points, msg) prints "points <value> <msg>" (the value
 * with %.10f, trailing zeros removed), on the first line or any later one; a plain checker may
 * print just "<value> …" first. The value is a
 * fraction of the test: clamped to [0, 1]. Null when there is no number to read.
 */
export function parsePoints(message: string): number | null {
  // testlib's line comes first; a checker that logs before it is read from its "points" line.
  const lines = message.split('\n').map((l) => l.trim().split(/\s+/));
  const words = lines.find((w) => w[0] === 'points') ?? lines[0]!;
  const value = words[0] === 'points' ? words[1] : words[0];
  if (value === undefined || !NUMBER.test(value)) return null;
  const n = Number(value);
  if (!Number.isFinite(n)) return null;
  return Math.min(1, Math.max(0, n));
}

/**
 * What the checker said. Only a program that ended by itself within its limits speaks: a crash,
 * a signal, any limit, FAIL (3) or an exit code testlib does not define is `checker_error` — the
 * judge failed, not the contestant. So is exit 7 without a readable number.
 */
export function checkerVerdict(outcome: Pick<OutcomeCore, 'status' | 'exitCode' | 'signal'>, message: string): JudgeVerdict {
  const ended = (outcome.status === 'ok' || outcome.status === 'runtime_error') && outcome.signal === null && outcome.exitCode !== null;
  if (!ended) return { verdict: 'checker_error' };
  switch (outcome.exitCode) {
    case TESTLIB_EXIT.ok: return { verdict: 'accepted' };
    case TESTLIB_EXIT.wrongAnswer: return { verdict: 'wrong_answer' };
    case TESTLIB_EXIT.presentationError: return { verdict: 'presentation_error' };
    case TESTLIB_EXIT.points: {
      const points = parsePoints(message);
      return points === null ? { verdict: 'checker_error' } : { verdict: 'partial', points };
    }
    default: return { verdict: 'checker_error' };
  }
}

/** At most `maxBytes` of `buf` as UTF-8, cut at a character boundary (invalid bytes become U+FFFD). */
export function utf8Prefix(buf: Buffer, maxBytes: number): string {
  if (buf.length <= maxBytes) return buf.toString('utf8');
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

/** A checker's message: its stderr (where testlib writes), then its stdout, capped. */
export function judgeMessage(outcome: Pick<OutcomeCore, 'stdout' | 'stderr'>, maxBytes = JUDGE_MESSAGE_MAX_BYTES): string {
  const both = outcome.stdout.length === 0 ? outcome.stderr
    : Buffer.concat([outcome.stderr.subarray(0, maxBytes), outcome.stderr.length ? Buffer.from('\n') : Buffer.alloc(0), outcome.stdout.subarray(0, maxBytes)]);
  return utf8Prefix(both, maxBytes);
}

/** The report returned with a test: what the checker (or interactor) ended with and said. */
export function judgeReport(outcome: OutcomeCore, said: { message: string; points?: number | undefined }): JudgeReport {
  return {
    status: outcome.status,
    exitCode: outcome.exitCode,
    signal: outcome.signal,
    message: said.message,
    ...(said.points !== undefined ? { points: said.points } : {}),
    cpuMs: outcome.cpuMs,
    wallMs: outcome.wallMs,
    memoryKb: outcome.memoryKb,
  };
}
