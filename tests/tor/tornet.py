#!/usr/bin/python3
# tornet.py: a private Tor network on 127.0.0.x for the tor backend's tests.
#
#   tornet.py start DIR [--base-port N] [--build-dir B]   start, wait until ready,
#                                                         write DIR/tornet.json
#   tornet.py stop DIR                                     stop what start started
#
# or, from Python:
#
#   with tornet.TorNet(dir) as net:     # dir=None: a temporary directory
#       net.info["client"]["socks_port"] …
#
# The network: 3 authorities, 2 middle relays, 3 exits (127.0.0.2 … .9),
# one client tor (SocksPort and ControlPort on 127.0.0.1, cookie
# authentication) and a DNS responder on a non-53 loopback port.  Every tor
# gets TestingTorNetwork and this network's own DirAuthority lines, so none
# of them ever tries the public Tor network.  What the numbers and options
# are for is explained in the project's tor-test-network notes.
#
# Standard library only.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import argparse
import base64
import ctypes
import hashlib
import hmac
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

TOR = shutil.which("tor") or "/usr/sbin/tor"
TOR_GENCERT = shutil.which("tor-gencert") or "/usr/bin/tor-gencert"

READY_TIMEOUT = 90       # seconds from launch to ready
STOP_TIMEOUT = 10        # seconds for every process to exit after SIGTERM
KEYS_TIMEOUT = 60        # seconds for key generation

# Voting: the first consensus is at launch + 8 s, then one every 20 s.
INITIAL_INTERVAL = 10
INITIAL_DELAY = 2

DOMAIN = "tornet.test"

# nick, role, last octet of 127.0.0.x, country, consensus bandwidth (KB/s)
NODES = [
    ("tnauth1", "authority", 2, None, None),
    ("tnauth2", "authority", 3, None, None),
    ("tnauth3", "authority", 4, None, None),
    ("tnrelay1", "middle", 5, "FR", 500),
    ("tnrelay2", "middle", 6, "FR", 800),
    ("tnexit1", "exit", 7, "DE", 1000),
    ("tnexit2", "exit", 8, "SE", 2000),
    ("tnexit3", "exit", 9, "US", 4000),
]

# Port layout from the base port B: 127.0.0.N has ORPort B+N, authorities
# have DirPort B+100+N; the client, the DNS responder and extra clients sit
# on 127.0.0.1 at fixed offsets.
OFF_SOCKS = 50
OFF_CONTROL = 51
OFF_DNS = 53
OFF_REJECTED = 55       # the port one exit may reject (TorNet(reject_port_exit=…))
OFF_EXTRA = 60          # extra clients: B+60+2k (SocksPort), B+61+2k (ControlPort)
PORT_SPAN = 120


def log(msg):
    print("tornet: " + msg, file=sys.stderr, flush=True)


class TorNetError(Exception):
    pass


# --------------------------------------------------------------------------
# Bounded waiting on real state

def wait_until(pred, timeout, what, poll=0.05):
    """Return pred()'s first true value; raise TorNetError after timeout.

    Used only where the state lives in another process and can only be
    read (a file appearing, a port answering); each round reads it again.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            raise TorNetError("timed out after %.0f s waiting for %s" % (timeout, what))
        select.select([], [], [], min(poll, left))


# --------------------------------------------------------------------------
# Processes

_libc = None


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM when the Python that started it dies."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    _libc.prctl(1, signal.SIGTERM)     # PR_SET_PDEATHSIG


def proc_starttime(pid):
    """Field 22 of /proc/PID/stat, to tell a recorded pid from a reused one."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[19])


