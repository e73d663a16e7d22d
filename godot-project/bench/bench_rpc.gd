extends Node
## Benchmark scenario 6: one server and N clients (default 32) exchanging RPCs through
## SceneMultiplayer as fast as the frame loop allows, with RustENetPeer or Godot's built-in
## ENetMultiplayerPeer. Prints one `BENCH_RESULT {json}` line and quits. Nothing is asserted.
##
##     godot --headless --path godot-project res://bench/bench_rpc.tscn -- --peer=rust|builtin|memory
##         [--clients=32] [--seconds=5] [--warmup=1] [--reliable=4] [--unreliable=4]
##         [--window=256] [--payload=32] [--timeout=120] [--fps=0]
##         [--service_thread=server|all|off]
##
## `--peer=memory` runs on RustENetMemoryPeer (a library built with the `bench-ceiling` feature):
## packets go from queue to queue in this process, no network at all, so its RPCs/s are the
## ceiling any MultiplayerPeer extension can reach in this scene.
## `--service_thread` sets RustENetPeer's `use_service_thread`: `server` (the default) on the
## server's peer only, `all` on every peer, `off` on none; the built-in peer has no such thread.
## `server` is the model of a game server: its clients stand for 32 other machines, whose
## threads would not share this machine's CPUs as the 32 of `all` do. The CPU time of the main
## thread and of the service threads (named "rust_enet service") over the measured window is
## read from /proc/self/task/*/schedstat, so the thread's cost shows beside the main thread's
## saving.
##
## Layout: everything runs in this one process. The server and every client have their own
## branch (/root/BenchRpc/Server, /root/BenchRpc/C<i>) with their own SceneMultiplayer
## (`SceneTree.set_multiplayer`) and peer, talking over 127.0.0.1. The tree's automatic polling
## is off; `_process` polls each API itself so the server's share of the frame can be timed
## apart from the clients'. One process keeps the comparison fair on a small shared machine
## (33 or even 2 uncapped Godot processes would mostly measure the scheduler) and gives both
## implementations exactly the same loop.
##
## Each frame, in this order:
##   1. every client: `poll()`, then `reliable` calls of `rel` (only while fewer than `window`
##      of its reliable RPCs are unacknowledged by the server's `ack`) and `unreliable` calls
##      of `unrel`, all `rpc_id(1, ...)` with a `payload`-byte PackedByteArray;
##   2. the server: its peer's `poll()` and its host's `flush()`, then the API's `poll()` (which
##      runs the received RPCs; its own call of the peer's poll finds nothing new), then one
##      unreliable `ack(count)` to each client whose reliable count changed this frame, one
##      unreliable `state` broadcast (`rpc()`) to everyone, and the host's `flush()` again.
##      The peer's poll and the sends, each with its flush, are the server's network time on the
##      main thread (`server_net_us_*`): the flushes put RustENetPeer's end-of-frame send (a
##      deferred call, outside `_process`) inside the timed part, at the price of a datagram
##      more per client and frame (the built-in peer sends in each `put_packet` anyway). All of
##      it together, with the RPC handling, is the server's share of the frame (`server_us_*`).
## After all clients are connected: `warmup` s of traffic (epoch 0), then `seconds` s measured
## (epoch 1), then the clients stop and the server polls until every epoch-1 reliable RPC has
## arrived (at most 3 s). RPCs count when they arrive carrying epoch 1, so delivery fractions are
## exact; rates divide by the measured window. The frame loop is uncapped (Engine.max_fps 0,
## no low-processor sleep, which headless Godot otherwise applies every frame).

const Bench := preload("res://bench/bench_lib.gd")
const Branch := preload("res://tests/lib/branch.gd")
const GameScript := preload("res://bench/bench_game.gd")
const DRAIN_LIMIT_USEC := 3_000_000
## ENetConnection / RustENetConnection.pop_statistic keys.
const SENT_PACKETS := 1
const RECEIVED_PACKETS := 3

