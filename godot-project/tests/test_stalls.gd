extends "res://tests/lib/suite.gd"
## Connections that survive the main thread's stalls (RustENetPeer.use_service_thread): the
## runner's main thread blocks in `OS.delay_msec` while a second Godot process
## (`stall/stall_remote.tscn`) keeps talking to it, every 100 ms a numbered reliable RPC per
## connection, both ways. Godot's built-in peer in the same stall is the control: it loses its
## connections, which shows the difference.

const Party := preload("res://tests/stall/stall_party.gd")
const STALL_MSEC := 20000
const LONG_STALL_MSEC := 60000

var _party: Node


func _init() -> void:
	case_timeout_sec = 150.0


func before_each() -> void:
	_party = Party.new()
	add_child(_party)


func after_each() -> void:
	_party.close_all()
	_party.queue_free()
	await get_tree().process_frame


## Starts the second process with `args` (its --servers= or --clients=).
func _spawn(args: Array) -> void:
	check(_party.spawn_remote(args), "the second Godot process started")


## Tells the second process to stop and returns its members' reports (after it quit).
func _finish() -> Array:
	var reports: Variant = await _party.finish_remote()
	if not check(reports is Array, "the second process finished and wrote its reports"):
		return []
	return reports


func _stall(msec: int) -> void:
	print("    the runner's main thread stalls for %d s" % (msec / 1000))
	OS.delay_msec(msec)
	# A few seconds of normal frames: what waited is delivered, the last RPCs cross.
	await get_tree().create_timer(3.0).timeout


## Checks `server` (in this process) against its clients' reports: all connected, and every RPC
## each sent arrived exactly once, in order. `left` is who the server saw leave before the end.
func _check_kept(server: Party.Member, reports: Array, left: Array, what: String) -> int:
	var kept := 0
	for o in Party.server_outcome(server, reports, left):
		var who := "%s: the %s client %d" % [what, o.kind, o.id]
		check(o.connected, "%s stayed connected" % who)
		check_eq(o.got, Party.numbers_up_to(o.sent), "%s's RPCs, once each and in order" % who)
		check(o.kept_by_server, "%s was kept by the server" % who)
		check(o.sent > 0, "%s sent RPCs" % who)
		if o.kept:
			kept += 1
	return kept


func test_a_stalled_server_keeps_its_clients() -> void:
	var ports := Party.free_ports(2)
	var ours: Party.Member = _party.add_server("rust", ports[0])
	var builtin: Party.Member = _party.add_server("builtin", ports[1])
	var clients := []
	for port in ports:
		for kind in ["builtin", "rust"]:
			for i in 4:
				clients.append("%s:%d" % [kind, port])
	_spawn(["--clients=" + ",".join(clients)])
	if not check(await _party.all_talking([ours, builtin], 8), "8 clients connected to each server"):
		return
	await _stall(STALL_MSEC)
	var left: Array = ours.disconnected.duplicate()
	var reports := await _finish()
	var kept := _check_kept(ours, reports, left, "RustENetPeer server")
	var lost := 0
	for r in reports:
		if int(r["port"]) == builtin.port and r["lost"]:
			lost += 1
	print("    connections kept through a %d s server stall: RustENetPeer %d/8, built-in %d/8"
			% [STALL_MSEC / 1000, kept, 8 - lost])
	check_eq(kept, 8, "RustENetPeer server: clients kept")
	check_eq(lost, 8, "the built-in server (the control) lost its clients")


func test_a_stalled_client_keeps_its_server() -> void:
	var ports := Party.free_ports(2)
	_spawn(["--servers=builtin:%d,rust:%d" % ports])
	# Let the servers start listening.
	await get_tree().create_timer(1.0).timeout
	var members := []
	for kind in ["rust", "builtin"]:
		for port in ports:
			members.append(_party.add_client(kind, port))
	if not check(await _party.all_talking(members, 1), "every client connected"):
		return
	await _stall(STALL_MSEC)
	# Before the second process ends (its servers' close() ends every connection).
	var ids := {}
	var lost := {}
	for m in members:
		ids[m] = m.api.get_unique_id()
		lost[m] = m.lost
	var reports := await _finish()
	var servers := {}
	for r in reports:
		servers[int(r["port"])] = r
	var kept := {"rust": 0, "builtin": 0}
	for m: Party.Member in members:
		var server: Dictionary = servers.get(m.port, {})
		var id: int = ids[m]
		var sent := int(server.get("sent", {}).get(str(id), 0))
		var dropped: bool = float(id) in server.get("disconnected", [])
		var what := "a %s client of the %s server" % [m.kind, server.get("kind", "?")]
		if m.kind == "builtin":
			check(dropped, "%s (the control) was dropped" % what)
			continue
		var ok := check(not lost[m] and not dropped, "%s stayed connected" % what)
		ok = check_eq(m.game.received.get(1, []), Party.numbers_up_to(sent),
				"%s got the server's RPCs once each and in order" % what) and ok
		check(sent > 0, "%s: the server sent RPCs" % what)
		if ok:
			kept[m.kind] += 1
	print("    connections kept through a %d s client stall: RustENetPeer %d/2, built-in %d/2"
			% [STALL_MSEC / 1000, kept["rust"], kept["builtin"]])


