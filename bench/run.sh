#!/usr/bin/env bash
# bench/run.sh — balancer-server vs nginx vs calling the upstream directly.
#
# Three paths to the same mock Anthropic upstream (build/…/tests/mock_anthropic), all on 127.0.0.1:
#   direct    client -> mock
#   nginx     client -> nginx (proxy_pass, HTTP/1.1, upstream keepalive, proxy_buffering off) -> mock
#   balancer  client -> balancer-server (one anthropic provider, api_key "bench-key") -> mock
#
# Measurements, each bounded in time or count:
#   non-stream  wrk, POST /v1/messages with a ~19 KB Claude Code-like body, "stream": false
#   SSE         the same with "stream": true (mock: --events 20, no delay between events)
#   -c1         non-streaming again over one connection: the latency a proxy adds when idle
#   bodies      non-streaming with a 2.5 KB and a 216 KB Claude Code body (request-body-2k.json,
#               request-body-213k.json) at -c1 (added latency, paths interleaved round by round),
#               -c16 and -c64 (throughput and tail)
#   many        MANY_STREAMS (5000) concurrent streams held open at once (bench/stream_load.cpp:
#               libcurl multi, each stream sent once, started over MANY_RAMP_MS) against a third
#               mock (--paced-streams: one epoll thread) that sends one event a second for
#               MANY_SECONDS (60): every stream must complete whole; collapsed inter-event gaps,
#               the proxy's peak RSS and CPU are reported.
#               Full runs only (MANY_STREAMS=0 skips it).
#   streamed    N sequential curl requests, "stream": true, against a second mock that paces its
#               SSE events (--delay-ms); time to first byte and total time. The mock writes its
#               first event together with the headers and the balancer only sends its headers once
#               the first event has arrived, so TTFB here is also time to the first event.
# For each wrk run the CPU time used by the proxy (or, for "direct", the mock) is also reported
# per request, from /proc: unlike req/s it hardly depends on other load on the machine. The
# paths take turns in rounds and the best round is kept; the CPU used by other processes just
# before and after the run is printed so that a noisy run can be recognised. On a machine with
# two or more CPUs the proxy under test (nginx, balancer-server) is pinned to CPU 0 and the mocks
# and load generators to CPU 1 (PIN=0 turns that off), so that both proxies get the same core.
#
# Usage: bench/run.sh [--quick] [--help]
#   --quick     smoke run: one round of 3 s wrk runs, 40 streamed requests (under a minute)
#   default     two rounds of 5 s wrk runs, 200 streamed requests (about 2.5 minutes)
# Environment:
#   BUILD_DIR   build directory (default build/bench; configured and built when binaries are missing)
#   WRK_THREADS, WRK_CONNECTIONS (default 2 and 32), EVENTS (20), PACE_MS (2), PIN (1),
#   MANY_STREAMS (5000; 0 in --quick runs), MANY_SECONDS (60)
# Output: the table on stdout, also written to bench/results/latest.txt.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument $arg" >&2; usage >&2; exit 2 ;;
  esac
done

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build/bench}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$PWD/$BUILD_DIR ;; esac
SERVER_BIN=$BUILD_DIR/server/balancer-server
MOCK_BIN=$BUILD_DIR/tests/mock_anthropic
STREAM_LOAD_BIN=$BUILD_DIR/tests/stream_load
MOCK_OPENAI_BIN=$BUILD_DIR/tests/mock_openai
BODY_FILE=$BENCH_DIR/request-body.json
declare -A SIZED_BODY=([2k]=$BENCH_DIR/request-body-2k.json [213k]=$BENCH_DIR/request-body-213k.json)
BODY_SIZES=(2k 213k)
LUA_SCRIPT=$BENCH_DIR/messages.lua
RESULTS_FILE=$BENCH_DIR/results/latest.txt

WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
EVENTS=${EVENTS:-20}
PACE_MS=${PACE_MS:-2}
if [[ $QUICK == 1 ]]; then
  ROUNDS=1; WRK_SECONDS=3; C1_SECONDS=2; WARMUP_SECONDS=1; STREAM_COUNT=40; MANY_STREAMS=${MANY_STREAMS:-0}
else
  ROUNDS=2; WRK_SECONDS=5; C1_SECONDS=3; WARMUP_SECONDS=2; STREAM_COUNT=200
