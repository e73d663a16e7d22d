#!/usr/bin/env bash
# NAT lab: Linux network namespaces + nftables NAT, to test NAT traversal (hole punching, relay
# fallback, keepalive) of rust_enet without any real network. Needs root, iproute2 and nftables
# (apt-get install nftables; conntrack is optional, for `lab.sh conntrack`).
#
# FILES (tests/nat/)
#   lab.sh              this script
#   punch_probe.py      stdlib-only UDP probe: rendezvous, peer, listener, and `suite`, which runs
#                       every case below in its own lab and prints a table (validates the lab)
#   udp_probe.gd        GDScript: UDP datagram to HOST:PORT and back, from Godot in a namespace
#   godot_udp_check.sh  runs udp_probe.gd chrooted (tests/pipeline/in_root.sh) in the lab
#
# TOPOLOGY (all addresses exist only inside the lab's namespaces)
#
#                          pub  (one router hop between the homes, hosts the rendezvous)
#             198.51.100.1 seg-a    seg-b 203.0.113.1
#             2001:db8:a::1 |          | 2001:db8:b::1
#                           |          |
#        198.51.100.2  wan routerA    routerB wan  203.0.113.2
#       2001:db8:a::2       |  NAT     NAT |        2001:db8:b::2
#        10.0.1.1 / 2001:db8:1::1 lan    lan 10.0.2.1 / 2001:db8:2::1   (lan = bridge)
#                  |               |          |
#                host          joiner2      joiner
#         10.0.1.10          10.0.1.11      10.0.2.10
#         2001:db8:1::10     2001:db8:1::11 2001:db8:2::10
#
#   Nodes: pub, routerA, routerB, host, joiner, joiner2. Namespace of NODE: "$NATLAB_PREFIX-NODE"
#   (NATLAB_PREFIX defaults to rnat, so rnat-host ...; another prefix gives a second, independent
#   lab with the same addresses: punch_probe.py suite runs labs rnp0, rnp1 ... side by side).
#   Public (NAT) address of host and joiner2: 198.51.100.2; of joiner: 203.0.113.2.
#   Rendezvous: 198.51.100.1 (punch_probe.py uses port 3478), and 203.0.113.1 as a second server
#   address (a peer compares the public ports both see: equal behind a cone NAT, different behind a
#   symmetric one); on IPv6 2001:db8:a::1 and 2001:db8:b::1. pub has no route to 10.0.0.0/8.
#   A packet with TTL 2 from a home node dies in pub, one hop after its own router: it opens the
#   sender's NAT mapping without reaching the other home router.
#   Global IPv6 addresses exist only in the ipv6* topologies (routed, no NAT).
#   State of a running lab: /run/rust_enet-natlab/PREFIX.env (what `lab.sh env` prints).
#
# NAT KINDS (per router, IPv4; nft table "ip natlab" in the router's namespace)
#   cone       oifname "wan" masquerade: endpoint-independent mapping (source port kept when free),
#              address-and-port-dependent filtering through conntrack = port-restricted cone NAT.
#   symmetric  oifname "wan" masquerade random,fully-random: a new public port per destination.
#   No router hairpins: a packet from the LAN to the router's own public address ends at the
#   router itself, so two hosts behind one NAT reach each other only by LAN address.
#   Every router drops unsolicited packets from wan, both forwards and those addressed to itself
#   (only ct state established,related pass), like a home router (OpenWrt's wan zone rejects
#   input). --open-input lets the packets for the router itself in, as some routers do: a punch
#   that reaches such a router before its player's own first packet to that sender is delivered
#   to the router, its conntrack entry is confirmed, and the player's own flow to that sender then
#   clashes with it and gets a new public port, so naive simultaneous punching fails there. Mapping lifetime = the conntrack UDP timeouts of the router's
#   namespace: Linux defaults nf_conntrack_udp_timeout=30 s and nf_conntrack_udp_timeout_stream=
#   120 s; a flow only gets the stream timeout once it saw packets both ways and is still active
#   more than 2 s after it began (so a punch that goes quiet within 2 s expires after 30 s). The
#   expireN topologies set both sysctls to N in the routers' namespaces (they are per network
#   namespace here; the root namespace keeps its values). nft "ct timeout" objects (with
#   "ct timeout set" in a raw prerouting chain) load here but did not change the timeouts conntrack
#   showed: use the sysctls.
#
# TOPOLOGIES (lab.sh up NAME [OPTIONS])      case it is for (issue)
#   cone       A cone, B cone                both behind port-restricted cone NATs: the punch works
#                                            (with --open-input only when each side first opens its
#                                            own mapping: TTL 2 probes)
#   symmetric  A cone, B symmetric           one side behind a symmetric NAT: punching fails,
#                                            relay needed
#   symmetric2 A symmetric, B symmetric      both symmetric (relay)
#   samenat    = cone; use host and joiner2  both behind one NAT without hairpinning: the public
#                                            address fails, only LAN candidates work
#   expireN    A, B cone, UDP mappings expire after N s: expire30 is the issue's case (a 2-minute
#              session needs keepalives more often than every 30 s); expire5 for a quick check
#   ipv6       IPv4 as cone + IPv6 routed without NAT or firewall (dual stack): direct over IPv6
#   ipv6fw     as ipv6, routers with a stateful IPv6 firewall (inbound only established,related)
#   ipv6only   IPv6 only (no IPv4 addresses at all), routed without NAT
#   Options change the preset: --nat-a KIND --nat-b KIND (cone|symmetric), --expire SECONDS (both
#   routers), --expire-a S, --expire-b S, --ipv6, --ipv6-firewall, --no-ipv4, --open-input (the
#   routers accept unsolicited packets for themselves, see NAT KINDS).
#
# COMMANDS (as root)
#   lab.sh check [TOPOLOGY]   can namespaces + veth + nftables NAT (+ per-netns conntrack timeouts,
#                             IPv6) be made here? exit 0 with "ok: ...", else exit 1 printing
#                             "REASON; run FIX" (a pipeline prints "skipped: $(lab.sh check)")
#   lab.sh up TOPOLOGY [OPT]  build the lab (refuses if one with this prefix is up)
#   lab.sh down               kill the processes left in the lab's namespaces and delete them (their
#                             veths, bridges and nft tables go with them); safe to run any time
#   lab.sh run TOPOLOGY [OPT] -- CMD...   up, run CMD (in the root namespace, NATLAB_* exported),
#                             down however CMD ends (also on INT/TERM/HUP); exits with CMD's status
#   lab.sh exec NODE CMD...   run CMD in NODE's namespace (= ip netns exec PREFIX-NODE CMD...)
#   lab.sh addr [-4|-6] NODE  NODE's global addresses, one per line
#   lab.sh env                export NATLAB_*=... lines: eval "$(tests/nat/lab.sh env)"
#   lab.sh status             topology, NAT rules, conntrack timeouts of the routers
#   lab.sh conntrack ROUTER   the router's UDP conntrack table (apt-get install conntrack)
#   lab.sh nodes              the node names
#   Timings here: up 0.15-0.6 s, down 0.04-0.15 s.
#
# EXAMPLES
#   tests/nat/lab.sh up cone
#   tests/nat/lab.sh exec pub python3 tests/nat/punch_probe.py rendezvous 198.51.100.1 203.0.113.1 &
#   tests/nat/lab.sh exec host python3 tests/nat/punch_probe.py peer --id host --rendezvous 198.51.100.1 &
#   tests/nat/lab.sh exec joiner python3 tests/nat/punch_probe.py peer --id joiner --rendezvous 198.51.100.1
#   tests/nat/lab.sh conntrack routerA; tests/nat/lab.sh down
#   tests/nat/punch_probe.py suite [--quick]  # every case, own labs, a table (~170 s, quick ~35 s)
#   Godot, chrooted into the Debian tree of tests/pipeline/provision.sh, in a node:
#     tests/nat/lab.sh exec host tests/pipeline/in_root.sh /root/.cache/rust_enet/godot-root \
#         godot --headless --script "$PWD/tests/nat/udp_probe.gd" -- 198.51.100.1 5000
#   which is ip netns exec rnat-host tests/pipeline/in_root.sh ROOT godot ... (the script path must
#   be absolute and inside the repository, which in_root.sh mounts at its own path); see
#   godot_udp_check.sh. Godot 4.6.3 misparses shortened IPv6 address strings (godot#118050:
#   "2001:db8:2::10" -> 2001:db8:2:10::10): give Godot full forms (2001:db8:2:0:0:0:0:10).
#
# MEASURED HERE (punch_probe.py suite, routers with --open-input; every run the same)
#   cone, naive simultaneous punch          fails: the first punch to reach the other router finds
#       no mapping and is recorded there as an inbound flow; that router's own player then gets a
#       new public port (conntrack: 10.0.1.10:40000 -> 203.0.113.2:40000 mapped to :26893)
#   cone, host first, joiner 1 s later      fails the same way
#   cone, TTL 2 probes then punch           direct, connected after ~0.75 s
#   symmetric (joiner)                      no direct packet either way; relay through the
#                                           rendezvous works
#   samenat, public addresses               fails (no hairpin); LAN addresses: direct, ~0.4 s
#   expire30: 35 s idle dies, 2-minute session with a keepalive every 15 s survives (expire5: same
#       with 8 s / 20 s + 2 s keepalive); cone (defaults): 35 s idle survives after 3 s of traffic,
#       dies if the traffic lasted < 2 s
#   ipv6, ipv6fw, ipv6only, naive punch     direct, ~0.2-0.4 s
#
# Interfaces: veth pairs are created directly inside their namespaces under throwaway names
# (nl<pid>x<n>a/b, never in the root namespace) and renamed there. Nothing is created outside the
# lab's namespaces; `up` tears down what it made if it fails or is interrupted.
set -euo pipefail

