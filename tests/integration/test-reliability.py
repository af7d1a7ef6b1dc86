#!/usr/bin/python3
# test-reliability.py: exitgated as an unlucky user and a hostile client
# meet it.
#
# - Exits that come up after the daemon serve at once; an upstream killed
#   and restarted serves again within seconds; a dead one is skipped.
# - With --verbose, neither a connection that opens nor any failing path
#   (direct exit, each upstream kind, RESOLVE, RESOLVE_PTR, SOCKS4a)
#   writes a target to the log unless --unsafe-logging is given.
# - At the descriptor limit the log says so once, and once when it
#   recovers.
#
# Everything runs on 127.0.0.0/8.  Waits are bounded and follow what the
# daemon prints or answers; nothing sleeps to synchronise.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import os
import re
import resource
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.environ["EXG_SOURCE_ROOT"], "tests", "lib"))
from exgtest import (TIMEOUT, Daemon, Target, connect, e0_select,  # noqa: E402
                     e0_session, free_port, read_v5_reply, recv_exact, recv_line,
                     v4_reply, v5_code, v5_request, v5_session)

TIMEOUT = int(TIMEOUT)

# not found without asking any DNS server: glibc refuses a label over 63
# bytes before it sends a query
SECRET_NAME = "secret-fail-7731-" + "x" * 50 + ".invalid"
SECRET_IP = "127.0.0.77"       # nothing listens there
SECRET_PTR = "127.0.0.79"


def front_request(port, cmd, host, target_port, username=None):
    """One SOCKS5 request to the daemon on 127.0.0.1:port; the reply code."""
    return v5_code(("127.0.0.1", port), cmd, host, target_port, username)


def v4a_request(port, cmd, name):
    return v4_reply(("127.0.0.1", port), cmd, None, 80, host=name)[1]


def e0_connect(port, start, end, target):
    """E0 selection of one IPv4 range, then CONNECT to target (host, port):
    (selection status, connect reply code, the peer the target saw)."""
    with e0_session(("127.0.0.1", port)) as s:
        response = e0_select(s, start=start, end=end)
        if response[1] != 0:
            return response[1], None, None
        s.sendall(v5_request(1, *target))
        code = read_v5_reply(s)[1]
        peer = recv_line(s) if code == 0 else None
        return response[1], code, peer


