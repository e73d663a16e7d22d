extends RefCounted
## A noray client for Godot's built-in ENetMultiplayerPeer, written from noray's protocol the way
## netfox.noray works (the reference side of the NAT lab's interop cases): TCP lines to the
## server; the private id sent over UDP from a throwaway socket, whose port ENet then binds; a host
## punching blind with `$rwx` through `ENetConnection.socket_send` (its ENet socket cannot read
## anything else); a joiner shaking hands over a `PacketPeerUDP` before `create_client`.

## Seconds a server answer may take.
const ANSWER_SEC := 5.0

var server_ip := ""
var oid := ""
var pid := ""
## The port the registrar saw, which ENet must bind.
var local_port := -1

var _tcp := StreamPeerTCP.new()
var _pending := ""
var _lines: Array[String] = []
var _tree: SceneTree


func _init(tree: SceneTree) -> void:
	_tree = tree


## Connects and registers (TCP, then UDP). Returns OK or an error.
func register(ip: String, port: int, registrar_port: int = 8809) -> Error:
	server_ip = ip
	if _tcp.connect_to_host(ip, port) != OK:
		return ERR_CANT_CONNECT
	if not await _until(func() -> bool:
			_tcp.poll()
			return _tcp.get_status() == StreamPeerTCP.STATUS_CONNECTED):
		return ERR_CANT_CONNECT
	send_line("register-host")
	if not await _until(func() -> bool: return not pid.is_empty()):
		return ERR_TIMEOUT
	var udp := PacketPeerUDP.new()
	udp.bind(0)
	udp.set_dest_address(ip, registrar_port)
	var deadline := Time.get_ticks_msec() + 8000
	var result := ERR_TIMEOUT
	while Time.get_ticks_msec() < deadline and result == ERR_TIMEOUT:
		udp.put_packet(pid.to_utf8_buffer())
		await _tree.create_timer(0.1).timeout
		while udp.get_available_packet_count() > 0:
			result = OK if udp.get_packet().get_string_from_utf8() == "OK" else FAILED
	local_port = udp.get_local_port()
	udp.close()
	return result


func send_line(line: String) -> void:
	_tcp.put_data((line + "\n").to_utf8_buffer())


## Reads what arrived; `set-oid` and `set-pid` are kept, other lines queued for `next_line`.
func poll() -> void:
	_tcp.poll()
	var available := _tcp.get_available_bytes()
	if available <= 0:
		return
	_pending += _tcp.get_utf8_string(available)
	while _pending.contains("\n"):
		var line := _pending.get_slice("\n", 0)
		_pending = _pending.substr(line.length() + 1)
		if line.begins_with("set-oid "):
			oid = line.substr(8)
		elif line.begins_with("set-pid "):
			pid = line.substr(8)
		elif not line.is_empty():
			_lines.append(line)


## The next other line (`connect ip:port`, `connect-relay port`), or "".
func next_line() -> String:
	poll()
	return "" if _lines.is_empty() else _lines.pop_front()


## Awaits the next line starting with `prefix` (up to ANSWER_SEC); "" on timeout.
func wait_line(prefix: String) -> String:
	var found := [""]  # an array: a lambda captures locals by value
	await _until(func() -> bool:
		var line := next_line()
		if line.begins_with(prefix):
			found[0] = line
		return not found[0].is_empty())
	return found[0]


## Joiner: the handshake of netfox.noray's `PacketHandshake.over_packet_peer` toward
## `address`:`port` from `local_port`: punches every 0.1 s, done once the other side says it read
## ours, for up to 8 s. Returns OK, or ERR_BUSY when something came back but not that, or
## ERR_TIMEOUT.
func handshake(address: String, port: int) -> Error:
	var udp := PacketPeerUDP.new()
	udp.bind(local_port)
	udp.set_dest_address(address, port)
	var read := false
	var done := false
	var deadline := Time.get_ticks_msec() + 8000
	while Time.get_ticks_msec() < deadline and not done:
		while udp.get_available_packet_count() > 0:
			var status := udp.get_packet().get_string_from_ascii()
			read = true
			done = status.contains("r")
		udp.put_packet(("$%sw%s" % ["r" if read else "-", "x" if done else "-"]).to_ascii_buffer())
		await _tree.create_timer(0.1).timeout
	udp.close()
	if done:
		return OK
	return ERR_BUSY if read else ERR_TIMEOUT


func _until(condition: Callable) -> bool:
	var deadline := Time.get_ticks_msec() + int(ANSWER_SEC * 1000)
	while not condition.call():
		if Time.get_ticks_msec() > deadline:
			return false
		await _tree.process_frame
		poll()
	return true
