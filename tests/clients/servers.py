#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Targets for run-clients.sh: an HTTP file server on 127.0.0.1 and ::1 and
an echo server on 127.0.0.1, all on ports the kernel picks.

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


class Http6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


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


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    handler = functools.partial(Quiet, directory=sys.argv[1])
    servers = [('http4', Http4(('127.0.0.1', 0), handler)),
               ('http6', Http6(('::1', 0), handler)),
               ('echo', EchoServer(('127.0.0.1', 0), Echo))]
    for name, srv in servers:
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
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
