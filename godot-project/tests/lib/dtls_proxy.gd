extends RefCounted
## Godot's ENet DTLS, rebuilt in front of a plain built-in ENet peer, for the Godot builds whose
## own ENet has none (Debian's links the system ENet; `differential.gd`'s `builtin_has_dtls`).
##
## Official Godot builds put DTLS between an ENet host and its UDP socket: the socket is
## replaced by `ENetDTLSServer` / `ENetDTLSClient` (modules/enet/enet_godot.cpp), which use
## Godot's `DTLSServer`, `UDPServer` and `PacketPeerDTLS` (mbedTLS). Every datagram ENet sends
## is the plaintext of exactly one DTLS record, sent alone in one UDP datagram, and every record
## received is one ENet datagram; there is no other header. These proxies do the same with the
## same classes, one UDP hop away: the plain ENet peer talks to the proxy on loopback, and only
## the proxy's side of the link is encrypted. What the other end sees is what an official
## build sends:
##
## * `Server`: a `UDPServer` takes clients, `DTLSServer.take_connection` answers each with the
##   HelloVerifyRequest cookie exchange and a handshake (a client's first hello only gets the
##   cookie: that session ends at once, its second hello opens the real one), and each session
##   relays records to and from a plain built-in ENet server through a loopback socket of its
##   own, so the ENet server sees one address per DTLS client.
## * `Client`: a plain built-in ENet client sends to the proxy; its first datagram starts the
##   handshake (`PacketPeerDTLS.connect_to_peer` with the trusted certificate and the host name
##   to verify) and is dropped, as are all sent before the handshake completes (Godot's
##   `ENetDTLSClient::sendto` returns ERR_BUSY, which ENet takes as sent: its retransmissions
##   get through later). When the session fails or ends (a refused certificate, a host name
##   mismatch, the server's close_notify) the proxy closes the built-in peer, as the socket
##   error closes an official build's `ENetMultiplayerPeer` (SceneMultiplayer then reports
##   `connection_failed`, or `server_disconnected` once connected).
##
## Both are nodes that relay on every process frame; add them to the tree.

## Bytes each proxy socket may hold between two frames (PacketPeerUDP's default is 64 KiB).
const SOCKET_BUFFER := 1 << 20


## A DTLS server in front of a plain built-in ENet server listening on `enet_port`.
class Server:
	extends Node
	## The port DTLS clients connect to (after `start`).
	var port := 0
	## DTLS sessions that completed their handshake.
	var handshakes := 0
	## Records relayed each way.
	var records_in := 0
	var records_out := 0
	var _udp := UDPServer.new()
	var _dtls := DTLSServer.new()
	var _enet_port := 0
	# Each: [PacketPeerDTLS with a client, PacketPeerUDP to the ENet server, connected once].
	var _sessions: Array = []

	func start(options: TLSOptions, enet_port: int) -> Error:
		var err := _dtls.setup(options)
		if err != OK:
			return err
		err = _udp.listen(0, "127.0.0.1")
		if err != OK:
			return err
		port = _udp.get_local_port()
		_enet_port = enet_port
		return OK

	func _process(_delta: float) -> void:
		relay()

	func relay() -> void:
		if not _udp.is_listening():
			return
		_udp.poll()
		while _udp.is_connection_available():
			var session := _dtls.take_connection(_udp.take_connection())
			if session.get_status() != PacketPeerDTLS.STATUS_HANDSHAKING:
				continue  # the cookie exchange (or a datagram that is no ClientHello)
			var backend := PacketPeerUDP.new()
			backend.bind(0, "127.0.0.1", SOCKET_BUFFER)
			backend.connect_to_host("127.0.0.1", _enet_port)
			_sessions.append([session, backend, false])
		for s: Array in _sessions.duplicate():
			var session: PacketPeerDTLS = s[0]
			var backend: PacketPeerUDP = s[1]
			session.poll()
			var status := session.get_status()
			if status == PacketPeerDTLS.STATUS_HANDSHAKING:
				continue
			if status != PacketPeerDTLS.STATUS_CONNECTED:
				backend.close()
				_sessions.erase(s)
				continue
			if not s[2]:
				s[2] = true
				handshakes += 1
			# Client to server: one record, one datagram. `poll` reads the next record.
			while session.get_status() == PacketPeerDTLS.STATUS_CONNECTED \
					and session.get_available_packet_count() > 0:
				var datagram := session.get_packet()
				if not datagram.is_empty():
					backend.put_packet(datagram)
					records_in += 1
				session.poll()
			# Server to client: one datagram, one record.
			while backend.get_available_packet_count() > 0:
				var datagram := backend.get_packet()
				if session.get_status() == PacketPeerDTLS.STATUS_CONNECTED:
					session.put_packet(datagram)
					records_out += 1

	func stop() -> void:
		for s: Array in _sessions:
			s[0].disconnect_from_peer()
			s[1].close()
		_sessions.clear()
		_udp.stop()

	func _exit_tree() -> void:
		stop()


