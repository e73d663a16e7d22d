#!/usr/bin/env bash
# Runs netfox's multiplayer-netfox example headless (issue #17): one server process and
# --clients client processes joining --stagger seconds apart, for each server kind (Godot's
# ENetMultiplayerPeer, "builtin", and RustENetPeer, "rust") and client kind, --runs times each
# (kinds interleaved run by run), and reports per run whether the last-joining client's input
# reached the server and was applied.
#
# netfox's code is not part of this script: it is taken from --netfox (a checkout, or a git
# directory plus --netfox-rev) and copied into --work, where the script
#   - copies the rust_enet addon (--addon, default addons/rust_enet) into the copy, so that a
#     rebuild of the repository during the runs does not change it;
#   - rewrites the two `ENetMultiplayerPeer.new()` calls of
#     examples/shared/scripts/lan-bootstrapper.gd (the example's Host/Join code) to
#     `NetfoxHarness.make_peer()`, which makes the peer kind given on the command line;
#   - adds an autoload, NetfoxHarness (written below), that from user arguments hosts or joins
#     through that bootstrapper; on clients it holds movement keys (Input.action_press, which
#     the example's player-input.gd reads), turning every second so the avatar keeps moving;
#     it counts the netfox commands each process receives per sender (NetworkCommandServer's
#     transports; the input command is NetworkSynchronizationServer's) and when each input
#     command arrives, logs every change of the ENet packet throttle toward each remote peer,
#     samples the avatars' positions on every netfox tick, and prints `NETFOX_RESULT {json}`
#     at a fixed wall-clock time (clients, then the server half a second later, which then
#     closes; clients quit on the disconnect);
#   - imports the project once (godot --headless --import) for the global class cache.
#
# Per run and server/client kind the summary reports, for the last-joining client:
#   unapplied: the server received fewer than --min-fraction (default 0.25) of the input
#     messages expected over its whole time connected (the median input rate of the run's
#     other clients times its connected time), or its avatar moved in fewer than that fraction
#     of the other avatars' ticks during the last 5 s, or it never got 1 m from the spawn point;
#   stalled at joining: in its first 3 s connected the server received fewer than
#     --min-fraction of the 72 input messages a 24 ticks/s client sends;
# and for every client the largest gap between input messages and the lowest packet throttle
# on both ends (ENet drops unreliable packets, netfox's inputs and states, at the sender in
# proportion to it). Logs and NETFOX_RESULT lines stay in --out (one directory per run);
# summary.txt and summary.jsonl (per run and client) are written there.
#
# Options: --clients (1-4, default 3) client processes start --stagger (0.5) s apart once the
# server listens; all print --duration (10) s after the last one's planned start.
#
# Godot: the Debian sid root that ./build.sh provisions ($RUST_ENET_CACHE/godot-root, run with
# unshare + chroot, needs root), or GODOT=/path/to/godot4 to run a Godot binary directly.
#
# Usage: netfox.sh [--runs N] [--servers builtin,rust] [--client-kinds builtin[,rust]]
#            [--clients 3] [--stagger 0.5] [--duration 10] [--netfox DIR] [--netfox-rev REV]
#            [--addon DIR] [--work DIR] [--out DIR] [--port-base 21000] [--min-fraction 0.25]
#            [--setup-only] [--summary-only]
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(git -C "$SCRIPT_DIR" rev-parse --show-toplevel 2>/dev/null || (cd "$SCRIPT_DIR/.." && pwd))
RUST_ENET_CACHE=${RUST_ENET_CACHE:-$HOME/.cache/rust_enet}
GODOT_ROOT=${GODOT_ROOT:-$RUST_ENET_CACHE/godot-root}

RUNS=30
SERVERS=builtin,rust
CLIENT_KINDS=builtin
CLIENTS=3
STAGGER=0.5
DURATION=10
NETFOX=${NETFOX_SRC:-}
NETFOX_REV=HEAD
ADDON=$REPO/addons/rust_enet
WORK=${NETFOX_WORK:-$RUST_ENET_CACHE/netfox}
OUT=
PORT_BASE=21000
MIN_FRACTION=0.25
SETUP_ONLY=0
SUMMARY_ONLY=0
SCENE=res://examples/multiplayer-netfox/multiplayer-netfox.tscn

die() { printf 'netfox.sh: error: %s\n' "$*" >&2; exit 1; }
log() { printf '==> %s\n' "$*" >&2; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --runs) RUNS=$2; shift 2 ;;
        --servers) SERVERS=$2; shift 2 ;;
        --client-kinds) CLIENT_KINDS=$2; shift 2 ;;
        --clients) CLIENTS=$2; shift 2 ;;
        --stagger) STAGGER=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --netfox) NETFOX=$2; shift 2 ;;
        --netfox-rev) NETFOX_REV=$2; shift 2 ;;
        --addon) ADDON=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --port-base) PORT_BASE=$2; shift 2 ;;
        --min-fraction) MIN_FRACTION=$2; shift 2 ;;
        --setup-only) SETUP_ONLY=1; shift ;;
        --summary-only) SUMMARY_ONLY=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[[ $CLIENTS -ge 1 && $CLIENTS -le 4 ]] || die "--clients must be 1 to 4"
