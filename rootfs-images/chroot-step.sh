#!/bin/sh
# One build command inside a layer being built. The builder runs this script (a fixed file: user
# input only ever arrives as positional arguments, never as shell text) in a fresh private mount
# namespace, `unshare --mount --propagation private --fork`, so every mount below disappears with
# the namespace, even when the builder is killed half-way.
#
#   chroot-step.sh LOWERS UPPER WORK ROOT CACHE -- CMD [ARG...]
#
# LOWERS  colon-separated overlay lowerdirs, top first (overlay's order), or "-" when ROOT is a
#         plain directory (the base layer, which has no parent to overlay)
# UPPER   the new layer's files (overlay upper dir); WORK its overlay work dir
# ROOT    where the overlay is mounted and chrooted into
# CACHE   a host directory with apt/archives and apt/lists, bound over the chroot's apt cache and
#         lists so downloads are shared between builds and never land in a layer; "-" for none
#
# The overlay uses `userxattr`: the sandbox mounts layers from inside a user namespace, where
# only user.overlay.* xattrs are visible, so opaque dirs in UPPER must be marked that way.
set -eu
lowers=$1 upper=$2 work=$3 root=$4 cache=$5
shift 5
[ "${1-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "chroot-step: no command given" >&2; exit 2; }

if [ "$lowers" != "-" ]; then
  mount -t overlay overlay -o "lowerdir=$lowers,upperdir=$upper,workdir=$work,userxattr" "$root" \
    || { echo "chroot-step: mount overlay on $root failed" >&2; exit 1; }
fi
# Mount points must already exist in the lower layers (creating them would write into UPPER).
[ -d "$root/proc" ] && mount -t proc proc "$root/proc"
[ -d "$root/dev" ] && mount --rbind /dev "$root/dev"
[ -d "$root/sys" ] && mount --rbind -o ro /sys "$root/sys" 2>/dev/null || true
# Scratch space that must not end up in the layer.
[ -d "$root/tmp" ] && mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
[ -d "$root/run" ] && mount -t tmpfs -o mode=755 tmpfs "$root/run"
# Name resolution for apt: bind the host's file over the (empty) one the base layer carries.
[ -f "$root/etc/resolv.conf" ] && mount --bind /etc/resolv.conf "$root/etc/resolv.conf"
if [ "$cache" != "-" ]; then
  [ -d "$root/var/cache/apt/archives" ] && [ -d "$root/var/lib/apt/lists" ] \
    || { echo "chroot-step: $root has no apt directories to bind the cache over" >&2; exit 1; }
  mkdir -p "$cache/archives/partial" "$cache/lists/partial"
  mount --bind "$cache/archives" "$root/var/cache/apt/archives"
  mount --bind "$cache/lists" "$root/var/lib/apt/lists"
fi

exec env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true \
  /usr/sbin/chroot "$root" "$@"
