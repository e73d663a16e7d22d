extends "res://tests/lib/differential.gd"
## DTLS against Godot's own DTLS stack: RustENetPeer's DTLS (dtls_server_options,
## dtls_client_options, dtls_hostname) with built-in peers that speak DTLS the way official
## Godot builds do. This Godot's built-in ENet may have no DTLS (Debian's has none), so the
## built-in end is a plain `ENetMultiplayerPeer` behind `tests/lib/dtls_proxy.gd`, which
## rebuilds official Godot's ENet DTLS socket with Godot's `DTLSServer` / `PacketPeerDTLS`
## (mbedTLS): one DTLS record per ENet datagram, each record alone in a UDP datagram.
##
## Pairings: "builtin" is the built-in peer behind its proxy, "rust" a RustENetPeer speaking
## DTLS itself; builtin/builtin shows the proxies (and the scenario) work, the other pairings
## put mbedTLS on one end and OpenSSL on the other. Every pairing must observe the same.
## The harness and how pairings work: tests/lib/differential.gd.

const Certificates := preload("res://tests/lib/certificates.gd")
const DtlsProxy := preload("res://tests/lib/dtls_proxy.gd")
const HOSTNAME := "localhost"
const WRONG_HOSTNAME := "example.com"
## Payload sizes: below and around the point where ENet fragments a packet (about 1.35 KB of
## payload with SceneMultiplayer's header, at the default MTU of 1392), and well above it.
const SIZES: Array[int] = [1, 100, 1000, 1300, 1360, 1400, 3000, 20000]

var _key: CryptoKey
var _cert: X509Certificate


func before_each() -> void:
	var pair := Certificates.pair("CN=%s,O=rust_enet,C=IT" % HOSTNAME)
	if check(not pair.is_empty(), "a certificate RustENetConnection can load"):
		_key = pair[0]
		_cert = pair[1]


## Opens `server` to DTLS clients: a RustENetPeer with `dtls_server_options`, or a built-in
## peer on loopback behind a `DtlsProxy.Server`. Returns the port clients dial, or 0.
func _open_server(server: Endpoint) -> int:
	var options := TLSOptions.server(_key, _cert)
	if server.kind == "rust":
		server.peer.set(&"dtls_server_options", options)
		return _serve(server)
	server.peer.call(&"set_bind_ip", "127.0.0.1")
	var enet_port := _serve(server)
	if not enet_port:
		return 0
	var proxy := DtlsProxy.Server.new()
	proxy.name = "DtlsServerProxy"
	server.root.add_child(proxy)
	if not check_eq(proxy.start(options, enet_port), OK, "S's DTLS proxy listens"):
		return 0
	return proxy.port


## Starts client `c` towards a DTLS server on `port`, trusting the test certificate and
## expecting it to name `hostname`: a RustENetPeer with `dtls_client_options` and
## `dtls_hostname`, or a built-in peer whose datagrams go through a `DtlsProxy.Client`.
func _dial_dtls(c: Endpoint, port: int, names: Dictionary, hostname := HOSTNAME) -> bool:
	if c.kind == "rust":
		c.peer.set(&"dtls_client_options", TLSOptions.client(_cert))
		c.peer.set(&"dtls_hostname", hostname)
		return _dial(c, port, names)
	var proxy := DtlsProxy.Client.new()
	proxy.name = "DtlsClientProxy"
	c.root.add_child(proxy)
	if not check_eq(proxy.start(port, hostname, TLSOptions.client(_cert), c.peer), OK,
			c.name + "'s DTLS proxy binds"):
		return false
	return _dial(c, proxy.port, names)


## Ends the proxies' DTLS sessions first (each sends its close_notify while the other end's
## socket is still open; sent to a closed port it would fail with an error in the log), then the
## endpoints.
func _close(endpoints: Array) -> void:
	for e: Endpoint in endpoints:
		var proxy := _proxy(e)
		if proxy != null:
			proxy.stop()
	await _teardown(endpoints)


