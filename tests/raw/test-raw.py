#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Raw-socket tests of exitgated on loopback.

Talks SOCKS4/4a/5 byte by byte to a fresh daemon ($EXITGATED) and checks
every reply against the bytes issue 2 specifies, the data path (pipelined
data, half-close, 1 MiB each way, 200 connections at once) and the limits
(handshake size and timeout, --max-connections, --allow).  Targets are
servers in this process on 127.0.0.1 and ::1.

Usage: test-raw.py [--slow] [NAME-SUBSTRING...]
  --slow  runs only the test that waits for a connect to time out (the
          daemon's 60 s, at most the kernel's ~127 s).

Reports TAP: the plan, then "ok N - name", "not ok N - name" (with
"# " lines saying why) or "ok N - name # SKIP why" for each test.
Standard library only (tests/lib/exgtest.py); every wait is bounded by a
socket timeout or a deadline, never a sleep.

What the in-process server tests (tests/integration/test-server.c) show
is not repeated here: these are the cases only the real daemon and real
sockets show (BND, pipelining, bulk data, 200 clients at once, malformed
input, the HTTP page, the command-line limits, the destination policy
and its log).
"""

import fcntl
import hashlib
import os
import select
import socket
import struct
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.environ['EXG_SOURCE_ROOT'], 'tests', 'lib'))
from exgtest import (EXITGATED, NXNAME, TIMEOUT, V4_FAIL, V5_FAIL,  # noqa: E402
                     Daemon, Target, connect, expect_eof, free_dual_port,
                     has_ipv6_loopback, read_v5_reply, recv_all, recv_exact,
                     v4_request, v5_addr, v5_greet, v5_open, v5_request)

MiB = 1024 * 1024


class Skip(Exception):
    pass


def ip_bytes(host):
    return v5_addr(host)[1:]


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def check_echo(s, data=b'hello through the proxy\n'):
    s.sendall(data)
    got = recv_exact(s, len(data))
    check(got == data, 'echo mismatch: %r' % got)


def reverse_name(ip):
    """What this machine's resolver says for ip (None when nothing)."""
    try:
        return socket.getnameinfo((ip, 0), socket.NI_NAMEREQD)[0]
    except OSError:
        return None


# ---------------------------------------------------------------- tests
# Each test gets the shared context `c` (daemon, targets) and raises
# AssertionError (FAIL) or Skip.

TESTS = []


def test(fn=None, slow=False):
    def deco(f):
        f.slow = slow
        TESTS.append(f)
        return f
    return deco(fn) if fn else deco


class Ctx:
    pass


