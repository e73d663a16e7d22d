extends Node
## Benchmark: what an idle connection costs a game. One side of a connection (`--role=server` or
## `client`) in a 60 fps game loop (`Engine.max_fps = 60`, as the issue that asked for it
## measured), with its peer as the `multiplayer_peer` of the scene tree, sending nothing. Once
## connected and settled, the whole process's CPU time (every thread: /proc/self/stat) and its
## context switches (voluntary and involuntary, summed over /proc/self/task/*/status) are read
## over `seconds`. Run a server and a client as two processes at once (run_bench.sh does). Prints
## one `BENCH_RESULT {json}` line and quits. Nothing is asserted.
##
##     godot --headless --path godot-project res://bench/bench_idle.tscn -- --role=server|client
##         --peer=rust|builtin [--port=7400] [--seconds=20] [--settle=2] [--fps=60]
##         [--service_thread=on|off]

const Bench := preload("res://bench/bench_lib.gd")
## Give up if the other side never connects.
const CONNECT_LIMIT_MSEC := 20_000

var _opt := {
	"role": "server", "peer": "rust", "port": "7400", "seconds": "20", "settle": "2", "fps": "60",
	"service_thread": "on",
}
var _peer: MultiplayerPeer
var _phase := "connect"  # connect, settle, measure
var _phase_start_msec := 0
var _start := {}
var _frames := 0


func _ready() -> void:
	var wrong := Bench.parse_options(_opt)
	if not wrong.is_empty():
		_fail(wrong)
		return
	Engine.max_fps = int(_opt.fps)
	_peer = Bench.make_peer(_opt.peer, _opt.service_thread == "on")
	var err: Error
	if _opt.role == "server":
		_peer.call(&"set_bind_ip", "127.0.0.1")
		err = _peer.call(&"create_server", int(_opt.port), 1)
	else:
		err = _peer.call(&"create_client", "127.0.0.1", int(_opt.port))
	if err != OK:
		_fail("create_%s failed: %s" % [_opt.role, error_string(err)])
		return
	multiplayer.multiplayer_peer = _peer
	_phase_start_msec = Time.get_ticks_msec()


func _process(_delta: float) -> void:
	_frames += 1
	var elapsed := Time.get_ticks_msec() - _phase_start_msec
	match _phase:
		"connect":
			if _connected():
				_next_phase("settle")
			elif elapsed > CONNECT_LIMIT_MSEC:
				_fail("the other side never connected")
		"settle":
			if elapsed >= int(float(_opt.settle) * 1000):
				_start = _process_figures()
				_frames = 0
				_next_phase("measure")
		"measure":
			if elapsed >= int(float(_opt.seconds) * 1000):
				_finish(_process_figures(), elapsed / 1000.0)


func _connected() -> bool:
	if _opt.role == "server":
		return multiplayer.get_peers().size() > 0
	return _peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED


func _next_phase(phase: String) -> void:
	_phase = phase
	_phase_start_msec = Time.get_ticks_msec()


func _finish(end: Dictionary, secs: float) -> void:
	var cpu_ns: int = end.cpu_ns - _start.cpu_ns
	var result := {
		"scenario": "idle",
		"role": _opt.role,
		"peer": _opt.peer,
		"service_thread": _opt.service_thread if _opt.peer == "rust" else "off",
		"seconds": secs,
		"fps": _frames / secs,
		"cpu_pct": 100.0 * cpu_ns / (secs * 1e9),
		"switches_per_s": (end.switches - _start.switches) / secs,
		"voluntary_per_s": (end.voluntary - _start.voluntary) / secs,
		"threads": end.threads,
	}
	Bench.print_result(result)
	_quit()


## The process's CPU time (all threads, /proc/self/stat's utime + stime in 10 ms ticks) and its
## threads' context switches.
static func _process_figures() -> Dictionary:
	var out := {"cpu_ns": Bench.stat_cpu_ns("/proc/self/stat"), "switches": 0, "voluntary": 0,
		"threads": 0}
	for tid in DirAccess.get_directories_at("/proc/self/task"):
		var file := FileAccess.open("/proc/self/task/%s/status" % tid, FileAccess.READ)
		if file == null:
			continue
		out.threads += 1
		while not file.eof_reached():
			var line := file.get_line()
			if line.ends_with("ctxt_switches:") or not "ctxt_switches:" in line:
				continue
			var count := int(line.get_slice(":", 1).strip_edges())
			out.switches += count
			if line.begins_with("voluntary"):
				out.voluntary += count
	return out


func _fail(message: String) -> void:
	printerr("bench_idle: " + message)
	_quit(1)


func _quit(code := 0) -> void:
	if _peer != null:
		multiplayer.multiplayer_peer = null
		_peer.close()
	get_tree().quit(code)
