extends "res://tests/lib/suite.gd"
## RustENetConnection against Godot's own ENetConnection, below the MultiplayerPeer layer:
## every compression mode in both directions with payloads that compress well and payloads that
## do not, and DTLS between two RustENetConnections (Debian's Godot has no ENet DTLS): data of
## every kind, plaintext clients kept out, garbage datagrams ignored.

const Certificates := preload("res://tests/lib/certificates.gd")

const CHANNELS := 3
const MODES := {
	"range coder": ENetConnection.COMPRESS_RANGE_CODER,
	"fastlz": ENetConnection.COMPRESS_FASTLZ,
	"zlib": ENetConnection.COMPRESS_ZLIB,
	"zstd": ENetConnection.COMPRESS_ZSTD,
}


func before_each() -> void:
	case_timeout_sec = 60.0


static func _new_connection(kind: String) -> RefCounted:
	return ENetConnection.new() if kind == "builtin" else ClassDB.instantiate(&"RustENetConnection")


## Services `connections` once each; returns the events as [connection index, type, peer,
## channel, packet bytes or null].
static func _service(connections: Array) -> Array:
	var events := []
	for i in connections.size():
		while true:
			var ev: Array = connections[i].service(0)
			if ev[0] == ENetConnection.EVENT_NONE:
				break
			var data: Variant = null
			if ev[0] == ENetConnection.EVENT_RECEIVE:
				data = ev[1].get_packet()
			events.append([i, ev[0], ev[1], ev[3], data])
			if ev[0] == ENetConnection.EVENT_ERROR:
				break
	return events


static func _random_bytes(size: int, seed_value: int) -> PackedByteArray:
	var rng := RandomNumberGenerator.new()
	rng.seed = seed_value
	var out := PackedByteArray()
	out.resize(size)
	for i in size:
		out[i] = rng.randi() & 0xFF
	return out


## A server and a client connection connected to each other, both compressing with `mode`
## (none when negative), or [] after recording a failure.
func _connected_pair(server: RefCounted, client: RefCounted, mode: int = -1) -> Array:
	if not check_eq(server.create_host_bound("127.0.0.1", 0, 4, CHANNELS), OK, "server bind"):
		return []
	if not check_eq(client.create_host(1, CHANNELS), OK, "client host"):
		return []
	if mode >= 0:
		server.compress(mode)
		client.compress(mode)
	var to_server: Variant = client.connect_to_host("127.0.0.1", server.get_local_port(), CHANNELS)
	if not check(to_server != null, "connect_to_host returned a peer"):
		return []
	var to_client: Array = [null]
	var client_connected := [false]
	var ok := await wait_until(func() -> bool:
		for ev: Array in _service([server, client]):
			if ev[1] == ENetConnection.EVENT_CONNECT:
				if ev[0] == 0:
					to_client[0] = ev[2]
				else:
					client_connected[0] = true
		return to_client[0] != null and client_connected[0], 10.0)
	if not check(ok, "handshake completes on both ends"):
		return []
	return [to_server, to_client[0]]


## Sends `packets` ([channel, bytes, flags]) from `sender` and waits until `receiver_index`
## received them all; returns the received [channel, bytes] list in arrival order.
func _deliver(connections: Array, sender: Object, receiver_index: int, packets: Array) -> Array:
	for p: Array in packets:
		check_eq(sender.send(p[0], p[1], p[2]), OK, "send on channel %d" % p[0])
	var got := []
	await wait_until(func() -> bool:
		for ev: Array in _service(connections):
			if ev[0] == receiver_index and ev[1] == ENetConnection.EVENT_RECEIVE:
				got.append([ev[3], ev[4]])
		return got.size() >= packets.size(), 10.0)
	return got


static func _sorted_payloads(list: Array) -> Array:
	var out := list.map(func(p: Array) -> String: return "%d:%s" % [p[0], p[1].hex_encode()])
	out.sort()
	return out


