#!/usr/bin/python3
# test-tor-exits.py: tor's exit relays as Exitgate routers, against the
# private network of tornet.py and the real exitgated (TAP).
#
# One network for the whole file.  exitgated controls the network's client
# tor (--tor-control) and uses the network's GeoIP database (tnexit1 DE
# 1000 KB/s, tnexit2 SE 2000, tnexit3 US 4000).  The target server reports
# the peer it saw; the exits' bind shim makes that the exit's own address.
# tnexit1's policy rejects one port (info["rejected_port"]), where a second
# target server listens.  Which circuit a stream is on comes from tor's
# own GETINFO stream-status and circuit-status.
# The last tests kill and restart the client tor, and run a managed tor
# that joins the same network through --tor-torrc.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import os
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tornet  # noqa: E402

EXITGATED = os.environ.get("EXITGATED", "build/src/exitgated")
CIRCUIT_CLIENT = os.environ.get("EXG_TOR_CIRCUIT_CLIENT", "build/tests/tor/tor-circuit-client")
TOR_RESOLVE = shutil.which("tor-resolve") or "/usr/bin/tor-resolve"
TIMEOUT = 30

EXITS = {"tnexit1": ("127.0.0.7", "DE", 1000000),
         "tnexit2": ("127.0.0.8", "SE", 2000000),
         "tnexit3": ("127.0.0.9", "US", 4000000)}

results = []


def ok(cond, what, diag=None):
    results.append(bool(cond))
    print("%s %d - %s" % ("ok" if cond else "not ok", len(results), what), flush=True)
    if not cond and diag is not None:
        for line in str(diag).splitlines():
            print("# " + line, flush=True)
    return cond


def note(msg):
    print("# " + msg, flush=True)


