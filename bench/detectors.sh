#!/usr/bin/env bash
# Detection throughput against detect-secrets and presidio-analyzer, on the same text.
#
# 1. The scan bench (crates/llmtrail-detect/benches/scan.rs) generates its mixed-prose corpus
#    (MB megabytes, fixed seed), writes it as JSON lines and measures llmtrail on it: the full
#    built-in rule set, one thread, `Engine::scan` on each document in turn (engine only: no
#    process start-up, no JSON).
# 2. bench/detectors.py takes the first SLICE_MB megabytes of those documents (the Python tools
#    are ~1000x slower, so they get a slice), writes that slice, and times detect-secrets (its
#    default plugins on every line) and presidio-analyzer (its default English pattern
#    recognizers on every document) in process.
# 3. The scan bench measures llmtrail again on exactly that slice, and the ratios are taken on it.
#
# The Python tools live in .venv-bench (created here; versions pinned in
# bench/requirements-detectors.txt).
#
#   bench/detectors.sh                      # MB=64 SLICE_MB=4 (defaults)
#   MB=16 SLICE_MB=2 bench/detectors.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${MB:-64}
SLICE_MB=${SLICE_MB:-4}
PY_RUNS=${PY_RUNS:-2}
PYTHON=${PYTHON:-python3}
VENV=.venv-bench
REQS=bench/requirements-detectors.txt

if [ ! -f "$VENV/.installed" ] || [ "$REQS" -nt "$VENV/.installed" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS"
  touch "$VENV/.installed"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

scan_bench() {
  cargo bench --quiet -p llmtrail-detect --bench scan -- --documents-only "$@"
}
mbps() { awk '$1 == "documents:" { print $2 }'; }

echo "== llmtrail, full corpus ($MB MB)"
scan_bench "$MB" --write-corpus "$work/corpus.jsonl" | tee "$work/full.txt"

echo "== detect-secrets and presidio-analyzer, first $SLICE_MB MB of the same documents"
"$VENV/bin/python" bench/detectors.py "$work/corpus.jsonl" --slice-mb "$SLICE_MB" \
  --runs "$PY_RUNS" --write-slice "$work/slice.jsonl" >"$work/python.json"

echo "== llmtrail, the same slice"
scan_bench --corpus "$work/slice.jsonl" | tee "$work/slice.txt"

full=$(mbps <"$work/full.txt")
slice=$(mbps <"$work/slice.txt")
"$VENV/bin/python" - "$full" "$slice" "$work/python.json" <<'PY'
import json, sys
full, slice_ = float(sys.argv[1]), float(sys.argv[2])
with open(sys.argv[3]) as f:
    py = json.loads(f.read().strip().splitlines()[-1])
ds, pr = py["detect_secrets"]["mb_per_s"], py["presidio"]["mb_per_s"]
print()
print(f"summary (one thread; slice = {py['slice_bytes'] / 1e6:.2f} MB, {py['documents']} documents)")
print(f"  llmtrail, full corpus       {full:10.1f} MB/s   target >= 300: {'met' if full >= 300 else 'NOT met'}")
print(f"  llmtrail, slice             {slice_:10.1f} MB/s")
for name, v in (("detect-secrets 1.5.0", ds), ("presidio-analyzer (patterns)", pr)):
    ratio = slice_ / v
    verdict = "met" if ratio >= 50 else "NOT met"
    print(f"  {name:<28}{v:10.2f} MB/s   llmtrail is {ratio:,.0f}x   target >= 50x: {verdict}")
PY