fi
PATHS=(direct nginx balancer)
MANY_STREAMS=${MANY_STREAMS:-5000}
MANY_SECONDS=${MANY_SECONDS:-60}
MANY_RAMP_MS=${MANY_RAMP_MS:-5000}
# wrk, nginx, the mock and balancer-server each hold one or two descriptors per stream.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Pinning: the proxy under test on one CPU, everything that makes or answers load on another.
PIN=${PIN:-1}
ON_TARGET=()
ON_LOAD=()
NGINX_WORKERS=auto
if [[ $PIN == 1 && $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then
  ON_TARGET=(taskset -c 0)
  ON_LOAD=(taskset -c 1)
  NGINX_WORKERS=1
else
  PIN=0
fi

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

# --- tools ----------------------------------------------------------------------------------
apt_install() {
  local -a cmd=(apt-get)
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null && sudo -n true 2>/dev/null || die "$* missing and not root: apt-get install $*"
    cmd=(sudo -n apt-get)
  fi
  log "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive "${cmd[@]}" install -y -q "$@" >/dev/null 2>&1 || {
    DEBIAN_FRONTEND=noninteractive "${cmd[@]}" update -q >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive "${cmd[@]}" install -y -q "$@" >/dev/null 2>&1
  }
}
NGINX_BIN=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
if [[ -z $NGINX_BIN ]]; then
  apt_install nginx-light || apt_install nginx || die "cannot install nginx"
  NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
fi
command -v wrk >/dev/null || apt_install wrk || die "cannot install wrk"
command -v curl >/dev/null || apt_install curl || die "cannot install curl"

if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
  log "configuring $BUILD_DIR (Release)"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
# Always brought up to date: a stale binary would measure old code.
cmake --build "$BUILD_DIR" --target balancer-server mock_anthropic mock_openai stream_load >/dev/null ||
  die "cannot build balancer-server, the mocks and stream_load in $BUILD_DIR"

# CPU busy share (all CPUs, %) over SECONDS, from /proc/stat.
cpu_busy() {
  local a b
  a=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat)
  sleep "$1"
  b=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); busy = y[1] - x[1]; idle = y[2] - x[2]
    total = busy + idle; if (total <= 0) total = 1; printf "%.0f", 100 * busy / total }'
}
IDLE_BUSY_BEFORE=$(cpu_busy 1)
[[ $IDLE_BUSY_BEFORE -lt 20 ]] || log "warning: the machine is already ${IDLE_BUSY_BEFORE}% busy before the benchmark: figures will be noisy"

