#!/bin/bash
# run-bench.sh [BUILD_DIR]: Exitgate beside microsocks, Dante and a direct
# baseline, in one run, on 127.0.0.1; prints one Markdown table.  Exitgate
# runs twice: with its direct exit, and chained through a second exitgated
# as a SOCKS5 upstream exit ("1 hop"; connections/s and bulk only).  The
# "floor" column is exg-floor, the least a SOCKS5 relay can do (one thread,
# epoll, no features): its CPU per connection is the kernel's TCP work on
# this machine, which every proxy pays (connections and bulk).
#
# Connections are measured in both closing orders: the target closes
# first (it closes after its echo, the proxy passes the FIN on, then the
# client closes), and the client closes first (it shuts down after the
# echo, the proxy passes the FIN on, the target closes, then the client).
# Then a SOCKS5 CONNECT to the name "localhost" (and SOCKS4a and RESOLVE,
# where the proxy speaks them) for the proxies that resolve names; the
# target listens on 127.0.0.1 and ::1, on one port, so the name reaches it
# either way.  A RESOLVE cycle is connect, greeting, F0, the answer, close.
#
# Builds nothing: exg-loadgen, exg-floor and exitgated come from BUILD_DIR
# (or from $EXG_LOADGEN / $EXG_FLOOR / $EXITGATED).  A proxy that is missing gets "n/a".
# Figures, not assertions: exits 0 whatever they are (2 only on misuse).
#
# The load generator and its target server share one core, each proxy gets
# another one (taskset), so that proxy CPU is what differs between columns.
# For connection runs the target is served inside the load generator's
# own loop (one process on that core); bulk and held connections use a
# separate target server.
# Proxy CPU comes from /proc/PID/stat (utime+stime of the proxy and its
# children), memory from VmRSS (summed over the process tree for Dante).
# The 1-hop column counts both exitgated processes, which share the proxy
# core.
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -u
shopt -s lastpipe

BUILD=${1:-${EXG_BUILD_ROOT:-build}}
LOADGEN=${EXG_LOADGEN:-$BUILD/tests/bench/exg-loadgen}
EXITGATED=${EXITGATED:-$BUILD/src/exitgated}
FLOOR=${EXG_FLOOR:-$BUILD/tests/bench/exg-floor}
CONN_S=${EXG_BENCH_CONN_SECONDS:-2}      # connections/s run, per proxy
LAT1_S=${EXG_BENCH_LAT1_SECONDS:-1}      # one-client latency run
BULK_S=${EXG_BENCH_BULK_SECONDS:-1}      # each of the four bulk runs
IDLE_N=${EXG_BENCH_IDLE_CONNECTIONS:-1000}
HOLD_MAX=${EXG_BENCH_HOLD_MAX:-20000}

if [ ! -x "$LOADGEN" ]; then
  echo "run-bench.sh: no load generator at $LOADGEN (build first: ninja -C $BUILD)" >&2
  exit 2
fi

# The hard limit is the ceiling for everyone; every process started here
# inherits the raised soft limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null

if [ "$(nproc)" -ge 2 ]; then
  PROXY_CPU=0
  GEN_CPU=1
  PIN_PROXY="taskset -c $PROXY_CPU"
  PIN_GEN="taskset -c $GEN_CPU"
else
  PIN_PROXY=""
  PIN_GEN=""
fi