## One round of traffic each way for a compression mode and a pairing of implementations.
func _compression_round(mode_name: String, server_kind: String, client_kind: String) -> void:
	var label := "%s %s server / %s client" % [mode_name, server_kind, client_kind]
	var server := _new_connection(server_kind)
	var client := _new_connection(client_kind)
	var peers := await _connected_pair(server, client, MODES[mode_name])
	if peers.is_empty():
		fail(label + ": no connection")
		return
	var text := "position 12.5 7.25 velocity 0 0 hp 100 ".repeat(60).to_utf8_buffer()
	var noise := _random_bytes(1000, 7)
	var small_noise := _random_bytes(48, 11)
	var packets := [
		[0, text, ENetPacketPeer.FLAG_RELIABLE],
		[1, noise, ENetPacketPeer.FLAG_RELIABLE],
		[2, small_noise, ENetPacketPeer.FLAG_RELIABLE],
		[2, text.slice(0, 200), ENetPacketPeer.FLAG_UNSEQUENCED],
	]
	var expected := _sorted_payloads(packets.map(func(p: Array) -> Array: return [p[0], p[1]]))
	var upstream := await _deliver([server, client], peers[0], 0, packets)
	check_eq(_sorted_payloads(upstream), expected, label + ": client to server")
	var downstream := await _deliver([server, client], peers[1], 1, packets)
	check_eq(_sorted_payloads(downstream), expected, label + ": server to client")
	peers[0].peer_disconnect_now()
	server.destroy()
	client.destroy()


func test_compression_modes_interoperate_with_godots_connection() -> void:
	for mode_name: String in MODES:
		for pairing: Array in [["builtin", "rust"], ["rust", "builtin"], ["rust", "rust"]]:
			await _compression_round(mode_name, pairing[0], pairing[1])


func test_compressed_traffic_is_smaller_on_the_wire() -> void:
	# The same compressible payload costs fewer sent bytes with compression than without.
	var sent := {}
	for mode_name: String in ["none", "zlib"]:
		var server := _new_connection("rust")
		var client := _new_connection("rust")
		var mode: int = MODES.get(mode_name, ENetConnection.COMPRESS_NONE)
		var peers := await _connected_pair(server, client, mode)
		if peers.is_empty():
			return
		client.pop_statistic(ENetConnection.HOST_TOTAL_SENT_DATA)
		var text := "all work and no play makes jack a dull boy. ".repeat(20).to_utf8_buffer()
		await _deliver([server, client], peers[0], 0, [[0, text, ENetPacketPeer.FLAG_RELIABLE]])
		sent[mode_name] = client.pop_statistic(ENetConnection.HOST_TOTAL_SENT_DATA)
		server.destroy()
		client.destroy()
	check(sent["zlib"] > 0 and sent["zlib"] < sent["none"] / 2,
			"zlib sends under half the bytes of plain for repetitive text: %s" % [sent])


# --- DTLS (RustENetConnection on both ends) ----------------------------------------------------

static func _self_signed() -> Array:
	var key_pair := Certificates.pair("CN=localhost,O=rust_enet,C=US")
	var key: CryptoKey = key_pair[0]
	var cert: X509Certificate = key_pair[1]
	return [key, cert]


## A DTLS server (and, unless `client_kind` is "none", a client of that kind connecting to it).
func _dtls_server() -> RefCounted:
	var pair := _self_signed()
	var server := _new_connection("rust")
	check_eq(server.create_host_bound("127.0.0.1", 0, 4, CHANNELS), OK, "server bind")
	check_eq(server.dtls_server_setup(TLSOptions.server(pair[0], pair[1])), OK,
			"dtls_server_setup")
	server.set_meta(&"cert", pair[1])
	return server


