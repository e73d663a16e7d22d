extends RefCounted
## Self-signed certificates for the DTLS tests.
##
## Godot's `Crypto.generate_self_signed_certificate` draws a random serial number; now and then
## (a few in a thousand) mbedTLS encodes it with a leading zero byte that OpenSSL 3 refuses as
## "illegal padding" (Field=serialNumber), so `RustENetConnection` cannot load that certificate
## (a limitation the README names). The tests then draw another one, and say so.


## `[key, certificate]` for `subject`, one that RustENetConnection loads; empty if 8 draws failed.
static func pair(subject: String) -> Array:
	var crypto := Crypto.new()
	for attempt in 8:
		var key := crypto.generate_rsa(2048)
		var cert := crypto.generate_self_signed_certificate(key, subject)
		if _loads(key, cert):
			return [key, cert]
		print("    certificate draw %d: OpenSSL refuses its serial number; drawing another" % attempt)
	return []


static func _loads(key: CryptoKey, cert: X509Certificate) -> bool:
	var probe: Object = ClassDB.instantiate(&"RustENetConnection")
	if probe.call(&"create_host_bound", "127.0.0.1", 0, 1) != OK:
		return false
	var ok: bool = probe.call(&"dtls_server_setup", TLSOptions.server(key, cert)) == OK
	probe.call(&"destroy")
	return ok