@test
def first_connection_after_start(c):
    # A client that connects as soon as the "listening" lines are out must
    # be served, with one listener or two.
    bad = []
    for args in (['--listen', '127.0.0.1:0'],
                 ['--listen', '127.0.0.1:0', '--listen', '[::1]:0']):
        for i in range(5):
            d = Daemon(*args)
            try:
                s = connect(d.addr)
                v5_greet(s)
                s.close()
            except (OSError, AssertionError) as e:
                bad.append('%d listener(s), try %d: %r' % (len(args) // 2, i, e))
            finally:
                d.stop()
    check(not bad, '\n    '.join([''] + bad))


@test
def v5_connect_ipv4_bnd(c):
    s, (raw, code, atyp, host, port) = v5_open(c.proxy, '127.0.0.1', c.echo.port)
    check(code == 0 and atyp == 1, 'reply %s' % raw.hex())
    check(raw == b'\x05\x00\x00\x01' + ip_bytes(host) + struct.pack('!H', port),
          'reply layout %s' % raw.hex())
    check(c.echo.wait_peer((host, port)),
          'BND %s:%d is not the peer the target saw (%r)' % (host, port, c.echo.peers[-3:]))
    check_echo(s)
    s.close()


@test
def v5_connect_ipv6_bnd(c):
    s, (raw, code, atyp, host, port) = v5_open(c.proxy, '::1', c.echo.port)
    check(code == 0 and atyp == 4, 'reply %s' % raw.hex())
    check(c.echo.wait_peer((host, port)),
          'BND [%s]:%d is not the peer the target saw (%r)' % (host, port, c.echo.peers[-3:]))
    check_echo(s)
    s.close()


@test
def v5_connect_hostname(c):
    s, (raw, code, atyp, host, port) = v5_open(c.proxy, 'localhost', c.echo.port)
    check(code == 0, 'reply %s' % raw.hex())
    check(atyp in (1, 4), 'BND ATYP %d' % atyp)
    check(c.echo.wait_peer((host, port)),
          'BND %s:%d is not the peer the target saw' % (host, port))
    check_echo(s)
    s.close()


@test
def v5_listener_ipv6(c):
    """The [::1] listener serves like the 127.0.0.1 one."""
    s, (raw, code, *_) = v5_open(c.proxy6, '127.0.0.1', c.echo.port)
    check(code == 0, 'reply %s' % raw.hex())
    check_echo(s)
    s.close()


@test
def v4_connect(c):
    s = connect(c.proxy)
    s.sendall(v4_request(1, '127.0.0.1', c.echo.port, b'someuser'))
    got = recv_exact(s, 8)
    check(got[:2] == b'\x00\x5a', 'SOCKS4 reply %s' % got.hex())
    # The port/address of a v4 CONNECT reply are either zeros (tor) or the
    # real outgoing address; anything else is wrong.
    if got[2:] != bytes(6):
        port = struct.unpack('!H', got[2:4])[0]
        host = socket.inet_ntoa(got[4:8])
        check(c.echo.wait_peer((host, port)),
              'v4 reply %s names %s:%d, not the outgoing address' % (got.hex(), host, port))
    check_echo(s)
    s.close()


@test
def v5_name_not_found_04(c):
    s, (raw, *_) = v5_open(c.proxy, NXNAME, 80)
    check(raw == V5_FAIL(4), 'name not found: %s, wanted %s' % (raw.hex(), V5_FAIL(4).hex()))
    expect_eof(s, 'after a failure reply')
    s.close()


@test
def v4a_name_not_found_5b(c):
    s = connect(c.proxy)
    s.sendall(v4_request(1, None, 80, host=NXNAME))
    got = recv_all(s)
    check(got == V4_FAIL, 'v4a not found: %s' % got.hex())
    s.close()


@test
def v5_network_unreachable_03(c):
    # The kernel refuses TCP to a multicast address with ENETUNREACH before
    # sending anything (tcp_v4_connect / tcp_v6_connect): a genuine
    # "network unreachable" without leaving the machine.
    for target in ('224.0.0.1', 'ff02::1'):
        s, (raw, *_) = v5_open(c.proxy, target, 9)
        check(raw == V5_FAIL(3), '%s: %s, wanted %s' % (target, raw.hex(), V5_FAIL(3).hex()))
        expect_eof(s, 'after a failure reply')
        s.close()


@test
def v5_general_failure_01(c):
    # A link-local IPv6 target without a scope id: connect(2) says EINVAL,
    # none of the specific causes, so "anything else" → 01.
    s, (raw, *_) = v5_open(c.proxy, 'fe80::1', 9)
    check(raw == V5_FAIL(1), 'fe80::1: %s, wanted %s' % (raw.hex(), V5_FAIL(1).hex()))
    s.close()


@test
def v4_unsupported_commands_5b(c):
    for cmd in (0x02, 0xF1, 0xF2):
        s = connect(c.proxy)
        s.sendall(v4_request(cmd, '127.0.0.1', c.echo.port))
        got = recv_all(s)
        check(got == V4_FAIL, 'v4 command %02x: %s' % (cmd, got.hex()))
        s.close()


@test
def v5_resolve(c):
    s, (raw, *_) = v5_open(c.proxy, 'localhost', 0, cmd=0xF0)
    want = b'\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00'
    check(raw == want, 'RESOLVE localhost: %s, wanted %s' % (raw.hex(), want.hex()))
    s.close()
    # IP literals are answered at once, as they are
    s, (raw, *_) = v5_open(c.proxy, '192.0.2.77', 0, cmd=0xF0)
    want = b'\x05\x00\x00\x01\xc0\x00\x02\x4d\x00\x00'
    check(raw == want, 'RESOLVE 192.0.2.77: %s, wanted %s' % (raw.hex(), want.hex()))
    s.close()
    s, (raw, *_) = v5_open(c.proxy, '2001:db8::5', 0, cmd=0xF0)
    want = b'\x05\x00\x00\x04' + socket.inet_pton(socket.AF_INET6, '2001:db8::5') + b'\x00\x00'
    check(raw == want, 'RESOLVE 2001:db8::5: %s, wanted %s' % (raw.hex(), want.hex()))
    s.close()


def ipv6_only_name():
    """A name in /etc/hosts with only IPv6 addresses, or None."""
    names = {}
    try:
        with open('/etc/hosts') as f:
            for line in f:
                fields = line.split('#', 1)[0].split()
                for name in fields[1:]:
                    names.setdefault(name, set()).add(':' in fields[0])
    except OSError:
        return None
    for name, kinds in names.items():
        if kinds == {True}:
            try:
                infos = socket.getaddrinfo(name, 0, type=socket.SOCK_STREAM)
            except OSError:
                continue
            if infos and all(i[0] == socket.AF_INET6 for i in infos):
                return name, infos[0][4][0]
    return None


@test
def v5_resolve_ipv6_only(c):
    found = ipv6_only_name()
    if found is None:
        raise Skip('no name with only IPv6 addresses in /etc/hosts here')
    name, ip = found
    s, (raw, code, atyp, host, port) = v5_open(c.proxy, name, 0, cmd=0xF0)
    check(code == 0 and atyp == 4 and port == 0, 'RESOLVE %s: %s' % (name, raw.hex()))
    s.close()
    s = connect(c.proxy)
    s.sendall(v4_request(0xF0, None, 0, host=name))
    got = recv_all(s)
    check(got == V4_FAIL, 'v4a RESOLVE of IPv6-only %s: %s' % (name, got.hex()))
    s.close()


@test
def v5_resolve_failure(c):
    s, (raw, *_) = v5_open(c.proxy, NXNAME, 0, cmd=0xF0)
    want = bytes.fromhex('05040001000000000000')
    check(raw == want, 'RESOLVE failure: %s, wanted %s' % (raw.hex(), want.hex()))
    s.close()


@test
def v4_resolve(c):
    s = connect(c.proxy)
    s.sendall(v4_request(0xF0, None, 0, host='localhost'))
    got = recv_exact(s, 8)
    check(got == b'\x00\x5a\x00\x00\x7f\x00\x00\x01', 'v4a RESOLVE: %s' % got.hex())
    s.close()
    s = connect(c.proxy)
    s.sendall(v4_request(0xF0, None, 0, host=NXNAME))
    got = recv_all(s)
    check(got == V4_FAIL, 'v4a RESOLVE failure: %s' % got.hex())
    s.close()
    s = connect(c.proxy)   # plain SOCKS4 with an address: answered at once
    s.sendall(v4_request(0xF0, '192.0.2.77', 0))
    got = recv_exact(s, 8)
    check(got == b'\x00\x5a\x00\x00\xc0\x00\x02\x4d', 'v4 RESOLVE literal: %s' % got.hex())
    s.close()
    s = connect(c.proxy)   # SOCKS4a with a literal as the name: the same
    s.sendall(v4_request(0xF0, None, 0, host='192.0.2.77'))
    got = recv_exact(s, 8)
    check(got == b'\x00\x5a\x00\x00\xc0\x00\x02\x4d', 'v4a RESOLVE literal: %s' % got.hex())
    s.close()
    s = connect(c.proxy)   # an IPv6 answer does not fit SOCKS4: 5B
    s.sendall(v4_request(0xF0, None, 0, host='2001:db8::5'))
    got = recv_all(s)
    check(got == V4_FAIL, 'v4a RESOLVE of an IPv6 literal: %s' % got.hex())
    s.close()


@test
def v5_resolve_ptr(c):
    want_name = reverse_name('127.0.0.1')
    s, (raw, code, atyp, host, port) = v5_open(c.proxy, '127.0.0.1', 0, cmd=0xF1)
    if want_name is None:
        check(raw == V5_FAIL(4), 'PTR 127.0.0.1 with no name here: %s' % raw.hex())
    else:
        want = b'\x05\x00\x00\x03' + bytes([len(want_name)]) + want_name.encode() + b'\x00\x00'
        check(raw == want, 'PTR 127.0.0.1: %s, wanted %s' % (raw.hex(), want.hex()))
    s.close()
    # (other addresses would be asked of a DNS server beyond loopback; IPv6
    # and failing PTR lookups are covered in-process with a test resolver)
    # a hostname target → 08
    s, (raw, *_) = v5_open(c.proxy, 'localhost', 0, cmd=0xF1)
    check(raw == V5_FAIL(8), 'PTR of a hostname: %s, wanted %s' % (raw.hex(), V5_FAIL(8).hex()))
    s.close()


@test
def pipelined_data(c):
    for size in (5, 64 * 1024):
        payload = os.urandom(size)
        s, (raw, code, *_) = v5_open(c.proxy, '127.0.0.1', c.echo.port, payload=payload)
        check(code == 0, 'reply %s' % raw.hex())
        got = recv_exact(s, size)
        check(got == payload, '%d pipelined bytes came back altered' % size)
        s.close()
    # SOCKS4 too
    s = connect(c.proxy)
    s.sendall(v4_request(1, '127.0.0.1', c.echo.port) + b'early')
    got = recv_exact(s, 13)
    check(got[:2] == b'\x00\x5a' and got[8:] == b'early', 'v4 pipelined: %s' % got.hex())
    s.close()


@test
def half_close_target_first(c):
    s, (raw, code, *_) = v5_open(c.proxy, '127.0.0.1', c.closefirst.port)
    check(code == 0, 'reply %s' % raw.hex())
    check(recv_exact(s, 4) == b'bye\n', 'greeting')
    expect_eof(s, 'target shut down writing; client')
    s.sendall(b'still talking')
    s.shutdown(socket.SHUT_WR)
    got = c.closefirst.wait_received()
    check(got == b'still talking', 'target received %r after closing first' % got)
    s.close()


@test
def integrity_1mib_download(c):
    s, (raw, code, *_) = v5_open(c.proxy, '127.0.0.1', c.source.port)
    check(code == 0, 'reply %s' % raw.hex())
    got = recv_all(s)
    check(len(got) == len(c.blob) and hashlib.sha256(got).digest() == c.blob_hash,
          'download: %d bytes, hash mismatch or short' % len(got))
    s.close()


@test
def integrity_1mib_upload(c):
    s, (raw, code, *_) = v5_open(c.proxy, '127.0.0.1', c.hasher.port)
    check(code == 0, 'reply %s' % raw.hex())
    s.sendall(c.blob)
    s.shutdown(socket.SHUT_WR)
    got = recv_all(s)
    check(got == c.blob_hash.hex().encode(), 'upload digest %r' % got[:80])
    s.close()


@test
def integrity_1mib_echo_both_ways(c):
    s, (raw, code, *_) = v5_open(c.proxy, '127.0.0.1', c.echo.port)
    check(code == 0, 'reply %s' % raw.hex())
    err = []

    def send():
        try:
            s.sendall(c.blob)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=send)
    t.start()
    got = recv_all(s)
    t.join(TIMEOUT)
    check(not err, 'send failed: %r' % err)
    check(hashlib.sha256(got).digest() == c.blob_hash,
          'echoed %d bytes, hash mismatch' % len(got))
    s.close()


@test
def concurrent_200(c):
    n = 200
    socks = []
    try:
        for i in range(n):
            socks.append(connect(c.proxy))
        # every step on all of them before the next: 200 handshakes in flight
        for s in socks:
            s.sendall(b'\x05\x01\x00')
        for i, s in enumerate(socks):
            check(recv_exact(s, 2) == b'\x05\x00', 'method reply on #%d' % i)
        for s in socks:
            s.sendall(v5_request(1, '127.0.0.1', c.echo.port))
        for i, s in enumerate(socks):
            raw, code, *_ = read_v5_reply(s)
            check(code == 0, 'CONNECT #%d: %s' % (i, raw.hex()))
        payloads = [os.urandom(1000) + struct.pack('!I', i) for i in range(n)]
        for s, p in zip(socks, payloads):
            s.sendall(p)
        for i, (s, p) in enumerate(zip(socks, payloads)):
            check(recv_exact(s, len(p)) == p, 'echo on #%d' % i)
    finally:
        for s in socks:
            s.close()


HTTP_STARTS = (b'GET / HTTP/1.1\r\nHost: example\r\n\r\n',
               b'HEAD / HTTP/1.0\r\n\r\n',
               b'POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n',
               b'PUT /x HTTP/1.1\r\n\r\n',
               b'CONNECT example.com:443 HTTP/1.1\r\n\r\n')


@test
def http_page(c):
    for req in HTTP_STARTS:
        s = connect(c.proxy)
        s.sendall(req)
        got = recv_all(s, 1 * MiB)
        s.close()
        head, sep, body = got.partition(b'\r\n\r\n')
        check(sep, '%r: no header end in %r' % (req[:8], got[:200]))
        lines = head.decode('latin-1').split('\r\n')
        check(lines[0].startswith('HTTP/1.0 501'), '%r: status line %r' % (req[:8], lines[0]))
        ctype = [l.split(':', 1)[1].strip().lower() for l in lines[1:]
                 if l.lower().startswith('content-type:')]
        check(ctype and ctype[0].startswith('text/html'), '%r: Content-Type %r' % (req[:8], ctype))
        check(b'<html' in body.lower() and b'socks' in body.lower(),
              '%r: body is not a page about SOCKS: %r' % (req[:8], body[:200]))
        clen = [l.split(':', 1)[1].strip() for l in lines[1:]
                if l.lower().startswith('content-length:')]
        if clen:
            check(int(clen[0]) == len(body), 'Content-Length %s, body %d' % (clen[0], len(body)))


# (name, bytes to send, whether to shut down writing after, allowed answers)
# An allowed answer is the exact byte string received before the close;
# b'' means a silent close.
V5_FAILS = [b''] + [V5_FAIL(code) for code in (1, 7, 8)]
MALFORMED = [
    ('junk 00', b'\x00\x01\x02\x03', False, [b'']),
    ('junk A', b'ABCDEFGH\r\n', False, [b'']),
    ('junk FF', b'\xff' * 16, False, [b'']),
    ('version 6', b'\x06\x01\x00', False, [b'']),
    ('v5 zero methods', b'\x05\x00', True, [b'', b'\x05\xff']),
    ('v5 truncated greeting then EOF', b'\x05\x03\x00', True, [b'']),
    ('v5 request wrong version', b'\x05\x01\x00' + b'\x04\x01\x00\x01\x7f\x00\x00\x01\x00\x50',
     False, [b'\x05\x00' + x for x in V5_FAILS]),
    ('v5 empty hostname', b'\x05\x01\x00' + b'\x05\x01\x00\x03\x00\x00\x50',
     False, [b'\x05\x00' + x for x in V5_FAILS]),
    ('v5 hostname with NUL', b'\x05\x01\x00' + b'\x05\x01\x00\x03\x03a\x00b\x00\x50',
     False, [b'\x05\x00' + x for x in V5_FAILS]),
    ('v5 truncated request then EOF', b'\x05\x01\x00\x05\x01\x00\x01\x7f\x00', True,
     [b'\x05\x00']),
    ('v5 bad auth version', b'\x05\x01\x02' + b'\x02\x03bob\x03pwd', False,
     [b'\x05\x02', b'\x05\x02\x01\x01']),
    ('v5 auth without negotiating it', b'\x05\x01\x00' + b'\x01\x03bob\x03pwd', False,
     [b'\x05\x00' + x for x in V5_FAILS]),
    ('v4 truncated then EOF', b'\x04\x01\x00\x50\x7f', True, [b'']),
    ('v4 userid without NUL then EOF', b'\x04\x01\x00\x50\x7f\x00\x00\x01abc', True, [b'', V4_FAIL]),
    ('v4a empty hostname', b'\x04\x01\x00\x50\x00\x00\x00\x01\x00\x00', False, [b'', V4_FAIL]),
    ('v4a hostname without NUL then EOF', b'\x04\x01\x00\x50\x00\x00\x00\x01\x00abc', True,
     [b'', V4_FAIL]),
]


@test
def malformed_input(c):
    bad = []
    for name, data, shut, allowed in MALFORMED:
        s = connect(c.proxy)
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
            got = recv_all(s, 4096)
        except socket.timeout:
            bad.append('%s: not closed within %gs' % (name, TIMEOUT))
            continue
        except OSError as e:
            bad.append('%s: %r' % (name, e))
            continue
        finally:
            s.close()
        if got not in allowed:
            bad.append('%s: got %s, allowed %s' % (name, got.hex(), [a.hex() for a in allowed]))
        # the server keeps serving others
        s2, (raw, code, *_) = v5_open(c.proxy, '127.0.0.1', c.echo.port)
        if code != 0:
            bad.append('after %s a normal CONNECT got %s' % (name, raw.hex()))
        else:
            check_echo(s2)
        s2.close()
    check(not bad, '\n    '.join([''] + bad))


@test
def handshake_size_limit(c):
    # SOCKS5 greeting + auth + request of exactly 512 bytes: accepted.
    # 255 methods (02 and 01s, no E0) = 257, auth 3 + 121 + 121 = 245,
    # CONNECT to an IPv4 address = 10.
    methods = b'\x02' + b'\x01' * 254
    for plen, ok in ((121, True), (122, False)):
        s = connect(c.proxy)
        v5_greet(s, methods, b'\x05\x02')
        auth = b'\x01\x79' + b'u' * 121 + bytes([plen]) + b'p' * plen
        s.sendall(auth)
        got = recv_exact(s, 2)
        check(got == b'\x01\x00', 'auth status %s' % got.hex())
        s.sendall(v5_request(1, '127.0.0.1', c.echo.port))
        total = 2 + len(methods) + len(auth) + 10
        if ok:
            raw, code, *_ = read_v5_reply(s)
            check(code == 0, '%d-byte v5 handshake: %s' % (total, raw.hex()))
            check_echo(s)
        else:
            got = recv_all(s)
            check(got in (b'', V5_FAIL(1)), '%d-byte v5 handshake: %s' % (total, got.hex()))
        s.close()
    # SOCKS4: 513 bytes rejected (a 5B reply or a close, never a connection)
    s = connect(c.proxy)
    s.sendall(v4_request(1, '127.0.0.1', c.echo.port, b'u' * 504))
    got = recv_all(s)
    check(got in (b'', V4_FAIL), '513-byte v4 request: %s' % got.hex())
    s.close()
    # SOCKS5: greeting 3 + auth 513 bytes
    s = connect(c.proxy)
    v5_greet(s, b'\x02', b'\x05\x02')
    s.sendall(b'\x01\xff' + b'u' * 255 + b'\xff' + b'p' * 255)
    got = recv_all(s)
    check(got in (b'', b'\x01\x01'), '516-byte v5 handshake: %s' % got.hex())
    s.close()
    # a long userid sent slowly, in pieces, is rejected as well
    s = connect(c.proxy)
    s.sendall(b'\x04\x01' + struct.pack('!H', c.echo.port) + b'\x7f\x00\x00\x01')
    rejected = False
    for i in range(20):
        try:
            s.sendall(b'u' * 100)
        except (BrokenPipeError, ConnectionResetError):
            rejected = True
            break
    if not rejected:
        got = recv_all(s)
        check(got in (b'', V4_FAIL), 'slow 2 KB userid: %s' % got.hex())
    s.close()


@test
def v4_long_userid_within_limit(c):
    # The userid is "read and ignored" and only handshakes over 512 bytes
    # are rejected: a 300-byte userid (a 309-byte request) must work.
    s = connect(c.proxy)
    s.sendall(v4_request(1, '127.0.0.1', c.echo.port, b'u' * 300))
    got = recv_exact(s, 8)
    check(got[:2] == b'\x00\x5a', '309-byte v4 request (300-byte userid): %s' % got.hex())
    check_echo(s)
    s.close()


@test
def handshake_timeout(c):
    d = Daemon('--listen', '127.0.0.1:0', '--handshake-timeout', '1')
    try:
        t0 = time.monotonic()
        silent = connect(d.addr, timeout=5)
        half = connect(d.addr, timeout=5)
        v5_greet(half)                       # greeted, then silent
        expect_eof(silent, 'silent client')
        expect_eof(half, 'client silent after the greeting')
        elapsed = time.monotonic() - t0
        check(elapsed >= 0.5, 'closed after %.2fs, before the 1 s timeout' % elapsed)
        silent.close()
        half.close()
        # a relayed connection is not subject to it
        s, (raw, code, *_) = v5_open(d.addr, '127.0.0.1', c.echo.port)
        check(code == 0, 'reply %s' % raw.hex())
        s.settimeout(1.8)
        try:
            data = s.recv(1)
            check(False, 'relayed idle connection closed (%r)' % data)
        except socket.timeout:
            pass
        s.settimeout(TIMEOUT)
        check_echo(s)
        s.close()
    finally:
        check(d.stop() == 0, 'daemon did not exit 0 on SIGTERM')


@test
def max_connections(c):
    d = Daemon('--listen', '127.0.0.1:0', '--max-connections', '2')
    try:
        a, (raw, code, *_) = v5_open(d.addr, '127.0.0.1', c.echo.port)
        check(code == 0, 'first: %s' % raw.hex())
        b = connect(d.addr)
        v5_greet(b)
        third = connect(d.addr, timeout=3)
        expect_eof(third, 'connection over --max-connections 2')
        third.close()
        check_echo(a)                         # the others keep working
        a.close()
        # a slot is free again: a new client is served (the daemon sees the
        # close asynchronously, so a few bounded attempts)
        deadline = time.monotonic() + TIMEOUT
        ok = False
        while not ok and time.monotonic() < deadline:
            s = connect(d.addr)
            try:
                s.sendall(b'\x05\x01\x00')
                ok = s.recv(2) == b'\x05\x00'
            except OSError:
                pass
            s.close()
        check(ok, 'no connection accepted after one of two closed')
        b.close()
    finally:
        check(d.stop() == 0, 'daemon did not exit 0 on SIGTERM')


@test
def allow_list(c):
    # Off loopback the allow-list decides who may connect; on loopback the
    # same check can be seen with two client source addresses.
    d = Daemon('--listen', '127.0.0.1:0', '--allow', '127.0.0.2/32')
    try:
        inside = socket.socket()
        inside.settimeout(TIMEOUT)
        inside.bind(('127.0.0.2', 0))
        inside.connect(d.addr)
        v5_greet(inside)
        inside.sendall(v5_request(1, '127.0.0.1', c.echo.port))
        raw, code, *_ = read_v5_reply(inside)
        check(code == 0, 'client 127.0.0.2 (allowed): %s' % raw.hex())
        check_echo(inside)
        inside.close()
        outside = connect(d.addr, timeout=3)     # from 127.0.0.1
        outside.sendall(b'\x05\x01\x00')
        expect_eof(outside, 'client 127.0.0.1 outside --allow 127.0.0.2/32')
        outside.close()
    finally:
        check(d.stop() == 0, 'daemon did not exit 0 on SIGTERM')


@test
def disconnect_during_connect(c):
    # The client goes away while the daemon is still connecting (the target
    # drops SYNs): the outgoing attempt must be cancelled (its SYN-SENT
    # socket disappears from /proc/net/tcp) and the daemon keeps serving.
    s = connect(c.proxy)
    v5_greet(s)
    s.sendall(v5_request(1, '127.0.0.1', c.blackhole_port))
    check(wait_for(lambda: syn_sent_to(c.blackhole_port) > 0, TIMEOUT),
          'the daemon never started connecting to the target')
    s.close()
    check(wait_for(lambda: syn_sent_to(c.blackhole_port) == 0, 5),
          'the outgoing connect was not cancelled within 5 s of the client leaving')
    s, (raw, code, *_) = v5_open(c.proxy, '127.0.0.1', c.echo.port)
    check(code == 0, 'after an abandoned connect: %s' % raw.hex())
    check_echo(s)
    s.close()


def syn_sent_to(port):
    """Sockets on this machine in SYN-SENT towards 127.0.0.1:port."""
    want = '0100007F:%04X' % port
    n = 0
    with open('/proc/net/tcp') as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[2] == want and fields[3] == '02':
                n += 1
    return n


def wait_for(cond, timeout):
    """Polls a condition on kernel state that sends no event, bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        select.select([], [], [], 0.02)
    return cond()


@test(slow=True)
def v5_connect_timeout_06(c):
    # The blackhole target's accept queue is full, so the kernel drops the
    # daemon's SYNs: the connect times out, by the daemon's own bound or by
    # ETIMEDOUT after tcp_syn_retries retransmissions, whichever is first.
    with open('/proc/sys/net/ipv4/tcp_syn_retries') as f:
        retries = int(f.read())
    bound = (2 ** (retries + 1) - 1) + 30
    if bound > 600:
        raise Skip('tcp_syn_retries=%d: the kernel timeout is too long' % retries)
    s = connect(c.proxy, timeout=bound)
    v5_greet(s)
    s.sendall(v5_request(1, '127.0.0.1', c.blackhole_port))
    t0 = time.monotonic()
    raw, *_ = read_v5_reply(s)
    check(raw == V5_FAIL(6), 'timeout after %.0fs: %s, wanted %s'
          % (time.monotonic() - t0, raw.hex(), V5_FAIL(6).hex()))
    s.close()


# ---------------------------------------------------------------- destination policy

def fd_count(d):
    """The daemon's open descriptors, as the kernel lists them."""
    return len(os.listdir('/proc/%d/fd' % d.proc.pid))


def host_addresses():
    """This host's addresses beyond loopback (IPv4 by SIOCGIFADDR, IPv6
    from /proc/net/if_inet6), link-local ones left out."""
    found = []
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _, name in socket.if_nameindex():
            try:
                res = fcntl.ioctl(s.fileno(), 0x8915,      # SIOCGIFADDR
                                  struct.pack('256s', name.encode()[:15]))
            except OSError:
                continue
            found.append(socket.inet_ntoa(res[20:24]))
    finally:
        s.close()
    try:
        with open('/proc/net/if_inet6') as f:
            for line in f:
                h = line.split()[0]
                found.append(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(h)))
    except OSError:
        pass
    return [a for a in found
            if not a.startswith('127.') and a != '::1' and not a.startswith('fe80:')]


