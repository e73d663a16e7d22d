extends Node
## The node both ends of a scenario share (same path under each multiplayer root). Every RPC
## appends a line to `trace` with the sender's id translated by `names` into a stable label, so
## traces of different runs (random client ids) can be compared.

var trace: Array[String] = []
var names: Dictionary = {}
var side := ""


func _label(id: int) -> String:
	return names.get(id, "id%d" % id)


func note(line: String) -> void:
	trace.append("%s: %s" % [side, line])


@rpc("any_peer", "call_remote", "reliable")
func hello(text: String) -> void:
	note("hello(%s) from %s" % [text, _label(multiplayer.get_remote_sender_id())])


@rpc("any_peer", "call_remote", "unreliable_ordered", 2)
func tick(n: int) -> void:
	note("tick(%d) from %s on channel 2" % [n, _label(multiplayer.get_remote_sender_id())])


@rpc("any_peer", "call_remote", "unreliable")
func datagram(n: int) -> void:
	note("datagram(%d) from %s" % [n, _label(multiplayer.get_remote_sender_id())])


@rpc("any_peer", "call_remote", "reliable", 1)
func blob(data: PackedByteArray) -> void:
	note("blob(%d bytes, sha256 %s) from %s" % [data.size(), _sha(data),
			_label(multiplayer.get_remote_sender_id())])


@rpc("any_peer", "call_remote", "unreliable", 4)
func unreliable_blob(data: PackedByteArray) -> void:
	note("unreliable_blob(%d bytes, sha256 %s) from %s" % [data.size(), _sha(data),
			_label(multiplayer.get_remote_sender_id())])


static func _sha(data: PackedByteArray) -> String:
	var ctx := HashingContext.new()
	ctx.start(HashingContext.HASH_SHA256)
	ctx.update(data)
	return ctx.finish().hex_encode().substr(0, 16)


## Numbered streams for the lossy-link scenario (kept out of `trace`).
var reliable_numbers: Array[int] = []
var ordered_numbers: Array[int] = []


@rpc("any_peer", "call_remote", "reliable")
func numbered(n: int) -> void:
	reliable_numbers.append(n)


@rpc("any_peer", "call_remote", "unreliable_ordered", 3)
func numbered_ordered(n: int) -> void:
	ordered_numbers.append(n)


var payload_count := 0


@rpc("any_peer", "call_remote", "reliable")
func payload(_data: PackedByteArray) -> void:
	payload_count += 1