var _opt := {
	"peer": "rust", "clients": "32", "seconds": "5", "warmup": "1", "reliable": "4",
	"unreliable": "4", "window": "256", "payload": "32", "timeout": "120", "fps": "0",
	"service_thread": "server",
}
## The kernel's name of a service thread (comm, cut to 15 bytes).
const SERVICE_THREAD_COMM := "rust_enet servi"

## A client's branch, with what it sent: `seq` numbers its RPCs, `rel_sent_total` counts its
## reliable ones.
class Client:
	extends Branch
	var seq := 0
	var rel_sent_total := 0


var _server: Branch
var _clients: Array[Client] = []
var _payload := PackedByteArray()
var _phase := "connect"  # connect, warmup, measure, drain, done
var _phase_start_usec := 0
var _started_usec := 0
var _epoch := 0
var _frame := 0
## The server's service thread's passes when the measured window began.
var _passes_start := 0

# Counters of the measured window.
var _sent_rel := 0
var _sent_unrel := 0
var _sent_state := 0
var _window_usec := 0
var _last_frame_usec := 0
var _frame_usec: PackedInt64Array = []
var _process_usec: PackedInt64Array = []
var _server_usec: PackedInt64Array = []
## The server's peer poll plus its sends (without running the received RPCs), per frame.
var _server_net_usec: PackedInt64Array = []
var _clients_usec: PackedInt64Array = []
var _stats_start := {}
var _stats_end := {}
var _cpu_start := {}
var _cpu_end := {}
var _window_limited_frames := 0


func _ready() -> void:
	var wrong := Bench.parse_options(_opt)
	if not wrong.is_empty():
		_fail(wrong)
		return
	if not _opt.peer in ["rust", "builtin", "memory"]:
		_fail("--peer must be rust, builtin or memory")
		return
	if _opt.peer == "memory" and not ClassDB.class_exists(&"RustENetMemoryPeer"):
		_fail("--peer=memory needs a library built with the bench-ceiling feature (bench/README.md)")
		return
	if not _opt.service_thread in ["server", "all", "off"]:
		_fail("--service_thread must be server, all or off")
		return
	Engine.max_fps = int(_opt.fps)
	OS.low_processor_usage_mode = false
	OS.low_processor_usage_mode_sleep_usec = 0
	get_tree().multiplayer_poll = false
	_payload.resize(int(_opt.payload))
	for i in _payload.size():
		_payload[i] = i & 0xFF
	_started_usec = Time.get_ticks_usec()

	_server = _branch(Branch.new(), "Server", _opt.service_thread != "off")
	var memory: bool = _opt.peer == "memory"
	var err: Error
	if memory:
		err = _server.peer.call(&"create_server")
	else:
		err = _server.peer.call(&"create_server", 0, int(_opt.clients))
	if err != OK:
		_fail("create_server: %s" % error_string(err))
		return
	_server.api.multiplayer_peer = _server.peer
	var port: int = 0 if memory else _server.peer.get(&"host").get_local_port()
	for i in int(_opt.clients):
		var c: Client = _branch(Client.new(), "C%d" % i, _opt.service_thread == "all")
		if memory:
			err = c.peer.call(&"create_client")
		else:
			err = c.peer.call(&"create_client", "127.0.0.1", port)
		if err != OK:
			_fail("create_client: %s" % error_string(err))
			return
		c.api.multiplayer_peer = c.peer
		_clients.append(c)
	_set_phase("connect")


## `branch`, attached under this node with a bench_game.gd node, and given a peer of the chosen
## kind (its service thread on or off).
func _branch(branch: Branch, branch_name: String, service_thread: bool) -> Branch:
	branch.attach(self, branch_name, GameScript.new())
	branch.peer = Bench.make_peer(_opt.peer, service_thread)
	return branch


func _set_phase(phase: String) -> void:
	_phase = phase
	_phase_start_usec = Time.get_ticks_usec()


