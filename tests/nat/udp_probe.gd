# Sends a UDP datagram to HOST:PORT and waits (up to 5 s) for an answer: checks that a Godot process
# in a NAT lab namespace can bind and send/receive UDP there. Exit code 0 if answered, 1 otherwise.
#
#   tests/nat/lab.sh exec pub python3 tests/nat/punch_probe.py listen --bind 198.51.100.1 --port 5000 --reply &
#   tests/nat/lab.sh exec host tests/pipeline/in_root.sh /root/.cache/rust_enet/godot-root \
#       godot --headless --script "$PWD/tests/nat/udp_probe.gd" -- 198.51.100.1 5000 [LOCAL_PORT]
#
# HOST may be an IPv6 address: it is written out in full before Godot sees it, because the IPv6
# parser of Godot since 4.5.2 (godotengine/godot#118050, fixed by #118055) misreads shortened
# addresses: "2001:db8:2::10" becomes 2001:db8:2:10::10 (measured here with 4.6.3, Debian build).
extends SceneTree


# "2001:db8:2::10" -> "2001:db8:2:0:0:0:0:10" (no IPv4 tail); anything else unchanged.
static func expand_ipv6(address: String) -> String:
	if not address.contains("::"):
		return address
	var halves := address.split("::")
	var head := halves[0].split(":", false)
	var tail := halves[1].split(":", false)
	var parts := PackedStringArray(head)
	for i in 8 - head.size() - tail.size():
		parts.append("0")
	parts.append_array(tail)
	return ":".join(parts)


func _initialize() -> void:
	var args := OS.get_cmdline_user_args()
	if args.size() < 2:
		printerr("usage: godot --headless --script udp_probe.gd -- HOST PORT [LOCAL_PORT]")
		quit(2)
		return
	var host := args[0]
	var port := int(args[1])
	var udp := PacketPeerUDP.new()
	var err := udp.bind(int(args[2]) if args.size() > 2 else 0)
	if err != OK:
		printerr("udp_probe: bind failed: ", error_string(err))
		quit(1)
		return
	udp.set_dest_address(expand_ipv6(host), port)
	err = udp.put_packet(("hello from godot, local port %d" % udp.get_local_port()).to_utf8_buffer())
	if err != OK:
		printerr("udp_probe: send failed: ", error_string(err))
		quit(1)
		return
	print("udp_probe: sent to %s:%d from local port %d" % [host, port, udp.get_local_port()])
	var deadline := Time.get_ticks_msec() + 5000
	while Time.get_ticks_msec() < deadline:
		if udp.get_available_packet_count() > 0:
			var data := udp.get_packet().get_string_from_utf8()
			print("udp_probe: answer from %s:%d: %s" % [udp.get_packet_ip(), udp.get_packet_port(), data])
			quit(0)
			return
		OS.delay_msec(20)
	printerr("udp_probe: no answer within 5 s")
	quit(1)
