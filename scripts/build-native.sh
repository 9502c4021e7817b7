#!/bin/sh
# Builds native/build/libcorral.so (and the corral-run debug CLI). Run by `npm install` and setup.
set -eu
cd "$(dirname "$0")/../native"
if ! command -v "${CC:-cc}" >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
  echo "corral: building the sandbox launcher needs a C compiler and make (Debian: apt-get install gcc make libc6-dev)" >&2
  exit 1
fi
make -s