PREFIX=${NATLAB_PREFIX:-rnat}
STATE_DIR=/run/rust_enet-natlab
STATE=$STATE_DIR/$PREFIX.env
NODES=(pub routerA routerB host joiner joiner2)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "lab.sh: $*" >&2; exit 1; }
nsname() { echo "$PREFIX-$1"; }
node_ok() { local n; for n in "${NODES[@]}"; do [[ $n == "$1" ]] && return 0; done; return 1; }
lab_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$PREFIX-" || true; }
now() { date +%s%N; }
elapsed() { local ms=$((($(now) - $1) / 1000000)); printf '%d.%03ds' $((ms / 1000)) $((ms % 1000)); }

# ---------------------------------------------------------------- topology options
parse_topology() { # NAME [OPTIONS...] -> globals
    TOPO=${1:?topology missing (cone, symmetric, symmetric2, samenat, expireN, ipv6, ipv6fw, ipv6only)}
    shift
    NAT_A=cone NAT_B=cone EXPIRE_A="" EXPIRE_B="" V6=0 V6FW=0 V4=1 OPEN_INPUT=0
    case $TOPO in
        cone | samenat) ;;
        symmetric) NAT_B=symmetric ;;
        symmetric2) NAT_A=symmetric NAT_B=symmetric ;;
        expire[0-9]*) EXPIRE_A=${TOPO#expire} EXPIRE_B=${TOPO#expire}
            [[ $EXPIRE_A =~ ^[0-9]+$ ]] || die "bad topology $TOPO (expireSECONDS)" ;;
        ipv6) V6=1 ;;
        ipv6fw) V6=1 V6FW=1 ;;
        ipv6only) V6=1 V4=0 ;;
        *) die "unknown topology $TOPO" ;;
    esac
    while [[ $# -gt 0 ]]; do
        case $1 in
            --nat-a) NAT_A=$2; shift ;;
            --nat-b) NAT_B=$2; shift ;;
            --expire) EXPIRE_A=$2 EXPIRE_B=$2; shift ;;
            --expire-a) EXPIRE_A=$2; shift ;;
            --expire-b) EXPIRE_B=$2; shift ;;
            --ipv6) V6=1 ;;
            --ipv6-firewall) V6=1 V6FW=1 ;;
            --no-ipv4) V4=0 V6=1 ;;
            --open-input) OPEN_INPUT=1 ;;
            --) shift; break ;;
            *) die "unknown option $1" ;;
        esac
        shift
    done
    REST=("$@")
    local k
    for k in "$NAT_A" "$NAT_B"; do [[ $k == cone || $k == symmetric ]] || die "NAT kind $k: cone|symmetric"; done
    for k in "$EXPIRE_A" "$EXPIRE_B"; do [[ -z $k || $k =~ ^[0-9]+$ ]] || die "bad expiry $k"; done
}

