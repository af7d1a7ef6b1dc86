#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Real SOCKS clients against a private exitgated on loopback: curl
# (--socks4, --socks4a, --socks5, --socks5-hostname), tor-resolve (SOCKS5 and
# SOCKS4a forward, -x reverse), nc -X 4 / -X 5 (netcat-openbsd), torsocks
# and proxychains4.  Targets: servers.py (HTTP on 127.0.0.1 and ::1, echo).
#
# One "ok"/"FAIL"/"skip" line per check, then "N passed, M failed" last.
# Exit status: 1 if a check failed, 77 (skipped) if a client program is
# missing and nothing failed, else 0.  Every client runs under timeout(1);
# the EXIT trap stops only the processes started here.

set -u

T=10                                     # seconds, bound of every client call
# not found without asking any DNS server: glibc refuses a label over 63
# bytes before it sends a query, so nothing leaves loopback
nxname="no-such-host-$(printf 'x%.0s' $(seq 1 56)).invalid"
here=$(cd "$(dirname "$0")" && pwd)
passed=0 failed=0 skipped=0
pids=()
work=$(mktemp -d "${TMPDIR:-/tmp}/exg-clients.XXXXXX")

cleanup ()
{
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${pids[@]}"; do
    # bounded: a process that ignores SIGTERM gets SIGKILL
    timeout $T tail -s 0.1 --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT

ok ()   { passed=$((passed + 1)); echo "ok - $1"; }
fail () { failed=$((failed + 1)); echo "FAIL - $1: $2"; }
skip () { skipped=$((skipped + 1)); echo "skip - $1: $2"; }

# have PROGRAM...: all installed (else the caller skips)
have ()
{
  local p
  for p in "$@"; do
    command -v "$p" >/dev/null 2>&1 || return 1
  done
}

finish ()
{
  [ "$skipped" -gt 0 ] && echo "$skipped skipped"
  echo "$passed passed, $failed failed"
  if [ "$failed" -gt 0 ]; then exit 1; fi
  if [ "$skipped" -gt 0 ]; then exit 77; fi
  exit 0
}

if [ -z "${EXITGATED:-}" ] || [ ! -x "$EXITGATED" ]; then
  fail "setup" "EXITGATED is not an executable: '${EXITGATED:-}'"
  finish
fi

# ------------------------------------------------------------ servers

mkdir "$work/www"
head -c 200000 /dev/urandom | base64 > "$work/www/file.txt"
want_sum=$(sha256sum < "$work/www/file.txt")

coproc SRV { exec /usr/bin/python3 "$here/servers.py" "$work/www"; }
pids+=("$SRV_PID")
http4= http6= echo_port= closed=
for _ in 1 2 3 4; do
  if ! read -r -t $T -u "${SRV[0]}" name port; then break; fi
  case "$name" in
    http4) http4=$port ;;
    http6) http6=$port ;;
    echo) echo_port=$port ;;
    closed) closed=$port ;;
  esac
done
if [ -z "$http4" ] || [ -z "$http6" ] || [ -z "$echo_port" ] || [ -z "$closed" ]; then
  fail "setup" "the target servers did not start"
  finish
fi

# ------------------------------------------------------------ daemon

# --unsafe-logging --verbose: the log names each target, which proves that
# torsocks and proxychains4 really went through the daemon.
mkfifo "$work/daemon.out"
"$EXITGATED" --listen 127.0.0.1:0 --listen '[::1]:0' --verbose --unsafe-logging \
  < /dev/null > "$work/daemon.out" 2> "$work/daemon.log" &