TMP=$(mktemp -d /tmp/exg-bench.XXXXXX)
PIDS=()
# stop PID: TERM to it and to the processes it started, then, after at
# most 5 s, KILL; only processes this script started
stop() {
  local pid=$1 kids i
  kids=$(descendants "$pid")
  kill "$pid" $kids 2>/dev/null
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" $kids 2>/dev/null
  wait "$pid" 2>/dev/null
}
cleanup() {
  for p in "${PIDS[@]}"; do
    kill -0 "$p" 2>/dev/null && stop "$p"
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

CLK_TCK=$(getconf CLK_TCK)
declare -A R   # R[column.metric] = value

# --- process accounting ------------------------------------------------

descendants() {
  local p
  for p in $(pgrep -P "$1" 2>/dev/null); do
    echo "$p"
    descendants "$p"
  done
}

# utime+stime (+ reaped children's) of a process tree, in ticks
cpu_ticks() {
  local t=0 p v
  for p in "$1" $(descendants "$1"); do
    v=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$p/stat" 2>/dev/null) || continue
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# VmRSS of a process tree, in KiB
rss_kib() {
  local t=0 p v
  for p in "$1" $(descendants "$1"); do
    v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# key=value lines → "K V" pairs into R[col.K]
absorb() {
  local col=$1 prefix=$2 line
  while IFS= read -r line; do
    case $line in
      *=*) R[$col.$prefix${line%%=*}]=${line#*=} ;;
    esac
  done
}

# --- the target server ---------------------------------------------------

mkfifo "$TMP/srv.out"
$PIN_GEN "$LOADGEN" serve >"$TMP/srv.out" </dev/null &
PIDS+=($!)
exec 3<"$TMP/srv.out"
if ! read -r -t 10 _ TARGET_PORT <&3; then
  echo "run-bench.sh: the target server did not start" >&2
  exit 1
fi

# --- the proxies ------------------------------------------------------------

# What `localhost` resolves to depends on /etc/hosts for a proxy that asks
# getaddrinfo (microsocks, Dante); exitgated asks GLib, which answers
# `localhost` itself (::1, then 127.0.0.1).  A Debian 12 installation's
# /etc/hosts names it for both families, and getaddrinfo then gives ::1
# first (RFC 6724); some machines' give 127.0.0.1 alone, and a proxy
# there connects over IPv4, which costs the kernel less.  The paired
# rounds by name run microsocks both ways: with this machine's file, and
# with Debian's bound over it in a private mount namespace (root only).
DEBIAN_HOSTS=$TMP/hosts.debian
printf '127.0.0.1\tlocalhost\n\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n' \
  >"$DEBIAN_HOSTS"
# with_debian_hosts CMD...: CMD in a mount namespace of its own, where
# /etc/hosts is Debian's; the same process (unshare and sh exec), so its
# pid is the caller's $!
with_debian_hosts() {
  unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$DEBIAN_HOSTS" "$@"
}
localhost_addrs() {  # the addresses getaddrinfo gives for localhost, in order
  "$@" getent ahosts localhost | awk '$2 == "STREAM" { printf "%s%s", sep, $1; sep = ", " }'
}
HOSTS_HERE=$(localhost_addrs)
HOSTS_DEBIAN=$(localhost_addrs with_debian_hosts 2>/dev/null)

# launch_exitgated NAME FD [ARGS...]: starts exitgated on 127.0.0.1:0;
# sets EG_PID and EG_ADDR, or returns 1.  Its stdout stays open on FD (4
# or 7): no SIGPIPE if it prints more.
launch_exitgated() {
  local name=$1 fd=$2 line
  shift 2
  EG_PID=""
  EG_ADDR=""
  rm -f "$TMP/$name.out"
  mkfifo "$TMP/$name.out"
  $PIN_PROXY "$EXITGATED" --listen 127.0.0.1:0 "$@" >"$TMP/$name.out" 2>"$TMP/$name.log" </dev/null &
  EG_PID=$!
  PIDS+=($EG_PID)
  case $fd in
    4) exec 4<"$TMP/$name.out" ;;
    7) exec 7<"$TMP/$name.out" ;;
  esac
  if ! read -r -t 10 line <&"$fd" || [ "${line%% *}" != listening ]; then
    echo "run-bench.sh: exitgated ($name) did not start: $(head -c 300 "$TMP/$name.log")" >&2
    return 1
  fi
  EG_ADDR=${line#listening }
}

# start_proxy COLUMN: sets PROXY_PID (and UPSTREAM_PID) and PROXY_ADDR, or
# returns 1
start_proxy() {
  local col=$1 port
  PROXY_PID=""
  UPSTREAM_PID=""
  PROXY_ADDR=""
  case $col in
    exitgate)
      [ -x "$EXITGATED" ] || return 1
      launch_exitgated eg 4 || return 1
      PROXY_PID=$EG_PID
      PROXY_ADDR=$EG_ADDR
      ;;
    hop)
      [ -x "$EXITGATED" ] || return 1
      # the upstream: an exitgated with its direct exit
      launch_exitgated up 7 || return 1
      UPSTREAM_PID=$EG_PID
      printf '[exit up]\ntype=socks5\naddress=%s\nport=%s\n' \
        "${EG_ADDR%:*}" "${EG_ADDR##*:}" >"$TMP/front.conf"
      launch_exitgated eg 4 --config "$TMP/front.conf" || return 1
      PROXY_PID=$EG_PID
      PROXY_ADDR=$EG_ADDR
      ;;
    microsocks)
      command -v microsocks >/dev/null || return 1
      port=$("$LOADGEN" freeport)
      $PIN_PROXY microsocks -i 127.0.0.1 -p "$port" >"$TMP/microsocks.log" 2>&1 </dev/null &
      PROXY_PID=$!
      PIDS+=($PROXY_PID)
      PROXY_ADDR=127.0.0.1:$port
      ;;
    microsocks-debian)
      command -v microsocks >/dev/null && [ -n "$HOSTS_DEBIAN" ] || return 1
      port=$("$LOADGEN" freeport)
      with_debian_hosts $PIN_PROXY microsocks -i 127.0.0.1 -p "$port" >"$TMP/microsocks-debian.log" 2>&1 </dev/null &
      PROXY_PID=$!
      PIDS+=($PROXY_PID)
      PROXY_ADDR=127.0.0.1:$port
      ;;
    dante)
      command -v danted >/dev/null || return 1
      port=$("$LOADGEN" freeport)
      cat >"$TMP/danted.conf" <<EOF
logoutput: stderr
internal: 127.0.0.1 port = $port
external: 127.0.0.1
external: ::1
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {
  from: 127.0.0.0/8 to: 0.0.0.0/0
  log: error
}
socks pass {
  from: 127.0.0.0/8 to: 0/0
  command: connect
  log: error
}
EOF
      # no -D: stays in the foreground, so its pid is ours to stop
      $PIN_PROXY danted -f "$TMP/danted.conf" -p "$TMP/danted.pid" >"$TMP/danted.log" 2>&1 </dev/null &
      PROXY_PID=$!
      PIDS+=($PROXY_PID)
      PROXY_ADDR=127.0.0.1:$port
      ;;
    floor)
      [ -x "$FLOOR" ] || return 1
      rm -f "$TMP/floor.out"
      mkfifo "$TMP/floor.out"
      $PIN_PROXY "$FLOOR" >"$TMP/floor.out" </dev/null &
      PROXY_PID=$!
      PIDS+=($PROXY_PID)
      exec 4<"$TMP/floor.out"
      if ! read -r -t 10 _ port <&4; then
        echo "run-bench.sh: exg-floor did not start" >&2
        return 1
      fi
      PROXY_ADDR=127.0.0.1:$port
      ;;
    direct)
      PROXY_ADDR=direct
      return 0
      ;;
  esac
  if ! "$LOADGEN" waitport "$PROXY_ADDR"; then
    echo "run-bench.sh: $col is not accepting on $PROXY_ADDR" >&2
    return 1
  fi
  return 0
}

stop_proxy() {
  [ -n "$PROXY_PID" ] && stop "$PROXY_PID"
  [ -n "$UPSTREAM_PID" ] && stop "$UPSTREAM_PID"
  exec 4<&- 7<&-
  rm -f "$TMP/eg.out" "$TMP/up.out" "$TMP/floor.out"
  return 0
}

