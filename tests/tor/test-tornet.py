#!/usr/bin/python3
# test-tornet.py: the private Tor network harness works (TAP).
#
# Starts the network with tornet.TorNet, then, as a controller of the client
# tor, pins one stream to each exit (EXTENDCIRCUIT guard,middle,exit, then
# ATTACHSTREAM by SOURCE_ADDR) and checks that the target server saw that
# exit; resolves a name and an address with tor-resolve through a pinned
# circuit; puts __LeaveStreamsUnattached back to 0; stops everything.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tornet  # noqa: E402

TOR_RESOLVE = shutil.which("tor-resolve") or "/usr/bin/tor-resolve"
TIMEOUT = 20

results = []


def ok(cond, what, diag=None):
    results.append(bool(cond))
    print("%s %d - %s" % ("ok" if cond else "not ok", len(results), what), flush=True)
    if not cond and diag:
        for line in str(diag).splitlines():
            print("# " + line, flush=True)
    return cond


def note(msg):
    print("# " + msg, flush=True)


def circ_event(cid):
    return lambda t: t.startswith("CIRC %s " % cid)


def wait_built(ctl, cid):
    ev = ctl.event(lambda t: re.match(r"CIRC %s (BUILT|FAILED|CLOSED)\b" % cid, t), TIMEOUT)
    return ev.lines[0][2]


def socks5_send_connect(port, host, dport):
    """Open a SOCKS5 connection and send the request without waiting for
    the reply: tor holds the reply until the stream is attached."""
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.sendall(b"\x05\x01\x00")
    if tornet._recv_exact(s, 2) != b"\x05\x00":
        raise tornet.TorNetError("SOCKS5 method refused")
    try:
        addr = b"\x01" + socket.inet_aton(host)
    except OSError:
        addr = b"\x03" + bytes([len(host)]) + host.encode()
    s.sendall(b"\x05\x01\x00" + addr + struct.pack("!H", dport))
    return s


def socks5_reply(s):
    head = tornet._recv_exact(s, 4)
    n = {0: 0, 1: 4, 4: 16}.get(head[3])
    if n is None:
        n = tornet._recv_exact(s, 1)[0]
    tornet._recv_exact(s, n + 2)
    return head[1]


def pinned_stream(ctl, net, target, guard, middle, exit_relay, host):
    """Build guard,middle,exit, CONNECT through it, return (circuit, seen)."""
    reply = ctl.check("EXTENDCIRCUIT 0 %s,%s,%s" % (guard, middle, exit_relay["fingerprint"]))
    cid = reply.text().split()[1]
    status = wait_built(ctl, cid)
    if not status.startswith("CIRC %s BUILT" % cid):
        raise tornet.TorNetError("circuit %s: %s" % (cid, status))
    if ("~" + exit_relay["nick"]) not in status.split()[3].split(",")[-1]:
        raise tornet.TorNetError("circuit %s does not end at %s: %s" % (cid, exit_relay["nick"], status))

    count = len(target.accepted)
    s = socks5_send_connect(net.info["client"]["socks_port"], host, target.port)
    with s:
        src = "SOURCE_ADDR=127.0.0.1:%d" % s.getsockname()[1]
        ev = ctl.event(lambda t: t.startswith("STREAM ") and " NEW " in t and src in t.split(), TIMEOUT)
        sid = ev.lines[0][2].split()[1]
        ctl.check("ATTACHSTREAM %s %s" % (sid, cid))
        done = ctl.event(lambda t: re.match(r"STREAM %s (SUCCEEDED|FAILED|CLOSED)\b" % sid, t), TIMEOUT)
        code = socks5_reply(s)
        if code != 0:
            raise tornet.TorNetError("SOCKS5 reply %02x; %s" % (code, done.lines[0][2]))
        line = tornet.recv_line(s)
        s.sendall(b"ping\n")
        echo = tornet.recv_line(s)
        seen = target.wait_accepted(count + 1, TIMEOUT)
    return cid, done.lines[0][2], line, echo, seen


