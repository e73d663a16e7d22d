extends "res://tests/lib/differential.gd"
## The Godot 3 NetworkedMultiplayerENet features RustENetPeer brings back: compression_mode and
## DTLS options set before create_*, get_peer_address / get_peer_port, close_connection, and
## disconnect_peer(id, now) as disconnect_peer_later / disconnect_peer_now. Built-in Godot 4
## peers are on the other end where the wire allows. The harness: tests/lib/differential.gd.

const Certificates := preload("res://tests/lib/certificates.gd")


## Compression set as a property on the rust end and with `host.compress` (Godot 4's way) on a
## built-in end: RPCs both ways, one of them 20 KB.
func _scenario_compression(server: Endpoint, c1: Endpoint, names: Dictionary,
		mode: int) -> Dictionary:
	for e: Endpoint in [server, c1]:
		if e.kind == "rust":
			e.peer.set(&"compression_mode", mode)
	var port := _serve(server)
	if port and server.kind == "builtin":
		server.peer.host.compress(mode)
	if not _dial(c1, port, names):
		return {}
	if c1.kind == "builtin":
		c1.peer.host.compress(mode)
	if not await _joined(server, c1, names):
		return {}
	c1.game.hello.rpc_id(1, "compressed hello")
	c1.game.blob.rpc_id(1, _pattern(20_000, 5))
	server.game.hello.rpc_id(names.find_key("C1"), "compressed reply")
	if not await _step("RPCs delivered", func() -> bool:
			return server.game.trace.size() >= 2 and c1.game.trace.size() >= 1):
		return {}
	return _observations([server, c1])


func test_compression_mode_property_matches_compress() -> void:
	for mode in [ENetConnection.COMPRESS_RANGE_CODER, ENetConnection.COMPRESS_FASTLZ,
			ENetConnection.COMPRESS_ZLIB, ENetConnection.COMPRESS_ZSTD]:
		print("    mode %d" % mode)
		await _run_differential(_with_endpoints(1, _scenario_compression.bind(mode)), {
			"S rpcs": _sorted([
				"S: hello(compressed hello) from C1",
				"S: blob(20000 bytes, sha256 %s) from C1" % RpcNode._sha(_pattern(20_000, 5)),
			]),
			"C1 rpcs": _sorted(["C1: hello(compressed reply) from S"]),
		}, ["builtin/rust", "rust/builtin", "rust/rust"])
	var peer: Object = ClassDB.instantiate(&"RustENetPeer")
	peer.set(&"compression_mode", 9)
	check_eq(peer.get(&"compression_mode"), 0, "an unknown mode is refused")


## DTLS from properties alone: the server's key and certificate, the client's trusted
## certificate and the name it must carry. The wrong name fails the connection.
func test_dtls_options_before_create() -> void:
	var key_pair := Certificates.pair("CN=localhost,O=rust_enet,C=IT")
	var key: CryptoKey = key_pair[0]
	var cert: X509Certificate = key_pair[1]
	for hostname in ["localhost", "example.com"]:
		var names := {1: "S"}
		var server := _endpoint("S", "rust", names)
		var c1 := _endpoint("C1", "rust", names)
		server.peer.set(&"dtls_server_options", TLSOptions.server(key, cert))
		c1.peer.set(&"dtls_client_options", TLSOptions.client(cert))
		c1.peer.set(&"dtls_hostname", hostname)
		if hostname == "localhost":
			if await _serve_and_join(server, [c1], names):
				c1.game.hello.rpc_id(1, "secret hello")
				check(await wait_until(func() -> bool: return server.game.trace.size() >= 1),
						"an RPC over DTLS")
				check(server.peer.get(&"host").get_peers()[0].get_state() \
						== ENetPacketPeer.STATE_CONNECTED, "the server's peer is connected")
		else:
			_dial(c1, _serve(server), names)
			check(await wait_until(func() -> bool: return "connection_failed" in c1.signals),
					"a certificate without the name %s fails the connection" % hostname)
		await _teardown([server, c1])


## Addresses and ports of remote peers, both ways, against a built-in end.
func _scenario_addresses(server: Endpoint, c1: Endpoint, names: Dictionary) -> Dictionary:
	if not await _serve_and_join(server, [c1], names):
		return {}
	var id: int = names.find_key("C1")
	var rust := server if server.kind == "rust" else c1
	var remote := c1 if rust == server else server
	var remote_id := id if rust == server else 1
	return {
		"address": rust.peer.call(&"get_peer_address", remote_id),
		"port is the remote's": rust.peer.call(&"get_peer_port", remote_id) \
				== remote.peer.get(&"host").get_local_port(),
		"unknown id": [rust.peer.call(&"get_peer_address", 99),
				rust.peer.call(&"get_peer_port", 99)],
	}


func test_peer_address_and_port() -> void:
	await _run_differential(_with_endpoints(1, _scenario_addresses), {
		"address": "127.0.0.1",
		"port is the remote's": true,
		"unknown id": ["", 0],
	}, ["rust/builtin", "builtin/rust", "rust/rust"])


