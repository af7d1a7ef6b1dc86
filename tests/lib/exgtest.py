# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers shared by the Python test suites (standard library only).

- Daemon: a private exitgated; its "listening" lines read, its stderr
  collected line by line, a bounded wait for a log line, stop by pid.
- SOCKS client bits: greeting, RFC 1929, E0 selection, CONNECT/RESOLVE by
  IP and by name, SOCKS4/4a.
- Target and HttpServer: one TCP target (echo, peer report, hash, ...)
  and one HTTP server, each on 127.0.0.1 and ::1 with the same port, so
  that "localhost" reaches it whichever address a client tries first.
- free_port, free_dual_port.

Every wait is bounded (TIMEOUT unless told); nothing sleeps to
synchronise.  Suites find this module through $EXG_SOURCE_ROOT:

    sys.path.insert(0, os.path.join(os.environ["EXG_SOURCE_ROOT"], "tests", "lib"))
"""

import functools
import hashlib
import http.server
import os
import re
import selectors
import signal
import socket
import socketserver
import struct
import subprocess
import threading
import time

EXITGATED = os.environ.get("EXITGATED", "exitgated")
TIMEOUT = 10.0          # bound of every single wait

# A name that is not found without asking any DNS server: glibc refuses a
# label over 63 bytes before it sends a query, so nothing leaves loopback.
NXNAME = "no-such-host-" + "x" * 56 + ".invalid"


# ---------------------------------------------------------------- ports

@functools.lru_cache(maxsize=None)
def has_ipv6_loopback():
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
        return True
    except OSError:
        return False


def free_port(address="127.0.0.1"):
    """A port free on address now (bound, then released)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def _dual_bind(bind, port_of=lambda s: s.getsockname()[1],
               close=lambda s: s.close()):
    """Calls bind(family, address, port) for 127.0.0.1 on a port the kernel
    picks and for ::1 on the same port (bounded tries); returns the list of
    what bind returned.  Without IPv6 loopback, 127.0.0.1 alone."""
    for _ in range(100):
        first = bind(socket.AF_INET, "127.0.0.1", 0)
        if not has_ipv6_loopback():
            return [first]
        try:
            return [first, bind(socket.AF_INET6, "::1", port_of(first))]
        except OSError:
            close(first)
    raise RuntimeError("no port free on both 127.0.0.1 and ::1")


def free_dual_port():
    """A port free on both 127.0.0.1 and ::1 now (released on return)."""
    def bind(family, address, port):
        s = socket.socket(family)
        s.bind((address, port))
        return s
    socks = _dual_bind(bind)
    port = socks[0].getsockname()[1]
    for s in socks:
        s.close()
    return port


# ---------------------------------------------------------------- daemon

def read_line(stream, deadline):
    """One line from a pipe, waiting at most until deadline; "" at EOF."""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    data = b""
    try:
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise AssertionError("no line in time (got %r)" % data)
            chunk = os.read(stream.fileno(), 1)
            if not chunk:
                break
            data += chunk
    finally:
        sel.close()
    return data.decode("utf-8", "replace")