dpid=$!
pids+=("$dpid")
exec 3< "$work/daemon.out"
line= line6=
read -r -t $T -u 3 line
read -r -t $T -u 3 line6
proxy=${line#listening }
pport=${proxy##*:}
proxy6=${line6#listening }
if [ "${line%% *}" != "listening" ] || [ "$proxy" != "127.0.0.1:$pport" ] ||
   [ "${line6%% *}" != "listening" ] || [ "${proxy6%:*}" != "[::1]" ]; then
  fail "setup" "exitgated did not print 'listening 127.0.0.1:PORT' and 'listening [::1]:PORT' within ${T}s (got '$line', '$line6')"
  cat "$work/daemon.log" >&2
  finish
fi
echo "# exitgated on $proxy and $proxy6; http on 127.0.0.1:$http4 and [::1]:$http6; echo on 127.0.0.1:$echo_port"

# lines of the daemon's log that contain a string (fixed); with
# --unsafe-logging it names the target of each connection it opens
log_count () { grep -cF -- "$1" "$work/daemon.log"; }

# ------------------------------------------------------------ curl

# check_curl NAME CURL-ARGS... : the file must come back intact
check_curl ()
{
  local name=$1 got
  shift
  got=$(timeout $T curl -sS --max-time $T "$@" 2> "$work/err" | sha256sum)
  if [ "$got" = "$want_sum" ]; then
    ok "$name"
  else
    fail "$name" "$(head -c 300 "$work/err")"
  fi
}

if have curl; then
  check_curl "curl --socks4 127.0.0.1" --socks4 "$proxy" "http://127.0.0.1:$http4/file.txt"
  check_curl "curl --socks4a localhost" --socks4a "$proxy" "http://localhost:$http4/file.txt"
  check_curl "curl --socks5 127.0.0.1" --socks5 "$proxy" "http://127.0.0.1:$http4/file.txt"
  check_curl "curl --socks5 [::1]" --socks5 "$proxy" "http://[::1]:$http6/file.txt"
  check_curl "curl --socks5-hostname localhost" --socks5-hostname "$proxy" \
    "http://localhost:$http4/file.txt"
  check_curl "curl --socks5-hostname 127.0.0.1" --socks5-hostname "$proxy" \
    "http://127.0.0.1:$http4/file.txt"
  check_curl "curl --socks5-hostname [::1]" --socks5-hostname "$proxy" \
    "http://[::1]:$http6/file.txt"
  check_curl "curl --socks5-hostname via the [::1] listener" --socks5-hostname "$proxy6" \
    "http://localhost:$http4/file.txt"
  check_curl "curl --socks4a 127.0.0.1" --socks4a "$proxy" "http://127.0.0.1:$http4/file.txt"
  check_curl "curl socks5h:// with username/password" \
    -x "socks5h://someone:secret@$proxy" "http://localhost:$http4/file.txt"
  # the HTTP-resistance page, as a browser configured as an HTTP proxy sees it
  code=$(timeout $T curl -s --max-time $T -o "$work/page" -w '%{http_code} %{content_type}' \
    -x "http://$proxy" "http://127.0.0.1:$http4/file.txt")
  case "$code" in
    "501 text/html"*) ok "curl -x http:// gets the 501 page" ;;
    *) fail "curl -x http:// gets the 501 page" "got '$code'" ;;
  esac
  # a refused target: curl reports the SOCKS failure, not a hang
  timeout $T curl -sS --max-time $T --socks5 "$proxy" "http://127.0.0.1:$closed/" > /dev/null 2> "$work/err"
  rc=$?
  # curl: "(97) Can't complete SOCKS5 connection to 127.0.0.1. (5)": 05 = refused
  if [ $rc -eq 97 ] && grep -q '(5)$' "$work/err"; then
    ok "curl --socks5 to a closed port fails cleanly"
  else
    fail "curl --socks5 to a closed port fails cleanly" "status $rc: $(head -c 300 "$work/err")"
  fi
else
  skip "curl" "curl is not installed"
fi

# ------------------------------------------------------------ tor-resolve

# What this machine's resolver says; the daemon must agree.
rev_name=$(getent hosts 127.0.0.1 | awk '{ print $2; exit }')
if have tor-resolve; then
  for mode in -5 -4; do
    got=$(timeout $T tor-resolve $mode localhost "$proxy" 2> "$work/err")
    if [ "$got" = "127.0.0.1" ]; then
      ok "tor-resolve $mode localhost"
    else
      fail "tor-resolve $mode localhost" "got '$got' $(head -c 300 "$work/err")"
    fi
  done
  got=$(timeout $T tor-resolve -x 127.0.0.1 "$proxy" 2> "$work/err")
  rc=$?
  if [ -n "$rev_name" ] && [ "$got" = "$rev_name" ]; then
    ok "tor-resolve -x 127.0.0.1 = $rev_name"
  elif [ -z "$rev_name" ] && [ $rc -ne 0 ]; then
    ok "tor-resolve -x 127.0.0.1 fails (no name for it here)"
  else
    fail "tor-resolve -x 127.0.0.1" "got '$got' (status $rc), wanted '$rev_name' $(head -c 300 "$work/err")"
  fi
  # a name that does not exist: a failure tor-resolve can parse (SOCKS5
  # status 4, SOCKS4 status 91 = 0x5B), not tor's ATYP 0 it chokes on
  for mode in -5 -4; do
    got=$(timeout $T tor-resolve $mode "$nxname" "$proxy" 2> "$work/err")
    rc=$?
    if [ $mode = -5 ]; then want="status response '4'"; else want="status response '91'"; fi
    if [ $rc -eq 1 ] && [ -z "$got" ] && grep -qF "$want" "$work/err"; then
      ok "tor-resolve $mode (a name not found) fails"
    else
      fail "tor-resolve $mode (a name not found) fails" \
        "status $rc, output '$got' $(head -c 300 "$work/err")"
    fi
  done
else
  skip "tor-resolve" "tor-resolve is not installed"
fi

# ------------------------------------------------------------ nc

if have nc && nc -h 2>&1 | grep -q -- '-X proxy_protocol'; then
  for v in 4 5; do
    for target in 127.0.0.1 localhost; do
      [ $v = 4 ] && [ $target = localhost ] && continue  # -X 4 resolves locally anyway
      msg="ping over SOCKS$v to $target"
      got=$(printf '%s\n' "$msg" | timeout $T nc -N -w $T -X $v -x "$proxy" $target "$echo_port" 2> "$work/err")
      if [ "$got" = "$msg" ]; then
        ok "nc -X $v $target"
      else
        fail "nc -X $v $target" "got '$got' $(head -c 300 "$work/err")"
      fi
    done
  done
else
  skip "nc" "netcat-openbsd (nc with -X) is not installed"
fi

# ------------------------------------------------------------ torsocks
#
# torsocks refuses every connect() to 127.0.0.0/8, ::1, 0.0.0.0 and ::
# (EPERM, "might be a TCP DNS query"), and AllowOutboundLocalhost 1 lets
# such connects bypass the proxy altogether, so a relayed TCP connection
# cannot be made through torsocks without leaving loopback.  What it does
# send to the proxy on loopback is its name lookups: getaddrinfo(3) becomes
# a SOCKS5 RESOLVE (F0) and getnameinfo/gethostbyaddr a RESOLVE_PTR (F1).
# A control run against a closed port proves the answers come through the
# proxy and not from a local fallback.

if have torsocks; then
  name=$(hostname)
  name_ip=$(getent ahostsv4 "$name" | awk '{ print $1; exit }')
  if [ "$name" = localhost ] || [ -z "$name_ip" ]; then
    name=$(awk '$1 !~ /^#/ && $1 ~ /^127\./ && $2 != "localhost" { print $2; exit }' /etc/hosts)
    name_ip=$(getent ahostsv4 "$name" | awk '{ print $1; exit }')
  fi
  lookup='import socket, sys
print(socket.gethostbyname(sys.argv[1]))
print(socket.gethostbyaddr("127.0.0.1")[0])'
  printf 'TorAddress 127.0.0.1\nTorPort %s\n' "$pport" > "$work/torsocks.conf"
  printf 'TorAddress 127.0.0.1\nTorPort %s\n' "$closed" > "$work/torsocks-closed.conf"
  if [ -z "$name" ] || [ -z "$name_ip" ]; then
    skip "torsocks" "no host name other than localhost resolves here"
  else
    got=$(TORSOCKS_CONF_FILE="$work/torsocks.conf" timeout $T torsocks \
            /usr/bin/python3 -c "$lookup" "$name" 2> "$work/err" | tr '\n' ' ')
    ctl=$(TORSOCKS_CONF_FILE="$work/torsocks-closed.conf" timeout $T torsocks \
            /usr/bin/python3 -c "$lookup" "$name" 2> /dev/null | tr '\n' ' ')
    if [ "$got" = "$name_ip ${rev_name:-localhost} " ] && [ -z "$ctl" ]; then
      ok "torsocks: lookups of $name and 127.0.0.1 through exitgated"
    else
      fail "torsocks lookups" "got '$got' (control without a proxy: '$ctl'), wanted '$name_ip ${rev_name:-localhost}' $(head -c 300 "$work/err")"
    fi
  fi
  # and it does refuse loopback connects (so nothing silently bypasses us)
  before=$(log_count ":$http4")
  TORSOCKS_CONF_FILE="$work/torsocks.conf" timeout $T torsocks \
    curl -sS --max-time $T "http://127.0.0.1:$http4/file.txt" > /dev/null 2>&1
  rc=$?
  if [ $rc -ne 0 ] && [ "$(log_count ":$http4")" = "$before" ]; then
    ok "torsocks curl to 127.0.0.1 is refused by torsocks, not relayed"
  else
    fail "torsocks curl to 127.0.0.1" "status $rc; expected torsocks to refuse it"
  fi
else
  skip "torsocks" "torsocks is not installed"
fi

# ------------------------------------------------------------ proxychains4

if have proxychains4; then
  cat > "$work/proxychains.conf" <<EOF
strict_chain
proxy_dns
remote_dns_subnet 224
tcp_read_time_out 15000
tcp_connect_time_out 8000
quiet_mode
[ProxyList]
socks5 127.0.0.1 $pport
EOF
  for target in "127.0.0.1" "localhost"; do
    before=$(log_count ":$http4")
    got=$(timeout $T proxychains4 -q -f "$work/proxychains.conf" \
            curl -sS --max-time $T "http://$target:$http4/file.txt" 2> "$work/err" | sha256sum)
    after=$(log_count ":$http4")
    if [ "$got" = "$want_sum" ] && [ "$after" -gt "$before" ]; then
      ok "proxychains4 curl http://$target"
    elif [ "$got" = "$want_sum" ]; then
      fail "proxychains4 curl http://$target" "the file came, but not through exitgated (no new line naming the target in its log)"
    else
      fail "proxychains4 curl http://$target" "$(head -c 300 "$work/err")"
    fi
  done
else
  skip "proxychains4" "proxychains4 is not installed"
fi

# ------------------------------------------------------------ the end

# the daemon is still alive and stops cleanly
if kill -TERM "$dpid" 2>/dev/null; then
  timeout $T tail -s 0.1 --pid="$dpid" -f /dev/null   # bounded wait for its exit
  wait "$dpid"
  rc=$?
  pids=("$SRV_PID")                          # reaped: never signal its pid again
  if [ "$rc" = 0 ]; then ok "exitgated exits 0 on SIGTERM"; else fail "exitgated on SIGTERM" "exit status $rc"; fi
else
  fail "exitgated" "it was no longer running at the end"
fi

finish
