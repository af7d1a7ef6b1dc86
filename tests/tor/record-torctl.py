#!/usr/bin/python3
# record-torctl.py: record what tor's control port sends, byte for byte
# (CRLF kept), for the control-reply parser's unit tests.
#
#   record-torctl.py OUTDIR [--build-dir B]
#
# Starts the private Tor network (tornet.py), runs each exchange on the
# client tor's ControlPort and writes one file per exchange in OUTDIR:
# only the bytes tor sent, as it sent them.  The commands sent are listed
# in OUTDIR/README.md.  Run it again to refresh the recordings; the network
# is stopped at the end, or on any failure.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import argparse
import hashlib
import hmac
import os
import re
import shutil
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tornet  # noqa: E402

TIMEOUT = 30
TOR_RESOLVE = shutil.which("tor-resolve") or "/usr/bin/tor-resolve"


class Recorder:
    def __init__(self, outdir):
        self.outdir = outdir
        self.index = []         # (file, commands, what)

    def save(self, name, data, commands, what):
        with open(os.path.join(self.outdir, name), "wb") as f:
            f.write(data)
        self.index.append((name, commands, what))
        print("%-40s %6d bytes" % (name, len(data)), flush=True)

    def exchange(self, ctl, name, command, what, shown=None):
        """Send one command on a connection without events; save the reply."""
        ctl.take_recording()
        ctl.command(command, TIMEOUT)
        self.save(name, ctl.take_recording(), [shown or command], what)


def connect(net, client=None):
    c = client or net.client
    return tornet.Control(c["host"], c["control_port"], timeout=TIMEOUT, record=True)


def cookie_of(client):
    with open(client["cookie_file"], "rb") as f:
        return f.read()


def record_auth(rec, net):
    with connect(net) as ctl:
        rec.exchange(ctl, "protocolinfo.raw", "PROTOCOLINFO 1",
                     "PROTOCOLINFO before authentication: AUTH METHODS=COOKIE,SAFECOOKIE "
                     "with a quoted COOKIEFILE, VERSION")
        ctl.take_recording()
        nonce = os.urandom(32).hex()
        # safecookie() sends AUTHCHALLENGE, checks tor's hash, then AUTHENTICATEs.
        reply = ctl.command("AUTHCHALLENGE SAFECOOKIE " + nonce)
        rec.save("authchallenge-safecookie.raw", ctl.take_recording(),
                 ["AUTHCHALLENGE SAFECOOKIE <32 random bytes, hex>"],
                 "the SERVERHASH and SERVERNONCE reply")
        fields = dict(kv.split("=", 1) for kv in reply.text().split()[1:])
        msg = cookie_of(net.client) + bytes.fromhex(nonce) + bytes.fromhex(fields["SERVERNONCE"])
        mine = hmac.new(b"Tor safe cookie authentication controller-to-server hash",
                        msg, hashlib.sha256).hexdigest()
        rec.exchange(ctl, "authenticate-ok.raw", "AUTHENTICATE " + mine,
                     "a successful AUTHENTICATE (SAFECOOKIE hash)",
                     shown="AUTHENTICATE <HMAC-SHA256 controller-to-server hash, hex>")

    with connect(net) as ctl:
        ctl.take_recording()
        ctl.sock.sendall(b"AUTHENTICATE 00\r\n")
        # tor answers 515 and closes the connection: read to the end.
        data = b""
        ctl.sock.settimeout(TIMEOUT)
        while True:
            chunk = ctl.sock.recv(4096)
            if not chunk:
                break
            data += chunk
        rec.save("authenticate-bad.raw", data, ["AUTHENTICATE 00"],
                 "a wrong cookie: 515, then tor closes the connection")


def record_getinfo(rec, net):
    with connect(net) as ctl:
        ctl.authenticate()
        rec.exchange(ctl, "getinfo-ns-all.raw", "GETINFO ns/all",
                     "250+ data block: r/s/w lines of all 8 relays")
        rec.exchange(ctl, "getinfo-md-all.raw", "GETINFO md/all",
                     "250+ data block: every microdescriptor the client has")
        for r in net.info["relays"]:
            if r["is_exit"]:
                rec.exchange(ctl, "getinfo-md-id-%s.raw" % r["nick"],
                             "GETINFO md/id/" + r["fingerprint"],
                             "250+ data block: one exit's microdescriptor, with its p line")
        rec.exchange(ctl, "getinfo-net-listeners-socks.raw", "GETINFO net/listeners/socks",
                     "a quoted address in a one-line 250-")
        rec.exchange(ctl, "getinfo-entry-guards.raw", "GETINFO entry-guards",
                     "250+ data block of guards and their status")
        rec.exchange(ctl, "getinfo-several-keys.raw",
                     "GETINFO version status/bootstrap-phase ip-to-country/127.0.0.7",
                     "three keys: three 250- lines, then 250 OK")
        rec.exchange(ctl, "unknown-command.raw", "FROBNICATE",
                     "510 for an unrecognised command")
        rec.exchange(ctl, "getinfo-bad-key.raw", "GETINFO no-such-key",
                     "552 for an unrecognised GETINFO key")
        rec.exchange(ctl, "getconf-leave-streams.raw", "GETCONF __LeaveStreamsUnattached",
                     "a one-line GETCONF reply")


