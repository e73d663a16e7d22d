extends "res://tests/lib/differential.gd"
## Seeing the network: statistics with rates, why peers left, the RustENet/ debugger monitors,
## and diagnostics in Godot's output that a flood cannot turn into a flood of lines.
## The harness: tests/lib/differential.gd.

const Certificates := preload("res://tests/lib/certificates.gd")


## Collects what reaches Godot's error and warning output while a case runs (Godot 4.5+).
class Capture:
	extends Logger
	var _mutex := Mutex.new()
	var lines := PackedStringArray()

	func _log_error(_function: String, _file: String, _line: int, code: String,
			rationale: String, _editor_notify: bool, _error_type: int,
			_script_backtraces: Array) -> void:
		_mutex.lock()
		lines.append(code + " " + rationale)
		_mutex.unlock()

	func _log_message(_message: String, _error: bool) -> void:
		pass

	func matching(text: String) -> PackedStringArray:
		_mutex.lock()
		var out := PackedStringArray()
		for line in lines:
			if text in line:
				out.append(line)
		_mutex.unlock()
		return out


var _capture: Capture


func before_each() -> void:
	_capture = Capture.new()
	OS.add_logger(_capture)


func after_each() -> void:
	OS.remove_logger(_capture)


## Known traffic: a rust client sends 20 reliable RPCs of 200 bytes per frame for 4 s over a link
## that loses 10% of what it sends. The server's and the client's wire bytes per second match the
## link simulator's own count of the bytes it put on the wire (and each other), the client sees
## about 10% of its reliable commands lost and resends them, and the monitors show the two peers.
func test_statistics_follow_known_traffic() -> void:
	var names := {1: "S"}
	var server := _endpoint("S", "rust", names)
	var c1 := _endpoint("C1", "rust", names)
	c1.peer.call(&"set_link_simulation", {"loss_percent": 10}, RustENetConnection.LINK_OUTGOING)
	if not await _serve_and_join(server, [c1], names):
		await _teardown([server, c1])
		return
	var data := _pattern(200, 1)
	var started := Time.get_ticks_msec()
	var samples := []
	var sent := 0
	while Time.get_ticks_msec() - started < 4000:
		# One RPC per millisecond, caught up each frame: the rates compared below cover
		# different windows, which agree only while the traffic is steady in time, so it must
		# not follow the frame rate (which drops when the machine is busy).
		while sent < Time.get_ticks_msec() - started:
			c1.game.payload.rpc_id(1, data)
			sent += 1
		await get_tree().process_frame
		var elapsed := Time.get_ticks_msec() - started
		if elapsed > 1000 and samples.is_empty():
			c1.peer.call(&"get_peer", 1).get_statistics()  # starts the link's rate interval
			samples.append([Time.get_ticks_usec(), c1.peer.get(&"host").get_link_statistics(
					RustENetConnection.LINK_OUTGOING)])
		if elapsed > 2500 and samples.size() == 1:
			samples.append([Time.get_ticks_usec(), c1.peer.get(&"host").get_link_statistics(
					RustENetConnection.LINK_OUTGOING)])
			samples.append(server.peer.call(&"get_statistics"))
			samples.append(c1.peer.call(&"get_statistics"))
	var server_stats: Dictionary = samples[2]
	var client_stats: Dictionary = samples[3]
	# The simulator's own count of the bytes it put on the wire, per second over 1.5 s.
	var seconds: float = (samples[1][0] - samples[0][0]) / 1e6
	var simulated: Dictionary = samples[1][1]
	var wire_rate: float = (simulated.bytes_delivered - samples[0][1].bytes_delivered) / seconds
	var kept: float = float(simulated.datagrams_delivered) / maxf(simulated.datagrams_submitted, 1.0)
	check(kept > 0.86 and kept < 0.94, "the simulator let about 90%% through (%.3f)" % kept)
	for pair: Array in [[server_stats, "bytes_received_per_sec"], [client_stats, "bytes_sent_per_sec"]]:
		var key: String = pair[1]
		var wire_share: float = pair[0][key] / maxf(wire_rate, 1.0)
		print("    %s %.0f B/s, the simulator's wire bytes %.0f B/s (%.3f); it let %.3f through" % [
				key, pair[0][key], wire_rate, wire_share, kept])
		check(wire_share > 0.9 and wire_share < 1.1,
				"%s within 10%% of the simulator's wire bytes (%.3f)" % [key, wire_share])
	var link: Dictionary = c1.peer.call(&"get_peer", 1).get_statistics()
	# The client host talks to one peer: that peer's datagram bytes are nearly all of the host's.
	var share: float = link.bytes_sent_per_sec / maxf(client_stats.bytes_sent_per_sec, 1.0)
	check(share > 0.85 and share < 1.15, "the link's bytes/s match its host's (%.3f)" % share)
	check(link.datagrams_sent_per_sec > 50, "datagrams per second counted per link")
	print("    server in %.0f B/s, client out %.0f B/s; client loss %.1f%%, %.0f resends/s" % [
			server_stats.bytes_received_per_sec, client_stats.bytes_sent_per_sec,
			link.loss_percent, link.resends_per_sec])
	var ratio: float = server_stats.bytes_received_per_sec / maxf(client_stats.bytes_sent_per_sec, 1.0)
	check(client_stats.bytes_sent_per_sec > 100_000, "the client sent real traffic")
	check(ratio > 0.9 and ratio < 1.1, "server wire bytes in within 10%% of the client's out (%.3f)" % ratio)
	check(link.loss_percent > 6.0 and link.loss_percent < 14.0, "loss near 10%% (%.1f)" % link.loss_percent)
	check(link.resends_per_sec > 0 and link.resends > 0, "resends counted")
	check_eq(server_stats.peers, 1.0, "one peer")
	check(Performance.has_custom_monitor("RustENet/peers"), "the monitors are registered")
	check_eq(Performance.get_custom_monitor("RustENet/peers"), 2.0, "two active peers' links")
	check(Performance.get_custom_monitor("RustENet/kib_up_per_sec") > 50.0, "KiB/s up")
	await _teardown([server, c1])
	check(not Performance.has_custom_monitor("RustENet/peers"),
			"the monitors are gone with the last peer")


