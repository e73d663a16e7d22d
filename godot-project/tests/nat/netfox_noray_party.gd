extends RefCounted
## The NAT lab's netfox.noray roles (party.gd `host-netfox`, `join-netfox`): netfox's own noray
## client, the real `addons/netfox.noray` scripts (noray.gd, packet-handshake.gd,
## protocol-handler.gd, with `addons/netfox.internals` for its logger), driven the way netfox's
## example bootstrapper (examples/shared/scripts/noray-bootstrapper.gd) drives them: connect,
## `register_host`, `register_remote`; a host listens on `Noray.local_port` and answers
## `on_connect_nat` / `on_connect_relay` with `PacketHandshake.over_enet_peer`; a joiner sends
## `connect_nat`, shakes hands with `PacketHandshake.over_packet_peer`, connects from
## `Noray.local_port`, and retries through `connect_relay` when the handshake or the connection
## fails.
##
## netfox is not part of this repository: tests/real_projects/netfox_noray.sh copies its addons
## into a temporary copy of the project, which is why everything here is loaded at run time (this
## file parses without netfox). The bootstrapper's singletons become nodes made per party, and
## `get_tree().get_multiplayer()` the party's own multiplayer branch; nothing else differs.
##
## The peers are made with `ENetMultiplayerPeer.new()`: in a copy the rust_enet migration tool
## has rewritten (netfox_noray.sh, case e) that reads `RustENetPeer.new()`, so the same roles
## then run netfox.noray on rust_enet.

const NORAY_PATH := "res://addons/netfox.noray/noray.gd"
const HANDSHAKE_PATH := "res://addons/netfox.noray/packet-handshake.gd"

var _tree: SceneTree
var noray: Node
var handshake: Node


func _init(tree: SceneTree, tag: String) -> void:
	_tree = tree
	if not ResourceLoader.exists(NORAY_PATH):
		push_error("netfox.noray is not in this project (tests/real_projects/netfox_noray.sh adds it)")
		return
	noray = load(NORAY_PATH).new()
	noray.name = "Noray_" + tag
	handshake = load(HANDSHAKE_PATH).new()
	handshake.name = "PacketHandshake_" + tag
	tree.root.add_child(noray)
	tree.root.add_child(handshake)


static func available() -> bool:
	return ResourceLoader.exists(NORAY_PATH)


func free_nodes() -> void:
	if noray != null:
		noray.disconnect_from_host()
		noray.queue_free()
	if handshake != null:
		handshake.queue_free()


## The bootstrapper's connect_to_noray(): connect, register, register the remote address.
func connect_to_noray(address: String, port: int) -> Error:
	if noray == null:
		return ERR_UNAVAILABLE
	var err: Error = await noray.connect_to_host(address, port)
	if err != OK:
		print("Failed to connect to Noray: %s" % error_string(err))
		return err
	noray.register_host()
	await noray.on_pid
	err = await noray.register_remote()
	if err != OK:
		print("Failed to register remote address: %s" % error_string(err))
		return err
	print("Registered local port: %d" % noray.local_port)
	return OK


## The bootstrapper's host() and its Role.HOST branch of _handle_connect. Returns the peer
## (already set on `mp`), or null.
func host(mp: MultiplayerAPI) -> MultiplayerPeer:
	if noray.local_port <= 0:
		return null
	var port: int = noray.local_port
	print("Starting host on port %s" % port)
	var peer = ENetMultiplayerPeer.new()
	var err: Error = peer.create_server(port)
	if err != OK:
		print("Failed to listen on port %s: %s" % [port, error_string(err)])
		return null
	mp.multiplayer_peer = peer
	print("Listening on port %s (%s)" % [port, peer.get_class()])
	while peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTING:
		await _tree.process_frame
	if peer.get_connection_status() != MultiplayerPeer.CONNECTION_CONNECTED:
		return null
	var on_connect := func(address: String, port_: int) -> void:
		var handshake_peer = mp.multiplayer_peer as ENetMultiplayerPeer
		var shaken: Error = await handshake.over_enet_peer(handshake_peer, address, port_)
		if shaken != OK:
			print("Handshake to %s:%s failed: %s" % [address, port_, error_string(shaken)])
		else:
			print("Handshake to %s:%s concluded" % [address, port_])
	noray.on_connect_nat.connect(on_connect)
	noray.on_connect_relay.connect(on_connect)
	return peer


## The bootstrapper's join() and its Role.CLIENT side: NAT first, the relay when that fails.
## Sets the peer on `mp`; returns it connected, or null. `result.path` says which way.
func join(mp: MultiplayerAPI, host_oid: String, result: Dictionary) -> MultiplayerPeer:
	var answer := {"address": "", "port": -1, "relay": false}
	noray.on_connect_nat.connect(func(address: String, port: int) -> void:
		answer.address = address
		answer.port = port)
	noray.on_connect_relay.connect(func(address: String, port: int) -> void:
		answer.address = address
		answer.port = port
		answer.relay = true)
	noray.connect_nat(host_oid)
	if not await _answered(answer, false):
		result.reason = "no connect answer from noray"
		return null
	result.path = "direct"
	var peer := await _handle_connect(mp, answer.address, answer.port)
	if peer != null:
		return peer
	print("NAT connect failed, retrying with relay")
	noray.connect_relay(host_oid)
	if not await _answered(answer, true):
		result.reason = "no connect-relay answer from noray"
		return null
	result.path = "relay"
	peer = await _handle_connect(mp, answer.address, answer.port)
	if peer == null:
		result.reason = "relay connect failed"
	return peer


func _answered(answer: Dictionary, relay: bool) -> bool:
	answer.address = ""
	var deadline := Time.get_ticks_msec() + 5000
	while answer.address.is_empty() or answer.relay != relay:
		if Time.get_ticks_msec() > deadline:
			return false
		await _tree.process_frame
	return true


func _handle_connect(mp: MultiplayerAPI, address: String, port: int) -> MultiplayerPeer:
	var udp := PacketPeerUDP.new()
	udp.bind(noray.local_port)
	udp.set_dest_address(address, port)
	print("Attempting handshake with %s:%s" % [address, port])
	var err: Error = await handshake.over_packet_peer(udp)
	udp.close()
	if err != OK:
		if err == ERR_BUSY:
			print("Handshake to %s:%s succeeded partially, attempting connection anyway" % [address, port])
		else:
			print("Handshake to %s:%s failed: %s" % [address, port, error_string(err)])
			return null
	else:
		print("Handshake to %s:%s succeeded" % [address, port])
	var peer = ENetMultiplayerPeer.new()
	err = peer.create_client(address, port, 0, 0, 0, noray.local_port)
	if err != OK:
		print("Failed to create client: %s" % error_string(err))
		return null
	mp.multiplayer_peer = peer
	while peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTING:
		await _tree.process_frame
	if peer.get_connection_status() != MultiplayerPeer.CONNECTION_CONNECTED:
		print("Failed to connect to %s:%s with status %s" % [address, port, peer.get_connection_status()])
		mp.multiplayer_peer = null
		return null
	return peer