def pick_path(ctl, net):
    guards = ctl.check("GETINFO entry-guards").value("entry-guards")
    guard = next(l.split()[0].lstrip("$").split("~")[0] for l in guards.splitlines() if " up" in l)
    middle = next(r["fingerprint"] for r in net.info["relays"]
                  if r["role"] == "middle" and r["fingerprint"] != guard)
    return guard, middle


def build(ctl, path):
    cid = ctl.check("EXTENDCIRCUIT 0 " + ",".join(path)).text().split()[1]
    ev = ctl.event(lambda t: re.match(r"CIRC %s (BUILT|FAILED|CLOSED)\b" % cid, t), TIMEOUT)
    if " BUILT " not in ev.lines[0][2]:
        raise tornet.TorNetError(ev.lines[0][2])
    return cid


def record_streams(rec, net, target):
    """CIRC and STREAM events of pinned streams, then circuit-status, then
    NEWRESOLVE streams, each window saved as tor sent it."""
    exits = [r for r in net.info["relays"] if r["is_exit"]]
    with connect(net) as ctl:
        ctl.authenticate()
        guard, middle = pick_path(ctl, net)
        ctl.take_recording()
        commands = ["SETEVENTS STREAM CIRC", "SETCONF __LeaveStreamsUnattached=1"]
        ctl.check(commands[0])
        ctl.check(commands[1])
        circuits = []
        for r, host in ((exits[0], "127.0.0.1"), (exits[2], "target.tornet.test")):
            cmd = "EXTENDCIRCUIT 0 %s,%s,%s" % (guard, middle, r["fingerprint"])
            cid = build(ctl, (guard, middle, r["fingerprint"]))
            circuits.append(cid)
            s = socket.create_connection(("127.0.0.1", net.info["client"]["socks_port"]),
                                                timeout=TIMEOUT)
            with s:
                s.sendall(b"\x05\x01\x00")
                tornet._recv_exact(s, 2)
                try:
                    addr = b"\x01" + socket.inet_aton(host)
                except OSError:
                    addr = b"\x03" + bytes([len(host)]) + host.encode()
                s.sendall(b"\x05\x01\x00" + addr + target.port.to_bytes(2, "big"))
                src = "SOURCE_ADDR=127.0.0.1:%d" % s.getsockname()[1]
                ev = ctl.event(lambda t: " NEW " in t and src in t.split(), TIMEOUT)
                sid = ev.lines[0][2].split()[1]
                ctl.check("ATTACHSTREAM %s %s" % (sid, cid))
                ctl.event(lambda t: re.match(r"STREAM %s SUCCEEDED\b" % sid, t), TIMEOUT)
                tornet._recv_exact(s, 10)
                tornet.recv_line(s)
            ctl.event(lambda t: re.match(r"STREAM %s CLOSED\b" % sid, t), TIMEOUT)
            commands += [cmd, "(SOCKS5 CONNECT %s:PORT from 127.0.0.1:LOCALPORT)" % host,
                         "ATTACHSTREAM <id of STREAM NEW with that SOURCE_ADDR> <circuit>"]

        # circuit-status, with events still on: an event may come first.
        data = ctl.take_recording()
        ctl.check("GETINFO circuit-status")
        both = ctl.take_recording()
        rec.save("events-circ-stream.raw", data, commands,
                 "650 CIRC and STREAM events of two pinned streams (by IP, by name), "
                 "tor's own circuits interleaved, and the 250 replies to each command")
        rec.save("getinfo-circuit-status.raw", both, ["GETINFO circuit-status"],
                 "250+ data block with our circuits and tor's (conflux, vanguards); "
                 "CIRC/STREAM events may come before it, as they were enabled")

        socks = "127.0.0.1:%d" % net.info["client"]["socks_port"]
        commands = []
        for args, subject, cid in ((["exit1.tornet.test", socks], "exit1.tornet.test", circuits[0]),
                                   (["-x", "203.0.113.7", socks], "203.0.113.7", circuits[1]),
                                   (["nosuch.tornet.test", socks], "nosuch.tornet.test", circuits[0])):
            p = subprocess.Popen([TOR_RESOLVE] + args, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            try:
                ev = ctl.event(lambda t: " NEWRESOLVE " in t
                               and t.split()[4].lower().startswith(subject + ":"), TIMEOUT)
                sid = ev.lines[0][2].split()[1]
                ctl.check("ATTACHSTREAM %s %s" % (sid, cid))
                ctl.event(lambda t: re.match(r"STREAM %s (CLOSED|FAILED)\b" % sid, t), TIMEOUT)
                out, err = p.communicate(timeout=TIMEOUT)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            commands += ["(tor-resolve %s)" % " ".join(args[:-1]),
                         "ATTACHSTREAM <id of STREAM NEWRESOLVE> <circuit>"]
            print("  tor-resolve %s -> %s" % (" ".join(args[:-1]),
                                              (out or err).decode().strip()), flush=True)
        for cid in circuits:
            ctl.check("CLOSECIRCUIT %s" % cid)
            commands.append("CLOSECIRCUIT %s" % cid)
        ctl.check("SETCONF __LeaveStreamsUnattached=0")
        ctl.check("SETEVENTS")
        commands += ["SETCONF __LeaveStreamsUnattached=0", "SETEVENTS"]
        rec.save("events-stream-newresolve.raw", ctl.take_recording(), commands,
                 "STREAM NEWRESOLVE events for a name, an address (RESOLVE_PTR) and an "
                 "NXDOMAIN name, their CLOSED/FAILED, CIRC CLOSED, and the 250 replies")


def record_bootstrap(rec, net):
    """A second client tor, started with DisableNetwork 1, bootstraps while
    two controllers watch it: STATUS_CLIENT on one, NEWCONSENSUS on the other."""
    client = net.add_client()
    try:
        a = net.control(client, record=True)
        b = net.control(client, record=True)
        with a, b:
            a.take_recording()
            b.take_recording()
            b.check("SETEVENTS NEWCONSENSUS")
            a.check("SETEVENTS STATUS_CLIENT")
            a.check("SETCONF DisableNetwork=0")
            a.event(lambda t: t.startswith("STATUS_CLIENT") and "PROGRESS=100 " in t, 60)
            b.event(lambda t: t.startswith("NEWCONSENSUS"), 60)
            a.check("SETEVENTS")
            b.check("SETEVENTS")
            rec.save("events-status-client-bootstrap.raw", a.take_recording(),
                     ["SETEVENTS STATUS_CLIENT", "SETCONF DisableNetwork=0",
                      "(wait for BOOTSTRAP PROGRESS=100)", "SETEVENTS"],
                     "650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=… lines from 0 to 100, "
                     "quoted SUMMARY, and other STATUS_CLIENT events")
            rec.save("events-newconsensus.raw", b.take_recording(),
                     ["SETEVENTS NEWCONSENSUS", "(wait for the first NEWCONSENSUS)", "SETEVENTS"],
                     "a multi-line 650+NEWCONSENSUS event (data block, then 650 OK)")
    finally:
        net.stop_process(client["nick"])


README_HEAD = """# Recorded tor control-port output

Raw bytes that tor {version} sent on its ControlPort, CRLF line ends kept,
one file per exchange, for the control-reply parser's unit tests.  Nothing
is edited or trimmed.  Recorded with `tests/tor/record-torctl.py` against
the private loopback network of `tests/tor/tornet.py` (3 authorities,
2 middle relays, 3 exits tnexit1..3 on 127.0.0.7..9, a client tor):

    /usr/bin/python3 tests/tor/record-torctl.py tests/unit/data/torctl --build-dir build

Only what tor sent is in a file; what was sent to it is listed below.
The fingerprints, nonces, ports and circuit ids change with every recording.

| file | commands sent, in order | what it shows |
|---|---|---|
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--build-dir", default=None)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    os.makedirs(args.outdir, exist_ok=True)
    rec = Recorder(args.outdir)
    with tornet.TorNet(None, build_dir=args.build_dir) as net:
        version = subprocess.run([tornet.TOR, "--version"], capture_output=True,
                                 text=True).stdout.split("\n")[0]
        version = version.removeprefix("Tor version ").rstrip(".")
        record_auth(rec, net)
        record_getinfo(rec, net)
        with tornet.TargetServer(net.tor_pids()) as target:
            record_streams(rec, net, target)
        record_bootstrap(rec, net)
    with open(os.path.join(args.outdir, "README.md"), "w") as f:
        f.write(README_HEAD.format(version=version))
        for name, commands, what in rec.index:
            f.write("| `%s` | %s | %s |\n" % (name, "<br>".join("`%s`" % c for c in commands), what))
    with open(os.path.join(args.outdir, ".gitattributes"), "w") as f:
        f.write("# tor's bytes as they were: CRLF kept, no conversion, no diff as text.\n"
                "*.raw -text\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
