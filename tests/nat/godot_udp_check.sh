#!/usr/bin/env bash
# Checks that Godot, chrooted into a Debian tree by tests/pipeline/in_root.sh, runs inside the NAT
# lab's namespaces and can bind/send/receive UDP there: in an ipv6 lab (cone NATs + IPv6), the
# GDScript tests/nat/udp_probe.gd in "host" sends a datagram to a Python listener
#   1. in pub (198.51.100.1:5000, through routerA's NAT: the listener sees 198.51.100.2),
#   2. in joiner over IPv6 ([2001:db8:2::10]:5000, routed, no NAT),
# and waits for the answer. The lab is torn down however this ends (lab.sh run).
#
#     tests/nat/godot_udp_check.sh [GODOT_ROOT]     (default /root/.cache/rust_enet/godot-root)
#
# The pattern: ip netns exec NS tests/pipeline/in_root.sh ROOT godot --headless --script ABS.gd -- ARGS
# (lab.sh exec NODE ... is ip netns exec $NATLAB_PREFIX-NODE ...). The script path must be absolute
# and inside the repository: in_root.sh bind-mounts the repository at its own path in the chroot.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export NATLAB_PREFIX=${NATLAB_PREFIX:-rngd}
if [[ ${1:-} != --in-lab ]]; then
    root=${1:-/root/.cache/rust_enet/godot-root}
    [[ -x $root/usr/bin/godot ]] || { echo "no godot in $root (tests/pipeline/provision.sh makes it)"; exit 1; }
    exec "$here/lab.sh" run ipv6 -- "$0" --in-lab "$root"
fi
root=$2
lab=$here/lab.sh
rc=0
probe() { # LISTENER_NODE BIND DEST
    "$lab" exec "$1" python3 "$here/punch_probe.py" listen --bind "$2" --port 5000 --reply --timeout 30 &
    local listener=$!
    sleep 0.3
    echo "+ ip netns exec $NATLAB_PREFIX-host tests/pipeline/in_root.sh $root godot --headless --script $here/udp_probe.gd -- $3 5000"
    if ip netns exec "$NATLAB_PREFIX-host" "$repo/tests/pipeline/in_root.sh" "$root" \
        godot --headless --script "$here/udp_probe.gd" -- "$3" 5000; then
        echo "ok: godot in host <-> $1 ($3)"
    else
        echo "FAILED: godot in host <-> $1 ($3)"
        rc=1
    fi
    wait "$listener" || true
}
ip netns exec "$NATLAB_PREFIX-host" "$repo/tests/pipeline/in_root.sh" "$root" godot --headless --version
probe pub 198.51.100.1 198.51.100.1
probe joiner :: 2001:db8:2::10
exit $rc
