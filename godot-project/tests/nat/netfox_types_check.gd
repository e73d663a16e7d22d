extends SceneTree
## Does netfox.noray's PacketHandshake take rust_enet's classes? Run by
## tests/real_projects/netfox_noray.sh in its project copies (netfox.noray as netfox ships it,
## and after rust_enet's migration tool), headless:
##     godot --headless --path COPY --script res://tests/nat/netfox_types_check.gd
## Calls `over_enet(connection: ENetConnection, ...)` and `over_enet_peer(peer:
## ENetMultiplayerPeer, ...)` (a zero timeout: one `$rwx` datagram to 127.0.0.1:9) with a
## RustENetConnection / RustENetPeer and with Godot's classes, and prints one line each:
## `TYPES <method> <class>: accepted` or `rejected` (a typed parameter refuses the object: the
## call fails with "Invalid type in function" and returns nothing). The classes are named in
## strings, so that the migration tool leaves this file as it is.

const HANDSHAKE_PATH := "res://addons/netfox.noray/packet-handshake.gd"


func _initialize() -> void:
	_run.call_deferred()


func _run() -> void:
	if not ResourceLoader.exists(HANDSHAKE_PATH):
		printerr("no netfox.noray in this project")
		quit(2)
		return
	var handshake: Node = load(HANDSHAKE_PATH).new()
	root.add_child(handshake)
	var port := 27000 + randi() % 1000
	for class_name_ in [&"RustENetPeer", &"ENetMultiplayerPeer"]:
		var peer: MultiplayerPeer = ClassDB.instantiate(class_name_)
		var err: Error = peer.call(&"create_server", port)
		port += 1
		if err != OK:
			print("TYPES %s.create_server: %s" % [class_name_, error_string(err)])
			continue
		var connection: Object = peer.get(&"host")
		var result = await _over_enet(handshake, connection)
		print("TYPES over_enet(%s): %s" % [connection.get_class(), _verdict(result)])
		result = await _over_enet_peer(handshake, peer)
		print("TYPES over_enet_peer(%s): %s" % [class_name_, _verdict(result)])
		peer.close()
	handshake.queue_free()
	quit(0)


func _verdict(result: Variant) -> String:
	return "accepted" if result is int and result == OK else "rejected (%s)" % str(result)


# Each call in a function of its own: a refused argument ends the calling function.
func _over_enet(handshake: Node, connection: Object) -> Variant:
	return await handshake.over_enet(connection, "127.0.0.1", 9, 0.0, 0.01)


func _over_enet_peer(handshake: Node, peer: Object) -> Variant:
	return await handshake.over_enet_peer(peer, "127.0.0.1", 9, 0.0, 0.01)
