extends Control
## Live network graphs for a game using RustENetPeer: drop `network_overlay.tscn` into a scene
## (or `add_child(preload("res://addons/rust_enet/debug/network_overlay.tscn").instantiate())`).
##
## It reads the `RustENetPeer` of its own `multiplayer` (or `peer`, when set) every `sample_sec`
## seconds and draws, for the last `history` samples: the traffic of all its hosts (KiB/s up and
## down, wire bytes as they cross the socket), and for each remote peer its round trip (ms) and
## packet loss (%), and its path (direct or relay) when it came through a rendezvous server.
## Nothing is drawn while no RustENetPeer is active. Toggle with `visible`.

## The peer to show; null uses `multiplayer.multiplayer_peer`.
var peer: MultiplayerPeer
## Seconds between samples.
@export var sample_sec := 0.25
## Samples each graph keeps.
@export var history := 120
## At most this many remote peers get a graph (the busiest first).
@export var max_peer_graphs := 4

const GRAPH_H := 70.0
const PAD := 8.0
const UP_COLOR := Color(0.35, 0.8, 1.0)
const DOWN_COLOR := Color(1.0, 0.65, 0.25)
const RTT_COLOR := Color(0.45, 1.0, 0.45)
const LOSS_COLOR := Color(1.0, 0.35, 0.35)
const BACK := Color(0, 0, 0, 0.6)

var _up: PackedFloat32Array = []
var _down: PackedFloat32Array = []
var _rtt := {}   # peer id -> PackedFloat32Array
var _loss := {}  # peer id -> PackedFloat32Array
var _path := {}  # peer id -> "direct", "relay" or ""
var _last := {}
var _clock := 0.0


func _ready() -> void:
	mouse_filter = Control.MOUSE_FILTER_IGNORE
	custom_minimum_size = Vector2(360, GRAPH_H + PAD * 2)


func _active_peer() -> Object:
	var p: Object = peer if peer != null else multiplayer.multiplayer_peer
	if p == null or not p.is_class("RustENetPeer"):
		return null
	if p.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED:
		return null
	return p


func _process(delta: float) -> void:
	_clock += delta
	if _clock < sample_sec:
		return
	_clock = 0.0
	var p := _active_peer()
	if p == null:
		return
	_last = p.call(&"get_statistics")
	_push(_up, _last.get("bytes_sent_per_sec", 0.0) / 1024.0)
	_push(_down, _last.get("bytes_received_per_sec", 0.0) / 1024.0)
	var ids := Array(multiplayer.get_peers())
	if ids.is_empty() and p.call(&"get_unique_id") != 1:
		ids = [1]
	for id in ids:
		var pp: Object = p.call(&"get_peer", id)
		if pp == null:
			continue
		var s: Dictionary = pp.call(&"get_statistics")
		if not _rtt.has(id):
			_rtt[id] = PackedFloat32Array()
			_loss[id] = PackedFloat32Array()
		_push(_rtt[id], s.get("rtt_ms", 0.0))
		_push(_loss[id], s.get("loss_percent", 0.0))
		_path[id] = p.call(&"get_peer_path", id)
	for id in _rtt.keys():
		if not id in ids:
			_rtt.erase(id)
			_loss.erase(id)
			_path.erase(id)
	var rows := 1 + mini(_rtt.size(), max_peer_graphs)
	custom_minimum_size = Vector2(360, rows * (GRAPH_H + PAD) + PAD)
	size = custom_minimum_size
	queue_redraw()


func _push(series: PackedFloat32Array, value: float) -> void:
	series.append(value)
	if series.size() > history:
		series.remove_at(0)


func _draw() -> void:
	if _up.is_empty():
		return
	var font := ThemeDB.fallback_font
	var width := size.x - PAD * 2
	draw_rect(Rect2(Vector2.ZERO, size), BACK)
	var top := PAD
	_graph(Rect2(PAD, top, width, GRAPH_H), [[_up, UP_COLOR], [_down, DOWN_COLOR]])
	draw_string(font, Vector2(PAD + 4, top + 14), "up %.1f KiB/s  down %.1f KiB/s  peers %d" % [
			_up[-1], _down[-1], int(_last.get("peers", 0))], HORIZONTAL_ALIGNMENT_LEFT, -1, 13)
	var shown := 0
	for id in _rtt:
		if shown >= max_peer_graphs:
			break
		top += GRAPH_H + PAD
		var rtt: PackedFloat32Array = _rtt[id]
		var loss: PackedFloat32Array = _loss[id]
		_graph(Rect2(PAD, top, width, GRAPH_H), [[rtt, RTT_COLOR], [loss, LOSS_COLOR]])
		var path: String = _path.get(id, "")
		var via := "" if path.is_empty() else "  (%s)" % path
		draw_string(font, Vector2(PAD + 4, top + 14), "peer %d%s  rtt %.0f ms  loss %.1f%%" % [
				id, via, rtt[-1], loss[-1]], HORIZONTAL_ALIGNMENT_LEFT, -1, 13)
		shown += 1


## One graph: every series scaled to the largest value among them.
func _graph(rect: Rect2, series: Array) -> void:
	draw_rect(rect, Color(1, 1, 1, 0.08))
	var top := 1.0
	for pair in series:
		for v in pair[0]:
			top = maxf(top, v)
	for pair in series:
		var values: PackedFloat32Array = pair[0]
		if values.size() < 2:
			continue
		var points := PackedVector2Array()
		for i in values.size():
			var x := rect.position.x + rect.size.x * i / float(history - 1)
			var y := rect.end.y - rect.size.y * 0.85 * values[i] / top
			points.append(Vector2(x, y))
		draw_polyline(points, pair[1], 2.0, true)