def wait_pid_exit(pid, timeout):
    """Wait until a process (child or not) has exited. True if it did."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return False
    finally:
        os.close(fd)
    # Reap it if it is our child, so no zombie remains.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return True


def stop_pids(records, timeout=STOP_TIMEOUT):
    """SIGTERM each recorded process that is still the one we started,
    wait for all of them (bounded), SIGKILL the ones that remain."""
    live = []
    for rec in records:
        pid = rec["pid"]
        if proc_starttime(pid) != rec["starttime"]:
            continue            # gone, or the pid now belongs to someone else
        try:
            os.kill(pid, signal.SIGTERM)
            live.append(rec)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    stubborn = []
    for rec in live:
        if not wait_pid_exit(rec["pid"], max(0.0, deadline - time.monotonic())):
            stubborn.append(rec)
    for rec in stubborn:
        if proc_starttime(rec["pid"]) == rec["starttime"]:
            log("%s (pid %d) ignored SIGTERM; SIGKILL" % (rec["name"], rec["pid"]))
            try:
                os.kill(rec["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_pid_exit(rec["pid"], 5)


# --------------------------------------------------------------------------
# Ports

def _port_free(ip, port, kind):
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    s = socket.socket(fam, kind)
    try:
        # tor sets SO_REUSEADDR on its listeners; do the same so a
        # connection in TIME_WAIT does not count as busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def network_ports(base):
    """Every (ip, port, kind) the network binds for a base port."""
    ports = []
    for _nick, role, n, _cc, _bw in NODES:
        ip = "127.0.0.%d" % n
        ports.append((ip, base + n, socket.SOCK_STREAM))
        if role == "authority":
            ports.append((ip, base + 100 + n, socket.SOCK_STREAM))
    ports.append(("127.0.0.1", base + OFF_SOCKS, socket.SOCK_STREAM))
    ports.append(("127.0.0.1", base + OFF_CONTROL, socket.SOCK_STREAM))
    ports.append(("127.0.0.1", base + OFF_DNS, socket.SOCK_DGRAM))
    ports.append(("127.0.0.1", base + OFF_REJECTED, socket.SOCK_STREAM))
    return ports


def ports_free(base):
    return all(_port_free(ip, port, kind) for ip, port, kind in network_ports(base))


def pick_base_port(wanted=None):
    """The wanted base if its ports are free, else the first free one of a
    bounded list of candidates (spread by pid, so two runs rarely collide)."""
    candidates = []
    if wanted:
        candidates.append(wanted)
    start = 20000 + PORT_SPAN * (os.getpid() % 100)
    for k in range(100):
        base = 20000 + (start - 20000 + PORT_SPAN * k) % (PORT_SPAN * 300)
        if base not in candidates:
            candidates.append(base)
    for base in candidates:
        if base + PORT_SPAN < 65536 and ports_free(base):
            return base
    raise TorNetError("no free base port among %d candidates" % len(candidates))


# --------------------------------------------------------------------------
# DNS responder: A and PTR from a hosts file, AAAA empty, the rest NXDOMAIN

def read_hosts(path):
    """{name: ip} and {ip: name} from "IP NAME…" lines."""
    forward, reverse = {}, {}
    with open(path) as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            if len(fields) < 2:
                continue
            ip, names = fields[0], fields[1:]
            for name in names:
                forward.setdefault(name.lower().rstrip("."), ip)
            reverse.setdefault(ip, names[0].rstrip("."))
    return forward, reverse


def _encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def dns_answer(query, forward, reverse):
    """The response to one query, or None to drop it.

    The question section is copied byte for byte: tor randomises the case
    of names (the 0x20 trick) and checks the echo exactly."""
    if len(query) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", query[:6])
    if flags & 0x8000 or qdcount != 1:
        return None
    pos, labels = 12, []
    while True:
        if pos >= len(query):
            return None
        n = query[pos]
        if n == 0:
            pos += 1
            break
        if n & 0xC0:
            return None
        labels.append(query[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    if pos + 4 > len(query):
        return None
    qtype, qclass = struct.unpack("!HH", query[pos:pos + 4])
    question = query[12:pos + 4]
    name = ".".join(labels).lower()

    rcode, answers = 3, []              # NXDOMAIN unless found
    if qtype == 1 and name in forward:  # A
        try:
            rdata = socket.inet_aton(forward[name])
            rcode, answers = 0, [(1, rdata)]
        except OSError:
            pass
    elif qtype == 28 and name in forward:  # AAAA: the name exists, no address
        rcode = 0
    elif qtype == 12 and name.endswith(".in-addr.arpa"):  # PTR
        octets = name[:-len(".in-addr.arpa")].split(".")
        ip = ".".join(reversed(octets))
        if ip in reverse:
            rcode, answers = 0, [(12, _encode_name(reverse[ip]))]

    rd = flags & 0x0100
    opcode = flags & 0x7800
    out = struct.pack("!HHHHHH", qid, 0x8000 | opcode | 0x0400 | rd | 0x0080 | rcode,
                      1, len(answers), 0, 0)
    out += question
    for rtype, rdata in answers:
        out += struct.pack("!HHHIH", 0xC00C, rtype, qclass, 60, len(rdata)) + rdata
    return out


def dns_serve(fd, hosts_path):
    """Serve DNS on an already bound UDP socket until killed.  The hosts
    file is read again whenever it changes."""
    sock = socket.socket(fileno=fd)
    stamp, forward, reverse = None, {}, {}
    while True:
        query, peer = sock.recvfrom(4096)
        try:
            st = os.stat(hosts_path)
            if (st.st_mtime_ns, st.st_size) != stamp:
                forward, reverse = read_hosts(hosts_path)
                stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            pass
        reply = dns_answer(query, forward, reverse)
        if reply is not None:
            sock.sendto(reply, peer)


# --------------------------------------------------------------------------
# A small control-port client

class Reply:
    """One control-port reply: lines of (code, separator, text, data)."""

    def __init__(self, lines, raw):
        self.lines = lines
        self.raw = raw

    @property
    def code(self):
        return self.lines[-1][0]

    @property
    def ok(self):
        return self.code.startswith("2")

    def text(self):
        return self.lines[-1][2]

    def value(self, key):
        """The value of KEY=... in a GETINFO reply (data block or one line)."""
        for code, sep, text, data in self.lines:
            if text.startswith(key + "="):
                return data if sep == "+" else text[len(key) + 1:]
        return None

    def __str__(self):
        return self.raw.decode("utf-8", "replace")


class Control:
    """A blocking control-port connection.

    Replies are read in order; asynchronous 650 events that arrive in
    between are kept in a list until someone asks for them, because an
    event for a circuit or stream can arrive before the reply to the
    command that created it has been handled.  Every byte received can be
    recorded as is (record=True)."""

    def __init__(self, host, port, timeout=20, record=False):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buf = b""
        self.events = []
        self.record = record
        self.recorded = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def take_recording(self):
        data, self.recorded = self.recorded, b""
        return data

    def _line(self, deadline):
        while b"\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TorNetError("control port: no reply in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TorNetError("control port: no reply in time")
            if not chunk:
                raise TorNetError("control port closed")
            if self.record:
                self.recorded += chunk
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _message(self, deadline):
        """One whole reply or event."""
        lines, raw = [], b""
        while True:
            line = self._line(deadline)
            raw += line + b"\r\n"
            if len(line) < 4:
                raise TorNetError("control port: short line %r" % line)
            code, sep, text = line[:3].decode(), chr(line[3]), line[4:].decode("utf-8", "replace")
            data = None
            if sep == "+":
                body = []
                while True:
                    dl = self._line(deadline)
                    raw += dl + b"\r\n"
                    if dl == b".":
                        break
                    body.append(dl[1:] if dl.startswith(b"..") else dl)
                data = b"\n".join(body).decode("utf-8", "replace")
            lines.append((code, sep, text, data))
            if sep == " ":
                return Reply(lines, raw)

    def _read(self, deadline):
        msg = self._message(deadline)
        if msg.code == "650":
            self.events.append(msg)
            return None
        return msg

    def command(self, line, timeout=None):
        self.sock.sendall(line.encode() + b"\r\n")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read(deadline)
            if reply is not None:
                return reply

    def check(self, line, timeout=None):
        reply = self.command(line, timeout)
        if not reply.ok:
            raise TorNetError("%s: %s" % (line.split()[0], str(reply).strip()))
        return reply

    def event(self, pred, timeout=None):
        """The first kept or new event for which pred(text) is true; it is
        removed from the kept ones, the others stay."""
        deadline = time.monotonic() + (timeout or self.timeout)
        i = 0
        while True:
            while i < len(self.events):
                ev = self.events[i]
                first = ev.lines[0][2]
                if pred(first):
                    del self.events[i]
                    return ev
                i += 1
            self._read(deadline)

    def authenticate(self):
        """PROTOCOLINFO, then the cookie (SAFECOOKIE if offered) or NULL."""
        info = self.check("PROTOCOLINFO 1")
        auth = next((t for _c, _s, t, _d in info.lines if t.startswith("AUTH ")), "")
        methods = re.search(r"METHODS=(\S+)", auth)
        methods = methods.group(1).split(",") if methods else []
        cookie_file = re.search(r'COOKIEFILE="((?:[^"\\]|\\.)*)"', auth)
        if "SAFECOOKIE" in methods and cookie_file:
            with open(cookie_file.group(1).replace('\\"', '"').replace("\\\\", "\\"), "rb") as f:
                cookie = f.read()
            self.safecookie(cookie)
        elif "COOKIE" in methods and cookie_file:
            with open(cookie_file.group(1), "rb") as f:
                cookie = f.read()
            self.check("AUTHENTICATE " + cookie.hex())
        elif "NULL" in methods:
            self.check("AUTHENTICATE")
        else:
            raise TorNetError("no usable authentication method in %r" % auth)
        return info

    def safecookie(self, cookie):
        client_nonce = os.urandom(32)
        reply = self.check("AUTHCHALLENGE SAFECOOKIE " + client_nonce.hex())
        fields = dict(kv.split("=", 1) for kv in reply.text().split()[1:])
        server_hash = bytes.fromhex(fields["SERVERHASH"])
        server_nonce = bytes.fromhex(fields["SERVERNONCE"])
        msg = cookie + client_nonce + server_nonce
        want = hmac.new(b"Tor safe cookie authentication server-to-controller hash",
                        msg, hashlib.sha256).digest()
        if not hmac.compare_digest(want, server_hash):
            raise TorNetError("SAFECOOKIE: tor's hash does not match the cookie")
        mine = hmac.new(b"Tor safe cookie authentication controller-to-server hash",
                        msg, hashlib.sha256).digest()
        return self.check("AUTHENTICATE " + mine.hex())


def parse_ns(text):
    """{fingerprint: {nick, ip, orport, flags, bandwidth}} from ns/all."""
    relays, cur = {}, None
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "r" and len(f) >= 9:
            ident = f[2] + "=" * (-len(f[2]) % 4)
            fp = base64.b64decode(ident).hex().upper()
            cur = relays[fp] = {"nick": f[1], "ip": f[6], "orport": int(f[7]),
                                "flags": set(), "bandwidth": None}
        elif f[0] == "s" and cur is not None:
            cur["flags"] = set(f[1:])
        elif f[0] == "w" and cur is not None:
            for kv in f[1:]:
                if kv.startswith("Bandwidth="):
                    cur["bandwidth"] = int(kv.split("=", 1)[1])
    return relays


# --------------------------------------------------------------------------
# SOCKS5 through the client, a target server, who owns a connection

def socks5_connect(socks, host, port, timeout=20):
    """A connected socket through a SOCKS5 proxy (no auth), or TorNetError
    with the reply code."""
    s = socket.create_connection(socks, timeout=timeout)
    try:
        s.sendall(b"\x05\x01\x00")
        if _recv_exact(s, 2) != b"\x05\x00":
            raise TorNetError("SOCKS5: no-auth refused")
        try:
            addr = b"\x01" + socket.inet_aton(host)
        except OSError:
            raw = host.encode()
            addr = b"\x03" + bytes([len(raw)]) + raw
        s.sendall(b"\x05\x01\x00" + addr + struct.pack("!H", port))
        head = _recv_exact(s, 4)
        atyp = head[3]
        rest = {0: 0, 1: 4, 4: 16}.get(atyp)
        if rest is None:
            rest = _recv_exact(s, 1)[0]
        _recv_exact(s, rest + 2)
        if head[1] != 0:
            raise TorNetError("SOCKS5 reply %02x" % head[1])
        return s
    except BaseException:
        s.close()
        raise


def _recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise TorNetError("connection closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def recv_line(s):
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def _proc_net_addr(hexaddr):
    ip, port = hexaddr.split(":")
    raw = bytes.fromhex(ip)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1]), int(port, 16)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words), int(port, 16)


def socket_inode(local, remote=None):
    """The inode of the TCP socket whose local end is LOCAL (ip, port)
    (and remote end REMOTE, if given), from /proc/net/tcp{,6}."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            lo, re_ = _proc_net_addr(f[1]), _proc_net_addr(f[2])
            lo = (lo[0].removeprefix("::ffff:"), lo[1])
            re_ = (re_[0].removeprefix("::ffff:"), re_[1])
            if lo == tuple(local) and (remote is None or re_ == tuple(remote)):
                return int(f[9])
    return None