## A rust server with a built-in and a rust client: close_connection tells both, which report
## the server gone within a second (a timeout would take 5 s or more); the server reports no
## peer leaving (SceneMultiplayer's own status signal aside).
func test_close_connection_tells_every_client() -> void:
	var names := {1: "S"}
	var server := _endpoint("S", "rust", names)
	var c1 := _endpoint("C1", "builtin", names)
	var c2 := _endpoint("C2", "rust", names)
	var port := await _serve_and_join(server, [c1], names)
	if port:
		_dial(c2, port, names)
		if await _step("both connected", func() -> bool: return server.api.get_peers().size() == 2):
			var before := server.signals.size()
			var started := Time.get_ticks_msec()
			server.peer.call(&"close_connection", 200_000)
			check_eq(server.peer.get_connection_status(), MultiplayerPeer.CONNECTION_DISCONNECTED,
					"the server is closed")
			check(await wait_until(func() -> bool:
					return "server_disconnected" in c1.signals \
							and "server_disconnected" in c2.signals, 3.0),
					"both clients see the server go")
			var took := Time.get_ticks_msec() - started
			print("    clients saw the server go after %d ms" % took)
			check(took < 1000, "within a second (took %d ms)" % took)
			var after := server.signals.slice(before)
			check(after.all(func(line: String) -> bool: return not line.begins_with("peer_")),
					"no peer signals on the server (got %s)" % [after])
	await _teardown([server, c1, c2])


## disconnect_peer_later delivers what was queued first; disconnect_peer_now reports at once.
func _scenario_disconnect_later(server: Endpoint, c1: Endpoint, names: Dictionary) -> Dictionary:
	if not await _serve_and_join(server, [c1], names):
		return {}
	var id: int = names.find_key("C1")
	for n in 30:
		server.game.numbered.rpc_id(id, n)
	server.peer.call(&"disconnect_peer_later", id)
	if not await _step("C1 sees the server go", func() -> bool:
			return "server_disconnected" in c1.signals):
		return {}
	await _step("S sees C1 go", func() -> bool:
			return "peer_disconnected(C1)" in server.signals)
	var result := {"C1 got everything queued": c1.game.reliable_numbers == range(30)}
	return result.merged(_observations([server, c1]))


func test_disconnect_peer_later_delivers_queued_packets() -> void:
	await _run_differential(_with_endpoints(1, _scenario_disconnect_later), {
		"C1 got everything queued": true,
		"S signals": ["peer_connected(C1)", "peer_disconnected(C1)"],
	}, ["rust/builtin", "rust/rust"])


func _scenario_disconnect_now(server: Endpoint, c1: Endpoint, names: Dictionary) -> Dictionary:
	if not await _serve_and_join(server, [c1], names):
		return {}
	server.peer.call(&"disconnect_peer_now", names.find_key("C1"))
	var result := {
		"S signalled before returning": server.signals.duplicate(),
		"S peers": server.api.get_peers(),
	}
	if await _step("C1 sees the server go", func() -> bool:
			return "server_disconnected" in c1.signals):
		result.merge(_observations([server, c1]))
	return result


func test_disconnect_peer_now_reports_at_once() -> void:
	await _run_differential(_with_endpoints(1, _scenario_disconnect_now), {
		"S signalled before returning": ["peer_connected(C1)", "peer_disconnected(C1)"],
		"S peers": PackedInt32Array(),
	}, ["rust/builtin", "rust/rust"])


## compression_mode reaches mesh hosts too: after add_mesh_peer, what A sends is compressed, so B,
## a host without the compressor, drops it; without compression_mode B receives it.
func test_compression_mode_applies_to_mesh_hosts() -> void:
	for compressing in [false, true]:
		var conn_a: Object = ClassDB.instantiate(&"RustENetConnection")
		var conn_b: Object = ClassDB.instantiate(&"RustENetConnection")
		conn_a.create_host_bound("127.0.0.1", 0, 1)
		conn_b.create_host_bound("127.0.0.1", 0, 1)
		var link_b: Object = conn_b.connect_to_host("127.0.0.1", conn_a.get_local_port())
		var up := await wait_until(func() -> bool:
				conn_a.service()
				conn_b.service()
				return link_b.get_state() == ENetPacketPeer.STATE_CONNECTED \
						and conn_a.get_peers().size() == 1)
		if not check(up, "the mesh link connects"):
			return
		var a: MultiplayerPeer = ClassDB.instantiate(&"RustENetPeer")
		if compressing:
			a.set(&"compression_mode", ENetConnection.COMPRESS_ZLIB)
		a.call(&"create_mesh", 1)
		check_eq(a.call(&"add_mesh_peer", 2, conn_a), OK, "add_mesh_peer")
		a.set_target_peer(2)
		a.put_packet(_pattern(2000, 4))
		var got := []
		var deadline := Time.get_ticks_msec() + 1500
		while Time.get_ticks_msec() < deadline and got.is_empty():
			a.poll()
			var event: Array = conn_b.service()
			if event[0] == ENetConnection.EVENT_RECEIVE:
				got.append(link_b.get_packet())
			await get_tree().process_frame
		if compressing:
			check_eq(got, [], "compressed: a host without the compressor drops it")
		else:
			check_eq(got, [_pattern(2000, 4)], "uncompressed: it arrives")
		a.close()
		conn_b.destroy()