def logged_daemon(*args):
    """A daemon with --verbose; its log is read after stop_and_read_log."""
    return Daemon(*args, '--verbose')


def stop_and_read_log(d):
    status = d.stop()
    return status, d.stderr()


def self_daemon():
    """A logged daemon on one port of both 127.0.0.1 and ::1 (the two
    addresses "localhost" stands for), or of 127.0.0.1 alone without IPv6
    loopback.  The port is found free on both, then handed to the daemon:
    a few bounded tries in case someone takes it in between."""
    v6 = has_ipv6_loopback()
    for _ in range(5):
        port = free_dual_port()
        args = ['--listen', '127.0.0.1:%d' % port]
        if v6:
            args += ['--listen', '[::1]:%d' % port]
        try:
            return logged_daemon(*args), port, v6
        except AssertionError:
            continue
    raise AssertionError('no port free on both loopback addresses for the daemon')


def refusal_lines(log):
    return [l for l in log.splitlines() if 'refused the target' in l]


def check_refusal_log(log, n, secrets):
    """n refusals, one line each, none naming the target."""
    lines = refusal_lines(log)
    check(len(lines) == n, '%d refusal lines for %d refusals:\n%s'
          % (len(lines), n, '\n'.join(lines[:5])))
    ids = [l.split('Connection ', 1)[1].split(':', 1)[0] for l in lines]
    check(len(set(ids)) == n, 'a connection logged its refusal twice: %r' % ids)
    for l in lines:
        for secret in secrets:
            check(secret not in l, 'a refusal line names the target (%s): %r' % (secret, l))


