extends "res://tests/lib/suite.gd"
## The differential harness: base of the suites whose scenarios run over loopback UDP, through
## SceneMultiplayer RPCs: one file per feature (`test_sessions.gd`, `test_compression.gd`,
## `test_dtls.gd`, `test_dtls_godot.gd`, `test_packets.gd`, `test_targets.gd`, `test_mesh.gd`,
## `test_host_names.gd`, `test_refusals.gd`, ...). A scenario is mostly a function of a server
## endpoint, its clients and their `names`, which `_with_endpoints` creates and tears down (or of
## bare peers: `_with_raw_peers`); their common prologue (a server, clients that join it) is
## `_serve`, `_dial`, `_joined`, `_serve_and_join` and `_create_raw` below.
##
## Every scenario runs once per pairing of server and client implementation: Godot's built-in
## `ENetMultiplayerPeer` ("builtin") and `RustENetPeer` ("rust"). Each side records the
## multiplayer signals it sees (in order) and the RPCs it receives (as a sorted list, since
## arrival order across channels and senders is timing-dependent). The first pairing run
## (builtin/builtin, unless a scenario cannot use it) must match the scenario's expectations, and
## every other pairing must observe exactly what the first one did. A few scenarios name their
## pairings: the mixed swarm ("builtin/mixed", "rust/mixed"), the lossy link (the simulator is
## ours), and DTLS and IPv6 when this Godot's own ENet lacks them (they print why;
## `test_dtls_godot.gd` then puts Godot's own DTLS in front of the built-in peer with
## `tests/lib/dtls_proxy.gd`).
##
## Restrict the pairings with a runner argument, e.g.
## `godot --headless --path godot-project -- sessions --pairings=builtin/builtin`.

const Branch := preload("res://tests/lib/branch.gd")
const RpcNode := preload("res://tests/lib/rpc_node.gd")
const ALL_PAIRINGS: Array[String] = ["builtin/builtin", "builtin/rust", "rust/builtin", "rust/rust"]
const STEP_TIMEOUT_SEC := 10.0


## A side of a scenario: a branch (root, game, api, peer: tests/lib/branch.gd) that records the
## multiplayer signals it sees.
class Endpoint:
	extends Branch
	var name: String
	var kind: String
	var signals: Array[String] = []
	var names: Dictionary

	# Bound methods rather than lambdas: a lambda capturing the endpoint would make a reference
	# cycle (endpoint -> api -> connection -> lambda -> endpoint) and leak.
	func connect_signals() -> void:
		api.peer_connected.connect(_on_peer_connected)
		api.peer_disconnected.connect(_on_peer_disconnected)
		api.connected_to_server.connect(_on_connected_to_server)
		api.connection_failed.connect(_on_connection_failed)
		api.server_disconnected.connect(_on_server_disconnected)

	func note(line: String) -> void:
		signals.append(line)

	func label(id: int) -> String:
		return names.get(id, "id%d" % id)

	func _on_peer_connected(id: int) -> void:
		note("peer_connected(%s)" % label(id))

	func _on_peer_disconnected(id: int) -> void:
		note("peer_disconnected(%s)" % label(id))

	func _on_connected_to_server() -> void:
		note("connected_to_server")

	func _on_connection_failed() -> void:
		note("connection_failed")

	func _on_server_disconnected() -> void:
		note("server_disconnected")


func _init() -> void:
	case_timeout_sec = 180.0


## The pairings chosen with --pairings=..., or an empty list for "all".
func _pairings() -> Array[String]:
	var chosen: Array[String] = []
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--pairings="):
			for p in arg.trim_prefix("--pairings=").split(",", false):
				chosen.append(p)
	return chosen


static func make_peer(kind: String) -> MultiplayerPeer:
	if kind == "rust":
		return ClassDB.instantiate(&"RustENetPeer")
	return ENetMultiplayerPeer.new()


## A bare ENet host of `kind`: Godot's ENetConnection or RustENetConnection.
static func make_connection(kind: String) -> RefCounted:
	if kind == "rust":
		return ClassDB.instantiate(&"RustENetConnection")
	return ENetConnection.new()


func _endpoint(name: String, kind: String, names: Dictionary) -> Endpoint:
	var e := Endpoint.new()
	e.name = name
	e.kind = kind
	var game := RpcNode.new()
	game.side = name
	game.names = names
	e.attach(self, name, game)
	e.peer = make_peer(kind)
	e.names = names
	e.connect_signals()
	return e


func _teardown(endpoints: Array) -> void:
	for e: Endpoint in endpoints:
		e.detach()
	await get_tree().process_frame


## Every side's observations: "<side> signals" -> ordered list, "<side> rpcs" -> sorted list.
func _observations(endpoints: Array) -> Dictionary:
	var out := {}
	for e: Endpoint in endpoints:
		out[e.name + " signals"] = e.signals.duplicate()
		var rpcs: Array[String] = []
		for line in e.game.trace:
			rpcs.append(line)
		rpcs.sort()
		out[e.name + " rpcs"] = rpcs
	return out