# proxy_ticks: CPU ticks of the proxy, and of its upstream if it has one
proxy_ticks() {
  local t
  t=$(cpu_ticks "$PROXY_PID")
  [ -n "$UPSTREAM_PID" ] && t=$((t + $(cpu_ticks "$UPSTREAM_PID")))
  echo "$t"
}

gen() {
  $PIN_GEN "$LOADGEN" "$@" --proxy "$PROXY_ADDR" --target "$TARGET_PORT"
}

# gen_conn ARGS...: a connection run whose target is served in the load
# generator's own epoll loop: a second process on the generator's core
# would cost the proxy a rescheduling interrupt every time it wakes it
# (see exg-floor.c)
gen_conn() {
  $PIN_GEN "$LOADGEN" conn "$@" --proxy "$PROXY_ADDR" --target self
}

# hold COUNT KEY: opens up to COUNT relayed connections; sets HELD,
# HOLD_RSS (proxy tree VmRSS while holding) and R[col.KEY_why]
hold() {
  local line pid
  HELD=0
  HOLD_RSS=0
  rm -f "$TMP/hold.in" "$TMP/hold.out"
  mkfifo "$TMP/hold.in" "$TMP/hold.out"
  $PIN_GEN "$LOADGEN" hold --proxy "$PROXY_ADDR" --target "$TARGET_PORT" \
    --max "$1" <"$TMP/hold.in" >"$TMP/hold.out" &
  pid=$!
  PIDS+=($pid)
  exec 5>"$TMP/hold.in" 6<"$TMP/hold.out"
  while read -r -t 120 line <&6; do
    case $line in
      held=*) HELD=${line#held=} ;;
      stopped=*) R[$col.$2_why]=${line#stopped=} ;;
      errors=*) break ;;
    esac
  done
  if [ -n "$PROXY_PID" ]; then
    HOLD_RSS=$(rss_kib "$PROXY_PID")
  fi
  echo >&5                      # let go
  exec 5>&- 6<&-
  wait "$pid" 2>/dev/null
}

# conn_run COLUMN KEY LOADGEN-ARGS...: 32 clients for CONN_S seconds;
# R[col.c32KEY_*] and R[col.cpuKEY_us], the proxy's CPU per connection
conn_run() {
  local col=$1 key=$2 c0 c1
  shift 2
  [ -n "$PROXY_PID" ] && c0=$(proxy_ticks)
  gen_conn --clients 32 --seconds "$CONN_S" "$@" | absorb "$col" "c32${key}_"
  [ -n "$PROXY_PID" ] && c1=$(proxy_ticks) &&
    R[$col.cpu${key}_us]=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="${R[$col.c32${key}_conns]:-0}" \
      'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "n/a" }')
}

# bulk_runs COLUMN: 1 and 8 streams, up and down; R[col.bulk_*] and
# R[col.cpu_gb_ms], the proxy's CPU per GB over the four
bulk_runs() {
  local col=$1 c0 c1 bytes=0 d s
  [ -n "$PROXY_PID" ] && c0=$(proxy_ticks)
  for d in up down; do
    for s in 1 8; do
      gen bulk --streams $s --dir $d --seconds "$BULK_S" | absorb "$col" "bulk_${d}${s}_"
      bytes=$((bytes + ${R[$col.bulk_${d}${s}_bytes]:-0}))
    done
  done
  [ -n "$PROXY_PID" ] && c1=$(proxy_ticks) &&
    R[$col.cpu_gb_ms]=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v b="$bytes" \
      'BEGIN { if (b > 0) printf "%.0f", t * 1e3 / hz / (b / 1e9); else print "n/a" }')
}

run_column() {
  local col=$1 rss0

  if ! start_proxy "$col"; then
    R[$col.missing]=1
    stop_proxy
    return
  fi
  echo "# $col on $PROXY_ADDR (t=${SECONDS}s)" >&2

  # warm-up: lazy initialisation is not per-connection cost
  gen_conn --clients 4 --seconds 0.2 >/dev/null

  # connections in both closing orders (t: the target closes first, c:
  # the client does), then by name where the proxy resolves names
  for o in t c; do
    conn_run "$col" "$o" --close "$([ $o = t ] && echo target || echo client)"
  done
  case $col in
    exitgate|hop|microsocks|dante)
      # warm-up: a resolver's threads are started once
      gen_conn --clients 4 --seconds 0.2 --name localhost >/dev/null
      conn_run "$col" n5 --name localhost
      # microsocks speaks SOCKS5 only; Dante takes a SOCKS4a request for
      # the IPv4 address 0.0.0.1 it names, and fails
      case $col in
        exitgate|hop)
          conn_run "$col" n4 --name localhost --socks 4a
          # RESOLVE (F0): Tor's extension, which neither of the others speaks
          conn_run "$col" r5 --name localhost --request resolve
          ;;
      esac
      ;;
  esac
  # the floor: connections and bulk; the chained column: connections/s
  # and bulk only, to keep the run short
  if [ "$col" != hop ]; then
    for o in t c; do
      gen_conn --clients 1 --seconds "$LAT1_S" --close "$([ $o = t ] && echo target || echo client)" |
        absorb "$col" "c1${o}_"
    done
  fi
  if [ "$col" = floor ]; then
    bulk_runs "$col"
    stop_proxy
    return
  fi

  # idle connections: memory per relayed connection held open
  if [ -n "$PROXY_PID" ] && [ "$col" != hop ]; then
    rss0=$(rss_kib "$PROXY_PID")
    hold "$IDLE_N" idle
    R[$col.idle_held]=$HELD
    R[$col.rss_conn_kib]=$(awk -v a="$rss0" -v b="$HOLD_RSS" -v n="$HELD" \
      'BEGIN { if (n > 0) printf "%.2f", (b - a) / n; else print "n/a" }')
  fi

  bulk_runs "$col"

  # last, as it may leave the proxy out of descriptors
  if [ "$col" != hop ]; then
    echo "# $col: holding connections (t=${SECONDS}s)" >&2
    hold "$HOLD_MAX" held
    R[$col.held]=$HELD
  fi

  stop_proxy
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
all_cpus() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $9 }' /proc/stat; }
CPUS_BEFORE=$(all_cpus)