def v5_expect(proxy, host, port, code):
    s, (raw, *_) = v5_open(proxy, host, port)
    check(raw == V5_FAIL(code), '%s:%d: %s, wanted %s'
          % (host, port, raw.hex(), V5_FAIL(code).hex()))
    expect_eof(s, 'after a refusal')
    s.close()


def v4_expect_refused(proxy, ip, port, host=None):
    s = connect(proxy)
    s.sendall(v4_request(1, ip, port, b'', host=host))
    got = recv_all(s)
    check(got == V4_FAIL, 'SOCKS4 %s:%d: %s, wanted %s'
          % (host or ip, port, got.hex(), V4_FAIL.hex()))
    s.close()


@test
def self_connect_by_address_02(c):
    # issue 8, 3: one write of pipelined CONNECTs to the daemon's own port
    # nested a session per request.  Now the first is refused (02) and
    # nothing nests: the daemon's descriptors stay as they were.
    d, port, v6 = self_daemon()
    refused = 0
    try:
        proxy = ('127.0.0.1', port)
        # the first session creates the poller's epoll descriptor: count
        # from after it
        v5_expect(proxy, '127.0.0.1', port, 2)
        refused += 1
        before = fd_count(d)
        if v6:
            v5_expect(proxy, '::1', port, 2)
            v5_expect(proxy, '::ffff:127.0.0.1', port, 2)
            refused += 2
        v4_expect_refused(proxy, '127.0.0.1', port)
        refused += 1

        # 100 greetings and CONNECTs to itself in one write
        hop = b'\x05\x01\x00' + v5_request(1, '127.0.0.1', port)
        s = connect(proxy)
        s.sendall(hop * 100)
        got = recv_all(s)
        check(got == b'\x05\x00' + V5_FAIL(2),
              'pipelined CONNECTs to itself: %s' % got[:64].hex())
        s.close()
        refused += 1

        # and 100 clients at once, each with its request in one write
        socks = []
        for _ in range(100):
            s = connect(proxy)
            s.sendall(hop)
            socks.append(s)
        for i, s in enumerate(socks):
            got = recv_all(s)
            check(got == b'\x05\x00' + V5_FAIL(2), 'client %d: %s' % (i, got.hex()))
            s.close()
        refused += 100
        check(wait_for(lambda: fd_count(d) == before, 5),
              'descriptors: %d before, %d after' % (before, fd_count(d)))
    finally:
        status, log = stop_and_read_log(d)
    check(status == 0, 'exit status %r' % status)
    check_refusal_log(log, refused, ['127.0.0.1', '::1', str(port)])