# ---------------------------------------------------------------- building blocks
VETH_N=0
veth() { # NODE_A IF_A NODE_B IF_B: a pair created in the namespaces under throwaway names, renamed
    local a=nl${BASHPID}x${VETH_N}a b=nl${BASHPID}x${VETH_N}b
    VETH_N=$((VETH_N + 1))
    ip link add "$a" netns "$(nsname "$1")" type veth peer name "$b" netns "$(nsname "$3")"
    ip -n "$(nsname "$1")" link set "$a" name "$2"
    ip -n "$(nsname "$3")" link set "$b" name "$4"
    ip -n "$(nsname "$1")" link set "$2" up
    ip -n "$(nsname "$3")" link set "$4" up
}
in_ns() { local n=$1; shift; ip netns exec "$(nsname "$n")" "$@"; }
addr4() { [[ $V4 == 1 ]] && ip -n "$(nsname "$1")" addr add "$3" dev "$2" || true; }
addr6() { [[ $V6 == 1 ]] && ip -n "$(nsname "$1")" -6 addr add "$3" dev "$2" nodad || true; }
route4() { [[ $V4 == 1 ]] && ip -n "$(nsname "$1")" route add "$2" via "$3" || true; }
route6() { [[ $V6 == 1 ]] && ip -n "$(nsname "$1")" -6 route add "$2" via "$3" || true; }

