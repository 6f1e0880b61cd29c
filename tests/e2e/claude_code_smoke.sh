#!/usr/bin/env bash
# claude_code_smoke.sh — run the real Claude Code CLI through balancer-server against the
# mock Anthropic upstream (tests/tools/mock_anthropic.cpp), fully offline.
#
#   claude --(client key)--> balancer-server --(provider key)--> mock_anthropic
#
# Checks that
#   - `claude -p "hi"` prints the mock's answer ("Hello from the mock upstream"),
#   - the mock saw POST /v1/messages with "stream": true,
#   - the mock got the provider's key, not the client's (the mock runs with --require-key, so
#     a forwarded client key would be answered 401 and claude would print an error),
# once with the client key in ANTHROPIC_API_KEY (x-api-key) and once in ANTHROPIC_AUTH_TOKEN
# (Authorization: Bearer).
#
# Builds nothing. Usage:
#   tests/e2e/claude_code_smoke.sh [BUILD_DIR]        (default: build/dev of this checkout)
# Environment (all optional):
#   BUILD_DIR       as the argument
#   BALANCER_SERVER path to balancer-server   (default: $BUILD_DIR/server/balancer-server)
#   MOCK_ANTHROPIC  path to mock_anthropic    (default: $BUILD_DIR/tests/mock_anthropic)
#   CLAUDE_BIN      path to the claude CLI    (default: claude on PATH, else
#                                              /opt/cc/node_modules/.bin/claude)
#   CLAUDE_PROMPT   the prompt                (default: hi)
#   CLAUDE_TIMEOUT  seconds for claude        (default: 120)
#   CLAUDE_MAX_RETRIES  claude's retries of a failed API call (CLAUDE_CODE_MAX_RETRIES;
#                   default 0: a balancer error is not hidden by a retry, and a failure is
#                   reported at once instead of after minutes of back-off)
#   KEEP_TMP=1      keep the temporary directory (logs, config) for inspection
# Exit status: 0 pass (or skipped: claude CLI not installed), 1 failure, 2 usage error.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)

BUILD_DIR=${1:-${BUILD_DIR:-$SOURCE_DIR/build/dev}}
BALANCER_SERVER=${BALANCER_SERVER:-$BUILD_DIR/server/balancer-server}
MOCK_ANTHROPIC=${MOCK_ANTHROPIC:-$BUILD_DIR/tests/mock_anthropic}
CLAUDE_PROMPT=${CLAUDE_PROMPT:-hi}
CLAUDE_TIMEOUT=${CLAUDE_TIMEOUT:-120}
CLAUDE_MAX_RETRIES=${CLAUDE_MAX_RETRIES:-0}

PROVIDER_KEY=mock-provider-key
CLIENT_KEY=sk-ant-client-test
EXPECTED_TEXT="Hello from the mock upstream"

log() { printf '[claude_code_smoke] %s\n' "$*" >&2; }

if [[ -z "${CLAUDE_BIN:-}" ]]; then
  if command -v claude >/dev/null 2>&1; then
    CLAUDE_BIN=$(command -v claude)
  else
    CLAUDE_BIN=/opt/cc/node_modules/.bin/claude
  fi
fi
if [[ ! -x "$CLAUDE_BIN" ]]; then
  echo "SKIPPED: claude CLI not installed (looked for ${CLAUDE_BIN}; set CLAUDE_BIN)"
  exit 0
fi
for bin in "$BALANCER_SERVER" "$MOCK_ANTHROPIC"; do
  if [[ ! -x "$bin" ]]; then
    log "missing executable: $bin (build it first: cmake --build $BUILD_DIR)"
    exit 2
  fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/claude_code_smoke.XXXXXX")
MOCK_PID=""
BALANCER_PID=""

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

