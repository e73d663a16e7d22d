#!/usr/bin/env bash
# Interop of rust_enet's NAT traversal with netfox's real noray client (addons/netfox.noray:
# noray.gd, packet-handshake.gd, protocol-handler.gd) and the upstream noray server, in the NAT
# lab (tests/nat/lab.sh, cone topology: host behind routerA, joiner behind routerB).
#
# Cases (--cases, comma-separated; default all), each through each server (--servers):
#   a       RustENetPeer joiner (create_client_rendezvous)  ->  netfox.noray host on Godot's
#           ENetMultiplayerPeer                         (party.gd join -> host-netfox)
#   b       netfox.noray joiner on ENetMultiplayerPeer   ->  RustENetPeer host
#           (create_server_rendezvous)                  (party.gd join-netfox -> host)
#   e-host  netfox.noray joiner on ENetMultiplayerPeer   ->  netfox.noray host on RustENetPeer
#           (the host's project copy migrated by rust_enet's tool, --include-addons)
#   e-join  netfox.noray joiner on RustENetPeer (migrated copy)  ->  netfox.noray host on
#           ENetMultiplayerPeer
# Servers: rust   = rust-enet-rendezvous (--bind 198.51.100.1; both sides use 198.51.100.1)
#          noray  = upstream noray (node bin/noray.mjs in --noray). Its UDP sockets (registrar,
#                   relays) bind 0.0.0.0 and noray has no setting for that, so a reply leaves
#                   pub from the address of the segment toward the receiver; the joiner (behind
#                   routerB, on 203.0.113.0/24) therefore uses 203.0.113.1 and the host
#                   198.51.100.1, as each would use the one address a real server has.
#
# netfox's code is never part of the repository: its addons/netfox.noray and
# addons/netfox.internals (the logger noray.gd uses) are copied from --netfox (a checkout or a
# bare git directory, HEAD or --netfox-rev) into two temporary project copies under
# --work (default $REPO/target/netfox-noray, gitignored, inside the repository so the Godot
# chroot of tests/pipeline/in_root.sh sees it; removed at the end unless --keep):
#   plain/     project.godot, addons/rust_enet (from addons/rust_enet), netfox's two addons,
#              tests/nat/*.gd of godot-project, imported once (global class cache)
#   migrated/  plain/ after addons/rust_enet/migrate/migrate_cli.gd -- --include-addons --apply;
#              first the tool is run without --include-addons and without --apply, to record
#              what it would change (migrate-*.txt in the work directory); then
#              tests/nat/netfox_types_check.gd is run in both copies: does netfox.noray's
#              PacketHandshake take a RustENetConnection / RustENetPeer?
# Each case: lab up, server in pub, host party in `host` (its `ID <id>`), then one joiner party
# in `joiner` doing --runs joins one after another (party.gd RUN lines), lab down. The table
# gives per case and server: runs ok (connected and RPCs both ways), paths taken, median and
# largest ms from the join call (including the joiner's noray registration) to connected.
#
# --open-input: the lab's routers accept unsolicited packets from wan addressed to themselves
# (`lab.sh up cone --open-input`; by default they drop them, as home routers do). Then a punch
# or a relayed datagram that reaches a router before its player's own first packet to that
# sender leaves a conntrack entry there; the player's own flow to that sender clashes with it
# and masquerade gives it a new public port, so the peer and noray's relay, which use the
# registered port, no longer reach it. netfox.noray sends its first punches blind at full TTL,
# so it fails there in most runs; RustENetPeer opens its own mapping first (TTL-2 probes).
#
# Needs root (namespaces, chroot), nftables, the Godot root of ./build.sh, node, the library at
# addons/rust_enet/bin/librust_enet.linux.x86_64.so and rust-enet-rendezvous.
#
# Usage: netfox_noray.sh [--netfox DIR] [--netfox-rev REV] [--noray DIR] [--runs 3]
#            [--cases a,b,e-host,e-join] [--servers rust,noray] [--open-input] [--work DIR]
#            [--keep]
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
RUST_ENET_CACHE=${RUST_ENET_CACHE:-$HOME/.cache/rust_enet}
GODOT_ROOT=${GODOT_ROOT:-$RUST_ENET_CACHE/godot-root}
RENDEZVOUS=${RENDEZVOUS:-$RUST_ENET_CACHE/target/x86_64-unknown-linux-musl/release/rust-enet-rendezvous}
LAB=$REPO/tests/nat/lab.sh
export NATLAB_PREFIX=${NATLAB_PREFIX:-rnx}

