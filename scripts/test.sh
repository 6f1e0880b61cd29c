#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to every test result: installs what is missing,
# runs the lints, builds with -Werror and runs the whole suite, builds the find_package consumer
# against the install tree, runs the official Anthropic SDK against a converted OpenAI stream
# (npm @anthropic-ai/sdk), then builds and runs the suite again under AddressSanitizer +
# UndefinedBehaviorSanitizer. The last line is the combined "N passed, N failed" summary.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/deps.sh || exit 1
jobs="$(nproc)"
passed=0
failed=0

step() { printf '\n=== %s ===\n' "$*"; }

# Runs ctest in build dir $1 and adds its counts to the totals.
run_ctest() {
  local dir="$1" log
  log="$(mktemp)"
  (cd "$dir" && ctest -j"$jobs" --output-on-failure --timeout 300) 2>&1 | tee "$log"
  local line total fail
  line="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)"
  if [ -z "$line" ]; then
    failed=$((failed + 1))   # ctest did not even report: count the whole run as a failure
  else
    total="$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")"
    fail="$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")"
    passed=$((passed + total - fail))
    failed=$((failed + fail))
  fi
  rm -f "$log"
}

# A check that is not a ctest case (lint, consumer build) counts as one test.
check() {
  local name="$1"; shift
  if "$@"; then passed=$((passed + 1)); echo "ok: $name"; else failed=$((failed + 1)); echo "FAILED: $name"; fi
}

step "lints"
check "public headers include only public headers, the standard library, nlohmann/json and tl::expected" \
  bash -c '! grep -rnE "^ *# *include" libbalancer/include | grep -vE "#include <(balancer/[a-z_/]+\.h|nlohmann/json(_fwd)?\.hpp|tl/expected\.hpp|[a-z_]+)>"'
check "examples include only public headers, the standard library and nlohmann/json" \
  bash -c '! grep -rnE "^ *# *include" examples | grep -vE "#include <(balancer/[a-z_/]+\.h|nlohmann/json\.hpp|[a-z_]+)>"'
check "no real time, sleeping or OS randomness in the library outside clock/random" \
  bash -c '! grep -rnE "steady_clock::now|system_clock::now|this_thread::sleep_for|usleep\(|std::random_device|getenv\(" libbalancer/src libbalancer/include libbalancer/testing | grep -vE "libbalancer/src/core/(clock|random)\.cpp|libbalancer/src/transport/curl_transport\.cpp"'
check "tests do not sleep to wait (pacing belongs in fake upstreams: tests/support/fake_upstream_pacing.h)" \
  bash -c '! grep -rnE "sleep_for|usleep\(|[^_]sleep\(" tests/unit tests/integration tests/support | grep -v "^tests/support/fake_upstream_pacing\.h:"'

check "clang-format: the tree is formatted as .clang-format says" scripts/lint.sh format
check "clang-tidy: the checks of .clang-tidy pass on the library and the server" scripts/lint.sh tidy

step "build (Debug, -Werror)"
if cmake -S . -B build/ci -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBALANCER_WERROR=ON >/dev/null &&
   cmake --build build/ci -j"$jobs"; then
  step "tests"
  run_ctest build/ci
  step "examples"
  check "every example runs and checks what it shows" examples/run_all.sh build/ci
  step "install + find_package consumer"
  prefix="$(mktemp -d)"
  check "cmake --install and examples/consumer via find_package(balancer)" bash -c "
    cmake --install build/ci --prefix '$prefix' >/dev/null &&
    cmake -S examples/consumer -B build/consumer -G Ninja -DCMAKE_PREFIX_PATH='$prefix' -DCONSUMER_WERROR=ON >/dev/null &&
    cmake --build build/consumer >/dev/null && build/consumer/consumer"
  step "official Anthropic SDK over a converted OpenAI stream"
  { command -v node && command -v npm; } >/dev/null 2>&1 || scripts/deps.sh nodejs npm
  check "@anthropic-ai/sdk parses balancer's translation of an OpenAI upstream" \
    tests/e2e/anthropic_sdk.sh build/ci
else
  failed=$((failed + 1)); echo "FAILED: Debug build"
fi

step "build (ASan + UBSan)"
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
if cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBALANCER_BUILD_EXAMPLES=OFF \
     -DCMAKE_CXX_FLAGS="-O1 $san" -DCMAKE_EXE_LINKER_FLAGS="$san" >/dev/null &&
   cmake --build build/asan -j"$jobs"; then
  step "tests under ASan + UBSan"
  export ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_ctest build/asan
else
  failed=$((failed + 1)); echo "FAILED: ASan build"
fi

step "concurrency tests under ThreadSanitizer"
tsan="-fsanitize=thread -fno-omit-frame-pointer"
if cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBALANCER_BUILD_EXAMPLES=OFF \
     -DBALANCER_BUILD_SERVER=OFF -DCMAKE_CXX_FLAGS="-O1 $tsan" -DCMAKE_EXE_LINKER_FLAGS="$tsan" >/dev/null &&
   cmake --build build/tsan -j"$jobs" --target unit_tests integration_tests; then
  check "[concurrency] tests under TSan (20 repetitions)" env TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    bash -c 'for i in $(seq 20); do build/tsan/tests/unit_tests "[concurrency]" >build/tsan/last.log 2>&1 || { echo "repetition $i failed:"; tail -n 80 build/tsan/last.log; exit 1; }; done'
  check "[dedup] deduplicator tests under TSan (200 repetitions)" env TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    bash -c 'for i in $(seq 200); do build/tsan/tests/unit_tests "[dedup]" >build/tsan/last.log 2>&1 || { echo "repetition $i failed:"; tail -n 80 build/tsan/last.log; exit 1; }; done'
  # The connection layer (poller, workers, connection hand-offs) on the real in-process server.
  check "connection layer tests under TSan (5 repetitions)" env TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    bash -c 'for i in $(seq 5); do build/tsan/tests/integration_tests "connections:*" >build/tsan/last.log 2>&1 || { echo "repetition $i failed:"; tail -n 80 build/tsan/last.log; exit 1; }; done'
else
  failed=$((failed + 1)); echo "FAILED: TSan build"
fi

echo
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
