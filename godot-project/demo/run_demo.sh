#!/usr/bin/env bash
# Runs the headless demo: a server and two clients, each a separate Godot process, exchanging
# RPCs over loopback. Called by `./build.sh demo` as
#   run_demo.sh PEER PROJECT_PATH GODOT_COMMAND...
# where PEER is rust or builtin and PROJECT_PATH is the project as that Godot sees it.
set -euo pipefail

peer=$1
project=$2
shift 2
godot=("$@")
scene=res://demo/demo.tscn
logs=$(mktemp -d)
pids=()

cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$logs"
}
trap cleanup EXIT

# Prefixes every line of a process's output with its role and keeps a copy.
run() { # role args...
    local role=$1
    shift
    "${godot[@]}" --headless --path "$project" "$scene" -- --peer="$peer" "$@" 2>&1 |
        tee "$logs/$role.log" | sed -u "s/^/$role | /"
    return "${PIPESTATUS[0]}"
}

echo "demo: starting the server ($peer peer)"
run server --role=server --port=0 --clients=2 &
server_pid=$!
pids+=("$server_pid")

port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's/^DEMO_PORT \([0-9]*\)$/\1/p' "$logs/server.log" 2>/dev/null || true)
    [[ -n $port ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.1
done
if [[ -z $port ]]; then
    echo "demo: FAILED: the server did not start" >&2
    exit 1
fi

echo "demo: starting clients Ann and Bob on port $port"
run Ann --role=client --port="$port" --name=Ann --clients=2 &
ann_pid=$!
run Bob --role=client --port="$port" --name=Bob --clients=2 &
bob_pid=$!
pids+=("$ann_pid" "$bob_pid")

status=0
for pid in "$ann_pid" "$bob_pid" "$server_pid"; do
    wait "$pid" || status=1
done
pids=()
if [[ $status -ne 0 ]] || grep -Eq 'SCRIPT ERROR|leaked at exit|still in use at exit' "$logs"/*.log; then
    echo "demo: FAILED (see the output above)" >&2
    exit 1
fi
echo "demo: OK: server and two clients exchanged RPCs through the $peer peer and shut down cleanly"
