extends Node
## One side of a NAT lab session: the node whose multiplayer branch carries its RPCs. The host's
## node greets every client that connects; a client pings the host and counts the answers, so
## each run checks RPCs in both directions.

## Greetings the host sent this node (client side).
var hellos := 0
## Answers to `ping` received (client side).
var pongs := 0


@rpc("authority", "reliable")
func hello() -> void:
	hellos += 1


@rpc("any_peer", "reliable")
func ping(token: int) -> void:
	pong.rpc_id(multiplayer.get_remote_sender_id(), token)


@rpc("authority", "reliable")
func pong(_token: int) -> void:
	pongs += 1
