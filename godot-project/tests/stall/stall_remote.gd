extends "res://tests/stall/stall_party.gd"
## The second process of a stall scenario (`res://tests/test_stalls.gd`):
##
##     godot --headless --path godot-project res://tests/stall/stall_remote.tscn -- \
##         --servers=KIND:PORT,... | --clients=KIND:PORT,... --stop=FILE --out=FILE
##
## Runs the servers or clients (KIND is builtin or rust) and their RPCs until FILE (`--stop`)
## appears, then stops sending, lets the last RPCs arrive for 1.5 s, writes every member's report
## as JSON to `--out` and quits. Gives up after 5 minutes.

const DRAIN_MSEC := 1500
const GIVE_UP_MSEC := 300000

var _stop_path := ""
var _out_path := ""
var _stopped_at := -1


func _ready() -> void:
	for arg in OS.get_cmdline_user_args():
		var value := arg.get_slice("=", 1)
		if arg.begins_with("--servers=") or arg.begins_with("--clients="):
			for spec in value.split(",", false):
				var kind := spec.get_slice(":", 0)
				var port := int(spec.get_slice(":", 1))
				if arg.begins_with("--servers="):
					add_server(kind, port)
				else:
					add_client(kind, port)
		elif arg.begins_with("--stop="):
			_stop_path = value
		elif arg.begins_with("--out="):
			_out_path = value


func _process(delta: float) -> void:
	super(delta)
	var now := Time.get_ticks_msec()
	if _stopped_at < 0 and (FileAccess.file_exists(_stop_path) or now > GIVE_UP_MSEC):
		sending = false
		_stopped_at = now
	if _stopped_at >= 0 and now - _stopped_at > DRAIN_MSEC:
		var reports := []
		for m in members:
			reports.append(m.report())
		var file := FileAccess.open(_out_path, FileAccess.WRITE)
		file.store_string(JSON.stringify(reports))
		file.close()
		close_all()
		set_process(false)
		get_tree().quit.call_deferred()