NETFOX=${NETFOX_SRC:-}
NETFOX_REV=HEAD
NORAY=${NORAY_DIR:-}
RUNS=3
CASES=a,b,e-host,e-join
SERVERS=rust,noray
WORK=$REPO/target/netfox-noray
KEEP=0
OPEN_INPUT=0

die() { printf 'netfox_noray.sh: error: %s\n' "$*" >&2; exit 1; }
log() { printf '==> %s\n' "$*" >&2; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --netfox) NETFOX=$2; shift 2 ;;
        --netfox-rev) NETFOX_REV=$2; shift 2 ;;
        --noray) NORAY=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --cases) CASES=$2; shift 2 ;;
        --servers) SERVERS=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --open-input) OPEN_INPUT=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

[[ $(id -u) == 0 ]] || die "needs root (network namespaces, chroot)"
[[ -n $NETFOX && -d $NETFOX ]] || die "give --netfox DIR (a netfox checkout or git directory)"
[[ -f $REPO/addons/rust_enet/bin/librust_enet.linux.x86_64.so ]] || die "no addons/rust_enet/bin/librust_enet.linux.x86_64.so (./build.sh build)"
[[ -x $GODOT_ROOT/usr/bin/godot ]] || die "no Godot root at $GODOT_ROOT (./build.sh godot --version provisions it)"
if [[ ,$SERVERS, == *,rust,* ]]; then
    [[ -x $RENDEZVOUS ]] || die "no $RENDEZVOUS (./build.sh rendezvous --help builds it)"
fi
if [[ ,$SERVERS, == *,noray,* ]]; then
    [[ -n $NORAY && -f $NORAY/bin/noray.mjs && -d $NORAY/node_modules ]] ||
        die "give --noray DIR (a noray checkout with node_modules)"
    command -v node >/dev/null || die "node is not installed"
    NORAY=$(cd "$NORAY" && pwd)