@test
def self_connect_by_name_02(c):
    # The name "localhost" through the direct exit: its addresses are
    # judged after resolution, before any connect, so nothing reaches the
    # daemon's own listeners and no session nests.
    if not has_ipv6_loopback():
        raise Skip('no IPv6 loopback: "localhost" may still resolve to ::1')
    d, port, v6 = self_daemon()
    try:
        proxy = ('127.0.0.1', port)
        # count from after the first lookup, which sets up the poller and
        # the resolver
        v5_expect(proxy, 'localhost', port, 2)
        before = fd_count(d)
        v4_expect_refused(proxy, None, port, host='localhost')
        hop = b'\x05\x01\x00' + v5_request(1, 'localhost', port)
        s = connect(proxy)
        s.sendall(hop * 100)
        got = recv_all(s)
        check(got == b'\x05\x00' + V5_FAIL(2), 'pipelined by name: %s' % got[:64].hex())
        s.close()
        check(wait_for(lambda: fd_count(d) == before, 5),
              'descriptors: %d before, %d after' % (before, fd_count(d)))
    finally:
        status, log = stop_and_read_log(d)
    check(status == 0, 'exit status %r' % status)
    # three clients, three connections: none nested
    check_refusal_log(log, 3, ['localhost', '127.0.0.1', '::1', str(port)])
    ids = set(l.split('Connection ', 1)[1].split(':', 1)[0]
              for l in log.splitlines() if 'Connection ' in l)
    check(ids == {'1', '2', '3'}, 'connections in the log: %r' % sorted(ids))