func _step(what: String, condition: Callable) -> bool:
	if await wait_until(condition, STEP_TIMEOUT_SEC):
		return true
	fail("timed out waiting for: " + what)
	return false


## C1 says `up` to S and S says `down` to C1 (RpcNode.hello); waits until both arrived.
func _hellos_both_ways(server: Endpoint, c1: Endpoint, names: Dictionary, up: String,
		down: String) -> bool:
	c1.game.hello.rpc_id(1, up)
	server.game.hello.rpc_id(names.find_key("C1"), down)
	return await _step("a hello each way", func() -> bool:
			return server.game.trace.size() >= 1 and c1.game.trace.size() >= 1)


## The usual end of a scenario: `_step` until `condition` (`what`), two frames more for anything
## late, then the observations of `endpoints`; {} after a timeout.
func _observe_when(what: String, condition: Callable, endpoints: Array) -> Dictionary:
	if not await _step(what, condition):
		return {}
	await wait_frames(2)
	return _observations(endpoints)


# The prologue most scenarios share: a server, and clients that join it. Settings a scenario
# makes between `create_*` and the first frame (`host.compress`, `dtls_*_setup`, `set_timeout`)
# still go right after `_serve` / `_dial`: neither awaits, and nothing leaves a host before the
# first poll.


## Creates `server`'s host on a free port (`create_server(0)`, or `create_server(0,
## max_clients)` when given) and makes it the peer of its SceneMultiplayer. Returns the port,
## or 0 after recording why not.
func _serve(server: Endpoint, max_clients := 0) -> int:
	var err: int = server.peer.call(&"create_server", 0) if max_clients <= 0 \
			else server.peer.call(&"create_server", 0, max_clients)
	if not check_eq(err, OK, "%s create_server(0%s)" % [server.name,
			"" if max_clients <= 0 else ", %d" % max_clients]):
		return 0
	server.api.multiplayer_peer = server.peer
	var port: int = server.peer.get(&"host").get_local_port()
	check(port > 0, "%s's port is known" % server.name)
	return port


## Starts client `c` towards `port` at `address` (and asks for `channel_count` channels when
## given): create_client, its id into `names` and the peer into its SceneMultiplayer. Does not
## wait. Returns false after recording a failure (`port` 0 is one: `_serve` failed).
func _dial(c: Endpoint, port: int, names: Dictionary, address := "127.0.0.1",
		channel_count := 0) -> bool:
	if not check(port > 0, "%s has a server port to dial" % c.name):
		return false
	var err: int = c.peer.call(&"create_client", address, port) if channel_count <= 0 \
			else c.peer.call(&"create_client", address, port, channel_count)
	if not check_eq(err, OK, "%s create_client(%s, port)" % [c.name, address]):
		return false
	names[c.peer.get_unique_id()] = c.name
	c.api.multiplayer_peer = c.peer
	return true


## Waits until client `c` is connected and `server` lists it among its peers.
func _joined(server: Endpoint, c: Endpoint, names: Dictionary) -> bool:
	return await _step(c.name + " connected on both ends", func() -> bool:
			return c.peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED \
					and names.find_key(c.name) in server.api.get_peers())


## `_serve`, then `_dial` and `_joined` for each of `clients` in turn (one at a time, so the
## connection signals come in a fixed order). Returns the server's port, or 0 after a failure.
func _serve_and_join(server: Endpoint, clients: Array, names: Dictionary, max_clients := 0,
		address := "127.0.0.1") -> int:
	var port := _serve(server, max_clients)
	for c: Endpoint in clients:
		if not _dial(c, port, names, address) or not await _joined(server, c, names):
			return 0
	return port


## The same prologue for bare MultiplayerPeers (no SceneMultiplayer), polled by the scenario:
## `create_server(0)` on `server` (bound to `address`'s family by the caller if it must be) and
## `create_client` towards it on each of `clients`. Does not wait. Returns the port, or 0 after
## recording a failure.
func _create_raw(server: MultiplayerPeer, clients: Array, address := "127.0.0.1") -> int:
	if not check_eq(server.call(&"create_server", 0), OK, "create_server(0) on " + address):
		return 0
	var port: int = server.get(&"host").get_local_port()
	for i in clients.size():
		if not check_eq(clients[i].call(&"create_client", address, port), OK,
				"client %d create_client" % (i + 1)):
			return 0
	return port


## Waits (at most `timeout_sec`) until `server` and client `c1` have each received `count`
## numbered reliable RPCs (`numbered`). Returns false after recording how many came.
func _numbered_arrived(server: Endpoint, c1: Endpoint, count: int, timeout_sec: float) -> bool:
	if await wait_until(func() -> bool:
			return server.game.reliable_numbers.size() >= count \
					and c1.game.reliable_numbers.size() >= count, timeout_sec):
		return true
	fail("reliable RPCs complete within %d s (S got %d, C1 got %d)" % [timeout_sec,
			server.game.reliable_numbers.size(), c1.game.reliable_numbers.size()])
	return false


