#!/usr/bin/env python3
"""UDP hole-punching probe for the NAT lab (tests/nat/lab.sh); stdlib only, needs root for `suite`.

    punch_probe.py suite [--quick] [--jobs N] [-v] [CASE...]   every case in its own lab, a table;
                  exit 0 if every case went as nat-lab-facts.md says, 1 if not, 77 if the lab
                  cannot be made here (it prints "skipped: REASON; run FIX")
    punch_probe.py rendezvous [--port 3478] ADDR...      (in pub) tells peers each other's addresses
    punch_probe.py peer --id ID --rendezvous ADDR ...   (in a home node) register, punch, report JSON
    punch_probe.py listen --bind ADDR --port P          print datagrams (and answer them with --reply)

The rendezvous registers peers by session. A peer sends "register" from its game port; the server
answers with the public address it saw and the other peers of the session (public address and the
LAN addresses they report). A second server address ("alt") only echoes the source address, so a
peer can see whether its NAT maps both destinations to one public port (cone) or not (symmetric).

Punch methods:
  naive   both peers punch the other's public address every 200 ms from the start
  ttl2    each peer first sends 3 punches with IP TTL 2 (they open its own NAT mapping and die in pub,
          one hop later), waits 200 ms, then punches normally
  delay   this peer only starts (naive) punching after --delay seconds (one side first)
A punch carries "got" (I have heard from you); a peer is connected when it hears a punch with got,
then it goes on punching for --warm S seconds (traffic both ways, as in a session). After that,
--idle S keeps the session idle for S seconds (with --keepalive K: a keepalive every K s), then
the peer with --speak-first sends 5 datagrams, then the other one: the session survived if both got
data.
"""
import argparse
import concurrent.futures
import json
import os
import select
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, "lab.sh")
RV_PORT = 3478
GAME_PORT = 40000


def fmt(addr):
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def send(sock, obj, addr):
    try:
        sock.sendto(json.dumps(obj).encode(), (addr[0], addr[1]))
    except OSError:
        pass  # e.g. network unreachable: the probe reports what arrived, not what failed to leave


def recv(sock, timeout):
    r, _, _ = select.select([sock], [], [], max(0.0, timeout))
    if not r:
        return None, None
    try:
        data, src = sock.recvfrom(65535)
        return json.loads(data), (src[0], src[1])
    except (OSError, ValueError):
        return None, None


# ------------------------------------------------------------------------------------- rendezvous
def rendezvous(args):
    socks = []
    for a in args.addr:
        s = socket.socket(family(a), socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a, args.port))
        socks.append(s)
    main = socks[0]
    sessions = {}  # session -> id -> {"public": [h, p], "lan": [...]}
    print(f"rendezvous on {', '.join(fmt((a, args.port)) for a in args.addr)}", file=sys.stderr, flush=True)
    end = time.time() + args.timeout
    while time.time() < end:
        r, _, _ = select.select(socks, [], [], 1.0)
        for s in r:
            try:
                data, src = s.recvfrom(65535)
                msg = json.loads(data)
            except (OSError, ValueError):
                continue
            op = msg.get("op")
            if op == "whoami" or s is not main:
                send(s, {"op": "you", "public": [src[0], src[1]]}, src)
            elif op == "register":
                peers = sessions.setdefault(msg["session"], {})
                peers[msg["id"]] = {"public": [src[0], src[1]], "lan": msg.get("lan", [])}
                others = {k: v for k, v in peers.items() if k != msg["id"]}
                send(s, {"op": "registered", "public": [src[0], src[1]], "peers": others}, src)
            elif op == "relay":
                peer = sessions.get(msg["session"], {}).get(msg["to"])
                if peer:
                    send(s, {"op": "relayed", "from": msg["id"], "data": msg.get("data")}, peer["public"])


# ------------------------------------------------------------------------------------------- peer
def set_ttl(sock, ttl):
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)


def local_address(fam, server):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.connect((server, RV_PORT))
        return s.getsockname()[0]
    finally:
        s.close()


