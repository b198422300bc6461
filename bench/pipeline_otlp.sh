#!/usr/bin/env bash
# Whole-pipeline benchmark (issue 7): `serve` receiving OTLP GenAI spans (the closed-loop `load`
# mode of crates/llmtrail-otlp/benches/otlp.rs, 512 spans an export, each span an llm.request
# and an llm.response), with detection, the alert engine (built-in rules, behaviour analytics,
# drift) and two export sinks (JSON lines and CEF files) all on. Prints the received rate, then
# waits until both sinks hold every ledger record and prints the time that took, and whether
# detection or the alert engine skipped events (their queues are bounded; a skip is logged).
#
#   bench/pipeline_otlp.sh                # SECONDS_PER_RUN=10 CONNS=4 (defaults)
#   MODE=baseline bench/pipeline_otlp.sh  # the same load with detection only: no alerts, no sinks
set -euo pipefail
[ -n "${TRACE:-}" ] && set -x
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNS=${CONNS:-4}
PORT=${PORT:-9311}
cargo build --release --quiet -p llmtrail
cargo bench --quiet -p llmtrail-otlp --bench otlp --no-run
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

MODE=${MODE:-full}
if [ "$MODE" = baseline ]; then
  printf '[otlp]\nmax_body_bytes = 67108864\n[alerts]\nenabled = false\n' >"$work/llmtrail.toml"
else
cat >"$work/llmtrail.toml" <<TOML
[otlp]
max_body_bytes = 67108864
[[export.sinks]]
type = "file"
name = "jsonl"
path = "$work/events.jsonl"
format = "json"
max_file_bytes = 68719476736
[[export.sinks]]
type = "file"
name = "cef"
path = "$work/events.cef"
format = "cef"
max_file_bytes = 68719476736
[alerts.routes]
critical = ["cef"]
TOML
fi
LLMTRAIL_LOG=warn "${CARGO_TARGET_DIR:-target}/release/llmtrail" serve --config "$work/llmtrail.toml" \
  --data-dir "$work/data" --listen "127.0.0.1:$PORT" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/api/v1/health" && break
  sleep 0.05
done
cargo bench --quiet -p llmtrail-otlp --bench otlp -- load "http://127.0.0.1:$PORT" \
  "$(cat "$work/data/admin.token")" "$SECONDS_PER_RUN" "$CONNS"
loaded=$(date +%s.%N)
size=$(curl -s "http://127.0.0.1:$PORT/api/v1/health" | sed 's/.*"size":\([0-9]*\).*/\1/')
# Findings and alerts keep arriving for a moment after the load; wait until the ledger is still
# and both sinks hold all of it.
while :; do
  sleep 1
  now=$(curl -s "http://127.0.0.1:$PORT/api/v1/health" | sed 's/.*"size":\([0-9]*\).*/\1/')
  if [ "$MODE" = baseline ]; then
    a=$now c=$now
  else
    a=$(wc -l <"$work/events.jsonl" 2>/dev/null || echo 0)
    c=$(wc -l <"$work/events.cef" 2>/dev/null || echo 0)
  fi
  if [ "$now" = "$size" ] && [ "$a" -ge "$now" ] && [ "$c" -ge "$now" ]; then break; fi
  size=$now
done
done_at=$(date +%s.%N)
alerts=$(curl -s -H "authorization: Bearer $(cat "$work/data/admin.token")" \
  "http://127.0.0.1:$PORT/api/v1/alerts?limit=1000" | { grep -o '"rule_id":"[^"]*"' || true; } | sort | uniq -c | tr '\n' ' ')
echo "  mode $MODE; ledger records: $size; ledger still and sinks complete $(echo "$done_at - $loaded" | bc) s after the load" \
  "ended ($(echo "scale=0; $size / ($SECONDS_PER_RUN + $done_at - $loaded)" | bc) records/s from the load's start to both sinks complete)"
echo "  alerts: ${alerts:-none}"
echo "  serve peak RSS: $(awk '/VmHWM/ {printf "%.0f MB", $2 / 1024}' "/proc/$pid/status")"
if grep -E "behind|not seen by the alert engine|left unscanned|dropped" "$work/serve.log"; then
  echo "  SKIPPED: a bounded queue overflowed (lines above)"
else
  echo "  nothing skipped: detection and the alert engine saw every event"
fi