## Closes each of the bare MultiplayerPeers `peers` that is not closed yet.
static func _close_raw(peers: Array) -> void:
	for p: MultiplayerPeer in peers:
		if p.get_connection_status() != MultiplayerPeer.CONNECTION_DISCONNECTED:
			p.close()


## A scenario for `_run_differential` on the usual endpoints: a server "S" of the pairing's
## server kind and `client_count` clients "C1", "C2", ... of its client kind, sharing one
## `names` (1 -> "S"). `body` gets them in that order, then `names` (then any arguments bound to
## it), and returns the observations, {} after a failure. `close` (`_teardown` unless given) then
## ends every endpoint, whatever happened.
func _with_endpoints(client_count: int, body: Callable, close := Callable()) -> Callable:
	return func(server_kind: String, client_kind: String) -> Dictionary:
		var names := {1: "S"}
		var endpoints: Array = [_endpoint("S", server_kind, names)]
		for i in client_count:
			endpoints.append(_endpoint("C%d" % (i + 1), client_kind, names))
		var result: Dictionary = await body.callv(endpoints + [names])
		await (close if close.is_valid() else _teardown).call(endpoints)
		return result


## The same for bare MultiplayerPeers (no SceneMultiplayer, polled by the scenario): `body` gets
## a server peer of the pairing's server kind and an array of `client_count` client peers of
## its client kind (then any arguments bound to it), all not created yet, and returns the
## observations; every peer still open is closed after it.
func _with_raw_peers(client_count: int, body: Callable) -> Callable:
	return func(server_kind: String, client_kind: String) -> Dictionary:
		var server := make_peer(server_kind)
		var clients: Array[MultiplayerPeer] = []
		for i in client_count:
			clients.append(make_peer(client_kind))
		var result: Dictionary = await body.call(server, clients)
		_close_raw([server] + clients)
		return result


## Every pairing, or rust/rust alone (saying so, and why) where this Godot's built-in ENet
## cannot run the scenario: `builtin_can` is false, `why` says what it lacks.
static func _all_or_rust_only(builtin_can: bool, why: String) -> Array[String]:
	if builtin_can:
		return ALL_PAIRINGS
	print("    this Godot's built-in ENet %s: running rust/rust only" % why)
	return ["rust/rust"]


## Runs `scenario` for every pairing in `only` (and in --pairings, if given). The first pairing
## (builtin/builtin unless the scenario says otherwise) must meet `expected` and is the reference
## every later pairing must match.
func _run_differential(scenario: Callable, expected: Dictionary,
		only: Array[String] = ALL_PAIRINGS) -> void:
	var chosen := _pairings()
	var reference := {}
	var reference_name := ""
	for pairing in only:
		if not chosen.is_empty() and not pairing in chosen:
			continue
		var kinds := pairing.split("/")
		var failures_before := _failures.size()
		var started := Time.get_ticks_msec()
		var observed: Dictionary = await scenario.call(kinds[0], kinds[1])
		print("    %s: ran in %d ms%s" % [pairing, Time.get_ticks_msec() - started,
				"" if _failures.size() == failures_before else " (failed)"])
		for i in range(failures_before, _failures.size()):
			_failures[i] = "[%s] %s" % [pairing, _failures[i]]
		if reference_name.is_empty():
			reference = observed
			reference_name = pairing
			for key in expected:
				check_eq(observed.get(key), expected[key], "[%s] %s" % [pairing, key])
		else:
			for key in reference:
				check_eq(observed.get(key), reference[key],
						"[%s vs %s] %s" % [pairing, reference_name, key])
			for key in expected:
				if not reference.has(key):
					check_eq(observed.get(key), expected[key], "[%s] %s" % [pairing, key])


static func _pattern(size: int, seed: int) -> PackedByteArray:
	var data := PackedByteArray()
	data.resize(size)
	for i in size:
		data[i] = (i * 31 + seed) & 0xFF
	return data


static func _sorted(lines: Array) -> Array[String]:
	var out: Array[String] = []
	for line in lines:
		out.append(line)
	out.sort()
	return out


## Whether this Godot's own ENet has DTLS (Debian's build links the system ENet, which has not).
static func builtin_has_dtls() -> bool:
	var probe := ENetConnection.new()
	probe.create_host(1)
	var err := probe.dtls_client_setup("localhost", TLSOptions.client_unsafe())
	probe.destroy()
	return err != ERR_UNAVAILABLE


## Whether this Godot's own ENet handles IPv6 (Debian's links the IPv4-only system ENet).
static func builtin_has_ipv6() -> bool:
	var probe := ENetMultiplayerPeer.new()
	probe.set_bind_ip("::1")
	var ok := probe.create_server(0) == OK
	probe.close()
	return ok
