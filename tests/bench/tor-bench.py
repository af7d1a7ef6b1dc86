#!/usr/bin/python3
# tor-bench.py [BUILD_DIR]: Exitgate's tor exits through the private Tor
# network of tests/tor/tornet.py, in one run, side by side; prints one
# Markdown table.  Run by hand (not part of meson test):
#
#   ninja -C build && /usr/bin/python3 tests/bench/tor-bench.py build
#
# exitgated runs as `--tor-control <the network's client> --geoip <its
# mmdb> --country DE --listen 127.0.0.1:0`, so the circuit it keeps ready
# goes to tnexit1.  The pinned cases use the username "country=se"
# (tnexit2), which is not the exit kept ready, so nothing is built ahead
# for them:
#
#   pinned, warm circuit   one client address: after a first stream that is
#                          not counted, every stream reuses that circuit;
#   pinned, cold circuit   every stream from another client address
#                          (127.0.1.k), which is part of the isolation key,
#                          so exitgated has tor build a new circuit for each;
#   new key, ready circuit a new plain username per stream to the default
#                          exit (tnexit1): each stream takes the circuit
#                          kept ready, whatever state its building is in;
#   tor's own choice       straight to the client tor's SocksPort, no
#                          exitgated.
#
# Set-up time is from sending the SOCKS5 CONNECT to having its whole reply.
# Each stream then reads the line the target sends (the peer it saw; with
# the exits' bind shim that is the exit's own address, which is checked).
# Bulk is BULK_MIB MiB sent by a loopback server as soon as it accepts,
# read to the end by the client, BULK_RUNS times per column (median).
# exitgated's CPU is utime+stime from /proc/PID/stat around each case.
# Figures, not assertions: exits 0 whatever they are, 1 if a stream fails.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tor"))
import tornet  # noqa: E402

BUILD = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("EXG_BUILD_ROOT", "build")
EXITGATED = os.environ.get("EXITGATED", os.path.join(BUILD, "src", "exitgated"))
STREAMS = int(os.environ.get("EXG_TORBENCH_STREAMS", "50"))
BULK_MIB = int(os.environ.get("EXG_TORBENCH_BULK_MIB", "16"))
BULK_RUNS = int(os.environ.get("EXG_TORBENCH_BULK_RUNS", "3"))
TIMEOUT = 60
TICK = os.sysconf("SC_CLK_TCK")

DEFAULT_EXIT = ("DE", "127.0.0.7")     # tnexit1, the circuit kept ready
PINNED_USER = "country=se"
PINNED_IP = "127.0.0.8"                # tnexit2


def log(msg):
    print("tor-bench: " + msg, file=sys.stderr, flush=True)


class Fail(Exception):
    pass


def recv_exact(s, n):
    return tornet._recv_exact(s, n)


def cpu_ticks(pid):
    """utime+stime of PID (its threads included), in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def socks_stream(proxy, port, username=None, source=None):
    """A SOCKS5 CONNECT to 127.0.0.1:PORT: (socket, set-up seconds).
    The time runs from sending the request to the end of the reply."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    try:
        if source is not None:
            s.bind((source, 0))
        s.connect(proxy)
        if username is None:
            s.sendall(b"\x05\x01\x00")
            if recv_exact(s, 2) != b"\x05\x00":
                raise Fail("no-auth refused")
        else:
            u = username.encode()
            s.sendall(b"\x05\x01\x02")
            if recv_exact(s, 2) != b"\x05\x02":
                raise Fail("username auth refused")
            s.sendall(b"\x01" + bytes([len(u)]) + u + b"\x01x")
            if recv_exact(s, 2) != b"\x01\x00":
                raise Fail("username refused")
        t0 = time.monotonic()
        s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", port))
        reply = recv_exact(s, 10)
        dt = time.monotonic() - t0
        if reply[1] != 0:
            raise Fail("SOCKS5 reply %02x" % reply[1])
        return s, dt
    except BaseException:
        s.close()
        raise