# Paired rounds: exitgated and the floor, PAIRS times, each closing order
# run by the two back to back (ABBA: exitgated, floor, then floor,
# exitgated for the other order, and the next round the other way round),
# each pair's ratio and their median.  One run of each column (the main
# table) can land on a moment of load the other missed; runs a second
# apart rarely do, and the alternating order cancels what running second
# costs or saves.  They run first, before the held connections of the
# columns leave thousands of loopback ports in TIME_WAIT, which makes
# every later connect()'s port search dearer.
PAIRS=${EXG_BENCH_PAIRS:-9}
PAIR_S=${EXG_BENCH_PAIR_SECONDS:-1}      # each run of a paired round
pair_run() {  # pair_run N COLUMN ORDER
  start_proxy "$2" || { stop_proxy; return 1; }
  gen_conn --clients 4 --seconds 0.2 >/dev/null
  CONN_S=$PAIR_S conn_run "pair$1_$2" "$3" --close "$([ "$3" = t ] && echo target || echo client)"
  stop_proxy
}
pair_round() {  # pair_round N
  local first=exitgate second=floor
  if [ $(($1 % 2)) -eq 0 ]; then first=floor; second=exitgate; fi
  pair_run "$1" $first t && pair_run "$1" $second t &&
    pair_run "$1" $second c && pair_run "$1" $first c
}
if [ -x "$EXITGATED" ] && [ -x "$FLOOR" ]; then
  for ((p = 1; p <= PAIRS; p++)); do
    echo "# paired round $p (t=${SECONDS}s)" >&2
    pair_round "$p"
  done
fi

# Paired rounds by name: exitgated's SOCKS5 and SOCKS4a CONNECT to
# "localhost" and its RESOLVE, and microsocks' SOCKS5 CONNECT to it (with
# this machine's /etc/hosts, and with Debian's where it can be had), back
# to back, NAME_PAIRS times, the order rotating.  microsocks' rate moves
# by half between single runs (a thread per connection on a contended
# core); runs a second apart move together.
NAME_PAIRS=${EXG_BENCH_NAME_PAIRS:-5}
name_pair_run() {  # name_pair_run N COLUMN
  start_proxy "$2" || { stop_proxy; return 1; }
  gen_conn --clients 4 --seconds 0.2 --name localhost >/dev/null
  CONN_S=$PAIR_S conn_run "npair$1_$2" n5 --name localhost
  if [ "$2" = exitgate ]; then
    CONN_S=$PAIR_S conn_run "npair$1_$2" n4 --name localhost --socks 4a
    CONN_S=$PAIR_S conn_run "npair$1_$2" r5 --name localhost --request resolve
  fi
  stop_proxy
}
NAME_ROUND=(exitgate microsocks microsocks-debian)
if [ -x "$EXITGATED" ] && command -v microsocks >/dev/null; then
  for ((p = 1; p <= NAME_PAIRS; p++)); do
    echo "# paired round by name $p (t=${SECONDS}s)" >&2
    for ((i = 0; i < 3; i++)); do
      name_pair_run "$p" "${NAME_ROUND[(p - 1 + i) % 3]}"
    done
  done
else
  NAME_PAIRS=0
fi

# Paired bulk rounds: 8 streams up, then down, through exitgated, the
# floor and no proxy at all, back to back, BULK_PAIRS times, the order
# rotating; each round's ratios to direct and their median.  A second of
# bulk swings by a quarter from one run to the next on a shared machine;
# runs a second apart swing together.  Each run also reads how busy both
# cores were (/proc/stat): direct keeps the load generator's core busy by
# itself, and a relay can only go as fast as that core lets it.
BULK_PAIRS=${EXG_BENCH_BULK_PAIRS:-6}
BULK_ROUND=(exitgate floor direct)
# cpu_line N: busy, total and stolen ticks of CPU N so far.  Busy is
# what ran (idle, iowait and steal left out); steal is time the
# hypervisor kept a runnable virtual CPU from running.
cpu_line() {
  awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6 - $9, t, $9 }' /proc/stat
}
bulk_pair_run() {  # bulk_pair_run N COLUMN
  local col=bpair$1_$2 d g0 g1 p0 p1 bytes=0
  start_proxy "$2" || { stop_proxy; return 1; }
  [ -n "${GEN_CPU:-}" ] && g0=$(cpu_line "$GEN_CPU") && p0=$(cpu_line "$PROXY_CPU")
  for d in up down; do
    gen bulk --streams 8 --dir $d --seconds "$BULK_S" | absorb "$col" "bulk_${d}8_"
    bytes=$((bytes + ${R[$col.bulk_${d}8_bytes]:-0}))
  done
  if [ -n "${GEN_CPU:-}" ]; then
    g1=$(cpu_line "$GEN_CPU"); p1=$(cpu_line "$PROXY_CPU")
    # busy %, and the generator core's busy milliseconds per GB moved
    R[$col.gen_busy]=$(awk -v a="$g0" -v b="$g1" 'BEGIN { split(a, x, " "); split(b, y, " ");
      if (y[2] > x[2]) printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]); else print "n/a" }')
    R[$col.proxy_busy]=$(awk -v a="$p0" -v b="$p1" 'BEGIN { split(a, x, " "); split(b, y, " ");
      if (y[2] > x[2]) printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]); else print "n/a" }')
    R[$col.steal_ms]=$(awk -v a="$g0 $p0" -v b="$g1 $p1" -v hz="$CLK_TCK" 'BEGIN { split(a, x, " "); split(b, y, " ");
      printf "%.0f", (y[3] - x[3] + y[6] - x[6]) * 1e3 / hz }')
    R[$col.gen_ms_gb]=$(awk -v a="$g0" -v b="$g1" -v n="$bytes" -v hz="$CLK_TCK" 'BEGIN { split(a, x, " "); split(b, y, " ");
      if (n > 0) printf "%.0f", (y[1] - x[1]) * 1e3 / hz / (n / 1e9); else print "n/a" }')
  fi
  stop_proxy
}
if [ -x "$EXITGATED" ] && [ -x "$FLOOR" ]; then
  for ((p = 1; p <= BULK_PAIRS; p++)); do
    echo "# paired bulk round $p (t=${SECONDS}s)" >&2
    for ((i = 0; i < 3; i++)); do
      bulk_pair_run "$p" "${BULK_ROUND[(p - 1 + i) % 3]}"
    done
  done
