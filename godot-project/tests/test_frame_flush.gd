extends "res://tests/lib/suite.gd"
## RustENetPeer sends once per frame: the acknowledgements of what `poll` received leave at the
## end of the frame together with the packets the game sent in answer, one datagram per peer
## (Godot's peer acknowledges inside `poll` and sends every `put_packet` at once).
## `immediate_flush = true` restores that: acknowledgements leave in `poll`, packets at once.
## Datagrams are counted with the hosts' `pop_statistic`; pings are slowed down on both ends so
## only the traffic under test is counted. The first tests turn the service thread off, where
## acknowledgements wait for the frame's end; with the thread on (the default, the last tests) a
## frame's packets still leave together at its end, in as many datagrams as without the thread,
## and the thread acknowledges what arrived within about a millisecond, without the frame.

const SENT := 1  # RustENetConnection.HOST_TOTAL_SENT_PACKETS
const RECEIVED := 3  # RustENetConnection.HOST_TOTAL_RECEIVED_PACKETS


class Pair:
	extends RefCounted
	var server: MultiplayerPeer
	var client: MultiplayerPeer
	var client_id := 0

	# A bound method, not a lambda capturing the pair (that would be a reference cycle).
	func _on_peer_connected(id: int) -> void:
		client_id = id


func _connect_pair(immediate: bool, thread := false) -> Pair:
	var pair := Pair.new()
	pair.server = ClassDB.instantiate(&"RustENetPeer")
	pair.client = ClassDB.instantiate(&"RustENetPeer")
	pair.server.set(&"immediate_flush", immediate)
	pair.server.set(&"use_service_thread", thread)
	pair.client.set(&"use_service_thread", thread)
	pair.server.call(&"set_bind_ip", "127.0.0.1")
	check_eq(pair.server.call(&"create_server", 0), OK, "create_server")
	var port: int = pair.server.get(&"host").get_local_port()
	check_eq(pair.client.call(&"create_client", "127.0.0.1", port), OK, "create_client")
	pair.server.peer_connected.connect(pair._on_peer_connected)
	var connected := await wait_until(func() -> bool:
		pair.server.poll()
		pair.client.poll()
		return pair.client_id != 0 \
				and pair.client.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED)
	check(connected, "the client connected")
	if connected:
		pair.client.call(&"get_peer", 1).ping_interval(60000)
		pair.server.call(&"get_peer", pair.client_id).ping_interval(60000)
		# Let the connection's own acknowledgements and pings settle.
		for i in 10:
			pair.server.poll()
			pair.client.poll()
			await get_tree().process_frame
	return pair


func _close(pair: Pair) -> void:
	pair.client.close()
	pair.server.close()


## The client sends three reliable packets (one datagram, at the end of this frame); then the
## server polls every frame until they arrive. Returns the datagrams the server sent during the
## poll that received them, or -1 if they never came.
func _receive_three(pair: Pair) -> int:
	pair.client.transfer_mode = MultiplayerPeer.TRANSFER_MODE_RELIABLE
	pair.client.set_target_peer(1)
	for i in 3:
		check_eq(pair.client.put_packet(PackedByteArray([i])), OK, "client put_packet %d" % i)
	var host: Object = pair.server.get(&"host")
	var deadline := Time.get_ticks_msec() + 5000
	while Time.get_ticks_msec() < deadline:
		await get_tree().process_frame
		host.pop_statistic(SENT)
		pair.server.poll()
		if pair.server.get_available_packet_count() > 0:
			check_eq(pair.server.get_available_packet_count(), 3, "packets received in one poll")
			return int(host.pop_statistic(SENT))
	fail("the client's packets never arrived")
	return -1


## The server answers the client with one reliable packet. Returns the datagrams the server
## sent in `put_packet` and then at the end of the frame.
func _answer(pair: Pair) -> Array:
	var host: Object = pair.server.get(&"host")
	pair.server.transfer_mode = MultiplayerPeer.TRANSFER_MODE_RELIABLE
	pair.server.set_target_peer(pair.client_id)
	check_eq(pair.server.put_packet(PackedByteArray([7])), OK, "server put_packet")
	var in_put_packet: float = host.pop_statistic(SENT)
	await get_tree().process_frame
	return [in_put_packet, host.pop_statistic(SENT)]


func test_acknowledgements_ride_with_the_frames_answers() -> void:
	var pair: Pair = await _connect_pair(false)
	check_eq(await _receive_three(pair), 0, "datagrams sent by the poll that received")
	check_eq(await _answer(pair), [0.0, 1.0], "datagrams sent by put_packet, at the frame's end")
	var answered := await wait_until(func() -> bool:
		pair.client.poll()
		return pair.client.get_available_packet_count() > 0)
	check(answered, "the answer arrived")
	if answered:
		check_eq(pair.client.get_packet(), PackedByteArray([7]), "the answer")
	_close(pair)


