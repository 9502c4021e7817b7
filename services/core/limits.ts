// Request limits → resolved limits: defaults filled in, maxima enforced (422 naming the field).
import { LIMIT_FIELDS, type Limits } from './config.ts';
import { CorralError } from './errors.ts';
import type { LimitsInput } from './schemas.ts';

export interface LimitViolation { field: string; value: number; maximum: number }

export function findViolations(input: LimitsInput | undefined, max: Limits, prefix: string): LimitViolation[] {
  const out: LimitViolation[] = [];
  for (const f of LIMIT_FIELDS) {
    const v = input?.[f];
    if (v !== undefined && v > max[f]) out.push({ field: `${prefix}.${f}`, value: v, maximum: max[f] });
  }
  return out;
}

export function resolveLimits(input: LimitsInput | undefined, defaults: Limits): Limits {
  const out = { ...defaults };
  for (const f of LIMIT_FIELDS) {
    const v = input?.[f];
    if (v !== undefined) out[f] = v;
  }
  return out;
}

export function assertWithin(violations: LimitViolation[]): void {
  if (violations.length === 0) return;
  const first = violations[0]!;
  throw new CorralError('limit_exceeded', `${first.field} = ${first.value} is beyond the maximum ${first.maximum}`, violations);
}
