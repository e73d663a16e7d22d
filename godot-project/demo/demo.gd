extends Node
## Headless chat demo: one server and any number of clients exchanging RPCs through
## RustENetPeer (or Godot's ENetMultiplayerPeer with --peer=builtin, for comparison).
##
##     godot --headless --path godot-project res://demo/demo.tscn -- --role=server [--port=N]
##     godot --headless --path godot-project res://demo/demo.tscn -- --role=client --port=N --name=Ann
##
## The server relays every chat line to everyone and answers pings; each client says hello,
## pings the server, chats, waits until it has heard from the other clients, then leaves. The
## server quits after `--clients=N` clients (default 2) have come and gone. `./build.sh demo` runs
## all of them. Every process quits with exit code 1 if it does not finish within 30 seconds.

const TIMEOUT_SEC := 30.0
const MESSAGES_PER_CLIENT := 3

var _options := {"role": "server", "port": "0", "name": "client", "peer": "rust", "clients": "2"}
var _peer: MultiplayerPeer
var _names := {}
var _served := 0
var _heard := {}
var _sent := 0
var _ping_sent_usec := 0
var _finished := false


func _ready() -> void:
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--") and "=" in arg:
			var kv := arg.trim_prefix("--").split("=", true, 1)
			_options[kv[0]] = kv[1]
	get_tree().create_timer(TIMEOUT_SEC).timeout.connect(_on_timeout)
	_peer = ClassDB.instantiate(&"RustENetPeer") if _options.peer == "rust" else ENetMultiplayerPeer.new()
	if _options.role == "server":
		_start_server()
	else:
		_start_client()


func _say(text: String) -> void:
	print("[%s] %s" % [_options.name if _options.role == "client" else "server", text])


func _quit(code: int) -> void:
	if _finished:
		return
	_finished = true
	multiplayer.multiplayer_peer = null
	if _peer.get_connection_status() != MultiplayerPeer.CONNECTION_DISCONNECTED:
		_peer.close()
	get_tree().quit(code)


func _on_timeout() -> void:
	_say("FAILED: timed out after %d s" % TIMEOUT_SEC)
	_quit(1)


# --- server ---------------------------------------------------------------------------------

func _start_server() -> void:
	var err: Error = _peer.call(&"create_server", int(_options.port))
	if err != OK:
		_say("FAILED: create_server returned %s" % error_string(err))
		_quit(1)
		return
	multiplayer.multiplayer_peer = _peer
	var port: int = _peer.get(&"host").get_local_port()
	_say("listening on UDP port %d with %s" % [port, _peer.get_class()])
	print("DEMO_PORT %d" % port)
	multiplayer.peer_connected.connect(func(id: int) -> void: _say("peer %d connected" % id))
	multiplayer.peer_disconnected.connect(_on_server_peer_disconnected)


func _on_server_peer_disconnected(id: int) -> void:
	_say("%s (peer %d) left" % [_names.get(id, "?"), id])
	_served += 1
	if _served >= int(_options.clients):
		_say("all %d clients came and went; shutting down" % _served)
		_quit(0)


@rpc("any_peer", "reliable")
func register(client_name: String) -> void:
	var id := multiplayer.get_remote_sender_id()
	_names[id] = client_name
	_say("%s registered as peer %d" % [client_name, id])
	announce.rpc("%s joined" % client_name)


@rpc("any_peer", "reliable")
func chat(text: String) -> void:
	var id := multiplayer.get_remote_sender_id()
	_say("relaying chat from %s: %s" % [_names.get(id, "?"), text])
	announce.rpc("%s says: %s" % [_names.get(id, "?"), text])


@rpc("any_peer", "unreliable")
func ping(sent_usec: int) -> void:
	pong.rpc_id(multiplayer.get_remote_sender_id(), sent_usec)


# --- client ---------------------------------------------------------------------------------

func _start_client() -> void:
	var err: Error = _peer.call(&"create_client", "127.0.0.1", int(_options.port))
	if err != OK:
		_say("FAILED: create_client returned %s" % error_string(err))
		_quit(1)
		return
	multiplayer.multiplayer_peer = _peer
	_say("connecting to 127.0.0.1:%s with %s as peer %d" % [_options.port, _peer.get_class(),
			_peer.get_unique_id()])
	multiplayer.connected_to_server.connect(_on_connected)
	multiplayer.connection_failed.connect(func() -> void:
		_say("FAILED: connection failed")
		_quit(1))
	multiplayer.server_disconnected.connect(func() -> void:
		if not _finished:
			_say("FAILED: the server went away")
			_quit(1))
	multiplayer.peer_connected.connect(func(id: int) -> void:
		if id != 1:
			_say("sees peer %d" % id)
			_maybe_start_chat())


func _on_connected() -> void:
	_say("connected to the server")
	register.rpc_id(1, _options.name)
	_ping_sent_usec = Time.get_ticks_usec()
	ping.rpc_id(1, _ping_sent_usec)
	_maybe_start_chat()


## Chat starts once every other client is connected, so that everyone hears every line.
func _maybe_start_chat() -> void:
	if _sent == 0 and multiplayer.get_peers().size() >= int(_options.clients):
		_send_next()


func _send_next() -> void:
	if _sent >= MESSAGES_PER_CLIENT:
		return
	_sent += 1
	chat.rpc_id(1, "message %d from %s" % [_sent, _options.name])
	get_tree().create_timer(0.2).timeout.connect(_send_next)


@rpc("authority", "reliable")
func announce(text: String) -> void:
	_say("heard: " + text)
	var speaker := text.get_slice(" ", 0)
	if speaker != _options.name and " says: " in text:
		_heard[speaker] = _heard.get(speaker, 0) + 1
	_maybe_leave()


@rpc("authority", "unreliable")
func pong(sent_usec: int) -> void:
	_say("ping round trip %.2f ms" % ((Time.get_ticks_usec() - sent_usec) / 1000.0))


func _maybe_leave() -> void:
	var others := int(_options.clients) - 1
	var everyone_heard := _heard.size() >= others
	for count in _heard.values():
		everyone_heard = everyone_heard and count >= MESSAGES_PER_CLIENT
	if _sent >= MESSAGES_PER_CLIENT and everyone_heard and not _finished:
		_say("heard everyone; leaving")
		# Let the last acknowledgements go out before closing.
		get_tree().create_timer(0.3).timeout.connect(func() -> void: _quit(0))
