extends "res://tests/lib/differential.gd"
## Targets: raw and RPC broadcasts, exclusions and relay, kicks and departures.
## The harness and how pairings work: tests/lib/differential.gd.


## Raw MultiplayerPeer targets, polled by hand: a server with three clients sends to everyone
## (0), to one client (id) and to everyone but one (-id), including fragmented reliable and
## unreliable packets on user channels 1 and 3; a client sends with targets 0, 1 and -1 (all go
## to the server, the only peer a client has) and is refused other clients' ids; the server is
## refused unknown ids. Then 40 numbered packets per channel check ordering on reliable and
## unreliable-ordered channels. Each side records what arrives, with the sender as a label.
func _scenario_raw_targets(server: MultiplayerPeer,
		clients: Array[MultiplayerPeer]) -> Dictionary:
	if not _create_raw(server, clients):
		return {}
	var label := {1: "S"}
	for i in clients.size():
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
		return {}
	var id1 := clients[0].get_unique_id()
	var id2 := clients[1].get_unique_id()
	var result := {}
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
	return result


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
	# What S sends to everyone (0) and to everyone but C1 (-C1's id).
	var to_c2_and_c3 := [
		"from S, channel 0, mode 2: [0]",
		"from S, channel 1, mode 0: [3]",
		"from S, channel 3, mode 2: 40000 bytes, sha256 %s" % sha.call(40_000, 11),
		"from S, channel 1, mode 1: 4000 bytes, sha256 %s" % sha.call(4_000, 12),
	]
	var ordered := "40 packets, in order: true"
	await _run_differential(_with_raw_peers(3, _scenario_raw_targets), {
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
		"C2": _sorted(to_c2_and_c3 + [
			"from S, channel 3, mode 1: 3000 bytes, sha256 %s" % sha.call(3_000, 13),
		]),
		"C3": _sorted(to_c2_and_c3 + ["from S, channel 0, mode 2: [2]"]),
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
func _scenario_rpc_targets(server: Endpoint, c1: Endpoint, c2: Endpoint, c3: Endpoint,
		names: Dictionary) -> Dictionary:
	var clients: Array[Endpoint] = [c1, c2, c3]
	# One at a time, so that the connection signals come in a fixed order.
	if not await _serve_and_join(server, clients, names):
		return {}
	if not await _step("clients see each other", func() -> bool:
			for c in clients:
				if c.api.get_peers().size() < clients.size():
					return false
			return true):
		return {}
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
	return _observations([server, c1, c2, c3])


func test_rpc_broadcast_exclusion_and_relay() -> void:
	var blob := "blob(60000 bytes, sha256 %s) from C2" % RpcNode._sha(_pattern(60_000, 21))
	var connected := ["connected_to_server", "peer_connected(S)"]
	await _run_differential(_with_endpoints(3, _scenario_rpc_targets), {
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
func _scenario_raw_kicks(server: MultiplayerPeer, clients: Array[MultiplayerPeer]) -> Dictionary:
	if not _create_raw(server, clients):
		return {}
	var all: Array[MultiplayerPeer] = [server]
	all.append_array(clients)
	var label := {1: "S"}
	for i in clients.size():
		label[clients[i].get_unique_id()] = "C%d" % (i + 1)
	# The handlers capture only dictionaries: no reference cycle with the peers.
	var seen := {}
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
	if not await _step("raw peers connected", func() -> bool:
			poll_all.call()
			return seen["S"].size() == 4 and seen["C1"].size() == 1 \
					and seen["C2"].size() == 1 and seen["C3"].size() == 1 \
					and seen["C4"].size() == 1):
		return {}
	var result := {}
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
	return result


func test_raw_kicks_and_departures() -> void:
	await _run_differential(_with_raw_peers(4, _scenario_raw_kicks), {
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