# --- processes ------------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/balancer-bench.XXXXXX")
chmod 755 "$TMP"  # nginx workers (user nobody when started as root) must reach their temp dirs
PIDS=()
cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[i]}
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A port nobody listens on now (connection refused), below the kernel's ephemeral range so that
# no outgoing connection can be holding it. nginx is retried with other ports if the bind fails.
EPHEMERAL_LOW=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[[ $EPHEMERAL_LOW -gt 12000 ]] || EPHEMERAL_LOW=61000
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((10000 + RANDOM % (EPHEMERAL_LOW - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  echo "run.sh: no free port found" >&2
  return 1
}

# wait_for_line FILE REGEX SECONDS PID: prints the first matching line.
wait_for_line() {
  local file=$1 regex=$2 seconds=$3 pid=$4 line
  for _ in $(seq $((seconds * 20))); do
    line=$(grep -m1 -E "$regex" "$file" 2>/dev/null || true)
    if [[ -n $line ]]; then echo "$line"; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  return 1
}

start_mock() {  # start_mock NAME ARGS... -> sets MOCK_PORT
  local name=$1; shift
  "${ON_LOAD[@]}" "$MOCK_BIN" --fast --port 0 --events "$EVENTS" --threads 128 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  local pid=$!
  PIDS+=("$pid")
  local line
  line=$(wait_for_line "$TMP/$name.out" '^listening on ' 10 "$pid") ||
    { cat "$TMP/$name.err" >&2; die "$name did not start"; }
  MOCK_PORT=${line##*:}
}

start_mock mock-fast
FAST_MOCK_PORT=$MOCK_PORT
start_mock mock-paced --paced-streams --delay-ms "$PACE_MS"
PACED_MOCK_PORT=$MOCK_PORT
# Its answer is the text deltas plus 6 framing events, one a second: MANY_SECONDS in all.
# One epoll thread: a thread per stream would saturate the mock's CPU before the proxy's.
MANY_EVENTS=$((MANY_SECONDS > 12 ? MANY_SECONDS - 6 : 6))
start_mock mock-slow --paced-streams --delay-ms 1000 --events "$MANY_EVENTS"
SLOW_MOCK_PID=${PIDS[-1]}
# The OpenAI path: balancer-server converts to Chat Completions and back (its mock parses JSON
# and logs a line per request; only balancer-server's CPU is counted for this path).
"${ON_LOAD[@]}" "$MOCK_OPENAI_BIN" --port 0 >"$TMP/mock-openai.out" 2>"$TMP/mock-openai.err" &
PIDS+=("$!")
line=$(wait_for_line "$TMP/mock-openai.out" '^listening on ' 10 "$!") || { cat "$TMP/mock-openai.err" >&2; die "mock_openai did not start"; }
OPENAI_MOCK_PORT=${line##*:}
SLOW_MOCK_PORT=$MOCK_PORT
log "mocks: fast 127.0.0.1:$FAST_MOCK_PORT, paced ($PACE_MS ms between events) 127.0.0.1:$PACED_MOCK_PORT"

start_nginx() {  # picks two ports, starts nginx, waits until it listens; 1 when a bind failed
  NGINX_FAST_PORT=$(free_port)
  NGINX_PACED_PORT=$(free_port)
  while [[ $NGINX_PACED_PORT == "$NGINX_FAST_PORT" ]]; do NGINX_PACED_PORT=$(free_port); done
  NGINX_SLOW_PORT=$(free_port)
  while [[ $NGINX_SLOW_PORT == "$NGINX_FAST_PORT" || $NGINX_SLOW_PORT == "$NGINX_PACED_PORT" ]]; do
    NGINX_SLOW_PORT=$(free_port)
  done
  sed -e "s|@TMP@|$TMP|g" -e "s|@MOCK_FAST_PORT@|$FAST_MOCK_PORT|g" \
      -e "s|@MOCK_PACED_PORT@|$PACED_MOCK_PORT|g" -e "s|@NGINX_FAST_PORT@|$NGINX_FAST_PORT|g" \
      -e "s|@NGINX_PACED_PORT@|$NGINX_PACED_PORT|g" -e "s|@NGINX_WORKERS@|$NGINX_WORKERS|g" \
      -e "s|@MOCK_SLOW_PORT@|$SLOW_MOCK_PORT|g" -e "s|@NGINX_SLOW_PORT@|$NGINX_SLOW_PORT|g" \
      "$BENCH_DIR/nginx.conf.in" >"$TMP/nginx.conf"
  "${ON_TARGET[@]}" "$NGINX_BIN" -p "$TMP" -e "$TMP/nginx-error.log" -c "$TMP/nginx.conf" >"$TMP/nginx.out" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  for _ in $(seq 100); do
    if ! kill -0 "$NGINX_PID" 2>/dev/null; then
      wait "$NGINX_PID" 2>/dev/null || true
      unset 'PIDS[${#PIDS[@]}-1]'  # reaped: its pid must not be signalled at clean-up
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$NGINX_FAST_PORT") 2>/dev/null &&
       (exec 3<>"/dev/tcp/127.0.0.1/$NGINX_PACED_PORT") 2>/dev/null &&
       (exec 3<>"/dev/tcp/127.0.0.1/$NGINX_SLOW_PORT") 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  cat "$TMP/nginx.out" >&2
  die "nginx did not start listening"
}
for attempt in 1 2 3 4 5; do
  start_nginx && break
  [[ $attempt == 5 ]] && { cat "$TMP/nginx.out" >&2; die "nginx did not start"; }
  log "nginx could not bind its ports, retrying with others"
done

cat >"$TMP/balancer.yaml" <<EOF
providers:
  - name: "mock"
    type: "anthropic"
    base_url: "http://127.0.0.1:$FAST_MOCK_PORT"
    auth_type: "api_key"
    auth_value: "bench-key"
  - name: "mock-paced"
    type: "anthropic"
    base_url: "http://127.0.0.1:$PACED_MOCK_PORT"
    auth_type: "api_key"
    auth_value: "bench-key"
  - name: "mock-slow"
    type: "anthropic"
    base_url: "http://127.0.0.1:$SLOW_MOCK_PORT"
    auth_type: "api_key"
    auth_value: "bench-key"
  - name: "mock-openai"
    type: "openai"
    base_url: "http://127.0.0.1:$OPENAI_MOCK_PORT/v1"
    auth_type: "api_key"
    auth_value: "bench-key"
model_routes:
  "bench-openai-*":
    - provider: "mock-openai"
      model: "gpt-mock"
  "bench-paced-*":
    - provider: "mock-paced"
  "bench-slow-*":
    - provider: "mock-slow"
  "*":
    - provider: "mock"
settings:
  log_level: "WARNING"
  log_file_path: ""
  max_connections: $((MANY_STREAMS + 256))
  deduplication:
    enabled: false
EOF
"${ON_TARGET[@]}" "$SERVER_BIN" --config "$TMP/balancer.yaml" --host 127.0.0.1 --port 0 >"$TMP/balancer.out" 2>"$TMP/balancer.err" &
BALANCER_PID=$!
PIDS+=("$BALANCER_PID")
line=$(wait_for_line "$TMP/balancer.err" 'listening on http://' 10 "$BALANCER_PID") ||
  { cat "$TMP/balancer.err" >&2; die "balancer-server did not start"; }
line=${line##*http://}
line=${line%% *}
BALANCER_PORT=${line##*:}
log "balancer-server on 127.0.0.1:$BALANCER_PORT, nginx on 127.0.0.1:$NGINX_FAST_PORT/$NGINX_PACED_PORT"

declare -A FAST_URL=([direct]="http://127.0.0.1:$FAST_MOCK_PORT" [nginx]="http://127.0.0.1:$NGINX_FAST_PORT"
                     [balancer]="http://127.0.0.1:$BALANCER_PORT" [openai]="http://127.0.0.1:$BALANCER_PORT")
declare -A SLOW_URL=([direct]="http://127.0.0.1:$SLOW_MOCK_PORT" [nginx]="http://127.0.0.1:$NGINX_SLOW_PORT"
                     [balancer]="http://127.0.0.1:$BALANCER_PORT")
declare -A PACED_URL=([direct]="http://127.0.0.1:$PACED_MOCK_PORT" [nginx]="http://127.0.0.1:$NGINX_PACED_PORT"
                      [balancer]="http://127.0.0.1:$BALANCER_PORT")

# Bodies for curl: the non-stream one, and the streamed one whose model routes the balancer to
# the paced mock (nginx and the mock ignore the model name).
sed -e 's/"stream": false/"stream": true/' -e 's/"model":"[^"]*"/"model":"bench-paced-claude-sonnet-4-5"/' \
    -e 's/BENCH_REQ_ID/curl/' "$BODY_FILE" >"$TMP/body-stream.json"
sed -e 's/BENCH_REQ_ID/curl/' "$BODY_FILE" >"$TMP/body-plain.json"
CURL_HEADERS=(-H 'content-type: application/json' -H 'anthropic-version: 2023-06-01'
              -H 'x-api-key: sk-ant-bench-client-key')

# Every path must answer 200 before anything is measured (nginx gets a few seconds to start).
for p in "${PATHS[@]}"; do
  for url in "${FAST_URL[$p]}" "${PACED_URL[$p]}"; do
    ok=0
    for _ in $(seq 50); do
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${CURL_HEADERS[@]}" \
             --data-binary @"$TMP/body-stream.json" "$url/v1/messages" || true)
      if [[ $code == 200 ]]; then ok=1; break; fi
      kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx.out" "$TMP/nginx-error.log" >&2 2>/dev/null; die "nginx exited"; }
      sleep 0.1
    done
    [[ $ok == 1 ]] || die "$p at $url/v1/messages does not answer 200 (last: $code)"
  done
done

# --- measuring ------------------------------------------------------------------------------
# CPU ticks (user+system) of a process and its children (nginx workers).
proc_ticks() {
  local total=0 pid t
  for pid in "$@" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    t=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)
declare -A SERVER_PID=([direct]=${PIDS[0]} [nginx]=$NGINX_PID [balancer]=$BALANCER_PID [openai]=$BALANCER_PID)

# wrk's "1.23ms" / "456.00us" / "1.02s" / "2.00m" -> milliseconds
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.2f", n }'
}

declare -A R  # results, keyed "path:metric"

run_wrk() {  # run_wrk ROUND PATH KIND STREAM(true|false) THREADS CONNECTIONS SECONDS [BODY [MODEL]]
  local round=$1 p=$2 kind=$3 stream=$4 threads=$5 conns=$6 seconds=$7 body=${8:-$BODY_FILE} model=${9:-}
  local url=${FAST_URL[$2]} out="$TMP/wrk-$2-$3-$1.txt"
  if [[ $round == 1 ]]; then  # warm-up: connection pools, allocator, page cache
    "${ON_LOAD[@]}" wrk -t"$threads" -c"$conns" -d"${WARMUP_SECONDS}s" --timeout 5s \
        -s "$LUA_SCRIPT" "$url" -- "$body" "$stream" $model >/dev/null 2>&1 || true
  fi
  local before after
  before=$(proc_ticks "${SERVER_PID[$p]}")
  "${ON_LOAD[@]}" wrk -t"$threads" -c"$conns" -d"${seconds}s" --timeout 5s --latency \
      -s "$LUA_SCRIPT" "$url" -- "$body" "$stream" $model >"$out" 2>&1 || true
  after=$(proc_ticks "${SERVER_PID[$p]}")
  local rps p50 p99 total non2xx sock cpu
  rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
  p50=$(awk '$1 == "50%" {print $2}' "$out")
  p99=$(awk '$1 == "99%" {print $2}' "$out")
  total=$(awk '/requests in/ {print $1}' "$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
  sock=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out")
  [[ -n $rps ]] || { log "wrk output for $p $kind:"; cat "$out" >&2; }
  p50=$([[ -n $p50 ]] && to_ms "$p50" || echo nan)
  p99=$([[ -n $p99 ]] && to_ms "$p99" || echo nan)
  cpu=nan
  if [[ ${total:-0} -gt 0 ]]; then
    cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$total" 'BEGIN {printf "%.0f", t / hz * 1e6 / n}')
  fi
  R[$p:$kind:err]=$(( ${R[$p:$kind:err]:-0} + ${non2xx:-0} + ${sock:-0} ))
  log "$p $kind (round $round): ${rps:-0} req/s, p50 $p50 ms, p99 $p99 ms, errors $(( ${non2xx:-0} + ${sock:-0} )), $cpu us CPU/req"
  # Of several rounds the one with the highest rate is kept: other load on the machine only
  # ever makes a round slower.
  if [[ -z ${R[$p:$kind:rps]:-} || ${rps:-0} -gt ${R[$p:$kind:rps]} ]]; then
    R[$p:$kind:rps]=${rps:-0}; R[$p:$kind:p50]=$p50; R[$p:$kind:p99]=$p99; R[$p:$kind:cpu]=$cpu
  fi
}

# percentile FILE COLUMN Q -> value (nearest rank) of column COLUMN, in ms
percentile() {
  awk -v c="$2" '{print $c * 1000}' "$1" | sort -g |
    awk -v q="$3" '{v[NR] = $1} END { if (NR == 0) { print "nan"; exit }
      i = int(q * NR); if (i < q * NR) i++; if (i < 1) i = 1; printf "%.2f", v[i] }'
}

run_stream() {  # run_stream ROUND PATH COUNT: appends COUNT timings; summarize_stream afterwards
  local round=$1 p=$2 count=$3 url=${PACED_URL[$2]}/v1/messages out="$TMP/curl-$2.txt" i
  if [[ $round == 1 ]]; then
    : >"$out"
    for i in 1 2 3; do  # warm-up: connection pools, page cache
      curl -s -o /dev/null --max-time 10 "${CURL_HEADERS[@]}" --data-binary @"$TMP/body-stream.json" "$url" || true
    done
  fi
  for ((i = 0; i < count; i++)); do
    "${ON_LOAD[@]}" curl -s -N -o /dev/null --max-time 10 -w '%{http_code} %{time_starttransfer} %{time_total}\n' \
         "${CURL_HEADERS[@]}" --data-binary @"$TMP/body-stream.json" "$url" >>"$out" || echo "000 0 0" >>"$out"
  done
}

summarize_stream() {  # summarize_stream PATH
  local p=$1 out="$TMP/curl-$1.txt"
  grep '^200 ' "$out" >"$out.ok" || true
  R[$p:ttfb50]=$(percentile "$out.ok" 2 0.50)
  R[$p:ttfb99]=$(percentile "$out.ok" 2 0.99)
  R[$p:tot50]=$(percentile "$out.ok" 3 0.50)
  R[$p:tot99]=$(percentile "$out.ok" 3 0.99)
  R[$p:serr]=$(( $(wc -l <"$out") - $(wc -l <"$out.ok") ))
  log "$p streamed: TTFB p50 ${R[$p:ttfb50]} ms p99 ${R[$p:ttfb99]} ms, total p50 ${R[$p:tot50]} ms p99 ${R[$p:tot99]} ms, errors ${R[$p:serr]}"
}

# Phase by phase; within a phase the paths take turns round by round, so that a burst of other
# load on the machine does not fall on one path only.
log "non-streaming: wrk -t$WRK_THREADS -c$WRK_CONNECTIONS, $ROUNDS round(s) of ${WRK_SECONDS}s per path (after ${WARMUP_SECONDS}s warm-up)"
for ((r = 1; r <= ROUNDS; r++)); do
  for p in "${PATHS[@]}"; do run_wrk "$r" "$p" ns false "$WRK_THREADS" "$WRK_CONNECTIONS" "$WRK_SECONDS"; done
done
log "SSE: wrk -t$WRK_THREADS -c$WRK_CONNECTIONS, $ROUNDS round(s) of ${WRK_SECONDS}s, $EVENTS text deltas per answer"
for ((r = 1; r <= ROUNDS; r++)); do
  for p in "${PATHS[@]}"; do run_wrk "$r" "$p" sse true "$WRK_THREADS" "$WRK_CONNECTIONS" "$WRK_SECONDS"; done
done
log "non-streaming, one connection: wrk -t1 -c1, $ROUNDS round(s) of ${C1_SECONDS}s"
for ((r = 1; r <= ROUNDS; r++)); do
  for p in "${PATHS[@]}"; do run_wrk "$r" "$p" c1 false 1 1 "$C1_SECONDS"; done
done
for size in "${BODY_SIZES[@]}"; do
  log "$size body: -c1, -c16, -c64 non-streaming, $ROUNDS round(s) per path"
  for ((r = 1; r <= ROUNDS; r++)); do
    for p in "${PATHS[@]}"; do run_wrk "$r" "$p" "$size-c1" false 1 1 "$C1_SECONDS" "${SIZED_BODY[$size]}"; done
    for p in "${PATHS[@]}"; do run_wrk "$r" "$p" "$size-c16" false 2 16 "$WRK_SECONDS" "${SIZED_BODY[$size]}"; done
    for p in "${PATHS[@]}"; do run_wrk "$r" "$p" "$size-c64" false 2 64 "$WRK_SECONDS" "${SIZED_BODY[$size]}"; done
  done
done
log "OpenAI path: the 213k body converted, -c1 and -c16, $ROUNDS round(s)"
for ((r = 1; r <= ROUNDS; r++)); do
  run_wrk "$r" openai 213k-c1 false 1 1 "$C1_SECONDS" "${SIZED_BODY[213k]}" bench-openai-sonnet
  run_wrk "$r" openai 213k-c16 false 2 16 "$WRK_SECONDS" "${SIZED_BODY[213k]}" bench-openai-sonnet
done
# MANY_STREAMS streams at once, each MANY_SECONDS long: wrk opens them together and each
# connection's first request is the one that counts (the run ends before a second completes).
run_many() {  # run_many PATH
  local p=$1 out="$TMP/load-$1-many.txt" before after served=${SERVER_PID[$1]}
  [[ $p == direct ]] && served=$SLOW_MOCK_PID
  before=$(proc_ticks "$served")
  # Each stream sent once and judged whole (status 200, every event, message_stop); the streams
  # start over MANY_RAMP_MS so that the run measures holding them, not the kernel's accept queue.
  "${ON_LOAD[@]}" "$STREAM_LOAD_BIN" --url "${SLOW_URL[$p]}" --body "$BODY_FILE" --model bench-slow-claude-sonnet-4-5 \
      --streams "$MANY_STREAMS" --events $((MANY_EVENTS + 6)) --pace-ms 1000 --ramp-ms "$MANY_RAMP_MS" \
      --timeout-s $((MANY_SECONDS + 60)) >"$out" 2>&1 || true
  after=$(proc_ticks "$served")
  field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$out" | head -1; }
  R[$p:many:done]=$(field ok)
  R[$p:many:done]=${R[$p:many:done]:-0}
  R[$p:many:err]=$(( MANY_STREAMS - R[$p:many:done] ))
  R[$p:many:statuses]=$(field statuses)
  R[$p:many:collapsed]="$(field collapsed)/$(field gaps)"
  R[$p:many:ttfb99]=$(field ttfb_p99_ms)
  R[$p:many:p99]=$(field total_p99_ms)
  R[$p:many:cpu]=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN {printf "%.1f", t / hz}')
  local pid=${SERVER_PID[$p]} rss=0 q
  [[ $p == direct ]] && pid=$SLOW_MOCK_PID  # the mock that serves these streams
  for q in "$pid" $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    rss=$((rss + $(awk '/^VmHWM:/ {print $2}' "/proc/$q/status" 2>/dev/null || echo 0)))
  done
  R[$p:many:rss]=$(awk -v k="$rss" 'BEGIN {printf "%.0f MB", k / 1024}')
  R[$p:many:threads]=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo "?")
  log "$p many streams: ${R[$p:many:done]} of $MANY_STREAMS complete (statuses ${R[$p:many:statuses]}), collapsed gaps ${R[$p:many:collapsed]}, CPU ${R[$p:many:cpu]} s, peak RSS ${R[$p:many:rss]}"
  [[ ${R[$p:many:err]} == 0 ]] || log "$p many streams, first failure: $(sed -n 's/.*first_failure="\(.*\)"$/\1/p' "$out")"
}
if [[ $MANY_STREAMS -gt 0 ]]; then
  log "many streams: $MANY_STREAMS concurrent streams of $MANY_SECONDS s (one event a second) per path"
  for p in "${PATHS[@]}"; do run_many "$p"; done
fi

log "streamed: $STREAM_COUNT sequential curl requests per path, $PACE_MS ms between events"
for ((r = 1; r <= ROUNDS; r++)); do
  for p in "${PATHS[@]}"; do
    run_stream "$r" "$p" $(( STREAM_COUNT * r / ROUNDS - STREAM_COUNT * (r - 1) / ROUNDS ))
  done
done
for p in "${PATHS[@]}"; do summarize_stream "$p"; done
# Whether a path delivers each event when it comes: 16 concurrent paced streams, every
# inter-event gap timed at the client (collapsed: under half the mock's pause).
log "paced gaps: 16 concurrent streams, $PACE_MS ms between events"
for p in "${PATHS[@]}"; do
  out="$TMP/load-$p-paced.txt"
  "${ON_LOAD[@]}" "$STREAM_LOAD_BIN" --url "${PACED_URL[$p]}" --body "$BODY_FILE" --model bench-paced-claude-sonnet-4-5 \
      --streams 16 --events $((EVENTS + 6)) --pace-ms "$PACE_MS" --ramp-ms 0 --timeout-s 60 >"$out" 2>&1 || true
  R[$p:gaps]="$(sed -n 's/.* collapsed=\([0-9]*\).*/\1/p' "$out")/$(sed -n 's/.* gaps=\([0-9]*\).*/\1/p' "$out")"
  R[$p:gaps_failed]=$(sed -n 's/.* failed=\([0-9]*\).*/\1/p' "$out")
  log "$p paced gaps: collapsed ${R[$p:gaps]}, failed streams ${R[$p:gaps_failed]:-?}"
done

IDLE_BUSY_AFTER=$(cpu_busy 1)  # the benchmark's own processes are idle now
BALANCER_RSS=$(awk '/^VmRSS:/ {printf "%.1f MB", $2 / 1024}' "/proc/$BALANCER_PID/status" 2>/dev/null || echo "?")
BALANCER_THREADS=$(awk '/^Threads:/ {print $2}' "/proc/$BALANCER_PID/status" 2>/dev/null || echo "?")
kill -0 "$BALANCER_PID" 2>/dev/null || die "balancer-server died during the run (see $TMP/balancer.err)"

# --- report ---------------------------------------------------------------------------------
delta() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan") print "nan"; else printf "%+.2f", a - b }'; }
# ratio A B x|% -> "2.1x" or "45%"; nan when either is missing or B is not positive
ratio() {
  awk -v a="$1" -v b="$2" -v u="$3" 'BEGIN { if (a == "nan" || b == "nan" || a == "" || b == "" || b + 0 <= 0) print "nan";
    else if (u == "%") printf "%.0f%%", 100 * a / b; else printf "%.1fx", a / b }'
}
cpu_model=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
[[ -n $cpu_model ]] || cpu_model=$(lscpu 2>/dev/null | awk -F': *' '/Model name/ {print $2; exit}')
git_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
[[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]] && git_rev="$git_rev+dirty"
body_bytes=$(wc -c <"$BODY_FILE")

report() {
  printf 'balancer benchmark  %s  (%s run)\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$([[ $QUICK == 1 ]] && echo quick || echo full)"
  printf 'machine   %s CPU(s), %s, %s %s, %s MB RAM\n' "$(nproc)" "${cpu_model:-unknown CPU}" "$(uname -s)" "$(uname -r)" \
    "$(awk '/^MemTotal:/ {printf "%d", $2 / 1024}' /proc/meminfo)"
  printf 'versions  %s (%s), %s, %s, %s\n' "$("$SERVER_BIN" --version 2>&1 | head -1)" "$git_rev" \
    "$("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //')" "$(wrk --version 2>&1 | head -1 | awk '{print $1, $2}')" \
    "$(curl --version | head -1 | awk '{print $1, $2}')"
  printf 'load      CPU used by other processes: %s%% just before, %s%% just after the run%s\n' \
    "$IDLE_BUSY_BEFORE" "$IDLE_BUSY_AFTER" \
    "$([[ $IDLE_BUSY_BEFORE -ge 20 || $IDLE_BUSY_AFTER -ge 20 ]] && echo ' — NOISY: other work was running')"
  printf 'setup     all on 127.0.0.1, %s; body %s bytes; wrk -t%s -c%s -d%ss, best of %s round(s);\n' \
    "$([[ $PIN == 1 ]] && echo "proxy pinned to CPU 0, mocks and load generators to CPU 1" ||
       echo "load generator on the same $(nproc) CPU(s), nothing pinned")" \
    "$body_bytes" "$WRK_THREADS" "$WRK_CONNECTIONS" "$WRK_SECONDS" "$ROUNDS"
  printf '          SSE answers of %s deltas (%s events); streamed: %s sequential curl requests, %s ms between events\n' \
    "$EVENTS" "$((EVENTS + 6))" "$STREAM_COUNT" "$PACE_MS"
  echo
  printf '%-8s | %-33s | %-33s | %-15s | %s\n' "" "non-streaming, wrk -c$WRK_CONNECTIONS" \
    "SSE stream, wrk -c$WRK_CONNECTIONS" "non-stream -c1" "streamed, sequential curl (ms)"
  printf '%-8s | %7s %7s %7s %9s | %7s %7s %7s %9s | %7s %7s | %8s %8s %8s %8s | %s\n' \
    path 'req/s' 'p50 ms' 'p99 ms' 'cpu/req' 'req/s' 'p50 ms' 'p99 ms' 'cpu/req' 'p50 ms' 'p99 ms' \
    'TTFB p50' 'p99' 'tot p50' 'p99' errors
  local p
  for p in "${PATHS[@]}"; do
    printf '%-8s | %7s %7s %7s %7sus | %7s %7s %7s %7sus | %7s %7s | %8s %8s %8s %8s | %s\n' "$p" \
      "${R[$p:ns:rps]}" "${R[$p:ns:p50]}" "${R[$p:ns:p99]}" "${R[$p:ns:cpu]}" \
      "${R[$p:sse:rps]}" "${R[$p:sse:p50]}" "${R[$p:sse:p99]}" "${R[$p:sse:cpu]}" \
      "${R[$p:c1:p50]}" "${R[$p:c1:p99]}" \
      "${R[$p:ttfb50]}" "${R[$p:ttfb99]}" "${R[$p:tot50]}" "${R[$p:tot99]}" \
      "$(( R[$p:ns:err] + R[$p:sse:err] + R[$p:c1:err] + R[$p:serr] ))"
  done
  echo
  local size
  for size in "${BODY_SIZES[@]}"; do
    printf '%-8s | %-5s %-26s | %-33s | %-33s\n' "" "$size" "body ($(wc -c <"${SIZED_BODY[$size]}") bytes), -c1" \
      "non-streaming, wrk -t2 -c16" "non-streaming, wrk -t2 -c64"
    printf '%-8s | %7s %7s %7s %9s | %7s %7s %7s %9s | %7s %7s %7s %9s | %s\n' path 'p50 ms' 'added' 'p99 ms' 'cpu/req' \
      'req/s' 'p50 ms' 'p99 ms' 'cpu/req' 'req/s' 'p50 ms' 'p99 ms' 'cpu/req' errors
    for p in "${PATHS[@]}"; do
      printf '%-8s | %7s %7s %7s %7sus | %7s %7s %7s %7sus | %7s %7s %7s %7sus | %s\n' "$p" \
        "${R[$p:$size-c1:p50]}" "$([[ $p == direct ]] && echo - || delta "${R[$p:$size-c1:p50]}" "${R[direct:$size-c1:p50]}")" \
        "${R[$p:$size-c1:p99]}" "${R[$p:$size-c1:cpu]}" \
        "${R[$p:$size-c16:rps]}" "${R[$p:$size-c16:p50]}" "${R[$p:$size-c16:p99]}" "${R[$p:$size-c16:cpu]}" \
        "${R[$p:$size-c64:rps]}" "${R[$p:$size-c64:p50]}" "${R[$p:$size-c64:p99]}" "${R[$p:$size-c64:cpu]}" \
        "$(( R[$p:$size-c1:err] + R[$p:$size-c16:err] + R[$p:$size-c64:err] ))"
    done
    # The figures the performance issue judges balancer by, as ratios to nginx.
    printf '  balancer / nginx: added p50 at -c1 %s, req/s at -c16 %s, p99 at -c64 %s, CPU/req at -c16 %s\n' \
      "$(ratio "$(delta "${R[balancer:$size-c1:p50]}" "${R[direct:$size-c1:p50]}")" "$(delta "${R[nginx:$size-c1:p50]}" "${R[direct:$size-c1:p50]}")" x)" \
      "$(ratio "${R[balancer:$size-c16:rps]}" "${R[nginx:$size-c16:rps]}" %)" \
      "$(ratio "${R[balancer:$size-c64:p99]}" "${R[nginx:$size-c64:p99]}" x)" \
      "$(ratio "${R[balancer:$size-c16:cpu]}" "${R[nginx:$size-c16:cpu]}" x)"
    echo
  done
  printf 'OpenAI path (213k body converted to Chat Completions and back, balancer-server only):\n'
  printf '  -c1 p50 %s ms (passthrough %s), -c16 %s req/s p99 %s ms, CPU/req %sus = %s the passthrough path'"'"'s %sus\n\n' \
    "${R[openai:213k-c1:p50]}" "${R[balancer:213k-c1:p50]}" "${R[openai:213k-c16:rps]}" "${R[openai:213k-c16:p99]}" \
    "${R[openai:213k-c16:cpu]}" "$(ratio "${R[openai:213k-c16:cpu]}" "${R[balancer:213k-c16:cpu]}" x)" "${R[balancer:213k-c16:cpu]}"
  printf 'added latency vs direct (p50 / p99, ms):\n'
  for p in "${PATHS[@]}"; do
    [[ $p == direct ]] && continue
    printf '  %-8s  non-stream -c1 %s / %s   stream TTFB %s / %s   stream total %s / %s\n' "$p" \
      "$(delta "${R[$p:c1:p50]}" "${R[direct:c1:p50]}")" "$(delta "${R[$p:c1:p99]}" "${R[direct:c1:p99]}")" \
      "$(delta "${R[$p:ttfb50]}" "${R[direct:ttfb50]}")" "$(delta "${R[$p:ttfb99]}" "${R[direct:ttfb99]}")" \
      "$(delta "${R[$p:tot50]}" "${R[direct:tot50]}")" "$(delta "${R[$p:tot99]}" "${R[direct:tot99]}")"
  done
  printf 'collapsed inter-event gaps, 16 concurrent streams paced %s ms apart (collapsed/gaps, failed streams):\n ' "$PACE_MS"
  for p in "${PATHS[@]}"; do printf ' %s %s (%s failed)' "$p" "${R[$p:gaps]}" "${R[$p:gaps_failed]:-?}"; done
  echo
  echo "cpu/req: CPU time (user+system) of the serving process per request during the wrk run: the mock"
  echo "  for direct, nginx master+workers for nginx, balancer-server alone for balancer (the mock excluded)."
  echo "errors: non-2xx answers and socket errors (wrk) plus non-200 or failed requests (curl), all runs."
  if [[ $MANY_STREAMS -gt 0 ]]; then
    printf '\n%s concurrent streams of %s s (one event a second; stream_load, started over %s ms):\n' \
      "$MANY_STREAMS" "$MANY_SECONDS" "$MANY_RAMP_MS"
    printf '  %-8s  %8s %7s  %-22s %14s %9s %9s %7s %9s\n' path complete failed statuses 'collapsed gaps' \
      'TTFB p99' 'total p99' 'CPU s' 'peak RSS'
    for p in "${PATHS[@]}"; do
      printf '  %-8s  %8s %7s  %-22s %14s %9s %9s %7s %9s\n' "$p" \
        "${R[$p:many:done]}" "${R[$p:many:err]}" "${R[$p:many:statuses]}" "${R[$p:many:collapsed]}" \
        "${R[$p:many:ttfb99]}" "${R[$p:many:p99]}" "${R[$p:many:cpu]}" "${R[$p:many:rss]}"
    done
    echo "  (complete: status 200, every event and message_stop; collapsed: events the mock sent 1 s apart"
    echo "  that arrived less than 0.5 s apart; CPU: the serving process during the run; RSS: its peak)"
  fi
  printf 'balancer-server after the run: RSS %s, %s threads\n' "$BALANCER_RSS" "$BALANCER_THREADS"
}

mkdir -p "$(dirname "$RESULTS_FILE")"
report | tee "$RESULTS_FILE"