def pct(values, p):
    """The p-th percentile (nearest rank) of VALUES."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


class BulkServer:
    """Sends SIZE bytes to every connection it accepts, then closes."""

    def __init__(self, size):
        self.size = size
        self.chunk = b"\x5a" * 65536
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._send, args=(conn,), daemon=True).start()

    def _send(self, conn):
        with conn:
            try:
                left = self.size
                while left > 0:
                    n = min(left, len(self.chunk))
                    conn.sendall(self.chunk[:n])
                    left -= n
            except OSError:
                pass

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


def bulk_once(proxy, port, size, username=None):
    """MiB/s for one download of SIZE bytes, timed from before the SOCKS
    handshake to the last byte."""
    t0 = time.monotonic()
    if proxy is None:
        s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    else:
        s, _ = socks_stream(proxy, port, username)
    got = 0
    with s:
        while True:
            data = s.recv(1 << 18)
            if not data:
                break
            got += len(data)
    dt = time.monotonic() - t0
    if got != size:
        raise Fail("bulk: %d of %d bytes" % (got, size))
    return size / (1 << 20) / dt


def run_case(name, proxy, port, pid, want_peer, user_of, source_of, warmup):
    """STREAMS streams; {"p50", "p90" (ms), "cpu" (ms per stream or None)}."""
    if warmup:
        s, _ = socks_stream(proxy, port, user_of(-1), source_of(-1))
        with s:
            tornet.recv_line(s)
    times = []
    before = cpu_ticks(pid) if pid else None
    for k in range(STREAMS):
        s, dt = socks_stream(proxy, port, user_of(k), source_of(k))
        with s:
            peer = tornet.recv_line(s).split()
        if not peer:
            raise Fail("%s: stream %d got no line from the target" % (name, k))
        if want_peer is not None and peer[0] != want_peer:
            raise Fail("%s: stream %d left through %s, not %s" % (name, k, peer[0], want_peer))
        times.append(dt * 1000)
    cpu = None
    if pid:
        cpu = (cpu_ticks(pid) - before) * 1000.0 / TICK / STREAMS
    log("%s: p50 %.1f ms, p90 %.1f ms" % (name, pct(times, 50), pct(times, 90)))
    return {"p50": pct(times, 50), "p90": pct(times, 90), "cpu": cpu}


def circuits_to(net, fingerprint):
    """How many of the client tor's circuits end at FINGERPRINT."""
    with net.control() as ctl:
        text = ctl.check("GETINFO circuit-status").value("circuit-status") or ""
    n = 0
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 3 and f[2].split(",")[-1].lstrip("$").startswith(fingerprint):
            n += 1
    return n


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return "%d CPUs (%s)" % (os.cpu_count(), model)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    if not os.access(EXITGATED, os.X_OK):
        log("no exitgated at %s (build first: ninja -C %s)" % (EXITGATED, BUILD))
        return 2
    load_before = loadavg()
    t0 = time.monotonic()
    daemon = None
    bulk = None
    try:
        with tornet.TorNet(None, build_dir=BUILD) as net, tornet.TargetServer() as target:
            info = net.info
            log("network ready in %.0f s" % (time.monotonic() - t0))
            shim = info["bind_shim"]
            control = "127.0.0.1:%d" % info["client"]["control_port"]
            daemon = subprocess.Popen([EXITGATED, "--tor-control", control,
                                       "--geoip", info["mmdb"], "--country", DEFAULT_EXIT[0],
                                       "--listen", "127.0.0.1:0"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            m = re.match(r"listening 127\.0\.0\.1:(\d+)", daemon.stdout.readline())
            if not m:
                raise Fail("exitgated did not listen")
            eg = ("127.0.0.1", int(m.group(1)))
            # its stderr must be drained; wait (bounded) for tor's exits
            ready = threading.Event()

            def drain():
                for line in daemon.stderr:
                    if re.search(r"tor: \d+ exit relays", line):
                        ready.set()
            threading.Thread(target=drain, daemon=True).start()
            if not ready.wait(TIMEOUT):
                raise Fail("exitgated did not take tor's exits")
            torsocks = ("127.0.0.1", info["client"]["socks_port"])
            pid = daemon.pid

            def check(ip):
                return ip if shim else None

            results = {}
            results["warm"] = run_case(
                "pinned, warm", eg, target.port, pid, check(PINNED_IP),
                lambda k: PINNED_USER, lambda k: None, True)
            pinned_fp = net.relay("tnexit2")["fingerprint"]
            circs = circuits_to(net, pinned_fp)
            results["cold"] = run_case(
                "pinned, cold", eg, target.port, pid, check(PINNED_IP),
                lambda k: PINNED_USER, lambda k: "127.0.1.%d" % (k + 1), False)
            # every cold stream must have had a circuit of its own
            new_circs = circuits_to(net, pinned_fp) - circs
            log("pinned, cold: %d new circuits to the pinned exit" % new_circs)
            if new_circs < STREAMS:
                raise Fail("cold: %d new circuits for %d streams" % (new_circs, STREAMS))
            results["ready"] = run_case(
                "new key, ready circuit", eg, target.port, pid, check(DEFAULT_EXIT[1]),
                lambda k: "bench-%d" % k, lambda k: None, False)
            results["tor"] = run_case(
                "tor alone", torsocks, target.port, None, None,
                lambda k: None, lambda k: None, True)

            size = BULK_MIB << 20
            bulk = BulkServer(size)
            rates = {"eg": [], "tor": [], "direct": []}
            before = cpu_ticks(pid)
            for _ in range(BULK_RUNS):
                rates["eg"].append(bulk_once(eg, bulk.port, size, PINNED_USER))
            eg_cpu = (cpu_ticks(pid) - before) * 1000.0 / TICK / (BULK_RUNS * BULK_MIB)
            for _ in range(BULK_RUNS):
                rates["tor"].append(bulk_once(torsocks, bulk.port, size))
            for _ in range(BULK_RUNS):
                rates["direct"].append(bulk_once(None, bulk.port, size))
            for key, v in rates.items():
                log("bulk %s: %s MiB/s" % (key, " ".join("%.1f" % r for r in v)))
    except (Fail, tornet.TorNetError, OSError) as e:
        log("failed: %s" % e)
        return 1
    finally:
        if bulk is not None:
            bulk.close()
        if daemon is not None and daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()

    med = {k: statistics.median(v) for k, v in rates.items()}
    cols = ["warm", "cold", "ready", "tor"]
    print("Through Tor, %s, %s" % (machine(), time.strftime("%Y-%m-%d", time.gmtime())))
    print("Private network of tests/tor/tornet.py (3 hops, all on 127.0.0.x); "
          "%d streams per case, bulk %d MiB × %d (median);" % (STREAMS, BULK_MIB, BULK_RUNS))
    print("load average before %s, after %s." % (load_before, loadavg()))
    print()
    print("| metric | pinned exit, warm circuit | pinned exit, cold circuit "
          "| new key, circuit kept ready | tor's own choice (SocksPort) | direct (no tor) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print("| set-up p50 / p90 (ms), CONNECT to reply | "
          + " | ".join("%.1f / %.1f" % (results[c]["p50"], results[c]["p90"]) for c in cols)
          + " | – |")
    print("| exitgated CPU per stream (ms) | "
          + " | ".join("%.2f" % results[c]["cpu"] for c in cols[:3]) + " | – | – |")
    print("| bulk %d MiB down (MiB/s) | %.1f | – | – | %.1f | %.1f |"
          % (BULK_MIB, med["eg"], med["tor"], med["direct"]))
    print("| exitgated CPU per MiB of bulk (ms) | %.2f | – | – | – | – |" % eg_cpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
