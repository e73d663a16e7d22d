extends "res://tests/lib/differential.gd"
## Every compression mode of ENetConnection.compress on both ends, and the bytes on the wire.
## The harness and how pairings work: tests/lib/differential.gd.

## 19,800 bytes of text that every mode shrinks several times over, even cut into ENet's
## datagrams of about 1.4 KB, each compressed on its own.
const TEXT := "all work and no play makes jack a dull boy. "
const TEXT_REPEATS := 450
## A compressed blob must cost its sender fewer wire bytes than this share of its size.
const MAX_WIRE_SHARE := 0.5


## One client and a server that both compress every datagram with `mode`: connect, reliable
## RPCs both ways, then the compressible text as a fragmented reliable RPC from C1 to S and then
## from S to C1, each time counting what the sender's host put on the wire
## (`pop_statistic(HOST_TOTAL_SENT_DATA)`: UDP payload bytes, after compression).
##
## Delivery alone proves little here: a receiver decompresses only the datagrams flagged as
## compressed and takes the others as they are (C ENet, and ours), so a sender that stopped
## compressing (its compressor never set, or set and not applied) would still deliver every
## RPC. The wire bytes tell: uncompressed, the blob costs its sender more than its own size
## (ENet's headers on top), compressed well under half of it. So the check fails for whichever
## end stops compressing, rust or built-in; the built-in sender shows that the text and the
## threshold are right.
func _scenario_compressed(server: Endpoint, c1: Endpoint, names: Dictionary,
		mode: int) -> Dictionary:
	var port := _serve(server)
	if not port:
		return {}
	server.peer.get(&"host").compress(mode)
	if not _dial(c1, port, names):
		return {}
	# Allowed before the first poll: the CONNECT is only queued by create_client.
	c1.peer.get(&"host").compress(mode)
	if not await _joined(server, c1, names):
		return {}
	if not await _hellos_both_ways(server, c1, names, "compressed hello", "compressed reply"):
		return {}
	var result := {}
	var text := TEXT.repeat(TEXT_REPEATS).to_utf8_buffer()
	for pair: Array in [[c1, server, 1], [server, c1, names.find_key("C1")]]:
		var sender: Endpoint = pair[0]
		var receiver: Endpoint = pair[1]
		var host: RefCounted = sender.peer.get(&"host")
		var before: int = receiver.game.trace.size()
		host.pop_statistic(ENetConnection.HOST_TOTAL_SENT_DATA)  # from zero
		sender.game.blob.rpc_id(pair[2], text)
		if not await _step("the text reaches " + receiver.name, func() -> bool:
				return receiver.game.trace.size() > before):
			return {}
		var wire: float = host.pop_statistic(ENetConnection.HOST_TOTAL_SENT_DATA)
		print("    %s/%s mode %d: %s (%s) sent the %d-byte text in %d wire bytes (%.3f)" % [
				server.kind, c1.kind, mode, sender.name, sender.kind, text.size(), wire,
				wire / text.size()])
		result["%s's wire bytes for the text below %d%% of it" % [sender.name,
				MAX_WIRE_SHARE * 100]] = wire > 0 and wire < text.size() * MAX_WIRE_SHARE
	return result.merged(_observations([server, c1]))


func _test_compression(mode: int) -> void:
	var text := TEXT.repeat(TEXT_REPEATS).to_utf8_buffer()
	var blob := "blob(%d bytes, sha256 %s)" % [text.size(), RpcNode._sha(text)]
	await _run_differential(_with_endpoints(1, _scenario_compressed.bind(mode)), {
		"S signals": ["peer_connected(C1)"],
		"C1 signals": ["connected_to_server", "peer_connected(S)"],
		"S rpcs": _sorted(["S: hello(compressed hello) from C1", "S: %s from C1" % blob]),
		"C1 rpcs": _sorted(["C1: hello(compressed reply) from S", "C1: %s from S" % blob]),
		"C1's wire bytes for the text below 50% of it": true,
		"S's wire bytes for the text below 50% of it": true,
	})


func test_compression_range_coder() -> void:
	await _test_compression(ENetConnection.COMPRESS_RANGE_CODER)


func test_compression_fastlz() -> void:
	await _test_compression(ENetConnection.COMPRESS_FASTLZ)


func test_compression_zlib() -> void:
	await _test_compression(ENetConnection.COMPRESS_ZLIB)


func test_compression_zstd() -> void:
	await _test_compression(ENetConnection.COMPRESS_ZSTD)
