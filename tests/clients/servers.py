#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Targets for run-clients.sh: an HTTP file server and an echo server, each
on 127.0.0.1 and ::1 with the same port, so that "localhost" reaches the
same server whichever address a client tries first.

Usage: servers.py DIR
Prints "http4 PORT", "http6 PORT", "echo PORT" and "closed PORT" (a port
kept bound but not listening: connecting to it is refused) once every
socket listens, then serves DIR until stdin reaches EOF or it
gets SIGTERM.
"""

import functools
import http.server
import os
import signal
import socket
import socketserver
import sys
import threading


class Http4(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET

    def server_bind(self):
        # HTTPServer.server_bind asks getfqdn () for its own name: a reverse
        # lookup that may go to a DNS server beyond loopback
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class Http6(Http4):
    address_family = socket.AF_INET6


class Echo4(socketserver.ThreadingTCPServer):
    daemon_threads = True


class Echo6(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    daemon_threads = True


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(30)
        try:
            while True:
                data = self.request.recv(65536)
                if not data:
                    break
                self.request.sendall(data)
            self.request.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def pair(cls4, cls6, handler):
    """A server on 127.0.0.1:P and one on [::1]:P, P picked by the kernel
    for the first and free for the second (bounded tries)."""
    for _ in range(100):
        srv4 = cls4(('127.0.0.1', 0), handler)
        try:
            srv6 = cls6(('::1', srv4.server_address[1]), handler)
        except OSError:
            srv4.server_close()
            continue
        return srv4, srv6
    raise SystemExit('servers.py: no port free on both 127.0.0.1 and ::1')


def main():
    handler = functools.partial(Quiet, directory=sys.argv[1])
    http4, http6 = pair(Http4, Http6, handler)
    echo4, echo6 = pair(Echo4, Echo6, Echo)
    for srv in (http4, http6, echo4, echo6):
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    for name, srv in (('http4', http4), ('http6', http6), ('echo', echo4)):
        print('%s %d' % (name, srv.server_address[1]), flush=True)
    closed = socket.socket()
    closed.bind(('127.0.0.1', 0))
    print('closed %d' % closed.getsockname()[1], flush=True)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    # the script that started us holds our stdin: EOF means it is gone
    sys.stdin.buffer.read()
    os._exit(0)


if __name__ == '__main__':
    main()
