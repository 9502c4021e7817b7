#!/bin/sh
# The whole test suite (after `scripts/setup.sh --tests`): unit, integration, end-to-end and
# security tests, on the real kernel sandbox, a real redis-server and real HTTP. The cgroup v2
# sandbox tests run inside a throw-away cgroup-v2 kernel (test/sandbox/cgroup-v2.test.ts).
set -eu
cd "$(dirname "$0")/.."
# Each running sandbox occupies a libuv thread-pool thread.
export UV_THREADPOOL_SIZE="${UV_THREADPOOL_SIZE:-32}"
# The language tests try the images setup builds (CI's representative subset); other images a
# machine may hold are tried by `npm run test:languages`, which builds and tests them all.
export CORRAL_TEST_IMAGES="${CORRAL_TEST_IMAGES:-busybox base gcc python}"
# --test-force-exit: a file whose tests have all finished ends even if a handle stays open (a hang
# there would otherwise hold CI until its time limit; each file still fails on its own assertions).
# shellcheck disable=SC2046
exec node --import tsx --test --test-force-exit --test-concurrency="${TEST_CONCURRENCY:-2}" $(find test -name '*.test.ts' | sort)
