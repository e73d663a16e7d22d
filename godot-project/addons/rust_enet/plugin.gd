@tool
extends EditorPlugin
## Adds Project > Tools > "Migrate to rust_enet...": lists what migrate/migrate.gd would change
## in the project's scripts and applies it when confirmed.

const Migrate := preload("res://addons/rust_enet/migrate/migrate.gd")
const MENU_ITEM := "Migrate to rust_enet..."

var _dialog: ConfirmationDialog
var _listing: TextEdit
var _include_addons: CheckBox
var _changes: Array[Dictionary] = []


func _enter_tree() -> void:
	add_tool_menu_item(MENU_ITEM, _open)


func _exit_tree() -> void:
	remove_tool_menu_item(MENU_ITEM)
	if _dialog != null:
		_dialog.queue_free()
		_dialog = null


func _open() -> void:
	if _dialog == null:
		_dialog = ConfirmationDialog.new()
		_dialog.title = "Migrate to rust_enet"
		_dialog.ok_button_text = "Apply"
		var box := VBoxContainer.new()
		_include_addons = CheckBox.new()
		_include_addons.text = "Also change other addons under res://addons/"
		_include_addons.toggled.connect(func(_on: bool) -> void: _refresh())
		box.add_child(_include_addons)
		_listing = TextEdit.new()
		_listing.editable = false
		_listing.custom_minimum_size = Vector2(900, 500)
		_listing.size_flags_vertical = Control.SIZE_EXPAND_FILL
		box.add_child(_listing)
		_dialog.add_child(box)
		_dialog.confirmed.connect(_apply)
		EditorInterface.get_base_control().add_child(_dialog)
	_refresh()
	_dialog.popup_centered()


func _refresh() -> void:
	_changes = Migrate.scan("res://", _include_addons.button_pressed)
	if _changes.is_empty():
		_listing.text = "Nothing to change: no script uses ENetMultiplayerPeer, ENetConnection or ENetPacketPeer."
	else:
		_listing.text = "%d line(s) will change:\n\n%s" % [_changes.size(), Migrate.describe(_changes)]
	_dialog.get_ok_button().disabled = _changes.is_empty()


func _apply() -> void:
	var err := Migrate.apply(_changes)
	if err != OK:
		push_error("rust_enet migration failed: %s" % error_string(err))
		return
	print("rust_enet migration: changed %d line(s)" % _changes.size())
	EditorInterface.get_resource_filesystem().scan()
