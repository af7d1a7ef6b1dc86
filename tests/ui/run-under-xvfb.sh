#!/bin/bash
# run-under-xvfb.sh CMD [ARGS...]: runs CMD on a private Xvfb display and a
# private D-Bus session bus, then tears both down, whatever CMD leaves behind.
#
# Why not xvfb-run -a: started in parallel it hands the same display to
# several runs or fails; Xvfb -displayfd picks and locks a free display itself.
# Why setsid: CMD, dbus-daemon and everything it activates (the a11y bus,
# at-spi2-registryd, dconf-service) share one process group, which we kill as
# a whole on exit.  Why CMD runs in the background: bash runs a trap only after
# a foreground child ends, so TERM/INT (meson's timeout) would be ignored.
#
# SPDX-License-Identifier: GPL-3.0-or-later

set -u

if [ $# -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/exg-xvfb.XXXXXX") || exit 1
xvfb_pid=
group=

cleanup ()
{
  local rc=$?
  trap - EXIT TERM INT
  if [ -n "$group" ]; then
    kill -TERM -- "-$group" 2>/dev/null
    # Up to 1 s for the group's live (non-zombie) members to go.
    for _ in $(seq 20); do
      ps -e -o pgid=,stat= | awk -v g="$group" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }' \
        || break
      sleep 0.05
    done
    kill -KILL -- "-$group" 2>/dev/null
  fi
  if [ -n "$xvfb_pid" ]; then
    kill "$xvfb_pid" 2>/dev/null
    wait "$xvfb_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# 1. The X server: it writes the display number it chose to fd 3.
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp -noreset \
  3>"$tmp/display" >"$tmp/xvfb.log" 2>&1 &
xvfb_pid=$!
display=
for _ in $(seq 100); do     # ≤ 10 s; it usually takes 0.1 s
  display=$(head -n1 "$tmp/display" 2>/dev/null)
  [ -n "$display" ] && break
  if ! kill -0 "$xvfb_pid" 2>/dev/null; then
    echo "run-under-xvfb: Xvfb failed:" >&2
    cat "$tmp/xvfb.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$display" ]; then
  echo "run-under-xvfb: Xvfb did not report a display" >&2
  exit 1
fi
export DISPLAY=":$display"

# 2. Nothing from the caller's desktop session.
unset DBUS_SESSION_BUS_ADDRESS AT_SPI_BUS_ADDRESS WAYLAND_DISPLAY
export GDK_BACKEND=x11

# 3. Test defaults, unless the caller chose otherwise.
export GSETTINGS_BACKEND="${GSETTINGS_BACKEND:-memory}"
export NO_AT_BRIDGE="${NO_AT_BRIDGE:-1}"
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  mkdir -p "$tmp/runtime" && chmod 700 "$tmp/runtime"
  export XDG_RUNTIME_DIR="$tmp/runtime"
fi
if [ -z "${XDG_CONFIG_HOME:-}" ]; then
  export XDG_CONFIG_HOME="$tmp/config"
fi
# No animations: a GtkSwitch would otherwise change state only after
# frame-clock ticks.
if [ ! -e "$XDG_CONFIG_HOME/gtk-3.0/settings.ini" ]; then
  mkdir -p "$XDG_CONFIG_HOME/gtk-3.0"
  printf '[Settings]\ngtk-enable-animations=0\n' \
    >"$XDG_CONFIG_HOME/gtk-3.0/settings.ini"
fi

# 4. CMD on a private session bus, in its own process group.
setsid dbus-run-session -- "$@" &
group=$!
wait "$group"
