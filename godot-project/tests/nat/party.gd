extends SceneTree
## A party of the NAT lab (tests/nat/run_lab.sh): run in a lab namespace with
##   godot --headless --path godot-project --script res://tests/nat/party.gd -- ROLE [options]
##
## Roles:
##   host         RustENetPeer.create_server_rendezvous; prints `ID <id>` once registered
##   host-noray   Godot's ENetMultiplayerPeer through noray's protocol (noray_client.gd), as a
##                netfox.noray host does it; prints `ID <id>`
##   join         RustENetPeer.create_client_rendezvous to --id, --runs times
##   join-noray   ENetMultiplayerPeer joining as a netfox.noray client does (--runs times)
##   host-netfox  netfox's own noray client (addons/netfox.noray, in the project copy that
##                tests/real_projects/netfox_noray.sh makes) hosting on ENetMultiplayerPeer, as
##                netfox's example bootstrapper does (netfox_noray_party.gd); prints `ID <id>`
##   join-netfox  netfox.noray joining on ENetMultiplayerPeer (NAT, then relay), --runs times
## Options: --server IP (the rendezvous server) --port N (its TCP port, 8890) --id ID
##   --runs N (20) --concurrent (all runs at once) --hold SEC (each run keeps its
##   session SEC seconds before its last RPC) --seconds SEC (a host's lifetime, 600)
##   --no-relay (a joiner allows direct paths only)
##
## A joiner prints one line per run: `RUN {"run": i, "ok": bool, "ms": join call to
## connected_to_server, "path": "direct"|"relay", "rpc": RPCs arrived both ways, "reason": ...}`.

const Link := preload("res://tests/nat/party_link.gd")
const NorayClient := preload("res://tests/nat/noray_client.gd")
## Loaded at run time: it needs netfox.noray, which only netfox_noray.sh's project copy has.
const NETFOX_PARTY := "res://tests/nat/netfox_noray_party.gd"

## Seconds a run may take to connect, and then to see its RPCs.
const CONNECT_SEC := 15.0
const RPC_SEC := 5.0

var _options := {}
var _done_runs := 0


func _initialize() -> void:
	var args := OS.get_cmdline_user_args()
	var role: String = args[0] if args.size() > 0 else ""
	var i := 1
	while i < args.size():
		var key: String = args[i].trim_prefix("--")
		if i + 1 < args.size() and not args[i + 1].begins_with("--"):
			_options[key] = args[i + 1]
			i += 2
		else:
			_options[key] = true
			i += 1
	match role:
		"host":
			_host_rust.call_deferred()
		"host-noray":
			_host_noray.call_deferred()
		"host-netfox":
			_host_netfox.call_deferred()
		"join", "join-noray", "join-netfox":
			_join_all.call_deferred(role)
		_:
			printerr("party.gd: unknown role %s" % role)
			quit(2)


func _opt(key: String, default: Variant) -> Variant:
	return _options.get(key, default)


func _server() -> String:
	return String(_opt("server", "198.51.100.1"))


func _port() -> int:
	return int(_opt("port", "8890"))


## A node with its own multiplayer branch (several parties in one process each get one).
func _link_node(name: String) -> Node:
	var node: Node = Link.new()
	node.name = name
	root.add_child(node)
	set_multiplayer(SceneMultiplayer.new(), node.get_path())
	return node


func _write_id(id: String) -> void:
	print("ID ", id)


func _serve_until_done() -> void:
	await create_timer(float(_opt("seconds", "600"))).timeout
	quit(0)


func _host_rust() -> void:
	var link := _link_node("party")
	var peer := RustENetPeer.new()
	peer.rendezvous_registered.connect(_write_id)
	peer.rendezvous_failed.connect(func(reason: String, message: String) -> void:
		printerr("HOST rendezvous failed: %s: %s" % [reason, message])
		quit(1))
	var err := peer.create_server_rendezvous(_server(), _port(), 64)
	if err != OK:
		printerr("HOST create_server_rendezvous: %s" % error_string(err))
		quit(1)
		return
	link.multiplayer.multiplayer_peer = peer
	link.multiplayer.peer_connected.connect(func(id: int) -> void:
		print("PEER %d %s" % [id, peer.get_peer_path(id)])
		link.hello.rpc_id(id))
	_serve_until_done()


func _host_noray() -> void:
	var link := _link_node("party")
	var noray = NorayClient.new(self)
	var err: Error = await noray.register(_server(), _port())
	if err != OK:
		printerr("HOST noray registration: %s" % error_string(err))
		quit(1)
		return
	var peer := ENetMultiplayerPeer.new()
	err = peer.create_server(noray.local_port, 64)
	if err != OK:
		printerr("HOST create_server(%d): %s" % [noray.local_port, error_string(err)])
		quit(1)
		return
	link.multiplayer.multiplayer_peer = peer
	link.multiplayer.peer_connected.connect(func(id: int) -> void:
		print("PEER %d" % id)
		link.hello.rpc_id(id))
	_write_id(noray.oid)
	_serve_until_done()
	# What netfox.noray's host does on the server's notices: 8 s of `$rwx` every 0.1 s, blind.
	while true:
		var line: String = noray.next_line()
		if line.begins_with("connect-relay "):
			_punch_blind(peer, noray.server_ip, int(line.get_slice(" ", 1)))
		elif line.begins_with("connect "):
			var target := line.get_slice(" ", 1)
			var colon := target.rfind(":")
			_punch_blind(peer, target.substr(0, colon), int(target.substr(colon + 1)))
		await process_frame


