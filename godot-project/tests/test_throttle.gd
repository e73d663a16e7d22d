extends "res://tests/lib/differential.gd"
## A server's unreliable broadcasts keep arriving when its round trips rise a little above the
## handshake's (real-projects issue, point 3). ENet's packet throttle compares each round-trip
## sample with the lowest smoothed round trip of the previous 5 s epoch plus twice its variance;
## in the first epoch that is the handshake's own sample, a millisecond or two with a variance of
## 1, so any later sample a few milliseconds longer (a busy frame, frame-locked acknowledgements,
## a little queueing) takes the throttle down by 2 of 32 each time, and a server sending
## reliable traffic every frame reaches 0 in a fraction of a second: every unreliable packet is
## then dropped at the sender for the rest of the epoch (seen as `state_fraction` collapsing in
## benchmark scenario 6, and as late joiners whose state never arrives). Here the server's link
## adds 3 ms during the handshake and 30 ms afterwards (the simulator, so the samples are known),
## and every frame it broadcasts one unreliable and one reliable RPC to three clients.

const FRAMES := 180


func _scenario_rising_rtt(server: Endpoint, c1: Endpoint, c2: Endpoint, c3: Endpoint,
		names: Dictionary) -> Dictionary:
	var clients: Array[Endpoint] = [c1, c2, c3]
	server.peer.call(&"set_link_simulation", {"latency_ms": 3}, RustENetConnection.LINK_OUTGOING)
	var port := _serve(server)
	if not port:
		return {}
	for c in clients:
		_dial(c, port, names)
	if not await _step("all connected", func() -> bool: return server.api.get_peers().size() == 3):
		return {}
	server.peer.call(&"set_link_simulation", {"latency_ms": 30}, RustENetConnection.LINK_OUTGOING)
	for n in FRAMES:
		server.game.datagram.rpc(n)
		server.game.numbered.rpc(n)
		await get_tree().process_frame
	await _step("the reliable RPCs arrive", func() -> bool:
			return clients.all(func(c: Endpoint) -> bool:
					return c.game.reliable_numbers.size() >= FRAMES))
	await wait_frames(10)
	var received := 0
	for c in clients:
		received += c.game.trace.size()
	var fraction := float(received) / (3 * FRAMES)
	print("    %s/%s: %.2f of the unreliable broadcasts arrived" % [server.kind, c1.kind,
			fraction])
	var throttles := []
	for id in server.api.get_peers():
		throttles.append(int(server.peer.call(&"get_peer", id).get_statistic(
				ENetPacketPeer.PEER_PACKET_THROTTLE)))
	print("    server throttles at the end: %s" % [throttles])
	return {
		"unreliable broadcasts mostly arrive": fraction >= 0.9,
		"throttles stay open": throttles.all(func(t: int) -> bool: return t >= 28),
	}


func test_unreliable_broadcasts_survive_rising_round_trips() -> void:
	print("    builtin servers skipped: the latency comes from RustENetPeer's simulator")
	await _run_differential(_with_endpoints(3, _scenario_rising_rtt), {
		"unreliable broadcasts mostly arrive": true,
		"throttles stay open": true,
	}, ["rust/builtin", "rust/rust"])
