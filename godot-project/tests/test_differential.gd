extends "res://tests/lib/differential.gd"
## Differential scenarios (the harness and how pairings work: tests/lib/differential.gd).

## One server, two clients: connection signals (with SceneMultiplayer's relay), reliable RPCs
## both ways and client-to-client through the server, unreliable and unreliable-ordered RPCs on
## user channels, fragmented reliable payloads, a client leaving and the server shutting down.
func _scenario_session(server_kind: String, client_kind: String) -> Dictionary:
	var names := {1: "S"}
	var server := _endpoint("S", server_kind, names)
	var c1 := _endpoint("C1", client_kind, names)
	var c2 := _endpoint("C2", client_kind, names)
	var all := [server, c1, c2]
	var result := {}
	if await _session_steps(server, c1, c2, names):
		result = _observations(all)
	await _teardown(all)
	return result


func _session_steps(server: Endpoint, c1: Endpoint, c2: Endpoint, names: Dictionary) -> bool:
	if not check_eq(server.peer.call(&"create_server", 0), OK, "create_server(0)"):
		return false
	server.api.multiplayer_peer = server.peer
	var port: int = server.peer.get(&"host").get_local_port()
	if not check(port > 0, "server port is known"):
		return false

	for c: Endpoint in [c1, c2]:
		if not check_eq(c.peer.call(&"create_client", "127.0.0.1", port), OK, c.name + " create_client"):
			return false
		names[c.peer.get_unique_id()] = c.name
		check_eq(c.peer.get_connection_status(), MultiplayerPeer.CONNECTION_CONNECTING,
				c.name + " status after create_client")
		c.api.multiplayer_peer = c.peer
		if not await _step(c.name + " connected on both ends", func() -> bool:
				return c.peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED \
						and names.find_key(c.name) in server.api.get_peers()):
			return false
	if not await _step("clients see each other", func() -> bool:
			return c1.api.get_peers().size() == 2 and c2.api.get_peers().size() == 2):
		return false

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
		return false

	c2.peer.close()
	if not await _step("C2's departure seen by S and C1", func() -> bool:
			return "peer_disconnected(C2)" in server.signals and "peer_disconnected(C2)" in c1.signals):
		return false
	server.peer.close()
	if not await _step("C1 sees the server shut down", func() -> bool:
			return "server_disconnected" in c1.signals):
		return false
	await wait_frames(2)
	return true


