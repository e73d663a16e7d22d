extends "res://tests/lib/differential.gd"
## Mesh mode: two peers by hand, and broadcast and exclusion targets among three.
## The harness and how pairings work: tests/lib/differential.gd.


## Mesh mode: two peers (ids 10 and 20) connect a dedicated ENet host pair by hand, as the
## mesh workflow requires, add each other with add_mesh_peer, exchange RPCs, and one leaves.
## The "server" kind is peer 10, the "client" kind peer 20.
func _scenario_mesh(kind_a: String, kind_b: String) -> Dictionary:
	var names := {10: "A", 20: "B"}
	var a := _endpoint("A", kind_a, names)
	var b := _endpoint("B", kind_b, names)
	var result := await _mesh_steps(a, b)
	await _teardown([a, b])
	return result


func _mesh_steps(a: Endpoint, b: Endpoint) -> Dictionary:
	var conn_a = make_connection(a.kind)
	var conn_b = make_connection(b.kind)
	if not check_eq(conn_a.create_host_bound("127.0.0.1", 0, 1), OK, "A create_host_bound"):
		return {}
	if not check_eq(conn_b.create_host(1), OK, "B create_host"):
		return {}
	if not check(conn_b.connect_to_host("127.0.0.1", conn_a.get_local_port()) != null,
			"B connect_to_host"):
		return {}
	var connected := {"A": false, "B": false}
	if not await _step("the host pair connects", func() -> bool:
			for pair in [["A", conn_a], ["B", conn_b]]:
				var event: Array = pair[1].service()
				if event[0] == ENetConnection.EVENT_CONNECT:
					connected[pair[0]] = true
			return connected["A"] and connected["B"]):
		return {}
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
		return {}
	b.peer.close()
	return await _observe_when("A sees B leave", func() -> bool:
			return "peer_disconnected(B)" in a.signals, [a, b])


func test_mesh() -> void:
	await _run_differential(_scenario_mesh, {
		"A signals": ["peer_connected(B)", "peer_disconnected(B)"],
		"B signals": ["peer_connected(A)", "server_disconnected"],
		"A rpcs": _sorted(["A: hello(mesh reply) from B", "A: tick(5) from B on channel 2"]),
		"B rpcs": _sorted(["B: hello(mesh hello) from A"]),
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