fi

COLUMNS=(exitgate hop microsocks dante floor direct)
# run the floor right after exitgate: the check that compares the two is
# then least exposed to load that comes and goes on a shared machine
for col in exitgate floor hop microsocks dante direct; do
  run_column "$col"
done

# splice_column KEY THRESHOLD: exitgated's bulk runs again, with
# EXITGATE_SPLICE_AFTER=THRESHOLD (bytes, or "never"): when a transfer
# stops copying through user space and splices; and a connection run
# (target closes first), whose 64-byte echo gets a pipe each way when the
# threshold is 0: what a pipe costs.  The default threshold's figures are
# the exitgate column's own.
splice_column() {
  local col=$1
  export EXITGATE_SPLICE_AFTER=$2
  launch_exitgated eg 4 || { R[$col.missing]=1; unset EXITGATE_SPLICE_AFTER; return; }
  unset EXITGATE_SPLICE_AFTER
  PROXY_PID=$EG_PID
  PROXY_ADDR=$EG_ADDR
  UPSTREAM_PID=""
  echo "# exitgate, splicing after $2 (t=${SECONDS}s)" >&2
  gen_conn --clients 4 --seconds 0.2 >/dev/null
  conn_run "$col" t --close target
  bulk_runs "$col"
  stop_proxy
}
if [ -x "$EXITGATED" ]; then
  splice_column splice_never never
  splice_column splice_64k 65536
  splice_column splice_1m 1048576
  splice_column splice_0 0
fi


# --- the table -------------------------------------------------------------

v() {  # v COLUMN KEY: the value, or n/a
  if [ -n "${R[$1.missing]:-}" ]; then echo "n/a"; return; fi
  echo "${R[$1.$2]:-n/a}"
}
gbit() {  # Gbit/s from Mbit/s, marked when a byte was wrong or a stream was slow to start
  local m=${R[$1.$2_mbps]:-} ok=${R[$1.$2_verified]:-} setup=${R[$1.$2_setup_ms_max]:-0}
  if [ -n "${R[$1.missing]:-}" ] || [ -z "$m" ]; then echo "n/a"; return; fi
  awk -v m="$m" -v ok="$ok" -v setup="$setup" 'BEGIN {
    note = ok == "yes" ? "" : " (NOT VERIFIED)"
    if (setup + 0 > 500) note = note sprintf(" (a stream took %.0f ms to connect)", setup)
    printf "%.2f%s", m / 1000, note }'
}
# check VALUE OP LIMIT TEXT: "TEXT ✓" / "TEXT ✗" / "TEXT ?"
check() {
  awk -v a="$1" -v op="$2" -v b="$3" -v t="$4" 'BEGIN {
    if (a !~ /^[0-9.]+/ || b !~ /^[0-9.]+/) { printf "%s ?", t; exit }
    a += 0; b += 0
    ok = (op == ">=") ? a >= b : a <= b
    printf "%s %s", t, ok ? "✓" : "✗" }'
}
mul() { awk -v a="$1" -v f="$2" 'BEGIN { if (a ~ /^[0-9.]+/) printf "%.2f", a * f; else print "n/a" }'; }
lat() { echo "$(v "$1" "$2p50_us") / $(v "$1" "$2p99_us")"; }

EG=exitgate
row() {  # row LABEL E H M D F X TARGET
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$@"
}

echo
echo "Proxy benchmark, $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(date -u +%Y-%m-%d)"
echo "Load generator and target on CPU ${GEN_CPU:-any}, proxy on CPU ${PROXY_CPU:-any}; fd limit $(ulimit -n);"
echo "load average before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures);"
echo "$(awk -v a="$CPUS_BEFORE" -v b="$(all_cpus)" 'BEGIN { split(a, x, " "); split(b, y, " ");
  if (y[1] > x[1]) printf "%.1f", 100 * (y[2] - x[2]) / (y[1] - x[1]); else print "n/a" }') % of the CPU time during the run was stolen by the hypervisor."
echo
row "metric" "exitgate (direct exit)" "exitgate → 1 hop" "microsocks" "dante" "floor" "direct" "target (exitgate)"
row "---" "---:" "---:" "---:" "---:" "---:" "---:" "---"

# ratio A B LIMIT TEXT: "TEXT ✓/✗" for A ≤ LIMIT × B (or ≥, with OP)
ratio_check() {  # ratio_check A OP FACTOR B TEXT
  check "$1" "$2" "$(mul "$4" "$3")" "$5"
}
ORDER_T="target closes first"
ORDER_C="client closes first"
ms_rate=$(v microsocks c32t_rate)
for o in t c; do
  [ $o = t ] && on=$ORDER_T || on=$ORDER_C
  row "connections/s, 32 clients, $on" "$(v $EG c32${o}_rate)" "$(v hop c32${o}_rate)" "$(v microsocks c32${o}_rate)" \
    "$(v dante c32${o}_rate)" "$(v floor c32${o}_rate)" "$(v direct c32${o}_rate)" \
    "$(ratio_check "$(v $EG c32${o}_rate)" ">=" 1.5 "$(v microsocks c32${o}_rate)" "≥ 1.5× microsocks")"
