#!/usr/bin/env bash
# Runs benchmark scenario 6 (bench_rpc.tscn) with RustENetPeer and with Godot's built-in
# ENetMultiplayerPeer, ROUNDS times each, alternating which goes first, and appends every
# `BENCH_RESULT` JSON object (one per line) to OUT. Called by `./build.sh bench` as
#   run_bench.sh OUT ROUNDS PROJECT_PATH GODOT_COMMAND... [-- SCENE_ARGS...]
# where PROJECT_PATH is the project as that Godot sees it and SCENE_ARGS go to bench_rpc.gd
# (e.g. --seconds=5 --clients=32). Each run is one headless Godot process; a run that prints no
# result (or overruns its time budget) is reported and skipped, not retried.
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

run_one() { # peer
    local peer=$1 rc=0
    echo "bench_rpc: $peer peer ${scene_args[*]}" >&2
    timeout --kill-after=10 180 "${godot[@]}" --headless --path "$project" res://bench/bench_rpc.tscn \
        -- --peer="$peer" "${scene_args[@]}" >"$log" 2>&1 || rc=$?
    if grep -q '^BENCH_RESULT ' "$log"; then
        sed -n 's/^BENCH_RESULT //p' "$log" >>"$out"
    else
        echo "bench_rpc: the $peer run printed no result (exit code $rc); its output:" >&2
        sed 's/^/    /' "$log" >&2
    fi
    if grep -Eq 'SCRIPT ERROR|leaked at exit|still in use at exit' "$log"; then
        echo "bench_rpc: warnings in the $peer run:" >&2
        grep -E 'SCRIPT ERROR|leaked at exit|still in use at exit' "$log" | sed 's/^/    /' >&2
    fi
}

for ((r = 0; r < rounds; r++)); do
    if ((r % 2 == 0)); then
        run_one rust
        run_one builtin
    else
        run_one builtin
        run_one rust
    fi
done