WORK=$(mkdir -p "$WORK" && cd "$WORK" && pwd)
OUT=${OUT:-$WORK/results}
PROJECT=$WORK/project

# --- running Godot ------------------------------------------------------------------------
if [[ -n ${GODOT:-} ]]; then
    GODOT_CMD=("$GODOT")
    PROJECT_IN=$PROJECT
else
    [[ -x $GODOT_ROOT/usr/bin/godot ]] || die "no Godot root at $GODOT_ROOT (./build.sh godot --version provisions it) and GODOT is not set"
    [[ $(id -u) == 0 ]] || die "running Godot in $GODOT_ROOT needs root; set GODOT instead"
    mkdir -p "$GODOT_ROOT/mnt/netfox_harness"
    # One private mount namespace per process (as tests/provision.sh does), with the work
    # directory at /mnt/netfox_harness; unshare, sh, chroot and env all exec, so the pid that
    # `timeout` watches ends up being Godot's.
    # shellcheck disable=SC2016 # expanded by the inner shell
    GODOT_CMD=(unshare --mount --propagation private sh -c \
        'mount -t proc proc "$0/proc" && mount --bind "$1" "$0/mnt/netfox_harness" && shift &&
         exec chroot "$0" env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 NETFOX_NO_AUTOCONNECT=1 godot "$@"' \
        "$GODOT_ROOT" "$WORK")
    PROJECT_IN=/mnt/netfox_harness/project
fi

# --- the project copy -----------------------------------------------------------------------
write_harness() {
    mkdir -p "$PROJECT/netfox_harness"
    cat >"$PROJECT/netfox_harness/harness.gd" <<'GDSCRIPT'
extends Node
## Harness autoload added by netfox.sh to a copy of netfox's project. With no --nfh-role
## user argument it does nothing. Otherwise it hosts or joins through the example's own LAN
## bootstrapper (examples/shared/scripts/lan-bootstrapper.gd, whose `ENetMultiplayerPeer.new()`
## calls the script rewrites to NetfoxHarness.make_peer()), holds a movement key on clients,
## counts the netfox commands (NetworkCommandServer) each peer receives per sender, samples the
## avatars' positions, prints one `NETFOX_RESULT {json}` line at --nfh-end-ms and quits.

var role := ""
var peer_kind := "builtin"
var port := 0
var index := 0
var end_ms := 0
var address := "127.0.0.1"

var _t0 := 0
var _done := false
var _started := false
var _start_error := ""
var _cmd_counts := {} # sender -> {idx -> count}
var _first_cmd_ms := {} # sender -> {idx -> ms}
var _last_cmd_ms := {} # sender -> {idx -> ms}
var _late_input := {} # sender -> input commands in the last 5 s before the end
var _connected := [] # [peer id, ms] in the order peer_connected fired
var _disconnected := {} # peer id -> ms
var _synced := {} # peer id -> ms (server: after_client_sync; client: own after_sync under key 0)
var _max_dist := {} # avatar peer id -> largest horizontal distance from the origin seen
var _last_pos := {} # avatar peer id -> last sampled position
var _inputs_new := {} # input authority -> input snapshots the server merged as new
var _inputs_nonzero := {} # input authority -> {tick: true} for merged inputs with non-zero movement
var _first_moved_ms := {} # avatar peer id -> ms the distance first exceeded 0.5
var _ticks := 0
var _first_tick_ms := -1
var _server_disconnected_ms := -1
var _connection_failed := false
var _key_sets: Array = [] # the two directions a client alternates between, one second each
var _held: Array = []
var _moving_ticks := {} # avatar peer id -> ticks its position changed by more than 1 cm
var _moving_ticks_last5s := {}
var _input_arrivals := {} # sender -> [ms] of every input command received
var _throttle_log := {} # remote peer id -> [[ms, throttle, last rtt, last rtt variance]] on change


func make_peer() -> MultiplayerPeer:
	if peer_kind == "rust":
		if not ClassDB.class_exists(&"RustENetPeer"):
			push_error("NFH: RustENetPeer is not loaded (is the rust_enet addon there?)")
			return null
		return ClassDB.instantiate(&"RustENetPeer")
	return ENetMultiplayerPeer.new()


func _ms() -> int:
	return Time.get_ticks_msec() - _t0


func _ready() -> void:
	_t0 = Time.get_ticks_msec()
	for arg in OS.get_cmdline_user_args():
		var kv := arg.trim_prefix("--").split("=", true, 1)
		if kv.size() != 2:
			continue
		match kv[0]:
			"nfh-role": role = kv[1]
			"nfh-peer": peer_kind = kv[1]
			"nfh-port": port = kv[1].to_int()
			"nfh-index": index = kv[1].to_int()
			"nfh-end-ms": end_ms = kv[1].to_int()
			"nfh-address": address = kv[1]
	if role == "":
		return
	print("NFH: role=%s peer=%s port=%d index=%d pid=%d" % [role, peer_kind, port, index,
			OS.get_process_id()])
	multiplayer.peer_connected.connect(func(id: int): _connected.append([id, _ms()]))
	multiplayer.peer_disconnected.connect(func(id: int): _disconnected[id] = _ms())
	multiplayer.server_disconnected.connect(_on_server_disconnected)
	multiplayer.connection_failed.connect(func(): _connection_failed = true)
	NetworkTime.after_client_sync.connect(func(id: int): _synced[id] = _ms())
	NetworkTime.after_sync.connect(func(): _synced[0] = _ms())
	NetworkTime.on_tick.connect(_on_tick)
	NetworkCommandServer._rpc_transport.on_receive.connect(_on_command)
	NetworkCommandServer._packet_transport.on_receive.connect(_on_command)
	NetworkSynchronizationServer._on_input.connect(_on_input_snapshot)
	if role == "client":
		# Client k moves back and forth along its own axis, turning every second, so its
		# avatar keeps moving on the server (and its state keeps changing) only while the
		# server applies its input.
		var dirs: Array = [
			[[&"ui_right"], [&"ui_left"]],
			[[&"ui_down"], [&"ui_up"]],
			[[&"ui_left", &"ui_up"], [&"ui_right", &"ui_down"]],
			[[&"ui_right", &"ui_up"], [&"ui_left", &"ui_down"]],
		]
		_key_sets = dirs[index % dirs.size()]
		_update_keys()
	# The scene (given on the command line) is set up after the autoloads.
	await get_tree().process_frame
	await get_tree().process_frame
	_start()


func _start() -> void:
	var scene := get_tree().current_scene
	var lan: Node = scene.find_child("LAN Bootstrapper", true, false) if scene else null
	if lan == null:
		_start_error = "no LAN Bootstrapper in the scene"
		push_error("NFH: " + _start_error)
		return
	lan.address_input.text = address
	lan.port_input.text = str(port)
	_started = true
	if role == "server":
		lan.host()
	else:
		lan.join()


func _process(_delta: float) -> void:
	if role == "" or _done:
		return
	_update_keys()
	_log_throttles()
	if end_ms > 0 and Time.get_unix_time_from_system() * 1000.0 >= end_ms:
		_finish()


func _log_throttles() -> void:
	var peer := multiplayer.multiplayer_peer
	if peer == null or peer is OfflineMultiplayerPeer \
			or peer.get_connection_status() != MultiplayerPeer.CONNECTION_CONNECTED:
		return
	var ids: Array = multiplayer.get_peers() if role == "server" else [1]
	for id in ids:
		var pp = peer.call(&"get_peer", id) if peer.has_method(&"get_peer") else null
		if pp == null:
			continue
		var t: int = int(pp.get_statistic(ENetPacketPeer.PEER_PACKET_THROTTLE))
		var entries: Array = _throttle_log.get_or_add(id, [])
		if (entries.is_empty() or entries[-1][1] != t) and entries.size() < 2000:
			entries.append([_ms(), t, int(pp.get_statistic(ENetPacketPeer.PEER_LAST_ROUND_TRIP_TIME)),
					int(pp.get_statistic(ENetPacketPeer.PEER_LAST_ROUND_TRIP_TIME_VARIANCE))])


func _update_keys() -> void:
	if _key_sets.is_empty():
		return
	var want: Array = _key_sets[(_ms() / 1000) % 2]
	for k in _held:
		if not k in want:
			Input.action_release(k)
	for k in want:
		if not Input.is_action_pressed(k):
			Input.action_press(k)
	_held = want


func _on_tick(_delta: float, _tick: int) -> void:
	_ticks += 1
	if _first_tick_ms < 0:
		_first_tick_ms = _ms()
	for id in _avatars():
		var avatar = _avatars()[id]
		if not is_instance_valid(avatar):
			continue
		var p: Vector3 = avatar.position
		if _last_pos.has(id) and _last_pos[id].distance_to(p) > 0.01:
			_moving_ticks[id] = _moving_ticks.get(id, 0) + 1
			if end_ms > 0 and Time.get_unix_time_from_system() * 1000.0 >= end_ms - 5000:
				_moving_ticks_last5s[id] = _moving_ticks_last5s.get(id, 0) + 1
		_last_pos[id] = p
		var d := Vector2(p.x, p.z).length()
		if d > _max_dist.get(id, 0.0):
			_max_dist[id] = d
		if d > 0.5 and not _first_moved_ms.has(id):
			_first_moved_ms[id] = _ms()


func _on_input_snapshot(snapshot) -> void:
	for subject in snapshot.get_auth_subjects():
		if not subject is Node:
			continue
		var owner_id: int = subject.get_multiplayer_authority()
		_inputs_new[owner_id] = _inputs_new.get(owner_id, 0) + 1
		for property in snapshot.get_subject_properties(subject):
			var v = snapshot.get_property(subject, property)
			if v is Vector3 and v.length() > 0.01:
				_inputs_nonzero.get_or_add(owner_id, {})[snapshot.tick] = true
				break


func _nonzero_tick_counts() -> Dictionary:
	var out := {}
	for id in _inputs_nonzero:
		out[id] = _inputs_nonzero[id].size()
	return out


func _on_server_disconnected() -> void:
	_server_disconnected_ms = _ms()
	multiplayer.multiplayer_peer = OfflineMultiplayerPeer.new()
	if not _done:
		_finish()
	else:
		get_tree().quit(0)


func _avatars() -> Dictionary:
	var scene := get_tree().current_scene
	var spawner: Node = scene.find_child("Player Spawner", true, false) if scene else null
	if spawner == null:
		return {}
	return spawner.avatars


func _on_command(sender: int, idx: int, _data: PackedByteArray) -> void:
	var now := _ms()
	var counts: Dictionary = _cmd_counts.get_or_add(sender, {})
	counts[idx] = counts.get(idx, 0) + 1
	var first: Dictionary = _first_cmd_ms.get_or_add(sender, {})
	if not first.has(idx):
		first[idx] = now
	_last_cmd_ms.get_or_add(sender, {})[idx] = now
	if idx == _input_idx():
		_input_arrivals.get_or_add(sender, []).append(now)
		if end_ms > 0 and Time.get_unix_time_from_system() * 1000.0 >= end_ms - 5000:
			_late_input[sender] = _late_input.get(sender, 0) + 1


func _input_idx() -> int:
	var cmd = NetworkSynchronizationServer._cmd_input
	return cmd._idx if cmd != null else -1


func _throttle(peer: MultiplayerPeer, id: int) -> Variant:
	if peer == null or not peer.has_method(&"get_peer"):
		return null
	var pp = peer.call(&"get_peer", id)
	if pp == null or not pp.has_method(&"get_statistic"):
		return null
	return {
		"throttle": pp.get_statistic(ENetPacketPeer.PEER_PACKET_THROTTLE),
		"rtt": pp.get_statistic(ENetPacketPeer.PEER_ROUND_TRIP_TIME),
		"loss": pp.get_statistic(ENetPacketPeer.PEER_PACKET_LOSS),
	}


func _finish() -> void:
	_done = true
	var peer := multiplayer.multiplayer_peer
	var keyed := func(d: Dictionary) -> Dictionary:
		var out := {}
		for k in d:
			out[str(k)] = d[k]
		return out
	var per_sender := {}
	for s in _cmd_counts:
		per_sender[str(s)] = {
			"counts": keyed.call(_cmd_counts[s]),
			"first_ms": keyed.call(_first_cmd_ms[s]),
			"last_ms": keyed.call(_last_cmd_ms[s]),
		}
	var avatars := {}
	for id in _last_pos:
		var p: Vector3 = _last_pos[id]
		avatars[str(id)] = {"pos": [snappedf(p.x, 0.01), snappedf(p.y, 0.01), snappedf(p.z, 0.01)],
				"max_dist": snappedf(_max_dist.get(id, 0.0), 0.01),
				"first_moved_ms": _first_moved_ms.get(id, -1),
				"moving_ticks": _moving_ticks.get(id, 0),
				"moving_ticks_last5s": _moving_ticks_last5s.get(id, 0),
				"present": _avatars().has(id)}
	var throttles := {}
	if peer != null and peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED:
		var ids: Array = multiplayer.get_peers() if role == "server" else [1]
		for id in ids:
			throttles[str(id)] = _throttle(peer, id)
	var result := {
		"role": role, "peer": peer_kind, "index": index,
		"unique_id": multiplayer.get_unique_id(),
		"peer_class": peer.get_class() if peer else "",
		"status": peer.get_connection_status() if peer else -1,
		"started": _started, "start_error": _start_error,
		"connection_failed": _connection_failed,
		"server_disconnected_ms": _server_disconnected_ms,
		"input_idx": _input_idx(),
		"connected": _connected, "disconnected": keyed.call(_disconnected),
		"synced": keyed.call(_synced),
		"ticks": _ticks, "first_tick_ms": _first_tick_ms, "end_ms": _ms(),
		"netfox_tick": NetworkTime.tick,
		"commands": per_sender, "input_last5s": keyed.call(_late_input),
		"avatars": avatars, "throttles": throttles,
		"inputs_new": keyed.call(_inputs_new), "inputs_nonzero": keyed.call(_nonzero_tick_counts()),
		"input_arrivals": keyed.call(_input_arrivals), "throttle_log": keyed.call(_throttle_log),
	}
	print("NETFOX_RESULT " + JSON.stringify(result))
	for k in _held:
		Input.action_release(k)
	_key_sets = []
	if role == "server":
		# The clients printed half a second ago; close tells them (they quit on
		# server_disconnected). No peer afterwards, so the scene's label asks no closed peer
		# (an offline one instead).
		if peer != null:
			peer.close()
		multiplayer.multiplayer_peer = OfflineMultiplayerPeer.new()
		await get_tree().create_timer(0.3).timeout
		get_tree().quit(0)
	elif _server_disconnected_ms >= 0:
		get_tree().quit(0)
	else:
		# Wait for the server's close; quit anyway after 5 s.
		await get_tree().create_timer(5.0).timeout
		get_tree().quit(0)
GDSCRIPT
}

setup_project() {
    [[ -n $NETFOX ]] || {
        [[ -d /work/.mirror/foxssake+netfox/repo ]] && NETFOX=/work/.mirror/foxssake+netfox/repo
    }
    [[ -n $NETFOX && -d $NETFOX ]] || die "give --netfox DIR (a netfox checkout or git directory) or NETFOX_SRC"
    [[ -f $ADDON/rust_enet.gdextension ]] || die "no rust_enet addon at $ADDON"
    rm -rf "$PROJECT"
    mkdir -p "$PROJECT"
    local commit=unknown
    if git --git-dir="$NETFOX" rev-parse --verify -q "$NETFOX_REV^{commit}" >/dev/null 2>&1 &&
        [[ ! -f $NETFOX/project.godot ]]; then
        commit=$(git --git-dir="$NETFOX" rev-parse "$NETFOX_REV^{commit}")
        git --git-dir="$NETFOX" archive "$commit" | tar -x -C "$PROJECT"
    else
        [[ -f $NETFOX/project.godot ]] || die "$NETFOX has no project.godot"
        commit=$(git -C "$NETFOX" rev-parse HEAD 2>/dev/null || echo unknown)
        (cd "$NETFOX" && tar -c --exclude=.git --exclude=.godot .) | tar -x -C "$PROJECT"
    fi
    [[ -f $PROJECT/examples/multiplayer-netfox/multiplayer-netfox.tscn ]] ||
        die "this netfox has no examples/multiplayer-netfox/multiplayer-netfox.tscn"
    echo "$commit" >"$WORK/netfox_commit"
    log "netfox $commit copied to $PROJECT"

    rm -rf "$PROJECT/addons/rust_enet"
    cp -a "$ADDON" "$PROJECT/addons/rust_enet"
    sha256sum "$PROJECT"/addons/rust_enet/bin/* >"$WORK/addon_sha256"
    log "addon copied from $ADDON ($(cut -c1-12 "$WORK/addon_sha256" | tr '\n' ' '))"

    local lan=$PROJECT/examples/shared/scripts/lan-bootstrapper.gd
    local n
    n=$(grep -c 'ENetMultiplayerPeer\.new()' "$lan" || true)
    [[ $n == 2 ]] || die "expected 2 ENetMultiplayerPeer.new() in lan-bootstrapper.gd, found $n (netfox changed; adapt the patch)"
    sed -i 's/ENetMultiplayerPeer\.new()/NetfoxHarness.make_peer()/' "$lan"
    grep -q 'var peer = NetfoxHarness.make_peer()' "$lan" || die "lan-bootstrapper.gd: the peer variables are typed; adapt the patch"

    write_harness
    # The harness autoload goes last in [autoload], after netfox's singletons it uses.
    python3 - "$PROJECT/project.godot" <<'PY'
import sys
path = sys.argv[1]
lines = open(path).read().split("\n")
start = lines.index("[autoload]")
end = start + 1
while end < len(lines) and not lines[end].startswith("["):
    end += 1
while lines[end - 1].strip() == "":
    end -= 1
lines.insert(end, 'NetfoxHarness="*res://netfox_harness/harness.gd"')
open(path, "w").write("\n".join(lines))
PY
    log "importing the project once (godot --headless --import)"
    timeout -k 5 600 "${GODOT_CMD[@]}" --headless --path "$PROJECT_IN" --import >"$WORK/import.log" 2>&1 ||
        log "the import exited with $? (see $WORK/import.log)"
    grep -q rust_enet.gdextension "$PROJECT/.godot/extension_list.cfg" 2>/dev/null || {
        mkdir -p "$PROJECT/.godot"
        echo 'res://addons/rust_enet/rust_enet.gdextension' >>"$PROJECT/.godot/extension_list.cfg"
    }
    grep -q '"class": &"_NetworkCommandServer"' "$PROJECT/.godot/global_script_class_cache.cfg" ||
        die "the import wrote no global class cache (see $WORK/import.log)"
}

# --- one run --------------------------------------------------------------------------------
now_ms() { date +%s%3N; }

run_one() { # run_index server_kind client_kind
    local i=$1 skind=$2 ckind=$3 port dir pids=() c end start_ms
    port=$((PORT_BASE + i % 2000))
    dir=$OUT/run-$(printf %03d "$i")-$skind-$ckind
    rm -rf "$dir"
    mkdir -p "$dir"
    start_ms=$(now_ms)
    # Everyone prints at the same wall-clock time, the server half a second later.
    end=$(python3 -c "print($start_ms + 3000 + int(($CLIENTS - 1) * $STAGGER * 1000) + int($DURATION * 1000))")
    local budget=$(( (end - start_ms) / 1000 + 20 ))
    timeout -k 3 "$budget" "${GODOT_CMD[@]}" --headless --path "$PROJECT_IN" "$SCENE" -- \
        --nfh-role=server --nfh-peer="$skind" --nfh-port="$port" --nfh-end-ms=$((end + 500)) \
        >"$dir/server.log" 2>&1 &
    pids+=($!)
    # Clients start once the server listens (the example prints "Server started").
    local waited=0
    until grep -q '^Server started' "$dir/server.log" 2>/dev/null; do
        sleep 0.1
        waited=$((waited + 1))
        [[ $waited -lt 200 ]] || break
    done
    for ((c = 0; c < CLIENTS; c++)); do
        [[ $c == 0 ]] || sleep "$STAGGER"
        timeout -k 3 "$budget" "${GODOT_CMD[@]}" --headless --path "$PROJECT_IN" "$SCENE" -- \
            --nfh-role=client --nfh-peer="$ckind" --nfh-port="$port" --nfh-index="$c" \
            --nfh-end-ms="$end" >"$dir/client$((c + 1)).log" 2>&1 &
        pids+=($!)
    done
    local rcs=() p
    for p in "${pids[@]}"; do
        if wait "$p"; then rcs+=(0); else rcs+=($?); fi
    done
    printf '%s\n' "${rcs[@]}" >"$dir/exit_codes"
    printf '{"run": %d, "server": "%s", "clients": "%s", "port": %d, "start_ms": %d}\n' \
        "$i" "$skind" "$ckind" "$port" "$start_ms" >"$dir/meta.json"
}

# --- summary --------------------------------------------------------------------------------
summarize() {
    python3 - "$OUT" "$MIN_FRACTION" <<'PY'
import json, os, re, statistics, sys
out, min_fraction = sys.argv[1], float(sys.argv[2])
runs = sorted(d for d in os.listdir(out) if d.startswith("run-"))

def zero_time(log, start, end):
    # ms the logged throttle spent at 0 between start and end; log is [[ms, throttle, ...]]
    total, prev = 0, None
    for e in log + [[end, None]]:
        if prev is not None and prev[1] == 0:
            total += max(0, min(e[0], end) - max(prev[0], start))
        prev = e
    return total

def min_throttle(log, start, end):
    vals = [e[1] for e in log if start <= e[0] <= end]
    before = [e[1] for e in log if e[0] < start]
    if before:
        vals.append(before[-1])
    return min(vals) if vals else None

def result(path):
    try:
        for line in open(path, errors="replace"):
            if line.startswith("NETFOX_RESULT "):
                return json.loads(line[len("NETFOX_RESULT "):])
    except FileNotFoundError:
        pass
    return None

ERR = re.compile(r"^(ERROR|SCRIPT ERROR|WARNING|USER ERROR|USER WARNING|SCRIPT WARNING):")
groups, rows = {}, []

# What the summary keeps of each client, by group key suffix: the late joiner's under "late_*",
# the earlier joiners' under "other_*" (their input counts under "late" and "others").
CLIENT_METRICS = {"rate": "rate", "dist": "dist", "state": "state_rate",
                  "nonzero": "nonzero_inputs", "moving": "moving_last5s", "last5": "last5s"}


def add_client(g, side, p):
    g["late" if side == "late" else "others"].append(p["inputs"])
    for name, field in CLIENT_METRICS.items():
        g[side + "_" + name].append(p[field])
    if p["move_delay_ms"] is not None:
        g[side + "_delay"].append(p["move_delay_ms"])

for d in runs:
    p = os.path.join(out, d)
    if not os.path.exists(os.path.join(p, "meta.json")):
        continue  # still running (or interrupted)
    meta = json.load(open(os.path.join(p, "meta.json")))
    key = "server=%s clients=%s" % (meta["server"], meta["clients"])
    g = groups.setdefault(key, {"runs": 0, "bad": [], "broken": [], "late": [], "others": [],
                                "late_rate": [], "other_rate": [], "late_dist": [], "errors": {},
                                "late_state": [], "other_state": [], "exit": {},
                                "late_nonzero": [], "other_nonzero": [], "other_dist": [],
                                "late_delay": [], "other_delay": [],
                                "late_moving": [], "other_moving": [], "late_last5": [], "other_last5": [],
                                "timed": 0, "stalled": [], "late_first3s": [], "other_first3s": [],
                                "any_stalled": [], "gaps": [], "client_zero": [], "server_zero": [],
                                "client_min5": [], "server_min": []})
    g["runs"] += 1
    logs = sorted(f for f in os.listdir(p) if f.endswith(".log"))
    for f in logs:
        lines = open(os.path.join(p, f), errors="replace").read().splitlines()
        for n, line in enumerate(lines):
            if ERR.match(line):
                msg = line
                if n + 1 < len(lines) and lines[n + 1].strip().startswith("at:"):
                    msg += " " + lines[n + 1].strip()
                msg = re.sub(r"\d+", "N", msg)
                g["errors"][msg] = g["errors"].get(msg, 0) + 1
    codes = open(os.path.join(p, "exit_codes")).read().split()
    for c in codes:
        g["exit"][c] = g["exit"].get(c, 0) + 1
    server = result(os.path.join(p, "server.log"))
    clients = [result(os.path.join(p, f)) for f in logs if f.startswith("client")]
    row = {"run": d, "group": key}
    if server is None or any(c is None for c in clients):
        row["problem"] = "missing NETFOX_RESULT (server %s, clients %s)" % (
            server is not None, [c is not None for c in clients])
        g["broken"].append(d); rows.append(row); continue
    idx = str(server["input_idx"])
    order = [str(pid) for pid, _ in server["connected"]]
    conn_ms = {str(pid): ms for pid, ms in server["connected"]}
    client_ids = [str(c["unique_id"]) for c in clients]
    missing = [cid for cid in client_ids if cid not in order]
    if missing or len(order) < len(clients):
        row["problem"] = "server saw connections %s, clients are %s" % (order, client_ids)
        g["broken"].append(d); rows.append(row); continue
    by_id = {str(c["unique_id"]): c for c in clients}
    per = {}
    for cid in order:
        if cid not in by_id:
            continue
        cmds = server["commands"].get(cid, {}).get("counts", {})
        n = cmds.get(idx, 0)
        span = max(1, server["end_ms"] - conn_ms[cid]) / 1000.0
        cl = by_id[cid]
        state = sum(v for k, v in cl["commands"].get("1", {}).get("counts", {}).items() if k != idx)
        per[cid] = {"inputs": n, "connected_s": round(span, 2), "rate": n / span,
                    "last5s": server["input_last5s"].get(cid, 0),
                    "dist": server["avatars"].get(cid, {}).get("max_dist", 0.0),
                    "moving_last5s": server["avatars"].get(cid, {}).get("moving_ticks_last5s", 0),
                    "new_inputs": server.get("inputs_new", {}).get(cid, 0),
                    "nonzero_inputs": server.get("inputs_nonzero", {}).get(cid, 0),
                    "move_delay_ms": (server["avatars"].get(cid, {}).get("first_moved_ms", -1) - conn_ms[cid])
                        if server["avatars"].get(cid, {}).get("first_moved_ms", -1) >= 0 else None,
                    "state_rate": 0.0,
                    "client_ticks": cl["ticks"], "client_synced_ms": cl["synced"].get("0"),
                    "states_from_server": state,
                    "server_throttle": (server["throttles"].get(cid) or {}).get("throttle"),
                    "join": order.index(cid) + 1}
        arr = server.get("input_arrivals", {}).get(cid)
        if arr is not None:
            c0 = conn_ms[cid]
            per[cid]["first3s"] = sum(1 for t in arr if c0 <= t <= c0 + 3000)
            edges = [c0] + arr + [server["end_ms"]]
            gaps = [(b - a, a - c0) for a, b in zip(edges, edges[1:])]
            g_ms, g_at = max(gaps)
            per[cid]["max_gap_ms"] = g_ms
            per[cid]["max_gap_at_ms"] = g_at
        clog = cl.get("throttle_log", {}).get("1")
        if clog is not None:
            cc = [ms for pid, ms in cl["connected"] if pid == 1]
            cc = cc[0] if cc else 0
            per[cid]["client_throttle_min_first5s"] = min_throttle(clog, cc, cc + 5000)
            per[cid]["client_throttle_zero_ms"] = zero_time(clog, cc, cl["end_ms"])
        slog = server.get("throttle_log", {}).get(cid)
        if slog is not None:
            per[cid]["server_throttle_min"] = min_throttle(slog, conn_ms[cid], server["end_ms"])
            per[cid]["server_throttle_zero_ms"] = zero_time(slog, conn_ms[cid], server["end_ms"])
    for cid in per:
        per[cid]["state_rate"] = round(per[cid]["states_from_server"] / max(0.001, per[cid]["connected_s"]), 1)
    late = order[-1] if order[-1] in per else [c for c in order if c in per][-1]
    others = [c for c in per if c != late]
    med_rate = statistics.median(per[c]["rate"] for c in others) if others else 24.0
    expected = med_rate * per[late]["connected_s"]
    frac = per[late]["inputs"] / expected if expected > 0 else 0.0
    med_moving = statistics.median(per[c]["moving_last5s"] for c in others) if others else 120
    move_frac = per[late]["moving_last5s"] / med_moving if med_moving > 0 else 0.0
    bad = frac < min_fraction or move_frac < min_fraction or per[late]["dist"] < 1.0
    # Stalled at joining: in its first 3 s connected the server got fewer than min_fraction of
    # the 72 input messages 24 ticks/s would send (the original report: 4 instead of ~65).
    stalled = "first3s" in per[late] and per[late]["first3s"] < min_fraction * 72
    row.update({"late": late, "per_client": per, "late_fraction": round(frac, 3),
                "late_moving_fraction": round(move_frac, 3), "bad": bad, "stalled": stalled})
    rows.append(row)
    if bad:
        g["bad"].append(d)
    if "first3s" in per[late]:
        g["timed"] += 1
        g["late_first3s"].append(per[late]["first3s"])
        if stalled:
            g["stalled"].append(d)
    for c in per:
        if "first3s" in per[c]:
            if c != late:
                g["other_first3s"].append(per[c]["first3s"])
            if per[c]["first3s"] < min_fraction * 72:
                g["any_stalled"].append("%s join %d: %d" % (d, per[c]["join"], per[c]["first3s"]))
            if per[c]["max_gap_ms"] > 1000:
                g["gaps"].append("%s join %d: %d ms from %d ms after connecting" % (
                    d, per[c]["join"], per[c]["max_gap_ms"], per[c]["max_gap_at_ms"]))
        if per[c].get("client_throttle_zero_ms"):
            g["client_zero"].append("%s join %d: %d ms" % (d, per[c]["join"], per[c]["client_throttle_zero_ms"]))
        if per[c].get("server_throttle_zero_ms"):
            g["server_zero"].append("%s join %d: %d ms" % (d, per[c]["join"], per[c]["server_throttle_zero_ms"]))
        if per[c].get("client_throttle_min_first5s") is not None:
            g["client_min5"].append(per[c]["client_throttle_min_first5s"])
        if per[c].get("server_throttle_min") is not None:
            g["server_min"].append(per[c]["server_throttle_min"])
    add_client(g, "late", per[late])
    for c in others:
        add_client(g, "other", per[c])

with open(os.path.join(out, "summary.jsonl"), "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")

def dist(xs, fmt="%d"):
    if not xs:
        return "-"
    xs = sorted(xs)
    return ("min " + fmt + ", median " + fmt + ", max " + fmt) % (xs[0], statistics.median(xs), xs[-1])

for key, g in sorted(groups.items()):
    ok = g["runs"] - len(g["broken"])
    print("%s: %d runs, %d complete; late joiner's input unapplied in %d of %d%s" % (
        key, g["runs"], ok, len(g["bad"]), ok, (" (" + ", ".join(g["bad"]) + ")") if g["bad"] else ""))
    if g["broken"]:
        print("  incomplete runs: " + ", ".join(g["broken"]))
    if g["timed"]:
        print("  late joiner stalled at joining (< %d input messages in its first 3 s) in %d of %d%s" % (
            int(min_fraction * 72 + 0.999), len(g["stalled"]), g["timed"],
            (" (" + ", ".join(g["stalled"]) + ")") if g["stalled"] else ""))
        print("  input messages in the first 3 s connected: late joiner %s; earlier joiners %s" % (
            dist(g["late_first3s"]), dist(g["other_first3s"])))
        print("  any client stalled at joining: %d%s" % (len(g["any_stalled"]),
            (" (" + "; ".join(g["any_stalled"]) + ")") if g["any_stalled"] else ""))
        print("  clients with a gap > 1 s between input messages: %d%s" % (len(g["gaps"]),
            (" (" + "; ".join(g["gaps"]) + ")") if g["gaps"] else ""))
    if g["client_min5"]:
        print("  clients' packet throttle toward the server, lowest in the first 5 s: %s; clients that reached 0: %d%s" % (
            dist(g["client_min5"]), len(g["client_zero"]),
            (" (" + "; ".join(g["client_zero"]) + ")") if g["client_zero"] else ""))
    if g["server_min"]:
        print("  server's packet throttle toward each client, lowest: %s; reached 0: %d%s" % (
            dist(g["server_min"]), len(g["server_zero"]),
            (" (" + "; ".join(g["server_zero"]) + ")") if g["server_zero"] else ""))
    print("  input messages the server received: late joiner %s; earlier joiners %s" % (
        dist(g["late"]), dist(g["others"])))
    print("  input messages per second connected: late joiner %s; earlier joiners %s" % (
        dist(g["late_rate"], "%.1f"), dist(g["other_rate"], "%.1f")))
    print("  input messages the server received in the last 5 s: late joiner %s; earlier joiners %s" % (
        dist(g["late_last5"]), dist(g["other_last5"])))
    print("  server ticks (of the last 5 s) in which the avatar moved: late joiner %s; earlier joiners %s" % (
        dist(g["late_moving"]), dist(g["other_moving"])))
    print("  ms from connecting to the avatar moving 0.5 m on the server: late joiner %s; earlier joiners %s" % (
        dist(g["late_delay"]), dist(g["other_delay"])))
    print("  distinct ticks of non-zero input the server merged: late joiner %s; earlier joiners %s" % (
        dist(g["late_nonzero"]), dist(g["other_nonzero"])))
    print("  avatar's largest distance from spawn on the server (m): late joiner %s; earlier joiners %s" % (
        dist(g["late_dist"], "%.2f"), dist(g["other_dist"], "%.2f")))
    print("  state commands per second each client received from the server: late joiner %s; earlier %s" % (
        dist(g["late_state"], "%.1f"), dist(g["other_state"], "%.1f")))
    print("  process exit codes: %s" % ", ".join("%s x%d" % kv for kv in sorted(g["exit"].items())))
    if g["errors"]:
        print("  errors/warnings printed (count over all processes and runs):")
        for msg, n in sorted(g["errors"].items(), key=lambda kv: -kv[1]):
            print("    %4d  %s" % (n, msg[:220]))
for r in rows:
    if r.get("bad") or r.get("stalled") or r.get("problem"):
        print("%s: %s" % (r["run"], json.dumps({k: r[k] for k in r if k not in ("run",)})))
PY
}

if [[ $SUMMARY_ONLY == 1 ]]; then
    summarize
    exit 0
fi
# REUSE_PROJECT=1 keeps an existing copy (only the harness is rewritten).
if [[ ${REUSE_PROJECT:-0} == 1 && -f $PROJECT/.godot/global_script_class_cache.cfg ]]; then
    write_harness
else
    setup_project
fi
[[ $SETUP_ONLY == 0 ]] || exit 0
mkdir -p "$OUT"
IFS=, read -r -a server_kinds <<<"$SERVERS"
IFS=, read -r -a client_kinds <<<"$CLIENT_KINDS"
total=$((RUNS * ${#server_kinds[@]} * ${#client_kinds[@]}))
log "$total runs ($RUNS per server/client kind, kinds interleaved) into $OUT"
i=0
t0=$(date +%s)
for ((r = 0; r < RUNS; r++)); do
    for ck in "${client_kinds[@]}"; do
        for sk in "${server_kinds[@]}"; do
            i=$((i + 1))
            run_one "$i" "$sk" "$ck"
            printf '    run %d/%d (server %s, clients %s) done, %ds elapsed\n' "$i" "$total" "$sk" "$ck" \
                $(($(date +%s) - t0)) >&2
        done
    done
done
summarize | tee "$OUT/summary.txt"
