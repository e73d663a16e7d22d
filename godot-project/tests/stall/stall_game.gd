extends Node
## The node both processes of a stall scenario share (`Game` under each multiplayer root): a
## numbered reliable RPC and, per sender, the numbers that arrived, in arrival order.

var received := {}  # sender id -> Array of numbers


@rpc("any_peer", "call_remote", "reliable")
func tick(n: int) -> void:
	var from := multiplayer.get_remote_sender_id()
	if not received.has(from):
		received[from] = []
	received[from].append(n)