func test_acknowledgements_leave_at_frame_end_without_answers() -> void:
	var pair: Pair = await _connect_pair(false)
	check_eq(await _receive_three(pair), 0, "datagrams sent by the poll that received")
	var host: Object = pair.server.get(&"host")
	await get_tree().process_frame
	check_eq(host.pop_statistic(SENT), 1.0, "datagrams sent at the end of the frame")
	# Acknowledged: the client has nothing left to resend, so it stays quiet.
	var client_host: Object = pair.client.get(&"host")
	client_host.pop_statistic(SENT)
	for i in 20:
		pair.server.poll()
		pair.client.poll()
		await get_tree().process_frame
	check_eq(client_host.pop_statistic(SENT), 0.0, "client datagrams after the acknowledgement")
	_close(pair)


func test_immediate_flush_acknowledges_in_poll() -> void:
	var pair: Pair = await _connect_pair(true)
	check_eq(await _receive_three(pair), 1, "datagrams sent by the poll that received")
	check_eq(await _answer(pair), [1.0, 0.0], "datagrams sent by put_packet, at the frame's end")
	_close(pair)


## The server sends `count` reliable packets in one frame, 3 ms apart (a frame's work goes on
## between them, long enough for a service thread to pass); the client's poll receives them.
## Returns the datagrams the server sent in `put_packet`, at the frame's end, and the datagrams
## the client received for them (-1s if they never came), then the server's resends meanwhile.
func _send_frame(pair: Pair, count: int) -> Array:
	var server_host: Object = pair.server.get(&"host")
	var client_host: Object = pair.client.get(&"host")
	var to_client: Object = pair.server.call(&"get_peer", pair.client_id)
	# Nothing of an earlier round in flight, whose resends would be counted in this one.
	check(await wait_until(func() -> bool:
		pair.server.poll()
		pair.client.poll()
		return to_client.get_statistics().get("reliable_in_flight", -1.0) == 0.0),
		"the server's earlier packets were acknowledged")
	var resends_before: float = to_client.get_statistics().get("resends", 0.0)
	server_host.pop_statistic(SENT)
	client_host.pop_statistic(RECEIVED)
	pair.server.transfer_mode = MultiplayerPeer.TRANSFER_MODE_RELIABLE
	pair.server.set_target_peer(pair.client_id)
	for i in count:
		check_eq(pair.server.put_packet(PackedByteArray([i])), OK, "server put_packet %d" % i)
		OS.delay_msec(3)
	var in_put_packet: float = server_host.pop_statistic(SENT)
	await get_tree().process_frame
	var at_frame_end: float = server_host.pop_statistic(SENT)
	var deadline := Time.get_ticks_msec() + 5000
	while Time.get_ticks_msec() < deadline:
		pair.client.poll()
		if pair.client.get_available_packet_count() >= count:
			check_eq(pair.client.get_available_packet_count(), count, "packets in one poll")
			var received: float = client_host.pop_statistic(RECEIVED)
			for i in count:
				pair.client.get_packet()
			var resends: float = to_client.get_statistics().get("resends", 0.0) - resends_before
			return [in_put_packet, at_frame_end, received, resends]
		await get_tree().process_frame
	fail("the server's packets never arrived")
	return [-1.0, -1.0, -1.0, 0.0]


func test_a_frames_packets_leave_together_with_and_without_the_thread() -> void:
	var seen := {}
	for thread in [false, true]:
		var pair: Pair = await _connect_pair(false, thread)
		# A resend means the server's retransmission timer (a few ms on loopback) ran out before
		# the acknowledgement came back: the machine starved a thread of CPU. The resent datagram
		# would be counted as received; such a round says nothing about the frame, so it is
		# sent again, a few times at most.
		for attempt in 5:
			var round: Array = await _send_frame(pair, 5)
			seen[thread] = round.slice(0, 3)
			if round[3] == 0.0:
				break
			print("    thread %s: the server resent %d packets (a starved thread); again" \
					% ["on" if thread else "off", int(round[3])])
		_close(pair)
	# Five packets, one datagram, at the frame's end, never from put_packet: the same both ways.
	check_eq(seen[false], [0.0, 1.0, 1.0], "thread off: datagrams in put_packet, at frame end, received")
	check_eq(seen[true], seen[false], "thread on: the same datagrams as with the thread off")


func test_with_the_thread_acknowledgements_leave_without_the_frame() -> void:
	var pair: Pair = await _connect_pair(false, true)
	pair.client.transfer_mode = MultiplayerPeer.TRANSFER_MODE_RELIABLE
	pair.client.set_target_peer(1)
	for i in 3:
		check_eq(pair.client.put_packet(PackedByteArray([i])), OK, "client put_packet %d" % i)
	pair.client.call(&"_flush_queued_sends")
	# The server's game does not poll: its thread acknowledges on its own, within about a
	# millisecond (the client sees nothing left in flight).
	var to_server: Object = pair.client.call(&"get_peer", 1)
	var start := Time.get_ticks_usec()
	var acknowledged := false
	while Time.get_ticks_usec() - start < 2_000_000:
		pair.client.poll()
		if int(to_server.get_statistics().get("reliable_in_flight", -1)) == 0:
			acknowledged = true
			break
		OS.delay_usec(200)
	check(acknowledged, "acknowledged while the server's game did not poll")
	if acknowledged:
		var elapsed_ms := (Time.get_ticks_usec() - start) / 1000.0
		print("    acknowledged %.1f ms after the client's flush" % elapsed_ms)
		check(elapsed_ms < 100.0, "acknowledged within 100 ms (%.1f ms)" % elapsed_ms)
	_close(pair)
