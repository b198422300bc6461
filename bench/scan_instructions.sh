#!/usr/bin/env bash
# Instructions and cache misses of one warm pass of the detection engine, counted by callgrind
# (valgrind): a figure that does not drift with the machine's load, for comparing two
# versions of the engine.
#
# The scan bench generates its corpus (MB megabytes, fixed seed), scans every document twice
# so that the lazy automata are built, then once more inside `measured_pass`; callgrind counts
# that pass only.
#
#   bench/scan_instructions.sh            # MB=2
#   MB=4 bench/scan_instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${MB:-2}
if ! command -v valgrind >/dev/null; then
  echo "valgrind is needed (Debian: apt-get install valgrind)" >&2
  exit 1
fi
cargo bench --no-run --quiet -p llmtrail-detect --bench scan
bin=$(cargo bench --no-run -p llmtrail-detect --bench scan --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
valgrind --tool=callgrind --cache-sim=yes --collect-atstart=no \
  --toggle-collect='*measured_pass*' --callgrind-out-file="$out" \
  "$bin" "$MB" --instructions >/dev/null 2>&1
echo "one warm pass over the ${MB} MB scan-bench corpus:"
callgrind_annotate --show=Ir,D1mr,DLmr "$out" 2>/dev/null | grep 'PROGRAM TOTALS' |
  awk '{print "  instructions " $1 ", L1 data read misses " $3 ", last-level data read misses " $5}'
echo "  per function, callees included:"
callgrind_annotate --inclusive=yes --show=Ir "$out" 2>/dev/null | grep -v '=>' |
  grep -E 'Engine::(prepare|run_rule|scan_variants) |KeywordIndex::find |Positions::windows |normalize::variants |Detector>::inspect ' |
  sed 's|  [^ ]*/\([^/ ]*\.rs\):| \1:|; s| \[.*||' | awk '!seen[$NF]++' | sed 's/^/    /'
