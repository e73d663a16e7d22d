extends Node
## One side of the stall scenarios (`res://tests/test_stalls.gd`): servers or clients, each on its
## own SceneMultiplayer, that send a numbered reliable RPC (`Game.tick`) to every connected
## remote every 100 ms and record what arrives. The test runs one side in the runner, whose main
## thread then stalls, and `stall_remote.tscn` runs the other side in a second Godot process.

const Differential := preload("res://tests/lib/differential.gd")
const Game := preload("res://tests/stall/stall_game.gd")
const INTERVAL_MSEC := 100


class Member:
	extends RefCounted
	var kind: String
	var port: int
	var server: bool
	var root: Node
	var game: Node
	var api: SceneMultiplayer
	var peer: MultiplayerPeer
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


func _member(kind: String, port: int, server: bool) -> Member:
	var m := Member.new()
	m.kind = kind
	m.port = port
	m.server = server
	m.root = Node.new()
	m.root.name = "%s_%s_%d_%d" % ["server" if server else "client", kind, port, members.size()]
	add_child(m.root)
	m.game = Game.new()
	m.game.name = "Game"
	m.root.add_child(m.game)
	m.api = SceneMultiplayer.new()
	get_tree().set_multiplayer(m.api, m.root.get_path())
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


## Closes every peer and frees the members.
func close_all() -> void:
	for m in members:
		if m.peer.get_connection_status() != MultiplayerPeer.CONNECTION_DISCONNECTED:
			m.peer.close()
		get_tree().set_multiplayer(null, m.root.get_path())
		m.root.queue_free()
	members.clear()