func _phase_usec() -> int:
	return Time.get_ticks_usec() - _phase_start_usec


func _process(_delta: float) -> void:
	if _phase == "done":
		return
	var now := Time.get_ticks_usec()
	if now - _started_usec > int(_opt.timeout) * 1_000_000:
		_fail("timed out in phase %s after %s s" % [_phase, _opt.timeout])
		return
	var measuring := _phase == "measure"
	if measuring:
		_frame_usec.append(now - _last_frame_usec)
	_last_frame_usec = now
	var sending := _phase == "warmup" or _phase == "measure"

	# 1. Clients.
	var t0 := Time.get_ticks_usec()
	for c in _clients:
		c.api.poll()
		if not sending:
			continue
		var game: Node = c.game
		for i in int(_opt.reliable):
			if c.rel_sent_total - game.acked >= int(_opt.window):
				if measuring:
					_window_limited_frames += 1
				break
			c.seq += 1
			c.rel_sent_total += 1
			game.rel.rpc_id(1, _epoch, c.seq, _payload)
			if measuring:
				_sent_rel += 1
		for i in int(_opt.unreliable):
			c.seq += 1
			game.unrel.rpc_id(1, _epoch, c.seq, _payload)
			if measuring:
				_sent_unrel += 1

	# 2. Server: the peer's own poll and a flush, then SceneMultiplayer's poll (whose call of
	# the peer's poll finds nothing new) running the received RPCs, then the sends and a flush.
	var t1 := Time.get_ticks_usec()
	var api: SceneMultiplayer = _server.api
	# The memory peer (--peer=memory) has no host and nothing to flush.
	var server_host: Object = _server.peer.get(&"host")
	_server.peer.poll()
	if server_host:
		server_host.flush()
	var t1_polled := Time.get_ticks_usec()
	api.poll()
	var t1_handled := Time.get_ticks_usec()
	var sgame: Node = _server.game
	for id in sgame.dirty:
		sgame.ack.rpc_id(id, sgame.rel_total[id])
	sgame.dirty.clear()
	if sending and api.get_peers().size() > 0:
		_frame += 1
		sgame.state.rpc(_epoch, _frame, _payload)
		if measuring:
			_sent_state += api.get_peers().size()
	if server_host:
		server_host.flush()
	var t2 := Time.get_ticks_usec()
	if measuring:
		_clients_usec.append(t1 - t0)
		_server_usec.append(t2 - t1)
		_server_net_usec.append((t1_polled - t1) + (t2 - t1_handled))
		_process_usec.append(t2 - t0)

	match _phase:
		"connect":
			if _all_connected():
				_set_phase("warmup")
		"warmup":
			if _phase_usec() >= int(float(_opt.warmup) * 1e6):
				_epoch = 1
				_stats_start = _host_stats()
				_cpu_start = _thread_cpu()
				_passes_start = _server_thread_passes()
				_set_phase("measure")
				_last_frame_usec = Time.get_ticks_usec()
		"measure":
			if _phase_usec() >= int(float(_opt.seconds) * 1e6):
				_window_usec = _phase_usec()
				_stats_end = _host_stats()
				_cpu_end = _thread_cpu()
				_epoch = 2
				_set_phase("drain")
		"drain":
			if sgame.rel_measured >= _sent_rel or _phase_usec() > DRAIN_LIMIT_USEC:
				_finish()


func _all_connected() -> bool:
	if _server.api.get_peers().size() < _clients.size():
		return false
	for c in _clients:
		if c.peer.get_connection_status() != MultiplayerPeer.CONNECTION_CONNECTED:
			return false
	return true