def peer(args):
    rv = (args.rendezvous, RV_PORT)
    fam = family(args.rendezvous)
    sock = socket.socket(fam, socket.SOCK_DGRAM)
    sock.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", args.port))
    lan = [[local_address(fam, args.rendezvous), args.port]]
    res = {"id": args.id, "method": args.method, "lan": fmt(lan[0])}
    t0 = time.time()

    # 1. register (and ask the alt address what it sees), until the server names the peer
    other, other_at, next_reg, alt_public = None, 0.0, 0.0, None
    deadline = t0 + args.register_timeout
    while time.time() < deadline:
        if other is not None and (not args.alt or alt_public or time.time() > other_at + 1):
            break
        if time.time() >= next_reg:
            if other is None:
                send(sock, {"op": "register", "id": args.id, "session": args.session, "lan": lan}, rv)
            if args.alt and alt_public is None:
                send(sock, {"op": "whoami"}, (args.alt, RV_PORT))
            next_reg = time.time() + 0.2
        msg, src = recv(sock, 0.05)
        if not msg:
            continue
        if msg.get("op") == "registered":
            res["public"] = fmt(msg["public"])
            if msg["peers"] and other is None:
                res["peer"], other = next(iter(msg["peers"].items()))
                other_at = time.time()
        elif msg.get("op") == "you":
            alt_public = msg["public"]
            res["public_alt"] = fmt(alt_public)
    if other is None:
        res["error"] = "no peer from the rendezvous"
        print(json.dumps(res), flush=True)
        return
    if "public" in res and alt_public:
        res["mapping"] = "same port (endpoint-independent)" if res["public"].rsplit(":", 1)[1] == str(alt_public[1]) else "port per destination (symmetric)"

    # 2. punch
    cands = []
    if "public" in args.candidates:
        cands.append(("public", tuple(other["public"])))
    if "lan" in args.candidates:
        cands += [("lan", tuple(a)) for a in other["lan"]]
    res["targets"] = [f"{n} {fmt(a)}" for n, a in cands]
    t_punch = time.time()
    if args.method == "ttl2":
        set_ttl(sock, 2)
        for _ in range(3):
            for name, a in cands:
                send(sock, {"op": "punch", "from": args.id, "cand": name, "got": False, "ttl": 2}, a)
            time.sleep(0.05)
        time.sleep(0.2)
        set_ttl(sock, 64)
    start = t_punch + (args.delay if args.method == "delay" else 0)
    got = False  # heard a punch from the peer
    connected = False  # the peer heard us (its punch said got)
    heard = {}  # "cand from addr" -> count
    path = None
    end = t_punch + args.punch_timeout
    next_punch, extra, connected_at = start, 3, 0.0
    while time.time() < end + args.warm and not (connected and extra <= 0 and time.time() >= connected_at + args.warm):
        now = time.time()
        if now >= next_punch:
            for name, a in cands:
                send(sock, {"op": "punch", "from": args.id, "cand": name, "got": got}, a)
            if connected:
                extra -= 1
            next_punch = now + 0.2
        msg, src = recv(sock, min(0.05, max(0.0, next_punch - time.time())))
        if not msg or msg.get("op") != "punch":
            continue
        key = f"{msg['cand']} from {fmt(src)}"
        heard[key] = heard.get(key, 0) + 1
        if not got:
            res["first_heard_s"] = round(time.time() - t_punch, 3)
            path = src
        got = True
        if msg.get("got") and not connected:
            connected = True
            connected_at = time.time()
            res["connected_s"] = round(time.time() - t_punch, 3)
    res["heard"] = heard
    res["direct"] = connected

    # 3. relay fallback through the rendezvous
    if args.relay and not connected:
        n_rx = 0
        end = time.time() + 2.0
        next_relay = 0.0
        while time.time() < end:
            if time.time() >= next_relay:
                send(sock, {"op": "relay", "session": args.session, "id": args.id, "to": res["peer"], "data": "hi"}, rv)
                next_relay = time.time() + 0.2
            msg, src = recv(sock, 0.05)
            if msg and msg.get("op") == "relayed":
                n_rx += 1
        res["relay_received"] = n_rx

    # 4. idle session (with or without keepalives), then data both ways
    if args.idle and connected:
        target = path
        t_idle = time.time()
        ka_rx = 0
        data_rx = 0
        sent_data = 0
        next_ka = t_idle + args.keepalive if args.keepalive else float("inf")
        my_slot = t_idle + args.idle + (0 if args.speak_first else 2.0)
        end = t_idle + args.idle + 4.5
        while time.time() < end:
            now = time.time()
            if now >= next_ka and now < t_idle + args.idle:
                send(sock, {"op": "ka", "from": args.id}, target)
                next_ka = now + args.keepalive
            if sent_data < 5 and now >= my_slot + 0.2 * sent_data:
                send(sock, {"op": "data", "from": args.id, "n": sent_data}, target)
                sent_data += 1
            msg, src = recv(sock, 0.05)
            if msg and msg.get("op") == "ka":
                ka_rx += 1
            elif msg and msg.get("op") == "data":
                data_rx += 1
        res["idle_s"] = args.idle
        res["keepalive_s"] = args.keepalive
        res["keepalives_received"] = ka_rx
        res["data_received_after_idle"] = data_rx
    print(json.dumps(res), flush=True)