class FailingUpstream(threading.Thread):
    """An upstream proxy that speaks SOCKS5, SOCKS4a and HTTP CONNECT (told
    apart by the first byte) and fails every request: what a real upstream
    says of a name it cannot find or a target it cannot reach."""

    def __init__(self, address):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind((address, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            with c:
                c.settimeout(TIMEOUT)
                first = recv_exact(c, 1)
                if first == b"\x05":
                    n = recv_exact(c, 1)[0]
                    recv_exact(c, n)
                    c.sendall(b"\x05\x00")
                    head = recv_exact(c, 4)
                    atyp = head[3]
                    if atyp == 1:
                        recv_exact(c, 6)
                    elif atyp == 4:
                        recv_exact(c, 18)
                    else:
                        recv_exact(c, recv_exact(c, 1)[0] + 2)
                    c.sendall(b"\x05\x04\x00\x01" + bytes(6))
                elif first == b"\x04":
                    data = b""
                    while data.count(b"\0") < 2 and len(data) < 600:
                        data += recv_exact(c, 1)
                    c.sendall(b"\x00\x5b" + bytes(6))
                else:
                    data = first
                    while not data.endswith(b"\r\n\r\n") and len(data) < 4096:
                        data += recv_exact(c, 1)
                    c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        except (OSError, AssertionError):
            pass

    def close(self):
        self.sock.close()


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp, True)
        # a private config dir, so no user config is picked up
        self.env = dict(os.environ, XDG_CONFIG_HOME=self.tmp, XDG_CACHE_HOME=self.tmp)

    def daemon(self, *args, **kw):
        d = Daemon(*args, env=self.env, **kw)
        self.addCleanup(d.kill)
        return d

    def config(self, text):
        path = os.path.join(self.tmp, "exitgated.conf")
        with open(path, "w") as f:
            f.write(text)
        return path


class Recovery(Base):
    def test_exits_follow_what_is_observed(self):
        echo = Target("peer")
        self.addCleanup(echo.close)
        hosts = {"se-1": "127.0.0.2", "se-2": "127.0.0.3",
                 "de-1": "127.0.0.4", "de-2": "127.0.0.5"}
        ports = {name: free_port(ip) for name, ip in hosts.items()}
        conf = "".join("[exit %s]\ntype=socks5\naddress=%s\nport=%d\n"
                       "country=%s\nbandwidth=1000\n\n"
                       % (name, ip, ports[name], name[:2].upper())
                       for name, ip in hosts.items())
        front = self.daemon("--config", self.config(conf),
                            "--listen", "127.0.0.1:0")

        # the exits are not there yet: each is found down once
        for name in hosts:
            front.wait_log(r"Exit .%s. is down" % name)

        # they come up after the daemon: served at once, not a health
        # round later
        ups = {name: self.daemon("--listen", "%s:%d" % (ip, ports[name]))
               for name, ip in hosts.items()}
        t0 = time.monotonic()
        status, code, peer = e0_connect(front.port, "127.0.0.2", "127.0.0.3",
                                        ("127.0.0.1", echo.port))
        self.assertEqual((status, code), (0, 0))
        self.assertEqual(peer, "peer=127.0.0.1")    # the upstreams reach the echo
        self.assertEqual(front_request(front.port, 1, "127.0.0.1", echo.port,
                                    username="country=de"), 0)
        served = time.monotonic() - t0
        self.assertLess(served, 2.0)
        # the routers no client used come up by backoff re-checks
        for name in hosts:
            front.wait_log(r"Exit .%s. is up again" % name, timeout=6)

        # an upstream dies: a connect pinned to it fails, it is checked at
        # once and found down; a selection that matches another exit too
        # is served by that one within one connect timeout
        ups["se-1"].kill()
        mark = len(front.lines)
        status, code, _ = e0_connect(front.port, "127.0.0.2", "127.0.0.2",
                                     ("127.0.0.1", echo.port))
        self.assertEqual(status, 0)
        self.assertNotEqual(code, 0)
        front.wait_log(r"Exit .se-1. is down", start=mark)
        t1 = time.monotonic()
        for _ in range(5):
            self.assertEqual(front_request(front.port, 1, "127.0.0.1", echo.port,
                                        username="country=se"), 0)
        self.assertLess(time.monotonic() - t1, TIMEOUT)

        # it comes back: up again within 5 s of its return
        mark = len(front.lines)
        ups["se-1"] = self.daemon("--listen", "127.0.0.2:%d" % ports["se-1"])
        t2 = time.monotonic()
        front.wait_log(r"Exit .se-1. is up again", timeout=5, start=mark)
        self.assertLess(time.monotonic() - t2, 5.0)
        status, code, _ = e0_connect(front.port, "127.0.0.2", "127.0.0.2",
                                     ("127.0.0.1", echo.port))
        self.assertEqual((status, code), (0, 0))

    def test_down_exit_still_tried_when_alone(self):
        # the only exit of its country is believed down but works again:
        # the client is served, not refused
        echo = Target("peer")
        self.addCleanup(echo.close)
        port = free_port("127.0.0.2")
        front = self.daemon("--config", self.config(
            "[exit se-1]\ntype=socks5\naddress=127.0.0.2\nport=%d\ncountry=SE\n"
            % port), "--listen", "127.0.0.1:0")
        front.wait_log(r"Exit .se-1. is down")
        self.daemon("--listen", "127.0.0.2:%d" % port)
        self.assertEqual(front_request(front.port, 1, "127.0.0.1", echo.port,
                                    username="country=se"), 0)
        front.wait_log(r"Exit .se-1. is up again")


class SafeLogging(Base):
    def run_request_paths(self, *extra):
        """One connection that opens, then every failing path; the log."""
        echo = Target()
        self.addCleanup(echo.close)
        self.echo_port = echo.port
        upstream = FailingUpstream("127.0.0.6")
        upstream.start()
        self.addCleanup(upstream.close)
        closed = free_port("127.0.0.1")
        conf = self.config(
            "[exit home]\ntype=direct\ncountry=SE\n\n"
            "[exit s5]\ntype=socks5\naddress=127.0.0.6\nport=%d\ncountry=DE\n\n"
            "[exit s4]\ntype=socks4a\naddress=127.0.0.6\nport=%d\ncountry=FR\n\n"
            "[exit hc]\ntype=http-connect\naddress=127.0.0.6\nport=%d\ncountry=NO\n"
            % (upstream.port, upstream.port, upstream.port))
        d = self.daemon("--config", conf, "--listen", "127.0.0.1:0",
                        "--country", "SE", "--verbose", *extra)
        p = d.port
        self.assertEqual(front_request(p, 1, "127.0.0.1", echo.port, "country=se"), 0)
        # the direct exit: a name not found, an address refused, RESOLVE;
        # SOCKS4a CONNECT and RESOLVE by name
        self.assertEqual(front_request(p, 1, SECRET_NAME, 80, "country=se"), 4)
        self.assertEqual(front_request(p, 1, SECRET_IP, closed, "country=se"), 5)
        self.assertEqual(front_request(p, 0xF0, SECRET_NAME, 0, "country=se"), 4)
        self.assertEqual(v4a_request(p, 1, SECRET_NAME), 0x5B)
        self.assertEqual(v4a_request(p, 0xF0, SECRET_NAME), 0x5B)
        # each upstream kind refuses a name and an address
        for country in ("de", "fr", "no"):
            self.assertNotEqual(front_request(p, 1, SECRET_NAME, 80, "country=" + country), 0)
            self.assertNotEqual(front_request(p, 1, SECRET_IP, 80, "country=" + country), 0)
        # RESOLVE through the SOCKS upstreams, RESOLVE_PTR through SOCKS5
        self.assertNotEqual(front_request(p, 0xF0, SECRET_NAME, 0, "country=de"), 0)
        self.assertNotEqual(front_request(p, 0xF0, SECRET_NAME, 0, "country=fr"), 0)
        self.assertNotEqual(front_request(p, 0xF1, SECRET_PTR, 0, "country=de"), 0)
        d.stop()
        return d.stderr()

    def test_verbose_log_names_no_target(self):
        log = self.run_request_paths()
        # the connection and the failures were logged, each without its target
        self.assertRegex(log, r"open to \[scrubbed\] through")
        self.assertGreaterEqual(len(re.findall(r"request for \[scrubbed\] failed", log)), 10, log)
        for secret in ("secret-fail", SECRET_IP, SECRET_PTR):
            self.assertNotIn(secret, log)

    def test_unsafe_logging_does_name_them(self):
        # the control: the same paths do log their targets when asked to,
        # so the test above can see them
        log = self.run_request_paths("--unsafe-logging")
        self.assertIn("open to 127.0.0.1:%d through" % self.echo_port, log)
        self.assertIn("secret-fail", log)
        self.assertIn(SECRET_IP, log)


class DescriptorLimit(Base):
    def test_one_line_at_the_limit_one_when_it_recovers(self):
        limit = 48

        def low_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        d = self.daemon("--listen", "127.0.0.1:0", preexec_fn=low_limit)
        clients = []
        try:
            # idle clients in their handshake hold a descriptor each
            for _ in range(limit + 16):
                clients.append(connect(("127.0.0.1", d.port)))
            first = d.wait_log(r"Out of file descriptors")
            # the limit lasts: the daemon keeps pausing, and says nothing
            self.assertTrue(d.no_log_for(r"Out of file descriptors", 1.5,
                                         start=first + 1))
        finally:
            for c in clients:
                c.close()
        i = d.wait_log(r"File descriptors free again")
        paused = int(re.search(r"paused (\d+) times", d.lines[i]).group(1))
        self.assertGreater(paused, 1)
        # served again
        with v5_session(("127.0.0.1", d.port)):
            pass
        d.stop()
        self.assertEqual(d.stderr().count("Out of file descriptors"), 1, d.stderr())


if __name__ == "__main__":
    unittest.main(verbosity=2)
