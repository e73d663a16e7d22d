extends "res://tests/lib/differential.gd"
## Sessions through SceneMultiplayer: a full session with two clients, refusals by Godot's own server, kicks, an unanswered client, a mixed swarm of 24 clients, and handlers that call back into the peer (full servers: test_refusals.gd).
## The harness and how pairings work: tests/lib/differential.gd.


## One server, two clients: connection signals (with SceneMultiplayer's relay), reliable RPCs
## both ways and client-to-client through the server, unreliable and unreliable-ordered RPCs on
## user channels, fragmented reliable payloads, a client leaving and the server shutting down.
func _scenario_session(server: Endpoint, c1: Endpoint, c2: Endpoint,
		names: Dictionary) -> Dictionary:
	var port := _serve(server)
	for c: Endpoint in [c1, c2]:
		if not _dial(c, port, names):
			return {}
		check_eq(c.peer.get_connection_status(), MultiplayerPeer.CONNECTION_CONNECTING,
				c.name + " status after create_client")
		if not await _joined(server, c, names):
			return {}
	if not await _step("clients see each other", func() -> bool:
			return c1.api.get_peers().size() == 2 and c2.api.get_peers().size() == 2):
		return {}

	var id1: int = names.find_key("C1")
	var id2: int = names.find_key("C2")
	c1.game.hello.rpc_id(1, "to server")
	server.game.hello.rpc_id(id1, "to C1")
	c1.game.hello.rpc_id(id2, "relayed to C2")
	server.game.hello.rpc("to everyone")
	for n in 3:
		c2.game.tick.rpc_id(1, n)
	c2.game.datagram.rpc_id(1, 7)
	server.game.blob.rpc_id(id2, _pattern(100_000, 1))
	c2.game.blob.rpc_id(1, _pattern(5_000, 2))
	if not await _step("all RPCs delivered", func() -> bool:
			return server.game.trace.size() >= 6 and c1.game.trace.size() >= 2 \
					and c2.game.trace.size() >= 3):
		return {}

	c2.peer.close()
	if not await _step("C2's departure seen by S and C1", func() -> bool:
			return "peer_disconnected(C2)" in server.signals and "peer_disconnected(C2)" in c1.signals):
		return {}
	server.peer.close()
	return await _observe_when("C1 sees the server shut down", func() -> bool:
			return "server_disconnected" in c1.signals, [server, c1, c2])


func test_session_with_two_clients() -> void:
	var blob100k := RpcNode._sha(_pattern(100_000, 1))
	var blob5k := RpcNode._sha(_pattern(5_000, 2))
	await _run_differential(_with_endpoints(2, _scenario_session), {
		# SceneMultiplayer reports the server's own close() as server_disconnected too.
		"S signals": ["peer_connected(C1)", "peer_connected(C2)", "peer_disconnected(C2)",
				"server_disconnected"],
		"C1 signals": ["connected_to_server", "peer_connected(S)", "peer_connected(C2)",
				"peer_disconnected(C2)", "peer_disconnected(S)", "server_disconnected"],
		"C2 signals": ["connected_to_server", "peer_connected(S)", "peer_connected(C1)",
				"server_disconnected"],
		"S rpcs": _sorted([
			"S: hello(to server) from C1",
			"S: tick(0) from C2 on channel 2",
			"S: tick(1) from C2 on channel 2",
			"S: tick(2) from C2 on channel 2",
			"S: datagram(7) from C2",
			"S: blob(5000 bytes, sha256 %s) from C2" % blob5k,
		]),
		"C1 rpcs": _sorted(["C1: hello(to C1) from S", "C1: hello(to everyone) from S"]),
		"C2 rpcs": _sorted([
			"C2: hello(relayed to C2) from C1",
			"C2: hello(to everyone) from S",
			"C2: blob(100000 bytes, sha256 %s) from S" % blob100k,
		]),
	})


## Godot's server refusing new connections resets them silently: the client still completes
## the ENet handshake (it sees connected_to_server), the server reports nothing. A RustENetPeer
## server answers the CONNECT instead and the client fails at once (test_refusals.gd), so this
## runs with Godot's server only.
func _scenario_refused(server: Endpoint, c1: Endpoint, names: Dictionary) -> Dictionary:
	var port := _serve(server)
	server.api.refuse_new_connections = true
	if not _dial(c1, port, names) or not await _step("C1's handshake completes", func() -> bool:
			return c1.peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED):
		return {}
	# Give the server time to (not) report the client.
	await get_tree().create_timer(0.5).timeout
	return _observations([server, c1])


