#!/usr/bin/env bash
# Style and static checks, run by scripts/test.sh (and by hand before a commit):
#   scripts/lint.sh format   every C++ file is formatted as .clang-format says (clang-format 14)
#   scripts/lint.sh tidy     .clang-tidy's checks pass on the library and the server
# Fix formatting with: git ls-files '*.cpp' '*.h' | xargs clang-format -i
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/deps.sh clang-format clang-tidy >/dev/null
jobs="$(nproc)"
case "${1:-}" in
  format)
    git ls-files '*.cpp' '*.h' | xargs clang-format --dry-run --Werror
    ;;
  tidy)
    cmake -S . -B build/tidy -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
      -DBALANCER_BUILD_TESTS=OFF -DBALANCER_BUILD_EXAMPLES=OFF >/dev/null
    git ls-files 'libbalancer/src/*.cpp' 'server/*.cpp' | xargs -P"$jobs" -n4 clang-tidy -p build/tidy --quiet
    ;;
  *)
    echo "usage: scripts/lint.sh format|tidy" >&2
    exit 2
    ;;
esac