# ----------------------------------------------------------------------------------------- listen
def listen(args):
    s = socket.socket(family(args.bind), socket.SOCK_DGRAM)
    s.bind((args.bind, args.port))
    print(f"listening on {fmt((args.bind, args.port))}", file=sys.stderr, flush=True)
    n, end = 0, time.time() + args.timeout
    while n < args.count and time.time() < end:
        r, _, _ = select.select([s], [], [], max(0.0, end - time.time()))
        if not r:
            break
        data, src = s.recvfrom(65535)
        n += 1
        print(f"from {fmt(src)}: {data.decode(errors='replace')}", flush=True)
        if args.reply:
            s.sendto(b"pong " + data, src)
    sys.exit(0 if n >= args.count else 1)


# ------------------------------------------------------------------------------------------ suite
# name: (topology, [lab options], peer A node, peer B node, method, candidates, extra peer options,
#        expectation, what the case is about)
def cases(quick):
    c = [
        ("cone-naive", "cone", "host", "joiner", "naive", "public", [], "fail",
         "port-restricted cone both sides, naive simultaneous punch"),
        ("cone-ttl2", "cone", "host", "joiner", "ttl2", "public", [], "direct",
         "port-restricted cone both sides, TTL-2 probes first, then punch"),
        ("cone-delay", "cone", "host", "joiner", "delay", "public", ["--delay-b", "1"], "fail",
         "cone both sides, host punches first, joiner starts 1 s later (full TTL)"),
        ("symmetric-ttl2", "symmetric", "host", "joiner", "ttl2", "public", ["--relay"], "relay",
         "joiner behind symmetric NAT: punch fails, relay works"),
        ("samenat-public", "samenat", "host", "joiner2", "ttl2", "public", [], "fail",
         "host and joiner2 behind one NAT (no hairpin), public addresses"),
        ("samenat-lan", "samenat", "host", "joiner2", "naive", "lan", [], "direct",
         "host and joiner2 behind one NAT, LAN addresses"),
        ("expire5-nokeepalive", "expire5", "host", "joiner", "ttl2", "public", ["--warm", "3", "--idle", "8"], "dies",
         "mappings expire after 5 s, 3 s of traffic, idle 8 s, no keepalive"),
        ("expire5-keepalive", "expire5", "host", "joiner", "ttl2", "public", ["--warm", "3", "--idle", "20", "--keepalive", "2"],
         "survives", "mappings expire after 5 s, 3 s of traffic, idle 20 s, keepalive every 2 s"),
        ("ipv6-naive", "ipv6", "host", "joiner", "naive", "public", ["--v6"], "direct",
         "IPv6, no NAT, no firewall, naive punch"),
        ("ipv6fw-naive", "ipv6fw", "host", "joiner", "naive", "public", ["--v6"], "direct",
         "IPv6, no NAT, stateful firewall on both routers, naive punch"),
        ("ipv6only-naive", "ipv6only", "host", "joiner", "naive", "public", ["--v6"], "direct",
         "IPv6 only (no IPv4 at all), naive punch"),
    ]
    if not quick:
        c += [
            ("cone-idle35", "cone", "host", "joiner", "ttl2", "public", ["--warm", "3", "--idle", "35"], "survives",
             "default Linux timeouts (30 s / 120 s stream), 3 s of traffic, idle 35 s, no keepalive"),
            ("cone-idle35-cold", "cone", "host", "joiner", "ttl2", "public", ["--idle", "35"], "dies",
             "default Linux timeouts, traffic < 2 s (no stream status), idle 35 s, no keepalive"),
            ("expire30-nokeepalive", "expire30", "host", "joiner", "ttl2", "public", ["--warm", "3", "--idle", "35"], "dies",
             "mappings expire after 30 s, 3 s of traffic, idle 35 s, no keepalive"),
            ("expire30-keepalive", "expire30", "host", "joiner", "ttl2", "public",
             ["--warm", "3", "--idle", "120", "--keepalive", "15"], "survives",
             "mappings expire after 30 s, 2-minute session, keepalive every 15 s"),
        ]
    return c


