extends "res://tests/lib/differential.gd"
## Clients given a host name instead of an IP address. `localhost` resolves to `::1` before
## `127.0.0.1` on a machine whose hosts file lists both (Debian's default; `./build.sh` writes
## that file into the Godot root it provisions), while the servers here listen on IPv4 only, as
## Godot's built-in server does with Debian's system ENet, and as every C ENet server or server
## bound to `0.0.0.0` does. A client must try each address the name resolves to and keep the
## one that answers.

const HOST_NAME := "localhost"


## Whether this machine's resolver gives `localhost` the IPv6 loopback address first.
func _resolves_ipv6_first() -> bool:
	var found := IP.resolve_hostname_addresses(HOST_NAME, IP.TYPE_ANY)
	print("    %s resolves to %s" % [HOST_NAME, found])
	return found.size() >= 2 and found[0] in ["::1", "0:0:0:0:0:0:0:1"] and "127.0.0.1" in found


## An IPv4-only server and a client connecting to `localhost`: connect, an RPC each way, leave.
## Also records the address the client's connection ended up on.
func _scenario_host_name(server: Endpoint, c1: Endpoint, names: Dictionary) -> Dictionary:
	server.peer.call(&"set_bind_ip", "127.0.0.1")
	if not _dial(c1, _serve(server), names, HOST_NAME):
		return {}
	var started := Time.get_ticks_msec()
	if not await _step("C1 connected through %s" % HOST_NAME, func() -> bool:
			return c1.peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED \
					and names.find_key("C1") in server.api.get_peers()):
		return {}
	print("    %s/%s: connected in %d ms" % [server.kind, c1.kind, Time.get_ticks_msec() - started])
	if not await _hellos_both_ways(server, c1, names, "up", "down"):
		return {}
	var remote: String = c1.peer.call(&"get_peer", 1).get_remote_address()
	c1.peer.close()
	if not await _step("S sees C1 leave", func() -> bool:
			return "peer_disconnected(C1)" in server.signals):
		return {}
	var result := _observations([server, c1])
	result["C1 remote address"] = remote
	return result


func test_client_reaches_an_ipv4_server_through_a_name_that_resolves_to_ipv6_first() -> void:
	# The setting the scenario is about: without it this case would test nothing.
	if not check(_resolves_ipv6_first(),
			"%s must resolve to ::1 (a hosts file with '::1 localhost'); ./build.sh writes one into its Godot root" % HOST_NAME):
		return
	await _run_differential(_with_endpoints(1, _scenario_host_name), {
		"S signals": ["peer_connected(C1)", "peer_disconnected(C1)"],
		# SceneMultiplayer reports the client's own close() as server_disconnected.
		"C1 signals": ["connected_to_server", "peer_connected(S)", "server_disconnected"],
		"S rpcs": ["S: hello(up) from C1"],
		"C1 rpcs": ["C1: hello(down) from S"],
		"C1 remote address": "127.0.0.1",
	})
