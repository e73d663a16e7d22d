extends "res://tests/lib/suite.gd"
## The Rust classes expose every method and constant of the Godot classes they mirror, with the
## same number of arguments and defaults, so scripts written for Godot's ENet classes work.

const PAIRS := [
	[&"ENetMultiplayerPeer", &"RustENetPeer"],
	[&"ENetConnection", &"RustENetConnection"],
	[&"ENetPacketPeer", &"RustENetPacketPeer"],
]


## Known, deliberate differences: "Class.method" -> why.
const KNOWN_DIFFERENCES := {
	"RustENetConnection.dtls_client_setup": "client_options has no default: gdext 0.5 cannot"
			+ " declare object defaults (Godot's default is null, which it then refuses)",
}


static func _methods(cls: StringName) -> Dictionary:
	var out := {}
	for m in ClassDB.class_get_method_list(cls, true):
		out[m["name"]] = [m["args"].size(), m["default_args"].size()]
	return out


func test_methods_match() -> void:
	for pair in PAIRS:
		var godot_methods := _methods(pair[0])
		var rust_methods := _methods(pair[1])
		for name in godot_methods:
			if not rust_methods.has(name):
				fail("%s has no %s()" % [pair[1], name])
			elif "%s.%s" % [pair[1], name] in KNOWN_DIFFERENCES:
				print("    known difference in %s.%s: %s" % [pair[1], name,
						KNOWN_DIFFERENCES["%s.%s" % [pair[1], name]]])
			else:
				check_eq(rust_methods[name], godot_methods[name],
						"%s.%s [argument count, default count]" % [pair[1], name])


func test_constants_match() -> void:
	for pair in PAIRS:
		for name in ClassDB.class_get_integer_constant_list(pair[0], true):
			if not ClassDB.class_has_integer_constant(pair[1], name):
				fail("%s has no constant %s" % [pair[1], name])
			else:
				check_eq(ClassDB.class_get_integer_constant(pair[1], name),
						ClassDB.class_get_integer_constant(pair[0], name), "%s.%s" % [pair[1], name])


func test_host_property() -> void:
	check(&"host" in ClassDB.class_get_property_list(&"RustENetPeer", true).map(
			func(p: Dictionary) -> StringName: return p["name"]), "RustENetPeer has the host property")
