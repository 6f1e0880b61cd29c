#!/usr/bin/env bash
# Runs every example built in BUILD_DIR (BUILD_DIR/examples/<name>) and prints one line per
# example; exits non-zero if any example is missing or fails. No network: routing, conversion,
# coalescing and the Gateway all run on fakes.
#   examples/run_all.sh build/release
#   VERBOSE=1 examples/run_all.sh build/release   # also show each example's own output
set -u

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build_dir=$1
project_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# name | arguments
examples=(
  "route_once|${project_root}/config.example.yaml claude-sonnet-4-5"
  "route_model|"
  "convert_request|"
  "coalesce_calls|"
  "gateway_on_fake_transport|"
)

failures=0
for entry in "${examples[@]}"; do
  name=${entry%%|*}
  read -r -a args <<<"${entry#*|}"
  binary="${build_dir}/examples/${name}"
  if [[ ! -x ${binary} ]]; then
    printf 'MISSING %-28s %s\n' "${name}" "${binary}"
    failures=$((failures + 1))
    continue
  fi
  output=$("${binary}" "${args[@]}" 2>&1)
  status=$?
  if [[ ${status} -eq 0 ]]; then
    printf 'PASS    %s\n' "${name}"
  else
    printf 'FAIL    %-28s exit %d\n' "${name}" "${status}"
    failures=$((failures + 1))
  fi
  if [[ ${status} -ne 0 || -n ${VERBOSE:-} ]]; then
    printf '%s\n' "${output}" | sed 's/^/        | /'
  fi
done

if [[ ${failures} -ne 0 ]]; then
  echo "${failures} example(s) failed"
  exit 1
fi
echo "all ${#examples[@]} examples passed"
