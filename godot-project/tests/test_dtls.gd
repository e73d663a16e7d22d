extends "res://tests/lib/differential.gd"
## DTLS: verified and unsafe clients, and an untrusted certificate, through ENetConnection's
## dtls_*_setup. Where this Godot's built-in ENet has no DTLS only rust/rust runs here;
## test_dtls_godot.gd pairs RustENetPeer with Godot's own DTLS stack in any build.
## The harness and how pairings work: tests/lib/differential.gd.

const Certificates := preload("res://tests/lib/certificates.gd")


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
	var port := _serve(server)
	if not port or not check_eq(server.peer.get(&"host").dtls_server_setup(
			TLSOptions.server(key, cert)), OK, "dtls_server_setup"):
		return false
	if not _dial(c1, port, names):
		return false
	var client_options := TLSOptions.client_unsafe() if unsafe_client else TLSOptions.client(cert)
	if not check_eq(c1.peer.get(&"host").dtls_client_setup("localhost", client_options), OK,
			"dtls_client_setup"):
		return false
	if not await _joined(server, c1, names):
		return false
	c1.game.hello.rpc_id(1, "secret hello")
	server.game.hello.rpc_id(names.find_key("C1"), "secret reply")
	c1.game.blob.rpc_id(1, _pattern(20_000, 3))
	if not await _step("RPCs delivered", func() -> bool:
			return server.game.trace.size() >= 2 and c1.game.trace.size() >= 1):
		return false
	return true




func _test_dtls(unsafe_client: bool) -> void:
	var pairings: Array[String] = ALL_PAIRINGS
	if not builtin_has_dtls():
		print("    this Godot's built-in ENet has no DTLS (ERR_UNAVAILABLE): running rust/rust only")
		pairings = ["rust/rust"]
	var key_pair := Certificates.pair("CN=localhost,O=rust_enet,C=IT")
	var key: CryptoKey = key_pair[0]
	var cert: X509Certificate = key_pair[1]
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
	var port := _serve(server)
	if port and check_eq(server.peer.get(&"host").dtls_server_setup(TLSOptions.server(key, cert)),
			OK, "dtls_server_setup"):
		if _dial(c1, port, names) and check_eq(c1.peer.get(&"host").dtls_client_setup(
				"localhost", TLSOptions.client(other_cert)), OK, "dtls_client_setup"):
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
	var key_pair := Certificates.pair("CN=localhost,O=rust_enet,C=IT")
	var key: CryptoKey = key_pair[0]
	var cert: X509Certificate = key_pair[1]
	var other_key_pair := Certificates.pair("CN=localhost,O=other,C=IT")
	var other_key: CryptoKey = other_key_pair[0]
	var other: X509Certificate = other_key_pair[1]
	await _run_differential(_scenario_dtls_untrusted.bind(key, cert, other), {
		"S signals": [],
		"C1 signals": ["connection_failed"],
		"S rpcs": [],
		"C1 rpcs": [],
	}, pairings)
