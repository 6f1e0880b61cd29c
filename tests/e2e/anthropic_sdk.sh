#!/usr/bin/env bash
# anthropic_sdk.sh — runs tests/e2e/anthropic_sdk_stream.mjs: the official Anthropic SDK (npm
# @anthropic-ai/sdk) against balancer-server, which converts for tests/tools/mock_openai.
# Installs the SDK with npm into $SDK_DIR (default: $BUILD_DIR/e2e-node) when missing.
#
# Usage: tests/e2e/anthropic_sdk.sh [BUILD_DIR]   (default: build/dev of this checkout)
# Exit status: 0 pass, 1 failure.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
BUILD_DIR=${1:-${BUILD_DIR:-$SOURCE_DIR/build/dev}}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
SDK_DIR=${SDK_DIR:-$BUILD_DIR/e2e-node}
E2E_NAME=anthropic_sdk
# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/anthropic_sdk.XXXXXX")
MOCK_PID=""
BALANCER_PID=""
cleanup() {
  local status=$?
  stop_process "$BALANCER_PID" balancer-server
  stop_process "$MOCK_PID" mock_openai
  [[ $status -eq 0 ]] && rm -rf "$TMP" || log "temporary files kept in $TMP"
  exit $status
}
trap cleanup EXIT
fail() {
  log "FAIL: $*"
  for f in mock.stderr balancer.stderr; do log "---- $f ----"; cat "$TMP/$f" >&2 || true; done
  exit 1
}

if [[ ! -f "$SDK_DIR/node_modules/@anthropic-ai/sdk/package.json" ]]; then
  log "installing @anthropic-ai/sdk into $SDK_DIR"
  mkdir -p "$SDK_DIR"
  npm install --silent --no-audit --no-fund --prefix "$SDK_DIR" @anthropic-ai/sdk >&2 ||
    fail "npm install @anthropic-ai/sdk failed"
fi

start_mock mock "$BUILD_DIR/tests/mock_openai" --require-key provider-key --reasoning \
  --tool Read --tool-input '{"file_path":"/tmp/notes.txt"}'
cat >"$TMP/balancer.yaml" <<YAML
providers:
  - {name: "oai", type: "openai", base_url: "http://127.0.0.1:${MOCK_PORT}/v1", auth_type: "api_key", auth_value: "provider-key"}
model_routes:
  "claude-*":
    - {provider: "oai", model: "gpt-mock-1"}
settings:
  log_level: "WARNING"
  log_file_path: ""
YAML
start_balancer "$BUILD_DIR/server/balancer-server" "$TMP/balancer.yaml"

# The script must resolve the SDK from $SDK_DIR: run a copy from there.
cp "$SCRIPT_DIR/anthropic_sdk_stream.mjs" "$SDK_DIR/anthropic_sdk_stream.mjs"
BALANCER_URL="http://127.0.0.1:$BALANCER_PORT" node "$SDK_DIR/anthropic_sdk_stream.mjs" ||
  fail "the Anthropic SDK check failed"
