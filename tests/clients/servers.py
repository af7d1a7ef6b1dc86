#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Targets for run-clients.sh: an HTTP file server and an echo server, each
on 127.0.0.1 and ::1 with the same port, so that "localhost" reaches the
same server whichever address a client tries first (tests/lib/exgtest.py).

Usage: servers.py DIR
Prints "http4 PORT", "http6 PORT", "echo PORT" and "closed PORT" (a port
kept bound but not listening: connecting to it is refused) once every
socket listens, then serves DIR until stdin reaches EOF or it
gets SIGTERM.
"""

import os
import signal
import socket
import sys

sys.path.insert(0, os.path.join(os.environ["EXG_SOURCE_ROOT"], "tests", "lib"))
import exgtest  # noqa: E402


def main():
    http = exgtest.HttpServer(directory=sys.argv[1])
    echo = exgtest.Target("echo")
    for name in ("http4", "http6"):
        print("%s %d" % (name, http.port), flush=True)
    print("echo %d" % echo.port, flush=True)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    print("closed %d" % closed.getsockname()[1], flush=True)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    # the script that started us holds our stdin: EOF means it is gone
    sys.stdin.buffer.read()
    os._exit(0)


if __name__ == "__main__":
    main()
