#!/bin/bash
# take-screenshots.sh [BUILD_DIR [OUT_DIR]]: takes the README and AppStream
# screenshots from the real window, on a private Xvfb display.
#
# The scene is made up but real: two exitgated instances on loopback act as
# upstream SOCKS5 routers and three direct exits use their own loopback
# source addresses, and the private Tor network of tests/tor/tornet.py
# (everything on 127.0.0.x, never the public Tor network) adds its exit
# relays tnexit1..3 through its client tor's control port; a test MMDB
# gives each of them a country.  A few slow downloads from a local HTTP
# server stay open through the proxy, and tor-resolve makes some name
# lookups, so every page has something to show.
#
# Writes OUT_DIR (default data/screenshots)/{main-window,connections,lookups,routers}.png;
# EXG_PAGES="Traffic:traffic.png;…" picks other pages (the first one is the
# background of main-window.png).  Then connect-tor.png: a second run of
# the app as on first use (no exits, no tor chosen), whose managed tor
# waits with DisableNetwork 1 and the private network's torrc.
#
# SPDX-License-Identifier: GPL-3.0-or-later

set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
out=${2:-$src/data/screenshots}
mkdir -p "$out"
out=$(cd "$out" && pwd)

py=/usr/bin/python3
app=$build/src/app/exitgate
daemon=$build/src/exitgated
mkmmdb=$build/tests/lib/exg-make-mmdb
tornet=$src/tests/tor/tornet.py
for f in "$app" "$daemon" "$mkmmdb"; do
  [ -x "$f" ] || { echo "take-screenshots: $f is not built" >&2; exit 1; }
done
for c in import xdotool tor tor-resolve; do
  command -v "$c" >/dev/null || { echo "take-screenshots: $c is missing" >&2; exit 1; }
done

# The private Tor network lives outside the wrapper: its tors run in
# sessions of their own, which the wrapper's kill of its process group
# would not reach, so this shell stops them, whatever happens.
if [ -z "${EXG_SCREENSHOTS_INNER:-}" ]; then
  tn=$(mktemp -d "${TMPDIR:-/tmp}/exg-shots-tornet.XXXXXX")
  wrapper=
  # shellcheck disable=SC2317  # run by the trap
  stop_tornet ()
  {
    if [ -n "$wrapper" ]; then
      kill "$wrapper" 2>/dev/null || true
      wait "$wrapper" 2>/dev/null || true
    fi
    "$py" "$tornet" stop "$tn" || true
    rm -rf "$tn"
  }
  trap stop_tornet EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  echo "take-screenshots: starting the private Tor network on 127.0.0.x"
  "$py" "$tornet" start "$tn" --build-dir "$build" >/dev/null
  # Re-run under the wrapper: private X display and session bus.  In the
  # background, so that TERM and INT run the trap at once.
  EXG_SCREENSHOTS_INNER=1 EXG_SHOT_TORNET=$tn "$here/run-under-xvfb.sh" "$0" "$build" "$out" &
  wrapper=$!
  rc=0
  wait "$wrapper" || rc=$?
  wrapper=
  exit "$rc"
fi
tn=$EXG_SHOT_TORNET

export GSETTINGS_SCHEMA_DIR=$build/data
export GSETTINGS_BACKEND=memory
export NO_AT_BRIDGE=0                 # the pages are switched through AT-SPI
# Another language: EXG_SHOT_LANGUAGE=sv (the build tree's catalogues,
# with no locale to install) or EXG_SHOT_LANG=sv_SE.UTF-8; EXG_PAGES and
# EXG_SHOT_COMBO in that language.
export LANG=${EXG_SHOT_LANG:-C.UTF-8}
unset LANGUAGE LC_ALL LC_MESSAGES
if [ -n "${EXG_SHOT_LANGUAGE:-}" ]; then
  export LANGUAGE=$EXG_SHOT_LANGUAGE
fi
export GTK_THEME=Adwaita