func test_session_with_two_clients() -> void:
	var blob100k := RpcNode._sha(_pattern(100_000, 1))
	var blob5k := RpcNode._sha(_pattern(5_000, 2))
	await _run_differential(_scenario_session, {
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


## One client and a server that both compress every datagram with `mode`: connect, reliable
## RPCs both ways and a 20 KB fragmented payload that compresses well.
func _scenario_compressed(server_kind: String, client_kind: String, mode: int) -> Dictionary:
	var names := {1: "S"}
	var server := _endpoint("S", server_kind, names)
	var c1 := _endpoint("C1", client_kind, names)
	var all := [server, c1]
	var result := {}
	if await _compressed_steps(server, c1, names, mode):
		result = _observations(all)
	await _teardown(all)
	return result


func _compressed_steps(server: Endpoint, c1: Endpoint, names: Dictionary, mode: int) -> bool:
	if not check_eq(server.peer.call(&"create_server", 0), OK, "create_server(0)"):
		return false
	server.peer.get(&"host").compress(mode)
	server.api.multiplayer_peer = server.peer
	var port: int = server.peer.get(&"host").get_local_port()
	if not check_eq(c1.peer.call(&"create_client", "127.0.0.1", port), OK, "create_client"):
		return false
	# Allowed before the first poll: the CONNECT is only queued by create_client.
	c1.peer.get(&"host").compress(mode)
	names[c1.peer.get_unique_id()] = "C1"
	c1.api.multiplayer_peer = c1.peer
	if not await _step("C1 connected on both ends", func() -> bool:
			return c1.peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED \
					and names.find_key("C1") in server.api.get_peers()):
		return false
	c1.game.hello.rpc_id(1, "compressed hello")
	server.game.hello.rpc_id(names.find_key("C1"), "compressed reply")
	var text := "all work and no play makes jack a dull boy. ".repeat(450).to_utf8_buffer()
	c1.game.blob.rpc_id(1, text)
	if not await _step("RPCs delivered", func() -> bool:
			return server.game.trace.size() >= 2 and c1.game.trace.size() >= 1):
		return false
	return true


func _test_compression(mode: int) -> void:
	var text := "all work and no play makes jack a dull boy. ".repeat(450).to_utf8_buffer()
	await _run_differential(_scenario_compressed.bind(mode), {
		"S signals": ["peer_connected(C1)"],
		"C1 signals": ["connected_to_server", "peer_connected(S)"],
		"S rpcs": _sorted([
			"S: hello(compressed hello) from C1",
			"S: blob(%d bytes, sha256 %s) from C1" % [text.size(), RpcNode._sha(text)],
		]),
		"C1 rpcs": _sorted(["C1: hello(compressed reply) from S"]),
	})


func test_compression_range_coder() -> void:
	await _test_compression(ENetConnection.COMPRESS_RANGE_CODER)


func test_compression_fastlz() -> void:
	await _test_compression(ENetConnection.COMPRESS_FASTLZ)


func test_compression_zlib() -> void:
	await _test_compression(ENetConnection.COMPRESS_ZLIB)


func test_compression_zstd() -> void:
	await _test_compression(ENetConnection.COMPRESS_ZSTD)


## Godot's server refusing new connections resets them silently: the client still completes
## the ENet handshake (it sees connected_to_server), the server reports nothing. A RustENetPeer
## server answers the CONNECT instead and the client fails at once (test_refusals.gd), so this
## runs with Godot's server only.
func _scenario_refused(server_kind: String, client_kind: String) -> Dictionary:
	var names := {1: "S"}
	var server := _endpoint("S", server_kind, names)
	var c1 := _endpoint("C1", client_kind, names)
	var all := [server, c1]
	var result := {}
	if check_eq(server.peer.call(&"create_server", 0), OK, "create_server(0)"):
		server.api.multiplayer_peer = server.peer
		server.api.refuse_new_connections = true
		var port: int = server.peer.get(&"host").get_local_port()
		if check_eq(c1.peer.call(&"create_client", "127.0.0.1", port), OK, "create_client"):
			names[c1.peer.get_unique_id()] = "C1"
			c1.api.multiplayer_peer = c1.peer
			if await _step("C1's handshake completes", func() -> bool:
					return c1.peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED):
				# Give the server time to (not) report the client.
				await get_tree().create_timer(0.5).timeout
				result = _observations(all)
	await _teardown(all)
	return result


func test_refused_connection() -> void:
	await _run_differential(_scenario_refused, {
		"S signals": [],
		"C1 signals": ["connected_to_server", "peer_connected(S)"],
		"S rpcs": [],
		"C1 rpcs": [],
	}, ["builtin/builtin", "builtin/rust"])


## The server kicks a client with SceneMultiplayer.disconnect_peer: a graceful ENet
## disconnect that both ends report.
func _scenario_kick(server_kind: String, client_kind: String) -> Dictionary:
	var names := {1: "S"}
	var server := _endpoint("S", server_kind, names)
	var c1 := _endpoint("C1", client_kind, names)
	var all := [server, c1]
	var result := {}
	if check_eq(server.peer.call(&"create_server", 0), OK, "create_server(0)"):
		server.api.multiplayer_peer = server.peer
		var port: int = server.peer.get(&"host").get_local_port()
		if check_eq(c1.peer.call(&"create_client", "127.0.0.1", port), OK, "create_client"):
			names[c1.peer.get_unique_id()] = "C1"
			c1.api.multiplayer_peer = c1.peer
			if await _step("C1 connected on both ends", func() -> bool:
					return c1.peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED \
							and names.find_key("C1") in server.api.get_peers()):
				server.api.disconnect_peer(names.find_key("C1"))
				if await _step("C1 sees the kick", func() -> bool:
						return "server_disconnected" in c1.signals):
					await wait_frames(2)
					result = _observations(all)
	await _teardown(all)
	return result


func test_server_kicks_client() -> void:
	await _run_differential(_scenario_kick, {
		# SceneMultiplayer.disconnect_peer does not report the kicked peer on the server.
		"S signals": ["peer_connected(C1)"],
		"C1 signals": ["connected_to_server", "peer_connected(S)", "peer_disconnected(S)",
				"server_disconnected"],
		"S rpcs": [],
		"C1 rpcs": [],
	})


## One client and a server speaking DTLS (a self-signed certificate for "localhost" that the
## client trusts explicitly, or any certificate with `unsafe_client`): connect, reliable RPCs
## both ways and a 20 KB fragmented payload.
func _scenario_dtls(server_kind: String, client_kind: String, key: CryptoKey,
		cert: X509Certificate, unsafe_client: bool) -> Dictionary:
	var names := {1: "S"}
	var server := _endpoint("S", server_kind, names)
	var c1 := _endpoint("C1", client_kind, names)
	var all := [server, c1]
	var result := {}
	if await _dtls_steps(server, c1, names, key, cert, unsafe_client):
		result = _observations(all)
	await _teardown(all)
	return result


func _dtls_steps(server: Endpoint, c1: Endpoint, names: Dictionary, key: CryptoKey,
		cert: X509Certificate, unsafe_client: bool) -> bool:
	if not check_eq(server.peer.call(&"create_server", 0), OK, "create_server(0)"):
		return false
	if not check_eq(server.peer.get(&"host").dtls_server_setup(TLSOptions.server(key, cert)), OK,
			"dtls_server_setup"):
		return false
	server.api.multiplayer_peer = server.peer
	var port: int = server.peer.get(&"host").get_local_port()
	if not check_eq(c1.peer.call(&"create_client", "127.0.0.1", port), OK, "create_client"):
		return false
	var client_options := TLSOptions.client_unsafe() if unsafe_client else TLSOptions.client(cert)
	if not check_eq(c1.peer.get(&"host").dtls_client_setup("localhost", client_options), OK,
			"dtls_client_setup"):
		return false
	names[c1.peer.get_unique_id()] = "C1"
	c1.api.multiplayer_peer = c1.peer
	if not await _step("C1 connected over DTLS on both ends", func() -> bool:
			return c1.peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED \
					and names.find_key("C1") in server.api.get_peers()):
		return false
	c1.game.hello.rpc_id(1, "secret hello")
	server.game.hello.rpc_id(names.find_key("C1"), "secret reply")
	c1.game.blob.rpc_id(1, _pattern(20_000, 3))
	if not await _step("RPCs delivered", func() -> bool:
			return server.game.trace.size() >= 2 and c1.game.trace.size() >= 1):
		return false
	return true


## Whether this Godot's own ENet has DTLS (Debian's build links the system ENet, which has not).
static func builtin_has_dtls() -> bool:
	var probe := ENetConnection.new()
	probe.create_host(1)
	var err := probe.dtls_client_setup("localhost", TLSOptions.client_unsafe())
	probe.destroy()
	return err != ERR_UNAVAILABLE


func _test_dtls(unsafe_client: bool) -> void:
	var pairings: Array[String] = ALL_PAIRINGS
	if not builtin_has_dtls():
		print("    this Godot's built-in ENet has no DTLS (ERR_UNAVAILABLE): running rust/rust only")
		pairings = ["rust/rust"]
	var crypto := Crypto.new()
	var key := crypto.generate_rsa(2048)
	var cert := crypto.generate_self_signed_certificate(key, "CN=localhost,O=rust_enet,C=IT")
	await _run_differential(_scenario_dtls.bind(key, cert, unsafe_client), {
		"S signals": ["peer_connected(C1)"],
		"C1 signals": ["connected_to_server", "peer_connected(S)"],
		"S rpcs": _sorted([
			"S: hello(secret hello) from C1",
			"S: blob(20000 bytes, sha256 %s) from C1" % RpcNode._sha(_pattern(20_000, 3)),
		]),
		"C1 rpcs": _sorted(["C1: hello(secret reply) from S"]),
	}, pairings)


func test_dtls_verified_certificate() -> void:
	await _test_dtls(false)


func test_dtls_unsafe_client() -> void:
	await _test_dtls(true)


## A DTLS client that does not trust the server's certificate fails to connect: the session
## error closes the peer and SceneMultiplayer reports connection_failed.
func _scenario_dtls_untrusted(server_kind: String, client_kind: String, key: CryptoKey,
		cert: X509Certificate, other_cert: X509Certificate) -> Dictionary:
	var names := {1: "S"}
	var server := _endpoint("S", server_kind, names)
	var c1 := _endpoint("C1", client_kind, names)
	var all := [server, c1]
	var result := {}
	if check_eq(server.peer.call(&"create_server", 0), OK, "create_server(0)") \
			and check_eq(server.peer.get(&"host").dtls_server_setup(TLSOptions.server(key, cert)),
					OK, "dtls_server_setup"):
		server.api.multiplayer_peer = server.peer
		var port: int = server.peer.get(&"host").get_local_port()
		if check_eq(c1.peer.call(&"create_client", "127.0.0.1", port), OK, "create_client") \
				and check_eq(c1.peer.get(&"host").dtls_client_setup("localhost",
						TLSOptions.client(other_cert)), OK, "dtls_client_setup"):
			names[c1.peer.get_unique_id()] = "C1"
			c1.api.multiplayer_peer = c1.peer
			if await _step("C1 gives up", func() -> bool:
					return "connection_failed" in c1.signals):
				await wait_frames(2)
				result = _observations(all)
	await _teardown(all)
	return result


func test_dtls_untrusted_certificate_fails() -> void:
	var pairings: Array[String] = ALL_PAIRINGS
	if not builtin_has_dtls():
		print("    this Godot's built-in ENet has no DTLS (ERR_UNAVAILABLE): running rust/rust only")
		pairings = ["rust/rust"]
	var crypto := Crypto.new()
	var key := crypto.generate_rsa(2048)
	var cert := crypto.generate_self_signed_certificate(key, "CN=localhost,O=rust_enet,C=IT")
	var other_key := crypto.generate_rsa(2048)
	var other := crypto.generate_self_signed_certificate(other_key, "CN=localhost,O=other,C=IT")
	await _run_differential(_scenario_dtls_untrusted.bind(key, cert, other), {
		"S signals": [],
		"C1 signals": ["connection_failed"],
		"S rpcs": [],
		"C1 rpcs": [],
	}, pairings)


## A client whose server never answers gives up after its ENet timeout (shortened here with
## get_peer(1).set_timeout) and SceneMultiplayer reports connection_failed. Only the client
## kind matters: the "server" is a silent UDP socket.
func _scenario_unanswered(_server_kind: String, client_kind: String) -> Dictionary:
	var names := {1: "S"}
	var c1 := _endpoint("C1", client_kind, names)
	var silent := PacketPeerUDP.new()
	var result := {}
	if check_eq(silent.bind(0, "127.0.0.1"), OK, "bind a silent UDP socket") \
			and check_eq(c1.peer.call(&"create_client", "127.0.0.1", silent.get_local_port()), OK,
					"create_client"):
		c1.peer.call(&"get_peer", 1).set_timeout(2, 500, 1000)
		c1.api.multiplayer_peer = c1.peer
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


## What RustENetPacketPeer/ENetPacketPeer report about a live connection, on both ends.
func _scenario_packet_peer(server_kind: String, client_kind: String) -> Dictionary:
	var names := {1: "S"}
	var server := _endpoint("S", server_kind, names)
	var c1 := _endpoint("C1", client_kind, names)
	var all := [server, c1]
	var result := {}
	if check_eq(server.peer.call(&"create_server", 0), OK, "create_server(0)"):
		server.api.multiplayer_peer = server.peer
		var port: int = server.peer.get(&"host").get_local_port()
		if check_eq(c1.peer.call(&"create_client", "127.0.0.1", port, 3), OK, "create_client"):
			var id: int = c1.peer.get_unique_id()
			names[id] = "C1"
			c1.api.multiplayer_peer = c1.peer
			if await _step("C1 connected on both ends", func() -> bool:
					return c1.peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED \
							and id in server.api.get_peers()):
				# Wait for a measured round trip time. C ENet's client has one within a round trip
				# (its lastReceiveTime is still 0 after the handshake, so it pings at once); the
				# Rust core's client measures it with the first regular ping, up to 500 ms later.
				await get_tree().create_timer(1.0).timeout
				var to_server = c1.peer.call(&"get_peer", 1)
				var to_client = server.peer.call(&"get_peer", id)
				for pair in [["C1 view of S", to_server, port], ["S view of C1", to_client, -1]]:
					var p = pair[1]
					result[pair[0]] = [
						p.is_active(), p.get_state(), p.get_channels(),
						p.get_remote_address(),
						p.get_remote_port() == pair[2] if pair[2] > 0 else p.get_remote_port() > 0,
						p.get_statistic(ENetPacketPeer.PEER_ROUND_TRIP_TIME) < 500.0,
						p.get_statistic(ENetPacketPeer.PEER_PACKET_THROTTLE_INTERVAL),
					]
				var sent: float = server.peer.get(&"host").pop_statistic(
						ENetConnection.HOST_TOTAL_SENT_PACKETS)
				result["S host sent datagrams"] = sent > 0
				result["S host sent after pop"] = server.peer.get(&"host").pop_statistic(
						ENetConnection.HOST_TOTAL_SENT_PACKETS) < sent
				to_server.peer_disconnect_now()
				result["C1 view of S after disconnect_now"] = [to_server.is_active(),
						to_server.get_state()]
	await _teardown(all)
	return result


func test_packet_peer_api() -> void:
	var connected := [true, ENetPacketPeer.STATE_CONNECTED, 5, "127.0.0.1", true, true, 5000.0]
	await _run_differential(_scenario_packet_peer, {
		"C1 view of S": connected,
		"S view of C1": connected,
		"S host sent datagrams": true,
		"S host sent after pop": true,
		"C1 view of S after disconnect_now": [false, ENetPacketPeer.STATE_DISCONNECTED],
	})


## Reliable delivery survives a bad link: every RustENetConnection in the pairing drops 10%
## of datagrams, duplicates 5% and adds 5-20 ms of latency with jitter in both directions
## (RustENetConnection.set_link_simulation), so the built-in peer on the other end sees the
## loss too. 200 reliable RPCs each way must arrive complete and in order; unreliable-ordered
## RPCs may be lost but never arrive out of order. builtin/builtin has no simulator.
func _scenario_lossy(server_kind: String, client_kind: String) -> Dictionary:
	var names := {1: "S"}
	var server := _endpoint("S", server_kind, names)
	var c1 := _endpoint("C1", client_kind, names)
	var all := [server, c1]
	var result := {}
	if await _lossy_steps(server, c1, names):
		result["S reliable in order"] = server.game.reliable_numbers == range(200)
		result["C1 reliable in order"] = c1.game.reliable_numbers == range(200)
		var ordered: Array[int] = server.game.ordered_numbers
		var increasing := ordered.size() > 0
		for i in range(1, ordered.size()):
			increasing = increasing and ordered[i] > ordered[i - 1]
		result["S unreliable-ordered never out of order"] = increasing
	await _teardown(all)
	return result


func _lossy_steps(server: Endpoint, c1: Endpoint, names: Dictionary) -> bool:
	if not check_eq(server.peer.call(&"create_server", 0), OK, "create_server(0)"):
		return false
	server.api.multiplayer_peer = server.peer
	var port: int = server.peer.get(&"host").get_local_port()
	if not check_eq(c1.peer.call(&"create_client", "127.0.0.1", port), OK, "create_client"):
		return false
	var id: int = c1.peer.get_unique_id()
	names[id] = "C1"
	c1.api.multiplayer_peer = c1.peer
	if not await _step("C1 connected on both ends", func() -> bool:
			return c1.peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED \
					and id in server.api.get_peers()):
		return false
	var bad_link := {"latency_ms": 5, "jitter_ms": 15, "loss_percent": 10, "duplicate_percent": 5}
	for e: Endpoint in [server, c1]:
		if e.kind == "rust":
			e.peer.get(&"host").set_link_seed(7)
			e.peer.get(&"host").set_link_simulation(bad_link)
	for n in 200:
		c1.game.numbered.rpc_id(1, n)
		server.game.numbered.rpc_id(id, n)
		if n % 2 == 0:
			c1.game.numbered_ordered.rpc_id(1, n)
		if n % 20 == 19:
			await get_tree().process_frame
	return await wait_until(func() -> bool:
			return server.game.reliable_numbers.size() >= 200 \
					and c1.game.reliable_numbers.size() >= 200, 30.0) \
			or check(false, "reliable RPCs complete within 30 s (S got %d, C1 got %d)" % [
					server.game.reliable_numbers.size(), c1.game.reliable_numbers.size()])


func test_reliable_order_survives_lossy_link() -> void:
	print("    builtin/builtin skipped: the link simulator is part of RustENetConnection")
	await _run_differential(_scenario_lossy, {
		"S reliable in order": true,
		"C1 reliable in order": true,
		"S unreliable-ordered never out of order": true,
	}, ["builtin/rust", "rust/builtin", "rust/rust"])


## A full server (max_clients 1) silently drops a second client's CONNECT: that client gives
## up after its (shortened) timeout with connection_failed; the first client is unaffected.
func _scenario_full_server(server_kind: String, client_kind: String) -> Dictionary:
	var names := {1: "S"}
	var server := _endpoint("S", server_kind, names)
	var c1 := _endpoint("C1", client_kind, names)
	var c2 := _endpoint("C2", client_kind, names)
	var all := [server, c1, c2]
	var result := {}
	if check_eq(server.peer.call(&"create_server", 0, 1), OK, "create_server(0, 1)"):
		server.api.multiplayer_peer = server.peer
		var port: int = server.peer.get(&"host").get_local_port()
		check_eq(c1.peer.call(&"create_client", "127.0.0.1", port), OK, "C1 create_client")
		names[c1.peer.get_unique_id()] = "C1"
		c1.api.multiplayer_peer = c1.peer
		if await _step("C1 connected", func() -> bool:
				return names.find_key("C1") in server.api.get_peers()):
			check_eq(c2.peer.call(&"create_client", "127.0.0.1", port), OK, "C2 create_client")
			names[c2.peer.get_unique_id()] = "C2"
			c2.peer.call(&"get_peer", 1).set_timeout(2, 500, 1000)
			c2.api.multiplayer_peer = c2.peer
			if await _step("C2 gives up", func() -> bool:
					return "connection_failed" in c2.signals):
				result = _observations(all)
				result["C1 still connected"] = c1.peer.get_connection_status()
	await _teardown(all)
	return result


func test_full_server_drops_extra_client() -> void:
	await _run_differential(_scenario_full_server, {
		"S signals": ["peer_connected(C1)"],
		"C1 signals": ["connected_to_server", "peer_connected(S)"],
		"C2 signals": ["connection_failed"],
		"S rpcs": [],
		"C1 rpcs": [],
		"C2 rpcs": [],
		"C1 still connected": MultiplayerPeer.CONNECTION_CONNECTED,
	})


## Not a benchmark, a sanity check with numbers: 3000 reliable 200-byte RPCs from a client to
## the server, sent 300 per frame; prints how long each pairing takes.
func _scenario_throughput(server_kind: String, client_kind: String) -> Dictionary:
	var names := {1: "S"}
	var server := _endpoint("S", server_kind, names)
	var c1 := _endpoint("C1", client_kind, names)
	var all := [server, c1]
	var result := {}
	if check_eq(server.peer.call(&"create_server", 0), OK, "create_server(0)"):
		server.api.multiplayer_peer = server.peer
		var port: int = server.peer.get(&"host").get_local_port()
		if check_eq(c1.peer.call(&"create_client", "127.0.0.1", port), OK, "create_client"):
			var id: int = c1.peer.get_unique_id()
			c1.api.multiplayer_peer = c1.peer
			if await _step("C1 connected on both ends", func() -> bool:
					return c1.peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED \
							and id in server.api.get_peers()):
				var data := _pattern(200, 9)
				var started := Time.get_ticks_usec()
				for n in 3000:
					c1.game.payload.rpc_id(1, data)
					if n % 300 == 299:
						await get_tree().process_frame
				await wait_until(func() -> bool: return server.game.payload_count >= 3000, 20.0)
				var usec := Time.get_ticks_usec() - started
				print("    %s/%s: 3000 reliable RPCs delivered in %.1f ms" % [server_kind,
						client_kind, usec / 1000.0])
				result["S received"] = server.game.payload_count
	await _teardown(all)
	return result


func test_throughput_report() -> void:
	await _run_differential(_scenario_throughput, {"S received": 3000})


## MultiplayerPeer used directly (no SceneMultiplayer), polled by hand: packets in every
## transfer mode on user channels 0 and 2, one unreliable packet above the MTU, in both
## directions. The receiver records what get_packet_peer/channel/mode report for each.
func _scenario_raw_packets(server_kind: String, client_kind: String, ip: String) -> Dictionary:
	var server := make_peer(server_kind)
	var client := make_peer(client_kind)
	var result := {}
	server.call(&"set_bind_ip", ip)
	if check_eq(server.call(&"create_server", 0), OK, "create_server(0) on " + ip) \
			and check_eq(client.call(&"create_client", ip, server.get(&"host").get_local_port()),
					OK, "create_client"):
		var connected := {}
		server.peer_connected.connect(func(id: int) -> void: connected["S"] = id)
		client.peer_connected.connect(func(id: int) -> void: connected["C"] = id)
		if await _step("raw peers connected", func() -> bool:
				server.poll()
				client.poll()
				return connected.size() == 2):
			check_eq(connected["C"], 1, "the client sees the server as peer 1")
			check_eq(connected["S"], client.get_unique_id(), "the server sees the client's id")
			var sent := 0
			for sender in [client, server]:
				sender.set_target_peer(0 if sender == server else 1)
				for channel in [0, 2]:
					for mode in [MultiplayerPeer.TRANSFER_MODE_RELIABLE,
							MultiplayerPeer.TRANSFER_MODE_UNRELIABLE,
							MultiplayerPeer.TRANSFER_MODE_UNRELIABLE_ORDERED]:
						sender.transfer_channel = channel
						sender.transfer_mode = mode
						check_eq(sender.put_packet(PackedByteArray([mode, channel, sent])), OK, "put_packet")
						sent += 1
				sender.transfer_channel = 0
				sender.transfer_mode = MultiplayerPeer.TRANSFER_MODE_UNRELIABLE
				check_eq(sender.put_packet(_pattern(3000, 5)), OK, "put_packet of 3000 bytes")
			var got := {"S": [], "C": []}
			await wait_until(func() -> bool:
				for pair in [["S", server], ["C", client]]:
					var p: MultiplayerPeer = pair[1]
					p.poll()
					while p.get_available_packet_count() > 0:
						var from := p.get_packet_peer()
						var line := "from %s, channel %d, mode %d: " % [
								"client" if from == client.get_unique_id() else str(from),
								p.get_packet_channel(), p.get_packet_mode()]
						var data := p.get_packet()
						got[pair[0]].append(line + (str(Array(data)) if data.size() < 8
								else "%d bytes" % data.size()))
				return got["S"].size() >= 7 and got["C"].size() >= 7, 5.0)
			for side in got:
				got[side].sort()
			result = got
	for p in [server, client]:
		if p.get_connection_status() != MultiplayerPeer.CONNECTION_DISCONNECTED:
			p.close()
	return result


## Whether this Godot's own ENet handles IPv6 (Debian's links the IPv4-only system ENet).
static func builtin_has_ipv6() -> bool:
	var probe := ENetMultiplayerPeer.new()
	probe.set_bind_ip("::1")
	var ok := probe.create_server(0) == OK
	probe.close()
	return ok


func _test_raw_packets(ip: String, pairings: Array[String] = ALL_PAIRINGS) -> void:
	var expect_side := func(sender: String, first: int) -> Array[String]:
		var lines: Array[String] = []
		var n := first
		for channel in [0, 2]:
			for mode in [2, 0, 1]:
				lines.append("from %s, channel %d, mode %d: [%d, %d, %d]" % [sender, channel, mode,
						mode, channel, n])
				n += 1
		# A large unreliable packet travels as unreliable fragments, reported as ordered.
		lines.append("from %s, channel 0, mode 1: 3000 bytes" % sender)
		lines.sort()
		return lines
	await _run_differential(_scenario_raw_packets.bind(ip), {
		"S": expect_side.call("client", 0),
		"C": expect_side.call("1", 6),
	}, pairings)


func test_raw_packets_modes_and_channels() -> void:
	await _test_raw_packets("127.0.0.1")


func test_raw_packets_over_ipv6() -> void:
	var probe := PacketPeerUDP.new()
	if probe.bind(0, "::1") != OK:
		fail("IPv6 loopback (::1) is not available on this machine")
		return
	probe.close()
	var pairings: Array[String] = ALL_PAIRINGS
	if not builtin_has_ipv6():
		print("    this Godot's built-in ENet cannot bind ::1 (IPv4-only ENet): running rust/rust only")
		pairings = ["rust/rust"]
	await _test_raw_packets("::1", pairings)


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
	if not check_eq(server.peer.call(&"create_server", 0), OK, "create_server(0)"):
		return false
	server.api.multiplayer_peer = server.peer
	var port: int = server.peer.get(&"host").get_local_port()
	for c in clients:
		if not check_eq(c.peer.call(&"create_client", "127.0.0.1", port), OK, c.name + " create_client"):
			return false
		names[c.peer.get_unique_id()] = c.name
		c.api.multiplayer_peer = c.peer
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
	if not (check_eq(server.call(&"create_server", 0), OK, "create_server(0)")
			and check_eq(client.call(&"create_client", "127.0.0.1",
					server.get(&"host").get_local_port()), OK, "create_client")):
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
	for p in [server, client]:
		if p.get_connection_status() != MultiplayerPeer.CONNECTION_DISCONNECTED:
			p.close()
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


## Mesh mode: two peers (ids 10 and 20) connect a dedicated ENet host pair by hand, as the
## mesh workflow requires, add each other with add_mesh_peer, exchange RPCs, and one leaves.
## The "server" kind is peer 10, the "client" kind peer 20.
func _scenario_mesh(kind_a: String, kind_b: String) -> Dictionary:
	var names := {10: "A", 20: "B"}
	var a := _endpoint("A", kind_a, names)
	var b := _endpoint("B", kind_b, names)
	var all := [a, b]
	var result := {}
	if await _mesh_steps(a, b):
		result = _observations(all)
	await _teardown(all)
	return result


func _mesh_steps(a: Endpoint, b: Endpoint) -> bool:
	var conn_a = make_connection(a.kind)
	var conn_b = make_connection(b.kind)
	if not check_eq(conn_a.create_host_bound("127.0.0.1", 0, 1), OK, "A create_host_bound"):
		return false
	if not check_eq(conn_b.create_host(1), OK, "B create_host"):
		return false
	if not check(conn_b.connect_to_host("127.0.0.1", conn_a.get_local_port()) != null,
			"B connect_to_host"):
		return false
	var connected := {"A": false, "B": false}
	if not await _step("the host pair connects", func() -> bool:
			for pair in [["A", conn_a], ["B", conn_b]]:
				var event: Array = pair[1].service()
				if event[0] == ENetConnection.EVENT_CONNECT:
					connected[pair[0]] = true
			return connected["A"] and connected["B"]):
		return false
	check_eq(a.peer.call(&"create_mesh", 10), OK, "A create_mesh(10)")
	check_eq(b.peer.call(&"create_mesh", 20), OK, "B create_mesh(20)")
	a.api.multiplayer_peer = a.peer
	b.api.multiplayer_peer = b.peer
	check_eq(a.peer.call(&"add_mesh_peer", 20, conn_a), OK, "A add_mesh_peer(20)")
	check_eq(b.peer.call(&"add_mesh_peer", 10, conn_b), OK, "B add_mesh_peer(10)")
	a.game.hello.rpc_id(20, "mesh hello")
	b.game.hello.rpc_id(10, "mesh reply")
	b.game.tick.rpc_id(10, 5)
	if not await _step("mesh RPCs delivered", func() -> bool:
			return a.game.trace.size() >= 2 and b.game.trace.size() >= 1):
		return false
	b.peer.close()
	if not await _step("A sees B leave", func() -> bool:
			return "peer_disconnected(B)" in a.signals):
		return false
	await wait_frames(2)
	return true


func test_mesh() -> void:
	await _run_differential(_scenario_mesh, {
		"A signals": ["peer_connected(B)", "peer_disconnected(B)"],
		"B signals": ["peer_connected(A)", "server_disconnected"],
		"A rpcs": _sorted(["A: hello(mesh reply) from B", "A: tick(5) from B on channel 2"]),
		"B rpcs": _sorted(["B: hello(mesh hello) from A"]),
	})


static func _sorted(lines: Array) -> Array[String]:
	var out: Array[String] = []
	for line in lines:
		out.append(line)
	out.sort()
	return out


## Raw MultiplayerPeer targets, polled by hand: a server with three clients sends to everyone
## (0), to one client (id) and to everyone but one (-id), including fragmented reliable and
## unreliable packets on user channels 1 and 3; a client sends with targets 0, 1 and -1 (all go
## to the server, the only peer a client has) and is refused other clients' ids; the server is
## refused unknown ids. Then 40 numbered packets per channel check ordering on reliable and
## unreliable-ordered channels. Each side records what arrives, with the sender as a label.
func _scenario_raw_targets(server_kind: String, client_kind: String) -> Dictionary:
	var server := make_peer(server_kind)
	var clients: Array[MultiplayerPeer] = []
	for i in 3:
		clients.append(make_peer(client_kind))
	var all: Array[MultiplayerPeer] = [server]
	all.append_array(clients)
	var result := {}
	if await _raw_targets_steps(server, clients, result):
		pass
	for p in all:
		if p.get_connection_status() != MultiplayerPeer.CONNECTION_DISCONNECTED:
			p.close()
	return result


func _raw_targets_steps(server: MultiplayerPeer, clients: Array[MultiplayerPeer],
		result: Dictionary) -> bool:
	if not check_eq(server.call(&"create_server", 0), OK, "create_server(0)"):
		return false
	var port: int = server.get(&"host").get_local_port()
	var label := {1: "S"}
	for i in clients.size():
		if not check_eq(clients[i].call(&"create_client", "127.0.0.1", port), OK, "create_client"):
			return false
		label[clients[i].get_unique_id()] = "C%d" % (i + 1)
	var all: Array[MultiplayerPeer] = [server]
	all.append_array(clients)
	var got := {}
	var order := {}
	for n in label.values():
		got[n] = []
	var drain := func() -> void:
		for p in all:
			p.poll()
			var me: String = label[p.get_unique_id()]
			while p.get_available_packet_count() > 0:
				var from: String = label.get(p.get_packet_peer(), "?")
				var channel := p.get_packet_channel()
				var mode := p.get_packet_mode()
				var data := p.get_packet()
				if data.size() == 2 and data[0] >= 200:
					# A numbered packet of the ordering stream: [200 + channel, n].
					var key := "%s from %s, channel %d, mode %d" % [me, from, channel, mode]
					if not order.has(key):
						order[key] = []
					order[key].append(data[1])
				elif data.size() < 8:
					got[me].append("from %s, channel %d, mode %d: %s" % [from, channel, mode,
							str(Array(data))])
				else:
					got[me].append("from %s, channel %d, mode %d: %d bytes, sha256 %s" % [from,
							channel, mode, data.size(), RpcNode._sha(data)])
	# The lambda captures only the dictionary, so it makes no reference cycle with the peer.
	var joined := {}
	server.peer_connected.connect(func(id: int) -> void: joined[id] = true)
	if not await _step("raw peers connected", func() -> bool:
			drain.call()
			for c in clients:
				if c.get_connection_status() != MultiplayerPeer.CONNECTION_CONNECTED:
					return false
			return joined.size() == 3):
		return false
	var id1 := clients[0].get_unique_id()
	var id2 := clients[1].get_unique_id()
	var sends := []
	var send := func(p: MultiplayerPeer, target: int, mode: int, channel: int,
			data: PackedByteArray) -> void:
		p.set_target_peer(target)
		p.transfer_mode = mode
		p.transfer_channel = channel
		sends.append("%s to %d: %s" % [label[p.get_unique_id()],
				target if absi(target) <= 1 else signi(target) * 1000, error_string(p.put_packet(data))])
	const R := MultiplayerPeer.TRANSFER_MODE_RELIABLE
	const U := MultiplayerPeer.TRANSFER_MODE_UNRELIABLE
	const O := MultiplayerPeer.TRANSFER_MODE_UNRELIABLE_ORDERED
	send.call(server, 0, R, 0, PackedByteArray([0]))
	send.call(server, id1, R, 0, PackedByteArray([1]))
	send.call(server, -id2, R, 0, PackedByteArray([2]))
	send.call(server, 0, U, 1, PackedByteArray([3]))
	send.call(server, -id1, R, 3, _pattern(40_000, 11))
	send.call(server, -id1, U, 1, _pattern(4_000, 12))
	send.call(server, id2, O, 3, _pattern(3_000, 13))
	send.call(server, 987654, R, 0, PackedByteArray([9]))
	send.call(server, -987654, R, 0, PackedByteArray([9]))
	send.call(clients[0], 0, R, 0, PackedByteArray([10]))
	send.call(clients[0], 1, R, 0, PackedByteArray([11]))
	send.call(clients[0], -1, U, 2, PackedByteArray([12]))
	send.call(clients[0], id2, R, 0, PackedByteArray([19]))
	send.call(clients[0], -id2, R, 0, PackedByteArray([19]))
	send.call(clients[1], 1, O, 1, _pattern(5_000, 14))
	send.call(clients[2], 0, R, 2, _pattern(30_000, 15))
	result["put_packet results"] = sends
	# Ordering: interleaved numbered packets on a reliable and an unreliable-ordered channel,
	# both directions.
	for n in 40:
		for pair in [[clients[2], 1], [server, id1]]:
			send.call(pair[0], pair[1], R, 4, PackedByteArray([204, n]))
			send.call(pair[0], pair[1], O, 5, PackedByteArray([205, n]))
	var expected_counts := {"S": 5, "C1": 4, "C2": 5, "C3": 5}
	await wait_until(func() -> bool:
		drain.call()
		for side in expected_counts:
			if got[side].size() < expected_counts[side]:
				return false
		for key in order:
			if order[key].size() < 40:
				return false
		return order.size() == 4, 5.0)
	# Late duplicates or extra deliveries would show here.
	for i in 5:
		await get_tree().process_frame
		drain.call()
	for side in got:
		got[side].sort()
		result[side] = got[side]
	var keys := order.keys()
	keys.sort()
	for key in keys:
		result[key] = "%d packets, in order: %s" % [order[key].size(), order[key] == range(40)]
	return true


func test_raw_broadcast_and_exclusion_targets() -> void:
	var sha := func(size: int, seed: int) -> String: return RpcNode._sha(_pattern(size, seed))
	var sends: Array[String] = []
	for line in ["S to 0: OK", "S to 1000: OK", "S to -1000: OK", "S to 0: OK", "S to -1000: OK",
			"S to -1000: OK", "S to 1000: OK",
			"S to 1000: Invalid parameter", "S to -1000: Invalid parameter",
			"C1 to 0: OK", "C1 to 1: OK", "C1 to -1: OK",
			"C1 to 1000: Invalid parameter", "C1 to -1000: Invalid parameter",
			"C2 to 1: OK", "C3 to 0: OK"]:
		sends.append(line)
	for n in 40:
		sends.append_array(["C3 to 1: OK", "C3 to 1: OK", "S to 1000: OK", "S to 1000: OK"])
	var ordered := "40 packets, in order: true"
	await _run_differential(_scenario_raw_targets, {
		"put_packet results": sends,
		"S": _sorted([
			"from C1, channel 0, mode 2: [10]",
			"from C1, channel 0, mode 2: [11]",
			"from C1, channel 2, mode 0: [12]",
			"from C2, channel 1, mode 1: 5000 bytes, sha256 %s" % sha.call(5_000, 14),
			"from C3, channel 2, mode 2: 30000 bytes, sha256 %s" % sha.call(30_000, 15),
		]),
		"C1": _sorted(["from S, channel 0, mode 2: [0]", "from S, channel 0, mode 2: [1]",
				"from S, channel 0, mode 2: [2]", "from S, channel 1, mode 0: [3]"]),
		"C2": _sorted([
			"from S, channel 0, mode 2: [0]",
			"from S, channel 1, mode 0: [3]",
			"from S, channel 3, mode 2: 40000 bytes, sha256 %s" % sha.call(40_000, 11),
			"from S, channel 1, mode 1: 4000 bytes, sha256 %s" % sha.call(4_000, 12),
			"from S, channel 3, mode 1: 3000 bytes, sha256 %s" % sha.call(3_000, 13),
		]),
		"C3": _sorted([
			"from S, channel 0, mode 2: [0]",
			"from S, channel 0, mode 2: [2]",
			"from S, channel 1, mode 0: [3]",
			"from S, channel 3, mode 2: 40000 bytes, sha256 %s" % sha.call(40_000, 11),
			"from S, channel 1, mode 1: 4000 bytes, sha256 %s" % sha.call(4_000, 12),
		]),
		"C1 from S, channel 4, mode 2": ordered,
		"C1 from S, channel 5, mode 1": ordered,
		"S from C3, channel 4, mode 2": ordered,
		"S from C3, channel 5, mode 1": ordered,
	})


## SceneMultiplayer targets with a server and three clients: a client's rpc() to everyone is
## relayed by the server to the other clients, rpc_id(-id) excludes one peer (from a client
## and from the server), rpc_id(-1) from a client reaches only the other clients, a client's
## rpc_id to another client is relayed, and relayed RPCs keep their transfer mode and channel
## (an unreliable-ordered RPC on channel 2 and a 60 KB reliable one on channel 1, fragmented).
func _scenario_rpc_targets(server_kind: String, client_kind: String) -> Dictionary:
	var names := {1: "S"}
	var server := _endpoint("S", server_kind, names)
	var clients: Array[Endpoint] = []
	for i in 3:
		clients.append(_endpoint("C%d" % (i + 1), client_kind, names))
	var all: Array = [server]
	all.append_array(clients)
	var result := {}
	if await _rpc_targets_steps(server, clients, names):
		result = _observations(all)
	await _teardown(all)
	return result


func _rpc_targets_steps(server: Endpoint, clients: Array[Endpoint], names: Dictionary) -> bool:
	if not check_eq(server.peer.call(&"create_server", 0), OK, "create_server(0)"):
		return false
	server.api.multiplayer_peer = server.peer
	var port: int = server.peer.get(&"host").get_local_port()
	# One at a time, so that the connection signals come in a fixed order.
	for c in clients:
		if not check_eq(c.peer.call(&"create_client", "127.0.0.1", port), OK, c.name + " create_client"):
			return false
		names[c.peer.get_unique_id()] = c.name
		c.api.multiplayer_peer = c.peer
		if not await _step(c.name + " connected on both ends", func() -> bool:
				return c.peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED \
						and names.find_key(c.name) in server.api.get_peers()):
			return false
	if not await _step("clients see each other", func() -> bool:
			for c in clients:
				if c.api.get_peers().size() < clients.size():
					return false
			return true):
		return false
	var c1 := clients[0]
	var c2 := clients[1]
	var c3 := clients[2]
	var id1: int = names.find_key("C1")
	var id2: int = names.find_key("C2")
	var id3: int = names.find_key("C3")
	c1.game.hello.rpc("C1 to all")
	c1.game.hello.rpc_id(-id2, "C1 to all but C2")
	c1.game.hello.rpc_id(-1, "C1 to all but S")
	c2.game.hello.rpc_id(id3, "C2 to C3")
	c3.game.hello.rpc_id(-id1, "C3 to all but C1")
	server.game.hello.rpc_id(-id1, "S to all but C1")
	server.game.hello.rpc_id(0, "S to all")
	c3.game.tick.rpc(3)
	c2.game.blob.rpc(_pattern(60_000, 21))
	# 21 deliveries are expected; the comparison reports any difference, so no failure here.
	await wait_until(func() -> bool:
			var total := 0
			for e: Endpoint in [server, c1, c2, c3]:
				total += e.game.trace.size()
			return total >= 21, 5.0)
	# Anything extra would arrive now.
	await wait_frames(10)
	return true


func test_rpc_broadcast_exclusion_and_relay() -> void:
	var blob := "blob(60000 bytes, sha256 %s) from C2" % RpcNode._sha(_pattern(60_000, 21))
	var connected := ["connected_to_server", "peer_connected(S)"]
	await _run_differential(_scenario_rpc_targets, {
		"S signals": ["peer_connected(C1)", "peer_connected(C2)", "peer_connected(C3)"],
		"C1 signals": connected + ["peer_connected(C2)", "peer_connected(C3)"],
		"C2 signals": connected + ["peer_connected(C1)", "peer_connected(C3)"],
		"C3 signals": connected + ["peer_connected(C1)", "peer_connected(C2)"],
		"S rpcs": _sorted([
			"S: hello(C1 to all) from C1",
			"S: hello(C1 to all but C2) from C1",
			"S: hello(C3 to all but C1) from C3",
			"S: tick(3) from C3 on channel 2",
			"S: " + blob,
		]),
		"C1 rpcs": _sorted([
			"C1: hello(S to all) from S",
			"C1: tick(3) from C3 on channel 2",
			"C1: " + blob,
		]),
		"C2 rpcs": _sorted([
			"C2: hello(C1 to all) from C1",
			"C2: hello(C1 to all but S) from C1",
			"C2: hello(C3 to all but C1) from C3",
			"C2: hello(S to all but C1) from S",
			"C2: hello(S to all) from S",
			"C2: tick(3) from C3 on channel 2",
		]),
		"C3 rpcs": _sorted([
			"C3: hello(C1 to all) from C1",
			"C3: hello(C1 to all but C2) from C1",
			"C3: hello(C1 to all but S) from C1",
			"C3: hello(C2 to C3) from C2",
			"C3: hello(S to all but C1) from S",
			"C3: hello(S to all) from S",
			"C3: " + blob,
		]),
	})


## Kicks and departures at the raw MultiplayerPeer level, with three clients: the server kicks
## C1 gracefully (disconnect_peer: peer_disconnected on both ends once ENet confirms) and C2
## forcibly (disconnect_peer(id, true): gone at once, no signal on the server, C2 still learns
## of it); C3 leaves with disconnect_peer(1) (graceful, seen by the server) and C4 with
## disconnect_peer(1, true) (closes the client at once, without a signal). Each side records
## its signals (sorted) and final status, and the server its peer count right after the kicks.
func _scenario_raw_kicks(server_kind: String, client_kind: String) -> Dictionary:
	var server := make_peer(server_kind)
	var clients: Array[MultiplayerPeer] = []
	for i in 4:
		clients.append(make_peer(client_kind))
	var all: Array[MultiplayerPeer] = [server]
	all.append_array(clients)
	var result := {}
	var label := {1: "S"}
	var seen := {}
	if check_eq(server.call(&"create_server", 0), OK, "create_server(0)"):
		var port: int = server.get(&"host").get_local_port()
		for i in clients.size():
			check_eq(clients[i].call(&"create_client", "127.0.0.1", port), OK, "create_client")
			label[clients[i].get_unique_id()] = "C%d" % (i + 1)
		# The handlers capture only dictionaries: no reference cycle with the peers.
		for p in all:
			var me: String = label[p.get_unique_id()]
			seen[me] = []
			var lines: Array = seen[me]
			p.peer_connected.connect(func(id: int) -> void:
				lines.append("peer_connected(%s)" % label.get(id, "?")))
			p.peer_disconnected.connect(func(id: int) -> void:
				lines.append("peer_disconnected(%s)" % label.get(id, "?")))
		var poll_all := func() -> void:
			for p in all:
				if p.get_connection_status() != MultiplayerPeer.CONNECTION_DISCONNECTED:
					p.poll()
		if await _step("raw peers connected", func() -> bool:
				poll_all.call()
				return seen["S"].size() == 4 and seen["C1"].size() == 1 \
						and seen["C2"].size() == 1 and seen["C3"].size() == 1 \
						and seen["C4"].size() == 1):
			server.disconnect_peer(clients[0].get_unique_id())
			server.disconnect_peer(clients[1].get_unique_id(), true)
			result["S peers connected right after the kicks"] = server.get(&"host").get_peers() \
					.filter(func(p) -> bool: return p.get_state() == ENetPacketPeer.STATE_CONNECTED) \
					.size()
			clients[2].disconnect_peer(1)
			clients[3].disconnect_peer(1, true)
			result["C4 status right after its forced leave"] = clients[3].get_connection_status()
			await wait_until(func() -> bool:
				poll_all.call()
				return seen["S"].size() >= 7 and seen["C1"].size() >= 2 \
						and seen["C2"].size() >= 2 and seen["C3"].size() >= 2, 5.0)
			await wait_frames(5)
			poll_all.call()
			# Sorted: the clients connect, and the kicks complete, in a timing-dependent order.
			for side in seen:
				var lines: Array = seen[side].duplicate()
				lines.sort()
				result[side + " signals"] = lines
			# By name: a disconnected client's unique id is 0 again.
			for i in all.size():
				result[["S", "C1", "C2", "C3", "C4"][i] + " status"] = all[i].get_connection_status()
				result[["S", "C1", "C2", "C3", "C4"][i] + " id kept"] = all[i].get_unique_id() != 0
	for p in all:
		if p.get_connection_status() != MultiplayerPeer.CONNECTION_DISCONNECTED:
			p.close()
	return result


func test_raw_kicks_and_departures() -> void:
	await _run_differential(_scenario_raw_kicks, {
		"S peers connected right after the kicks": 2,
		"S signals": ["peer_connected(C1)", "peer_connected(C2)", "peer_connected(C3)",
				"peer_connected(C4)", "peer_disconnected(C1)", "peer_disconnected(C3)",
				"peer_disconnected(C4)"],
		"C1 signals": ["peer_connected(S)", "peer_disconnected(S)"],
		"C2 signals": ["peer_connected(S)", "peer_disconnected(S)"],
		"C3 signals": ["peer_connected(S)", "peer_disconnected(S)"],
		"S status": MultiplayerPeer.CONNECTION_CONNECTED,
		"C1 status": MultiplayerPeer.CONNECTION_DISCONNECTED,
		"C2 status": MultiplayerPeer.CONNECTION_DISCONNECTED,
		"C3 status": MultiplayerPeer.CONNECTION_DISCONNECTED,
		"C4 signals": ["peer_connected(S)"],
		"C4 status": MultiplayerPeer.CONNECTION_DISCONNECTED,
		"C4 status right after its forced leave": MultiplayerPeer.CONNECTION_DISCONNECTED,
	})


## Mesh targets at the raw MultiplayerPeer level: three mesh peers A (10, the "server" kind),
## B (20) and C (30, both the "client" kind), each pair joined by its own ENet host pair.
## A sends to everyone (0), to everyone but B (-20) and to C (30); B sends to everyone but A
## (-10) and but C (-30), and is refused "everyone but itself" (-20), as unknown targets are. Each peer records
## what arrives, with the sender as a label.
func _scenario_mesh_targets(kind_a: String, kind_bc: String) -> Dictionary:
	var ids := {"A": 10, "B": 20, "C": 30}
	var kinds := {"A": kind_a, "B": kind_bc, "C": kind_bc}
	var peers := {}
	for n in ids:
		peers[n] = make_peer(kinds[n])
	var result := {}
	var label := {10: "A", 20: "B", 30: "C"}
	# One connected host pair per mesh edge: conns[X][Y] is X's host for its link to Y.
	var conns := {"A": {}, "B": {}, "C": {}}
	var ok := true
	for edge in [["A", "B"], ["A", "C"], ["B", "C"]]:
		var first: RefCounted = make_connection(kinds[edge[0]])
		var second: RefCounted = make_connection(kinds[edge[1]])
		ok = ok and check_eq(first.create_host_bound("127.0.0.1", 0, 1), OK, "create_host_bound")
		ok = ok and check_eq(second.create_host(1), OK, "create_host")
		ok = ok and check(second.connect_to_host("127.0.0.1", first.get_local_port()) != null,
				"connect_to_host")
		conns[edge[0]][edge[1]] = first
		conns[edge[1]][edge[0]] = second
	if ok:
		var up := {}
		ok = await _step("the host pairs connect", func() -> bool:
				for x in conns:
					for y in conns[x]:
						var event: Array = conns[x][y].service()
						if event[0] == ENetConnection.EVENT_CONNECT:
							up[x + y] = true
				return up.size() == 6)
	if ok:
		var sends := []
		for x in ids:
			check_eq(peers[x].call(&"create_mesh", ids[x]), OK, x + " create_mesh")
			for y in conns[x]:
				check_eq(peers[x].call(&"add_mesh_peer", ids[y], conns[x][y]), OK,
						"%s add_mesh_peer(%s)" % [x, y])
		var send := func(x: String, target: int, data: int) -> void:
			var p: MultiplayerPeer = peers[x]
			p.set_target_peer(target)
			p.transfer_mode = MultiplayerPeer.TRANSFER_MODE_RELIABLE
			sends.append("%s to %d: %s" % [x, target, error_string(
					p.put_packet(PackedByteArray([data])))])
		send.call("A", 0, 1)
		send.call("A", -20, 2)
		send.call("A", 30, 3)
		send.call("B", -20, 4)
		send.call("B", -10, 5)
		send.call("B", -30, 8)
		send.call("C", 99, 6)
		send.call("C", -99, 7)
		result["put_packet results"] = sends
		var got := {"A": [], "B": [], "C": []}
		await wait_until(func() -> bool:
			for x in peers:
				var p: MultiplayerPeer = peers[x]
				p.poll()
				while p.get_available_packet_count() > 0:
					var from: String = label.get(p.get_packet_peer(), "?")
					got[x].append("from %s: %s" % [from, str(Array(p.get_packet()))])
			return got["A"].size() >= 1 and got["B"].size() >= 1 and got["C"].size() >= 4, 5.0)
		await wait_frames(5)
		for x in peers:
			peers[x].poll()
			while peers[x].get_available_packet_count() > 0:
				got[x].append("late from %s" % label.get(peers[x].get_packet_peer(), "?"))
				peers[x].get_packet()
		for x in got:
			got[x].sort()
			result[x] = got[x]
	for x in peers:
		if peers[x].get_connection_status() != MultiplayerPeer.CONNECTION_DISCONNECTED:
			peers[x].close()
	for x in conns:
		for y in conns[x]:
			conns[x][y].destroy()
	return result


func test_mesh_broadcast_and_exclusion_targets() -> void:
	await _run_differential(_scenario_mesh_targets, {
		# A mesh peer is not among its own peers: excluding itself is an invalid target.
		"put_packet results": ["A to 0: OK", "A to -20: OK", "A to 30: OK",
				"B to -20: Invalid parameter", "B to -10: OK", "B to -30: OK",
				"C to 99: Invalid parameter", "C to -99: Invalid parameter"],
		"A": _sorted(["from B: [8]"]),
		"B": _sorted(["from A: [1]"]),
		"C": _sorted(["from A: [1]", "from A: [2]", "from A: [3]", "from B: [5]"]),
	})
