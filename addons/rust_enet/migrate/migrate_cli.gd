extends SceneTree
## Headless front end of migrate.gd (see there):
##     godot --headless --path PROJECT --script res://addons/rust_enet/migrate/migrate_cli.gd \
##         [-- --apply] [--include-addons]
## Lists every change; with --apply also writes them. Exits 0, or 1 if writing failed.

const Migrate := preload("res://addons/rust_enet/migrate/migrate.gd")


func _init() -> void:
	var args := OS.get_cmdline_user_args()
	var changes := Migrate.scan("res://", "--include-addons" in args)
	if changes.is_empty():
		print("rust_enet migration: nothing to change (no ENetMultiplayerPeer, ENetConnection or ENetPacketPeer in the project's scripts)")
		quit(0)
		return
	print(Migrate.describe(changes))
	if not "--apply" in args:
		print("rust_enet migration: %d line(s) to change; run again with -- --apply to write them" % changes.size())
		quit(0)
		return
	var err := Migrate.apply(changes)
	if err != OK:
		printerr("rust_enet migration: writing failed: %s" % error_string(err))
		quit(1)
		return
	print("rust_enet migration: changed %d line(s)" % changes.size())
	quit(0)