def run_case(case, index, prefix):
    name, topo, a, b, method, cand, extra, expect, about = case
    env = dict(os.environ, NATLAB_PREFIX=f"{prefix}{index}")
    t0 = time.time()
    up = subprocess.run([LAB, "up", topo], env=env, capture_output=True, text=True)
    res = {"case": case, "t_up": time.time() - t0}
    if up.returncode != 0:
        res["error"] = up.stderr.strip()
        return res
    procs = []
    try:
        v6 = "--v6" in extra
        rv, alt = ("2001:db8:a::1", "2001:db8:b::1") if v6 else ("198.51.100.1", "203.0.113.1")
        opts, delay_b, it = [], "0", iter(x for x in extra if x != "--v6")
        for x in it:
            if x == "--delay-b":
                delay_b = next(it)
            elif x in ("--idle", "--keepalive", "--warm"):
                opts += [x, next(it)]
            else:
                opts.append(x)
        timeout = 60 + sum(float(opts[i + 1]) for i, x in enumerate(opts) if x == "--idle")
        procs.append(subprocess.Popen([LAB, "exec", "pub", sys.executable, __file__, "rendezvous",
                                       "--timeout", str(timeout), rv, alt],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.3)
        peers = []
        for node in (a, b):
            popts = list(opts)
            if method == "delay":
                popts += ["--delay", delay_b if node == b else "0"]
            if node == b:
                popts.append("--speak-first")
            cmd = [LAB, "exec", node, sys.executable, __file__, "peer", "--id", node, "--session", name,
                   "--rendezvous", rv, "--alt", alt, "--method", method, "--candidates", cand] + popts
            p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            procs.append(p)
            peers.append(p)
        res["peers"] = []
        for p in peers:
            o, e = p.communicate(timeout=timeout)
            try:
                res["peers"].append(json.loads(o.strip().splitlines()[-1]))
            except (ValueError, IndexError):
                res["peers"].append({"error": (o + e).strip()[-300:] or f"exit {p.returncode}"})
        return res
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        t1 = time.time()
        subprocess.run([LAB, "down"], env=env, capture_output=True)
        res["t_down"] = time.time() - t1


def verdict(r):
    name, topo, a, b, method, cand, extra, expect, about = r["case"]
    if "error" in r:
        return "error", r["error"]
    pa, pb = r["peers"]
    if "error" in pa or "error" in pb:
        return "error", pa.get("error") or pb.get("error")
    direct = pa.get("direct") and pb.get("direct")
    detail = []
    for p in (pa, pb):
        d = f"{p['id']}: public {p.get('public', '?')}"
        if p.get("mapping"):
            d += f" ({p['mapping'].split(' (')[0]} via alt {p.get('public_alt')})"
        d += f", heard {sum(p.get('heard', {}).values())}"
        if p.get("heard"):
            d += " [" + "; ".join(p["heard"]) + "]"
        if "relay_received" in p:
            d += f", relay rx {p['relay_received']}"
        if "data_received_after_idle" in p:
            d += f", after idle {p['idle_s']} s: keepalives rx {p['keepalives_received']}, data rx {p['data_received_after_idle']}/5"
        detail.append(d)
    if expect in ("dies", "survives"):
        if not direct:
            got = "no punch"
        else:
            ok = pa.get("data_received_after_idle", 0) > 0 and pb.get("data_received_after_idle", 0) > 0
            got = "survives" if ok else "dies"
    elif direct:
        got = "direct"
    elif pa.get("relay_received") and pb.get("relay_received"):
        got = "relay"
    else:
        got = "fail"
    if direct and "connected_s" in pa:
        detail.insert(0, f"connected after {max(pa['connected_s'], pb.get('connected_s', 0)):.2f} s")
    return got, " | ".join(detail)


def suite(args):
    if os.geteuid() != 0:
        sys.exit("suite needs root")
    chk = subprocess.run([LAB, "check"], capture_output=True, text=True)
    if chk.returncode != 0:
        print(f"skipped: {chk.stdout.strip()}")
        sys.exit(77)
    cs = [c for c in cases(args.quick) if not args.cases or c[0] in args.cases or c[1] in args.cases]
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        results = list(ex.map(lambda ic: run_case(ic[1], ic[0], args.prefix), enumerate(cs)))
    bad = 0
    print(f"{'case':22} {'expected':9} {'got':9} ok  what / details")
    for r in results:
        got, detail = verdict(r)
        c = r["case"]
        ok = got == c[7]
        bad += not ok
        print(f"{c[0]:22} {c[7]:9} {got:9} {'yes' if ok else 'NO '} {c[8]}")
        if args.verbose or not ok:
            print(f"{'':22} {detail}")
    ups = [r["t_up"] for r in results if "t_up" in r]
    downs = [r["t_down"] for r in results if "t_down" in r]
    if ups:
        print(f"lab up {min(ups):.2f}-{max(ups):.2f} s, down {min(downs):.2f}-{max(downs):.2f} s, suite {time.time() - t0:.0f} s")
    sys.exit(1 if bad else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("rendezvous")
    p.add_argument("addr", nargs="+", help="server addresses; the first registers, the others only echo")
    p.add_argument("--port", type=int, default=RV_PORT)
    p.add_argument("--timeout", type=float, default=600)
    p = sub.add_parser("peer")
    p.add_argument("--id", required=True)
    p.add_argument("--session", default="s")
    p.add_argument("--rendezvous", required=True)
    p.add_argument("--alt")
    p.add_argument("--port", type=int, default=GAME_PORT)
    p.add_argument("--method", choices=["naive", "ttl2", "delay"], default="ttl2")
    p.add_argument("--delay", type=float, default=0)
    p.add_argument("--candidates", default="public", help="public, lan or public,lan")
    p.add_argument("--register-timeout", type=float, default=10)
    p.add_argument("--punch-timeout", type=float, default=6)
    p.add_argument("--relay", action="store_true")
    p.add_argument("--warm", type=float, default=0, help="keep punching S seconds after connecting")
    p.add_argument("--idle", type=float, default=0)
    p.add_argument("--keepalive", type=float, default=0)
    p.add_argument("--speak-first", action="store_true")
    p = sub.add_parser("listen")
    p.add_argument("--bind", default="0.0.0.0")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--reply", action="store_true")
    p = sub.add_parser("suite")
    p.add_argument("cases", nargs="*", help="case or topology names (default: all)")
    p.add_argument("--quick", action="store_true", help="leave out the 35-120 s expiry cases")
    p.add_argument("--jobs", type=int, default=4, help="labs at once (each has its own prefix)")
    p.add_argument("--prefix", default="rnp")
    p.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    {"rendezvous": rendezvous, "peer": peer, "listen": listen, "suite": suite}[args.cmd](args)


if __name__ == "__main__":
    main()
