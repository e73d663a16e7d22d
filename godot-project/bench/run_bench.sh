#!/usr/bin/env bash
# Runs benchmark scenario 6 (bench_rpc.tscn) with RustENetPeer (the service thread on the server's
# peer, on every peer, and off) and with Godot's built-in ENetMultiplayerPeer, ROUNDS times each,
# rotating which goes first, then the idle benchmark (bench_idle.tscn, a server and a client
# process, IDLE_SECONDS each, default 20) and the stall benchmark (bench_stall.tscn) once, and
# appends every `BENCH_RESULT` JSON object (one per line) to OUT. Called by `./build.sh bench` as
#   run_bench.sh OUT ROUNDS PROJECT_PATH GODOT_COMMAND... [-- SCENE_ARGS...]
# where PROJECT_PATH is the project as that Godot sees it and SCENE_ARGS go to bench_rpc.gd
# (e.g. --seconds=5 --clients=32). Each run is one headless Godot process; a run that prints no
# result (or overruns its time budget) is reported and skipped, not retried.
# With CEILING_LIBRARY set (a library built with the bench-ceiling feature), scenario 6 also runs
# RustENetMemoryPeer (--peer=memory, no network): that library replaces the project's Linux
# x86_64 library for those runs only.
set -euo pipefail

out=$1
rounds=$2
project=$3
shift 3
godot=()
while [[ $# -gt 0 && $1 != -- ]]; do
    godot+=("$1")
    shift
done
[[ ${1:-} == -- ]] && shift
scene_args=("$@")
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_one() { # scene peer-args...
    local scene=$1 what=${*:2} rc=0
    echo "$scene: $what" >&2
    timeout --kill-after=10 180 "${godot[@]}" --headless --path "$project" "res://bench/$scene.tscn" \
        -- "${@:2}" >"$log" 2>&1 || rc=$?
    if grep -q '^BENCH_RESULT ' "$log"; then
        sed -n 's/^BENCH_RESULT //p' "$log" >>"$out"
    else
        echo "$scene: the run ($what) printed no result (exit code $rc); its output:" >&2
        sed 's/^/    /' "$log" >&2
    fi
    if grep -Eq 'SCRIPT ERROR|leaked at exit|still in use at exit' "$log"; then
        echo "$scene: warnings in the run ($what):" >&2
        grep -E 'SCRIPT ERROR|leaked at exit|still in use at exit' "$log" | sed 's/^/    /' >&2
    fi
}

# The idle benchmark (bench_idle.tscn): a server and a client process at once, each an idle
# 60 fps game with one connection; both results are kept.
run_idle_pair() { # peer-args...
    local server_log client_log rc=0
    server_log=$(mktemp)
    client_log=$(mktemp)
    echo "bench_idle: $*" >&2
    timeout --kill-after=10 120 "${godot[@]}" --headless --path "$project" res://bench/bench_idle.tscn \
        -- --role=server --port=7419 --seconds="$idle_seconds" "$@" >"$server_log" 2>&1 &
    local server=$!
    sleep 1
    timeout --kill-after=10 120 "${godot[@]}" --headless --path "$project" res://bench/bench_idle.tscn \
        -- --role=client --port=7419 --seconds="$idle_seconds" "$@" >"$client_log" 2>&1 || rc=$?
    wait "$server" || rc=$?
    local file
    for file in "$server_log" "$client_log"; do
        if grep -q '^BENCH_RESULT ' "$file"; then
            sed -n 's/^BENCH_RESULT //p' "$file" >>"$out"
        else
            echo "bench_idle: a run ($*) printed no result (exit code $rc); its output:" >&2
            sed 's/^/    /' "$file" >&2
        fi
    done
    rm -f "$server_log" "$client_log"
}

variants=("--peer=rust --service_thread=server" "--peer=rust --service_thread=all"
    "--peer=rust --service_thread=off" "--peer=builtin")
library=$project/addons/rust_enet/bin/librust_enet.linux.x86_64.so

# Puts the library FILE in the project's place (renamed into place: no Godot runs meanwhile).
use_library() { # FILE
    cp "$1" "$library.tmp"
    mv -f "$library.tmp" "$library"
}

if [[ -n ${CEILING_LIBRARY:-} ]]; then
    variants+=("--peer=memory")
    shipped=$(mktemp)
    cp "$library" "$shipped"
    trap 'use_library "$shipped"; rm -f "$log" "$shipped"' EXIT
fi

for ((r = 0; r < rounds; r++)); do
    for ((v = 0; v < ${#variants[@]}; v++)); do
        variant=${variants[(v + r) % ${#variants[@]}]}
        if [[ $variant == --peer=memory ]]; then
            use_library "$CEILING_LIBRARY"
            run_one bench_rpc "$variant" "${scene_args[@]}"
            use_library "$shipped"
            continue
        fi
        # shellcheck disable=SC2086 # a variant is two words on purpose
        run_one bench_rpc $variant "${scene_args[@]}"
    done
done
idle_seconds=${IDLE_SECONDS:-20}
for variant in "--peer=builtin" "--peer=rust --service_thread=on" "--peer=rust --service_thread=off"; do
    # shellcheck disable=SC2086 # a variant is two words on purpose
    run_idle_pair $variant
done
run_one bench_stall
