@tool
extends EditorPlugin
## Test-only editor plugin of the test project. In an editor started with the user argument
## `--check-class-docs` (see build.sh), it opens the editor's help page of each rust_enet class
## and checks that the page shows every description of `rust/enet-godot/doc_classes/<class>.xml`:
## the class description, and each method, member and constant. It prints one line per class
## and quits the editor with exit code 0 if everything was shown, 1 otherwise. In any other
## editor session it does nothing.

const CLASSES := ["RustENetPeer", "RustENetConnection", "RustENetPacketPeer"]
const DOCS_DIR := "../rust/enet-godot/doc_classes"
## How long to wait for the editor to load its docs and render a page.
const TIMEOUT_MS := 20000


func _enter_tree() -> void:
	if Engine.is_editor_hint() and "--check-class-docs" in OS.get_cmdline_user_args():
		_check.call_deferred()


func _check() -> void:
	var failures := 0
	for class_title in CLASSES:
		failures += await _check_class(class_title)
	print("class docs check: %s" % ("OK" if failures == 0 else "%d failures" % failures))
	get_tree().quit(0 if failures == 0 else 1)


## Returns the number of descriptions of `class_title` missing from its help page.
func _check_class(class_title: String) -> int:
	var expected := _expected_fragments(class_title)
	if expected.is_empty():
		printerr("class docs check: no descriptions read for %s" % class_title)
		return 1
	EditorInterface.get_script_editor().goto_help("class_name:" + class_title)
	var text := ""
	var missing: Array[String] = []
	var deadline := Time.get_ticks_msec() + TIMEOUT_MS
	while true:
		await get_tree().process_frame
		text = _help_page_text(class_title)
		missing.clear()
		for fragment in expected:
			if not text.contains(fragment):
				missing.append(fragment)
		if missing.is_empty() or Time.get_ticks_msec() > deadline:
			break
	print("class docs check: %s: %d of %d descriptions shown" % [class_title, expected.size() - missing.size(), expected.size()])
	for fragment in missing:
		printerr("class docs check: %s: not shown: %s" % [class_title, fragment])
	return missing.size()


## The text of the open help page of `class_title` (an EditorHelp node named after the class),
## or "" while there is none.
func _help_page_text(class_title: String) -> String:
	var editor := EditorInterface.get_script_editor()
	for help in editor.find_children(class_title, "EditorHelp", true, false):
		var text := ""
		for label in help.find_children("*", "RichTextLabel", true, false):
			text += label.get_parsed_text()
		return text
	return ""


## One plain-text fragment (the longest run without BBCode tags or entities) of every non-empty
## description in the class's XML: what the rendered page must contain.
func _expected_fragments(class_title: String) -> Array[String]:
	var path := ProjectSettings.globalize_path("res://").path_join(DOCS_DIR).path_join(class_title + ".xml")
	var parser := XMLParser.new()
	var fragments: Array[String] = []
	if parser.open(path) != OK:
		printerr("class docs check: cannot read %s" % path)
		return fragments
	var tags := RegEx.create_from_string("\\[[^\\]]*\\]|&[a-z]+;|[\"<>]")
	while parser.read() == OK:
		if parser.get_node_type() != XMLParser.NODE_TEXT:
			continue
		var text := parser.get_node_data().strip_edges()
		if text.is_empty():
			continue
		var longest := ""
		for line in text.split("\n"):
			for piece in tags.sub(line, "\n", true).split("\n"):
				if piece.strip_edges().length() > longest.length():
					longest = piece.strip_edges()
		if longest.length() >= 8:
			fragments.append(longest)
	return fragments