cleanup() {
  local status=$?
  stop_process "$BALANCER_PID" balancer-server
  stop_process "$MOCK_PID" mock_anthropic
  if [[ "${KEEP_TMP:-0}" == 1 || $status -ne 0 ]]; then
    log "temporary files kept in $TMP"
  else
    rm -rf "$TMP"
  fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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

dump_logs() {
  log "---- mock_anthropic stderr ----"; cat "$TMP/mock.stderr" >&2 || true
  log "---- balancer-server stderr ----"; cat "$TMP/balancer.stderr" >&2 || true
  log "---- claude stderr ----"; cat "$TMP/claude.stderr" >&2 2>/dev/null || true
}

fail() {
  log "FAIL: $*"
  dump_logs
  exit 1
}

# 1. The mock upstream, on an ephemeral port, accepting only the provider key. It logs one line
# per request (then the request's headers, indented, credentials redacted) to mock.stderr.
"$MOCK_ANTHROPIC" --host 127.0.0.1 --port 0 --require-key "$PROVIDER_KEY" --log-headers \
  >"$TMP/mock.stdout" 2>"$TMP/mock.stderr" &
MOCK_PID=$!
line=$(wait_for_line "$TMP/mock.stdout" '^listening on ' 10 "$MOCK_PID") ||
  fail "mock_anthropic did not start"
MOCK_PORT=${line##*:}
log "mock_anthropic (pid $MOCK_PID) on 127.0.0.1:$MOCK_PORT"

# 2. balancer-server: one anthropic provider with its own key, every model routed to it.
mkdir -p "$TMP/logs"
cat >"$TMP/balancer.yaml" <<EOF
providers:
  - name: "mock"
    type: "anthropic"
    base_url: "http://127.0.0.1:${MOCK_PORT}"
    auth_type: "api_key"
    auth_value: "${PROVIDER_KEY}"

model_routes:
  "*":
    - provider: "mock"
      model: "passthrough"

settings:
  host: "127.0.0.1"
  port: 0
  log_level: "DEBUG"
  log_file_path: "${TMP}/logs/balancer.jsonl"
EOF
"$BALANCER_SERVER" --config "$TMP/balancer.yaml" --host 127.0.0.1 --port 0 \
  >"$TMP/balancer.stdout" 2>"$TMP/balancer.stderr" &
BALANCER_PID=$!
line=$(wait_for_line "$TMP/balancer.stderr" 'listening on http://[^ ]+:[0-9]+' 15 "$BALANCER_PID") ||
  fail "balancer-server did not start"
BALANCER_PORT=$(sed -E 's#.*listening on http://[^ ]+:([0-9]+).*#\1#' <<<"$line")
[[ "$BALANCER_PORT" =~ ^[0-9]+$ ]] || fail "cannot parse the balancer's port from: $line"
log "balancer-server (pid $BALANCER_PID) on 127.0.0.1:$BALANCER_PORT"

# 3. claude -p, in a clean environment: an empty HOME and config dir (no user state, no stored
# login), no inherited ANTHROPIC_*/CLAUDE_* variables, only the client credential, no telemetry
# or other traffic besides the API. stdin is /dev/null so that it never waits for input.
# Run twice: with ANTHROPIC_API_KEY (sent as x-api-key) and with ANTHROPIC_AUTH_TOKEN (sent as
# Authorization: Bearer); the balancer must replace either with the provider key.
mkdir -p "$TMP/work"

# run_claude NAME CREDENTIAL_VARIABLE
run_claude() {
  local name=$1 credential_var=$2 status=0 mock_lines_before mock_log
  mock_lines_before=$(wc -l <"$TMP/mock.stderr")
  log "[$name] running: $credential_var=$CLIENT_KEY claude -p \"$CLAUDE_PROMPT\" via http://127.0.0.1:$BALANCER_PORT"
  rm -rf "${TMP:?}/home" && mkdir -p "$TMP/home"
  (
    cd "$TMP/work"
    env -i \
      PATH="$PATH" \
      HOME="$TMP/home" \
      CLAUDE_CONFIG_DIR="$TMP/home/.claude" \
      XDG_CONFIG_HOME="$TMP/home/.config" \
      XDG_CACHE_HOME="$TMP/home/.cache" \
      XDG_DATA_HOME="$TMP/home/.local/share" \
      XDG_STATE_HOME="$TMP/home/.local/state" \
      TMPDIR="$TMP" \
      LANG=C.UTF-8 \
      TERM=dumb \
      ANTHROPIC_BASE_URL="http://127.0.0.1:$BALANCER_PORT" \
      "$credential_var=$CLIENT_KEY" \
      DISABLE_TELEMETRY=1 \
      DISABLE_ERROR_REPORTING=1 \
      DISABLE_AUTOUPDATER=1 \
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
      CLAUDE_CODE_MAX_RETRIES="$CLAUDE_MAX_RETRIES" \
      timeout "$CLAUDE_TIMEOUT" "$CLAUDE_BIN" -p "$CLAUDE_PROMPT" </dev/null
  ) >"$TMP/claude.stdout" 2>"$TMP/claude.stderr" || status=$?
  # The mock logs a request after its response is written: wait (up to 5 s) for the line.
  local i
  for ((i = 0; i < 100; i++)); do
    mock_log=$(tail -n +"$((mock_lines_before + 1))" "$TMP/mock.stderr")
    grep -qE '^mock_anthropic: POST /v1/messages[? ]' <<<"$mock_log" && break
    [[ $status -eq 0 ]] || break
    sleep 0.05
  done

  echo "---- [$name] claude printed (exit status $status) ----"
  cat "$TMP/claude.stdout"
  echo "---- [$name] end of claude output ----"
  if [[ -s "$TMP/claude.stderr" ]]; then
    log "[$name] claude stderr:"
    cat "$TMP/claude.stderr" >&2
  fi
  log "[$name] requests the mock received:"
  grep '^mock_anthropic: ' <<<"$mock_log" | sed 's/^/    /' >&2 || true

  [[ $status -eq 0 ]] || fail "[$name] claude exited with status $status"
  grep -qF "$EXPECTED_TEXT" "$TMP/claude.stdout" ||
    fail "[$name] claude's output does not contain \"$EXPECTED_TEXT\""
  grep -qE '^mock_anthropic: POST /v1/messages(\?[^ ]*)? 200 .*stream=true' <<<"$mock_log" ||
    fail "[$name] the mock never answered a streaming POST /v1/messages with 200"
  grep -qE '^mock_anthropic: POST /v1/messages(\?[^ ]*)? [0-9]+ .*stream=true.* key=ok' <<<"$mock_log" ||
    fail "[$name] the streaming /v1/messages request did not carry the provider key"
  if grep -qE '^mock_anthropic: .* key=(bad|missing)' <<<"$mock_log"; then
    fail "[$name] a request reached the mock without the provider key, or with the client's"
  fi
  log "[$name] ok"
}

run_claude api-key ANTHROPIC_API_KEY
run_claude auth-token ANTHROPIC_AUTH_TOKEN

log "PASS"
