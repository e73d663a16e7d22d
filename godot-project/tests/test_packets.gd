extends "res://tests/lib/differential.gd"
## Packet peers and raw packets: the packet peer API, a lossy link, throughput, every transfer mode and channel over IPv4 and IPv6.
## The harness and how pairings work: tests/lib/differential.gd.


## What RustENetPacketPeer/ENetPacketPeer report about a live connection, on both ends.
func _scenario_packet_peer(server: Endpoint, c1: Endpoint, names: Dictionary) -> Dictionary:
	var port := _serve(server)
	if not _dial(c1, port, names, "127.0.0.1", 3) or not await _joined(server, c1, names):
		return {}
	var id: int = c1.peer.get_unique_id()
	# Wait for a measured round trip time. C ENet's client has one within a round trip (its
	# lastReceiveTime is still 0 after the handshake, so it pings at once); the Rust core's
	# client measures it with the first regular ping, up to 500 ms later.
	await get_tree().create_timer(1.0).timeout
	var result := {}
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
	return result


func test_packet_peer_api() -> void:
	var connected := [true, ENetPacketPeer.STATE_CONNECTED, 5, "127.0.0.1", true, true, 5000.0]
	await _run_differential(_with_endpoints(1, _scenario_packet_peer), {
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
func _scenario_lossy(server: Endpoint, c1: Endpoint, names: Dictionary) -> Dictionary:
	if not await _serve_and_join(server, [c1], names):
		return {}
	var id: int = c1.peer.get_unique_id()
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
	if not await _numbered_arrived(server, c1, 200, 30.0):
		return {}
	var ordered: Array[int] = server.game.ordered_numbers
	var increasing := ordered.size() > 0
	for i in range(1, ordered.size()):
		increasing = increasing and ordered[i] > ordered[i - 1]
	return {
		"S reliable in order": server.game.reliable_numbers == range(200),
		"C1 reliable in order": c1.game.reliable_numbers == range(200),
		"S unreliable-ordered never out of order": increasing,
	}


func test_reliable_order_survives_lossy_link() -> void:
	print("    builtin/builtin skipped: the link simulator is part of RustENetConnection")
	await _run_differential(_with_endpoints(1, _scenario_lossy), {
		"S reliable in order": true,
		"C1 reliable in order": true,
		"S unreliable-ordered never out of order": true,
	}, ["builtin/rust", "rust/builtin", "rust/rust"])


## Not a benchmark, a sanity check with numbers: 3000 reliable 200-byte RPCs from a client to
## the server, sent 300 per frame; prints how long each pairing takes.
func _scenario_throughput(server: Endpoint, c1: Endpoint, names: Dictionary) -> Dictionary:
	if not await _serve_and_join(server, [c1], names):
		return {}
	var data := _pattern(200, 9)
	var started := Time.get_ticks_usec()
	for n in 3000:
		c1.game.payload.rpc_id(1, data)
		if n % 300 == 299:
			await get_tree().process_frame
	await wait_until(func() -> bool: return server.game.payload_count >= 3000, 20.0)
	var usec := Time.get_ticks_usec() - started
	print("    %s/%s: 3000 reliable RPCs delivered in %.1f ms" % [server.kind, c1.kind,
			usec / 1000.0])
	return {"S received": server.game.payload_count}


func test_throughput_report() -> void:
	await _run_differential(_with_endpoints(1, _scenario_throughput), {"S received": 3000})


## MultiplayerPeer used directly (no SceneMultiplayer), polled by hand: packets in every
## transfer mode on user channels 0 and 2, one unreliable packet above the MTU, in both
## directions. The receiver records what get_packet_peer/channel/mode report for each.
func _scenario_raw_packets(server: MultiplayerPeer, clients: Array[MultiplayerPeer],
		ip: String) -> Dictionary:
	var client := clients[0]
	server.call(&"set_bind_ip", ip)
	if not _create_raw(server, clients, ip):
		return {}
	var connected := {}
	server.peer_connected.connect(func(id: int) -> void: connected["S"] = id)
	client.peer_connected.connect(func(id: int) -> void: connected["C"] = id)
	if not await _step("raw peers connected", func() -> bool:
			server.poll()
			client.poll()
			return connected.size() == 2):
		return {}
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
	return got


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
	await _run_differential(_with_raw_peers(1, _scenario_raw_packets.bind(ip)), {
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
	await _test_raw_packets("::1",
			_all_or_rust_only(builtin_has_ipv6(), "cannot bind ::1 (IPv4-only ENet)"))