## A DTLS client for a plain built-in ENet client: the ENet client connects to `port` on
## loopback; the proxy speaks DTLS to the server at `server_port`.
class Client:
	extends Node
	## The port the built-in ENet client must connect to (after `start`).
	var port := 0
	## Why the session ended, or "" while it has not.
	var failure := ""
	## Records relayed each way.
	var records_out := 0
	var records_in := 0
	var _front := PacketPeerUDP.new()
	var _back := PacketPeerUDP.new()
	var _session := PacketPeerDTLS.new()
	var _started := false
	var _server_port := 0
	var _hostname := ""
	var _options: TLSOptions
	var _peer: MultiplayerPeer
	var _enet_address := ""
	var _enet_port := 0

	## `peer` is the built-in client this proxy stands for: closed when the session fails.
	func start(server_port: int, hostname: String, options: TLSOptions,
			peer: MultiplayerPeer) -> Error:
		var err := _front.bind(0, "127.0.0.1", SOCKET_BUFFER)
		if err != OK:
			return err
		port = _front.get_local_port()
		_server_port = server_port
		_hostname = hostname
		_options = options
		_peer = peer
		return OK

	func _process(_delta: float) -> void:
		relay()

	func relay() -> void:
		if not failure.is_empty() or not _front.is_bound():
			return
		if _started:
			_session.poll()
			if _session.get_status() == PacketPeerDTLS.STATUS_CONNECTED:
				# Server to client: one record, one datagram.
				while _session.get_status() == PacketPeerDTLS.STATUS_CONNECTED \
						and _session.get_available_packet_count() > 0:
					var datagram := _session.get_packet()
					if not datagram.is_empty():
						_front.set_dest_address(_enet_address, _enet_port)
						_front.put_packet(datagram)
						records_in += 1
					_session.poll()
		# Client to server: one datagram, one record; nothing before the handshake completes.
		while _front.get_available_packet_count() > 0:
			var datagram := _front.get_packet()
			_enet_address = _front.get_packet_ip()
			_enet_port = _front.get_packet_port()
			if not _started:
				_started = true
				_back.bind(0, "127.0.0.1", SOCKET_BUFFER)
				_back.connect_to_host("127.0.0.1", _server_port)
				if _session.connect_to_peer(_back, _hostname, _options) != OK:
					break
			elif _session.get_status() == PacketPeerDTLS.STATUS_CONNECTED:
				_session.put_packet(datagram)
				records_out += 1
		var status := _session.get_status()
		if _started and status != PacketPeerDTLS.STATUS_HANDSHAKING \
				and status != PacketPeerDTLS.STATUS_CONNECTED:
			failure = "DTLS session ended (PacketPeerDTLS status %d)" % status
			if _peer.get_connection_status() != MultiplayerPeer.CONNECTION_DISCONNECTED:
				_peer.close()

	func stop() -> void:
		_session.disconnect_from_peer()
		_back.close()
		_front.close()

	func _exit_tree() -> void:
		stop()