done
row "connections/s, 32 clients, SOCKS5 CONNECT to \`localhost\`" "$(v $EG c32n5_rate)" "$(v hop c32n5_rate)" \
  "$(v microsocks c32n5_rate)" "$(v dante c32n5_rate)" "–" "–" \
  "$(ratio_check "$(v $EG c32n5_rate)" ">=" 1.5 "$(v microsocks c32n5_rate)" "≥ 1.5× microsocks")"
row "connections/s, 32 clients, SOCKS4a CONNECT to \`localhost\`" "$(v $EG c32n4_rate)" "$(v hop c32n4_rate)" \
  "–" "–" "–" "–" \
  "$(ratio_check "$(v $EG c32n4_rate)" ">=" 1.5 "$(v microsocks c32n5_rate)" "≥ 1.5× microsocks (SOCKS5)")"
row "requests/s, 32 clients, RESOLVE (F0) of \`localhost\`" "$(v $EG c32r5_rate)" "$(v hop c32r5_rate)" \
  "–" "–" "–" "–" \
  "$(ratio_check "$(v $EG c32r5_rate)" ">=" 1.5 "$(v microsocks c32n5_rate)" "≥ 1.5× microsocks (SOCKS5 CONNECT)")"
for o in t c; do
  [ $o = t ] && on=$ORDER_T || on=$ORDER_C
  row "latency p50 / p99, 32 clients, $on (µs)" "$(lat $EG c32${o}_)" "$(lat hop c32${o}_)" "$(lat microsocks c32${o}_)" \
    "$(lat dante c32${o}_)" "$(lat floor c32${o}_)" "$(lat direct c32${o}_)" \
    "$(ratio_check "$(v $EG c32${o}_p50_us)" "<=" 1.3 "$(v floor c32${o}_p50_us)" "p50 ≤ 1.3× floor")"
done
for o in t c; do
  [ $o = t ] && on=$ORDER_T || on=$ORDER_C
  row "latency p50 / p99, 1 client, $on (µs)" "$(lat $EG c1${o}_)" "–" "$(lat microsocks c1${o}_)" \
    "$(lat dante c1${o}_)" "$(lat floor c1${o}_)" "$(lat direct c1${o}_)" ""
done
for d in up down; do
  for s in 1 8; do
    k=bulk_${d}${s}
    e=$(gbit $EG $k); dd=$(gbit dante $k); x=$(gbit direct $k)
    row "bulk $d, $s stream$([ $s = 1 ] || echo s) (Gbit/s)" "$e" "$(gbit hop $k)" "$(gbit microsocks $k)" "$dd" "$(gbit floor $k)" "$x" \
      "$(check "$e" ">=" "$(mul "$dd" 1.8)" "≥ 1.8× dante"), $(check "$e" ">=" "$(mul "$x" "$([ $s = 1 ] && echo 0.7 || echo 0.75)")" "≥ $([ $s = 1 ] && echo 0.7 || echo 0.75)× direct")"
  done
done
verified_mbps() {  # verified_mbps COLUMN KEY: the rate, if every byte arrived intact
  [ "${R[$1.$2_verified]:-}" = yes ] && echo "${R[$1.$2_mbps]:-n/a}" || echo "n/a"
}
median() {  # median FORMAT VALUES...: of those that are numbers, or n/a
  local fmt=$1
  shift
  printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -n |
    awk -v f="$fmt" '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) printf f, a[(NR + 1) / 2]; else printf f, (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
ratio() {  # ratio A B: A ÷ B to two places, or n/a
  awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "n/a" }'
}
over() {  # over US FLOOR_US: US as a multiple of FLOOR_US
  awk -v u="$1" -v f="$2" 'BEGIN { if (u ~ /^[0-9.]+$/ && f ~ /^[0-9.]+$/ && f > 0) printf "%.2f×", u / f; else print "n/a" }'
}
per_cpu() { awk -v u="$1" 'BEGIN { if (u ~ /^[0-9.]+$/ && u > 0) printf "%.0f", 1e6 / u; else print "n/a" }'; }
for o in t c; do
  [ $o = t ] && on=$ORDER_T || on=$ORDER_C
  ms_cpu=$(v microsocks cpu${o}_us)
  fl_cpu=$(v floor cpu${o}_us)
  row "proxy CPU per connection, $on (µs)" "$(v $EG cpu${o}_us)" "$(v hop cpu${o}_us)" "$ms_cpu" \
    "$(v dante cpu${o}_us)" "$fl_cpu" "–" \
    "$(ratio_check "$(v $EG cpu${o}_us)" "<=" 0.6 "$ms_cpu" "≤ 0.6× microsocks")"
  row "… relative to the floor" "$(over "$(v $EG cpu${o}_us)" "$fl_cpu")" "$(over "$(v hop cpu${o}_us)" "$fl_cpu")" \
    "$(over "$ms_cpu" "$fl_cpu")" "$(over "$(v dante cpu${o}_us)" "$fl_cpu")" "$(over "$fl_cpu" "$fl_cpu")" "–" \
    "$(ratio_check "$(v $EG cpu${o}_us)" "<=" 1.25 "$fl_cpu" "≤ 1.25× floor")"
  row "connections per proxy CPU-second, $on" "$(per_cpu "$(v $EG cpu${o}_us)")" "$(per_cpu "$(v hop cpu${o}_us)")" \
    "$(per_cpu "$ms_cpu")" "$(per_cpu "$(v dante cpu${o}_us)")" "$(per_cpu "$fl_cpu")" "–" ""
