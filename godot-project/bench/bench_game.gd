extends Node
## The RPC node of benchmark scenario 6: one instance under the server's multiplayer root and one
## under each client's, at the same relative path ("Game"), so RPCs resolve on both ends.
##
## Client -> server: `rel` (reliable) and `unrel` (unreliable), each carrying the measurement
## epoch (0 warm-up, 1 measured, 2 after), a sequence number and a fixed payload.
## Server -> client: `ack` (unreliable, the cumulative count of the client's reliable RPCs the
## server has seen, which bounds each client's reliable RPCs in flight) and `state` (unreliable,
## broadcast to everyone once per frame, like a game server's snapshot).

## Server side: per sender id, RPCs of every epoch (for acks) and of epoch 1 (the result).
var rel_total := {}
var rel_measured := 0
var unrel_measured := 0
## Server side: ids whose `rel_total` changed since the last ack round.
var dirty := {}

## Client side.
var acked := 0
var state_measured := 0
var acks_received := 0


@rpc("any_peer", "call_remote", "reliable")
func rel(epoch: int, _seq: int, _data: PackedByteArray) -> void:
	var id := multiplayer.get_remote_sender_id()
	rel_total[id] = rel_total.get(id, 0) + 1
	dirty[id] = true
	if epoch == 1:
		rel_measured += 1


@rpc("any_peer", "call_remote", "unreliable")
func unrel(epoch: int, _seq: int, _data: PackedByteArray) -> void:
	if epoch == 1:
		unrel_measured += 1


@rpc("authority", "call_remote", "unreliable")
func ack(count: int) -> void:
	acks_received += 1
	acked = maxi(acked, count)


@rpc("authority", "call_remote", "unreliable")
func state(epoch: int, _frame: int, _data: PackedByteArray) -> void:
	if epoch == 1:
		state_measured += 1
