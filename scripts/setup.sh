#!/bin/sh
# Idempotent setup for a fresh Debian/Ubuntu machine, run as root by `npm start` and `npm test`:
# Debian packages, npm dependencies, the native launcher, the default images. Quick when
# everything is already there: each step checks before it acts.
#
#   scripts/setup.sh            what `corral up` needs
#   scripts/setup.sh --tests    also what the test suite needs (user-mode-linux and qemu for cgroup v2)
set -eu
cd "$(dirname "$0")/.."
for_tests=0
[ "${1:-}" = "--tests" ] && for_tests=1

say() { printf 'setup: %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "setup: Corral must run as root (it creates namespaces, cgroups and mounts)" >&2
  exit 1
fi

# 1. Debian packages. Only what is missing; `apt-get update` once, only when installing.
need=""
have() { command -v "$1" >/dev/null 2>&1; }
have cc || need="$need gcc libc6-dev"
have make || need="$need make"
have redis-server || need="$need redis-server"
have debootstrap || need="$need debootstrap"
have unshare || need="$need util-linux"
[ -x /bin/busybox ] || need="$need busybox-static"
# The truthful /proc's daemon (native/procview) builds against libfuse3.
have pkg-config || need="$need pkg-config"
pkg-config --exists fuse3 2>/dev/null || need="$need libfuse3-dev"
if [ "$for_tests" = 1 ]; then
  [ -x /usr/bin/linux.uml ] || need="$need user-mode-linux"
  # CPU placement on cgroup v2 runs in a qemu guest (test/sandbox/cgroup-v2-cpuset.test.ts, run
  # alone after the suite; its initramfs is built from busybox-static, above). ~20 MB, ~25 s.
  have qemu-system-x86_64 || need="$need qemu-system-x86"
  # insmod loads FUSE into the cgroup v2 test kernel (test/sandbox/cgroup-v2.test.ts).
  have insmod || [ -x /sbin/insmod ] || need="$need kmod"
  # The Jupyter face's real clients and its benchmark's unsandboxed reference:
  # Jupyter Server (--gateway-url), nbclient and a host ipykernel.
  have jupyter-server || need="$need jupyter-server python3-jupyter-server"
  # Debian's interpreter, as the tests run it (a python3 earlier on PATH, e.g. pyenv's, lacks them).
  /usr/bin/python3 -c 'import nbclient, ipykernel, matplotlib' 2>/dev/null ||
    need="$need python3-nbclient python3-ipykernel python3-nbformat python3-matplotlib"
fi
if [ -n "$need" ]; then
  if ! have apt-get; then
    echo "setup: missing$need and no apt-get to install them with; install them, then run again" >&2
    exit 1
  fi
  say "installing Debian packages:$need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
# The embedded Redis is started by Corral itself, never as a system service.
if have systemctl && systemctl is-active --quiet redis-server 2>/dev/null; then :; fi

# 2. npm dependencies, when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

# 3. The native launcher (make rebuilds only what changed).
make -s -C native >/dev/null

# 4. Images, cached in the image store by recipe hash: a warm run builds nothing.
images="${CORRAL_IMAGES:-busybox gcc python}"
# shellcheck disable=SC2086
./bin/corral images build $images