func _dtls_client(server: RefCounted) -> Array:
	var client := _new_connection("rust")
	check_eq(client.create_host(1, CHANNELS), OK, "client host")
	check_eq(client.dtls_client_setup("localhost", TLSOptions.client(server.get_meta(&"cert"))),
			OK, "dtls_client_setup")
	var to_server: Variant = client.connect_to_host("127.0.0.1", server.get_local_port(), CHANNELS)
	var state := {"to_client": null, "client": false}
	var ok := await wait_until(func() -> bool:
		for ev: Array in _service([server, client]):
			if ev[1] == ENetConnection.EVENT_CONNECT:
				if ev[0] == 0:
					state["to_client"] = ev[2]
				else:
					state["client"] = true
		return state["to_client"] != null and state["client"], 15.0)
	check(ok, "DTLS handshake and ENet connect complete")
	return [client, to_server, state["to_client"]]


func test_dtls_carries_reliable_unreliable_and_unsequenced_data() -> void:
	var server := _dtls_server()
	var c := await _dtls_client(server)
	if c[2] == null:
		return
	var packets := [
		[0, "reliable over DTLS".to_utf8_buffer(), ENetPacketPeer.FLAG_RELIABLE],
		[1, _random_bytes(3000, 3), ENetPacketPeer.FLAG_RELIABLE],
		[1, "unreliable over DTLS".to_utf8_buffer(), 0],
		[2, "unsequenced over DTLS".to_utf8_buffer(), ENetPacketPeer.FLAG_UNSEQUENCED],
	]
	var expected := _sorted_payloads(packets.map(func(p: Array) -> Array: return [p[0], p[1]]))
	var up := await _deliver([server, c[0]], c[1], 0, packets)
	check_eq(_sorted_payloads(up), expected, "client to server over DTLS")
	var down := await _deliver([server, c[0]], c[2], 1, packets)
	check_eq(_sorted_payloads(down), expected, "server to client over DTLS")
	c[0].destroy()
	server.destroy()


func test_plaintext_clients_cannot_connect_to_a_dtls_server() -> void:
	var server := _dtls_server()
	var clients := []
	for kind in ["builtin", "rust"]:
		var client := _new_connection(kind)
		check_eq(client.create_host(1, CHANNELS), OK, kind + " client host")
		client.connect_to_host("127.0.0.1", server.get_local_port(), CHANNELS)
		clients.append(client)
	var connects := []
	var deadline := Time.get_ticks_msec() + 3000
	while Time.get_ticks_msec() < deadline:
		for ev: Array in _service([server] + clients):
			if ev[1] == ENetConnection.EVENT_CONNECT:
				connects.append(ev[0])
		await get_tree().process_frame
	check_eq(connects, [], "no side reports a connection")
	for client: RefCounted in clients:
		client.destroy()
	server.destroy()


func test_garbage_datagrams_to_a_dtls_server_change_nothing() -> void:
	var server := _dtls_server()
	var c := await _dtls_client(server)
	if c[2] == null:
		return
	var senders := []
	for i in 8:
		var udp := PacketPeerUDP.new()
		udp.set_dest_address("127.0.0.1", server.get_local_port())
		senders.append(udp)
	for i in 400:
		var garbage := _random_bytes(1 + (i * 37) % 1400, 1000 + i)
		if i % 5 == 0:
			garbage[0] = 0x16  # looks like a DTLS handshake record
		senders[i % senders.size()].put_packet(garbage)
		if i % 50 == 0:
			_service([server, c[0]])
			await get_tree().process_frame
	var still := await _deliver([server, c[0]], c[1], 0,
			[[0, "still here".to_utf8_buffer(), ENetPacketPeer.FLAG_RELIABLE]])
	check_eq(_sorted_payloads(still), _sorted_payloads([[0, "still here".to_utf8_buffer()]]),
			"the DTLS client's data still arrives")
	var connected: Array = server.get_peers().filter(func(p: Object) -> bool:
		return p.get_state() == ENetPacketPeer.STATE_CONNECTED)
	check_eq(connected.size(), 1, "the server still has exactly one connected peer")
	for udp: PacketPeerUDP in senders:
		udp.close()
	c[0].destroy()
	server.destroy()
