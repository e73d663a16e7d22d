extends Node
## The stall row of `./build.sh bench`: how many connections a server keeps while its main
## thread blocks, with RustENetPeer (service thread on, and off) and Godot's built-in peer. Prints
## one `BENCH_RESULT {json}` line per server and quits.
##
##     godot --headless --path godot-project res://bench/bench_stall.tscn -- [--stall=20]
##
## The three servers run here; a second Godot process (`res://tests/stall/stall_remote.tscn`)
## runs 8 clients for each (4 on the built-in peer, 4 on RustENetPeer, default timeouts), and
## both sides send a numbered reliable RPC over every connection every 100 ms (the stall tests'
## scenario, `res://tests/stall/stall_party.gd`). Once all talk, this main thread blocks in
## `OS.delay_msec` for `--stall` seconds, then runs 3 s of normal frames. A client counts as
## kept when it stayed connected, the server did not drop it, and every RPC it sent arrived
## exactly once and in order.

const Bench := preload("res://bench/bench_lib.gd")
const Party := preload("res://tests/stall/stall_party.gd")
const CLIENTS_PER_KIND := 4
## Each server: peer kind and its `use_service_thread`.
const SERVERS := [["rust", true], ["rust", false], ["builtin", false]]

var _stall_sec := 20


func _ready() -> void:
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--stall="):
			_stall_sec = int(arg.get_slice("=", 1))
		else:
			_fail("unknown option %s" % arg)
			return
	if not ClassDB.class_exists(&"RustENetPeer"):
		_fail("the rust_enet addon is not loaded")
		return
	_run()


func _run() -> void:
	var party: Node = Party.new()
	add_child(party)
	var ports := Party.free_ports(SERVERS.size())
	var servers: Array = []
	var clients := []
	for i in SERVERS.size():
		var s: Party.Member = party.add_server(SERVERS[i][0], ports[i])
		if SERVERS[i][0] == "rust":
			s.peer.set(&"use_service_thread", SERVERS[i][1])
		servers.append(s)
		for kind in ["builtin", "rust"]:
			for n in CLIENTS_PER_KIND:
				clients.append("%s:%d" % [kind, ports[i]])
	if not party.spawn_remote(["--clients=" + ",".join(clients)]):
		_fail("the clients' process did not start")
		return
	var each := 2 * CLIENTS_PER_KIND
	if not await party.all_talking(servers, each, 30.0):
		party.close_all()
		_fail("not every client connected")
		return
	OS.delay_msec(_stall_sec * 1000)
	await get_tree().create_timer(3.0).timeout
	var left := []
	for s in servers:
		left.append(s.disconnected.duplicate())
	# While the clients close, Godot's built-in server prints "Unable to send packet on channel
	# 0" 28 times: SceneMultiplayer tells each remaining client that one left (server relay),
	# and ENet has already reset some of those peers (7 + 6 + ... + 0 for 8 clients).
	var reports: Variant = await party.finish_remote()
	if not reports is Array:
		party.close_all()
		_fail("the clients' process did not report")
		return
	for i in servers.size():
		var kept := 0
		var outcome: Array[Dictionary] = Party.server_outcome(servers[i], reports, left[i])
		for o in outcome:
			if o.kept:
				kept += 1
		var result := {
			"scenario": "stall",
			"peer": SERVERS[i][0],
			"service_thread": "server" if SERVERS[i][1] else "off",
			"stall_s": _stall_sec,
			"clients": outcome.size(),
			"kept": kept,
			"kept_pct": 100.0 * kept / maxi(outcome.size(), 1),
		}
		Bench.print_result(result)
	party.close_all()
	get_tree().quit(0)


func _fail(why: String) -> void:
	Bench.print_failure("bench_stall", why)
	get_tree().quit(1)
