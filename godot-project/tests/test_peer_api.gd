extends "res://tests/lib/suite.gd"
## RustENetPeer's script API returns what ENetMultiplayerPeer returns: each case performs the
## same calls on both and compares the results (and, for the built-in peer, the expectations).
## Calls that fail on purpose print Godot errors; that is expected.

const Differential := preload("res://tests/lib/differential.gd")


## Runs `steps` (a Callable taking a fresh peer and returning a result list) on both peers.
func _compare(steps: Callable, expected: Array) -> void:
	var results := {}
	for kind in ["builtin", "rust"]:
		var peer: MultiplayerPeer = Differential.make_peer(kind)
		results[kind] = steps.call(peer)
		if peer.get_connection_status() != MultiplayerPeer.CONNECTION_DISCONNECTED:
			peer.close()
	check_eq(results["builtin"], expected, "ENetMultiplayerPeer results")
	check_eq(results["rust"], results["builtin"], "RustENetPeer results vs ENetMultiplayerPeer")


func test_inactive_peer() -> void:
	_compare(func(p: MultiplayerPeer) -> Array:
		return [p.get_connection_status(), p.get_unique_id(),
				p.is_server_relay_supported(), p.get_available_packet_count(),
				p.put_packet(PackedByteArray([1]))],
		[MultiplayerPeer.CONNECTION_DISCONNECTED, 0, false, 0, ERR_UNCONFIGURED])


func test_server_state_and_errors() -> void:
	_compare(func(p: MultiplayerPeer) -> Array:
		var out := []
		out.append(p.call(&"create_server", 0, 0))  # max_clients 0
		out.append(p.call(&"create_server", 0, 4096))
		out.append(p.call(&"create_server", 70000))
		out.append(p.call(&"create_server", 0))
		out.append(p.call(&"create_server", 0))  # already active
		out.append(p.call(&"create_client", "127.0.0.1", 1234))
		out.append(p.call(&"create_mesh", 5))
		out.append(p.get_connection_status())
		out.append(p.get_unique_id())
		out.append(p.is_server_relay_supported())
		out.append(p.get(&"host") != null)
		out.append(p.get(&"host").get_local_port() > 0)
		p.close()
		out.append(p.get_connection_status())
		out.append(p.get_unique_id())
		return out,
		[ERR_INVALID_PARAMETER, ERR_INVALID_PARAMETER, ERR_INVALID_PARAMETER, OK,
		ERR_ALREADY_IN_USE, ERR_ALREADY_IN_USE, ERR_ALREADY_IN_USE,
		MultiplayerPeer.CONNECTION_CONNECTED, 1, true, true, true,
		MultiplayerPeer.CONNECTION_DISCONNECTED, 0])


func test_port_in_use_cannot_be_bound() -> void:
	var holder := ENetMultiplayerPeer.new()
	check_eq(holder.create_server(0), OK, "holder create_server(0)")
	var port := holder.host.get_local_port()
	_compare(func(p: MultiplayerPeer) -> Array:
		p.call(&"set_bind_ip", "127.0.0.1")
		return [p.call(&"create_server", port), p.get_connection_status()],
		[ERR_CANT_CREATE, MultiplayerPeer.CONNECTION_DISCONNECTED])
	holder.close()


func test_client_state_and_errors() -> void:
	_compare(func(p: MultiplayerPeer) -> Array:
		var out := []
		out.append(p.call(&"create_client", "127.0.0.1", 0))
		out.append(p.call(&"create_client", "127.0.0.1", 65536))
		out.append(p.call(&"create_client", "127.0.0.1", 9))
		out.append(p.get_connection_status())
		var id := p.get_unique_id()
		out.append(id >= 2 and id <= 0x7FFFFFFF)
		out.append(p.is_server_relay_supported())
		out.append(p.call(&"get_peer", 1) != null)
		# Not connected yet: sending is refused.
		out.append(p.put_packet(PackedByteArray([1, 2, 3])))
		return out,
		[ERR_CANT_CREATE, ERR_CANT_CREATE, OK, MultiplayerPeer.CONNECTION_CONNECTING, true, true,
		true, ERR_UNCONFIGURED])


func test_mesh_state_and_errors() -> void:
	_compare(func(p: MultiplayerPeer) -> Array:
		var out := []
		out.append(p.call(&"create_mesh", 0))
		out.append(p.call(&"add_mesh_peer", 2, null))
		out.append(p.call(&"create_mesh", 7))
		out.append(p.call(&"create_mesh", 7))
		out.append(p.get_connection_status())
		out.append(p.get_unique_id())
		out.append(p.is_server_relay_supported())
		return out,
		[ERR_INVALID_PARAMETER, ERR_INVALID_PARAMETER, OK, ERR_ALREADY_IN_USE,
		MultiplayerPeer.CONNECTION_CONNECTED, 7, false])


## The remaining creation parameters of godot-enet.md §5.1, each on a fresh (closed) peer:
## negative ports, bandwidths and channel counts, an invalid bind IP (ignored with an error,
## "*" stays), a local port out of range or in use.
func test_creation_parameter_errors() -> void:
	var holder := ENetMultiplayerPeer.new()
	check_eq(holder.create_server(0), OK, "holder create_server(0)")
	var busy := holder.host.get_local_port()
	var calls := [
		[&"create_server", -1],
		[&"create_server", 0, 32, 300],
		[&"create_server", 0, 32, -1],
		[&"create_server", 0, 32, 0, -1],
		[&"create_server", 0, 32, 0, 0, -1],
		[&"create_client", "127.0.0.1", -1],
		[&"create_client", "127.0.0.1", 9, 300],
		[&"create_client", "127.0.0.1", 9, -1],
		[&"create_client", "127.0.0.1", 9, 0, -1],
		[&"create_client", "127.0.0.1", 9, 0, 0, -1],
		[&"create_client", "127.0.0.1", 9, 0, 0, 0, 70000],
		[&"create_client", "127.0.0.1", 9, 0, 0, 0, busy],
		[&"create_mesh", -3],
	]
	_compare(func(p: MultiplayerPeer) -> Array:
		var out := []
		for c: Array in calls:
			out.append(error_string(p.callv(c[0], c.slice(1))))
			if p.get_connection_status() != MultiplayerPeer.CONNECTION_DISCONNECTED:
				p.close()
		p.call(&"set_bind_ip", "not an address")
		out.append(error_string(p.call(&"create_server", 0)))
		return out,
		["Invalid parameter", "OK", "OK", "OK", "Invalid parameter",
		"Can't create", "OK", "OK", "Invalid parameter", "Invalid parameter", "Invalid parameter",
		"Can't create", "Invalid parameter", "OK"])
	holder.close()


## An active server with no clients: broadcasting on any transfer channel returns OK (Godot
## does not validate the channel; ENet drops what the host cannot carry), and an empty queue
## reports ERR_UNAVAILABLE.
func test_server_packet_edges() -> void:
	_compare(func(p: MultiplayerPeer) -> Array:
		var out := []
		out.append(p.call(&"create_server", 0))
		for channel in [0, 253, 254, 300]:
			p.transfer_channel = channel
			out.append(error_string(p.put_packet(PackedByteArray([1]))))
		out.append(p.get_packet().size())
		out.append(error_string(p.get_packet_error()))
		return out,
		[OK, "OK", "OK", "OK", "OK", 0, "Unavailable"])
