extends "res://tests/lib/suite.gd"
## The addon's migration tool (addons/rust_enet/migrate/): a project written for Godot's ENet
## classes, copied and migrated, parses and hosts and joins with RustENetPeer.

const Branch := preload("res://tests/lib/branch.gd")
const Migrate := preload("res://addons/rust_enet/migrate/migrate.gd")
const FIXTURE := "res://tests/fixtures/lobby_project"
const COPY := "user://migration_test"


func test_lines_are_renamed_outside_strings_and_comments() -> void:
	var cases := {
		"var peer: ENetMultiplayerPeer = null": "var peer: RustENetPeer = null",
		"peer = ENetMultiplayerPeer.new()  # ENetMultiplayerPeer": "peer = RustENetPeer.new()  # ENetMultiplayerPeer",
		"return (p as ENetMultiplayerPeer).host": "return (p as RustENetPeer).host",
		"func f(c: ENetConnection) -> ENetPacketPeer:": "func f(c: RustENetConnection) -> RustENetPacketPeer:",
		"x.compress(ENetConnection.COMPRESS_ZSTD)": "x.compress(RustENetConnection.COMPRESS_ZSTD)",
		"print(\"ENetConnection\", 'ENetPacketPeer')": "print(\"ENetConnection\", 'ENetPacketPeer')",
		"print(\"a \\\" ENetConnection\")": "print(\"a \\\" ENetConnection\")",
		"var MyENetConnection := RustENetConnection.new()": "var MyENetConnection := RustENetConnection.new()",
		"ENetConnection2.new()": "ENetConnection2.new()",
	}
	for line: String in cases:
		check_eq(Migrate.migrate_line(line), cases[line], "migrate_line(%s)" % line)


## Copies the fixture project to `COPY` (its .gd files and folders).
func _copy_fixture(from: String, to: String) -> bool:
	if not check_eq(DirAccess.make_dir_recursive_absolute(to), OK, "mkdir " + to):
		return false
	var dir := DirAccess.open(from)
	for file in dir.get_files():
		if file.get_extension() == "gd":
			if not check_eq(DirAccess.copy_absolute(from.path_join(file), to.path_join(file)), OK,
					"copy " + file):
				return false
	for sub in dir.get_directories():
		if not await _copy_fixture(from.path_join(sub), to.path_join(sub)):
			return false
	return true


func _remove_tree(path: String) -> void:
	var dir := DirAccess.open(path)
	if dir == null:
		return
	for file in dir.get_files():
		DirAccess.remove_absolute(path.path_join(file))
	for sub in dir.get_directories():
		_remove_tree(path.path_join(sub))
	DirAccess.remove_absolute(path)


func test_migrated_project_parses_and_hosts_and_joins() -> void:
	_remove_tree(COPY)
	if not await _copy_fixture(FIXTURE, COPY):
		return
	var lobby_path := COPY.path_join("lobby.gd")
	var addon_path := COPY.path_join("addons/other_addon/helper.gd")
	var changes := Migrate.scan(COPY)
	var changed_lines := []
	for change in changes:
		check_eq(change.path, lobby_path, "only the project's own script changes")
		changed_lines.append(change.line)
	check_eq(changed_lines, [9, 14, 18, 24, 28, 38, 39, 42, 43], "changed lines of lobby.gd")
	check_eq(Migrate.scan(COPY, true).size(), changes.size() + 1,
			"with include_addons the other addon's line is listed too")
	if not check_eq(Migrate.apply(changes), OK, "apply"):
		return
	check_eq(Migrate.scan(COPY), [] as Array[Dictionary], "nothing left to change after apply")
	var migrated := FileAccess.get_file_as_string(lobby_path)
	check(not "ENetMultiplayerPeer.new()" in migrated, "no ENetMultiplayerPeer.new() left")
	check("# \"ENetMultiplayerPeer\" in a comment stays" in migrated, "comments are kept")
	check("ENetConnection" in FileAccess.get_file_as_string(addon_path),
			"the other addon is left alone")

	var script: GDScript = ResourceLoader.load(lobby_path, "GDScript",
			ResourceLoader.CACHE_MODE_IGNORE)
	if not check(script != null and script.can_instantiate(), "the migrated lobby.gd parses"):
		return
	var server := Branch.new()
	server.attach(self, "MigratedServer", script.new(), "Lobby")
	var client := Branch.new()
	client.attach(self, "MigratedClient", script.new(), "Lobby")
	# The lobby makes its own peer; detach closes it.
	var ok := await _host_and_join(server.game, client.game)
	server.detach()
	client.detach()
	await get_tree().process_frame
	check(ok, "host and join through the migrated lobby")
	_remove_tree(COPY)


func _host_and_join(host: Node, join: Node) -> bool:
	if not check_eq(host.host_game(0), OK, "host_game"):
		return false
	check(host.peer is RustENetPeer, "the migrated lobby hosts with RustENetPeer")
	check(host.enet_host() is RustENetConnection, "its host is a RustENetConnection")
	check_eq(host.describe(), "ENetMultiplayerPeer lobby", "strings are kept")
	if not check_eq(join.join_game("127.0.0.1", host.port()), OK, "join_game"):
		return false
	if not check(await wait_until(func() -> bool:
			return join.multiplayer.multiplayer_peer.get_connection_status() \
					== MultiplayerPeer.CONNECTION_CONNECTED and host.multiplayer.get_peers().size() == 1),
			"the client joins"):
		return false
	check(join.server_link() is RustENetPacketPeer, "server_link() is a RustENetPacketPeer")
	join.register.rpc_id(1, "Ann")
	return check(await wait_until(func() -> bool: return host.players.values() == ["Ann"]),
			"the server gets the client's register RPC")