## Datagrams sent and received by the server's host and by all client hosts together.
func _host_stats() -> Dictionary:
	var out := {"server_out": 0, "server_in": 0, "clients_out": 0, "clients_in": 0}
	# pop_statistic resets the counter, so the first call (at the window's start) clears it.
	var host: Object = _server.peer.get(&"host")
	if not host:
		return out
	out.server_out = host.pop_statistic(SENT_PACKETS)
	out.server_in = host.pop_statistic(RECEIVED_PACKETS)
	for c in _clients:
		var h: Object = c.peer.get(&"host")
		out.clients_out += h.pop_statistic(SENT_PACKETS)
		out.clients_in += h.pop_statistic(RECEIVED_PACKETS)
	return out


## CPU time so far, in ns, of the main thread and of all service threads together, and how many
## service threads run: {"main": ns, "service": ns, "service_threads": n}. Zeros where /proc
## cannot be read.
static func _thread_cpu() -> Dictionary:
	var out := {"main": 0, "service": 0, "service_threads": 0}
	var main_tid := str(OS.get_process_id())
	for tid in DirAccess.get_directories_at("/proc/self/task"):
		var dir := "/proc/self/task/" + tid
		if tid == main_tid:
			out.main = _cpu_ns(dir)
		elif Bench.first_line(dir + "/comm") == SERVICE_THREAD_COMM:
			out.service += _cpu_ns(dir)
			out.service_threads += 1
	return out


## A thread's time on a CPU in ns: schedstat's first field, or stat's utime + stime where the
## kernel keeps no schedstat.
static func _cpu_ns(task_dir: String) -> int:
	var sched := Bench.first_line(task_dir + "/schedstat")
	if not sched.is_empty():
		return int(sched.get_slice(" ", 0))
	return Bench.stat_cpu_ns(task_dir + "/stat")


static func _mean(values: PackedInt64Array) -> float:
	if values.is_empty():
		return 0.0
	var total := 0
	for v in values:
		total += v
	return float(total) / values.size()


## Nearest-rank percentile.
static func _percentile(values: PackedInt64Array, p: float) -> float:
	if values.is_empty():
		return 0.0
	var sorted := values.duplicate()
	sorted.sort()
	var rank := clampi(int(ceil(p / 100.0 * sorted.size())) - 1, 0, sorted.size() - 1)
	return float(sorted[rank])


func _finish() -> void:
	var secs := _window_usec / 1e6
	var sgame: Node = _server.game
	var state_recv := 0
	var acks := 0
	for c in _clients:
		state_recv += c.game.state_measured
		acks += c.game.acks_received
	var rel: int = sgame.rel_measured
	var unrel: int = sgame.unrel_measured
	var server_total := 0
	for v in _server_usec:
		server_total += v
	var cpu_window_ns := maxf(_window_usec * 1000.0, 1.0)
	var service_threads: int = _cpu_end.get("service_threads", 0)
	var service_ns: int = _cpu_end.get("service", 0) - _cpu_start.get("service", 0)
	var result := {
		"scenario": "rpc",
		"peer": _opt.peer,
		"service_thread": _opt.service_thread if _opt.peer == "rust" else "off",
		"clients": _clients.size(),
		"seconds": secs,
		"frames": _frame_usec.size(),
		"fps": _frame_usec.size() / secs,
		"reliable_per_frame": int(_opt.reliable),
		"unreliable_per_frame": int(_opt.unreliable),
		"window": int(_opt.window),
		"payload": int(_opt.payload),
		"rel_sent": _sent_rel,
		"rel_delivered": rel,
		"unrel_sent": _sent_unrel,
		"unrel_delivered": unrel,
		"state_sent": _sent_state,
		"state_delivered": state_recv,
		"rel_per_s": rel / secs,
		"unrel_per_s": unrel / secs,
		"state_per_s": state_recv / secs,
		"rpcs_per_s": (rel + unrel + state_recv) / secs,
		"rel_fraction": float(rel) / maxi(_sent_rel, 1),
		"unrel_fraction": float(unrel) / maxi(_sent_unrel, 1),
		"state_fraction": float(state_recv) / maxi(_sent_state, 1),
		"window_limited_frames": _window_limited_frames,
		"frame_us_mean": _mean(_frame_usec),
		"frame_us_p99": _percentile(_frame_usec, 99),
		"process_us_mean": _mean(_process_usec),
		"process_us_p99": _percentile(_process_usec, 99),
		"server_us_mean": _mean(_server_usec),
		"server_us_p99": _percentile(_server_usec, 99),
		"server_net_us_mean": _mean(_server_net_usec),
		"server_net_us_p99": _percentile(_server_net_usec, 99),
		"clients_us_mean": _mean(_clients_usec),
		"server_us_per_rpc": server_total / float(maxi(rel + unrel, 1)),
		"server_datagrams_out_per_s": _stats_end.server_out / secs,
		"server_datagrams_in_per_s": _stats_end.server_in / secs,
		"clients_datagrams_out_per_s": _stats_end.clients_out / secs,
		"acks_received": acks,
		"main_thread_cpu_pct": 100.0 * (_cpu_end.get("main", 0) - _cpu_start.get("main", 0)) / cpu_window_ns,
		"service_threads": service_threads,
		"service_threads_cpu_pct": 100.0 * service_ns / cpu_window_ns,
		"service_thread_cpu_pct_each": 100.0 * service_ns / cpu_window_ns / maxi(service_threads, 1),
		"server_throttle": _server_throttles(),
	}
	result.merge(_server_thread_figures(secs))
	Bench.print_result(result)
	_shutdown(0)


