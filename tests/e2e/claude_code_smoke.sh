#!/usr/bin/env bash
# claude_code_smoke.sh — run the real Claude Code CLI through balancer-server against a mock
# upstream, fully offline.
#
#   claude --(client key)--> balancer-server --(provider key)--> mock upstream
#
# Modes:
#   (default)  mock_anthropic (tests/tools/mock_anthropic.cpp): `claude -p "hi"` must print the
#              mock's answer; the mock must see a streaming POST /v1/messages carrying the
#              provider's key, not the client's (it runs with --require-key, so a forwarded client
#              key would be answered 401 and claude would print an error).
#   --openai   mock_openai (tests/tools/mock_openai.cpp) behind a `type: openai` provider, so
#              every request goes through the Anthropic -> OpenAI converter and the streaming
#              translator. The mock answers with reasoning, text and a call of Claude Code's Read
#              tool on work/notes.txt; claude must run the tool and send its result back (a
#              tool_result converted to a `role: tool` message), and print the mock's final
#              answer quoting the file ("PELICAN-42").
#   --oauth    mock_anthropic as a Claude subscription: a `auth_type: oauth` provider bound to
#              an account; the script logs the account in through the balancer's
#              /oauth/generate-url and /oauth/exchange-code (code#state against the mock's token
#              endpoint), then claude's requests must reach the mock with the account's Bearer
#              access token and the oauth beta flag (the mock refuses anything else); the token
#              store must be mode 0600 and no token may appear in the balancer's logs.
# Each mode runs claude twice: with the client key in ANTHROPIC_API_KEY (x-api-key) and in
# ANTHROPIC_AUTH_TOKEN (Authorization: Bearer).
#
# Builds nothing. Usage:
#   tests/e2e/claude_code_smoke.sh [--openai] [BUILD_DIR]   (default: build/dev of this checkout)
# Environment (all optional):
#   BUILD_DIR       as the argument
#   BALANCER_SERVER path to balancer-server   (default: $BUILD_DIR/server/balancer-server)
#   MOCK_ANTHROPIC  path to mock_anthropic    (default: $BUILD_DIR/tests/mock_anthropic)
#   MOCK_OPENAI     path to mock_openai       (default: $BUILD_DIR/tests/mock_openai)
#   CLAUDE_BIN      path to the claude CLI    (default: claude on PATH, else
#                                              /opt/cc/node_modules/.bin/claude)
#   CLAUDE_TIMEOUT  seconds for claude        (default: 120)
#   CLAUDE_MAX_RETRIES  claude's retries of a failed API call (CLAUDE_CODE_MAX_RETRIES;
#                   default 0: a balancer error is not hidden by a retry, and a failure is
#                   reported at once instead of after minutes of back-off)
#   KEEP_TMP=1      keep the temporary directory (logs, config) for inspection
# Exit status: 0 pass (or skipped: claude CLI not installed), 1 failure, 2 usage error.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)

