#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running balancer-server:
# installs what is missing, builds Release, and serves config.yaml if present, else
# config.example.yaml. Extra arguments go to balancer-server (e.g. --port 9191).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DBALANCER_BUILD_TESTS=OFF >/dev/null
cmake --build build/release --target balancer-server
config=config.example.yaml
[ -f config.yaml ] && config=config.yaml
exec build/release/server/balancer-server --config "$config" "$@"
