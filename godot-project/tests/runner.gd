extends Node
## Headless test runner, the main scene of this project.
##
##     godot --headless --path godot-project [-- FILTER...]
##
## Runs every `res://tests/test_*.gd` suite (see `lib/suite.gd`), or only the cases whose
## `file::case` name contains one of the FILTER arguments (arguments starting with `--` are
## options that suites read themselves; `--service-thread=off` makes new RustENetPeers service
## their hosts in `poll` only, through the `network/rust_enet/use_service_thread` setting).
## Prints one line per case and a final
## `N passed, N failed` line, then quits with exit code 1 if anything failed. It also fails when
## the rust_enet GDExtension is not loaded, when a suite does not load (parse error), when a
## case raises a script error (detected here on Godot 4.5+; build.sh also scans the log) and
## when a case leaves orphan nodes behind. Objects still alive at exit are reported by Godot only
## after the runner has quit; build.sh fails the run on that report.

const TESTS_DIR := "res://tests"
const EXTENSION_PATH := "res://addons/rust_enet/rust_enet.gdextension"

var _passed := 0
var _failed := 0
var _errors: Object = null


func _ready() -> void:
	_run.call_deferred()


func _run() -> void:
	var filters := OS.get_cmdline_user_args()
	if ClassDB.class_exists(&"Logger"):
		_errors = load("res://tests/lib/error_capture.gd").new()
		OS.call(&"add_logger", _errors)
	print("rust_enet test runner on Godot %s" % Engine.get_version_info().string)
	if "--service-thread=off" in filters:
		ProjectSettings.set_setting("network/rust_enet/use_service_thread", false)
		print("RustENetPeer.use_service_thread is off (--service-thread=off)")

	var loaded := GDExtensionManager.get_loaded_extensions()
	_record("runner::extension_loaded", EXTENSION_PATH in loaded,
			"%s is not loaded (loaded: %s); see the errors above" % [EXTENSION_PATH, loaded], 0)

	for path in _suite_paths():
		await _run_suite(path, filters)

	print("%d passed, %d failed" % [_passed, _failed])
	if _errors != null:
		OS.call(&"remove_logger", _errors)
		_errors = null
	get_tree().quit(1 if _failed > 0 else 0)


func _suite_paths() -> PackedStringArray:
	var paths := PackedStringArray()
	for file in DirAccess.get_files_at(TESTS_DIR):
		if file.begins_with("test_") and file.ends_with(".gd"):
			paths.append(TESTS_DIR.path_join(file))
	paths.sort()
	return paths


func _selected(name: String, filters: PackedStringArray) -> bool:
	if filters.is_empty():
		return true
	var any_filter := false
	for f in filters:
		if f.begins_with("--"):
			continue  # an option for the suites, e.g. --pairings=...
		any_filter = true
		if name.contains(f):
			return true
	return not any_filter


## Whether a FILTER names this suite or one of its cases, so that a suite that does not load
## fails a run that asked for it (`test_x::` or `test_x::test_y` too, not only `test_x`).
func _suite_selected(suite_name: String, filters: PackedStringArray) -> bool:
	if _selected(suite_name, filters):
		return true
	for f in filters:
		if not f.begins_with("--") and ((suite_name + "::").contains(f)
				or f.begins_with(suite_name + "::")):
			return true
	return false


func _run_suite(path: String, filters: PackedStringArray) -> void:
	var suite_name := path.get_file().get_basename()
	var script := ResourceLoader.load(path, "", ResourceLoader.CACHE_MODE_IGNORE) as Script
	if script == null or not script.can_instantiate():
		if _suite_selected(suite_name, filters):
			_record(suite_name + "::<load>", false, "suite script failed to load (parse error?)", 0)
		return
	var cases := PackedStringArray()
	for method in script.get_script_method_list():
		var name: String = method["name"]
		if name.begins_with("test_") and not name in cases \
				and _selected(suite_name + "::" + name, filters):
			cases.append(name)
	for case_name in cases:
		await _run_case(script, suite_name + "::" + case_name, case_name)


func _run_case(script: Script, full_name: String, case_name: String) -> void:
	var orphans_before := Performance.get_monitor(Performance.OBJECT_ORPHAN_NODE_COUNT)
	var suite: Node = script.new()
	add_child(suite)
	var errors_before := _script_error_count()
	var started := Time.get_ticks_msec()
	var state := {"done": false}
	var body := func() -> void:
		await suite.before_each()
		await suite.call(case_name)
		await suite.after_each()
		state["done"] = true
	body.call()

	var deadline := started + int(suite.case_timeout_sec * 1000.0)
	var problem := ""
	while not state["done"]:
		if _script_error_count() > errors_before:
			problem = "script error"
			break
		if Time.get_ticks_msec() > deadline:
			problem = "timed out after %.1f s" % suite.case_timeout_sec
			break
		await get_tree().process_frame

	var messages: PackedStringArray = suite._failures.duplicate()
	if _script_error_count() > errors_before:
		messages.append_array(_errors.since(errors_before))
	elif not problem.is_empty():
		messages.append(problem)
	var msec := Time.get_ticks_msec() - started
	remove_child(suite)
	suite.queue_free()
	await get_tree().process_frame
	# Leaked nodes show up here; leaked RefCounted cycles only in Godot's report at exit, which
	# build.sh checks.
	var orphans := Performance.get_monitor(Performance.OBJECT_ORPHAN_NODE_COUNT) - orphans_before
	if orphans > 0:
		messages.append("leaked %d orphan node(s)" % orphans)
	_record(full_name, messages.is_empty(), "; ".join(messages), msec)


func _script_error_count() -> int:
	return _errors.count() if _errors != null else 0


func _record(name: String, ok: bool, message: String, msec: int) -> void:
	if ok:
		_passed += 1
		print("PASS %s (%d ms)" % [name, msec])
	else:
		_failed += 1
		print("FAIL %s (%d ms): %s" % [name, msec, message])