done
row "proxy CPU per connection, SOCKS5 to \`localhost\` (µs)" "$(v $EG cpun5_us)" "$(v hop cpun5_us)" \
  "$(v microsocks cpun5_us)" "$(v dante cpun5_us)" "–" "–" ""
row "proxy CPU per GB (ms)" "$(v $EG cpu_gb_ms)" "$(v hop cpu_gb_ms)" "$(v microsocks cpu_gb_ms)" "$(v dante cpu_gb_ms)" "$(v floor cpu_gb_ms)" "–" ""
row "RSS per idle connection (KiB, $IDLE_N held)" "$(v $EG rss_conn_kib)" "–" "$(v microsocks rss_conn_kib)" \
  "$(v dante rss_conn_kib)" "–" "–" "$(check "$(v $EG rss_conn_kib)" "<=" 4 "≤ 4 KiB")"
row "connections held at most" "$(v $EG held)" "–" "$(v microsocks held)" "$(v dante held)" "–" "$(v direct held)" \
  "$(check "$(v $EG held)" ">=" 9900 "≥ 9,900")"
errs=""
for col in "${COLUMNS[@]}"; do
  if [ -n "${R[$col.missing]:-}" ]; then
    errs="$errs | n/a"
    continue
  fi
  e=0
  for k in c32t c32c c32n5 c32n4 c32r5 c1t c1c; do
    e=$((e + ${R[$col.${k}_errors]:-0}))
  done
  errs="$errs | $e"
done
echo "| errors (all connection runs)$errs | |"
echo
for col in "${COLUMNS[@]}"; do
  [ -n "${R[$col.held_why]:-}" ] && echo "Held connections, $col: ${R[$col.held_why]}."
