@tool
extends RefCounted
## Moves a project's scripts from Godot's ENet classes to rust_enet's.
##
## A GDExtension class cannot be an `ENetMultiplayerPeer`, so code typed for Godot's classes
## (`var peer: ENetMultiplayerPeer`, `as ENetMultiplayerPeer`, `-> ENetConnection`) does not
## parse, or silently gets null, once it holds a `RustENetPeer`. This renames every use of
## `ENetMultiplayerPeer`, `ENetConnection` and `ENetPacketPeer` in the project's `.gd` files to
## `RustENetPeer`, `RustENetConnection` and `RustENetPacketPeer`, which have the same methods,
## properties, constants and signals. Text in strings and comments is left alone; so are
## `.godot/`, this addon and, unless asked, every other addon under `res://addons/`.
##
## Use it from the editor (Project > Tools > "Migrate to rust_enet...", with the rust_enet
## plugin enabled) or headless:
##     godot --headless --path PROJECT --script res://addons/rust_enet/migrate/migrate_cli.gd \
##         [-- --apply] [--include-addons]
## Without --apply it only lists the changes.

const RENAMES := {
	"ENetMultiplayerPeer": "RustENetPeer",
	"ENetConnection": "RustENetConnection",
	"ENetPacketPeer": "RustENetPacketPeer",
}


## Every change the migration would make below `root` (a res://, user:// or absolute folder):
## dictionaries {path, line (1-based), before, after}, files in sorted order.
static func scan(root: String, include_addons: bool = false) -> Array[Dictionary]:
	var changes: Array[Dictionary] = []
	if not root.ends_with("://"):
		root = root.trim_suffix("/")
	for path in _scripts(root, root, include_addons):
		var text := FileAccess.get_file_as_string(path)
		var lines := text.split("\n")
		for i in lines.size():
			var after := migrate_line(lines[i])
			if after != lines[i]:
				changes.append({"path": path, "line": i + 1, "before": lines[i], "after": after})
	return changes


## Writes `changes` (from `scan`) into their files. Returns OK or the first file error.
static func apply(changes: Array[Dictionary]) -> Error:
	var by_path := {}
	for change in changes:
		by_path.get_or_add(change.path, []).append(change)
	for path: String in by_path:
		var lines := FileAccess.get_file_as_string(path).split("\n")
		for change: Dictionary in by_path[path]:
			var index: int = change.line - 1
			if index >= lines.size() or lines[index] != change.before:
				push_error("rust_enet migration: %s changed since it was scanned; scan again" % path)
				return ERR_FILE_CANT_WRITE
			lines[index] = change.after
		var file := FileAccess.open(path, FileAccess.WRITE)
		if file == null:
			return FileAccess.get_open_error()
		file.store_string("\n".join(lines))
	return OK


## A readable listing of `changes`, one `path:line` with its old and new text each.
static func describe(changes: Array[Dictionary]) -> String:
	var out := PackedStringArray()
	for change in changes:
		out.append("%s:%d\n  - %s\n  + %s" % [change.path, change.line,
				change.before.strip_edges(), change.after.strip_edges()])
	return "\n".join(out)


## `line` with every class name of `RENAMES` used as an identifier (not inside a string, a
## comment or a longer name) replaced.
static func migrate_line(line: String) -> String:
	var out := ""
	var i := 0
	var quote := ""
	while i < line.length():
		var c := line[i]
		if not quote.is_empty():
			out += c
			if c == "\\" and i + 1 < line.length():
				out += line[i + 1]
				i += 2
				continue
			if c == quote:
				quote = ""
			i += 1
			continue
		if c == "#":
			return out + line.substr(i)
		if c == "\"" or c == "'":
			quote = c
			out += c
			i += 1
			continue
		var renamed := false
		if _is_identifier_start(c) and (i == 0 or not _is_identifier_char(line[i - 1])):
			var end := i
			while end < line.length() and _is_identifier_char(line[end]):
				end += 1
			var word := line.substr(i, end - i)
			if RENAMES.has(word):
				out += RENAMES[word]
			else:
				out += word
			i = end
			renamed = true
		if not renamed:
			out += c
			i += 1
	return out


static func _is_identifier_start(c: String) -> bool:
	return c == "_" or (c >= "a" and c <= "z") or (c >= "A" and c <= "Z")


static func _is_identifier_char(c: String) -> bool:
	return _is_identifier_start(c) or (c >= "0" and c <= "9")


## The `.gd` files below `dir`, sorted, without the folders the migration leaves alone.
static func _scripts(root: String, dir: String, include_addons: bool) -> PackedStringArray:
	var out := PackedStringArray()
	var relative := dir.substr(root.length()).trim_prefix("/")
	if relative == ".godot" or relative == "addons/rust_enet" \
			or (relative.begins_with("addons/") and not include_addons):
		return out
	var access := DirAccess.open(dir)
	if access == null:
		return out
	var files := access.get_files()
	files.sort()
	for file in files:
		if file.get_extension() == "gd":
			out.append(dir.path_join(file))
	var dirs := access.get_directories()
	dirs.sort()
	for sub in dirs:
		if not sub.begins_with("."):
			out.append_array(_scripts(root, dir.path_join(sub), include_addons))
	return out