func test_a_minute_long_stall_with_raised_timeouts() -> void:
	var ports := Party.free_ports(1)
	var ours: Party.Member = _party.add_server("rust", ports[0])
	_spawn(["--clients=builtin:%d,builtin:%d,rust:%d,rust:%d" % [ports[0], ports[0], ports[0], ports[0]]])
	if not check(await _party.all_talking([ours], 4), "4 clients connected"):
		return
	for id in ours.api.get_peers():
		ours.peer.call(&"get_peer", id).set_timeout(32, 90000, 120000)
	await _stall(LONG_STALL_MSEC)
	var left: Array = ours.disconnected.duplicate()
	var reports := await _finish()
	var kept := _check_kept(ours, reports, left, "RustENetPeer server, 60 s stall")
	check_eq(kept, 4, "RustENetPeer server: clients kept through 60 s")


## The thread follows the project setting and the property, and ends with the host: `close`,
## `disconnect_peer`, freeing the peer (the leak check at exit covers quitting).
func test_the_thread_follows_the_setting_and_ends_with_the_host() -> void:
	var setting := "network/rust_enet/use_service_thread"
	var before: Variant = ProjectSettings.get_setting(setting)
	ProjectSettings.set_setting(setting, false)
	var off: MultiplayerPeer = ClassDB.instantiate(&"RustENetPeer")
	ProjectSettings.set_setting(setting, true)
	var on: MultiplayerPeer = ClassDB.instantiate(&"RustENetPeer")
	ProjectSettings.set_setting(setting, before)
	check_eq(off.get(&"use_service_thread"), false, "the setting off: a new peer has no thread")
	check_eq(on.get(&"use_service_thread"), true, "the setting on: a new peer uses the thread")

	on.call(&"set_bind_ip", "127.0.0.1")
	check_eq(on.call(&"create_server", 0), OK, "create_server")
	var host: RefCounted = on.get(&"host")
	check(host.is_service_thread_running(), "the server's host has a thread")
	var client: MultiplayerPeer = ClassDB.instantiate(&"RustENetPeer")
	check_eq(client.call(&"create_client", "127.0.0.1", host.get_local_port()), OK, "create_client")
	var client_host: RefCounted = client.get(&"host")
	check(client_host.is_service_thread_running(), "the client's host has a thread")
	var connected := await wait_until(func() -> bool:
		on.poll()
		client.poll()
		return client.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED \
				and on.call(&"get_peer", client.get_unique_id()) != null)
	check(connected, "the client connected")

	on.set(&"use_service_thread", false)
	check(not host.is_service_thread_running(), "turning the property off stops the thread")
	on.set(&"use_service_thread", true)
	check(host.is_service_thread_running(), "turning it on again starts one")

	on.disconnect_peer(client.get_unique_id())
	var gone := await wait_until(func() -> bool:
		on.poll()
		client.poll()
		return client.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED)
	check(gone, "disconnect_peer reached the client")
	check(host.is_service_thread_running(), "the server's thread runs on after disconnect_peer")
	check(not client_host.is_service_thread_running(), "the client's thread ended with its host")
	on.close()
	check(not host.is_service_thread_running(), "close() ends the thread")

	var bare: RefCounted = ClassDB.instantiate(&"RustENetConnection")
	check_eq(bare.start_service_thread(), ERR_UNCONFIGURED, "no thread before create_host")
	check_eq(bare.create_host_bound("127.0.0.1", 0), OK, "create_host_bound")
	check_eq(bare.start_service_thread(), OK, "start_service_thread")
	check_eq(bare.start_service_thread(), OK, "start_service_thread again")
	check(bare.is_service_thread_running(), "the bare host's thread runs")
	# Freed with its thread running: the thread is joined, nothing leaks.
	bare = null
	off = null
	client = null