def resolve_through(ctl, cid, args, subject):
    """tor-resolve ARGS with its NEWRESOLVE stream attached to circuit CID."""
    p = subprocess.Popen([TOR_RESOLVE] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ev = ctl.event(lambda t: t.startswith("STREAM ") and " NEWRESOLVE " in t
                       and t.split()[4].lower().startswith(subject.lower() + ":"), TIMEOUT)
        sid = ev.lines[0][2].split()[1]
        ctl.check("ATTACHSTREAM %s %s" % (sid, cid))
        out, err = p.communicate(timeout=TIMEOUT)
        return p.returncode, out.decode().strip(), err.decode().strip()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def dns_query(dns, name, qtype):
    """One query to the network's DNS responder: (rcode, answer count,
    whether the question came back byte for byte)."""
    question = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    question += struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT)
        s.sendto(struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + question,
                 (dns["host"], dns["port"]))
        reply = s.recv(4096)
    rid, flags, _qd, ancount = struct.unpack("!HHHH", reply[:8])
    return flags & 0xF, ancount, rid == 0x1234 and reply[12:12 + len(question)] == question


def check_dns(dns):
    rcode, an, same = dns_query(dns, "TaRgEt.TorNeT.tEsT", 1)
    ok(rcode == 0 and an == 1 and same, "DNS: A of a mixed-case name, question echoed as sent")
    rcode, an, same = dns_query(dns, "target.tornet.test", 28)
    ok(rcode == 0 and an == 0 and same, "DNS: AAAA is an empty NOERROR")
    rcode, an, same = dns_query(dns, "7.113.0.203.In-Addr.ArPa", 12)
    ok(rcode == 0 and an == 1 and same, "DNS: PTR of 203.0.113.7")
    rcode, an, same = dns_query(dns, "nosuch.tornet.test", 1)
    ok(rcode == 3 and an == 0 and same, "DNS: an unknown name is NXDOMAIN")


