extends "res://tests/lib/differential.gd"
## DTLS: verified and unsafe clients, and an untrusted certificate, through ENetConnection's
## dtls_*_setup. Where this Godot's built-in ENet has no DTLS only rust/rust runs here;
## test_dtls_godot.gd pairs RustENetPeer with Godot's own DTLS stack in any build.
## The harness and how pairings work: tests/lib/differential.gd.

const Certificates := preload("res://tests/lib/certificates.gd")


## One client and a server speaking DTLS (a self-signed certificate for "localhost" that the
## client trusts explicitly, or any certificate with `unsafe_client`): connect, reliable RPCs
## both ways and a 20 KB fragmented payload.
func _scenario_dtls(server: Endpoint, c1: Endpoint, names: Dictionary, key: CryptoKey,
		cert: X509Certificate, unsafe_client: bool) -> Dictionary:
	var client_options := TLSOptions.client_unsafe() if unsafe_client else TLSOptions.client(cert)
	if not _dial_dtls(server, c1, names, TLSOptions.server(key, cert), client_options) \
			or not await _joined(server, c1, names):
		return {}
	c1.game.hello.rpc_id(1, "secret hello")
	server.game.hello.rpc_id(names.find_key("C1"), "secret reply")
	c1.game.blob.rpc_id(1, _pattern(20_000, 3))
	if not await _step("RPCs delivered", func() -> bool:
			return server.game.trace.size() >= 2 and c1.game.trace.size() >= 1):
		return {}
	return _observations([server, c1])


## `_serve` with DTLS on the server's host (`server_options`), then `_dial` with DTLS on C1's
## (towards "localhost", `client_options`). Does not wait; returns false after a failure.
func _dial_dtls(server: Endpoint, c1: Endpoint, names: Dictionary, server_options: TLSOptions,
		client_options: TLSOptions) -> bool:
	var port := _serve(server)
	return port > 0 and check_eq(server.peer.get(&"host").dtls_server_setup(server_options), OK,
			"dtls_server_setup") \
			and _dial(c1, port, names) and check_eq(c1.peer.get(&"host").dtls_client_setup(
					"localhost", client_options), OK, "dtls_client_setup")


## The pairings this Godot can run DTLS in.
static func _dtls_pairings() -> Array[String]:
	return _all_or_rust_only(builtin_has_dtls(), "has no DTLS (ERR_UNAVAILABLE)")


func _test_dtls(unsafe_client: bool) -> void:
	var pairings := _dtls_pairings()
	var key_pair := Certificates.pair("CN=localhost,O=rust_enet,C=IT")
	var key: CryptoKey = key_pair[0]
	var cert: X509Certificate = key_pair[1]
	await _run_differential(_with_endpoints(1, _scenario_dtls.bind(key, cert, unsafe_client)), {
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
func _scenario_dtls_untrusted(server: Endpoint, c1: Endpoint, names: Dictionary, key: CryptoKey,
		cert: X509Certificate, other_cert: X509Certificate) -> Dictionary:
	if not _dial_dtls(server, c1, names, TLSOptions.server(key, cert),
			TLSOptions.client(other_cert)):
		return {}
	return await _observe_when("C1 gives up", func() -> bool:
			return "connection_failed" in c1.signals, [server, c1])


func test_dtls_untrusted_certificate_fails() -> void:
	var pairings := _dtls_pairings()
	var key_pair := Certificates.pair("CN=localhost,O=rust_enet,C=IT")
	var key: CryptoKey = key_pair[0]
	var cert: X509Certificate = key_pair[1]
	var other: X509Certificate = Certificates.pair("CN=localhost,O=other,C=IT")[1]
	await _run_differential(_with_endpoints(1, _scenario_dtls_untrusted.bind(key, cert, other)), {
		"S signals": [],
		"C1 signals": ["connection_failed"],
		"S rpcs": [],
		"C1 rpcs": [],
	}, pairings)