MODE=anthropic
if [[ "${1:-}" == --openai || "${1:-}" == --oauth ]]; then
  MODE=${1#--}
  shift
fi
BUILD_DIR=${1:-${BUILD_DIR:-$SOURCE_DIR/build/dev}}
BALANCER_SERVER=${BALANCER_SERVER:-$BUILD_DIR/server/balancer-server}
MOCK_ANTHROPIC=${MOCK_ANTHROPIC:-$BUILD_DIR/tests/mock_anthropic}
MOCK_OPENAI=${MOCK_OPENAI:-$BUILD_DIR/tests/mock_openai}
CLAUDE_TIMEOUT=${CLAUDE_TIMEOUT:-120}
CLAUDE_MAX_RETRIES=${CLAUDE_MAX_RETRIES:-0}

PROVIDER_KEY=mock-provider-key
OAUTH_EMAIL=smoke@example.com
if [[ $MODE == oauth ]]; then
  PROVIDER_KEY=mock-oauth-access-token-7f3c9a  # what the mock's token endpoint issues
fi
CLIENT_KEY=sk-ant-client-test
if [[ $MODE == openai ]]; then
  MOCK_BIN=$MOCK_OPENAI
  MOCK_NAME=mock_openai
  CLAUDE_PROMPT="Read notes.txt and tell me what it says."
  EXPECTED_TEXT="PELICAN-42"
  MOCK_REQUEST_RE='^mock_openai: POST /v1/chat/completions'
else
  MOCK_BIN=$MOCK_ANTHROPIC
  MOCK_NAME=mock_anthropic
  CLAUDE_PROMPT=hi
  EXPECTED_TEXT="Hello from the mock upstream"
  MOCK_REQUEST_RE='^mock_anthropic: POST /v1/messages(\?[^ ]*)?'
fi

E2E_NAME=claude_code_smoke
# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"

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
for bin in "$BALANCER_SERVER" "$MOCK_BIN"; do
  if [[ ! -x "$bin" ]]; then
    log "missing executable: $bin (build it first: cmake --build $BUILD_DIR)"
    exit 2
  fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/claude_code_smoke.XXXXXX")
MOCK_PID=""
BALANCER_PID=""

cleanup() {
  local status=$?
  stop_process "$BALANCER_PID" balancer-server
  stop_process "$MOCK_PID" "$MOCK_NAME"
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

dump_logs() {
  log "---- $MOCK_NAME stderr ----"; cat "$TMP/mock.stderr" >&2 || true
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
mkdir -p "$TMP/work" "$TMP/logs"
echo "The launch code is PELICAN-42." >"$TMP/work/notes.txt"
if [[ $MODE == openai ]]; then
  start_mock mock "$MOCK_OPENAI" --require-key "$PROVIDER_KEY" --log-headers --reasoning \
    --tool Read --tool-input "{\"file_path\":\"$TMP/work/notes.txt\"}"
  PROVIDER_TYPE=openai
  BASE_URL="http://127.0.0.1:${MOCK_PORT}/v1"
  ROUTE_MODEL=gpt-mock-1
elif [[ $MODE == oauth ]]; then
  start_mock mock "$MOCK_ANTHROPIC" --require-key "$PROVIDER_KEY" --log-headers --oauth
  PROVIDER_TYPE=anthropic
  BASE_URL="http://127.0.0.1:${MOCK_PORT}"
  ROUTE_MODEL=passthrough
else
  start_mock mock "$MOCK_ANTHROPIC" --require-key "$PROVIDER_KEY" --log-headers
  PROVIDER_TYPE=anthropic
  BASE_URL="http://127.0.0.1:${MOCK_PORT}"
  ROUTE_MODEL=passthrough
fi

# 2. balancer-server: one provider with its own key (or a subscription account), every model
# routed to it.
if [[ $MODE == oauth ]]; then
  CREDENTIAL_YAML="    auth_type: \"oauth\"
    account_email: \"${OAUTH_EMAIL}\""
  OAUTH_YAML="oauth:
  token_url: \"http://127.0.0.1:${MOCK_PORT}/v1/oauth/token\"
  token_store_path: \"${TMP}/state/oauth_tokens.json\""
else
  CREDENTIAL_YAML="    auth_type: \"api_key\"
    auth_value: \"${PROVIDER_KEY}\""
  OAUTH_YAML=""
fi
cat >"$TMP/balancer.yaml" <<EOF
providers:
  - name: "mock"
    type: "${PROVIDER_TYPE}"
    base_url: "${BASE_URL}"
${CREDENTIAL_YAML}

model_routes:
  "*":
    - provider: "mock"
      model: "${ROUTE_MODEL}"

settings:
  host: "127.0.0.1"
  port: 0
  log_level: "DEBUG"
  log_file_path: "${TMP}/logs/balancer.jsonl"

${OAUTH_YAML}
EOF
start_balancer "$BALANCER_SERVER" "$TMP/balancer.yaml"

# 2b. --oauth: log the account in as a user would — open the login URL (here: only read its
# state), paste the code shown as "code#state".
if [[ $MODE == oauth ]]; then
  login=$(curl -sS "http://127.0.0.1:$BALANCER_PORT/oauth/generate-url?account_email=$OAUTH_EMAIL") ||
    fail "GET /oauth/generate-url failed"
  state=$(sed -n 's/.*"state":"\([^"]*\)".*/\1/p' <<<"$login")
  [[ -n $state ]] || fail "no state in /oauth/generate-url's answer: $login"
  exchanged=$(curl -sS -w ' %{http_code}' -H 'content-type: application/json' \
    -d "{\"code\":\"mock-code#$state\",\"account_email\":\"$OAUTH_EMAIL\"}" \
    "http://127.0.0.1:$BALANCER_PORT/oauth/exchange-code") || fail "POST /oauth/exchange-code failed"
  [[ $exchanged == *" 200" ]] || fail "exchange-code answered: $exchanged"
  log "logged in: $exchanged"
  mode=$(stat -c %a "$TMP/state/oauth_tokens.json") || fail "no token store written"
  [[ $mode == 600 ]] || fail "token store has mode $mode, not 600"
  status_body=$(curl -sS "http://127.0.0.1:$BALANCER_PORT/oauth/status")
  grep -q "\"$OAUTH_EMAIL\"" <<<"$status_body" || fail "/oauth/status does not list the account: $status_body"
  if grep -qE "$PROVIDER_KEY|mock-refresh-" <<<"$status_body"; then
    fail "/oauth/status shows token characters"
  fi
fi

# 3. claude -p, in a clean environment: an empty HOME and config dir (no user state, no stored
# login), no inherited ANTHROPIC_*/CLAUDE_* variables, only the client credential, no telemetry
# or other traffic besides the API. stdin is /dev/null so that it never waits for input.
# Run twice: with ANTHROPIC_API_KEY (sent as x-api-key) and with ANTHROPIC_AUTH_TOKEN (sent as
# Authorization: Bearer); the balancer must replace either with the provider key.
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
    grep -qE "$MOCK_REQUEST_RE" <<<"$mock_log" && break
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
  grep "^$MOCK_NAME: " <<<"$mock_log" | sed 's/^/    /' >&2 || true

  [[ $status -eq 0 ]] || fail "[$name] claude exited with status $status"
  grep -qF "$EXPECTED_TEXT" "$TMP/claude.stdout" ||
    fail "[$name] claude's output does not contain \"$EXPECTED_TEXT\""
  grep -qE "$MOCK_REQUEST_RE 200 .*stream=true" <<<"$mock_log" ||
    fail "[$name] the mock never answered a streaming request with 200"
  grep -qE "$MOCK_REQUEST_RE [0-9]+ .*stream=true.* key=ok" <<<"$mock_log" ||
    fail "[$name] the streaming request did not carry the provider key"
  if [[ $MODE == openai ]]; then
    grep -qE "$MOCK_REQUEST_RE 200 .*answer=tool" <<<"$mock_log" ||
      fail "[$name] the mock never asked for the tool call"
  fi
  if grep -qE "^$MOCK_NAME: .* key=(bad|missing)" <<<"$mock_log"; then
    fail "[$name] a request reached the mock without the provider key, or with the client's"
  fi
  log "[$name] ok"
}

run_claude api-key ANTHROPIC_API_KEY
run_claude auth-token ANTHROPIC_AUTH_TOKEN

if [[ $MODE == oauth ]] && grep -rqE "$PROVIDER_KEY|mock-refresh-" "$TMP/logs" "$TMP/balancer.stderr"; then
  fail "a token appears in the balancer's logs"
fi

log "PASS"
