# exgui.py: what the out-of-process UI tests share: processes whose output
# lines can be awaited with a bound, bounded polling, the app's GAction state
# over D-Bus, its listening sockets, and a test configuration with made-up
# countries.  Run the tests with /usr/bin/python3 (it has gi).
#
# SPDX-License-Identifier: GPL-3.0-or-later

import os
import queue
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

from gi.repository import Gio, GLib

APP_ID = "org.exitgate.Exitgate"
APP_PATH = "/org/exitgate/Exitgate"
SKIP = 77                                  # meson: the test was skipped


class Failed(Exception):
    pass


class Results:
    """Counts checks and prints the final "N passed, M failed" line."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, what, cond, detail=""):
        if cond:
            self.passed += 1
            print("ok -", what, flush=True)
        else:
            self.failed += 1
            print("FAIL -", what, detail, flush=True)
        return cond

    def require(self, what, cond, detail=""):
        """A check the rest of the test cannot do without."""
        if not self.check(what, cond, detail):
            raise Failed(what)

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 0 if self.failed == 0 and self.passed > 0 else 1


def skip(why):
    print("SKIP:", why, flush=True)
    print("0 passed, 0 failed", flush=True)
    sys.exit(SKIP)


def poll(predicate, timeout=5.0, interval=0.05):
    """Calls predicate until it returns something true, for at most timeout
    seconds; returns its last value.  For state with no event to wait on."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class Proc:
    """A child process whose stdout lines are collected by a thread, so a
    test can wait for a line with a bound.  stderr goes to ours."""

    def __init__(self, argv, env=None, name=None):
        self.name = name or os.path.basename(argv[0])
        self.lines = queue.Queue()
        self.seen = []
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  env=env, text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern, timeout=10.0):
        """The match of the first new line matching pattern, or None."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                self.lines.put(None)          # stays at EOF for later calls
                return None
            self.seen.append(line)
            m = rx.search(line)
            if m:
                return m

    def wait_exit(self, timeout=10.0):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """Ends the process (by its pid), however it is doing."""
        if self.p.poll() is None:
            self.p.terminate()
            if self.wait_exit(3.0) is None:
                self.p.kill()
                self.p.wait()
        try:
            self.p.stdin.close()
        except OSError:
            pass


def bus():
    return Gio.bus_get_sync(Gio.BusType.SESSION, None)


def call(name, path, iface, method, args=None, reply=None, timeout_ms=5000):
    return bus().call_sync(name, path, iface, method, args,
                           GLib.VariantType.new(reply) if reply else None,
                           Gio.DBusCallFlags.NONE, timeout_ms, None).unpack()


def name_has_owner(name):
    return call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                "NameHasOwner", GLib.Variant("(s)", (name,)), "(b)")[0]


def action_state(action):
    """The state of app.<action> as the app exports it (org.gtk.Actions)."""
    enabled, ptype, state = call(APP_ID, APP_PATH, "org.gtk.Actions", "Describe",
                                 GLib.Variant("(s)", (action,)), "((bgav))")[0]
    return state[0] if state else None


def activate(action, param=None):
    params = [param] if param is not None else []
    call(APP_ID, APP_PATH, "org.gtk.Actions", "Activate",
         GLib.Variant("(sava{sv})", (action, params, {})))


def listening_ports(pid):
    """The TCP ports the process listens on, from /proc (the app is started
    with port 0, so this is how a test learns the real one)."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    try:
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            m = re.match(r"socket:\[(\d+)\]", target)
            if m:
                inodes.add(m.group(1))
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for row in f:
                    cols = row.split()
                    if cols[3] == "0A" and cols[9] in inodes:      # 0A: LISTEN
                        ports.add(int(cols[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


def visible_windows(pid):
    """The X ids of the process's mapped windows (xdotool)."""
    try:
        out = subprocess.run(["xdotool", "search", "--onlyvisible", "--pid", str(pid)],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return out.split()


def connect_result(port, host="127.0.0.1"):
    """"ok" if a TCP connection to host:port is accepted, else the error name."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return "ok"
    except ConnectionRefusedError:
        return "refused"
    except OSError as e:
        return type(e).__name__


# Made-up countries for routers on loopback: the test MMDB maps each source
# address to a country, and one exit names its country in the file instead.
ROUTERS = [
    ("Stockholm", "127.0.0.2", "SE"),
    ("Berlin", "127.0.0.3", "DE"),
    ("Amsterdam", "127.0.0.4", "NL"),
]


class TestSetup:
    """A private directory with an exits file and a test MMDB."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="exg-ui-")
        self.mmdb = os.path.join(self.dir, "countries.mmdb")
        self.config = os.path.join(self.dir, "exitgate.conf")

    def make(self, routers=ROUTERS, geoip_countries=True):
        maker = os.environ.get("EXG_MAKE_MMDB")
        if not maker or not os.access(maker, os.X_OK):
            skip("EXG_MAKE_MMDB (tests/lib/exg-make-mmdb) is not built")
        subprocess.run([maker, self.mmdb] + ["%s=%s" % (a, c) for _, a, c in routers],
                       check=True, timeout=30)
        with open(self.config, "w") as f:
            f.write("[server]\ngeoip=%s\n\n" % self.mmdb)
            # no tor here (the first-run test has it)
            f.write("[tor]\nmanaged=false\n\n")
            for i, (name, addr, country) in enumerate(routers):
                f.write("[exit %s]\ntype=direct\nsource-address=%s\n" % (name, addr))
                # The last one by its key, the others by GeoIP.
                if not geoip_countries or i == len(routers) - 1:
                    f.write("country=%s\n" % country)
                f.write("\n")
        return self

    def cleanup(self):
        subprocess.run(["rm", "-rf", self.dir], check=False)


def app_binary():
    exe = os.environ.get("EXITGATE")
    if not exe or not os.access(exe, os.X_OK):
        skip("EXITGATE is not set to the built app")
    return exe


def app_env():
    env = dict(os.environ)
    # Criticals are bugs; warnings from GTK itself under Xvfb are not ours.
    env.setdefault("G_DEBUG", "fatal-criticals")
    if "fatal-criticals" not in env["G_DEBUG"]:
        env["G_DEBUG"] += ",fatal-criticals"
    return env