func _host_netfox() -> void:
	var link := _link_node("party")
	var netfox = load(NETFOX_PARTY).new(self, "host")
	var err: Error = await netfox.connect_to_noray(_server(), _port())
	if err != OK:
		printerr("HOST netfox.noray registration: %s" % error_string(err))
		quit(1)
		return
	var peer: MultiplayerPeer = await netfox.host(link.multiplayer)
	if peer == null:
		printerr("HOST netfox.noray host() failed")
		quit(1)
		return
	link.multiplayer.peer_connected.connect(func(id: int) -> void:
		print("PEER %d %s" % [id, peer.get_class()])
		link.hello.rpc_id(id))
	_write_id(netfox.noray.oid)
	_serve_until_done()


func _punch_blind(peer: ENetMultiplayerPeer, address: String, port: int) -> void:
	for i in 81:
		peer.host.socket_send(address, port, "$rwx".to_ascii_buffer())
		await create_timer(0.1).timeout


func _join_all(mode: String) -> void:
	var runs := int(_opt("runs", "20"))
	var concurrent: bool = _opt("concurrent", false)
	for run in runs:
		if concurrent:
			_join_one.call_deferred(run, mode)
		else:
			await _join_one(run, mode)
	while _done_runs < runs:
		await process_frame
	quit(0)


func _join_one(run: int, mode: String) -> void:
	var link := _link_node("run%d" % run)
	var mp := link.multiplayer
	var result := {"run": run, "ok": false, "ms": -1, "path": "", "rpc": false, "reason": ""}
	var state := {"connected": false, "failed": false}
	mp.connected_to_server.connect(func() -> void: state.connected = true)
	mp.connection_failed.connect(func() -> void: state.failed = true)
	var start := Time.get_ticks_msec()
	var peer: MultiplayerPeer
	var netfox = null
	if mode == "join-netfox":
		# netfox.noray's way sets the peer itself and waits for it (NAT, then the relay).
		netfox = load(NETFOX_PARTY).new(self, "run%d" % run)
		var err: Error = await netfox.connect_to_noray(_server(), _port())
		if err != OK:
			result.reason = "netfox.noray registration: %s" % error_string(err)
		else:
			peer = await netfox.join(mp, String(_opt("id", "")), result)
		state.failed = peer == null
		state.connected = peer != null and peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED
	elif mode == "join-noray":
		peer = await _join_noray(result)
	else:
		peer = _join_rust(result)
	if peer != null:
		if mp.multiplayer_peer != peer:
			mp.multiplayer_peer = peer
		await _until(func() -> bool: return state.connected or state.failed, CONNECT_SEC)
	if state.connected:
		result.ms = Time.get_ticks_msec() - start
		if peer is RustENetPeer and netfox == null:
			result.path = peer.get_peer_path(1)
		var hold := float(_opt("hold", "0"))
		if hold > 0.0:
			await create_timer(hold).timeout
		link.ping.rpc_id(1, run)
		result.rpc = await _until(func() -> bool: return link.hellos > 0 and link.pongs > 0, RPC_SEC)
		result.ok = result.rpc and mp.multiplayer_peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED
		if not result.rpc:
			result.reason = "rpc: hello %d pong %d" % [link.hellos, link.pongs]
	elif result.reason.is_empty():
		result.reason = "not connected within %d s" % CONNECT_SEC
		if peer is RustENetPeer:
			result.reason = str(peer.get_disconnect_reason(1))
	print("RUN ", JSON.stringify(result))
	if peer != null:
		peer.close()
	if netfox != null:
		netfox.free_nodes()
	link.queue_free()
	_done_runs += 1


func _join_rust(result: Dictionary) -> MultiplayerPeer:
	var peer := RustENetPeer.new()
	peer.rendezvous_relay = not _opt("no-relay", false)
	peer.rendezvous_failed.connect(func(reason: String, message: String) -> void:
		result.reason = "%s: %s" % [reason, message])
	var err := peer.create_client_rendezvous(String(_opt("id", "")), _server(), _port())
	if err != OK:
		result.reason = "create_client_rendezvous: %s" % error_string(err)
		return null
	return peer


## As netfox.noray's bootstrapper joins: NAT first, the relay when the handshake fails.
func _join_noray(result: Dictionary) -> MultiplayerPeer:
	var noray = NorayClient.new(self)
	var err: Error = await noray.register(_server(), _port())
	if err != OK:
		result.reason = "noray registration: %s" % error_string(err)
		return null
	var id := String(_opt("id", ""))
	noray.send_line("connect " + id)
	var line: String = await noray.wait_line("connect ")
	var target := line.get_slice(" ", 1)
	var colon := target.rfind(":")
	var address := target.substr(0, colon)
	var port := int(target.substr(colon + 1))
	result.path = "direct"
	var shaken: Error = ERR_TIMEOUT
	if not line.is_empty():
		shaken = await noray.handshake(address, port)
	if shaken == ERR_TIMEOUT:
		noray.send_line("connect-relay " + id)
		line = await noray.wait_line("connect-relay ")
		if line.is_empty():
			result.reason = "no answer to connect-relay"
			return null
		address = noray.server_ip
		port = int(line.get_slice(" ", 1))
		result.path = "relay"
		await noray.handshake(address, port)
	var peer := ENetMultiplayerPeer.new()
	err = peer.create_client(address, port, 0, 0, 0, noray.local_port)
	if err != OK:
		result.reason = "create_client: %s" % error_string(err)
		return null
	return peer


func _until(condition: Callable, timeout_sec: float) -> bool:
	var deadline := Time.get_ticks_msec() + int(timeout_sec * 1000.0)
	while not condition.call():
		if Time.get_ticks_msec() > deadline:
			return false
		await process_frame
	return true
