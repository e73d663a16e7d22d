extends "res://tests/lib/suite.gd"
## The addon loads and RustENetPeer can be used where Godot expects a MultiplayerPeer.


func test_class_is_registered() -> void:
	check(ClassDB.class_exists(&"RustENetPeer"), "ClassDB.class_exists(\"RustENetPeer\")")
	check_eq(ClassDB.get_parent_class(&"RustENetPeer"), &"MultiplayerPeerExtension",
			"parent class of RustENetPeer")
	check(ClassDB.can_instantiate(&"RustENetPeer"), "RustENetPeer can be instantiated")


func test_new_is_a_multiplayer_peer() -> void:
	var peer := RustENetPeer.new()
	check(peer is MultiplayerPeer, "RustENetPeer.new() is a MultiplayerPeer")
	check(peer is RefCounted, "RustENetPeer is reference counted")
	check_eq(peer.get_connection_status(), MultiplayerPeer.CONNECTION_DISCONNECTED,
			"status of a new peer")


func test_can_be_assigned_to_scene_multiplayer() -> void:
	var api := SceneMultiplayer.new()
	var peer := RustENetPeer.new()
	# SceneMultiplayer only accepts a connecting or connected peer; a mesh peer is connected
	# at once and needs no socket.
	check_eq(peer.create_mesh(2), OK, "create_mesh(2)")
	api.multiplayer_peer = peer
	check(api.multiplayer_peer == peer, "SceneMultiplayer.multiplayer_peer holds the RustENetPeer")
	check_eq(api.get_unique_id(), 2, "SceneMultiplayer.get_unique_id()")
	api.multiplayer_peer = null
	peer.close()
	check_eq(peer.get_connection_status(), MultiplayerPeer.CONNECTION_DISCONNECTED,
			"status after close()")