@test
def zero_address_or_port(c):
    # tor: "Port or DestIP is zero": SOCKS4 91, SOCKS5 02
    v4_expect_refused(c.proxy, '0.0.0.0', c.echo.port)
    v4_expect_refused(c.proxy, '127.0.0.1', 0)
    v4_expect_refused(c.proxy, None, 0, host='localhost')
    v5_expect(c.proxy, '0.0.0.0', c.echo.port, 2)
    v5_expect(c.proxy, '::', c.echo.port, 2)
    v5_expect(c.proxy, '127.0.0.1', 0, 2)
    v5_expect(c.proxy, 'localhost', 0, 2)
    # the SOCKS4a marker 0.0.0.1 is no zero address
    s = connect(c.proxy)
    s.sendall(v4_request(1, None, c.echo.port, b'', host='localhost'))
    got = recv_exact(s, 8)
    check(got[:2] == b'\x00\x5a', 'SOCKS4a after the zero checks: %s' % got.hex())
    check_echo(s)
    s.close()


@test
def beyond_loopback_refuses_this_host(c):
    # Listening on every address (clients only from loopback, by --allow),
    # targets on this host are refused: by address, by name, and any
    # address of this host's interfaces.
    d = logged_daemon('--listen', '0.0.0.0:0', '--allow', '127.0.0.0/8')
    refused = 0
    secrets = ['127.0.0.1', 'localhost', str(c.echo.port)]
    try:
        proxy = ('127.0.0.1', d.addr[1])
        v5_expect(proxy, '127.0.0.1', c.echo.port, 2)
        v5_expect(proxy, '127.3.2.1', c.echo.port, 2)
        v5_expect(proxy, 'localhost', c.echo.port, 2)
        v4_expect_refused(proxy, '127.0.0.1', c.echo.port)
        refused += 4
        if has_ipv6_loopback():
            v5_expect(proxy, '::1', c.echo.port, 2)
            refused += 1
        for addr in host_addresses()[:4]:
            # refused before any connect: nothing leaves this host
            v5_expect(proxy, addr, c.echo.port, 2)
            secrets.append(addr)
            refused += 1
        # another host is what the proxy is for: the policy lets it pass
        # (a multicast address fails at connect(2), with 03, not 02)
        v5_expect(proxy, '224.0.0.1', 9, 3)
    finally:
        status, log = stop_and_read_log(d)
    check(status == 0, 'exit status %r' % status)
    check_refusal_log(log, refused, secrets)

    # allow-targets lets one port of loopback through, and no other
    d = Daemon('--listen', '0.0.0.0:0', '--allow', '127.0.0.0/8',
               '--allow-targets', '127.0.0.1/32:%d' % c.echo.port)
    try:
        proxy = ('127.0.0.1', d.addr[1])
        s, (raw, code, *_) = v5_open(proxy, '127.0.0.1', c.echo.port)
        check(code == 0, 'allowed target: %s' % raw.hex())
        check_echo(s)
        s.close()
        v5_expect(proxy, '127.0.0.1', c.hasher.port, 2)
        # the daemon's own port stays refused, allow-targets or not
        d2 = Daemon('--listen', '0.0.0.0:0', '--allow', '127.0.0.0/8',
                    '--allow-targets', '127.0.0.0/8')
        try:
            v5_expect(('127.0.0.1', d2.addr[1]), '127.0.0.1', d2.addr[1], 2)
            s, (raw, code, *_) = v5_open(('127.0.0.1', d2.addr[1]), '127.0.0.1', c.echo.port)
            check(code == 0, 'allow-targets 127.0.0.0/8: %s' % raw.hex())
            s.close()
        finally:
            check(d2.stop() == 0, 'daemon did not exit 0 on SIGTERM')
    finally:
        check(d.stop() == 0, 'daemon did not exit 0 on SIGTERM')


