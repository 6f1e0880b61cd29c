#!/usr/bin/env bash
# make_seed_corpus.sh — (re)creates tests/fuzz/corpus/seed-* from the committed fixtures: each
# seed is the selector byte of converter_fuzz.cpp followed by a fixture (0: Anthropic request,
# 1: OpenAI response, 2: OpenAI request / Anthropic message, 3: OpenAI stream, 4: SSE bytes and
# error bodies). Inputs found by fuzzing are kept next to them under their libFuzzer names.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out="$root/tests/fuzz/corpus"
mkdir -p "$out"
rm -f "$out"/seed-*
seed() {  # seed SELECTOR FILE
  local name
  name="seed-$1-$(basename "$2")"
  { printf "\\x$(printf %02x "$1")"; cat "$2"; } >"$out/$name"
}
data="$root/tests/data"
for f in "$data"/converter/*.anthropic.json "$data"/tokens/*.json; do
  case $f in *response_*|*reference_counts*) continue ;; esac
  seed 0 "$f"
done
for f in "$data"/converter/response_*.openai.json; do seed 1 "$f"; done
for f in "$data"/converter/reverse_*.json; do seed 2 "$f"; done
for f in "$data"/streams/openai/*.sse; do
  case $f in *.anthropic.sse) seed 4 "$f" ;; *) seed 3 "$f" ;; esac
done
echo "$(ls "$out" | wc -l) corpus files in $out"