fi
reason=$("$LAB" check cone 2>&1) || die "the NAT lab cannot run here: $reason"
case $(mkdir -p "$WORK" && cd "$WORK" && pwd)/ in
    "$REPO"/*) ;;
    *) die "--work must be inside the repository ($REPO): the Godot chroot sees only that" ;;
esac
WORK=$(cd "$WORK" && pwd)
GODOT=("$REPO/tests/pipeline/in_root.sh" "$GODOT_ROOT" godot)

cleanup() {
    "$LAB" down >/dev/null 2>&1 || true
    if [[ $KEEP == 0 ]]; then
        rm -rf "$WORK"
    else
        log "kept $WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- the project copies -------------------------------------------------------------------------
extract_netfox() { # DEST: addons/netfox.noray and addons/netfox.internals
    local dest=$1 commit
    if [[ ! -f $NETFOX/project.godot ]] && git --git-dir="$NETFOX" rev-parse -q --verify "$NETFOX_REV^{commit}" >/dev/null 2>&1; then
        commit=$(git --git-dir="$NETFOX" rev-parse "$NETFOX_REV^{commit}")
        git --git-dir="$NETFOX" archive "$commit" addons/netfox.noray addons/netfox.internals | tar -x -C "$dest"
    else
        [[ -d $NETFOX/addons/netfox.noray ]] || die "$NETFOX has no addons/netfox.noray"
        commit=$(git -C "$NETFOX" rev-parse HEAD 2>/dev/null || echo unknown)
        mkdir -p "$dest/addons"
        cp -r "$NETFOX/addons/netfox.noray" "$NETFOX/addons/netfox.internals" "$dest/addons/"
    fi
    echo "$commit"
}

make_plain() {
    local p=$WORK/plain
    rm -rf "$WORK/plain" "$WORK/migrated"
    mkdir -p "$p/addons" "$p/tests/nat"
    NETFOX_COMMIT=$(extract_netfox "$p")
    cp -r "$REPO/addons/rust_enet" "$p/addons/rust_enet"
    rm -f "$p"/addons/rust_enet/bin/*.dll "$p"/addons/rust_enet/bin/*arm64*
    cp "$REPO"/godot-project/tests/nat/*.gd "$p/tests/nat/"
    cat >"$p/project.godot" <<'EOF'
; Temporary project of tests/real_projects/netfox_noray.sh: rust_enet, netfox.noray and the
; NAT lab's parties.
config_version=5

[application]

config/name="rust_enet x netfox.noray"
config/features=PackedStringArray("4.2")

[debug]

gdscript/warnings/untyped_declaration=0
EOF
    log "netfox $NETFOX_COMMIT: addons/netfox.noray, addons/netfox.internals copied into $p"
    log "importing $p once (global class cache)"
    timeout -k 5 300 "${GODOT[@]}" --headless --path "$p" --import >"$WORK/import.log" 2>&1 ||
        log "the import exited with $? (see $WORK/import.log)"
    grep -q rust_enet.gdextension "$p/.godot/extension_list.cfg" 2>/dev/null ||
        echo 'res://addons/rust_enet/rust_enet.gdextension' >>"$p/.godot/extension_list.cfg"
    grep -q '"class": &"_PacketHandshake"' "$p/.godot/global_script_class_cache.cfg" ||
        die "the import wrote no global class cache with netfox.noray (see $WORK/import.log)"
}

make_migrated() {
    local m=$WORK/migrated cli=res://addons/rust_enet/migrate/migrate_cli.gd
    cp -r "$WORK/plain" "$m"
    "${GODOT[@]}" --headless --path "$m" --script "$cli" >"$WORK/migrate-default.txt" 2>&1 || true
    "${GODOT[@]}" --headless --path "$m" --script "$cli" -- --include-addons >"$WORK/migrate-include-addons.txt" 2>&1 || true
    "${GODOT[@]}" --headless --path "$m" --script "$cli" -- --include-addons --apply >"$WORK/migrate-apply.txt" 2>&1 ||
        die "the migration tool failed (see $WORK/migrate-apply.txt)"
    log "migration tool, without --include-addons: $(grep -c '^res://addons/netfox' "$WORK/migrate-default.txt" || true) netfox line(s); with it: $(grep -c '^res://addons/netfox' "$WORK/migrate-include-addons.txt" || true) netfox line(s); $(tail -n 1 "$WORK/migrate-apply.txt")"
    echo "--- what the tool changed in netfox's addons (diff -r plain migrated)"
    (cd "$WORK" && diff -r -U0 plain/addons/netfox.noray migrated/addons/netfox.noray;
     diff -r -U0 plain/addons/netfox.internals migrated/addons/netfox.internals) | grep -v '^@@' || true
}

types_check() { # copy name
    local out
    out=$("${GODOT[@]}" --headless --path "$WORK/$1" --script res://tests/nat/netfox_types_check.gd 2>&1 || true)
    printf '%s\n' "$out" >"$WORK/types-$1.log"
    printf '%s\n' "$out" | sed -n "s/^TYPES /  $1: /p"
    printf '%s\n' "$out" | grep -E 'SCRIPT ERROR|Parse Error|Invalid type' | sed 's/^/    /' | head -n 4 || true
}

# --- one case -----------------------------------------------------------------------------------
start_server() { # KIND DIR -> SERVER_PID
    if [[ $1 == rust ]]; then
        "$LAB" exec pub "$RENDEZVOUS" --relay-ports 41000-41063 --bind 198.51.100.1 >"$2/server.log" 2>&1 &
    else
        (cd "$NORAY" && exec "$LAB" exec pub env NORAY_SOCKET_HOST=0.0.0.0 NORAY_SOCKET_PORT=8890 \
            NORAY_HTTP_HOST=127.0.0.1 NORAY_HTTP_PORT=8891 NORAY_UDP_REGISTRAR_PORT=8809 \
            NORAY_UDP_RELAY_PORTS=41000-41063 NORAY_LOGLEVEL=debug node bin/noray.mjs) \
            >"$2/server.log" 2>&1 &
    fi
    SERVER_PID=$!
    local i
    for i in $(seq 50); do
        "$LAB" exec pub ss -ltn 2>/dev/null | grep -q ':8890 ' && return 0
        sleep 0.1
    done
    return 1
}

run_case() { # CASE SERVER
    local name=$1 server=$2 dir=$WORK/logs/$1-$2
    local host_copy=plain host_role joiner_copy=plain joiner_role host_addr=198.51.100.1 joiner_addr=198.51.100.1
    case $name in
        a) host_role=host-netfox joiner_role=join ;;
        b) host_role=host joiner_role=join-netfox ;;
        e-host) host_copy=migrated host_role=host-netfox joiner_role=join-netfox ;;
        e-join) host_role=host-netfox joiner_copy=migrated joiner_role=join-netfox ;;
        *) die "unknown case $name" ;;
    esac
    [[ $server == rust ]] || joiner_addr=203.0.113.1
    mkdir -p "$dir"
    "$LAB" down >/dev/null 2>&1 || true
    local lab=(cone)
    [[ $OPEN_INPUT == 0 ]] || lab+=(--open-input)
    "$LAB" up "${lab[@]}" >"$dir/lab.log" 2>&1 || { cat "$dir/lab.log" >&2; die "the lab did not come up"; }
    start_server "$server" "$dir" || { tail "$dir/server.log" >&2; die "$server server did not listen"; }
    "$LAB" exec host "${GODOT[@]}" --headless --path "$WORK/$host_copy" --script res://tests/nat/party.gd -- \
        "$host_role" --server "$host_addr" --seconds 900 >"$dir/host.log" 2>&1 &
    local host_pid=$! id="" waited=0
    while [[ -z $id && $waited -lt 300 ]]; do
        sleep 0.1
        waited=$((waited + 1))
        id=$(sed -n 's/^ID //p' "$dir/host.log" | head -n 1)
    done
    if [[ -n $id ]]; then
        timeout -k 10 $((RUNS * 70 + 30)) "$LAB" exec joiner "${GODOT[@]}" --headless \
            --path "$WORK/$joiner_copy" --script res://tests/nat/party.gd -- "$joiner_role" \
            --server "$joiner_addr" --id "$id" --runs "$RUNS" >"$dir/joiner.log" 2>&1 || true
    else
        echo "host did not register within 30 s" >"$dir/joiner.log"
    fi
    kill "$host_pid" "$SERVER_PID" 2>/dev/null || true
    "$LAB" down >/dev/null 2>&1 || true
    wait "$host_pid" "$SERVER_PID" 2>/dev/null || true
    row "$name" "$server" "$host_copy:$host_role" "$joiner_copy:$joiner_role" "$dir"
}

row() { # CASE SERVER HOST JOINER DIR
    python3 - "$RUNS" "$@" <<'EOF'
import json, statistics, sys
runs, name, server, host, joiner, d = int(sys.argv[1]), *sys.argv[2:]
rows = [json.loads(l[4:]) for l in open(d + "/joiner.log", errors="replace") if l.startswith("RUN ")]
ok = [r for r in rows if r["ok"]]
ms = sorted(r["ms"] for r in ok)
paths = {}
for r in ok:
    paths[r["path"] or "?"] = paths.get(r["path"] or "?", 0) + 1
why = sorted({r["reason"] for r in rows if not r["ok"] and r["reason"]})
print(f"{name:<7} {server:<6} {len(ok):>2}/{runs:<2}  {','.join(f'{k}x{v}' for k, v in sorted(paths.items())) or '-':<18} "
      f"{statistics.median(ms) if ms else -1:>7.0f} {ms[-1] if ms else -1:>7}  {host} <- {joiner}"
      + (f"  [{'; '.join(why)[:160]}]" if why else ""))
EOF
}

# --- main ---------------------------------------------------------------------------------------
make_plain
if [[ ,$CASES, == *,e-* ]]; then
    make_migrated
    echo "--- does netfox.noray's PacketHandshake take rust_enet's classes? (tests/nat/netfox_types_check.gd)"
    types_check plain
    types_check migrated
fi
mkdir -p "$WORK/logs"
IFS=, read -r -a cases <<<"$CASES"
IFS=, read -r -a servers <<<"$SERVERS"
table=$(printf '%-7s %-6s %5s  %-18s %7s %7s  %s\n' case server ok/n path median_ms max_ms "host <- joiner (copy:party role)")
echo "$table"
for c in "${cases[@]}"; do
    for s in "${servers[@]}"; do
        line=$(run_case "$c" "$s")
        echo "$line"
        table+=$'\n'"$line"
    done
done
echo
echo "netfox $NETFOX_COMMIT, $RUNS run(s) per row, NAT lab cone (prefix $NATLAB_PREFIX)$([[ $OPEN_INPUT == 0 ]] || echo ', routers with --open-input')"
echo "$table"
