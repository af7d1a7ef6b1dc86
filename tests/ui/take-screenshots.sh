#!/bin/bash
# take-screenshots.sh [BUILD_DIR [OUT_DIR]]: takes the README and AppStream
# screenshots from the real window, on a private Xvfb display.
#
# The scene is made up but real: two exitgated instances on loopback act as
# upstream SOCKS5 routers and three direct exits use their own loopback
# source addresses; a test MMDB gives each of them a country.  A few slow
# downloads from a local HTTP server stay open through the proxy, and
# tor-resolve makes some name lookups, so every page has something to show.
#
# Writes OUT_DIR (default data/screenshots)/{main-window,connections,lookups,routers}.png.
#
# SPDX-License-Identifier: GPL-3.0-or-later

set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
out=${2:-$src/data/screenshots}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Re-run under the wrapper: private X display and session bus.
if [ -z "${EXG_SCREENSHOTS_INNER:-}" ]; then
  EXG_SCREENSHOTS_INNER=1 exec "$here/run-under-xvfb.sh" "$0" "$build" "$out"
fi

py=/usr/bin/python3
app=$build/src/app/exitgate
daemon=$build/src/exitgated
mkmmdb=$build/tests/lib/exg-make-mmdb
for f in "$app" "$daemon" "$mkmmdb"; do
  [ -x "$f" ] || { echo "take-screenshots: $f is not built" >&2; exit 1; }
done
command -v import >/dev/null || { echo "take-screenshots: ImageMagick's import is missing" >&2; exit 1; }
command -v xdotool >/dev/null || { echo "take-screenshots: xdotool is missing" >&2; exit 1; }

export GSETTINGS_SCHEMA_DIR=$build/data
export GSETTINGS_BACKEND=memory
export NO_AT_BRIDGE=0                 # the pages are switched through AT-SPI
export LANG=C.UTF-8 LANGUAGE=en
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

free_port ()
{
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
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

action ()      # NAME [GVARIANT]: activates app.NAME over D-Bus
{
  local param="[]"
  [ $# -gt 1 ] && param="[<$2>]"
  gdbus call --session -d org.exitgate.Exitgate -o /org/exitgate/Exitgate \
    -m org.gtk.Actions.Activate "$1" "$param" '{}' >/dev/null
}

# Made-up countries for loopback addresses.
"$mkmmdb" "$tmp/countries.mmdb" \
  127.0.0.2=SE 127.0.0.3=DE 127.0.0.4=NL 127.0.0.5=JP 127.0.0.6=BR 127.0.0.7=CA >/dev/null

# Two upstream routers: plain exitgated instances.
up1=$(free_port); up2=$(free_port)
"$daemon" --listen "127.0.0.5:$up1" >"$tmp/up1.log" 2>&1 & pids+=($!)
"$daemon" --listen "127.0.0.6:$up2" >"$tmp/up2.log" 2>&1 & pids+=($!)
wait_port 127.0.0.5 "$up1"
wait_port 127.0.0.6 "$up2"

cat >"$tmp/exitgate.conf" <<EOF
[server]
geoip=$tmp/countries.mmdb

[exit stockholm-1]
type=direct
source-address=127.0.0.2
bandwidth=12500000

[exit frankfurt-2]
type=direct
source-address=127.0.0.3
bandwidth=6250000

[exit amsterdam-1]
type=direct
source-address=127.0.0.4
bandwidth=25000000

[exit tokyo-relay]
type=socks5
address=127.0.0.5
port=$up1
bandwidth=3125000

[exit sao-paulo]
type=socks5
address=127.0.0.6
port=$up2
bandwidth=1250000

[exit toronto-http]
type=http-connect
address=127.0.0.7
port=$(free_port)
bandwidth=2500000
EOF

# A local web server with a large file, to keep downloads open.
www=$tmp/www; mkdir -p "$www"
head -c 64M /dev/zero >"$www/big.iso"
echo "hello" >"$www/index.html"
web=$(free_port)
"$py" -m http.server --bind 127.0.0.1 --directory "$www" "$web" >"$tmp/web.log" 2>&1 & pids+=($!)
wait_port 127.0.0.1 "$web"

# The app, with its window.
proxy=$(free_port)
"$app" --listen "127.0.0.1:$proxy" --config "$tmp/exitgate.conf" \
  --geoip "$tmp/countries.mmdb" >"$tmp/app.log" 2>&1 & app_pid=$!; pids+=($app_pid)
wait_port 127.0.0.1 "$proxy"

wid=
for _ in $(seq 100); do       # ≤ 10 s
  wid=$(xdotool search --onlyvisible --pid "$app_pid" 2>/dev/null | head -n1 || true)
  [ -n "$wid" ] && break
  sleep 0.1
done
if [ -z "$wid" ]; then        # never call import -window "": it waits for a click
  echo "take-screenshots: the app's window did not show" >&2
  cat "$tmp/app.log" >&2
  exit 1
fi

# Traffic: slow downloads through different exits, left open.
socks=127.0.0.1:$proxy
for cc in SE DE JP NL; do
  action exit-country "'$cc'"
  curl -s -o /dev/null --limit-rate "$((100 + RANDOM % 400))k" \
    --socks5-hostname "$socks" "http://localhost:$web/big.iso" & pids+=($!)
  curl -s -o /dev/null --socks5-hostname "$socks" "http://localhost:$web/index.html" || true
done
action exit-country "'BR'"
curl -s -o /dev/null --limit-rate 80k --socks4a "$socks" "http://127.0.0.1:$web/big.iso" & pids+=($!)
# Name lookups, forward and reverse, through the same exits.
for cc in SE JP DE; do
  action exit-country "'$cc'"
  tor-resolve localhost "$socks" >/dev/null 2>&1 || true
  tor-resolve -x 127.0.0.1 "$socks" >/dev/null 2>&1 || true
done
tor-resolve no-such-host.invalid "$socks" >/dev/null 2>&1 || true
action exit-country "'SE'"

# Pages: switched through AT-SPI by their names, then photographed.
page ()
{
  "$py" - "$app_pid" "$1" <<'PY'
import sys, time
from dogtail.config import config
config.checkForA11y = False
config.logDebugToFile = config.logDebugToStdOut = False
config.defaultDelay = config.actionDelay = 0.05
config.searchBackoffDuration = 0.1
from dogtail import tree
pid, name = int(sys.argv[1]), sys.argv[2]
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    apps = [a for a in tree.root.applications() if a.get_process_id() == pid]
    if apps:
        break
    time.sleep(0.1)
else:
    sys.exit("the app is not in the accessibility tree")
node = apps[0].findChild(lambda n: n.name == name and n.roleName in
                         ("page tab", "radio button", "toggle button", "push button"),
                         requireResult=False)
if node is None:
    sys.exit("no page named %s" % name)
if node.roleName == "page tab":
    node.parent.querySelection().selectChild(node.indexInParent)
else:
    node.doActionNamed("click")
PY
}

shoot ()       # FILE: the app window, once it has repainted
{
  sleep 1.2                   # two 1 s table ticks and a repaint: pixels, not state
  import -window "$wid" "$out/$1"
  echo "wrote $out/$1"
}

sleep 1                       # the window's first tick fills the tables
IFS=';' read -r -a specs <<<"${EXG_PAGES:-Exit:main-window.png;Connections:connections.png;Name lookups:lookups.png;Routers:routers.png}"
for spec in "${specs[@]}"; do
  name=${spec%%:*}; file=${spec#*:}
  page "$name" || { echo "take-screenshots: cannot switch to “$name”" >&2; exit 1; }
  shoot "$file"
done

action quit
wait "$app_pid" || true