func test_refused_connection() -> void:
	await _run_differential(_with_endpoints(1, _scenario_refused), {
		"S signals": [],
		"C1 signals": ["connected_to_server", "peer_connected(S)"],
		"S rpcs": [],
		"C1 rpcs": [],
	}, ["builtin/builtin", "builtin/rust"])


## The server kicks a client with SceneMultiplayer.disconnect_peer: a graceful ENet
## disconnect that both ends report.
func _scenario_kick(server: Endpoint, c1: Endpoint, names: Dictionary) -> Dictionary:
	if not await _serve_and_join(server, [c1], names):
		return {}
	server.api.disconnect_peer(names.find_key("C1"))
	return await _observe_when("C1 sees the kick", func() -> bool:
			return "server_disconnected" in c1.signals, [server, c1])


func test_server_kicks_client() -> void:
	await _run_differential(_with_endpoints(1, _scenario_kick), {
		# SceneMultiplayer.disconnect_peer does not report the kicked peer on the server.
		"S signals": ["peer_connected(C1)"],
		"C1 signals": ["connected_to_server", "peer_connected(S)", "peer_disconnected(S)",
				"server_disconnected"],
		"S rpcs": [],
		"C1 rpcs": [],
	})


## A client whose server never answers gives up after its ENet timeout (shortened here with
## get_peer(1).set_timeout) and SceneMultiplayer reports connection_failed. Only the client
## kind matters: the "server" is a silent UDP socket.
func _scenario_unanswered(_server_kind: String, client_kind: String) -> Dictionary:
	var names := {1: "S"}
	var c1 := _endpoint("C1", client_kind, names)
	var silent := PacketPeerUDP.new()
	var result := {}
	if check_eq(silent.bind(0, "127.0.0.1"), OK, "bind a silent UDP socket") \
			and _dial(c1, silent.get_local_port(), names):
		c1.peer.call(&"get_peer", 1).set_timeout(2, 500, 1000)
		if await _step("C1 gives up", func() -> bool: return "connection_failed" in c1.signals):
			result = _observations([c1])
			result["C1 status"] = c1.peer.get_connection_status()
			result["a CONNECT reached the silent socket"] = silent.get_available_packet_count() > 0
	silent.close()
	await _teardown([c1])
	return result


func test_unanswered_client_fails() -> void:
	await _run_differential(_scenario_unanswered, {
		"C1 signals": ["connection_failed"],
		"C1 rpcs": [],
		"C1 status": MultiplayerPeer.CONNECTION_DISCONNECTED,
		"a CONNECT reached the silent socket": true,
	}, ["builtin/builtin", "builtin/rust"])


## A server with 24 clients of alternating kinds (builtin, rust, builtin, ...): everyone sees
## everyone through the server's relay, a broadcast RPC from each client reaches the server and
## all other clients, then three clients (C4, C9, C20: both kinds) leave and everyone else sees
## peer_disconnected for exactly those. Runs with a built-in and with a Rust server
## ("S kind/mixed").
const SWARM_SIZE := 24
const SWARM_LEAVERS: Array[String] = ["C4", "C9", "C20"]


func _scenario_mixed_swarm(server_kind: String, _client_kind: String) -> Dictionary:
	var names := {1: "S"}
	var server := _endpoint("S", server_kind, names)
	var clients: Array[Endpoint] = []
	for i in SWARM_SIZE:
		clients.append(_endpoint("C%d" % (i + 1), "builtin" if i % 2 == 0 else "rust", names))
	var all: Array = [server]
	all.append_array(clients)
	var result := {}
	if await _swarm_steps(server, clients, names, result):
		for e: Endpoint in all:
			if e.name in SWARM_LEAVERS:
				continue
			var departures: Array[String] = []
			for line in e.signals:
				if line.begins_with("peer_disconnected") or line == "server_disconnected":
					departures.append(line)
			departures.sort()
			result[e.name + " departures"] = departures
			result[e.name + " peers after"] = e.api.get_peers().size()
	await _teardown(all)
	return result