class Daemon:
    """exitgated on 127.0.0.1:0; stderr is collected by a thread so that
    tests can wait for a line."""

    def __init__(self, args, env=None):
        self.lines = []
        self.cond = threading.Condition()
        self.p = subprocess.Popen([EXITGATED, "-l", "127.0.0.1:0"] + args,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=env, text=True)
        line = self.p.stdout.readline()
        m = re.match(r"listening 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError("exitgated did not listen: %r %s" % (line, self.text()))
        self.port = int(m.group(1))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_line(self, pattern, timeout=TIMEOUT, start=0):
        return self.wait_match(pattern, timeout, start) is not None

    def wait_match(self, pattern, timeout=TIMEOUT, start=0):
        """The first match of PATTERN in a line from START on, or None."""
        rx = re.compile(pattern)

        def first():
            for line in self.lines[start:]:
                m = rx.search(line)
                if m:
                    return m
            return None
        with self.cond:
            return self.cond.wait_for(first, timeout)

    def count(self, pattern):
        rx = re.compile(pattern)
        with self.cond:
            return sum(1 for l in self.lines if rx.search(l))

    def text(self):
        with self.cond:
            return "\n".join(self.lines)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


class CircuitClient:
    """tor-circuit-client: ExgTorClient and the tor backend, one command
    a line (see its source)."""

    def __init__(self, control, mmdb):
        self.proc = subprocess.Popen([CIRCUIT_CLIENT, control, mmdb], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, bufsize=1)

    def read(self, timeout=TIMEOUT):
        """The next line, or None after TIMEOUT seconds."""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            ready = sel.select(timeout)
        return self.proc.stdout.readline().rstrip("\n") if ready else None

    def ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.read()

    def stop(self):
        self.proc.stdin.close()
        try:
            return self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


# one operator's relays, as tor's MyFamily declares them: never two hops
# of one circuit
FAMILY = ("tnrelay1", "tnexit2", "tnexit3")


def recv_exact(s, n):
    return tornet._recv_exact(s, n)


def session(port, username=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    if username is None:
        s.sendall(b"\x05\x01\x00")
        assert recv_exact(s, 2) == b"\x05\x00"
    else:
        u = username.encode()
        s.sendall(b"\x05\x01\x02")
        assert recv_exact(s, 2) == b"\x05\x02"
        s.sendall(b"\x01" + bytes([len(u)]) + u + b"\x01x")
        assert recv_exact(s, 2) == b"\x01\x00"
    return s


def e0_session(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.sendall(b"\x05\x01\xe0")
    assert recv_exact(s, 2) == b"\x05\xe0"
    return s


def select(s, country=b"\0\0", start="0.0.0.0", end="255.255.255.255", min_bw=0):
    s.sendall(b"\x05\xe0\xff\xff" + country + socket.inet_aton(start)
              + socket.inet_aton(end) + struct.pack("!I", min_bw))
    return recv_exact(s, 14)


def connect_ip(s, host, port):
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(host) + struct.pack("!H", port))
    return recv_exact(s, 10)


def connect_name(s, name, port):
    s.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name.encode()
              + struct.pack("!H", port))
    head = recv_exact(s, 4)
    recv_exact(s, {1: 6, 4: 18, 0: 6}.get(head[3], 6))
    return head


def peer_ip(s):
    return tornet.recv_line(s).split()[0]


def through(port, target, username=None, host="127.0.0.1"):
    """One CONNECT; returns (reply code, the peer the target saw)."""
    with session(port, username) as s:
        if host == "127.0.0.1":
            code = connect_ip(s, host, target.port)[1]
        else:
            code = connect_name(s, host, target.port)[1]
        return code, (peer_ip(s) if code == 0 else None)


def tor_resolve(args, port):
    r = subprocess.run([TOR_RESOLVE] + args + ["127.0.0.1:%d" % port],
                       capture_output=True, text=True, timeout=TIMEOUT)
    return r.returncode, r.stdout.strip()


def open_stream(port, target_port, username=None):
    """A CONNECT kept open: (socket, reply code, the peer the target saw)."""
    s = session(port, username)
    code = connect_ip(s, "127.0.0.1", target_port)[1]
    return s, code, (peer_ip(s) if code == 0 else None)


def circuit_status(net):
    """tor's circuits: {id: (status, the last hop's fingerprint)}."""
    with net.control() as ctl:
        text = ctl.check("GETINFO circuit-status").value("circuit-status") or ""
    out = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 3 and f[2].startswith("$"):
            out[f[0]] = (f[1], f[2].split(",")[-1].lstrip("$").split("~")[0].split("=")[0])
        elif len(f) >= 2:
            out[f[0]] = (f[1], None)
    return out


def circuit_nicks(net, cid):
    """The nicknames of circuit CID's hops, guard first, from tor."""
    with net.control() as ctl:
        text = ctl.check("GETINFO circuit-status").value("circuit-status") or ""
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 3 and f[0] == cid and f[2].startswith("$"):
            return [hop.split("~")[-1] for hop in f[2].split(",")]
    return None


def new_streams(net, target_port, known):
    """tor's open streams to 127.0.0.1:TARGET_PORT not in KNOWN (which
    they are added to): [(stream id, circuit id)]."""
    with net.control() as ctl:
        text = ctl.check("GETINFO stream-status").value("stream-status") or ""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 4 and f[3] == "127.0.0.1:%d" % target_port and f[0] not in known:
            out.append((f[0], f[2]))
            known.add(f[0])
    return out


def getconf_leave(net):
    with net.control() as ctl:
        return ctl.check("GETCONF __LeaveStreamsUnattached").text()


def main():
    t0 = time.monotonic()
    with tornet.TorNet(None, reject_port_exit="tnexit1", families=[FAMILY]) as net, \
            tornet.TargetServer() as target:
        info = net.info
        fps = {r["nick"]: r["fingerprint"] for r in info["relays"]}
        rejected = tornet.TargetServer(port=info["rejected_port"])
        control = "127.0.0.1:%d" % info["client"]["control_port"]
        base = ["--tor-control", control, "--geoip", info["mmdb"]]
        note("network ready in %.1f s" % (time.monotonic() - t0))

        # --list-exits: every exit, with our GeoIP country and its bandwidth
        r = subprocess.run([EXITGATED, "--list-exits"] + base, capture_output=True,
                           text=True, timeout=90)
        rows = {l.split()[0]: l.split() for l in r.stdout.splitlines()[1:] if l.strip()}
        for nick, (ip, cc, bw) in EXITS.items():
            row = rows.get(nick)
            ok(row is not None and row[1:6] == ["tor", ip, cc, str(bw), "up"],
               "--list-exits: %s is a tor router %s %s %d up" % (nick, ip, cc, bw),
               r.stdout + r.stderr)
        ok(r.returncode == 0 and "direct" not in rows,
           "--list-exits: no direct exit in tor mode", r.stdout)
        ok(getconf_leave(net) == "__LeaveStreamsUnattached=0",
           "--list-exits leaves __LeaveStreamsUnattached at 0")

        # the default selection is Germany; -v for the ready circuit's id
        d = Daemon(base + ["--country", "DE", "-v"])
        try:
            ok(d.wait_line(r"tor: \d+ exit relays"), "daemon: tor's exits became routers",
               d.text())

            # a circuit to tnexit1 (the only DE exit) is built before any
            # client comes, and the first connection takes it
            m = d.wait_match(r"tor: circuit (\d+) to exit %s is ready" % fps["tnexit1"])
            ready_id = m.group(1) if m else None
            circs = circuit_status(net)
            ok(ready_id is not None and circs.get(ready_id) == ("BUILT", fps["tnexit1"]),
               "a circuit to the default selection's exit is built before any client",
               (ready_id, circs))
            known = set()
            ok(new_streams(net, target.port, known) == [], "no stream of ours yet")
            mark = len(d.lines)
            s0, code, peer = open_stream(d.port, target.port)
            streams = new_streams(net, target.port, known)
            ok(code == 0 and peer == "127.0.0.7" and [c for _s, c in streams] == [ready_id],
               "the first connection goes on the circuit kept ready", (code, peer, streams))
            # the stream's three hops, as the connection shows them
            m = d.wait_match(r"tor: stream (\d+) on circuit (\d+): (.*)$", start=mark)
            hops = m.group(3).split(" → ") if m else []
            want = circuit_nicks(net, ready_id) or []
            ok(m is not None and streams and m.group(1) == streams[0][0] and
               m.group(2) == ready_id and len(hops) == 3 and
               [h.split(" (")[0] for h in hops] == want and hops[2] == "tnexit1 (DE)",
               "the daemon names the stream's guard, middle and exit (with its country)",
               (m and m.group(0), want, streams))
            m = d.wait_match(r"tor: circuit (\d+) to exit %s is ready" % fps["tnexit1"],
                             start=mark)
            ok(m is not None and m.group(1) != ready_id and
               circuit_status(net).get(m.group(1)) == ("BUILT", fps["tnexit1"]),
               "once taken, another circuit is kept ready", m and m.group(1))

            # isolation: the client address and the username (no selection
            # keys) keep circuits apart; the same key reuses its circuit
            sa, code_a, peer_a = open_stream(d.port, target.port, "alice")
            ca = new_streams(net, target.port, known)
            sb, code_b, peer_b = open_stream(d.port, target.port, "bob")
            cb = new_streams(net, target.port, known)
            sa2, code_a2, peer_a2 = open_stream(d.port, target.port, "alice")
            ca2 = new_streams(net, target.port, known)
            diag = (code_a, code_b, code_a2, peer_a, peer_b, peer_a2, streams, ca, cb, ca2)
            ok((code_a, code_b, code_a2) == (0, 0, 0) and
               peer_a == peer_b == peer_a2 == "127.0.0.7" and
               len(ca) == len(cb) == len(ca2) == 1, "alice, bob, alice: three streams via tnexit1",
               diag)
            ok(len(ca) == len(cb) == 1 and ca[0][1] != cb[0][1],
               "different usernames to the same exit: different circuits", diag)
            ok(len(ca) == len(ca2) == 1 and ca[0][1] == ca2[0][1],
               "the same username again: the same circuit", diag)
            ok(len(streams) == len(ca) == 1 and streams[0][1] != ca[0][1],
               "no username and a username: different circuits", diag)
            for s in (s0, sa, sb, sa2):
                s.close()
            ok(d.wait_line(r"^tor: bootstrapped 100% \(Done\)$", 1),
               "daemon prints tor's bootstrap progress", d.text())
            ok(getconf_leave(net) == "__LeaveStreamsUnattached=1",
               "__LeaveStreamsUnattached is 1 while exitgated controls tor")

            code, peer = through(d.port, target)
            ok(code == 0 and peer == "127.0.0.7", "default selection (--country DE) pins tnexit1",
               (code, peer))

            for user, want in [("country=se", "127.0.0.8"), ("country=us", "127.0.0.9"),
                               ("range=127.0.0.8-127.0.0.8", "127.0.0.8"),
                               ("range=127.0.0.9/32", "127.0.0.9"),
                               ("min-bw=3000000", "127.0.0.9"),
                               ("via=tor,country=se", "127.0.0.8")]:
                code, peer = through(d.port, target, user)
                ok(code == 0 and peer == want, "username %s pins %s" % (user, want),
                   (code, peer))
            code, peer = through(d.port, target, "via=direct")
            ok(code == 2 and peer is None, "via=direct in tor mode: no exit matches (02)",
               (code, peer))

            # E0: the response names the exit, circuit_pos 3
            for kw, nick in [({"country": b"SE"}, "tnexit2"),
                             ({"start": "127.0.0.7", "end": "127.0.0.7"}, "tnexit1"),
                             ({"min_bw": 3000000}, "tnexit3")]:
                ip, cc, bw = EXITS[nick]
                with e0_session(d.port) as s:
                    resp = select(s, **kw)
                    want = (b"\x05\x00\xff\x03" + cc.encode() + socket.inet_aton(ip)
                            + struct.pack("!I", bw))
                    ok(resp == want, "E0 %s names %s (IPv4, country, bandwidth, pos 3)"
                       % (kw, nick), resp.hex())
                    reply = connect_ip(s, "127.0.0.1", target.port)
                    peer = peer_ip(s) if reply[1] == 0 else None
                    ok(peer == ip, "E0 %s pins the stream to %s" % (kw, nick), (reply.hex(), peer))

            # words beside the selection keys ("country=us,fam0") select
            # nothing but isolate: the same exit, a circuit of their own.
            # Each circuit's guard and middle are outside tnexit3's family
            # (tnrelay1, tnexit2), which tor's microdescriptors declare.
            paths, socks = {}, []
            for k in (0, 1, 2, 3, 4, 5, 0):
                s, code, peer = open_stream(d.port, target.port, "country=us,fam%d" % k)
                socks.append(s)
                opened = new_streams(net, target.port, known)
                cid = opened[0][1] if code == 0 and len(opened) == 1 else None
                paths.setdefault(k, []).append((peer, cid, cid and circuit_nicks(net, cid)))
            for s in socks:
                s.close()
            firsts = [paths[k][0] for k in range(6)]
            ok(all(peer == "127.0.0.9" and hops and hops[2] == "tnexit3"
                   for peer, _c, hops in firsts),
               "country=us,famK: tnexit3, whatever the word beside the key", paths)
            ok(len({cid for _p, cid, _h in firsts}) == 6 and paths[0][1][1] == paths[0][0][1],
               "different words: different circuits; the same word again: the same circuit",
               paths)
            ok(all(hops and not set(hops[:2]) & set(FAMILY) for _p, _c, hops in firsts),
               "no guard or middle in the exit's family (%s)" % ", ".join(FAMILY), paths)

            # names: resolved at the exit, never here
            try:
                socket.getaddrinfo("target.tornet.test", 80)
                local = True
            except socket.gaierror:
                local = False
            ok(not local, "target.tornet.test does not resolve on this machine")
            code, peer = through(d.port, target, "country=us", host="target.tornet.test")
            ok(code == 0 and peer == "127.0.0.9",
               "CONNECT by hostname is resolved at the exit (tnexit3)", (code, peer))
            rc, out = tor_resolve(["target.tornet.test"], d.port)
            ok(rc == 0 and out == "127.0.0.1", "tor-resolve (RESOLVE) through tor", (rc, out))
            rc, out = tor_resolve(["-x", "203.0.113.7"], d.port)
            ok(rc == 0 and out == "public.tornet.test", "tor-resolve -x (RESOLVE_PTR) through tor",
               (rc, out))
            rc, out = tor_resolve(["nosuch.tornet.test"], d.port)
            ok(rc != 0, "an unknown name fails", (rc, out))

            # tnexit1 rejects one port: selections never choose it there,
            # and after an E0 selection of it that port is refused (02)
            code, peer = through(d.port, rejected)
            ok(code == 2 and peer is None,
               "default selection (DE) to a port tnexit1 rejects: no exit (02)", (code, peer))
            code, peer = through(d.port, rejected, "country=de")
            ok(code == 2 and peer is None,
               "username country=de to a port tnexit1 rejects: no exit (02)", (code, peer))
            code, peer = through(d.port, rejected, "country=se")
            ok(code == 0 and peer == "127.0.0.8", "country=se reaches that port (tnexit2)",
               (code, peer))
            seen = [through(d.port, rejected, "range=127.0.0.7-127.0.0.9") for _ in range(6)]
            ok(all(code == 0 and peer in ("127.0.0.8", "127.0.0.9") for code, peer in seen),
               "a range with tnexit1 never picks it for that port", seen)
            with e0_session(d.port) as s:
                resp = select(s, start="127.0.0.7", end="127.0.0.7")
                reply = connect_ip(s, "127.0.0.1", rejected.port)
                ok(resp[1] == 0 and reply[1] == 2,
                   "E0 tnexit1, then a CONNECT to the port it rejects: refused (02)",
                   (resp.hex(), reply.hex()))
            ok(len(rejected.accepted) == 1 + len(seen),
               "the refused CONNECTs never reached the target", rejected.accepted)

            # the DNS-leak hint: one line for this client, never the target
            hints = [l for l in d.lines if "connects by IP address through a proxy or tor exit" in l]
            ok(len(hints) == 1 and "Client 127.0.0.1 " in hints[0] and
               str(target.port) not in hints[0],
               "CONNECTs by IP address through tor: one hint for the client", hints)

            # another client of the same tor is still served
            s = tornet.socks5_connect(("127.0.0.1", info["client"]["socks_port"]), "127.0.0.1", target.port)
            with s:
                line = tornet.recv_line(s)
            ok(re.match(r"127\.0\.0\.\d+ \d+", line), "a plain client of the shared tor is served",
               line)
        finally:
            rc = d.stop()
        ok(rc == 0, "exitgated exits 0", d.text())

        # a new circuit on request (exg_tor_client_new_circuit): that
        # exit's circuit for that isolation key only
        c = CircuitClient(control, info["mmdb"])
        try:
            ok(c.read(90) == "ready", "circuit client: tor is ready")
            known = set()
            fp1 = fps["tnexit1"]
            first = c.ask("connect %s %d k1" % (fp1, target.port))
            s1 = new_streams(net, target.port, known)
            again = c.ask("connect %s %d k1" % (fp1, target.port))
            s2 = new_streams(net, target.port, known)
            other = c.ask("connect %s %d k2" % (fp1, target.port))
            s3 = new_streams(net, target.port, known)
            diag = (first, again, other, s1, s2, s3)
            hops = first.split(" ", 2)[2].split(" → ") if first and first.startswith("open ") else []
            ok(len(s1) == 1 and len(hops) == 3 and hops[2] == "tnexit1 (DE)" and
               [h.split(" (")[0] for h in hops] == circuit_nicks(net, s1[0][1]),
               "the connection carries its circuit: guard, middle, exit as tor built it", diag)
            ok(len(s1) == len(s2) == len(s3) == 1 and s1[0][1] == s2[0][1] != s3[0][1],
               "before: the same key shares a circuit, another key has its own", diag)
            # the way the server's sessions connect: a dial, the socket
            # bare and the circuit told to the dial's function
            dialed = c.ask("dial %s %d k1" % (fp1, target.port))
            sd = new_streams(net, target.port, known)
            diag = (first, dialed, s1, sd)
            ok(dialed is not None and dialed.startswith("open ") and len(sd) == 1 and
               sd[0][1] == s1[0][1] and dialed.split(" ", 2)[2] == first.split(" ", 2)[2],
               "a dial of key k1 takes its circuit and names it as the connection did", diag)
            answer = c.ask("new %s k1" % fp1)
            ok(answer == "new 1", "new circuit for tnexit1, key k1: one closed", answer)
            after = c.ask("connect %s %d k1" % (fp1, target.port))
            s4 = new_streams(net, target.port, known)
            after2 = c.ask("connect %s %d k2" % (fp1, target.port))
            s5 = new_streams(net, target.port, known)
            circs = circuit_status(net)
            diag = (after, after2, s1, s3, s4, s5, circs)
            ok(after is not None and after.startswith("open ") and len(s4) == 1 and
               s4[0][1] != s1[0][1] and circs.get(s4[0][1]) == ("BUILT", fp1),
               "after: the next stream of key k1 is on a new circuit to tnexit1", diag)
            ok(s1[0][1] not in circs, "the old circuit is closed", diag)
            ok(len(s5) == 1 and s5[0][1] == s3[0][1], "key k2 keeps its circuit", diag)
            ok(c.ask("new %s nosuchkey" % fp1) == "new 0", "a key with no circuit: none closed")

            # a GeoIP database that arrives after the exits are routers
            # gives them their countries; they stay up and usable
            with_db = "exits tnexit1:DE:up tnexit2:SE:up tnexit3:US:up"
            before = c.ask("exits")
            gone = (c.ask("geoip none"), c.ask("exits"))
            late = (c.ask("geoip " + info["mmdb"]), c.ask("exits"))
            diag = (before, gone, late)
            ok(before == with_db and gone == ("geoip 3", "exits tnexit1:-:up tnexit2:-:up tnexit3:-:up"),
               "without a database the tor exits have no country", diag)
            ok(late == ("geoip 3", with_db), "a late database gives them their countries", diag)
            late_open = c.ask("connect %s %d k9" % (fps["tnexit3"], target.port))
            ok(late_open is not None and late_open.endswith("tnexit3 (US)"),
               "and a stream through one of them names its country", late_open)
        finally:
            rc = c.stop()
        ok(rc == 0, "circuit client exits 0")
        ok(getconf_leave(net) == "__LeaveStreamsUnattached=0",
           "__LeaveStreamsUnattached is 0 again after exitgated exits")

        # losing tor: a stream through it closes, the routers go down, and
        # they come back with tor
        d = Daemon(base)
        try:
            ok(d.wait_line(r"tor: \d+ exit relays"), "daemon: connected again", d.text())
            s = session(d.port, "country=se")
            reply = connect_ip(s, "127.0.0.1", target.port)
            ok(reply[1] == 0 and peer_ip(s) == "127.0.0.8", "a stream through tnexit2 is open")
            mark = len(d.lines)
            client_pid = info["client"]["pid"]
            os.kill(client_pid, signal.SIGKILL)
            s.settimeout(TIMEOUT)
            try:
                data = s.recv(100)
            except ConnectionResetError:
                data = b""
            s.close()
            ok(data == b"", "tor killed: the client's stream is closed", data)
            ok(d.wait_line(r"tor: lost", start=mark), "tor killed: the daemon says tor is lost",
               d.text())
            code, peer = through(d.port, target, "country=se")
            ok(code != 0 and peer is None, "tor killed: tor routers are down (no exit)",
               (code, peer))
            try:
                os.waitpid(client_pid, 0)
            except ChildProcessError:
                pass
            c = info["client"]
            net.client = net.start_client(c["nick"], c["socks_port"], c["control_port"])
            mark = len(d.lines)
            ok(d.wait_line(r"tor: \d+ exit relays", timeout=60, start=mark),
               "tor back: its exits are routers again", d.text())
            code, peer = through(d.port, target, "country=se")
            ok(code == 0 and peer == "127.0.0.8", "tor back: streams are pinned again",
               (code, peer))
        finally:
            d.stop()

        # managed: a tor of our own joins the network through --tor-torrc
        with tempfile.TemporaryDirectory() as tmp:
            torrc = info["torrc_network"]   # TestingTorNetwork, DirAuthority lines
            env = dict(os.environ, XDG_DATA_HOME=os.path.join(tmp, "data"))
            d = Daemon(["--tor-managed", "--tor-torrc", torrc, "--geoip", info["mmdb"]], env=env)
            try:
                ok(d.wait_line(r"tor: \d+ exit relays", timeout=90),
                   "managed tor: bootstrapped and its exits are routers", d.text())
                ok(d.wait_line(r"^tor: bootstrapped \d+% ", 1) and
                   d.wait_line(r"^tor: bootstrapped 100% \(Done\)$", 1),
                   "managed tor: bootstrap progress on stderr", d.text())
                ok(os.path.isdir(os.path.join(tmp, "data", "exitgate", "tor")),
                   "managed tor: DataDirectory under $XDG_DATA_HOME/exitgate/tor")
                code, peer = through(d.port, target, "country=us")
                ok(code == 0 and peer == "127.0.0.9", "managed tor: pins tnexit3", (code, peer))
            finally:
                rc = d.stop()
            ok(rc == 0, "managed: exitgated exits 0", d.text())

        # a circuit that cannot be built is tried again on a new path, a
        # bounded number of times: with tnexit1 stopped (still in the
        # consensus), a stream pinned to it fails after three builds
        net.stop_process("tnexit1")
        d = Daemon(base + ["--verbose"])
        try:
            ok(d.wait_line(r"tor: \d+ exit relays"), "daemon: connected again", d.text())
            mark = len(d.lines)
            code, peer = through(d.port, target, "country=de")
            last = d.wait_line(r"building another \(3 of 3\)", start=mark)
            tries = [l for l in d.lines[mark:] if "building another" in l]
            ok(code != 0 and peer is None and last and len(tries) == 2,
               "an exit that cannot be reached: three paths tried, then the stream fails",
               (code, tries))
        finally:
            d.stop()
        rejected.close()

    note("total %.1f s" % (time.monotonic() - t0))
    print("1..%d" % len(results), flush=True)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
