// Raw bytes of a phase's stdout/stderr. A RunResult phase carries its output as UTF-8 text, or
// as base64 when either stream is not valid UTF-8 (`encoding`); the compat layers re-encode it
// in their own API's rules, so they need the exact bytes.
import type { PhaseResult } from '../../../core/schemas.ts';

export type Stream = 'stdout' | 'stderr';

/** The exact bytes the program wrote to `stream` (as captured, possibly truncated). */
export function phaseBytes(phase: Pick<PhaseResult, 'stdout' | 'stderr' | 'encoding'>, stream: Stream): Buffer {
  const text = phase[stream] ?? '';
  return phase.encoding === 'base64' ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
}

/** True when `bytes` is valid UTF-8 (round-trips without replacement characters). */
export function isValidUtf8(bytes: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}
