#!/usr/bin/env bash
# The NAT lab's part of the pipeline (sourced by build.sh): Godot parties in network namespaces
# behind nftables NATs (tests/nat/lab.sh), joining through rust-enet-rendezvous
# (godot-project/tests/nat/party.gd). Each case runs RUNS joins and prints one table row: how
# many connected, the time from the join call to connected_to_server (median and slowest), the
# path taken, and whether RPCs arrived both ways. A case fails when a run fails or takes another
# path than the case expects.

readonly NAT_LAB=$REPO/tests/nat/lab.sh
# The lab's addresses (tests/nat/lab.sh): the rendezvous server lives in `pub`.
readonly NAT_SERVER_V4=198.51.100.1
readonly NAT_SERVER_V6=2001:db8:a::1

# Cases: name, topology (with lab.sh options), host role, joiner node, joiner role, server
# address, expected path, extra joiner options. The first five are the issue's; cone-open-input
# has routers that take unsolicited packets for themselves, where only a side that opens its own
# mapping first (TTL-2 probes) gets through directly; the last three pair Godot's built-in peer
# (speaking noray's protocol as netfox.noray does) with RustENetPeer, both ways.
readonly NAT_CASES=(
    "cone|cone|host|joiner|join|$NAT_SERVER_V4|direct|"
    "symmetric|symmetric|host|joiner|join|$NAT_SERVER_V4|relay|"
    "same-nat|samenat|host|joiner2|join|$NAT_SERVER_V4|direct|"
    "expire30-2min|expire30|host|joiner|join|$NAT_SERVER_V4|direct|--concurrent --hold 120 --idle-host 40"
    "ipv6|ipv6|host|joiner|join|$NAT_SERVER_V6|direct|"
    "cone-open-input|cone --open-input|host|joiner|join|$NAT_SERVER_V4|direct|"
    "builtin-host|cone|host-noray|joiner|join|$NAT_SERVER_V4|direct|"
    "builtin-joiner|cone|host|joiner|join-noray|$NAT_SERVER_V4|direct|"
    "builtin-host-symmetric|symmetric|host-noray|joiner|join|$NAT_SERVER_V4|relay|"
)

readonly RENDEZVOUS_TRIPLE=x86_64-unknown-linux-musl

# Builds rust-enet-rendezvous as one static executable (musl, no shared library at all) and
# prints its path.
build_rendezvous() {
    ensure_rust_targets "$RENDEZVOUS_TRIPLE"
    log "cargo build --release --target $RENDEZVOUS_TRIPLE -p rust_enet_rendezvous"
    (cd "$REPO" && cargo build --release --target "$RENDEZVOUS_TRIPLE" -p rust_enet_rendezvous \
        "${CARGO_LOCKED[@]}" --config profile.release.debug=0 >&2) ||
        die "building rust-enet-rendezvous failed"
    printf '%s\n' "$CARGO_TARGET_DIR/$RENDEZVOUS_TRIPLE/release/rust-enet-rendezvous"
}

# Whether the lab can be built here; prints why not.
nat_lab_possible() {
    [[ $(id -u) == 0 ]] || { echo "the NAT lab needs root (network namespaces)"; return 1; }
    "$NAT_LAB" check
}

# The NAT lab as `./build.sh test` runs it: every case with RUST_ENET_NAT_CI_RUNS joins (default
# 5; `./build.sh nat` runs 20). Prints the table, or, where namespaces cannot be made (not root,
# an unprivileged container, a kernel without nftables NAT), one line that says why and names
# the command that runs the lab. A failing case fails the tests.
test_nat_lab() { # GODOT_VAR
    local reason server
    if [[ $(id -u) == 0 ]]; then
        ensure_packages "the NAT lab (network namespaces with nftables NAT)" "${PKGS_NAT_LAB[@]}"
    fi
    if ! reason=$(nat_lab_possible); then
        printf 'NAT lab: SKIPPED: %s (it runs with ./build.sh nat, as root)\n' "$reason"
        return 0
    fi
    server=$(build_rendezvous)
    run_nat_lab "$1" "$server" "${RUST_ENET_NAT_CI_RUNS:-5}"
}

# Runs every case (or those named in NAT_LAB_CASES, comma-separated) with the Godot of the array
# GODOT_VAR and the rendezvous server at RENDEZVOUS_BIN; RUNS joins per case. Prints the table.
run_nat_lab() { # GODOT_VAR RENDEZVOUS_BIN RUNS
    local -n lab_godot=$1
    local server_bin=$2 runs=$3 entry failed=0 work=$RUST_ENET_CACHE/natlab
    sync_project_addon
    rm -rf "$work"
    mkdir -p "$work"
    printf '%-24s %-18s %5s %9s %9s %-7s %s\n' case topology ok median_ms max_ms path rpc
    for entry in "${NAT_CASES[@]}"; do
        IFS='|' read -r name topology host_role joiner_node joiner_role server path extra <<<"$entry"
        if [[ -n ${NAT_LAB_CASES:-} && ",$NAT_LAB_CASES," != *",$name,"* ]]; then
            continue
        fi
        run_nat_case lab_godot "$server_bin" "$runs" "$work" "$name" "$topology" "$host_role" \
            "$joiner_node" "$joiner_role" "$server" "$path" "$extra" || failed=$((failed + 1))
    done
    [[ $failed -eq 0 ]] || die "$failed NAT lab case(s) failed (the lines above the table say why; logs in $work)"
}

