extends "res://tests/lib/differential.gd"
## Bad-network simulation on RustENetPeer: set_link_simulation / set_link_preset in code, and the
## network/rust_enet/simulation/ project settings that need none (also in a headless run of the
## demo). The harness and how pairings work: tests/lib/differential.gd.

const SIM := "network/rust_enet/simulation/"
const SETTING_DEFAULTS := {
	"enabled": false, "preset": "custom", "direction": 0, "latency_ms": 0, "jitter_ms": 0,
	"loss_percent": 0.0, "duplicate_percent": 0.0, "reorder_percent": 0.0,
	"bandwidth_bytes_per_sec": 0, "allow_in_release": false,
}
const OVERRIDE := "res://override.cfg"


func after_each() -> void:
	_restore_settings()
	if FileAccess.file_exists(OVERRIDE):
		DirAccess.remove_absolute(ProjectSettings.globalize_path(OVERRIDE))


func _restore_settings() -> void:
	for key in SETTING_DEFAULTS:
		ProjectSettings.set_setting(SIM + key, SETTING_DEFAULTS[key])


## 100 ms of latency each way and 10% loss on one RustENetPeer of the pairing (the client when it
## is ours, else the server), set in code before `create_*`: 100 reliable RPCs each way arrive
## exactly once and in order, and both ends measure a round trip near 200 ms.
func _scenario_slow_lossy(server: Endpoint, c1: Endpoint, names: Dictionary) -> Dictionary:
	var simulated := c1 if c1.kind == "rust" else server
	simulated.peer.call(&"set_link_simulation", {"latency_ms": 100, "loss_percent": 10})
	if not _dial(c1, _serve(server), names):
		return {}
	var id: int = c1.peer.get_unique_id()
	# Not _joined: 100 ms each way and 10% loss can take longer than its 10 s.
	if not await wait_until(func() -> bool:
			return c1.peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED \
					and id in server.api.get_peers(), 20.0):
		fail("C1 connected on both ends within 20 s")
		return {}
	for n in 100:
		c1.game.numbered.rpc_id(1, n)
		server.game.numbered.rpc_id(id, n)
		if n % 10 == 9:
			await get_tree().process_frame
	if not await _numbered_arrived(server, c1, 100, 60.0):
		return {}
	var result := {
		"S reliable exactly once in order": server.game.reliable_numbers == range(100),
		"C1 reliable exactly once in order": c1.game.reliable_numbers == range(100),
	}
	for pair in [["S", server, id], ["C1", c1, 1]]:
		var rtt: float = pair[1].peer.get_peer(pair[2]).get_statistic(
				ENetPacketPeer.PEER_ROUND_TRIP_TIME)
		print("    %s/%s: %s measures a round trip of %d ms" % [server.kind, c1.kind,
				pair[0], rtt])
		result[pair[0] + " round trip 170-350 ms"] = rtt >= 170 and rtt <= 350
	return result


func test_reliable_rpcs_survive_latency_and_loss() -> void:
	print("    builtin/builtin skipped: the simulation is RustENetPeer's")
	await _run_differential(_with_endpoints(1, _scenario_slow_lossy), {
		"S reliable exactly once in order": true,
		"C1 reliable exactly once in order": true,
		"S round trip 170-350 ms": true,
		"C1 round trip 170-350 ms": true,
	}, ["builtin/rust", "rust/builtin", "rust/rust"])


func test_presets_and_what_is_simulated() -> void:
	var peer: Object = ClassDB.instantiate(&"RustENetPeer")
	var nothing: Dictionary = peer.call(&"get_link_simulation")
	check_eq(nothing.outgoing.latency_ms, 0.0, "nothing simulated by default")
	check_eq(peer.call(&"set_link_preset", "bad"), OK, "the bad preset")
	var bad: Dictionary = peer.call(&"get_link_simulation")
	check_eq([bad.outgoing.latency_ms, bad.outgoing.loss_percent, bad.incoming.latency_ms,
			bad.incoming.bandwidth_bytes_per_sec], [125.0, 8.0, 125.0, 64000.0],
			"the bad preset's figures, both ways")
	check_eq(peer.call(&"set_link_preset", "dial-up"), ERR_INVALID_PARAMETER, "an unknown preset")
	peer.call(&"set_link_simulation", {"latency_ms": 30}, RustENetConnection.LINK_INCOMING)
	var mixed: Dictionary = peer.call(&"get_link_simulation")
	check_eq([mixed.outgoing.latency_ms, mixed.incoming.latency_ms], [125.0, 30.0],
			"one direction changed, the other kept")
	# Applied to a host created afterwards, and gone with close().
	check_eq(peer.call(&"create_server", 0), OK, "create_server")
	check_eq(peer.call(&"get_link_simulation").incoming.latency_ms, 30.0, "on the server's host")
	peer.call(&"close")
	check_eq(peer.call(&"get_link_simulation").incoming.latency_ms, 0.0, "nothing after close")


