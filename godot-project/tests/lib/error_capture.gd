extends Logger
## Counts script errors while the runner is active (Godot 4.5+ `Logger` API), so that a case that
## hits a GDScript runtime error fails at once with the error text instead of timing out.
## Loaded only when `ClassDB.class_exists("Logger")`, so the runner still parses on Godot 4.2.

var _mutex := Mutex.new()
var _script_errors := PackedStringArray()


func _log_error(function: String, file: String, line: int, code: String, rationale: String,
		_editor_notify: bool, error_type: int, _script_backtraces: Array) -> void:
	if error_type != ERROR_TYPE_SCRIPT:
		return
	var text := rationale if not rationale.is_empty() else code
	_mutex.lock()
	_script_errors.append("%s (%s:%d in %s)" % [text, file, line, function])
	_mutex.unlock()


func _log_message(_message: String, _error: bool) -> void:
	pass


## Number of script errors seen so far.
func count() -> int:
	_mutex.lock()
	var n := _script_errors.size()
	_mutex.unlock()
	return n


## Script errors seen since the `from`-th one.
func since(from: int) -> PackedStringArray:
	_mutex.lock()
	var out := _script_errors.slice(from)
	_mutex.unlock()
	return out