tmp=$(mktemp -d "${TMPDIR:-/tmp}/exg-shots.XXXXXX")
pids=()
cleanup ()
{
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
# The first-run app writes its choice and runs its managed tor under these.
export XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/data XDG_CACHE_HOME=$tmp/cache
# No system tor in the picture, whatever this machine runs.
export EXITGATE_TOR_SYSTEM_CONTROL=/nonexistent/tor/control

free_port ()
{
  "$py" -c 'import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port ()   # HOST PORT: until something accepts there, ≤ 10 s
{
  for _ in $(seq 100); do
    if "$py" -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close()' "$1" "$2" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "take-screenshots: nothing listens on $1:$2" >&2
  return 1
}

wait_conns () # PORT N: until N connections to PORT are established, ≤ 10 s
{
  # A background client must have gone through the proxy before the next
  # exit-country change, or it would take the next country.
  for _ in $(seq 100); do
    [ "$(ss -Htn state established "( dport = :$1 )" | wc -l)" -ge "$2" ] && return 0
    sleep 0.1
  done
  echo "take-screenshots: fewer than $2 connections to port $1" >&2
  return 1
}

action ()      # NAME [GVARIANT]: activates app.NAME over D-Bus
{
  local param="[]"
  [ $# -gt 1 ] && param="[<$2>]"
  gdbus call --session -d org.exitgate.Exitgate -o /org/exitgate/Exitgate \
    -m org.gtk.Actions.Activate "$1" "$param" '{}' >/dev/null
}

# The Tor network's client (control port, cookie authentication) and its
# relays' addresses with their countries.
read -r tor_control tor_geo < <("$py" - "$tn/tornet.json" <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))
geo = ["%s=%s" % (r["ip"], r["country"]) for r in info["relays"] if r["country"]]
print("%s:%d" % (info["client"]["host"], info["client"]["control_port"]), " ".join(geo))
PY
)
# Made-up countries for loopback addresses, clear of the network's
# 127.0.0.2 … .9, in one MMDB with the network's own.
# shellcheck disable=SC2086  # tor_geo: one IP=CC word each
"$mkmmdb" "$tmp/countries.mmdb" \
  127.0.0.12=SE 127.0.0.13=DE 127.0.0.14=NL 127.0.0.15=JP 127.0.0.16=BR 127.0.0.17=CA \
  $tor_geo >/dev/null

# Two upstream routers: plain exitgated instances.
up1=$(free_port); up2=$(free_port)
"$daemon" --listen "127.0.0.15:$up1" >"$tmp/up1.log" 2>&1 & pids+=($!)
"$daemon" --listen "127.0.0.16:$up2" >"$tmp/up2.log" 2>&1 & pids+=($!)
wait_port 127.0.0.15 "$up1"
wait_port 127.0.0.16 "$up2"

cat >"$tmp/exitgate.conf" <<EOF
[tor]
control=$tor_control

[server]
geoip=$tmp/countries.mmdb

[exit stockholm-1]
type=direct
source-address=127.0.0.12
bandwidth=12500000

[exit frankfurt-2]
type=direct
source-address=127.0.0.13
bandwidth=6250000

[exit amsterdam-1]
type=direct
source-address=127.0.0.14
bandwidth=25000000

[exit tokyo-relay]
type=socks5
address=127.0.0.15
port=$up1
bandwidth=3125000

[exit sao-paulo]
type=socks5
address=127.0.0.16
port=$up2
bandwidth=1250000

[exit toronto-http]
type=http-connect
address=127.0.0.17
port=$(free_port)
bandwidth=2500000
EOF

# A local web server with a large file, to keep downloads open.
www=$tmp/www; mkdir -p "$www"
truncate -s 4G "$www/big.iso"  # sparse: no disk space used
echo "hello" >"$www/index.html"
web=$(free_port)
"$py" -m http.server --bind 127.0.0.1 --directory "$www" "$web" >"$tmp/web.log" 2>&1 & pids+=($!)
wait_port 127.0.0.1 "$web"
# And a sink that takes whatever is sent, for an upload.
sink=$(free_port)
"$py" - "$sink" >"$tmp/sink.log" 2>&1 <<'PY' & pids+=($!)
import socket, sys, threading
srv = socket.create_server(("127.0.0.1", int(sys.argv[1])))
def drain(c):
    while c.recv(65536):
        pass
while True:
    threading.Thread(target=drain, args=(srv.accept()[0],), daemon=True).start()
PY
wait_port 127.0.0.1 "$sink"

find_window ()  # sets wid to the window of app_pid, ≤ 10 s, and sizes it
{
  wid=
  for _ in $(seq 100); do
    wid=$(xdotool search --onlyvisible --pid "$app_pid" 2>/dev/null | head -n1 || true)
    [ -n "$wid" ] && break
    sleep 0.1
  done
  if [ -z "$wid" ]; then      # never call import -window "": it waits for a click
    echo "take-screenshots: the app's window did not show" >&2
    cat "$tmp/app.log" >&2
    exit 1
  fi
  # Wide enough for every column (no window manager: we set the size).
  xdotool windowsize "$wid" "${EXG_SHOT_WIDTH:-1180}" "${EXG_SHOT_HEIGHT:-740}"
}

# The app, with its window.
proxy=$(free_port)
"$app" --listen "127.0.0.1:$proxy" --config "$tmp/exitgate.conf" \
  --geoip "$tmp/countries.mmdb" >"$tmp/app.log" 2>&1 & app_pid=$!; pids+=("$app_pid")
wait_port 127.0.0.1 "$proxy"

find_window

# Traffic: downloads at a few MB/s through different exits, left open (the
# kernel's socket buffers take the first ~10 MB at once, so a slower rate
# would show as a burst and then nothing).  Sweden and Germany have tor
# exits too, whose exits cannot resolve "localhost": the username's
# via= keeps these on the routers that can.
socks=127.0.0.1:$proxy
rates=(3M 2M 1500k 2500k)
vias=(direct direct proxy direct)
i=0
for cc in SE DE JP NL; do
  action exit-country "'$cc'"
  user="via=${vias[$i]},country=$cc:x"
  curl -s -o /dev/null --limit-rate "${rates[$i]}" \
    --proxy "socks5h://$user@$socks" "http://localhost:$web/big.iso" & pids+=($!)
  i=$((i + 1))
  wait_conns "$web" "$i"
  curl -s -o /dev/null --proxy "socks5h://$user@$socks" "http://localhost:$web/index.html" || true
done
# By IP address (curl --socks4a sends it as SOCKS4a's hostname) through the
# SOCKS5 exit sao-paulo: the window marks it with the DNS-leak sign and bar.
action exit-country "'BR'"
curl -s -o /dev/null --limit-rate 1M --socks4a "$socks" "http://127.0.0.1:$web/big.iso" & pids+=($!)
wait_conns "$web" 5
action exit-country "'NL'"
curl -s --limit-rate 500k --socks5-hostname "$socks" -T "$www/big.iso" "telnet://localhost:$sink" \
  </dev/null >/dev/null & pids+=($!)
wait_conns "$sink" 1

# Through tor exits: the exit relay resolves target.tornet.test with the
# network's DNS responder (127.0.0.1) and connects back to the web server.
# The app reads the consensus once it has the control port: until then no
# tor exit matches, and the request fails at once.
ok=
for _ in $(seq 60); do        # ≤ 60 s
  if curl -s -o /dev/null --max-time 10 --proxy "socks5h://via=tor,country=US:x@$socks" \
       "http://target.tornet.test:$web/index.html"; then
    ok=1
    break
  fi
  sleep 1
done
if [ -z "$ok" ]; then
  echo "take-screenshots: no stream through a tor exit" >&2
  cat "$tmp/app.log" >&2
  exit 1
fi
n=5
for spec in DE:600k SE:400k US:800k; do
  cc=${spec%%:*}
  curl -s -o /dev/null --limit-rate "${spec#*:}" --proxy "socks5h://via=tor,country=$cc:x@$socks" \
    "http://target.tornet.test:$web/big.iso" & pids+=($!)
  n=$((n + 1))
  wait_conns "$web" "$n"
done

# Name lookups, forward and reverse, through the same exits (countries
# without a tor exit, for "localhost"), then through tnexit3, the only US
# exit.
for cc in NL JP BR; do
  action exit-country "'$cc'"
  tor-resolve localhost "$socks" >/dev/null 2>&1 || true
  tor-resolve -x 127.0.0.1 "$socks" >/dev/null 2>&1 || true
done
tor-resolve "no-such-host-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.invalid" "$socks" >/dev/null 2>&1 || true
action exit-country "'US'"
tor-resolve target.tornet.test "$socks" >/dev/null 2>&1 || true
tor-resolve -x 203.0.113.7 "$socks" >/dev/null 2>&1 || true
action exit-country "'SE'"

# AT-SPI: "page NAME" switches to the page NAME of the window's stack;
# "where NAME" prints "X Y W H" of the control NAME.
atspi ()
{
  "$py" - "$app_pid" "$@" <<'PY'
import sys, time
from dogtail.config import config
config.checkForA11y = False
config.logDebugToFile = config.logDebugToStdOut = False
config.defaultDelay = config.actionDelay = 0.05
config.searchBackoffDuration = 0.1
from dogtail import tree
sys.excepthook = sys.__excepthook__   # dogtail hides tracebacks otherwise
pid, verb, name = int(sys.argv[1]), sys.argv[2], (sys.argv[3:] or [""])[0]
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    apps = [a for a in tree.root.applications() if a.get_process_id() == pid]
    if apps:
        break
    time.sleep(0.1)
else:
    sys.exit("the app is not in the accessibility tree")
if verb == "page":
    node = apps[0].findChild(lambda n: n.name == name and n.roleName in
                             ("page tab", "radio button", "toggle button"),
                             requireResult=False)
    if node is None:
        sys.exit("no page named %s" % name)
    if node.roleName == "page tab":
        node.parent.querySelection().selectChild(node.indexInParent)
    else:
        node.doActionNamed("click")
elif verb == "where":
    node = apps[0].findChild(lambda n: n.name == name and n.roleName != "label",
                             requireResult=False)
    if node is None:
        sys.exit("no control named %s" % name)
    print(*node.position, *node.size)
elif verb == "showing-menu":
    # Exits 0 once a popup menu of the app is on screen (≤ 10 s).
    while time.monotonic() < deadline + 10:
        if apps[0].findChild(lambda n: n.roleName == "menu" and n.showing,
                             requireResult=False, retry=False):
            sys.exit(0)
        time.sleep(0.1)
    sys.exit("no menu showed")
PY
}

# Screenshots need pixels, and there is no event for "painted": give the
# window's 1 s tick and a repaint time after each change.
settle () { sleep 1.2; }

# The pointer waits in the screen's corner, off the window (no window
# manager: the window sits at 0,0), so that no tooltip shows in a picture.
park_pointer ()
{
  local w h
  read -r w h < <(xdotool getdisplaygeometry)
  xdotool mousemove "$((w - 1))" "$((h - 1))"
}

shoot ()       # FILE: the app window
{
  settle
  import -window "$wid" "$out/$1"
  echo "wrote $out/$1"
}

# Let the traffic graph gather some history: this is the picture, not a wait
# for some state.
park_pointer
sleep "${EXG_SHOT_WARMUP:-20}"
IFS=';' read -r -a specs <<<"${EXG_PAGES:-Connections:connections.png;Name Lookups:lookups.png;Routers:routers.png}"
for spec in "${specs[@]}"; do
  name=${spec%%:*}; file=${spec#*:}
  atspi page "$name" || { echo "take-screenshots: cannot switch to “$name”" >&2; exit 1; }
  shoot "$file"
done

# The main picture: the exit country list open over the live connections.
# The list is a popup window of its own, so this one is cut from the screen
# (no window manager: the window sits at 0,0).
atspi page "${specs[0]%%:*}"
read -r cx cy cw ch < <(atspi where "${EXG_SHOT_COMBO:-Exit country}")
xdotool mousemove "$((cx + cw - 12))" "$((cy + ch / 2))" click 1
atspi showing-menu
park_pointer
settle
eval "$(xdotool getwindowgeometry --shell "$wid")"      # WIDTH, HEIGHT
import -window root -crop "${WIDTH}x${HEIGHT}+0+0" +repage "$out/main-window.png"
echo "wrote $out/main-window.png"
xdotool key Escape

action quit
wait "$app_pid" || true

# The first run: tor is installed, there is no exit and the [tor] group has
# neither managed= nor control=, so the window offers Connect to Tor while
# a managed tor waits with DisableNetwork 1.  Its torrc= is the private
# network's anyway; Connect is not pressed.
cat >"$tmp/first-run.conf" <<EOF
[tor]
torrc=$tn/torrc-network
EOF
proxy=$(free_port)
"$app" --listen "127.0.0.1:$proxy" --config "$tmp/first-run.conf" \
  --geoip "$tmp/countries.mmdb" >"$tmp/app.log" 2>&1 & app_pid=$!; pids+=("$app_pid")
wait_port 127.0.0.1 "$proxy"
find_window
# The page says tor is ready: wait until the managed tor has written its
# control port file, and check that it is off the network and would join
# the private network only.
tordir=$XDG_DATA_HOME/exitgate/tor
tor_pid=
for _ in $(seq 300); do       # ≤ 30 s
  tor_pid=$(pgrep -P "$app_pid" -x tor || true)
  [ -n "$tor_pid" ] && [ -s "$tordir/control-port" ] && break
  sleep 0.1
done
if [ -z "$tor_pid" ] || [ ! -s "$tordir/control-port" ]; then
  echo "take-screenshots: the managed tor did not start" >&2
  cat "$tmp/app.log" >&2
  exit 1
fi
if ! tr '\0' ' ' <"/proc/$tor_pid/cmdline" | grep -q -- "--DisableNetwork 1 " \
   || ! grep -qxF "%include $tn/torrc-network" "$tordir/exitgate-torrc"; then
  echo "take-screenshots: the managed tor is not off the network with the private torrc" >&2
  exit 1
fi
park_pointer
shoot connect-tor.png

# tor exits when the app, its owning controller, goes.
action quit
wait "$app_pid" || true
for _ in $(seq 100); do       # ≤ 10 s
  kill -0 "$tor_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$tor_pid" 2>/dev/null; then
  echo "take-screenshots: the managed tor outlived the app" >&2
  kill "$tor_pid"
  exit 1
fi