## A RustENetPeer created with the project settings on and no simulation code: its host simulates
## what the settings say, and the round trip to a built-in server shows it.
func test_project_settings_apply_without_code() -> void:
	ProjectSettings.set_setting(SIM + "enabled", true)
	ProjectSettings.set_setting(SIM + "latency_ms", 80)
	var server := ENetMultiplayerPeer.new()
	var client: MultiplayerPeer = ClassDB.instantiate(&"RustENetPeer")
	_create_raw(server, [client])
	var sim: Dictionary = client.call(&"get_link_simulation")
	check_eq([sim.outgoing.latency_ms, sim.incoming.latency_ms], [80.0, 80.0],
			"the project's latency on both directions")
	var connected := await wait_until(func() -> bool:
			server.poll()
			client.poll()
			return client.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED, 10.0)
	if check(connected, "connected through the simulated link"):
		# Pings every 500 ms give the round trip; let a few samples in.
		var deadline := Time.get_ticks_msec() + 3000
		while Time.get_ticks_msec() < deadline:
			server.poll()
			client.poll()
			await get_tree().process_frame
		var rtt: float = client.call(&"get_peer", 1).get_statistic(
				ENetPacketPeer.PEER_ROUND_TRIP_TIME)
		print("    round trip with the project's 80 ms each way: %d ms" % rtt)
		check(rtt >= 140 and rtt <= 400, "round trip near 160 ms, got %d" % rtt)
	client.close()
	server.close()
	_restore_settings()
	var plain: MultiplayerPeer = ClassDB.instantiate(&"RustENetPeer")
	check_eq(plain.call(&"create_server", 0), OK, "create_server with the settings off")
	check_eq(plain.call(&"get_link_simulation").outgoing.latency_ms, 0.0,
			"settings off: nothing simulated")
	plain.close()


## Release exports simulate only when allow_in_release is on (the build type is the argument,
## since a running Godot cannot change its own).
func test_release_exports_need_allow_in_release() -> void:
	ProjectSettings.set_setting(SIM + "enabled", true)
	ProjectSettings.set_setting(SIM + "preset", "mobile_4g")
	var debug: Dictionary = RustENetPeer.project_link_simulation(false)
	check_eq(debug.get("outgoing", {}).get("latency_ms"), 50.0, "debug build: the preset applies")
	check_eq(RustENetPeer.project_link_simulation(true), {}, "release export: nothing")
	ProjectSettings.set_setting(SIM + "allow_in_release", true)
	check_eq(RustENetPeer.project_link_simulation(true).get("outgoing", {}).get("latency_ms"),
			50.0, "release export with allow_in_release: the preset applies")
	ProjectSettings.set_setting(SIM + "enabled", false)
	check_eq(RustENetPeer.project_link_simulation(false), {}, "disabled: nothing")