func _proxy(e: Endpoint) -> Node:
	return e.root.get_node_or_null(^"DtlsServerProxy" if e.name == "S" else ^"DtlsClientProxy")


## The built-in ends' proxies did carry the traffic (a rust end needs none).
func _check_proxies(endpoints: Array) -> void:
	for e: Endpoint in endpoints:
		if e.kind != "builtin":
			continue
		var proxy := _proxy(e)
		if check(proxy != null, e.name + " has its proxy"):
			check(proxy.records_in > 0 and proxy.records_out > 0,
					"%s's proxy relayed records both ways (%d in, %d out)" % [e.name,
					proxy.records_in, proxy.records_out])


## Handshake and connection: C1 joins over DTLS and an RPC goes each way.
func _scenario_connect(server: Endpoint, c1: Endpoint, names: Dictionary) -> Dictionary:
	if not _dial_dtls(c1, _open_server(server), names) or not await _joined(server, c1, names):
		return {}
	if not await _hellos_both_ways(server, c1, names, "over DTLS", "back over DTLS"):
		return {}
	await wait_frames(2)
	_check_proxies([server, c1])
	if server.kind == "builtin":
		check_eq(_proxy(server).handshakes, 1, "one DTLS handshake at S's proxy")
	return _observations([server, c1])


func test_handshake_and_connect() -> void:
	await _run_differential(_with_endpoints(1, _scenario_connect, _close), {
		"S signals": ["peer_connected(C1)"],
		"C1 signals": ["connected_to_server", "peer_connected(S)"],
		"S rpcs": ["S: hello(over DTLS) from C1"],
		"C1 rpcs": ["C1: hello(back over DTLS) from S"],
	})


## Every size in SIZES, reliable and unreliable, from C1 to S and from S to C1, all sent in one
## frame: the fragmented ones (3000 and 20000 bytes, 3 and 15 ENet fragments) travel as
## several records, each one datagram.
func _scenario_sizes(server: Endpoint, c1: Endpoint, names: Dictionary) -> Dictionary:
	if not _dial_dtls(c1, _open_server(server), names) or not await _joined(server, c1, names):
		return {}
	var id1: int = names.find_key("C1")
	for size in SIZES:
		c1.game.blob.rpc_id(1, _pattern(size, 1))
		c1.game.unreliable_blob.rpc_id(1, _pattern(size, 2))
		server.game.blob.rpc_id(id1, _pattern(size, 3))
		server.game.unreliable_blob.rpc_id(id1, _pattern(size, 4))
	var each := 2 * SIZES.size()
	# The comparison names whatever is missing; no failure of its own here.
	await wait_until(func() -> bool:
			return server.game.trace.size() >= each and c1.game.trace.size() >= each, 10.0)
	await wait_frames(5)
	_check_proxies([server, c1])
	return _observations([server, c1])


func test_data_of_every_size_both_ways() -> void:
	var lines := func(side: String, from: String, seeds: Array) -> Array[String]:
		var out: Array[String] = []
		for size in SIZES:
			for rpc: String in ["blob", "unreliable_blob"]:
				var data := _pattern(size, seeds[0] if rpc == "blob" else seeds[1])
				out.append("%s: %s(%d bytes, sha256 %s) from %s" % [side, rpc, size,
						RpcNode._sha(data), from])
		out.sort()
		return out
	await _run_differential(_with_endpoints(1, _scenario_sizes, _close), {
		"S signals": ["peer_connected(C1)"],
		"C1 signals": ["connected_to_server", "peer_connected(S)"],
		"S rpcs": lines.call("S", "C1", [1, 2]),
		"C1 rpcs": lines.call("C1", "S", [3, 4]),
	})


