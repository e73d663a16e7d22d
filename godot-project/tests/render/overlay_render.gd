extends Node
## Renders the network overlay for real (not headless): a RustENetPeer server and two clients in
## this process, traffic that changes over time (client 2 on a slow, lossy simulated link), the
## overlay of `addons/rust_enet/debug/` on the server's side. Takes two screenshots 1.5 s apart
## into `.godot/render/`, checks that they are not blank and that they differ, and prints one
## `RENDER_RESULT {json}` line. Run by `./build.sh test` under Xvfb with the OpenGL renderer:
##
##     xvfb-run godot --path godot-project --rendering-driver opengl3 res://tests/render/overlay_render.tscn

const Overlay := preload("res://addons/rust_enet/debug/network_overlay.tscn")
const OUT := "res://.godot/render"

var _server: Dictionary
var _clients: Array[Dictionary] = []
var _frame := 0
var _started := 0
var _shots: Array[Image] = []
var _shooting := false
var _done := false


func _branch(branch_name: String) -> Dictionary:
	var root := Node.new()
	root.name = branch_name
	add_child(root)
	var api := SceneMultiplayer.new()
	get_tree().set_multiplayer(api, root.get_path())
	return {"root": root, "api": api, "peer": ClassDB.instantiate(&"RustENetPeer")}


func _ready() -> void:
	get_tree().create_timer(30.0).timeout.connect(func() -> void: _finish({"error": "timeout"}))
	RenderingServer.set_default_clear_color(Color(0.12, 0.12, 0.16))
	_server = _branch("Server")
	_server.peer.call(&"create_server", 0)
	_server.api.multiplayer_peer = _server.peer
	var port: int = _server.peer.get(&"host").get_local_port()
	for i in 2:
		var c := _branch("C%d" % i)
		if i == 1:
			c.peer.call(&"set_link_simulation", {"latency_ms": 40, "jitter_ms": 20,
					"loss_percent": 8})
		c.peer.call(&"create_client", "127.0.0.1", port)
		c.api.multiplayer_peer = c.peer
		_clients.append(c)
	var overlay: Control = Overlay.instantiate()
	# Fast samples, so the graphs fill their width within the few seconds this runs.
	overlay.set(&"sample_sec", 0.05)
	overlay.set(&"history", 80)
	_server.root.add_child(overlay)
	_started = Time.get_ticks_msec()


func _process(_delta: float) -> void:
	if _done:
		return
	_frame += 1
	var elapsed := Time.get_ticks_msec() - _started
	# Traffic rises and falls, so the graphs move.
	var burst := int(20 + 15 * sin(elapsed / 300.0))
	for c in _clients:
		if c.peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED:
			for i in burst:
				c.api.send_bytes(PackedByteArray([1, 2, 3, 4, 5, 6, 7, 8]).duplicate(), 1,
						MultiplayerPeer.TRANSFER_MODE_RELIABLE)
	if _server.api.get_peers().size() == 2:
		_server.api.send_bytes(PackedByteArray([9, 9, 9, 9]), 0, MultiplayerPeer.TRANSFER_MODE_RELIABLE)
	var due := (elapsed > 2500 and _shots.size() == 0) or (elapsed > 4000 and _shots.size() == 1)
	if due and not _shooting:
		_shooting = true
		await RenderingServer.frame_post_draw
		_shots.append(get_viewport().get_texture().get_image())
		_shooting = false
		if _shots.size() == 2:
			_finish(_check())


func _check() -> Dictionary:
	DirAccess.make_dir_recursive_absolute(ProjectSettings.globalize_path(OUT))
	var result := {"renderer": RenderingServer.get_current_rendering_driver_name(),
			"size": [_shots[0].get_width(), _shots[0].get_height()]}
	for i in 2:
		_shots[i].save_png(OUT + "/overlay_%d.png" % i)
	# The clear colour as rendered (the overlay sits in the top-left corner).
	var background := _shots[0].get_pixel(_shots[0].get_width() - 1, _shots[0].get_height() - 1)
	var drawn := 0
	var changed := 0
	var colors := {}
	var w := _shots[0].get_width()
	var h := _shots[0].get_height()
	for y in range(0, h, 2):
		for x in range(0, w, 2):
			var a := _shots[0].get_pixel(x, y)
			var b := _shots[1].get_pixel(x, y)
			if not a.is_equal_approx(background):
				drawn += 1
			if not a.is_equal_approx(b):
				changed += 1
			colors[a.to_rgba32()] = true
	result["drawn_pixels"] = drawn
	result["changed_pixels"] = changed
	result["colors"] = colors.size()
	result["ok"] = drawn > 2000 and changed > 200 and colors.size() > 8
	return result


func _finish(result: Dictionary) -> void:
	if _done:
		return
	_done = true
	print("RENDER_RESULT " + JSON.stringify(result))
	for c in _clients + [_server]:
		c.peer.close()
		get_tree().set_multiplayer(null, c.root.get_path())
	get_tree().quit(0 if result.get("ok", false) else 1)
