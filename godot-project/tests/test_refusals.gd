extends "res://tests/lib/differential.gd"
## Refused connections fail fast. A RustENetPeer server decides Godot's admission rules
## (refusing new connections, full, a client id that is invalid or already connected) when the
## CONNECT arrives and answers it with a DISCONNECT, which Godot's built-in client and ours take
## as a failed connection within a round trip. Godot's own server completes the handshake and
## then drops the client without a word (godot#28740): its client reports
## `connected_to_server` and times out later, as test_sessions' test_refused_connection
## shows. So these scenarios run with rust servers only, with either client; the full server
## runs with Godot's servers too, which drop the extra CONNECT without a word.

const RUST_SERVERS: Array[String] = ["rust/builtin", "rust/rust"]
## Far below ENet's connect timeout (5 s at least); a round trip on loopback is about 1 ms.
const FAST_MSEC := 1000


## Waits for the client's `connection_failed`; returns how long it took (-1 on timeout).
func _failure_time(client: Endpoint, started: int) -> int:
	if not await _step(client.name + " fails", func() -> bool:
			return "connection_failed" in client.signals):
		return -1
	return Time.get_ticks_msec() - started


func _scenario_refusing(server: Endpoint, c1: Endpoint, names: Dictionary) -> Dictionary:
	var port := _serve(server)
	server.api.refuse_new_connections = true
	var started := Time.get_ticks_msec()
	if not _dial(c1, port, names):
		return {}
	var took := await _failure_time(c1, started)
	if took < 0:
		return {}
	var result := _observations([server, c1])
	result["C1 failed fast"] = took < FAST_MSEC
	result["C1 status"] = c1.peer.get_connection_status()
	return result


func test_refusing_server_fails_clients_at_once() -> void:
	await _run_differential(_with_endpoints(1, _scenario_refusing), {
		"S signals": [],
		"C1 signals": ["connection_failed"],
		"S rpcs": [],
		"C1 rpcs": [],
		"C1 failed fast": true,
		"C1 status": MultiplayerPeer.CONNECTION_DISCONNECTED,
	}, RUST_SERVERS)


## A full server (max_clients 1) and a second client. A RustENetPeer server answers the extra
## CONNECT with a DISCONNECT, so the client fails within a round trip; Godot's server (C ENet:
## no free peer) drops it silently, so the client gives up after its timeout, shortened here to
## `set_timeout(2, 1500, 3000)`, which cannot end a connection attempt before 1.5 s
## (`timeout_min`): the two outcomes cannot be confused. Either way the first client stays
## connected and the server reports only it.
func _scenario_full(server: Endpoint, c1: Endpoint, c2: Endpoint,
		names: Dictionary) -> Dictionary:
	var port := await _serve_and_join(server, [c1], names, 1)
	var started := Time.get_ticks_msec()
	if not _dial(c2, port, names):
		return {}
	c2.peer.call(&"get_peer", 1).set_timeout(2, 1500, 3000)
	var took := await _failure_time(c2, started)
	if took < 0:
		return {}
	var result := _observations([server, c1, c2])
	result["C2 fails"] = "at once" if took < FAST_MSEC else "after its timeout"
	result["C1 still connected"] = c1.peer.get_connection_status()
	return result


func test_full_server_refuses_the_extra_client() -> void:
	var expected := {
		"S signals": ["peer_connected(C1)"],
		"C1 signals": ["connected_to_server", "peer_connected(S)"],
		"C2 signals": ["connection_failed"],
		"S rpcs": [],
		"C1 rpcs": [],
		"C2 rpcs": [],
		"C1 still connected": MultiplayerPeer.CONNECTION_CONNECTED,
	}
	# Two references, one per server kind: the time to fail is the one intended difference.
	var scenario := _with_endpoints(2, _scenario_full)
	await _run_differential(scenario, expected.merged({"C2 fails": "after its timeout"}),
			["builtin/builtin", "builtin/rust"])
	await _run_differential(scenario, expected.merged({"C2 fails": "at once"}), RUST_SERVERS)


## A raw connection of the client's kind sends CONNECTs with hand-picked Godot ids: the id of a
## connected client, and the invalid ids 0 and 1. Each must end in a disconnect event at once,
## never a connect event, while the real client stays connected.
func _scenario_bad_ids(server: Endpoint, c1: Endpoint, names: Dictionary) -> Dictionary:
	var port := await _serve_and_join(server, [c1], names)
	if not port:
		return {}
	var outcomes := {}
	for label: String in ["C1's id", "id 0", "id 1"]:
		var id: int = {"C1's id": c1.peer.get_unique_id(), "id 0": 0, "id 1": 1}[label]
		outcomes[label] = await _raw_connect(c1.kind, port, id)
	var result := _observations([server, c1])
	result["raw connects"] = outcomes
	result["C1 still connected"] = c1.peer.get_connection_status()
	return result


## Connects a raw ENetConnection / RustENetConnection with `id` as the CONNECT data and returns
## "disconnect fast", "disconnect slow", "connect" or "nothing".
func _raw_connect(kind: String, port: int, id: int) -> String:
	var conn: RefCounted = make_connection(kind)
	if not check_eq(conn.call(&"create_host", 1), OK, "raw create_host"):
		return "nothing"
	var peer: Object = conn.call(&"connect_to_host", "127.0.0.1", port, 0, id)
	check(peer != null, "raw connect_to_host")
	var started := Time.get_ticks_msec()
	var outcome := "nothing"
	while Time.get_ticks_msec() - started < 3000:
		var event: Array = conn.call(&"service", 0)
		if event[0] == ENetConnection.EVENT_DISCONNECT:
			outcome = "disconnect fast" if Time.get_ticks_msec() - started < FAST_MSEC else "disconnect slow"
			break
		if event[0] == ENetConnection.EVENT_CONNECT:
			outcome = "connect"
			break
		await get_tree().process_frame
	conn.call(&"destroy")
	return outcome


func test_invalid_and_duplicate_ids_fail_at_once() -> void:
	await _run_differential(_with_endpoints(1, _scenario_bad_ids), {
		"S signals": ["peer_connected(C1)"],
		"C1 signals": ["connected_to_server", "peer_connected(S)"],
		"raw connects": {"C1's id": "disconnect fast", "id 0": "disconnect fast",
				"id 1": "disconnect fast"},
		"C1 still connected": MultiplayerPeer.CONNECTION_CONNECTED,
	}, RUST_SERVERS)