def owner_of(peer, pids, server=None):
    """Which of PIDS ({name: pid}) holds the socket whose local end is PEER,
    the (ip, port) a server saw.  Works without the bind shim, as long as
    the connection is still open.  None if no one does."""
    inode = socket_inode(peer, server)
    if inode is None:
        return None
    link = "socket:[%d]" % inode
    for name, pid in pids.items():
        fd_dir = "/proc/%d/fd" % pid
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(os.path.join(fd_dir, fd)) == link:
                    return name
            except OSError:
                continue
    return None


class TargetServer:
    """A TCP server on 127.0.0.1 and ::1 (same port) that first sends the
    peer address it saw ("IP PORT\\n"), then echoes.  Each accepted
    connection is recorded as {"peer": (ip, port), "owner": name or None};
    the owner is looked up at accept time among OWNER_PIDS."""

    def __init__(self, owner_pids=None, host4="127.0.0.1", host6="::1", port=0):
        """PORT: a fixed port (0: any free one)."""
        self.owner_pids = owner_pids or {}
        self.accepted = []
        self.cond = threading.Condition()
        self.listeners = []
        self._closing = False
        self.port = None
        wanted = port
        for attempt in range(1 if wanted else 20):
            s4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if wanted:
                s4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s4.bind((host4, wanted))
            port = s4.getsockname()[1]
            s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                s6.bind((host6, port))
            except OSError:
                s4.close()
                s6.close()
                continue
            self.port = port
            self.listeners = [s4, s6]
            break
        if self.port is None:
            raise TorNetError("no port free on both %s and %s" % (host4, host6))
        self.threads = []
        for s in self.listeners:
            s.listen(64)
            t = threading.Thread(target=self._accept_loop, args=(s,), daemon=True)
            t.start()
            self.threads.append(t)

    def _accept_loop(self, lsock):
        while True:
            try:
                conn, peer = lsock.accept()
            except OSError:
                return
            peer = (peer[0], peer[1])
            server = conn.getsockname()[:2]
            rec = {"peer": peer, "owner": owner_of(peer, self.owner_pids, server)}
            with self.cond:
                self.accepted.append(rec)
                self.cond.notify_all()
            threading.Thread(target=self._echo, args=(conn, peer), daemon=True).start()

    def _echo(self, conn, peer):
        with conn:
            try:
                conn.sendall(("%s %d\n" % peer).encode())
                while True:
                    data = conn.recv(65536)
                    if not data:
                        return
                    conn.sendall(data)
            except OSError:
                return

    def wait_accepted(self, count, timeout=20):
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.accepted) >= count, timeout):
                raise TorNetError("target: %d connections after %d s, wanted %d"
                                  % (len(self.accepted), timeout, count))
            return self.accepted[count - 1]

    def close(self):
        for s in self.listeners:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in self.threads:
            t.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------
