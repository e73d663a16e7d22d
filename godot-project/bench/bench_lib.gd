extends RefCounted
## What the benchmark scenes (bench_idle.gd, bench_rpc.gd, bench_stall.gd) share: their options,
## their peers, the lines they print for run_bench.sh and their readings of /proc.

const RESULT_PREFIX := "BENCH_RESULT "


## Reads the `--name=value` user arguments into `options`, whose keys are the known names and
## whose values are the defaults. Returns "" or what is wrong ("unknown option --name").
static func parse_options(options: Dictionary) -> String:
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--") and "=" in arg:
			var kv := arg.trim_prefix("--").split("=", true, 1)
			if not options.has(kv[0]):
				return "unknown option --%s" % kv[0]
			options[kv[0]] = kv[1]
	return ""


## A RustENetPeer (`kind` "rust") with or without its service thread, a RustENetMemoryPeer
## (`kind` "memory", no network; bench-ceiling libraries only), or Godot's built-in
## ENetMultiplayerPeer, which has none.
static func make_peer(kind: String, service_thread: bool) -> MultiplayerPeer:
	if kind == "rust":
		var peer: MultiplayerPeer = ClassDB.instantiate(&"RustENetPeer")
		peer.set(&"use_service_thread", service_thread)
		return peer
	if kind == "memory":
		return ClassDB.instantiate(&"RustENetMemoryPeer")
	return ENetMultiplayerPeer.new()


## Prints `result` as the one `BENCH_RESULT {json}` line run_bench.sh collects.
static func print_result(result: Dictionary) -> void:
	print(RESULT_PREFIX + JSON.stringify(result))


## Says on stderr, and to run_bench.sh as a `BENCH_FAILED` line, why the run of `scene` failed.
static func print_failure(scene: String, why: String) -> void:
	printerr("%s: FAILED: %s" % [scene, why])
	print("BENCH_FAILED %s" % why)


## The first line of a /proc file (their size reads as 0, so whole-file reads return nothing).
static func first_line(path: String) -> String:
	var file := FileAccess.open(path, FileAccess.READ)
	if file == null:
		return ""
	return file.get_line().strip_edges()


## The CPU time in ns that a /proc `stat` file (a process's or a thread's) reports: utime +
## stime, in ticks of 10 ms (Linux's USER_HZ). 0 where it cannot be read.
static func stat_cpu_ns(stat_path: String) -> int:
	# The fields after the command name (which may hold spaces) start at state, field 3.
	var stat := first_line(stat_path)
	var fields := stat.substr(stat.rfind(")") + 2).split(" ")
	if fields.size() < 13:
		return 0
	return (int(fields[11]) + int(fields[12])) * 10_000_000