## Disconnects over DTLS, seen by both ends: C1 leaves on its own (close), then S kicks C2
## (SceneMultiplayer.disconnect_peer, a graceful ENet disconnect). Two DTLS sessions at once
## on one server. Each departure must be seen within a second: a disconnect lost on the way
## would also end in peer_disconnected, but only after ENet's timeout (5 s at least).
func _scenario_disconnects(server: Endpoint, c1: Endpoint, c2: Endpoint,
		names: Dictionary) -> Dictionary:
	var port := _open_server(server)
	if not (_dial_dtls(c1, port, names) and await _joined(server, c1, names)
			and _dial_dtls(c2, port, names) and await _joined(server, c2, names)
			and await _step("the clients see each other", func() -> bool:
					return c1.api.get_peers().size() == 2 and c2.api.get_peers().size() == 2)):
		return {}
	var started := Time.get_ticks_msec()
	c1.peer.close()
	if not await _step("S and C2 see C1 leave", func() -> bool:
			return "peer_disconnected(C1)" in server.signals \
					and "peer_disconnected(C1)" in c2.signals):
		return {}
	var left_after := Time.get_ticks_msec() - started
	started = Time.get_ticks_msec()
	server.api.disconnect_peer(names.find_key("C2"))
	if not await _step("C2 sees the kick", func() -> bool:
			return "server_disconnected" in c2.signals):
		return {}
	var kicked_after := Time.get_ticks_msec() - started
	print("    %s/%s: C1's leave seen after %d ms, C2's kick after %d ms" % [
			server.kind, c1.kind, left_after, kicked_after])
	await wait_frames(5)
	var result := _observations([server, c1, c2])
	result["S peers"] = server.api.get_peers().size()
	result["C1's leave seen within 1 s"] = left_after < 1000
	result["C2's kick seen within 1 s"] = kicked_after < 1000
	return result


func test_disconnects_seen_by_both_ends() -> void:
	await _run_differential(_with_endpoints(2, _scenario_disconnects, _close), {
		# SceneMultiplayer.disconnect_peer does not report the kicked peer on the server.
		"S signals": ["peer_connected(C1)", "peer_connected(C2)", "peer_disconnected(C1)"],
		# SceneMultiplayer reports the client's own close() as server_disconnected.
		"C1 signals": ["connected_to_server", "peer_connected(S)", "peer_connected(C2)",
				"server_disconnected"],
		"C2 signals": ["connected_to_server", "peer_connected(S)", "peer_connected(C1)",
				"peer_disconnected(C1)", "peer_disconnected(S)", "server_disconnected"],
		"S rpcs": [],
		"C1 rpcs": [],
		"C2 rpcs": [],
		"S peers": 0,
		"C1's leave seen within 1 s": true,
		"C2's kick seen within 1 s": true,
	})


## A client that expects the server's certificate to name another host: Godot's client
## (mbedTLS, behind its proxy) and ours (OpenSSL, `dtls_hostname`) both refuse the handshake,
## the client reports connection_failed and the server never sees a peer.
func _scenario_wrong_hostname(server: Endpoint, c1: Endpoint, names: Dictionary) -> Dictionary:
	if not _dial_dtls(c1, _open_server(server), names, WRONG_HOSTNAME) \
			or not await _step("C1 gives up", func() -> bool:
					return "connection_failed" in c1.signals):
		return {}
	# Anything late (a peer on the server) would show now.
	await get_tree().create_timer(0.5).timeout
	var result := _observations([server, c1])
	result["C1 status"] = c1.peer.get_connection_status()
	if c1.kind == "builtin":
		var failure: String = _proxy(c1).failure
		print("    %s/%s: C1's proxy: %s" % [server.kind, c1.kind, failure])
		check(not failure.is_empty(), "C1 failed because its DTLS session did")
	if server.kind == "builtin":
		check_eq(_proxy(server).handshakes, 0, "no DTLS session completed at S's proxy")
	return result


func test_hostname_mismatch_is_refused_by_the_client() -> void:
	await _run_differential(_with_endpoints(1, _scenario_wrong_hostname, _close), {
		"S signals": [],
		"C1 signals": ["connection_failed"],
		"S rpcs": [],
		"C1 rpcs": [],
		"C1 status": MultiplayerPeer.CONNECTION_DISCONNECTED,
	})