def run(net):
    info = net.info
    t = info["timings"]
    note("keys %.1f s, first consensus %.1f s after launch, ready %.1f s after launch, %.1f s in all"
         % (t["keys"], t["first_consensus"], t["launch_to_ready"], t["total"]))

    with open(os.path.join(net.dir, "tornet.json")) as f:
        described = json.load(f)
    exits = [r for r in described["relays"] if r["is_exit"]]
    ok(len(exits) == 3 and len({r["ip"] for r in exits}) == 3
       and len({r["country"] for r in exits}) == 3
       and all(r["bandwidth"] for r in exits),
       "tornet.json: three exits with their own address, country and bandwidth", exits)
    ok(described["mmdb"] and os.path.exists(described["mmdb"]), "tornet.json: the MMDB exists")
    note("bind shim: %s" % ("loaded" if described["bind_shim"] else "not loaded; /proc owners only"))

    check_dns(described["dns"])

    with tornet.TargetServer(net.tor_pids()) as target:
        with socket.create_connection(("::1", target.port), timeout=TIMEOUT) as s6:
            ok(tornet.recv_line(s6).startswith("::1 "), "the target server answers on ::1 too")

        ctl = tornet.Control("127.0.0.1", info["client"]["control_port"], timeout=TIMEOUT)
        with ctl:
            pi = ctl.check("PROTOCOLINFO 1")
            m = re.search(r'COOKIEFILE="([^"]*)"', str(pi))
            ok(m and m.group(1) == info["client"]["cookie_file"] and "COOKIE" in str(pi),
               "PROTOCOLINFO offers the cookie in the file tornet.json names", pi)
            with open(info["client"]["cookie_file"], "rb") as f:
                cookie = f.read()
            ok(ctl.command("AUTHENTICATE " + cookie.hex()).ok, "AUTHENTICATE with the cookie")

            ns = tornet.parse_ns(ctl.check("GETINFO ns/all").value("ns/all"))
            for r in exits:
                rel = ns.get(r["fingerprint"], {})
                ok("Exit" in rel.get("flags", ()) and rel.get("bandwidth") * 1000 == r["bandwidth"],
                   "%s is in the consensus with Exit and %d KB/s" % (r["nick"], r["bandwidth"] // 1000),
                   rel)
                cc = ctl.check("GETINFO ip-to-country/" + r["ip"]).value("ip-to-country/" + r["ip"])
                ok(cc == r["country"].lower(), "tor's GeoIP puts %s in %s" % (r["ip"], r["country"]), cc)

            guards = ctl.check("GETINFO entry-guards").value("entry-guards") or ""
            guard = next((l.split()[0].lstrip("$").split("~")[0] for l in guards.splitlines()
                          if " up" in l), None)
            if not ok(guard, "the client has an entry guard that is up", guards):
                return
            middle = next(r["fingerprint"] for r in described["relays"]
                          if r["role"] == "middle" and r["fingerprint"] != guard)

            ctl.check("SETEVENTS STREAM CIRC")
            ctl.check("SETCONF __LeaveStreamsUnattached=1")
            circuits = []
            try:
                for r in exits:
                    t0 = time.monotonic()
                    cid, done, line, echo, seen = pinned_stream(ctl, net, target, guard, middle,
                                                                r, "127.0.0.1")
                    circuits.append(cid)
                    note("%s: circuit %s, %.2f s, target saw %s owner %s"
                         % (r["nick"], cid, time.monotonic() - t0, line, seen["owner"]))
                    ok(done.startswith("STREAM ") and " SUCCEEDED %s " % cid in done,
                       "%s: the stream succeeded on circuit %s" % (r["nick"], cid), done)
                    ok(echo == "ping", "%s: the target echoes" % r["nick"], echo)
                    ok(seen["owner"] == r["nick"],
                       "%s: the target's peer belongs to %s's tor" % (r["nick"], r["nick"]), seen)
                    if described["bind_shim"]:
                        ok(seen["peer"][0] == r["ip"] and line.split()[0] == r["ip"],
                           "%s: the target saw the exit's own address %s" % (r["nick"], r["ip"]), line)

                # A CONNECT by name is resolved at the exit.
                r = exits[-1]
                cid, done, line, echo, seen = pinned_stream(ctl, net, target, guard, middle, r,
                                                            "target.tornet.test")
                circuits.append(cid)
                ok(" SUCCEEDED " in done and seen["owner"] == r["nick"],
                   "CONNECT to target.tornet.test through %s" % r["nick"], (done, seen))

                # RESOLVE and RESOLVE_PTR through a pinned circuit.
                socks = "127.0.0.1:%d" % info["client"]["socks_port"]
                rc, out, err = resolve_through(ctl, circuits[0], ["target.tornet.test", socks],
                                               "target.tornet.test")
                ok(rc == 0 and out == "127.0.0.1", "tor-resolve target.tornet.test gives 127.0.0.1",
                   (rc, out, err))
                rc, out, err = resolve_through(ctl, circuits[1], ["exit3.tornet.test", socks],
                                               "exit3.tornet.test")
                ok(rc == 0 and out == exits[2]["ip"],
                   "tor-resolve exit3.tornet.test gives %s" % exits[2]["ip"], (rc, out, err))
                rc, out, err = resolve_through(ctl, circuits[0], ["-x", "203.0.113.7", socks],
                                               "203.0.113.7")
                ok(rc == 0 and out == "public.tornet.test",
                   "tor-resolve -x 203.0.113.7 gives public.tornet.test", (rc, out, err))
            finally:
                ctl.check("SETCONF __LeaveStreamsUnattached=0")
                for cid in circuits:
                    ctl.command("CLOSECIRCUIT %s" % cid)
            value = ctl.check("GETCONF __LeaveStreamsUnattached").text()
            ok(value == "__LeaveStreamsUnattached=0", "__LeaveStreamsUnattached is 0 again", value)
            ctl.check("SETEVENTS")


def main():
    # meson's timeout sends SIGTERM: unwind, so the network is stopped.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    start = time.monotonic()
    pids = []
    dir = None
    try:
        with tornet.TorNet(None) as net:
            dir = net.dir
            pids = list(net.tor_pids().values()) + [net.info["pids"]["dns"]]
            ok(True, "the network is ready (%s)" % ", ".join("%s=%ss" % kv for kv in net.info["timings"].items()))
            run(net)
    except (Exception, SystemExit) as e:
        ok(False, "no error", "%s: %s" % (type(e).__name__, e))
    gone = [pid for pid in pids if os.path.exists("/proc/%d" % pid)]
    ok(pids and not gone, "every process of the network has exited", gone)
    ok(dir and not os.path.exists(dir), "the network's directory is removed", dir)
    note("wall time %.1f s" % (time.monotonic() - start))
    print("1..%d" % len(results), flush=True)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
