#!/usr/bin/python3
# test-exits.py: router selection end to end, on loopback.
#
# Four upstream SOCKS5 proxies whose outgoing connections leave from their
# own address:
#   se-1  exitgated on 127.0.0.2, direct exit bound to 127.0.0.2
#   de-1  exitgated on 127.0.0.3, direct exit bound to 127.0.0.3 (speaks F0/F1)
#   se-2  microsocks on 127.0.0.4 -b 127.0.0.4
#   us-1  microsocks on 127.0.0.5 -b 127.0.0.5
# a test MMDB (exg-make-mmdb) that puts those addresses in made-up
# countries, targets that answer with the peer address they saw, and the
# front exitgated with one [exit NAME] type=socks5 group per upstream and
# no country: the country comes from the MMDB.  Two more exits of the other
# kinds, with their country in the config:
#   nl-1  type=socks4a through de-1's exitgated (leaves from 127.0.0.3)
#   fi-1  type=http-connect through a small HTTP proxy here that connects
#         from 127.0.0.6
#
# SPDX-License-Identifier: GPL-3.0-or-later

import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.environ["EXG_SOURCE_ROOT"], "tests", "lib"))
from exgtest import (TIMEOUT, Daemon, HttpServer, Target, e0_select,  # noqa: E402
                     free_port, read_v5_reply, recv_exact, recv_line,
                     v5_request, v5_session)
import exgtest  # noqa: E402

MAKE_MMDB = os.environ.get("EXG_MAKE_MMDB", "exg-make-mmdb")

ROUTERS = {
    # name: (address, country, bandwidth, kind of upstream)
    "se-1": ("127.0.0.2", "SE", 5000000, "exitgated"),
    "de-1": ("127.0.0.3", "DE", 2000000, "exitgated"),
    "se-2": ("127.0.0.4", "SE", 1000000, "microsocks"),
    "us-1": ("127.0.0.5", "US", 0x1_0000_0000 + 7, "microsocks"),  # > 32 bits: capped
}

procs = []          # microsocks processes we started, to stop by pid
daemons = []        # exitgated daemons we started
state = {}          # ports and processes, filled by setUpModule


def start_exitgated(config_text, tmp, name):
    path = os.path.join(tmp, name + ".conf")
    with open(path, "w") as f:
        f.write(config_text)
    d = Daemon("--config", path)
    daemons.append(d)
    return d, d.port


