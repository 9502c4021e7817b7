// The cgroup parent a Corral with a given CORRAL_STATE_DIR puts its runs under, for the soak's
// leftover counts. loadtest/ talks to Corral over HTTP only, so this is the sandbox's naming
// (worker/sandbox/host.ts defaultCgroupParent) written again, kept equal by
// test/loadtest/cgroup-parent.test.ts.
import { createHash } from 'node:crypto';

export function cgroupParentOf(stateDir: string): string {
  const normal = stateDir.replace(/\/+$/, '') || '/';
  return normal === '/var/lib/corral' ? 'corral' : `corral-${createHash('sha256').update(normal).digest('hex').slice(0, 12)}`;
}