@test
def deny_targets_on_loopback(c):
    # deny-targets hold even when listening on loopback only
    d = logged_daemon('--listen', '127.0.0.1:0',
                     '--deny-targets', '127.0.0.1/32:%d' % c.echo.port,
                     '--deny-targets', '[::1]/128:%d-%d' % (c.echo.port, c.echo.port))
    try:
        v5_expect(d.addr, '127.0.0.1', c.echo.port, 2)
        v5_expect(d.addr, 'localhost', c.echo.port, 2)
        v4_expect_refused(d.addr, '127.0.0.1', c.echo.port)
        # another port is not denied
        s, (raw, code, *_) = v5_open(d.addr, '127.0.0.1', c.hasher.port)
        check(code == 0, 'a target not denied: %s' % raw.hex())
        s.close()
    finally:
        status, log = stop_and_read_log(d)
    check(status == 0, 'exit status %r' % status)
    check_refusal_log(log, 3, ['127.0.0.1', 'localhost', str(c.echo.port)])


@test
def sigterm_exits_0(c):
    # Last: stop the shared daemon while a relayed connection is open; it
    # must close that connection and exit 0.
    s, (raw, code, *_) = v5_open(c.proxy, '127.0.0.1', c.echo.port)
    check(code == 0, 'reply %s' % raw.hex())
    status = c.daemon.stop()
    check(status == 0, 'exit status %r on SIGTERM' % status)
    got = recv_all(s)
    check(got == b'', 'relayed connection got %r at shutdown' % got)
    s.close()


