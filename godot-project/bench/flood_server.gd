extends Node
## The handshake-flood run's server on Godot's built-in peer (rust/enet-bench/src/spoof.rs
## starts it as `godot --headless --path godot-project res://bench/flood_server.tscn -- SECONDS`):
## an ENetMultiplayerPeer server for 32 clients that echoes every reliable packet to its sender,
## like the `fanin-server 16` role of rust_enet and C ENet. Prints `PORT <n>` first, then
## `RESULT clients=<n>` and quits after SECONDS or once every client that came has left.

var _peer := ENetMultiplayerPeer.new()
var _deadline_msec := 0
var _connected := 0
var _left := 0


func _ready() -> void:
	var args := OS.get_cmdline_user_args()
	var seconds := float(args[0]) if args.size() > 0 else 60.0
	_deadline_msec = Time.get_ticks_msec() + int(seconds * 1000.0)
	Engine.max_fps = 0
	OS.low_processor_usage_mode = false
	_peer.set_bind_ip("127.0.0.1")
	if _peer.create_server(0, 32) != OK:
		print("RESULT error=create_server")
		get_tree().quit(1)
		return
	_peer.peer_connected.connect(func(_id: int) -> void: _connected += 1)
	_peer.peer_disconnected.connect(func(_id: int) -> void: _left += 1)
	print("PORT %d" % _peer.host.get_local_port())


func _process(_delta: float) -> void:
	_peer.poll()
	while _peer.get_available_packet_count() > 0:
		var from := _peer.get_packet_peer()
		var mode := _peer.get_packet_mode()
		var data := _peer.get_packet()
		if mode == MultiplayerPeer.TRANSFER_MODE_RELIABLE:
			_peer.set_target_peer(from)
			_peer.set_transfer_mode(mode)
			_peer.put_packet(data)
	if Time.get_ticks_msec() > _deadline_msec or (_connected > 0 and _left == _connected):
		print("RESULT clients=%d" % _connected)
		_peer.close()
		get_tree().quit(0)