router_rules() { # ROUTER KIND FIREWALL6
    local masq="masquerade" input=""
    [[ $2 == symmetric ]] && masq="masquerade random,fully-random"
    # A home router drops what comes from wan for itself unless it answers its own traffic; a
    # dropped packet leaves no conntrack entry (entries are confirmed after the filter hooks).
    [[ $OPEN_INPUT == 1 ]] || input='
    chain local_in {
        type filter hook input priority filter; policy accept;
        iifname "wan" ct state established,related accept
        iifname "wan" drop
    }'

    {
        if [[ $V4 == 1 ]]; then
            cat <<EOF
table ip natlab {
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan" $masq
    }
    chain inbound {
        type filter hook forward priority filter; policy accept;
        iifname "wan" ct state established,related accept
        iifname "wan" drop
    }$input
}
EOF
        fi
        if [[ $3 == 1 ]]; then
            cat <<EOF
table ip6 natlab6 {
    chain inbound {
        type filter hook forward priority filter; policy accept;
        iifname "wan" ct state established,related accept
        iifname "wan" icmpv6 type { packet-too-big, echo-request } accept
        iifname "wan" drop
    }
}
EOF
        fi
    } | in_ns "$1" nft -f -
}

conntrack_timeout() { # ROUTER SECONDS
    in_ns "$1" sysctl -qw net.netfilter.nf_conntrack_udp_timeout="$2" \
        net.netfilter.nf_conntrack_udp_timeout_stream="$2"
}

build() {
    local n
    for n in "${NODES[@]}"; do
        ip netns add "$(nsname "$n")"
        ip -n "$(nsname "$n")" link set lo up
    done
    # pub: routes between the two WAN segments
    veth pub seg-a routerA wan
    veth pub seg-b routerB wan
    addr4 pub seg-a 198.51.100.1/24; addr6 pub seg-a 2001:db8:a::1/64
    addr4 pub seg-b 203.0.113.1/24; addr6 pub seg-b 2001:db8:b::1/64
    # home routers: bridge "lan"
    local r
    for r in routerA routerB; do
        ip -n "$(nsname $r)" link add lan type bridge
        ip -n "$(nsname $r)" link set lan up
    done
    veth routerA lan-host host eth0
    veth routerA lan-joiner2 joiner2 eth0
    veth routerB lan-joiner joiner eth0
    for n in lan-host lan-joiner2; do ip -n "$(nsname routerA)" link set "$n" master lan; done
    ip -n "$(nsname routerB)" link set lan-joiner master lan
    addr4 routerA wan 198.51.100.2/24; addr6 routerA wan 2001:db8:a::2/64
    addr4 routerA lan 10.0.1.1/24; addr6 routerA lan 2001:db8:1::1/64
    addr4 routerB wan 203.0.113.2/24; addr6 routerB wan 2001:db8:b::2/64
    addr4 routerB lan 10.0.2.1/24; addr6 routerB lan 2001:db8:2::1/64
    route4 routerA default 198.51.100.1; route6 routerA default 2001:db8:a::1
    route4 routerB default 203.0.113.1; route6 routerB default 2001:db8:b::1
    route6 pub 2001:db8:1::/64 2001:db8:a::2
    route6 pub 2001:db8:2::/64 2001:db8:b::2
    # hosts
    addr4 host eth0 10.0.1.10/24; addr6 host eth0 2001:db8:1::10/64
    addr4 joiner2 eth0 10.0.1.11/24; addr6 joiner2 eth0 2001:db8:1::11/64
    addr4 joiner eth0 10.0.2.10/24; addr6 joiner eth0 2001:db8:2::10/64
    for n in host joiner2; do route4 $n default 10.0.1.1; route6 $n default 2001:db8:1::1; done
    route4 joiner default 10.0.2.1; route6 joiner default 2001:db8:2::1
    # forwarding, NAT, mapping lifetime
    for n in pub routerA routerB; do
        in_ns $n sysctl -qw net.ipv4.ip_forward=1
        [[ $V6 == 1 ]] && in_ns $n sysctl -qw net.ipv6.conf.all.forwarding=1
    done
    router_rules routerA "$NAT_A" "$V6FW"
    router_rules routerB "$NAT_B" "$V6FW"
    [[ -n $EXPIRE_A ]] && conntrack_timeout routerA "$EXPIRE_A"
    [[ -n $EXPIRE_B ]] && conntrack_timeout routerB "$EXPIRE_B"
    return 0
}

