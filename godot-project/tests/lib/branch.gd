extends RefCounted
## One side of a multiplayer game run inside a single process: a `root` node with its own
## SceneMultiplayer (`SceneTree.set_multiplayer`) for everything below it, the `game` node whose
## RPCs that API runs, and the side's `peer`. Base of the test harness's `Endpoint`
## (tests/lib/differential.gd), the stall scenarios' `Member` (tests/stall/stall_party.gd) and
## the RPC benchmark's `Client` (bench/bench_rpc.gd); the migration test uses it as it is.

var root: Node
var game: Node
var api: SceneMultiplayer
var peer: MultiplayerPeer


## Adds `root` (named `root_name`) under `parent`, `game_node` (named `game_name`) under it, and
## gives `root` a new SceneMultiplayer. `peer` stays for the caller to set.
func attach(parent: Node, root_name: String, game_node: Node, game_name := "Game") -> void:
	root = Node.new()
	root.name = root_name
	parent.add_child(root)
	game = game_node
	game.name = game_name
	root.add_child(game)
	api = SceneMultiplayer.new()
	parent.get_tree().set_multiplayer(api, root.get_path())


## Closes the peer unless it is closed already (without a `peer` of its own, the one the game
## gave its SceneMultiplayer), hands the root's multiplayer back to the tree and frees the root.
func detach() -> void:
	var closing: MultiplayerPeer = peer if peer != null else api.multiplayer_peer
	if closing != null and closing.get_connection_status() != MultiplayerPeer.CONNECTION_DISCONNECTED:
		closing.close()
	root.get_tree().set_multiplayer(null, root.get_path())
	root.queue_free()