class Daemon:
    """A private exitgated.

    Reads one "listening ADDRESS" line per listener (by default one per
    --listen, or one), into .addresses (as printed) and .addrs ((host,
    port) tuples).  Its stderr is collected line by line in .lines."""

    def __init__(self, *args, listeners=None, env=None, preexec_fn=None):
        if listeners is None:
            listeners = sum(1 for a in args if a == "--listen") or 1
        self.proc = subprocess.Popen([EXITGATED, *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, preexec_fn=preexec_fn)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()
        self.addresses = []
        self.addrs = []
        deadline = time.monotonic() + TIMEOUT
        try:
            for _ in range(listeners):
                line = read_line(self.proc.stdout, deadline)
                m = re.fullmatch(r"listening (\S+)\n", line)
                if not m:
                    raise AssertionError("unexpected line %r" % line)
                self.addresses.append(m.group(1))
                host, _, port = m.group(1).rpartition(":")
                self.addrs.append((host.strip("[]"), int(port)))
        except AssertionError as e:
            self.kill()
            raise AssertionError("%s; exit status %r; stderr: %r"
                                 % (e, self.proc.returncode, self.stderr()))

    def _read_stderr(self):
        for raw in iter(self.proc.stderr.readline, b""):
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace"))
                self.cond.notify_all()

    @property
    def addr(self):
        return self.addrs[0]

    @property
    def port(self):
        return self.addrs[0][1]

    @property
    def pid(self):
        return self.proc.pid

    def stderr(self):
        with self.cond:
            return "".join(self.lines)

    def wait_log(self, pattern, timeout=TIMEOUT, start=0):
        """Index of the first stderr line from `start` on that matches
        pattern; AssertionError after timeout."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    if rx.search(self.lines[i]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no log line /%s/ within %ss; log:\n%s"
                                         % (pattern, timeout, "".join(self.lines)))
                self.cond.wait(left)

    def no_log_for(self, pattern, seconds, start=0):
        """True when no line from `start` on matches pattern for seconds."""
        try:
            self.wait_log(pattern, seconds, start)
        except AssertionError:
            return True
        return False

    def stop(self):
        """SIGTERM to our pid, a bounded wait; the exit status, or None when
        it had to be killed.  Safe to call more than once."""
        status = self.proc.poll()
        if status is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                status = self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(TIMEOUT)
                status = None
        self.reader.join(TIMEOUT)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return status

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)
        self.stop()


# ---------------------------------------------------------------- sockets

def connect(addr, timeout=TIMEOUT, source=None):
    """A TCP connection to addr (host, port), with a timeout on every wait."""
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source is not None:
        s.bind((source, 0))
    s.connect(addr)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        data = s.recv(n - len(buf))
        if not data:
            raise AssertionError("connection closed after %d of %d bytes: %s"
                                 % (len(buf), n, buf.hex()))
        buf += data
    return buf


def recv_all(s, limit=64 * 1024 * 1024):
    """Reads until EOF (ECONNRESET counts as EOF)."""
    buf = b""
    while len(buf) < limit:
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        buf += data
    return buf


def recv_line(s):
    line = b""
    while not line.endswith(b"\n"):
        line += recv_exact(s, 1)
    return line.decode().strip()


def expect_eof(s, what="connection"):
    """The peer closes (EOF or a reset) without sending anything more."""
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        return
    except socket.timeout:
        raise AssertionError("%s not closed within %gs" % (what, s.gettimeout()))
    if data:
        raise AssertionError("%s: unexpected bytes %s instead of a close"
                             % (what, data.hex()))


# ---------------------------------------------------------------- SOCKS

V5_FAIL = lambda code: bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0])
V4_FAIL = b"\x00\x5b" + bytes(6)


def v5_addr(host):
    """ATYP and address bytes of an IPv4/IPv6 literal or a hostname."""
    for atyp, family in ((1, socket.AF_INET), (4, socket.AF_INET6)):
        try:
            return bytes([atyp]) + socket.inet_pton(family, host)
        except OSError:
            pass
    name = host.encode()
    return b"\x03" + bytes([len(name)]) + name


def v5_request(cmd, host, port):
    return b"\x05" + bytes([cmd]) + b"\x00" + v5_addr(host) + struct.pack("!H", port)


def read_v5_reply(s):
    """(raw bytes, code, atyp, host, port) of one SOCKS5 reply."""
    head = recv_exact(s, 4)
    if head[0] != 5:
        raise AssertionError("not a SOCKS5 reply: %s" % head.hex())
    atyp = head[3]
    if atyp == 1:
        rest = recv_exact(s, 6)
        host = socket.inet_ntop(socket.AF_INET, rest[:4])
    elif atyp == 4:
        rest = recv_exact(s, 18)
        host = socket.inet_ntop(socket.AF_INET6, rest[:16])
    elif atyp == 3:
        n = recv_exact(s, 1)
        rest = n + recv_exact(s, n[0] + 2)
        host = rest[1:-2].decode("utf-8", "replace")
    else:
        raise AssertionError("reply with ATYP %d: %s" % (atyp, head.hex()))
    port = struct.unpack("!H", rest[-2:])[0]
    return head + rest, head[1], atyp, host, port


def v5_greet(s, methods=b"\x00", expect=b"\x05\x00"):
    s.sendall(b"\x05" + bytes([len(methods)]) + methods)
    got = recv_exact(s, 2)
    if got != expect:
        raise AssertionError("method reply %s, wanted %s" % (got.hex(), expect.hex()))


def v5_auth(s, username, password="x"):
    """RFC 1929 after a greeting that chose 02; the status must be 00."""
    u, p = username.encode(), password.encode()
    s.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
    got = recv_exact(s, 2)
    if got != b"\x01\x00":
        raise AssertionError("RFC 1929 status %s, wanted 0100" % got.hex())


def v5_session(proxy, username=None, password="x", timeout=TIMEOUT):
    """A connection greeted with 00, or with 02 and username/password."""
    s = connect(proxy, timeout)
    if username is None:
        v5_greet(s)
    else:
        v5_greet(s, b"\x02", b"\x05\x02")
        v5_auth(s, username, password)
    return s


def v5_open(proxy, host, port, cmd=1, payload=b"", username=None):
    """Greets, sends the request (and payload in the same send); returns
    (socket, reply tuple of read_v5_reply)."""
    s = v5_session(proxy, username)
    s.sendall(v5_request(cmd, host, port) + payload)
    return s, read_v5_reply(s)


def v5_code(proxy, cmd, host, port, username=None):
    """The reply code of one SOCKS5 request."""
    s, reply = v5_open(proxy, host, port, cmd=cmd, username=username)
    s.close()
    return reply[1]


def v4_request(cmd, ip, port, userid=b"", host=None):
    """A SOCKS4 request to ip, or SOCKS4a (0.0.0.1) to host when given."""
    req = b"\x04" + bytes([cmd]) + struct.pack("!H", port)
    if host is None:
        return req + socket.inet_aton(ip) + userid + b"\x00"
    return req + b"\x00\x00\x00\x01" + userid + b"\x00" + host.encode() + b"\x00"


def v4_reply(proxy, cmd, ip, port, host=None):
    """The 8-byte reply to one SOCKS4/4a request."""
    with connect(proxy) as s:
        s.sendall(v4_request(cmd, ip, port, host=host))
        return recv_exact(s, 8)


def select_request(country=b"\0\0", start="0.0.0.0", end="255.255.255.255", min_bw=0):
    """socks-extensions.txt §5: an 18-byte E0 router selection."""
    return (b"\x05\xe0\xff\xff" + country + socket.inet_aton(start)
            + socket.inet_aton(end) + struct.pack("!I", min_bw))


def e0_session(proxy):
    """A connection whose greeting chose E0."""
    s = connect(proxy)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    v5_greet(s, b"\xe0", b"\x05\xe0")
    return s


def e0_select(s, **kw):
    """One selection (select_request's keywords); the 14-byte response."""
    s.sendall(select_request(**kw))
    return recv_exact(s, 14)


# ---------------------------------------------------------------- targets

class Target:
    """A TCP target on 127.0.0.1:P and [::1]:P; one thread a connection.

    mode: echo       echoes until EOF, then closes
          peer       says "peer=ADDR\\n" with the address it saw, then echoes
          hash       reads until EOF, answers the SHA-256 hex digest, closes
          source     sends blob, then closes (ignores input)
          closefirst sends b"bye\\n", shuts down writing, records what it
                     then reads until EOF (wait_received)
    Every accepted peer (host, port) is recorded in .peers."""

    def __init__(self, mode="echo", blob=b""):
        self.mode = mode
        self.blob = blob

        def bind(family, address, port):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.bind((address, port))
            return s
        self.socks = _dual_bind(bind)
        self.port = self.socks[0].getsockname()[1]
        self.cond = threading.Condition()
        self.peers = []
        self.received = []
        self.conns = []
        for s in self.socks:
            s.listen(512)
            threading.Thread(target=self._accept_loop, args=(s,), daemon=True).start()

    def _accept_loop(self, sock):
        while True:
            try:
                conn, peer = sock.accept()
            except OSError:
                return
            with self.cond:
                self.peers.append(peer[:2])
                self.conns.append(conn)
                self.cond.notify_all()
            threading.Thread(target=self._serve, args=(conn, peer), daemon=True).start()

    def _copy(self, conn, sink):
        while True:
            data = conn.recv(65536)
            if not data:
                return
            sink(data)

    def _serve(self, conn, peer):
        conn.settimeout(60)
        try:
            if self.mode in ("echo", "peer"):
                if self.mode == "peer":
                    conn.sendall(("peer=%s\n" % peer[0]).encode())
                self._copy(conn, conn.sendall)
                conn.shutdown(socket.SHUT_WR)
            elif self.mode == "hash":
                h = hashlib.sha256()
                self._copy(conn, h.update)
                conn.sendall(h.hexdigest().encode())
                conn.shutdown(socket.SHUT_WR)
            elif self.mode == "source":
                conn.sendall(self.blob)
                conn.shutdown(socket.SHUT_WR)
            elif self.mode == "closefirst":
                conn.sendall(b"bye\n")
                conn.shutdown(socket.SHUT_WR)
                got = []
                self._copy(conn, got.append)
                with self.cond:
                    self.received.append(b"".join(got))
                    self.cond.notify_all()
        except OSError:
            pass
        finally:
            conn.close()

    def wait_peer(self, peer, timeout=TIMEOUT):
        """True once a connection from peer (host, port) has been accepted."""
        with self.cond:
            return self.cond.wait_for(lambda: peer in self.peers, timeout)

    def wait_received(self, timeout=TIMEOUT):
        with self.cond:
            if self.cond.wait_for(lambda: self.received, timeout):
                return self.received.pop(0)
        return None

    def close(self):
        for s in self.socks:
            s.close()
        with self.cond:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


class _Http4(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET
    daemon_threads = True

    def server_bind(self):
        # HTTPServer.server_bind asks getfqdn () for its own name: a reverse
        # lookup that may go to a DNS server beyond loopback
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class _Http6(_Http4):
    address_family = socket.AF_INET6


class _Page(http.server.SimpleHTTPRequestHandler):
    """Files from the server's directory; without one, every GET gets
    "peer=ADDR path=PATH" (the address the server saw)."""

    def do_GET(self):
        with self.server.owner.cond:
            self.server.owner.requests.append((self.client_address[0], self.path))
        if self.server.owner.directory is not None:
            return super().do_GET()
        body = ("peer=%s path=%s" % (self.client_address[0], self.path)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HttpServer:
    """An HTTP server on 127.0.0.1:P and [::1]:P, in threads.  Records every
    GET as (peer address, path) in .requests."""

    def __init__(self, directory=None):
        self.directory = directory
        self.requests = []
        self.cond = threading.Condition()
        handler = functools.partial(_Page, directory=directory or os.getcwd())

        def bind(family, address, port):
            cls = _Http6 if family == socket.AF_INET6 else _Http4
            srv = cls((address, port), handler)
            srv.owner = self
            return srv
        self.servers = _dual_bind(bind, lambda srv: srv.server_address[1],
                                  lambda srv: srv.server_close())
        self.port = self.servers[0].server_address[1]
        for srv in self.servers:
            threading.Thread(target=srv.serve_forever, daemon=True).start()

    def close(self):
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()
