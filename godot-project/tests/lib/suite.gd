extends Node
## Base of every test suite.
##
## A suite is a script `res://tests/test_*.gd` that extends this file by path
## (`extends "res://tests/lib/suite.gd"`; no `class_name`, so no editor import is needed).
## Each method whose name starts with `test_` is a case. The runner makes a fresh instance for
## every case, adds it to the scene tree, calls `before_each`, the case and `after_each`, and
## awaits each of them, so cases may `await` (network cases do).
## A case passes when it returns without recording a failure, within `case_timeout_sec`, and
## without a script error.

## Seconds a single case may take before the runner marks it as failed.
var case_timeout_sec := 30.0

var _failures := PackedStringArray()


## Called before each case; may be a coroutine.
func before_each() -> void:
	pass


## Called after each case that finished in time; may be a coroutine.
func after_each() -> void:
	pass


## Records a failure unless `condition` holds. Returns `condition`.
func check(condition: bool, what: String) -> bool:
	if not condition:
		_failures.append(what)
	return condition


## Records a failure unless `actual == expected` (same Variant type and value).
func check_eq(actual: Variant, expected: Variant, what: String) -> bool:
	if typeof(actual) == typeof(expected) and actual == expected:
		return true
	_failures.append("%s: expected %s, got %s" % [what, var_to_str(expected), var_to_str(actual)])
	return false


## Records a failure unconditionally.
func fail(what: String) -> void:
	_failures.append(what)


## Awaits frames until `condition.call()` is true. Returns false on timeout.
func wait_until(condition: Callable, timeout_sec: float = 10.0) -> bool:
	return await frames_until(get_tree(), condition, timeout_sec)


## `wait_until` for code outside a suite (tests/stall/stall_party.gd): awaits `tree`'s frames.
static func frames_until(tree: SceneTree, condition: Callable, timeout_sec: float) -> bool:
	var deadline := Time.get_ticks_msec() + int(timeout_sec * 1000.0)
	while not condition.call():
		if Time.get_ticks_msec() > deadline:
			return false
		await tree.process_frame
	return true


## Awaits `count` process frames.
func wait_frames(count: int) -> void:
	for i in count:
		await get_tree().process_frame