func _swarm_steps(server: Endpoint, clients: Array[Endpoint], names: Dictionary,
		result: Dictionary) -> bool:
	var port := _serve(server)
	for c in clients:
		if not _dial(c, port, names):
			return false
	if not await _step("everyone sees everyone", func() -> bool:
			for c in clients:
				if c.api.get_peers().size() < clients.size():
					return false
			return server.api.get_peers().size() == clients.size()):
		return false
	for c in clients:
		c.game.hello.rpc("from " + c.name)
	if not await _step("every broadcast arrives everywhere", func() -> bool:
			for c in clients:
				if c.game.trace.size() < clients.size() - 1:
					return false
			return server.game.trace.size() >= clients.size()):
		return false
	for e: Endpoint in [server] + clients:
		result[e.name + " peers"] = e.api.get_peers().size()
		result[e.name + " rpcs"] = e.game.trace.size()
	var stayers: Array[Endpoint] = [server]
	for c in clients:
		if c.name in SWARM_LEAVERS:
			c.peer.close()
		else:
			stayers.append(c)
	return await _step("the departures are seen by everyone else", func() -> bool:
			for e in stayers:
				if e.api.get_peers().size() > clients.size() - SWARM_LEAVERS.size():
					return false
			return true)


func test_mixed_swarm() -> void:
	var expected := {"S peers": SWARM_SIZE, "S rpcs": SWARM_SIZE,
			"S peers after": SWARM_SIZE - SWARM_LEAVERS.size()}
	var departures: Array[String] = []
	for name in SWARM_LEAVERS:
		departures.append("peer_disconnected(%s)" % name)
	departures.sort()
	expected["S departures"] = departures
	for i in SWARM_SIZE:
		var name := "C%d" % (i + 1)
		expected[name + " peers"] = SWARM_SIZE
		expected[name + " rpcs"] = SWARM_SIZE - 1
		if not name in SWARM_LEAVERS:
			expected[name + " departures"] = departures
			expected[name + " peers after"] = SWARM_SIZE - SWARM_LEAVERS.size()
	await _run_differential(_scenario_mixed_swarm, expected, ["builtin/mixed", "rust/mixed"])


## Signal handlers call back into the peer that is emitting (as SceneMultiplayer does): the
## server sends to a client from its peer_connected handler, the client reads its state from
## its handler, and closes itself from its peer_disconnected handler when the server leaves.
func _scenario_reentrant(server_kind: String, client_kind: String) -> Dictionary:
	var server := make_peer(server_kind)
	var client := make_peer(client_kind)
	var seen := {}
	if not _create_raw(server, [client]):
		return {}
	# The handlers capture the peers, so they are disconnected at the end (else: a cycle).
	var on_server_connected := func(id: int) -> void:
		server.set_target_peer(id)
		server.transfer_mode = MultiplayerPeer.TRANSFER_MODE_RELIABLE
		seen["server put_packet in handler"] = server.put_packet(PackedByteArray([42]))
		seen["server id in handler"] = server.get_unique_id()
	var on_client_connected := func(id: int) -> void:
		seen["client status in handler"] = client.get_connection_status()
		seen["client saw"] = id
	var on_client_disconnected := func(_id: int) -> void:
		client.close()
		seen["client status after close in handler"] = client.get_connection_status()
	server.peer_connected.connect(on_server_connected)
	client.peer_connected.connect(on_client_connected)
	client.peer_disconnected.connect(on_client_disconnected)
	var packets := []
	await wait_until(func() -> bool:
		server.poll()
		client.poll()
		while client.get_available_packet_count() > 0:
			packets.append(Array(client.get_packet()))
		return packets.size() > 0, 5.0)
	seen["client received"] = packets
	server.close()
	await wait_until(func() -> bool:
		if client.get_connection_status() != MultiplayerPeer.CONNECTION_DISCONNECTED:
			client.poll()
		return seen.has("client status after close in handler"), 5.0)
	_close_raw([server, client])
	server.peer_connected.disconnect(on_server_connected)
	client.peer_connected.disconnect(on_client_connected)
	client.peer_disconnected.disconnect(on_client_disconnected)
	return seen


func test_reentrant_calls_from_signal_handlers() -> void:
	await _run_differential(_scenario_reentrant, {
		"server put_packet in handler": OK,
		"server id in handler": 1,
		"client status in handler": MultiplayerPeer.CONNECTION_CONNECTED,
		"client saw": 1,
		"client received": [[42]],
		"client status after close in handler": MultiplayerPeer.CONNECTION_DISCONNECTED,
	})