teardown() { # kills what runs in the lab's namespaces, deletes them
    local n pids
    mapfile -t nss < <(lab_namespaces)
    for n in "${nss[@]}"; do
        pids=$(ip netns pids "$n" 2>/dev/null || true)
        [[ -n $pids ]] && kill -TERM $pids 2>/dev/null || true
    done
    for n in "${nss[@]}"; do
        local i
        for i in 1 2 3 4 5 6 7 8 9 10; do
            pids=$(ip netns pids "$n" 2>/dev/null || true)
            [[ -z $pids ]] && break
            sleep 0.1
        done
        [[ -n $pids ]] && kill -KILL $pids 2>/dev/null || true
        ip netns del "$n" 2>/dev/null || true
    done
    rm -f "$STATE"
}

write_state() {
    mkdir -p "$STATE_DIR"
    {
        echo "NATLAB_PREFIX=$PREFIX"
        echo "NATLAB_TOPOLOGY=$TOPO"
        echo "NATLAB_NAT_A=$NAT_A"
        echo "NATLAB_NAT_B=$NAT_B"
        echo "NATLAB_EXPIRE_A=${EXPIRE_A:-default}"
        echo "NATLAB_EXPIRE_B=${EXPIRE_B:-default}"
        echo "NATLAB_IPV4=$V4"
        echo "NATLAB_IPV6=$V6"
        echo "NATLAB_IPV6_FIREWALL=$V6FW"
        local n
        for n in "${NODES[@]}"; do echo "NATLAB_NS_${n^^}=$(nsname "$n")"; done
        if [[ $V4 == 1 ]]; then
            echo "NATLAB_RENDEZVOUS4=198.51.100.1"
            echo "NATLAB_RENDEZVOUS4_ALT=203.0.113.1"
            echo "NATLAB_HOST4=10.0.1.10"
            echo "NATLAB_JOINER4=10.0.2.10"
            echo "NATLAB_JOINER24=10.0.1.11"
            echo "NATLAB_PUBLIC_A4=198.51.100.2"
            echo "NATLAB_PUBLIC_B4=203.0.113.2"
        fi
        if [[ $V6 == 1 ]]; then
            echo "NATLAB_RENDEZVOUS6=2001:db8:a::1"
            echo "NATLAB_RENDEZVOUS6_ALT=2001:db8:b::1"
            echo "NATLAB_HOST6=2001:db8:1::10"
            echo "NATLAB_JOINER6=2001:db8:2::10"
            echo "NATLAB_JOINER26=2001:db8:1::11"
        fi
    } >"$STATE"
}

export_state() { # exports NATLAB_* of the running lab, if any
    [[ -f $STATE ]] || return 0
    local line
    while IFS= read -r line; do export "${line?}"; done <"$STATE"
}

lock() { mkdir -p "$STATE_DIR"; exec 9>"$STATE_DIR/$PREFIX.lock"; flock 9; }