# The network

def _find_tool(env_name, build_dir, rel):
    path = os.environ.get(env_name)
    if path and os.path.exists(path):
        return path
    for root in (build_dir, os.environ.get("EXG_BUILD_ROOT")):
        if root and os.path.exists(os.path.join(root, rel)):
            return os.path.join(root, rel)
    return None


class TorNet:
    """A private Tor network in DIR (a temporary directory if None).

    start() generates keys, starts everything, waits until ready and writes
    DIR/tornet.json; stop() stops exactly the processes it started.  As a
    context manager, it starts on enter and stops on exit (and removes a
    temporary DIR)."""

    def __init__(self, dir=None, base_port=None, build_dir=None, ready_timeout=READY_TIMEOUT,
                 detach=False, reject_port_exit=None, families=()):
        """REJECT_PORT_EXIT: the nick of an exit whose policy rejects one
        port, info["rejected_port"] (the others accept every port).
        FAMILIES: tuples of relay nicks, each one family (every member's
        MyFamily lists the others, so tor's microdescriptors say so)."""
        self.own_dir = dir is None
        self.dir = os.path.abspath(dir or tempfile.mkdtemp(prefix="tornet-"))
        self.wanted_base = base_port
        self.build_dir = build_dir
        self.ready_timeout = ready_timeout
        self.detach = detach            # CLI: the tors outlive this process
        self.procs = []                 # {"name", "pid", "starttime"}
        self.popen = {}                 # name -> Popen
        self.info = None
        self.extra_clients = 0
        self.reject_port_exit = reject_port_exit
        self.families = [tuple(f) for f in families]

    # ---- context manager

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    # ---- paths and config

    def node_dir(self, nick):
        return os.path.join(self.dir, "nodes", nick)

    def _write(self, path, text, mode=0o644):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.rename(tmp, path)

    def _spawn(self, name, argv, env=None, pass_fds=()):
        logf = open(os.path.join(self.dir, "logs", name + ".out"), "ab")
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                 env=env, pass_fds=pass_fds, start_new_session=True,
                                 preexec_fn=None if self.detach else _die_with_parent)
        finally:
            logf.close()
        rec = {"name": name, "pid": p.pid, "starttime": proc_starttime(p.pid)}
        self.procs.append(rec)
        self.popen[name] = p
        self._save_pids()
        return p

    def _save_pids(self):
        # Written at every start, so "stop" finds every process even if
        # "start" failed half-way.
        self._write(os.path.join(self.dir, "pids.json"), json.dumps(self.procs, indent=1))

    def _run_keys(self):
        """Authority certificates and relay identities, all in parallel."""
        jobs = []
        for nick, role, n, _cc, _bw in NODES:
            d = self.node_dir(nick)
            os.makedirs(os.path.join(d, "keys"), mode=0o700, exist_ok=True)
            os.chmod(d, 0o700)
            if role == "authority":
                k = os.path.join(d, "keys")
                argv = [TOR_GENCERT, "--create-identity-key", "--passphrase-fd", "0",
                        "-i", os.path.join(k, "authority_identity_key"),
                        "-s", os.path.join(k, "authority_signing_key"),
                        "-c", os.path.join(k, "authority_certificate"),
                        "-m", "24", "-a", "127.0.0.%d:%d" % (n, self.base + 100 + n)]
                jobs.append((nick + " gencert", argv, b"\n"))
            argv = [TOR, "--defaults-torrc", "/dev/null", "--ignore-missing-torrc",
                    "-f", "/dev/null", "--DataDirectory", d, "--ORPort", "1",
                    "--DisableNetwork", "1", "--list-fingerprint"]
            jobs.append((nick + " fingerprint", argv, None))
        running = []
        for name, argv, stdin in jobs:
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
            running.append((name, p, stdin))
        failed = []
        for name, p, stdin in running:
            try:
                out, _ = p.communicate(stdin, timeout=KEYS_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
            if p.returncode != 0:
                failed.append("%s: rc %s: %s" % (name, p.returncode, out.decode()[-500:]))
        if failed:
            raise TorNetError("key generation failed:\n" + "\n".join(failed))

    def _fingerprint(self, nick):
        with open(os.path.join(self.node_dir(nick), "fingerprint")) as f:
            return f.read().split()[1]

    def _v3ident(self, nick):
        with open(os.path.join(self.node_dir(nick), "keys", "authority_certificate")) as f:
            for line in f:
                if line.startswith("fingerprint "):
                    return line.split()[1]
        raise TorNetError("%s: no fingerprint in the authority certificate" % nick)

    def _common_torrc(self, nick):
        d = self.node_dir(nick)
        lines = [
            "TestingTorNetwork 1",
            "DataDirectory " + d,
            "Nickname " + nick,
            "RunAsDaemon 0",
            "PidFile " + os.path.join(d, "tor.pid"),
            "Log notice file " + os.path.join(d, "notice.log"),
            "Log info file " + os.path.join(d, "info.log"),
            "SafeLogging 0",
            "LogTimeGranularity 1",
            "ShutdownWaitLength 0",
        ]
        return lines + self.network_lines

    def _relay_torrc(self, nick, role, n):
        ip = "127.0.0.%d" % n
        lines = self._common_torrc(nick) + [
            "SocksPort 0",
            "Address " + ip,
            "ORPort %s:%d" % (ip, self.base + n),
            "OutboundBindAddress " + ip,
            "AssumeReachable 1",
            "ContactInfo %s@%s" % (nick, DOMAIN),
            "ServerDNSResolvConfFile " + os.path.join(self.dir, "dns", "resolv.conf"),
            "ServerDNSDetectHijacking 0",
            "ServerDNSTestAddresses",
        ]
        if role == "exit":
            lines += [
                "ExitRelay 1",
                "ExitPolicyRejectPrivate 0",
                "ExitPolicyRejectLocalInterfaces 0",
                "ExitPolicy accept *:*" if nick != self.reject_port_exit else
                "ExitPolicy reject *:%d,accept *:*" % (self.base + OFF_REJECTED),
                "OutboundBindAddressExit " + ip,
                "RefuseUnknownExits 0",
            ]
        else:
            lines += ["ExitRelay 0", "ExitPolicy reject *:*"]
        for family in self.families:
            if nick in family:
                lines.append("MyFamily " + ",".join("$" + self.fps[nk] for nk in family
                                                    if nk != nick))
        if role != "authority":
            lines.append("DirCache 0")
        else:
            exits = ",".join(self.fps[nk] for nk, r, _n, _c, _b in NODES if r == "exit")
            lines += [
                "AuthoritativeDirectory 1",
                "V3AuthoritativeDirectory 1",
                "DirPort %s:%d" % (ip, self.base + 100 + n),
                "TestingV3AuthInitialVotingInterval %d" % INITIAL_INTERVAL,
                "TestingV3AuthInitialVoteDelay %d" % INITIAL_DELAY,
                "TestingV3AuthInitialDistDelay %d" % INITIAL_DELAY,
                "V3AuthVotingInterval 20",
                "V3AuthVoteDelay 4",
                "V3AuthDistDelay 4",
                "V3AuthNIntervalsValid 2",
                "TestingV3AuthVotingStartOffset %d" % self.voting_offset,
                "TestingDirAuthVoteGuard *",
                "TestingDirAuthVoteHSDir *",
                "TestingDirAuthVoteExit " + exits,
                "TestingDirAuthVoteExitIsStrict 1",
                "TestingMinExitFlagThreshold 0",
                "V3BandwidthsFile " + os.path.join(self.dir, "bwfile"),
            ]
        return "\n".join(lines) + "\n"

    def client_torrc(self, nick, socks_port, control_port, extra=()):
        d = self.node_dir(nick)
        os.makedirs(d, mode=0o700, exist_ok=True)
        lines = self._common_torrc(nick) + [
            "SocksPort 127.0.0.1:%d" % socks_port,
            "ControlPort 127.0.0.1:%d" % control_port,
            "CookieAuthentication 1",
            "CookieAuthFile " + os.path.join(d, "control_auth_cookie"),
        ] + list(extra)
        path = os.path.join(d, "torrc")
        self._write(path, "\n".join(lines) + "\n")
        return path

    def _write_support_files(self):
        hosts = {"target." + DOMAIN: "127.0.0.1", "public." + DOMAIN: "203.0.113.7"}
        k = 0
        for nick, role, n, _cc, _bw in NODES:
            if role == "exit":
                k += 1
                hosts["exit%d.%s" % (k, DOMAIN)] = "127.0.0.%d" % n
        self.hosts = hosts
        self.ptr = {"203.0.113.7": "public." + DOMAIN}
        os.makedirs(os.path.join(self.dir, "dns"), exist_ok=True)
        # PTR answers take the first name of a line: public first for its IP.
        text = "".join("%s %s\n" % (ip, name) for name, ip in hosts.items())
        self._write(os.path.join(self.dir, "dns", "hosts"), text)
        self._write(os.path.join(self.dir, "dns", "resolv.conf"),
                    "nameserver 127.0.0.1:%d\noptions timeout:2 attempts:2\n"
                    % (self.base + OFF_DNS))

        geo = []
        for _nick, _role, n, cc, _bw in NODES:
            if cc:
                v = (127 << 24) | n
                geo.append("%d,%d,%s\n" % (v, v, cc))
        self._write(os.path.join(self.dir, "geoip"), "".join(geo))
        self._write(os.path.join(self.dir, "geoip6"), "::1,::1,ZZ\n")

        bw = ["%d\n" % int(time.time())]
        for nick, _role, _n, _cc, kb in NODES:
            if kb:
                bw.append("node_id=$%s bw=%d nick=%s\n" % (self.fps[nick], kb, nick))
        self._write(os.path.join(self.dir, "bwfile"), "".join(bw))

        # What another tor (Exitgate's managed one) needs to join.
        self._write(os.path.join(self.dir, "torrc-network"), "\n".join(self.network_lines) + "\n")

        self.mmdb = None
        maker = _find_tool("EXG_MAKE_MMDB", self.build_dir, "tests/lib/exg-make-mmdb")
        if maker:
            out = os.path.join(self.dir, "geoip.mmdb")
            args = ["127.0.0.%d=%s" % (n, cc) for _nk, _r, n, cc, _b in NODES if cc]
            subprocess.run([maker, out] + args, check=True, timeout=30,
                           stdout=subprocess.DEVNULL)
            self.mmdb = out
        else:
            log("exg-make-mmdb not found (set EXG_BUILD_ROOT or --build-dir): no MMDB")

    def _shim(self):
        """The bind shim's path if it loads into tor, else None."""
        shim = _find_tool("TORNET_BINDSHIM", self.build_dir, "tests/tor/libexg-bindshim.so")
        if not shim:
            return None
        env = dict(os.environ, LD_PRELOAD=shim)
        r = subprocess.run([TOR, "--version"], env=env, capture_output=True, timeout=30)
        if r.returncode != 0 or b"ERROR" in r.stderr:
            log("the bind shim does not load into tor; owners come from /proc only")
            return None
        return shim

    # ---- start

    def start(self):
        t0 = time.monotonic()
        for sub in ("nodes", "logs", "dns"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.base = pick_base_port(self.wanted_base)
        self._run_keys()
        self.fps = {nick: self._fingerprint(nick) for nick, *_ in NODES}
        t_keys = time.monotonic()

        self.network_lines = [
            "GeoIPFile " + os.path.join(self.dir, "geoip"),
            "GeoIPv6File " + os.path.join(self.dir, "geoip6"),
            "PathsNeededToBuildCircuits 0.67",
        ]
        for nick, role, n, _cc, _bw in NODES:
            if role == "authority":
                self.network_lines.append(
                    "DirAuthority %s orport=%d v3ident=%s 127.0.0.%d:%d %s"
                    % (nick, self.base + n, self._v3ident(nick), n, self.base + 100 + n,
                       self.fps[nick]))
        # TestingTorNetwork must come first for a tor that only reads this.
        self.network_lines.insert(0, "TestingTorNetwork 1")
        self._write_support_files()
        self.shim = self._shim()

        # The DNS responder gets a socket bound here, so it answers from
        # the moment it exists.
        dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dns.bind(("127.0.0.1", self.base + OFF_DNS))
        try:
            self._spawn("dns", ["/usr/bin/python3", os.path.abspath(__file__), "dns",
                                "--fd", str(dns.fileno()),
                                os.path.join(self.dir, "dns", "hosts")],
                        pass_fds=(dns.fileno(),))
        finally:
            dns.close()

        # First vote at launch + 4 s, whatever the wall clock says.
        launch = int(time.time())
        self.voting_offset = (launch + 4 + 2 * INITIAL_DELAY) % INITIAL_INTERVAL
        t_launch = time.monotonic()
        for nick, role, n, _cc, _bw in NODES:
            torrc = os.path.join(self.node_dir(nick), "torrc")
            self._write(torrc, self._relay_torrc(nick, role, n))
            env = dict(os.environ)
            env.pop("LD_PRELOAD", None)
            if role == "exit" and self.shim:
                env["LD_PRELOAD"] = self.shim
                env["TORNET_BIND_ADDR"] = "127.0.0.%d" % n
            self._spawn(nick, [TOR, "--defaults-torrc", "/dev/null", "-f", torrc], env=env)

        deadline = t_launch + self.ready_timeout
        wait_until(lambda: self._check_alive() or self._consensus_served(),
                   deadline - time.monotonic(), "the first consensus")
        t_consensus = time.monotonic()
        # Relays that got 404 back off for up to 10 s; make them fetch now.
        for nick, role, *_ in NODES:
            if role != "authority":
                os.kill(self.popen[nick].pid, signal.SIGHUP)

        client = self.start_client("tnclient", self.base + OFF_SOCKS, self.base + OFF_CONTROL)
        self.client = client
        self._wait_ready(client, deadline)
        t_ready = time.monotonic()

        self.timings = {"keys": round(t_keys - t0, 2),
                        "first_consensus": round(t_consensus - t_launch, 2),
                        "launch_to_ready": round(t_ready - t_launch, 2),
                        "total": round(t_ready - t0, 2)}
        self.info = self._describe(client)
        self._write(os.path.join(self.dir, "tornet.json"), json.dumps(self.info, indent=2) + "\n")
        log("ready in %.1f s (%.1f s after launch), base port %d"
            % (t_ready - t0, t_ready - t_launch, self.base))
        return self.info

    def _check_alive(self):
        for rec in self.procs:
            p = self.popen.get(rec["name"])
            if p is not None and p.poll() is not None:
                raise TorNetError("%s exited with %s; see %s" % (
                    rec["name"], p.returncode, os.path.join(self.dir, "logs")))
        return False

    def _consensus_served(self):
        for nick, role, n, *_ in NODES:
            if role != "authority":
                continue
            try:
                with socket.create_connection(("127.0.0.%d" % n, self.base + 100 + n),
                                              timeout=2) as s:
                    s.sendall(b"GET /tor/status-vote/current/consensus-microdesc HTTP/1.0\r\n\r\n")
                    head = s.recv(64)
                if head.startswith(b"HTTP/1.0 200"):
                    return True
            except OSError:
                pass
        return False

    def start_client(self, nick, socks_port, control_port, extra=()):
        """Start a client tor on the network; returns its description."""
        torrc = self.client_torrc(nick, socks_port, control_port, extra)
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        self._spawn(nick, [TOR, "--defaults-torrc", "/dev/null", "-f", torrc], env=env)
        return {"nick": nick, "host": "127.0.0.1", "socks_port": socks_port,
                "control_port": control_port,
                "cookie_file": os.path.join(self.node_dir(nick), "control_auth_cookie"),
                "data_dir": self.node_dir(nick), "torrc": torrc,
                "pid": self.popen[nick].pid}

    def add_client(self, extra=("DisableNetwork 1",)):
        """Another client tor on the network, by default with DisableNetwork
        1 so a controller can watch it bootstrap from the start (SETCONF
        DisableNetwork=0).  Its ports are checked and returned."""
        for _ in range(50):
            k = self.extra_clients
            self.extra_clients += 1
            socks = self.base + OFF_EXTRA + 2 * k
            ctl = socks + 1
            if socks + 1 >= self.base + 100:
                break
            if _port_free("127.0.0.1", socks, socket.SOCK_STREAM) and \
               _port_free("127.0.0.1", ctl, socket.SOCK_STREAM):
                return self.start_client("tnclient%d" % (k + 2), socks, ctl, extra)
        raise TorNetError("no free ports for another client")

    def control(self, client=None, **kw):
        """An authenticated Control on a client (the main one by default)."""
        c = client or self.client
        ctl = wait_until(lambda: self._check_alive() or self._try_connect(c, **kw),
                         30, "%s's ControlPort" % c["nick"])
        try:
            ctl.authenticate()
        except BaseException:
            ctl.close()
            raise
        return ctl

    @staticmethod
    def _try_connect(c, **kw):
        try:
            return Control(c["host"], c["control_port"], **kw)
        except OSError:
            return None

    def _wait_ready(self, client, deadline):
        def left():
            return max(0.1, deadline - time.monotonic())

        exits = {self.fps[nk]: kb for nk, r, _n, _c, kb in NODES if r == "exit"}
        with self.control(client) as ctl:
            ctl.check("SETEVENTS STATUS_CLIENT NEWCONSENSUS")
            # 1. bootstrap 100 %
            phase = ctl.check("GETINFO status/bootstrap-phase").value("status/bootstrap-phase")
            if "PROGRESS=100" not in phase:
                ctl.event(lambda t: t.startswith("STATUS_CLIENT") and "BOOTSTRAP" in t
                          and "PROGRESS=100 " in t, left())

            # 2. every relay in its consensus, the exits with Exit and their
            # measured bandwidth
            def complete():
                ns = parse_ns(ctl.check("GETINFO ns/all").value("ns/all") or "")
                if set(ns) != set(self.fps.values()):
                    return False
                for fp, kb in exits.items():
                    if "Exit" not in ns[fp]["flags"] or ns[fp]["bandwidth"] != kb:
                        return False
                return ns
            while not complete():
                self._check_alive()
                ctl.event(lambda t: t.startswith("NEWCONSENSUS"), left())
            ctl.check("SETEVENTS")

        # 3. every relay has a consensus of its own
        def all_have_consensus():
            for nick, *_ in NODES:
                d = self.node_dir(nick)
                if not any(os.path.exists(os.path.join(d, f))
                           for f in ("cached-consensus", "cached-microdesc-consensus")):
                    return False
            return True
        wait_until(lambda: self._check_alive() or all_have_consensus(), left(),
                   "every relay's consensus")

        # 4. a stream works (tor picks the path)
        with TargetServer() as target:
            def stream_works():
                self._check_alive()
                try:
                    with socks5_connect(("127.0.0.1", client["socks_port"]), "127.0.0.1",
                                        target.port, timeout=left()) as s:
                        return recv_line(s) != ""
                except (OSError, TorNetError):
                    return False
            wait_until(stream_works, left(), "a working stream", poll=0.2)

    def _describe(self, client):
        relays = []
        for nick, role, n, cc, kb in NODES:
            relays.append({
                "nick": nick, "fingerprint": self.fps[nick], "ip": "127.0.0.%d" % n,
                "orport": self.base + n,
                "dirport": self.base + 100 + n if role == "authority" else None,
                "role": role, "is_exit": role == "exit", "country": cc,
                "bandwidth": kb * 1000 if kb else None,
                "pid": self.popen[nick].pid,
            })
        return {
            "dir": self.dir,
            "base_port": self.base,
            "client": {k: client[k] for k in ("nick", "host", "socks_port", "control_port",
                                             "cookie_file", "data_dir", "pid")},
            "relays": relays,
            "exits": [r["nick"] for r in relays if r["is_exit"]],
            "dns": {"host": "127.0.0.1", "port": self.base + OFF_DNS,
                    "hosts": self.hosts, "ptr": self.ptr,
                    "hosts_file": os.path.join(self.dir, "dns", "hosts")},
            "mmdb": self.mmdb,
            "geoip_file": os.path.join(self.dir, "geoip"),
            "geoip6_file": os.path.join(self.dir, "geoip6"),
            "torrc_network": os.path.join(self.dir, "torrc-network"),
            "bwfile": os.path.join(self.dir, "bwfile"),
            "rejected_port": self.base + OFF_REJECTED,
            "reject_port_exit": self.reject_port_exit,
            "bind_shim": self.shim is not None,
            "pids": {r["name"]: r["pid"] for r in self.procs},
            "timings": self.timings,
        }

    # ---- helpers for tests

    def tor_pids(self):
        """{nick: pid} of every tor, for owner_of()."""
        return {r["name"]: r["pid"] for r in self.procs if r["name"] != "dns"}

    def relay(self, nick):
        return next(r for r in self.info["relays"] if r["nick"] == nick)

    def stop_process(self, name):
        """Stop one process of the network (e.g. an extra client)."""
        recs = [r for r in self.procs if r["name"] == name]
        stop_pids(recs)
        self.procs = [r for r in self.procs if r["name"] != name]
        p = self.popen.pop(name, None)
        if p is not None:
            p.wait(STOP_TIMEOUT)
        self._save_pids()

    # ---- stop

    def stop(self):
        stop_pids(self.procs)
        for p in self.popen.values():
            try:
                p.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []
        self.popen = {}
        if os.path.isdir(self.dir):
            self._save_pids()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def stop_dir(dir):
    """Stop the processes a "start" in DIR recorded."""
    path = os.path.join(dir, "pids.json")
    try:
        with open(path) as f:
            records = json.load(f)
    except FileNotFoundError:
        return
    stop_pids(records)
    os.unlink(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("start", help="start the network in DIR and wait until it is ready")
    p.add_argument("dir")
    p.add_argument("--base-port", type=int, default=None)
    p.add_argument("--build-dir", default=None,
                   help="the meson build dir (for exg-make-mmdb and the bind shim)")
    p.add_argument("--timeout", type=float, default=READY_TIMEOUT)
    p = sub.add_parser("stop", help="stop the processes that start recorded in DIR")
    p.add_argument("dir")
    p = sub.add_parser("dns", help=argparse.SUPPRESS)
    p.add_argument("--fd", type=int, required=True)
    p.add_argument("hosts")
    args = ap.parse_args(argv)

    if args.cmd == "dns":
        dns_serve(args.fd, args.hosts)
        return 0
    if args.cmd == "stop":
        stop_dir(args.dir)
        return 0

    os.makedirs(args.dir, exist_ok=True)
    if os.path.exists(os.path.join(args.dir, "pids.json")):
        stop_dir(args.dir)
    net = TorNet(args.dir, base_port=args.base_port, build_dir=args.build_dir,
                 ready_timeout=args.timeout, detach=True)
    try:
        net.start()
    except BaseException as e:
        net.stop()
        log("start failed: %s" % e)
        return 1
    print(os.path.join(net.dir, "tornet.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
