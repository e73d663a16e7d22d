extends "res://tests/lib/differential.gd"
## Every compression mode of ENetConnection.compress on both ends.
## The harness and how pairings work: tests/lib/differential.gd.


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