done
echo "By name, microsocks and Dante resolved \`localhost\` with this machine's /etc/hosts: ${HOSTS_HERE:-nothing}."
if [ "$PAIRS" -gt 0 ] 2>/dev/null; then
  echo "Proxy CPU per connection, exitgated ÷ the floor, in $PAIRS paired rounds (each closing order run"
  echo "by the two back to back, ${PAIR_S} s each, which first alternating; µs / µs = ratio), and the median:"
  echo
  echo "| round | $ORDER_T | $ORDER_C |"
  echo "| --- | ---: | ---: |"
  declare -A RATIOS=()
  for ((p = 1; p <= PAIRS; p++)); do
    line="| $p"
    for o in t c; do
      e=$(v "pair${p}_exitgate" cpu${o}_us); f=$(v "pair${p}_floor" cpu${o}_us)
      r=$(ratio "$e" "$f")
      line="$line | $e / $f = ${r}×"
      RATIOS[$o]="${RATIOS[$o]:-} $r"
    done
    echo "$line |"
  done
  line="| median"
  for o in t c; do
    med=$(median %.2f ${RATIOS[$o]})
    line="$line | $(check "$med" "<=" 1.25 "${med}× (≤ 1.25×)")"
  done
  echo "$line |"
  # Load from elsewhere only ever adds CPU time: each one's least-disturbed
  # run is its best estimate, and their ratio the steadiest one
  line="| best run of each"
  for o in t c; do
    best=$(for ((p = 1; p <= PAIRS; p++)); do echo "$(v "pair${p}_exitgate" cpu${o}_us) $(v "pair${p}_floor" cpu${o}_us)"; done |
      awk '$1 ~ /^[0-9.]+$/ && (e == "" || $1 < e) { e = $1 } $2 ~ /^[0-9.]+$/ && (f == "" || $2 < f) { f = $2 }
           END { if (e == "" || f == "" || f == 0) print "n/a"; else printf "%s / %s = %.2f", e, f, e / f }')
    line="$line | ${best}×"
  done
  echo "$line |"
  echo
fi
if [ "$NAME_PAIRS" -gt 0 ] 2>/dev/null; then
  echo "By name, exitgated ÷ microsocks' SOCKS5 CONNECT to \`localhost\`, in $NAME_PAIRS rounds (each runs exitgated,"
  echo "microsocks with this machine's /etc/hosts and microsocks with a Debian 12 installation's back to back,"
  echo "${PAIR_S} s each, the order rotating; rate / rate = ratio), and the median.  \`localhost\` was, to exitgated"
  echo "(GLib answers it itself): ::1, 127.0.0.1; to microsocks (getaddrinfo) with this machine's /etc/hosts:"
  echo "${HOSTS_HERE:-nothing}; with Debian's: ${HOSTS_DEBIAN:-n/a (needs root and a mount namespace)}."
  echo
  echo "| round | SOCKS5 CONNECT | SOCKS4a CONNECT | RESOLVE (F0) | SOCKS5 CONNECT ÷ microsocks, Debian's /etc/hosts | proxy CPU per SOCKS5 CONNECT (µs): exitgate / microsocks / with Debian's hosts |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  declare -A NR=()
  for ((p = 1; p <= NAME_PAIRS; p++)); do
    m=$(v "npair${p}_microsocks" c32n5_rate)
    line="| $p"
    for k in c32n5 c32n4 c32r5; do
      e=$(v "npair${p}_exitgate" ${k}_rate)
      r=$(ratio "$e" "$m")
      line="$line | $e / $m = ${r}×"
      NR[$k]="${NR[$k]:-} $r"
    done
    e=$(v "npair${p}_exitgate" c32n5_rate); m=$(v "npair${p}_microsocks-debian" c32n5_rate)
    r=$(ratio "$e" "$m")
    NR[deb]="${NR[deb]:-} $r"
    line="$line | $e / $m = ${r}×"
    echo "$line | $(v "npair${p}_exitgate" cpun5_us) / $(v "npair${p}_microsocks" cpun5_us) / $(v "npair${p}_microsocks-debian" cpun5_us) |"
  done
  line="| median"
  for k in c32n5 c32n4 c32r5 deb; do
    med=$(median %.2f ${NR[$k]})
    line="$line | $(check "$med" ">=" 1.5 "${med}× (≥ 1.5×)")"
  done
  echo "$line | |"
  echo
fi
if [ "$BULK_PAIRS" -gt 0 ] 2>/dev/null; then
  echo "Bulk on 8 streams, exitgated and the floor ÷ direct, in $BULK_PAIRS rounds (each runs the three back"
  echo "to back, up then down, ${BULK_S} s each, the order rotating; Gbit/s ÷ Gbit/s = ratio), and the median:"
  echo
  echo "| round | up, exitgate | up, floor | down, exitgate | down, floor |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  declare -A BR=()
  for ((p = 1; p <= BULK_PAIRS; p++)); do
    line="| $p"
    for d in up down; do
      x=$(gbit "bpair${p}_direct" bulk_${d}8)
      for c in exitgate floor; do
        e=$(gbit "bpair${p}_$c" bulk_${d}8)
        # the ratio of the rates, of verified runs only
        r=$(ratio "$(verified_mbps "bpair${p}_$c" bulk_${d}8)" "$(verified_mbps "bpair${p}_direct" bulk_${d}8)")
        line="$line | $e / $x = ${r}×"
        BR[$d$c]="${BR[$d$c]:-} $r"
      done
    done
    echo "$line |"
  done
  line="| median"
  for d in up down; do
    for c in exitgate floor; do
      med=$(median %.2f ${BR[$d$c]})
      if [ $c = exitgate ]; then line="$line | $(check "$med" ">=" 0.75 "${med}× (≥ 0.75×)")"; else line="$line | ${med}×"; fi
    done
  done
  echo "$line |"
  echo
  echo "In those rounds (medians): how busy the load generator's core and the proxy's core were, and how"
  echo "much CPU time the load generator's core spent per GB moved (its client and the target both run"
  echo "there; busy is what ran, and time the hypervisor stole is counted apart):"
  echo
  echo "| | exitgate | floor | direct |"
  echo "| --- | ---: | ---: | ---: |"
  for m in gen_busy:"load generator's core busy (%)" proxy_busy:"proxy's core busy (%)" gen_ms_gb:"load generator's core, ms per GB" \
      steal_ms:"stolen by the hypervisor from both cores (ms, over the two runs)"; do
    line="| ${m#*:}"
    for c in exitgate floor direct; do
      vals=""
      for ((p = 1; p <= BULK_PAIRS; p++)); do vals="$vals $(v "bpair${p}_$c" "${m%%:*}")"; done
      line="$line | $(median %.0f $vals)"
    done
    echo "$line |"
  done
  echo
fi
echo "When exitgated's relay splices (bulk, Gbit/s, and proxy CPU per GB over the four runs):"
echo
echo "| splice after | bulk up, 1 stream | bulk up, 8 streams | bulk down, 1 stream | bulk down, 8 streams | proxy CPU per GB (ms) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for sc in splice_never:"never (copy only)" splice_64k:"64 KiB" exitgate:"128 KiB (default)" splice_1m:"1 MiB" splice_0:"the first byte" direct:"direct (no proxy)"; do
  col=${sc%%:*}
  line="| ${sc#*:}"
  for d in up down; do
    for s in 1 8; do
      line="$line | $(gbit "$col" bulk_${d}${s})"
    done
  done
  [ "$col" = direct ] && line="$line | – |" || line="$line | $(v "$col" cpu_gb_ms) |"
  echo "$line"
done
echo
# The break-even: a pipe's cost (CPU per echo connection splicing from
# the first byte, a pipe each way, less copying only) over what splicing
# saves per byte (CPU per GB copying less splicing from the first byte)
pipe_us=$(awk -v a="$(v splice_0 cput_us)" -v b="$(v splice_never cput_us)" \
  'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/) printf "%.1f", (a - b) / 2; else print "n/a" }')
save_ns=$(awk -v a="$(v splice_never cpu_gb_ms)" -v b="$(v splice_0 cpu_gb_ms)" \
  'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/) printf "%.3f", (a - b) / 1000; else print "n/a" }')
even=$(awk -v p="$pipe_us" -v s="$save_ns" \
  'BEGIN { if (p ~ /^-?[0-9.]+$/ && s ~ /^-?[0-9.]+$/ && p > 0 && s > 0) printf "%.0f KiB", p * 1000 / s / 1024; else print "n/a" }')
echo "Measured in the same run: a pipe costs $pipe_us µs of proxy CPU ($(v splice_0 cput_us) µs per echo connection"
echo "splicing from the first byte, $(v splice_never cput_us) µs copying only; one pipe each way), and splicing"
echo "saves $save_ns ns per byte: the break-even is $even per direction."
echo
echo "floor: exg-floor, the least a SOCKS5 relay can do (one thread, epoll, no features); its CPU per"
echo "connection is the kernel's TCP work for one relayed connection on this machine, which every proxy pays."
echo "Closing orders: \"target closes first\": the target closes after its echo, the proxy passes the FIN on,"
echo "the client closes; \"client closes first\": the client's FIN goes first, the target answers with its own."
echo "By name: SOCKS5 (and SOCKS4a) CONNECT to \"localhost\", which the proxy resolves; microsocks speaks no"
echo "SOCKS4, Dante no SOCKS4a, the floor takes IPv4 literals only.  RESOLVE: Tor's F0 for \"localhost\", one"
echo "per connection (connect, greeting, F0, the answer, close); only exitgated speaks it."
echo "Every bulk byte is checked against a pattern; \"NOT VERIFIED\" marks a run that lost or changed data."
echo "On a busy machine the CPU figures are steadier than the rates: a single-threaded proxy gets one"
echo "thread's share of a contended core, a thread-per-connection one gets more."
echo "Dante's memory and CPU are summed over its processes; its RSS counts shared pages once per process."
exit 0