## The demo, unchanged, in two headless Godot processes with an override.cfg that turns the
## simulation on (100 ms on everything each process sends): the client's ping shows the delay
## and each process says once that it simulates.
func test_headless_demo_shows_the_simulated_delay() -> void:
	var cfg := FileAccess.open(OVERRIDE, FileAccess.WRITE)
	if not check(cfg != null, "write res://override.cfg"):
		return
	cfg.store_string("[network]\n\nrust_enet/simulation/enabled=true\n" +
			"rust_enet/simulation/direction=1\nrust_enet/simulation/latency_ms=100\n")
	cfg.close()
	var probe := PacketPeerUDP.new()
	probe.bind(0, "127.0.0.1")
	var port := probe.get_local_port()
	probe.close()
	var godot := OS.get_executable_path()
	var project := ProjectSettings.globalize_path("res://")
	var server_pid := OS.create_process(godot, ["--headless", "--path", project,
			"res://demo/demo.tscn", "--", "--role=server", "--port=%d" % port, "--clients=1"])
	var output := []
	var code := OS.execute(godot, ["--headless", "--path", project, "res://demo/demo.tscn", "--",
			"--role=client", "--port=%d" % port, "--name=Ann", "--clients=1"], output, true)
	DirAccess.remove_absolute(ProjectSettings.globalize_path(OVERRIDE))
	if OS.is_process_running(server_pid):
		OS.kill(server_pid)
	var text: String = "\n".join(output)
	check_eq(code, 0, "the demo client finished")
	check("RustENetPeer: simulating a bad network" in text, "the client says it simulates")
	var rtt := -1.0
	for line in text.split("\n"):
		var at := line.find("ping round trip ")
		if at >= 0:
			rtt = float(line.substr(at + 16).split(" ")[0])
	print("    demo ping with 100 ms on each side's sends: %.1f ms" % rtt)
	if not check(rtt >= 190.0, "the demo's ping shows both 100 ms delays (got %.1f ms)" % rtt):
		print(text)


## A mesh host added with add_mesh_peer gets the peer's simulation: the other member measures
## the delay on its link.
func test_mesh_hosts_are_simulated_too() -> void:
	var conn_a: Object = ClassDB.instantiate(&"RustENetConnection")
	var conn_b: Object = ClassDB.instantiate(&"RustENetConnection")
	check_eq(conn_a.create_host_bound("127.0.0.1", 0, 1), OK, "A's host")
	check_eq(conn_b.create_host_bound("127.0.0.1", 0, 1), OK, "B's host")
	var link_b: Object = conn_b.connect_to_host("127.0.0.1", conn_a.get_local_port())
	var connected := await wait_until(func() -> bool:
			conn_a.service()
			conn_b.service()
			return link_b.get_state() == ENetPacketPeer.STATE_CONNECTED \
					and conn_a.get_peers().size() == 1 \
					and conn_a.get_peers()[0].get_state() == ENetPacketPeer.STATE_CONNECTED)
	if not check(connected, "the mesh link connects"):
		return
	var a: MultiplayerPeer = ClassDB.instantiate(&"RustENetPeer")
	a.call(&"set_link_simulation", {"latency_ms": 60})
	check_eq(a.call(&"create_mesh", 1), OK, "create_mesh")
	check_eq(a.call(&"add_mesh_peer", 2, conn_a), OK, "add_mesh_peer")
	# Reliable packets from B give it a round-trip sample each (pings alone: one per 500 ms).
	var deadline := Time.get_ticks_msec() + 3000
	while Time.get_ticks_msec() < deadline:
		link_b.send(0, PackedByteArray([1, 2, 3]), ENetPacketPeer.FLAG_RELIABLE)
		a.poll()
		conn_b.service()
		await get_tree().process_frame
	var rtt: float = link_b.get_statistic(ENetPacketPeer.PEER_ROUND_TRIP_TIME)
	print("    B's round trip to A with 60 ms each way on A's mesh host: %d ms" % rtt)
	check(rtt >= 100, "B measures A's simulated delay (got %d ms)" % rtt)
	a.close()
	conn_b.destroy()


## The settings show in Project Settings with their ranges and units.
func test_settings_are_registered_with_hints() -> void:
	var found := {}
	for property in ProjectSettings.get_property_list():
		if property.name.begins_with(SIM):
			found[property.name.trim_prefix(SIM)] = property
	check_eq(found.keys().size(), SETTING_DEFAULTS.size(), "every setting is registered")
	var latency: Dictionary = found.get("latency_ms", {})
	check_eq([latency.get("hint"), latency.get("hint_string")],
			[PROPERTY_HINT_RANGE, "0,5000,1,suffix:ms"], "latency has a range in ms")
	check_eq(found.get("preset", {}).get("hint_string"), "custom,lan,good_wifi,mobile_4g,bad",
			"presets by name")