# ---------------------------------------------------------------- runner

def setup():
    c = Ctx()
    c.blob = os.urandom(MiB)
    c.blob_hash = hashlib.sha256(c.blob).digest()
    # each on 127.0.0.1 and ::1, one port
    c.echo = Target('echo')
    c.hasher = Target('hash')
    c.source = Target('source', blob=c.blob)
    c.closefirst = Target('closefirst')
    # a listener whose one-slot accept queue is kept full: SYNs are dropped
    c.blackhole = socket.socket()
    c.blackhole.bind(('127.0.0.1', 0))
    c.blackhole.listen(0)
    c.blackhole_port = c.blackhole.getsockname()[1]
    c.blackhole_filler = [connect(('127.0.0.1', c.blackhole_port))]
    return c


def bail_out(why):
    print('Bail out! %s' % why, flush=True)
    return 1


def main(argv):
    slow = '--slow' in argv
    names = [a for a in argv if not a.startswith('--')]
    if not EXITGATED or not os.access(EXITGATED, os.X_OK):
        return bail_out('EXITGATED is not set to an executable: %r' % EXITGATED)

    try:
        c = setup()
    except (OSError, RuntimeError) as e:
        # e.g. EADDRINUSE when something else on this machine holds every
        # ephemeral port: say so rather than a traceback
        return bail_out('setup of the target servers: %r' % e)

    try:
        c.daemon = Daemon('--listen', '127.0.0.1:0', '--listen', '[::1]:0')
    except Exception as e:
        return bail_out('daemon start: %s' % e)
    c.proxy = c.daemon.addrs[0]
    c.proxy6 = c.daemon.addrs[1]
    # The shared daemon must be past the start-up race that
    # first_connection_after_start reports before other tests use it, or
    # whichever test comes first fails for that one reason: one greeting
    # per listener, a few attempts at most.
    for addr in c.daemon.addrs:
        for attempt in range(5):
            try:
                s = connect(addr)
                v5_greet(s)
                s.close()
                break
            except (OSError, AssertionError):
                continue

    if names:
        selected = [t for t in TESTS if any(n in t.__name__ for n in names)]
    else:
        selected = [t for t in TESTS if t.slow == slow]
    if sigterm_exits_0 in selected:         # it stops the shared daemon: last
        selected.remove(sigterm_exits_0)
    selected.append(sigterm_exits_0)

    # TAP: the plan, then one line a test
    print('1..%d' % len(selected), flush=True)
    failed = 0
    for number, t in enumerate(selected, 1):
        t0 = time.monotonic()
        try:
            if c.daemon.proc.poll() is not None and t is not sigterm_exits_0:
                raise AssertionError('the daemon has exited (status %r)' % c.daemon.proc.returncode)
            t(c)
        except Skip as e:
            print('ok %d - %s # SKIP %s' % (number, t.__name__, e), flush=True)
            continue
        except Exception as e:
            failed += 1
            line = [f.lineno for f in traceback.extract_tb(e.__traceback__)
                    if f.name == t.__name__][-1]
            print('not ok %d - %s' % (number, t.__name__), flush=True)
            detail = '%.1fs, line %d: %s: %s' % (time.monotonic() - t0, line,
                                                 type(e).__name__, e)
            for text in detail.splitlines():
                print('# %s' % text, flush=True)
            continue
        print('ok %d - %s' % (number, t.__name__), flush=True)

    c.daemon.kill()
    for srv in (c.echo, c.hasher, c.source, c.closefirst):
        srv.close()
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