# One case in a lab of its own: the server in pub, the host, then RUNS joins; one table row.
run_nat_case() { # GODOT_VAR SERVER_BIN RUNS WORK NAME TOPOLOGY HOST_ROLE JOINER_NODE JOINER_ROLE SERVER PATH EXTRA
    local -n case_godot=$1
    local server_bin=$2 runs=$3 work=$4 name=$5 topology=$6 host_role=$7 joiner_node=$8 \
        joiner_role=$9 server=${10} path=${11} extra=${12}
    local dir=$work/$name idle=0 opts=() rc=0
    mkdir -p "$dir"
    local words=() i=0
    read -r -a words <<<"$extra"
    # `--idle-host S` is the pipeline's: the host sits registered S seconds before anyone joins
    # (its NAT mapping would expire without the keepalive). The other words go to the joiner.
    while ((i < ${#words[@]})); do
        if [[ ${words[i]} == --idle-host ]]; then
            idle=${words[i + 1]}
            i=$((i + 2))
        else
            opts+=("${words[i]}")
            i=$((i + 1))
        fi
    done
    local lab=()
    read -r -a lab <<<"$topology"
    NATLAB_PREFIX=rnl "$NAT_LAB" up "${lab[@]}" >"$dir/lab.log" 2>&1 || {
        cat "$dir/lab.log" >&2
        log "NAT lab case $name: the lab did not come up"
        return 1
    }
    local party=(--headless --path "$PROJECT_DIR" --script res://tests/nat/party.gd --)
    # Bound to one address per family: pub has two (one per segment), and a wildcard socket
    # answers from the address of the way out, which the joiner's NAT would not let in.
    # (Global IPv6 addresses exist in the ipv6 topologies only.)
    local bind=$NAT_SERVER_V4
    [[ $topology != ipv6* ]] || bind+=",$NAT_SERVER_V6"
    NATLAB_PREFIX=rnl "$NAT_LAB" exec pub "$server_bin" --relay-ports 41000-41063 --bind "$bind" \
        >"$dir/server.log" 2>&1 &
    local server_pid=$!
    sleep 0.3
    NATLAB_PREFIX=rnl "$NAT_LAB" exec host "${case_godot[@]}" "${party[@]}" "$host_role" \
        --server "$server" --seconds 900 >"$dir/host.log" 2>&1 &
    local host_pid=$!
    # The host prints `ID <id>` once registered (Godot runs chrooted: no shared files).
    local waited=0 id=""
    while [[ -z $id && $waited -lt 300 ]]; do
        sleep 0.1
        waited=$((waited + 1))
        id=$(sed -n 's/^ID //p' "$dir/host.log" | head -n 1)
    done
    if [[ -z $id ]]; then
        rc=1
        log "NAT lab case $name: the host did not register within 30 s"
        tail -n 20 "$dir/host.log" "$dir/server.log" >&2
    else
        [[ $idle -eq 0 ]] || sleep "$idle"
        timeout --kill-after=10 600 env NATLAB_PREFIX=rnl "$NAT_LAB" exec "$joiner_node" \
            "${case_godot[@]}" "${party[@]}" "$joiner_role" --server "$server" \
            --id "$id" --runs "$runs" "${opts[@]}" >"$dir/joiner.log" 2>&1 || rc=$?
        nat_case_row "$name" "$topology" "$runs" "$path" "$dir/joiner.log" || rc=1
    fi
    kill "$host_pid" "$server_pid" 2>/dev/null || true
    wait "$host_pid" "$server_pid" 2>/dev/null || true
    NATLAB_PREFIX=rnl "$NAT_LAB" down >/dev/null 2>&1 || true
    if [[ $rc -ne 0 ]]; then
        log "NAT lab case $name failed; the joiner's output:"
        grep -v '^RUN ' "$dir/joiner.log" | tail -n 20 >&2 || true
        grep '^RUN ' "$dir/joiner.log" | grep -v '"ok":true' | head -n 5 >&2 || true
    fi
    return "$rc"
}

# The table row of a case from the joiner's RUN lines; fails unless every run connected, saw its
# RPCs and took PATH.
nat_case_row() { # NAME TOPOLOGY RUNS PATH LOG
    python3 - "$@" <<'EOF'
import json, statistics, sys
name, topology, runs, path, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = [json.loads(l[4:]) for l in open(log, errors="replace") if l.startswith("RUN ")]
ok = [r for r in rows if r["ok"] and (path == "any" or r["path"] == path)]
ms = sorted(r["ms"] for r in rows if r["ms"] >= 0)
paths = sorted({r["path"] or "?" for r in rows})
rpc = sum(1 for r in rows if r["rpc"])
print(f"{name:<24} {topology:<18} {len(ok):>2}/{runs:<2} {statistics.median(ms) if ms else -1:>9.0f} "
      f"{ms[-1] if ms else -1:>9} {','.join(paths):<7} {rpc}/{runs}")
sys.exit(0 if len(ok) == runs and len(rows) == runs else 1)
EOF
}
