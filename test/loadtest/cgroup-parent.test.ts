// The soak counts leftover cgroups under the parent the sandbox names for a state directory; its
// copy of the naming must stay the sandbox's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cgroupParentOf } from '../../loadtest/cgroup-parent.ts';
import { defaultCgroupParent } from '../../worker/sandbox/index.ts';

describe('the soak\'s cgroup parent', () => {
  it('is the one the sandbox uses for the same state directory', () => {
    for (const dir of ['/var/lib/corral', '/var/lib/corral/', '/tmp/corral-soak-x/state', '/', '/srv/a//']) {
      assert.equal(cgroupParentOf(dir), defaultCgroupParent(dir), dir);
    }
    assert.notEqual(cgroupParentOf('/tmp/a'), cgroupParentOf('/tmp/b'));
  });
});
