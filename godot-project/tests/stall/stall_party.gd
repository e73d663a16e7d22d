extends Node
## One side of the stall scenarios (`res://tests/test_stalls.gd`, `res://bench/bench_stall.gd`):
## servers or clients, each on its own SceneMultiplayer, that send a numbered reliable RPC
## (`Game.tick`) to every connected remote every 100 ms and record what arrives. The test (or the
## benchmark) runs one side in its own process, whose main thread then stalls, and
## `stall_remote.tscn` runs the other side in a second Godot process: `spawn_remote`, then
## `finish_remote` for the other side's reports, and `server_outcome` to compare them.

const Branch := preload("res://tests/lib/branch.gd")
const Differential := preload("res://tests/lib/differential.gd")
const Suite := preload("res://tests/lib/suite.gd")
const Game := preload("res://tests/stall/stall_game.gd")
const INTERVAL_MSEC := 100


## A server or client: a branch (root, game, api, peer: tests/lib/branch.gd) that sends ticks.
class Member:
	extends Branch
	var kind: String
	var port: int
	var server: bool
	var sent := {}  # remote id -> last number sent
	var disconnected: Array[int] = []  # remote ids that left
	var lost := false  # a client whose connection ended

	func _on_peer_disconnected(id: int) -> void:
		disconnected.append(id)

	func _on_lost() -> void:
		lost = true

	func remotes() -> Array:
		if server:
			return Array(api.get_peers())
		if peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED and not lost:
			return [1]
		return []

	## What the other process needs to check this member.
	func report() -> Dictionary:
		var out := {"kind": kind, "port": port, "server": server, "lost": lost,
				"id": api.get_unique_id() if api.has_multiplayer_peer() else 0,
				"disconnected": disconnected.duplicate()}
		var numbers := {}
		for id in sent:
			numbers[str(id)] = sent[id]
		out["sent"] = numbers
		return out


var members: Array[Member] = []
var sending := true
var _next_send := 0
var _remote_pid := -1
var _remote_stop := ProjectSettings.globalize_path("user://stall.stop")
var _remote_out := ProjectSettings.globalize_path("user://stall.json")


## `count` UDP ports of 127.0.0.1 that were free a moment ago.
static func free_ports(count: int) -> Array[int]:
	var probes := []
	var ports: Array[int] = []
	for i in count:
		var probe := PacketPeerUDP.new()
		probe.bind(0, "127.0.0.1")
		probes.append(probe)
		ports.append(probe.get_local_port())
	for probe in probes:
		probe.close()
	return ports


static func numbers_up_to(count: int) -> Array:
	var out := []
	for i in count:
		out.append(i + 1)
	return out


## Starts the other side, `stall_remote.tscn`, in a second Godot process with `args` (its
## --servers= or --clients=). False if it did not start.
func spawn_remote(args: Array) -> bool:
	DirAccess.remove_absolute(_remote_stop)
	DirAccess.remove_absolute(_remote_out)
	var all := ["--headless", "--path", ProjectSettings.globalize_path("res://"),
			"res://tests/stall/stall_remote.tscn", "--", "--stop=" + _remote_stop,
			"--out=" + _remote_out]
	all.append_array(args)
	_remote_pid = OS.create_process(OS.get_executable_path(), all)
	return _remote_pid > 0


## Tells the second process to stop and returns its members' reports (`Member.report()`) once it
## quit, or null if it did not finish within 30 s or wrote none.
func finish_remote() -> Variant:
	var file := FileAccess.open(_remote_stop, FileAccess.WRITE)
	file.store_string("stop")
	file.close()
	if not await Suite.frames_until(get_tree(), func() -> bool:
			return not OS.is_process_running(_remote_pid), 30.0):
		return null
	var reports = JSON.parse_string(FileAccess.get_file_as_string(_remote_out))
	return reports if reports is Array else null


## Waits (at most `timeout_sec`) until every one of `of` has `count` connected remotes and has
## received a few RPCs from each.
func all_talking(of: Array, count: int, timeout_sec: float = 20.0) -> bool:
	return await Suite.frames_until(get_tree(), func() -> bool: return _talking(of, count),
			timeout_sec)


static func _talking(of: Array, count: int) -> bool:
	for m in of:
		if m.remotes().size() != count or m.game.received.size() != count:
			return false
		for id in m.game.received:
			if m.game.received[id].size() < 3:
				return false
	return true


## How `server` (a member here) fared with each of its clients in the other process, from their
## `reports`; `left` is who the server saw leave before the end. One entry per client: its id and
## kind, whether it stayed connected, whether the server kept it, how many RPCs it sent and
## whether the server got exactly those, once each and in order; `kept` when all of that holds.
static func server_outcome(server: Member, reports: Array, left: Array) -> Array[Dictionary]:
	var out: Array[Dictionary] = []
	for r in reports:
		if r["server"] or int(r["port"]) != server.port:
			continue
		var id := int(r["id"])
		var sent := int(r["sent"].get("1", 0))
		var got: Array = server.game.received.get(id, [])
		var o := {"id": id, "kind": r["kind"], "connected": not r["lost"],
				"kept_by_server": not id in left, "sent": sent, "got": got,
				"in_order": got == numbers_up_to(sent)}
		o["kept"] = o.connected and o.kept_by_server and o.in_order and sent > 0
		out.append(o)
	return out


func _member(kind: String, port: int, server: bool) -> Member:
	var m := Member.new()
	m.kind = kind
	m.port = port
	m.server = server
	m.attach(self, "%s_%s_%d_%d" % ["server" if server else "client", kind, port, members.size()],
			Game.new())
	m.peer = Differential.make_peer(kind)
	m.api.peer_disconnected.connect(m._on_peer_disconnected)
	m.api.server_disconnected.connect(m._on_lost)
	m.api.connection_failed.connect(m._on_lost)
	members.append(m)
	return m


## A server of `kind` on 127.0.0.1:`port`.
func add_server(kind: String, port: int) -> Member:
	var m := _member(kind, port, true)
	m.peer.call(&"set_bind_ip", "127.0.0.1")
	var err: int = m.peer.call(&"create_server", port, 32)
	if err != OK:
		push_error("stall_party: create_server(%d) failed: %d" % [port, err])
	m.api.multiplayer_peer = m.peer
	return m


## A client of `kind` connecting to 127.0.0.1:`port`.
func add_client(kind: String, port: int) -> Member:
	var m := _member(kind, port, false)
	var err: int = m.peer.call(&"create_client", "127.0.0.1", port)
	if err != OK:
		push_error("stall_party: create_client(%d) failed: %d" % [port, err])
	m.api.multiplayer_peer = m.peer
	return m


func _process(_delta: float) -> void:
	var now := Time.get_ticks_msec()
	if not sending or now < _next_send:
		return
	_next_send = now + INTERVAL_MSEC
	for m in members:
		for id in m.remotes():
			var n: int = m.sent.get(id, 0) + 1
			m.sent[id] = n
			m.game.rpc_id(id, &"tick", n)


## Closes every peer and frees the members; kills the second process if it still runs.
func close_all() -> void:
	if _remote_pid > 0:
		if OS.is_process_running(_remote_pid):
			OS.kill(_remote_pid)
		DirAccess.remove_absolute(_remote_stop)
		DirAccess.remove_absolute(_remote_out)
	_remote_pid = -1
	for m in members:
		m.detach()
	members.clear()