## Why peers left: a kicked peer on the server, the remote disconnect on its client, and a
## client the server refused (in connection_failed).
func test_disconnect_reasons() -> void:
	var names := {1: "S"}
	var server := _endpoint("S", "rust", names)
	var c1 := _endpoint("C1", "rust", names)
	var seen := {}
	# The handlers capture the peers, not the endpoints (endpoint -> api -> handler -> endpoint
	# would be a reference cycle and leak).
	var server_peer := server.peer
	var c1_peer := c1.peer
	server.api.peer_disconnected.connect(func(id: int) -> void:
		seen["server"] = server_peer.call(&"get_disconnect_reason", id))
	c1.api.server_disconnected.connect(func() -> void:
		seen["client"] = c1_peer.call(&"get_disconnect_reason", 1))
	var port := await _serve_and_join(server, [c1], names)
	if port:
		var packet_peer: Object = server.peer.call(&"get_peer", server.api.get_peers()[0])
		server.peer.call(&"disconnect_peer_now", server.api.get_peers()[0])
		await _step("the client sees it", func() -> bool: return seen.has("client"))
		check_eq(seen.get("server", {}).get("reason"), "kicked", "the server kicked it")
		check_eq(seen.get("client", {}).get("reason"), "remote", "the client was disconnected")
		check_eq(packet_peer.get_disconnect_reason().get("reason"), "kicked",
				"the packet peer keeps its reason")
	server.peer.refuse_new_connections = true
	var c2 := _endpoint("C2", "rust", names)
	var c2_peer := c2.peer
	c2.api.connection_failed.connect(func() -> void:
		seen["refused"] = c2_peer.call(&"get_disconnect_reason", 1))
	_dial(c2, port, names)
	await _step("the refused client fails", func() -> bool: return seen.has("refused"))
	check_eq(seen.get("refused", {}).get("reason"), "refused", "refused, in connection_failed")
	check("refused" in str(seen.get("refused", {}).get("message")), "a readable message")
	await _teardown([server, c1, c2])


## A DTLS client whose server's certificate names another host: the warning says why.
func test_dtls_hostname_mismatch_is_explained() -> void:
	var key_pair := Certificates.pair("CN=localhost,O=rust_enet,C=IT")
	var key: CryptoKey = key_pair[0]
	var cert: X509Certificate = key_pair[1]
	var names := {1: "S"}
	var server := _endpoint("S", "rust", names)
	var c1 := _endpoint("C1", "rust", names)
	server.peer.set(&"dtls_server_options", TLSOptions.server(key, cert))
	c1.peer.set(&"dtls_client_options", TLSOptions.client(cert))
	c1.peer.set(&"dtls_hostname", "example.com")
	var seen := {}
	var c1_peer := c1.peer
	c1.api.connection_failed.connect(func() -> void:
		seen["reason"] = c1_peer.call(&"get_disconnect_reason", 1))
	_dial(c1, _serve(server), names)
	await _step("the client fails", func() -> bool: return seen.has("reason"))
	var lines := _capture.matching("DTLS")
	print("    %s" % [lines])
	check(lines.size() >= 1, "a line about the DTLS failure")
	var text := " ".join(lines)
	check("hostname" in text.to_lower(), "the line names the hostname check: %s" % text)
	check_eq(seen.get("reason", {}).get("reason"), "dtls_failure", "the reason")
	await _teardown([server, c1])


## 10,000 malformed datagrams at a server print at most a handful of lines, and are counted
## (sent in bursts of 100 with a poll between, so the socket's buffer keeps them).
func test_a_flood_of_bad_datagrams_prints_a_few_lines() -> void:
	var server: MultiplayerPeer = ClassDB.instantiate(&"RustENetPeer")
	check_eq(server.call(&"create_server", 0), OK, "create_server")
	var port: int = server.get(&"host").get_local_port()
	var udp := PacketPeerUDP.new()
	udp.set_dest_address("127.0.0.1", port)
	var before := _capture.lines.size()
	# In bursts of 100, each given up to 100 ms to be read: on a loaded machine the receiver
	# may not run for a while, and the kernel drops what overflows the socket's buffer before
	# anyone could count it.
	for burst in 100:
		for i in 100:
			udp.put_packet(PackedByteArray([i]))
		var burst_deadline := Time.get_ticks_msec() + 100
		while Time.get_ticks_msec() < burst_deadline:
			server.poll()
			if server.call(&"get_statistics").dropped_malformed >= (burst + 1) * 100:
				break
			OS.delay_msec(1)
	var deadline := Time.get_ticks_msec() + 2500
	while Time.get_ticks_msec() < deadline:
		server.poll()
		await get_tree().process_frame
	var lines := _capture.lines.slice(before)
	print("    %d lines for 10,000 bad datagrams: %s" % [lines.size(), lines])
	check(lines.size() >= 1 and lines.size() <= 5, "a handful of lines (%d)" % lines.size())
	var stats: Dictionary = server.call(&"get_statistics")
	check(stats.dropped_malformed >= 9000, "counted (%d)" % stats.dropped_malformed)
	server.close()
