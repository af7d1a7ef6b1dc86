#!/usr/bin/python3
# tor-first-run.py: runs test-tor-first-run (argv[1:]) against a private
# Tor network on 127.0.0.x (tests/tor/tornet.py).  The test gets the
# network's torrc, so the app's managed tor joins that network only, and
# its GeoIP database (tnexit1 DE, tnexit2 SE, tnexit3 US).  Afterwards no
# tor may be left running in the test's directory.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tor"))
import tornet  # noqa: E402

STOP_TIMEOUT = 10


def tors_in(directory):
    """pids of processes whose command line names DIRECTORY"""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if directory.encode() in f.read():
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


def main():
    tmp = tempfile.mkdtemp(prefix="exg-tor-first-run-")
    with tornet.TorNet(None) as net:
        if not net.info.get("mmdb"):
            print("1..0 # SKIP no exg-make-mmdb for the network's GeoIP", flush=True)
            return 0
        env = dict(os.environ,
                   EXG_TEST_TORRC=net.info["torrc_network"],
                   EXG_TEST_MMDB=net.info["mmdb"],
                   EXG_TEST_TMPDIR=tmp)
        rc = subprocess.call(sys.argv[1:], env=env)
        deadline = time.monotonic() + STOP_TIMEOUT
        left = tors_in(tmp)
        while left and time.monotonic() < deadline:
            time.sleep(0.1)        # polling /proc: no event to wait on
            left = tors_in(tmp)
        for pid in left:
            print("# tor %d left running; stopping it" % pid, flush=True)
            os.kill(pid, 9)
            rc = rc or 1
    subprocess.run(["rm", "-rf", tmp], check=False)
    return rc


if __name__ == "__main__":
    sys.exit(main())