## The server host's service thread's wakes so far (0 without one).
func _server_thread_passes() -> int:
	var host: Object = _server.peer.get(&"host") if _opt.peer == "rust" else null
	if host == null or not host.has_method(&"get_service_thread_statistics"):
		return 0
	return int(host.call(&"get_service_thread_statistics").get("passes", 0))


## What the server host's service thread did (RustENetPeer with the thread): its wakes per
## second over the measured window, and how long the main thread's calls waited for the host
## while the thread held it, over the whole run (`get_service_thread_statistics`).
func _server_thread_figures(secs: float) -> Dictionary:
	var host: Object = _server.peer.get(&"host") if _opt.peer == "rust" else null
	if host == null or not host.has_method(&"get_service_thread_statistics"):
		return {}
	var stats: Dictionary = host.call(&"get_service_thread_statistics")
	if not stats.get("running", false):
		return {}
	return {
		"service_thread_passes_per_s": (int(stats.passes) - _passes_start) / secs,
		"owner_locks": stats.owner_locks,
		"owner_lock_waits": stats.owner_lock_waits,
		"owner_lock_wait_us_p50": stats.owner_lock_wait_us_p50,
		"owner_lock_wait_us_p99": stats.owner_lock_wait_us_p99,
		"owner_lock_wait_us_p999": stats.owner_lock_wait_us_p999,
		"owner_lock_wait_us_max": stats.owner_lock_wait_us_max,
	}


## The packet throttle (0-32, ENet's share of unreliable packets let through) of each of the
## server's peers at the end, sorted: what decides how many `state` broadcasts leave.
func _server_throttles() -> Array:
	var out := []
	if not _server.peer.has_method(&"get_peer"):
		return out
	for id in _server.api.get_peers():
		var peer: Object = _server.peer.call(&"get_peer", id)
		if peer != null:
			out.append(int(peer.get_statistic(ENetPacketPeer.PEER_PACKET_THROTTLE)))
	out.sort()
	return out


func _fail(why: String) -> void:
	Bench.print_failure("bench_rpc", why)
	_shutdown(1)


func _shutdown(code: int) -> void:
	_phase = "done"
	var all: Array[Branch] = []
	all.append_array(_clients)
	if _server != null:
		all.append(_server)
	for e in all:
		if e.api.multiplayer_peer != null:
			e.api.multiplayer_peer = null
		e.detach()
	_clients.clear()
	_server = null
	get_tree().quit(code)