def wait_listening(address, port):
    """microsocks says nothing when it is ready: retry connecting, bounded."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            socket.create_connection((address, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError("nothing listens on %s:%d" % (address, port))


def start_microsocks(address):
    port = free_port(address)
    p = subprocess.Popen(["microsocks", "-i", address, "-p", str(port), "-b", address],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    wait_listening(address, port)
    return p, port


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(TIMEOUT)


class ConnectProxy(threading.Thread):
    """A small HTTP CONNECT proxy whose connections leave from 127.0.0.6."""

    SOURCE = "127.0.0.6"

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    @staticmethod
    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def serve(self, conn):
        conn.settimeout(TIMEOUT * 3)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 8192:
                chunk = conn.recv(1)
                if not chunk:
                    conn.close()
                    return
                head += chunk
            method, authority, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
            host, port = authority.decode().rsplit(":", 1)
            out = socket.create_connection((host, int(port)), timeout=TIMEOUT,
                                           source_address=(self.SOURCE, 0))
        except (OSError, ValueError):
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            conn.close()
            return
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        t = threading.Thread(target=self.pump, args=(out, conn), daemon=True)
        t.start()
        self.pump(conn, out)
        t.join(TIMEOUT * 3)
        conn.close()
        out.close()


def setUpModule():
    tmp = tempfile.mkdtemp(prefix="exg-exits-")
    state["tmp"] = tmp
    mmdb = os.path.join(tmp, "test.mmdb")
    subprocess.run([MAKE_MMDB, mmdb] + ["%s=%s" % (a, c) for a, c, _, _ in ROUTERS.values()],
                   check=True, timeout=TIMEOUT)

    state["echo"] = Target("peer")
    state["page"] = HttpServer()

    upstream = {}
    for name, (address, _, _, kind) in ROUTERS.items():
        if kind == "exitgated":
            upstream[name] = start_exitgated(
                "[server]\nlisten=%s:0\n\n[exit out]\ntype=direct\nsource-address=%s\n"
                % (address, address), tmp, name)
        else:
            upstream[name] = start_microsocks(address)
    state["upstream"] = upstream

    connect_proxy = ConnectProxy()
    connect_proxy.start()
    state["connect_proxy"] = connect_proxy

    config = "[server]\nlisten=127.0.0.1:0\ngeoip=%s\n" % mmdb
    for name, (address, _, bandwidth, _) in ROUTERS.items():
        config += ("\n[exit %s]\ntype=socks5\naddress=%s\nport=%d\nbandwidth=%d\n"
                   % (name, address, upstream[name][1], bandwidth))
    # bandwidths below every min-bw the selection tests ask for
    config += ("\n[exit nl-1]\ntype=socks4a\naddress=127.0.0.3\nport=%d\n"
               "bandwidth=1200000\ncountry=NL\n" % upstream["de-1"][1])
    config += ("\n[exit fi-1]\ntype=http-connect\naddress=127.0.0.1\nport=%d\n"
               "bandwidth=1100000\ncountry=FI\n" % connect_proxy.port)
    front, port = start_exitgated(config, tmp, "front")
    state["front"] = front
    state["port"] = port


def tearDownModule():
    for d in reversed(daemons):
        d.stop()
    for p in reversed(procs):
        stop(p)
    if "page" in state:
        state["page"].close()
    if "echo" in state:
        state["echo"].close()
    if "connect_proxy" in state:
        state["connect_proxy"].sock.close()


# -- raw SOCKS5 -------------------------------------------------------------

def front():
    return ("127.0.0.1", state["port"])


def e0_session():
    return exgtest.e0_session(front())


def select(s, **kw):
    return e0_select(s, **kw)


def connect_ip(s, host, port):
    s.sendall(v5_request(1, host, port))
    return read_v5_reply(s)[1]


def connect_name(s, name, port):
    s.sendall(v5_request(1, name, port))
    return read_v5_reply(s)[1]


def userpass_session(username, password="x"):
    return v5_session(front(), username, password)


def peer_line(s):
    return recv_line(s)


def expect_close(s):
    """The peer closes: EOF (or a reset) within the bound, nothing else."""
    s.settimeout(TIMEOUT)
    try:
        data = s.recv(100)
    except ConnectionResetError:
        return
    assert data == b"", data


class Selection(unittest.TestCase):
    def check_response(self, resp, name):
        address, country, bandwidth, _ = ROUTERS[name]
        self.assertEqual(resp[0:4], b"\x05\x00\xff\x02")  # ok, scope FF, two hops
        self.assertEqual(resp[4:6], country.encode())
        self.assertEqual(resp[6:10], socket.inet_aton(address))  # network order
        self.assertEqual(resp[10:14], struct.pack("!I", min(bandwidth, 0xFFFFFFFF)))

    def test_country_selects_the_router_the_target_sees(self):
        for _ in range(6):
            with e0_session() as s:
                resp = select(s, country=b"SE")
                name = {ROUTERS[n][0]: n for n in ROUTERS}[socket.inet_ntoa(resp[6:10])]
                self.assertIn(name, ("se-1", "se-2"))
                self.check_response(resp, name)
                self.assertEqual(connect_ip(s, "127.0.0.1", state["echo"].port), 0)
                # the exit reported is the exit used
                self.assertEqual(peer_line(s), "peer=" + ROUTERS[name][0])
                s.sendall(b"ping\n")
                self.assertEqual(recv_exact(s, 5), b"ping\n")

    def test_lower_case_country(self):
        with e0_session() as s:
            self.check_response(select(s, country=b"de"), "de-1")
            self.assertEqual(connect_ip(s, "127.0.0.1", state["echo"].port), 0)
            self.assertEqual(peer_line(s), "peer=127.0.0.3")

    def test_last_selection_wins(self):
        with e0_session() as s:
            self.check_response(select(s, country=b"DE"), "de-1")
            self.assertEqual(select(s, country=b"SE")[1], 0)
            self.check_response(select(s, country=b"US"), "us-1")
            self.assertEqual(connect_name(s, "localhost", state["echo"].port), 0)
            self.assertEqual(peer_line(s), "peer=127.0.0.5")

    def test_bandwidth_capped_and_byte_order(self):
        with e0_session() as s:
            resp = select(s, min_bw=3000000)   # se-1 (5 MB/s) or us-1
            self.assertEqual(resp[1], 0)
            self.assertIn(socket.inet_ntoa(resp[6:10]), ("127.0.0.2", "127.0.0.5"))
            resp = select(s, country=b"US")
            self.assertEqual(resp[10:14], b"\xff\xff\xff\xff")
            resp = select(s, country=b"SE", start="127.0.0.2", end="127.0.0.2")
            self.assertEqual(resp, b"\x05\x00\xff\x02SE\x7f\x00\x00\x02\x00\x4c\x4b\x40")

    def test_range_and_min_bandwidth(self):
        with e0_session() as s:
            self.check_response(select(s, start="127.0.0.3", end="127.0.0.4",
                                       min_bw=1500000), "de-1")
            self.check_response(select(s, country=b"SE", min_bw=4000000), "se-1")
            self.check_response(select(s, start="127.0.0.4", end="127.0.0.4"), "se-2")
            self.assertEqual(connect_ip(s, "127.0.0.1", state["echo"].port), 0)
            self.assertEqual(peer_line(s), "peer=127.0.0.4")

    def test_no_match_is_ff_and_the_connection_stays_usable(self):
        with e0_session() as s:
            for req in (dict(country=b"FR"),
                        dict(start="127.0.0.4", end="127.0.0.2"),        # start > end
                        dict(country=b"SE", min_bw=6000000),
                        dict(start="10.0.0.0", end="10.255.255.255")):
                resp = select(s, **req)
                self.assertEqual(resp[0:3], b"\x05\xff\xff", req)
                self.assertEqual(resp[6:14], b"\0" * 8, req)
            self.check_response(select(s, country=b"DE"), "de-1")
            self.assertEqual(connect_ip(s, "127.0.0.1", state["echo"].port), 0)
            self.assertEqual(peer_line(s), "peer=127.0.0.3")

    def test_failed_last_selection_refuses_with_02(self):
        with e0_session() as s:
            self.assertEqual(select(s, country=b"DE")[1], 0)
            self.assertEqual(select(s, country=b"FR")[1], 0xFF)
            self.assertEqual(connect_ip(s, "127.0.0.1", state["echo"].port), 0x02)

    def test_malformed_selection_closes(self):
        with e0_session() as s:
            s.sendall(b"\x06\xe0" + b"\xff" * 16)   # wrong version
            expect_close(s)
        # the server keeps serving others
        with e0_session() as s:
            self.check_response(select(s, country=b"DE"), "de-1")

    def test_username_selection(self):
        with userpass_session("country=de") as s:
            self.assertEqual(connect_ip(s, "127.0.0.1", state["echo"].port), 0)
            self.assertEqual(peer_line(s), "peer=127.0.0.3")
        with userpass_session("country=se,min-bw=4000000") as s:
            self.assertEqual(connect_name(s, "localhost", state["echo"].port), 0)
            self.assertEqual(peer_line(s), "peer=127.0.0.2")
        with userpass_session("range=127.0.0.5-127.0.0.5") as s:
            self.assertEqual(connect_ip(s, "127.0.0.1", state["echo"].port), 0)
            self.assertEqual(peer_line(s), "peer=127.0.0.5")
        # a country no router has: 02, never another country
        with userpass_session("country=fr") as s:
            self.assertEqual(connect_ip(s, "127.0.0.1", state["echo"].port), 0x02)

    def curl(self, user, host="127.0.0.1"):
        url = "http://%s:%d/" % (host, state["page"].port)
        return subprocess.run(["curl", "-sS", "--max-time", str(TIMEOUT),
                               "--socks5-hostname", "127.0.0.1:%d" % state["port"],
                               "--proxy-user", user, url],
                              capture_output=True, text=True, timeout=TIMEOUT * 2)

    def test_curl_username(self):
        r = self.curl("country=se:x", host="localhost")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(r.stdout, ("peer=127.0.0.2 path=/", "peer=127.0.0.4 path=/"))
        r = self.curl("country=DE:x")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "peer=127.0.0.3 path=/")
        r = self.curl("country=us:x")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "peer=127.0.0.5 path=/")
        r = self.curl("country=fr:x")
        self.assertEqual(r.returncode, 97, r.stderr)   # CURLE_PROXY
        self.assertIn("(2)", r.stderr)                 # the SOCKS5 reply: 02

    def test_resolve_through_upstreams(self):
        # de-1 is an exitgated: it speaks F0 and resolves at its end
        with userpass_session("country=de") as s:
            s.sendall(b"\x05\xf0\x00\x03\x09localhost\x00\x00")
            reply = recv_exact(s, 10)
            self.assertEqual(reply[:4], b"\x05\x00\x00\x01")
            self.assertEqual(reply[4:8], socket.inet_aton("127.0.0.1"))
        # us-1 is microsocks: it answers 07, and so do we (no local lookup)
        with userpass_session("country=us") as s:
            s.sendall(b"\x05\xf0\x00\x03\x09localhost\x00\x00")
            self.assertEqual(recv_exact(s, 2), b"\x05\x07")

    def test_socks4a_and_http_connect_exits(self):
        # nl-1: SOCKS4a to de-1's exitgated, which connects from 127.0.0.3
        with e0_session() as s:
            resp = select(s, country=b"NL")
            self.assertEqual(resp, b"\x05\x00\xff\x02NL\x7f\x00\x00\x03"
                             + struct.pack("!I", 1200000))
            self.assertEqual(connect_name(s, "localhost", state["echo"].port), 0)
            self.assertEqual(peer_line(s), "peer=127.0.0.3")
        r = self.curl("country=nl:x", host="localhost")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "peer=127.0.0.3 path=/")
        # RESOLVE over SOCKS4a, answered by the upstream
        with userpass_session("country=nl") as s:
            s.sendall(b"\x05\xf0\x00\x03\x09localhost\x00\x00")
            reply = recv_exact(s, 10)
            self.assertEqual(reply[:8], b"\x05\x00\x00\x01\x7f\x00\x00\x01")

        # fi-1: HTTP CONNECT; the proxy's connections leave from 127.0.0.6
        # (no country in the MMDB for its own address: config says FI)
        r = self.curl("country=fi:x", host="localhost")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "peer=127.0.0.6 path=/")
        with userpass_session("country=fi") as s:
            self.assertEqual(connect_ip(s, "127.0.0.1", state["echo"].port), 0)
            self.assertEqual(peer_line(s), "peer=127.0.0.6")
            s.sendall(b"through http\n")
            self.assertEqual(recv_exact(s, 13), b"through http\n")
        # no names over HTTP CONNECT: 07, not a local lookup
        with userpass_session("country=fi") as s:
            s.sendall(b"\x05\xf0\x00\x03\x09localhost\x00\x00")
            self.assertEqual(recv_exact(s, 2), b"\x05\x07")

    def test_z_upstream_killed(self):
        """Runs last: kills se-2.  Its open connections close cleanly; new
        SE connections fail over to se-1."""
        with e0_session() as s:
            self.check_response(select(s, start="127.0.0.4", end="127.0.0.4"), "se-2")
            self.assertEqual(connect_ip(s, "127.0.0.1", state["echo"].port), 0)
            self.assertEqual(peer_line(s), "peer=127.0.0.4")
            s.sendall(b"before\n")
            self.assertEqual(recv_exact(s, 7), b"before\n")

            stop(state["upstream"]["se-2"][0])   # microsocks
            expect_close(s)

        for _ in range(10):
            with userpass_session("country=se") as s:
                self.assertEqual(connect_ip(s, "127.0.0.1", state["echo"].port), 0)
                self.assertEqual(peer_line(s), "peer=127.0.0.2")
        # pinned to the dead router alone: a failure, never another exit
        with userpass_session("range=127.0.0.4-127.0.0.4") as s:
            self.assertNotEqual(connect_ip(s, "127.0.0.1", state["echo"].port), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
