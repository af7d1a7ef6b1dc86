#!/usr/bin/python3
# test-daemon.py: the real exitgated, started as users start it.
#
# Starts $EXITGATED on 127.0.0.1:0, reads its "listening" line, fetches a
# page from a local HTTP server through it with curl, stops it with
# SIGTERM; and checks that bad flags, a busy port and an unreadable config
# each give exit status 1 and one line on stderr.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.environ["EXG_SOURCE_ROOT"], "tests", "lib"))
from exgtest import EXITGATED, TIMEOUT, Daemon, HttpServer  # noqa: E402

TIMEOUT = int(TIMEOUT)


def run_fail(*args):
    p = subprocess.run([EXITGATED, *args], capture_output=True, timeout=TIMEOUT)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class DaemonTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.http = HttpServer()
        cls.http_port = cls.http.port

    @classmethod
    def tearDownClass(cls):
        cls.http.close()

    def assert_page(self, out, path):
        """The shared server's page for path ("peer=ADDR path=PATH")."""
        self.assertRegex(out, r"^peer=\S+ path=%s$" % re.escape(path))

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        # a private config dir, so no user config is picked up
        self.env_backup = dict(os.environ)
        os.environ["XDG_CONFIG_HOME"] = self.tmp
        os.environ["XDG_CACHE_HOME"] = self.tmp

    def tearDown(self):
        os.environ.clear()
        os.environ.update(self.env_backup)
        shutil.rmtree(self.tmp)

    def curl(self, proxy_flag, proxy, url):
        p = subprocess.run(["curl", "-sS", "--max-time", str(TIMEOUT), "--noproxy", "",
                            proxy_flag, proxy, url],
                           capture_output=True, timeout=TIMEOUT + 5)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_curl_through_daemon(self):
        d = Daemon("--listen", "127.0.0.1:0")
        try:
            proxy = d.addresses[0]
            self.assertRegex(proxy, r"^127\.0\.0\.1:\d+$")
            self.assertNotEqual(proxy, "127.0.0.1:0")
            for flag, host in (("--socks5-hostname", "localhost"),
                               ("--socks5", "127.0.0.1"),
                               ("--socks4a", "localhost"),
                               ("--socks4", "127.0.0.1")):
                rc, out, err = self.curl(flag, proxy,
                                         "http://%s:%d/%s" % (host, self.http_port, flag[2:]))
                self.assertEqual(rc, 0, err)
                self.assert_page(out, "/" + flag[2:])
            # username selection (a country nobody has) is refused: 02
            rc, out, err = self.curl("--socks5-hostname", "country=zz:x@" + proxy,
                                     "http://localhost:%d/" % self.http_port)
            self.assertNotEqual(rc, 0)
            # any other username is fine
            rc, out, err = self.curl("--socks5-hostname", "tab1:x@" + proxy,
                                     "http://localhost:%d/u" % self.http_port)
            self.assertEqual(rc, 0, err)
            self.assert_page(out, "/u")
        except BaseException:
            d.kill()
            raise
        self.assertEqual(d.stop(), 0)

    def test_sigterm_with_open_connection(self):
        d = Daemon("--listen", "127.0.0.1:0")
        host, port = d.addresses[0].rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        try:
            s.sendall(b"\x05\x01\x00")
            self.assertEqual(s.recv(2), b"\x05\x00")
            self.assertEqual(d.stop(), 0)
            # the daemon closed the connection on its way out
            self.assertEqual(s.recv(1), b"")
        finally:
            s.close()

    def test_two_listeners_and_ipv6(self):
        try:
            socket.create_server(("::1", 0), family=socket.AF_INET6).close()
        except OSError:
            self.skipTest("no IPv6 loopback")
        d = Daemon("--listen", "127.0.0.1:0", "--listen", "[::1]:0", listeners=2)
        try:
            self.assertRegex(d.addresses[0], r"^127\.0\.0\.1:\d+$")
            self.assertRegex(d.addresses[1], r"^\[::1\]:\d+$")
            rc, out, err = self.curl("--socks5-hostname", d.addresses[1],
                                     "http://127.0.0.1:%d/v6" % self.http_port)
            self.assertEqual(rc, 0, err)
            self.assert_page(out, "/v6")
        except BaseException:
            d.kill()
            raise
        self.assertEqual(d.stop(), 0)

    def test_config_file_and_flags_win(self):
        conf = os.path.join(self.tmp, "exitgated.conf")
        with open(conf, "w") as f:
            f.write("[server]\nlisten=127.0.0.1:1\nhandshake-timeout=5\n")
        # the flag wins over the config's listen address
        d = Daemon("--config", conf, "--listen", "127.0.0.1:0")
        try:
            self.assertNotEqual(d.addresses[0], "127.0.0.1:1")
        except BaseException:
            d.kill()
            raise
        self.assertEqual(d.stop(), 0)

    def test_target_lists_from_config(self):
        # the key file's deny-targets refuse (02); flags replace its lists
        conf = os.path.join(self.tmp, "exitgated.conf")
        with open(conf, "w") as f:
            f.write("[server]\ndeny-targets=192.0.2.0/24; 127.0.0.1/32:%d\n" % self.http_port)
        url = "http://127.0.0.1:%d/t" % self.http_port
        d = Daemon("--config", conf, "--listen", "127.0.0.1:0")
        try:
            rc, out, err = self.curl("--socks5", d.addresses[0], url)
            self.assertEqual(rc, 97, err)
            self.assertIn("(2)", err)
        except BaseException:
            d.kill()
            raise
        self.assertEqual(d.stop(), 0)
        d = Daemon("--config", conf, "--listen", "127.0.0.1:0",
                   "--deny-targets", "192.0.2.0/24")
        try:
            rc, out, err = self.curl("--socks5", d.addresses[0], url)
            self.assertEqual(rc, 0, err)
            self.assert_page(out, "/t")
        except BaseException:
            d.kill()
            raise
        self.assertEqual(d.stop(), 0)

    def test_username_selection(self):
        conf = os.path.join(self.tmp, "exitgated.conf")
        with open(conf, "w") as f:
            f.write("[exit se-home]\ntype=direct\ncountry=SE\nbandwidth=1000\n\n"
                    "[exit de-home]\ntype=direct\ncountry=DE\nbandwidth=5000\n")
        d = Daemon("--config", conf, "--listen", "127.0.0.1:0")
        try:
            proxy = d.addresses[0]
            url = "http://localhost:%d/sel" % self.http_port
            for user, ok in (("country=se", True), ("country=DE,min-bw=5000", True),
                             ("country=se,min-bw=5000", False), ("country=fr", False),
                             ("country=sweden", False), ("isolation-key", True)):
                rc, out, err = self.curl("--socks5-hostname", "%s:x@%s" % (user, proxy), url)
                if ok:
                    self.assertEqual(rc, 0, (user, err))
                    self.assert_page(out, "/sel")
                else:
                    # curl: "Can't complete SOCKS5 connection … (2)": reply 02
                    self.assertEqual(rc, 97, (user, err))
                    self.assertIn("(2)", err)
        except BaseException:
            d.kill()
            raise
        self.assertEqual(d.stop(), 0)

    def test_list_exits(self):
        # STATE is what a check observed: a live upstream is up, a closed
        # port down, this machine up
        upstream = Daemon("--listen", "127.0.0.2:0")
        self.addCleanup(upstream.kill)
        port = upstream.addresses[0].rsplit(":", 1)[1]
        with socket.socket() as s:
            s.bind(("127.0.0.3", 0))
            closed = s.getsockname()[1]
        conf = os.path.join(self.tmp, "exitgated.conf")
        with open(conf, "w") as f:
            f.write("[exit se-1]\ntype=socks5\naddress=127.0.0.2\nport=%s\n"
                    "bandwidth=5000000\ncountry=se\n\n"
                    "[exit de-1]\ntype=socks5\naddress=127.0.0.3\nport=%d\n"
                    "country=de\n\n"
                    "[exit home]\ntype=direct\ncountry=DE\n" % (port, closed))
        p = subprocess.run([EXITGATED, "--config", conf, "--list-exits"],
                           capture_output=True, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.decode().splitlines()
        self.assertEqual(len(lines), 4)
        self.assertEqual(lines[0].split(), ["NAME", "KIND", "ADDRESS", "COUNTRY",
                                            "BANDWIDTH", "STATE"])
        self.assertEqual(lines[1].split(), ["se-1", "socks5", "127.0.0.2", "SE", "5000000", "up"])
        self.assertEqual(lines[2].split(), ["de-1", "socks5", "127.0.0.3", "DE", "-", "down"])
        self.assertEqual(lines[3].split(), ["home", "direct", "-", "DE", "-", "up"])
        # the reason it is down is said once, with the exit's name
        self.assertEqual(len(re.findall(r"Exit .de-1. is down", p.stderr.decode())), 1)

        # no exit configured: one direct exit
        p = subprocess.run([EXITGATED, "--list-exits"], capture_output=True, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0)
        lines = p.stdout.decode().splitlines()
        self.assertEqual(len(lines), 2)
        self.assertEqual(lines[1].split()[:2], ["direct", "direct"])

    def socks5_connect(self, proxy, source, username, host, port):
        """One SOCKS5 CONNECT from SOURCE (an address on lo) with USERNAME:
        the reply code."""
        h, p = proxy.rsplit(":", 1)
        with socket.create_connection((h, int(p)), timeout=TIMEOUT,
                                      source_address=(source, 0)) as s:
            u = username.encode()
            s.sendall(b"\x05\x01\x02")
            self.assertEqual(s.recv(2), b"\x05\x02")
            s.sendall(b"\x01" + bytes([len(u)]) + u + b"\x01x")
            self.assertEqual(s.recv(2), b"\x01\x00")
            try:
                addr = b"\x01" + socket.inet_aton(host)
            except OSError:
                addr = b"\x03" + bytes([len(host)]) + host.encode()
            s.sendall(b"\x05\x01\x00" + addr + port.to_bytes(2, "big"))
            reply = s.recv(10)
            self.assertEqual(len(reply), 10, reply)
            return reply[1]

    def test_dns_leak_hint(self):
        # a CONNECT by IP address through a proxy exit: one line per
        # client address, without the target; none by name, none through
        # the direct exit
        upstream = Daemon("--listen", "127.0.0.2:0")
        self.addCleanup(upstream.kill)
        port = upstream.addresses[0].rsplit(":", 1)[1]
        conf = os.path.join(self.tmp, "exitgated.conf")
        with open(conf, "w") as f:
            f.write("[exit up]\ntype=socks5\naddress=127.0.0.2\nport=%s\ncountry=SE\n\n"
                    "[exit home]\ntype=direct\ncountry=DE\n" % port)
        d = Daemon("--config", conf, "--listen", "127.0.0.1:0")
        try:
            proxy = d.addresses[0]
            for source, user, host in (("127.0.0.1", "country=se", "127.0.0.1"),
                                       ("127.0.0.1", "country=se", "127.0.0.1"),
                                       ("127.0.0.1", "country=se", "localhost"),
                                       ("127.0.0.3", "country=se", "localhost"),
                                       ("127.0.0.4", "country=de", "127.0.0.1"),
                                       ("127.0.0.5", "country=se", "127.0.0.1"),
                                       ("127.0.0.5", "country=se", "127.0.0.1")):
                code = self.socks5_connect(proxy, source, user, host, self.http_port)
                self.assertEqual(code, 0, (source, user, host))
        except BaseException:
            d.kill()
            raise
        self.assertEqual(d.stop(), 0)
        upstream.stop()
        err = d.stderr()
        hints = [l for l in err.splitlines()
                 if "connects by IP address through a proxy or tor exit" in l]
        self.assertEqual(len(hints), 2, err)
        self.assertIn("Client 127.0.0.1 connects", hints[0])
        self.assertIn("Client 127.0.0.5 connects", hints[1])
        self.assertIn("(use socks5h / proxy DNS)", hints[0])
        for line in hints:
            self.assertNotIn(str(self.http_port), line)

    def request_as_name(self, proxy, version, host, port):
        """One CONNECT naming HOST as a name, whatever it is: SOCKS4a's
        hostname, or SOCKS5's ATYP 3 (as curl --socks4a sends an IP URL).
        True if granted."""
        h, p = proxy.rsplit(":", 1)
        with socket.create_connection((h, int(p)), timeout=TIMEOUT) as s:
            if version == 4:
                s.sendall(b"\x04\x01" + port.to_bytes(2, "big") + b"\x00\x00\x00\x01x\x00"
                          + host.encode() + b"\x00")
                reply = s.recv(8)
                self.assertEqual(len(reply), 8, reply)
                return reply[1] == 0x5a
            s.sendall(b"\x05\x01\x00")
            self.assertEqual(s.recv(2), b"\x05\x00")
            s.sendall(b"\x05\x01\x00\x03" + bytes([len(host)]) + host.encode()
                      + port.to_bytes(2, "big"))
            reply = s.recv(10)
            self.assertEqual(len(reply), 10, reply)
            return reply[1] == 0

    def test_address_sent_as_name(self):
        # "127.0.0.1" sent as a name is still an address: the proxy exit
        # gets it as one, so the DNS-leak hint and deny-targets apply as
        # to an address
        upstream = Daemon("--listen", "127.0.0.2:0")
        self.addCleanup(upstream.kill)
        port = upstream.addresses[0].rsplit(":", 1)[1]
        # a denied target that would take the connection if asked
        denied = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(denied.close)
        denied_port = denied.getsockname()[1]
        conf = os.path.join(self.tmp, "exitgated.conf")
        with open(conf, "w") as f:
            f.write("[server]\ndeny-targets=127.0.0.1/32:%d\n\n"
                    "[exit up]\ntype=socks5\naddress=127.0.0.2\nport=%s\n"
                    % (denied_port, port))
        d = Daemon("--config", conf, "--listen", "127.0.0.1:0")
        try:
            proxy = d.addresses[0]
            for version in (4, 5):
                self.assertTrue(self.request_as_name(proxy, version, "127.0.0.1",
                                                     self.http_port), version)
                # the upstream would connect; the policy must refuse first
                self.assertFalse(self.request_as_name(proxy, version, "127.0.0.1",
                                                      denied_port), version)
            # a real name is resolved at the exit: no hint for this client
            self.assertTrue(self.request_as_name(proxy, 5, "localhost", self.http_port))
        except BaseException:
            d.kill()
            raise
        self.assertEqual(d.stop(), 0)
        upstream.stop()
        err = d.stderr()
        hints = [l for l in err.splitlines()
                 if "Client 127.0.0.1 connects by IP address through a proxy or tor exit" in l]
        self.assertEqual(len(hints), 1, err)

    def test_exit_country_from_geoip(self):
        make_mmdb = os.environ.get("EXG_MAKE_MMDB")
        if not make_mmdb:
            self.skipTest("no exg-make-mmdb")
        db = os.path.join(self.tmp, "test.mmdb")
        subprocess.run([make_mmdb, db, "127.0.0.2=SE", "127.0.0.3=DE"], check=True,
                       timeout=TIMEOUT)
        conf = os.path.join(self.tmp, "exitgated.conf")
        with open(conf, "w") as f:
            f.write("[server]\ngeoip=%s\n\n" % db)
            f.write("[exit a]\ntype=socks5\naddress=127.0.0.2\nport=1080\n\n"
                    "[exit b]\ntype=http-connect\naddress=127.0.0.3\nport=3128\n\n"
                    "[exit c]\ntype=socks4a\naddress=127.0.0.3\nport=1080\ncountry=no\n\n"
                    "[exit d]\ntype=direct\nsource-address=127.0.0.2\n")
        p = subprocess.run([EXITGATED, "--config", conf, "--list-exits"],
                           capture_output=True, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = [line.split() for line in p.stdout.decode().splitlines()[1:]]
        # the configured country wins over GeoIP's
        self.assertEqual([(r[0], r[1], r[2], r[3]) for r in rows],
                         [("a", "socks5", "127.0.0.2", "SE"),
                          ("b", "http-connect", "127.0.0.3", "DE"),
                          ("c", "socks4a", "127.0.0.3", "NO"),
                          ("d", "direct", "127.0.0.2", "SE")])

    def test_direct_source_address(self):
        conf = os.path.join(self.tmp, "exitgated.conf")
        with open(conf, "w") as f:
            f.write("[exit two]\ntype=direct\nsource-address=127.0.0.2\ncountry=SE\n")
        d = Daemon("--config", conf, "--listen", "127.0.0.1:0")
        try:
            rc, out, err = self.curl("--socks5-hostname", d.addresses[0],
                                     "http://127.0.0.1:%d/src" % self.http_port)
            self.assertEqual(rc, 0, err)
            # the target saw the exit's source address
            self.assertEqual(out, "peer=127.0.0.2 path=/src")
        except BaseException:
            d.kill()
            raise
        self.assertEqual(d.stop(), 0)

    def test_geoip_conversion_progress(self):
        if not os.path.exists("/usr/share/tor/geoip"):
            self.skipTest("tor-geoipdb is not installed")
        conf = os.path.join(self.tmp, "exitgated.conf")
        with open(conf, "w") as f:
            # no country= and no geoip=: the country comes from tor-geoipdb
            f.write("[exit home]\ntype=direct\nsource-address=127.0.0.1\n")
        p = subprocess.run([EXITGATED, "--config", conf, "--list-exits"],
                           capture_output=True, timeout=TIMEOUT * 4)
        self.assertEqual(p.returncode, 0, p.stderr)
        err = p.stderr.decode()
        self.assertIn("building the country database from tor-geoipdb", err)
        percents = re.findall(r"country database (\d+)%", err)
        self.assertGreaterEqual(len(percents), 2)
        self.assertEqual(percents[-1], "100")
        self.assertEqual(percents, sorted(percents, key=int))
        self.assertTrue(os.path.exists(
            os.path.join(self.tmp, "exitgate", "tor-geoip.mmdb")))
        # the second start uses the cached conversion: no progress
        p = subprocess.run([EXITGATED, "--config", conf, "--list-exits"],
                           capture_output=True, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("country database", p.stderr.decode())
        self.assertIn("home", p.stdout.decode())

    def assert_one_line_failure(self, *args, pattern=None):
        rc, out, err = run_fail(*args)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, "", "nothing half-started")
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith("exitgated: "), err)
        if pattern:
            self.assertRegex(err, pattern)

    def test_bad_flags(self):
        self.assert_one_line_failure("--no-such-flag")
        self.assert_one_line_failure("--max-connections", "lots")
        self.assert_one_line_failure("--listen", "nonsense")
        self.assert_one_line_failure("--country", "Sweden")
        self.assert_one_line_failure("--ip-range", "10.0.0.9-10.0.0.1")
        self.assert_one_line_failure("--allow", "not-a-network", "--listen", "127.0.0.1:0")
        self.assert_one_line_failure("--allow-targets", "nonsense", "--listen", "127.0.0.1:0",
                                     pattern=r"--allow-targets: “nonsense”")
        self.assert_one_line_failure("--deny-targets", "10.0.0.1/8", "--listen", "127.0.0.1:0",
                                     pattern=r"--deny-targets: “10\.0\.0\.1/8”")
        self.assert_one_line_failure("--deny-targets", "::1:80-90", "--listen", "127.0.0.1:0",
                                     pattern=r"--deny-targets")
        self.assert_one_line_failure("stray-argument")
        # an open proxy needs an allow-list, and the message names the option
        self.assert_one_line_failure("--listen", "0.0.0.0:0",
                                     pattern=r"0\.0\.0\.0:0.*allow-list.*--allow CIDR")
        self.assert_one_line_failure("--listen", "127.0.0.1:0", "--listen", "[::]:0",
                                     pattern=r"\[::\]:0.*--allow CIDR")
        self.assert_one_line_failure("--listen", "nonsense", pattern=r"^exitgated: --listen: .*nonsense")

    def test_country_must_be_iso_3166(self):
        # two letters are not enough: a code no country has would refuse
        # every client that chooses none
        for code in ("ZZ", "qx", "EU", "XA", "S", "SWE", "Sweden", "1E"):
            self.assert_one_line_failure("--country", code, "--listen", "127.0.0.1:0",
                                         pattern=r"--country: .%s. is not an ISO 3166-1" % code)
        for code in ("SE", "se", "AX"):
            d = Daemon("--listen", "127.0.0.1:0", "--country", code)
            try:
                self.assertRegex(d.addresses[0], r"^127\.0\.0\.1:\d+$")
            finally:
                d.stop()

    def test_translated(self):
        # run from the build tree, the daemon finds the catalogues built there
        env = dict(os.environ, LANG="C.UTF-8", LANGUAGE="sv")
        env.pop("LC_ALL", None)
        env.pop("LC_MESSAGES", None)
        p = subprocess.run([EXITGATED, "--help"], capture_output=True, timeout=TIMEOUT, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode()
        self.assertIn("Lyssna på ADDR:PORT", out)
        self.assertIn("Skriv ut versionen och avsluta", out)
        self.assertIn("Exitgates SOCKS-proxytjänst", out)
        env["LANGUAGE"] = "de"
        p = subprocess.run([EXITGATED, "--country", "ZZ"], capture_output=True,
                           timeout=TIMEOUT, env=env)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr.decode(),
                         "exitgated: --country: „ZZ“ ist kein Ländercode nach ISO 3166-1 "
                         "(zwei Buchstaben, etwa SE oder DE)\n")

    def test_busy_port(self):
        busy = socket.create_server(("127.0.0.1", 0))
        try:
            port = busy.getsockname()[1]
            # the second listener fails: the first must not stay half-open
            self.assert_one_line_failure("--listen", "127.0.0.1:0",
                                         "--listen", "127.0.0.1:%d" % port,
                                         pattern=str(port))
        finally:
            busy.close()

    def test_unreadable_config(self):
        self.assert_one_line_failure("--config", os.path.join(self.tmp, "missing.conf"),
                                     pattern="missing.conf")
        bad = os.path.join(self.tmp, "bad.conf")
        with open(bad, "w") as f:
            f.write("[server]\nhandshake-timeout=soon\n")
        self.assert_one_line_failure("--config", bad, pattern=r"bad\.conf.*handshake-timeout")
        with open(bad, "w") as f:
            f.write("[exit x]\ntype=socks4\naddress=127.0.0.2\nport=1\n")
        self.assert_one_line_failure("--config", bad, pattern=r"\[exit x\] type")
        with open(bad, "w") as f:
            f.write("[server]\nallow-targets=10.0.0.0/8;[::1]/128:99999\n")
        self.assert_one_line_failure("--config", bad,
                                     pattern=r"bad\.conf: \[server\] allow-targets: “\[::1\]/128:99999”")
        with open(bad, "w") as f:
            f.write("[server]\ndeny-targets=127.0.0.1:0\n")
        self.assert_one_line_failure("--config", bad, pattern=r"bad\.conf.*deny-targets")
        with open(bad, "w") as f:
            f.write("[server]\nlisten=127.0.0.1:0;localhost:99999\n")
        self.assert_one_line_failure("--config", bad,
                                     pattern=r"bad\.conf: \[server\] listen: .*localhost:99999")
        # --listen wins over the file, so its listen= is not used
        d = Daemon("--config", bad, "--listen", "127.0.0.1:0")
        try:
            self.assertRegex(d.addresses[0], r"^127\.0\.0\.1:\d+$")
        finally:
            d.stop()
        with open(bad, "w") as f:
            f.write("[server]\nlisten=0.0.0.0:0\n")
        self.assert_one_line_failure("--config", bad, pattern=r"0\.0\.0\.0:0.*--allow")
        with open(bad, "w") as f:
            f.write("this is not a key file\n")
        self.assert_one_line_failure("--config", bad, pattern=r"bad\.conf")


if __name__ == "__main__":
    unittest.main(verbosity=2)
