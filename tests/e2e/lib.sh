# lib.sh — shared helpers of the end-to-end scripts (sourced, not run): process start/stop,
# waiting for a log line, reading the port a server printed. Expects $TMP and a `fail` function.

log() { printf '[%s] %s\n' "${E2E_NAME:-e2e}" "$*" >&2; }

stop_process() {  # stop_process PID NAME: SIGTERM, then SIGKILL after 5 s
  local pid=$1 name=$2 i
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  log "$name (pid $pid) did not stop on SIGTERM; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# wait_for_line FILE REGEX SECONDS PID: print the first line of FILE matching REGEX, or fail
# when PID exits or the time is up.
wait_for_line() {
  local file=$1 regex=$2 seconds=$3 pid=$4 i line
  for ((i = 0; i < seconds * 20; i++)); do
    line=$(grep -m1 -E "$regex" "$file" 2>/dev/null || true)
    if [[ -n "$line" ]]; then
      printf '%s\n' "$line"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# start_mock NAME BINARY ARGS...: starts a mock upstream on an ephemeral port; sets MOCK_PID and
# MOCK_PORT. Its stdout/stderr go to $TMP/NAME.stdout / .stderr.
start_mock() {
  local name=$1 binary=$2 line
  shift 2
  "$binary" --host 127.0.0.1 --port 0 "$@" >"$TMP/$name.stdout" 2>"$TMP/$name.stderr" &
  MOCK_PID=$!
  line=$(wait_for_line "$TMP/$name.stdout" '^listening on ' 10 "$MOCK_PID") || fail "$name did not start"
  MOCK_PORT=${line##*:}
  log "$name (pid $MOCK_PID) on 127.0.0.1:$MOCK_PORT"
}

# start_balancer BINARY CONFIG: starts balancer-server on an ephemeral port; sets BALANCER_PID
# and BALANCER_PORT. Output goes to $TMP/balancer.stdout / .stderr.
start_balancer() {
  local binary=$1 config=$2 line
  "$binary" --config "$config" --host 127.0.0.1 --port 0 >"$TMP/balancer.stdout" 2>"$TMP/balancer.stderr" &
  BALANCER_PID=$!
  line=$(wait_for_line "$TMP/balancer.stderr" 'listening on http://[^ ]+:[0-9]+' 15 "$BALANCER_PID") ||
    fail "balancer-server did not start"
  BALANCER_PORT=$(sed -E 's#.*listening on http://[^ ]+:([0-9]+).*#\1#' <<<"$line")
  [[ "$BALANCER_PORT" =~ ^[0-9]+$ ]] || fail "cannot parse the balancer's port from: $line"
  log "balancer-server (pid $BALANCER_PID) on 127.0.0.1:$BALANCER_PORT"
}
