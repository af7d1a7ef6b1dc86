#!/bin/bash
# run-bench.sh [BUILD_DIR]: Exitgate beside microsocks, Dante and a direct
# baseline, in one run, on 127.0.0.1; prints one Markdown table.  Exitgate
# runs twice: with its direct exit, and chained through a second exitgated
# as a SOCKS5 upstream exit ("1 hop"; connections/s and bulk only).  The
# "floor" column is exg-floor, the least a SOCKS5 relay can do (one thread,
# epoll, no features): its CPU per connection is the kernel's TCP work on
# this machine, which every proxy pays (connection rate and CPU only).
#
# Builds nothing: exg-loadgen, exg-floor and exitgated come from BUILD_DIR
# (or from $EXG_LOADGEN / $EXG_FLOOR / $EXITGATED).  A proxy that is missing gets "n/a".
# Figures, not assertions: exits 0 whatever they are (2 only on misuse).
#
# The load generator and its target server share one core, each proxy gets
# another one (taskset), so that proxy CPU is what differs between columns.
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
    dante)
      command -v danted >/dev/null || return 1
      port=$("$LOADGEN" freeport)
      cat >"$TMP/danted.conf" <<EOF
logoutput: stderr
internal: 127.0.0.1 port = $port
external: 127.0.0.1
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {
  from: 127.0.0.0/8 to: 0.0.0.0/0
  log: error
}
socks pass {
  from: 127.0.0.0/8 to: 0.0.0.0/0
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

run_column() {
  local col=$1 c0 c1 rss0 bytes=0 d s

  if ! start_proxy "$col"; then
    R[$col.missing]=1
    stop_proxy
    return
  fi
  echo "# $col on $PROXY_ADDR (t=${SECONDS}s)" >&2

  # warm-up: lazy initialisation is not per-connection cost
  gen conn --clients 4 --seconds 0.2 >/dev/null

  [ -n "$PROXY_PID" ] && c0=$(proxy_ticks)
  gen conn --clients 32 --seconds "$CONN_S" | absorb "$col" c32_
  [ -n "$PROXY_PID" ] && c1=$(proxy_ticks) &&
    R[$col.cpu_conn_us]=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="${R[$col.c32_conns]:-0}" \
      'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "n/a" }')
  # the floor: connections only; the chained column: connections/s and
  # bulk only, to keep the run short
  if [ "$col" = floor ]; then
    gen conn --clients 1 --seconds "$LAT1_S" | absorb "$col" c1_
    stop_proxy
    return
  fi
  [ "$col" = hop ] || gen conn --clients 1 --seconds "$LAT1_S" | absorb "$col" c1_

  # idle connections: memory per relayed connection held open
  if [ -n "$PROXY_PID" ] && [ "$col" != hop ]; then
    rss0=$(rss_kib "$PROXY_PID")
    hold "$IDLE_N" idle
    R[$col.idle_held]=$HELD
    R[$col.rss_conn_kib]=$(awk -v a="$rss0" -v b="$HOLD_RSS" -v n="$HELD" \
      'BEGIN { if (n > 0) printf "%.2f", (b - a) / n; else print "n/a" }')
  fi

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

  # last, as it may leave the proxy out of descriptors
  if [ "$col" != hop ]; then
    echo "# $col: holding connections (t=${SECONDS}s)" >&2
    hold "$HOLD_MAX" held
    R[$col.held]=$HELD
  fi

  stop_proxy
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
COLUMNS=(exitgate hop microsocks dante floor direct)
for col in "${COLUMNS[@]}"; do
  run_column "$col"
done

# --- the table -------------------------------------------------------------

v() {  # v COLUMN KEY: the value, or n/a
  if [ -n "${R[$1.missing]:-}" ]; then echo "n/a"; return; fi
  echo "${R[$1.$2]:-n/a}"
}
gbit() {  # Gbit/s from Mbit/s, with a ✗ when a byte was wrong
  local m=${R[$1.$2_mbps]:-} ok=${R[$1.$2_verified]:-}
  if [ -n "${R[$1.missing]:-}" ] || [ -z "$m" ]; then echo "n/a"; return; fi
  awk -v m="$m" -v ok="$ok" 'BEGIN { printf "%.2f%s", m / 1000, ok == "yes" ? "" : " (NOT VERIFIED)" }'
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
echo "load average before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)."
echo
row "metric" "exitgate (direct exit)" "exitgate → 1 hop" "microsocks" "dante" "floor" "direct" "target (exitgate)"
row "---" "---:" "---:" "---:" "---:" "---:" "---:" "---"

ms_rate=$(v microsocks c32_rate)
row "connections/s (32 clients)" "$(v $EG c32_rate)" "$(v hop c32_rate)" "$ms_rate" "$(v dante c32_rate)" "$(v floor c32_rate)" "$(v direct c32_rate)" \
  "$(check "$(v $EG c32_rate)" ">=" "$(mul "$ms_rate" 1.5)" "≥ 1.5× microsocks")"
row "latency p50 / p99, 32 clients (µs)" "$(lat $EG c32_)" "$(lat hop c32_)" "$(lat microsocks c32_)" "$(lat dante c32_)" "$(lat floor c32_)" "$(lat direct c32_)" ""
row "latency p50 / p99, 1 client (µs)" "$(lat $EG c1_)" "–" "$(lat microsocks c1_)" "$(lat dante c1_)" "$(lat floor c1_)" "$(lat direct c1_)" ""
for d in up down; do
  for s in 1 8; do
    k=bulk_${d}${s}
    e=$(gbit $EG $k); dd=$(gbit dante $k); x=$(gbit direct $k)
    row "bulk $d, $s stream$([ $s = 1 ] || echo s) (Gbit/s)" "$e" "$(gbit hop $k)" "$(gbit microsocks $k)" "$dd" "–" "$x" \
      "$(check "$e" ">=" "$(mul "$dd" 1.8)" "≥ 1.8× dante"), $(check "$e" ">=" "$(mul "$x" 0.7)" "≥ 0.7× direct")"
  done
done
ms_cpu=$(v microsocks cpu_conn_us)
row "proxy CPU per connection (µs)" "$(v $EG cpu_conn_us)" "$(v hop cpu_conn_us)" "$ms_cpu" "$(v dante cpu_conn_us)" "$(v floor cpu_conn_us)" "–" \
  "$(check "$(v $EG cpu_conn_us)" "<=" "$(mul "$ms_cpu" 0.6)" "≤ 0.6× microsocks")"
fl_cpu=$(v floor cpu_conn_us)
over() { awk -v u="$1" -v f="$fl_cpu" 'BEGIN { if (u ~ /^[0-9.]+$/ && f ~ /^[0-9.]+$/ && f > 0) printf "%.2f×", u / f; else print "n/a" }'; }
row "… relative to the floor" "$(over "$(v $EG cpu_conn_us)")" "$(over "$(v hop cpu_conn_us)")" "$(over "$ms_cpu")" \
  "$(over "$(v dante cpu_conn_us)")" "1.00×" "–" \
  "0.6× microsocks = $(awk -v m="$ms_cpu" -v f="$fl_cpu" 'BEGIN { if (m ~ /^[0-9.]+$/ && f ~ /^[0-9.]+$/ && f > 0) printf "%.2f", 0.6 * m / f; else print "n/a" }')× floor"
per_cpu() { awk -v u="$1" 'BEGIN { if (u ~ /^[0-9.]+$/ && u > 0) printf "%.0f", 1e6 / u; else print "n/a" }'; }
row "connections per proxy CPU-second" "$(per_cpu "$(v $EG cpu_conn_us)")" "$(per_cpu "$(v hop cpu_conn_us)")" "$(per_cpu "$ms_cpu")" \
  "$(per_cpu "$(v dante cpu_conn_us)")" "$(per_cpu "$(v floor cpu_conn_us)")" "–" ""
row "proxy CPU per GB (ms)" "$(v $EG cpu_gb_ms)" "$(v hop cpu_gb_ms)" "$(v microsocks cpu_gb_ms)" "$(v dante cpu_gb_ms)" "–" "–" ""
row "RSS per idle connection (KiB, $IDLE_N held)" "$(v $EG rss_conn_kib)" "–" "$(v microsocks rss_conn_kib)" \
  "$(v dante rss_conn_kib)" "–" "–" "$(check "$(v $EG rss_conn_kib)" "<=" 4 "≤ 4 KiB")"
row "connections held at most" "$(v $EG held)" "–" "$(v microsocks held)" "$(v dante held)" "–" "$(v direct held)" \
  "$(check "$(v $EG held)" ">=" 9900 "≥ 9,900")"
errs=""
for col in "${COLUMNS[@]}"; do
  if [ "$col" = hop ]; then
    errs="$errs | $(v "$col" c32_errors)"
  else
    errs="$errs | $(v "$col" c32_errors)+$(v "$col" c1_errors)"
  fi
done
echo "| errors (conn runs)$errs | |"
echo
for col in "${COLUMNS[@]}"; do
  [ -n "${R[$col.held_why]:-}" ] && echo "Held connections, $col: ${R[$col.held_why]}."
done
echo "floor: exg-floor, the least a SOCKS5 relay can do (one thread, epoll, no features); its CPU per"
echo "connection is the kernel's TCP work for one relayed connection on this machine, which every proxy pays."
echo "Every bulk byte is checked against a pattern; \"NOT VERIFIED\" marks a run that lost or changed data."
echo "On a busy machine the CPU figures are steadier than the rates: a single-threaded proxy gets one"
echo "thread's share of a contended core, a thread-per-connection one gets more."
echo "Dante's memory and CPU are summed over its processes; its RSS counts shared pages once per process."
exit 0
