#!/bin/sh
# Runs CMD... chrooted in ROOT (a Debian tree of tests/pipeline/provision.sh), in a private mount
# namespace of its own that holds /proc and the repository (at its own path, so paths mean the
# same inside and out) only for that process: nothing stays mounted inside ROOT however the
# process ends, and concurrent runs cannot see each other's mounts. Needs root.
#
#     tests/pipeline/in_root.sh ROOT CMD...
set -e
[ $# -ge 2 ] || { echo "usage: $0 ROOT CMD..." >&2; exit 2; }
root=$1
shift
repo=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$root$repo"
exec unshare --mount --propagation private sh -c \
    'mount -t proc proc "$0/proc" && mount --bind "$1" "$0$1" && shift &&
     exec chroot "$0" env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"' \
    "$root" "$repo" "$@"