# ---------------------------------------------------------------- commands
cmd_up() {
    parse_topology "$@"
    [[ ${#REST[@]} -eq 0 ]] || die "up: unexpected arguments: ${REST[*]}"
    [[ $EUID -eq 0 ]] || die "needs root"
    command -v nft >/dev/null || die "nft missing: apt-get install nftables"
    lock
    [[ -z $(lab_namespaces) ]] || die "a lab with prefix $PREFIX is up ($(cat "$STATE" 2>/dev/null | grep TOPOLOGY || echo '?')); run lab.sh down first"
    local t0
    t0=$(now)
    trap 'echo "lab.sh: up failed or interrupted, tearing down" >&2; trap - EXIT INT TERM; teardown; exit 1' EXIT INT TERM
    build
    write_state
    trap - EXIT INT TERM
    printf 'lab %s up (A %s, B %s, expiry A %s B %s, ipv4 %s, ipv6 %s%s) in %s\n' "$TOPO" "$NAT_A" "$NAT_B" \
        "${EXPIRE_A:-default}" "${EXPIRE_B:-default}" "$V4" "$V6" "$([[ $V6FW == 1 ]] && echo ' firewalled')" \
        "$(elapsed "$t0")" >&2
}

cmd_down() {
    [[ $EUID -eq 0 ]] || die "needs root"
    lock
    local t0
    t0=$(now)
    teardown
    printf 'lab %s down in %s\n' "$PREFIX" "$(elapsed "$t0")" >&2
}

cmd_run() {
    parse_topology "$@"
    [[ ${#REST[@]} -gt 0 ]] || die "run: CMD missing (lab.sh run TOPOLOGY [OPT] -- CMD...)"
    local cmd=("${REST[@]}") args=("$TOPO") rc=0
    [[ $NAT_A != cone ]] && args+=(--nat-a "$NAT_A")
    [[ $NAT_B != cone ]] && args+=(--nat-b "$NAT_B")
    [[ -n $EXPIRE_A ]] && args+=(--expire-a "$EXPIRE_A")
    [[ -n $EXPIRE_B ]] && args+=(--expire-b "$EXPIRE_B")
    [[ $V6 == 1 ]] && args+=(--ipv6)
    [[ $V6FW == 1 ]] && args+=(--ipv6-firewall)
    [[ $V4 == 0 ]] && args+=(--no-ipv4)
    [[ $OPEN_INPUT == 1 ]] && args+=(--open-input)
    "$0" up "${args[@]}" || exit 1
    trap '"$0" down' EXIT
    export_state
    # CMD runs in the background (stdin kept) so that a signal interrupts the wait at once: it is
    # passed on to CMD, and the lab goes down when this script exits.
    "${cmd[@]}" <&0 &
    local child=$!
    trap 'kill -TERM $child 2>/dev/null || true; wait $child || true; exit 130' INT
    trap 'kill -TERM $child 2>/dev/null || true; wait $child || true; exit 143' TERM
    trap 'kill -TERM $child 2>/dev/null || true; wait $child || true; exit 129' HUP
    wait $child || rc=$?
    exit $rc
}

cmd_exec() {
    local n=${1:?NODE missing}
    shift
    node_ok "$n" || die "unknown node $n (${NODES[*]})"
    [[ $# -gt 0 ]] || die "exec: CMD missing"
    [[ -e /run/netns/$(nsname "$n") ]] || die "no lab up with prefix $PREFIX (lab.sh up TOPOLOGY)"
    export_state
    exec ip netns exec "$(nsname "$n")" "$@"
}

cmd_addr() {
    local fam=""
    [[ ${1:-} == -4 || ${1:-} == -6 ]] && { fam=$1; shift; }
    local n=${1:?NODE missing}
    node_ok "$n" || die "unknown node $n (${NODES[*]})"
    ip -n "$(nsname "$n")" $fam -o addr show scope global | awk '{split($4, a, "/"); print a[1]}'
}

cmd_env() {
    [[ -f $STATE ]] || die "no lab up (prefix $PREFIX)"
    sed 's/^/export /' "$STATE"
}

cmd_status() {
    if [[ ! -f $STATE ]]; then
        echo "no lab up (prefix $PREFIX); namespaces: $(lab_namespaces | tr '\n' ' ')"
        return 0
    fi
    cat "$STATE"
    local r
    for r in routerA routerB; do
        echo "--- $r: udp timeouts $(in_ns $r sysctl -n net.netfilter.nf_conntrack_udp_timeout 2>/dev/null || echo '?')/$(in_ns $r sysctl -n net.netfilter.nf_conntrack_udp_timeout_stream 2>/dev/null || echo '?') s"
        in_ns $r nft list ruleset
    done
}

cmd_conntrack() {
    local r=${1:?ROUTER missing}
    command -v conntrack >/dev/null || die "conntrack missing: apt-get install conntrack"
    in_ns "$r" conntrack -L -p udp 2>/dev/null
}

cmd_check() { # [TOPOLOGY]: prints "ok: ..." or "REASON; run FIX" and exits 0/1
    local need_expire=1 need_v6=1
    if [[ $# -gt 0 ]]; then
        parse_topology "$@"
        need_expire=0 need_v6=$V6
        [[ -n $EXPIRE_A$EXPIRE_B ]] && need_expire=1
    fi
    no() { echo "$1; run $2"; exit 1; }
    [[ $EUID -eq 0 ]] || no "the NAT lab needs root" "the tests as root (sudo)"
    command -v ip >/dev/null || no "iproute2 (ip) is missing" "apt-get install iproute2"
    command -v nft >/dev/null || no "nftables (nft) is missing" "apt-get install nftables"
    command -v flock >/dev/null || no "flock is missing" "apt-get install util-linux"
    local a=natlabchk$$a b=natlabchk$$b notes=() root_timeout
    root_timeout=$(sysctl -n net.netfilter.nf_conntrack_udp_timeout 2>/dev/null || echo none)
    trap 'ip netns del "$a" 2>/dev/null; ip netns del "$b" 2>/dev/null; true' EXIT
    ip netns add "$a" 2>/dev/null && ip netns add "$b" 2>/dev/null ||
        no "cannot create network namespaces (ip netns add failed: no CAP_SYS_ADMIN, e.g. an unprivileged container)" "the tests as root on a host or a privileged container"
    ip link add nlchk$$a netns "$a" type veth peer name nlchk$$b netns "$b" 2>/dev/null &&
        ip -n "$a" link set nlchk$$a name wan 2>/dev/null ||
        no "cannot create veth pairs (kernel without veth?)" "modprobe veth, or the tests on a kernel with CONFIG_VETH"
    printf 'table ip natlab {\n chain post {\n type nat hook postrouting priority srcnat; policy accept;\n oifname "wan" masquerade random,fully-random\n }\n chain inbound {\n type filter hook forward priority filter; policy accept;\n iifname "wan" ct state established,related accept\n }\n}\n' |
        ip netns exec "$a" nft -f - 2>/dev/null ||
        no "nftables NAT is unavailable in a namespace (kernel lacks nf_tables / nft_masq / nf_conntrack)" "modprobe nft_masq nf_conntrack, or the tests on a kernel with nftables NAT"
    notes+=("namespaces, veth, nftables masquerade")
    if ip netns exec "$a" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=7 net.netfilter.nf_conntrack_udp_timeout_stream=7 2>/dev/null &&
        [[ $(ip netns exec "$a" sysctl -n net.netfilter.nf_conntrack_udp_timeout) == 7 ]] &&
        [[ $(sysctl -n net.netfilter.nf_conntrack_udp_timeout 2>/dev/null || echo none) == "$root_timeout" ]]; then
        notes+=("per-namespace conntrack UDP timeouts")
    else
        [[ $need_expire == 1 && $# -gt 0 ]] &&
            no "conntrack UDP timeouts cannot be set in a namespace (needed by $TOPO)" "the tests on a kernel with per-netns nf_conntrack sysctls"
        notes+=("NO per-namespace conntrack timeouts (expireN topologies unavailable)")
    fi
    if ip -n "$a" -6 addr add 2001:db8:ffff::1/64 dev lo nodad 2>/dev/null; then
        notes+=("IPv6")
    else
        [[ $need_v6 == 1 && $# -gt 0 ]] && no "IPv6 is disabled here (needed by $TOPO)" "the tests with IPv6 enabled (ipv6.disable=0)"
        notes+=("NO IPv6 (ipv6* topologies unavailable)")
    fi
    local joined
    joined=$(printf '%s, ' "${notes[@]}")
    echo "ok: ${joined%, }"
    exit 0
}

main() {
    local c=${1:-}
    [[ $# -gt 0 ]] && shift
    case $c in
        check) cmd_check "$@" ;;
        up) cmd_up "$@" ;;
        down) cmd_down ;;
        run) cmd_run "$@" ;;
        exec) cmd_exec "$@" ;;
        addr) cmd_addr "$@" ;;
        env) cmd_env ;;
        status) cmd_status ;;
        conntrack) cmd_conntrack "$@" ;;
        nodes) printf '%s\n' "${NODES[@]}" ;;
        *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; [[ -z $c || $c == help || $c == -h || $c == --help ]] ;;
    esac
}
main "$@"
