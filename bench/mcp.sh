#!/usr/bin/env bash
# MCP proxy latency: sequential tools/call round trips from a stdio client to a minimal stdio
# MCP server (bench/mcp_latency.py), directly and through `llmtrail mcp wrap` reporting to a
# release `serve` (detection on). Through wrap in both modes: `block` (the default: a pending
# record durable before the call is forwarded, the completed record durable before the
# result is released) and `allow` (records sent in the background). Prints p50/p90/p99 per
# path; the added latency is the difference from the direct path.
#
#   bench/mcp.sh               # CALLS=5000 (default)
set -euo pipefail
cd "$(dirname "$0")/.."
export CALLS=${CALLS:-5000}
PY=${PYTHON:-python3}
cargo build --release --quiet -p llmtrail
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=9311
LLMTRAIL_LOG=warn target/release/llmtrail serve --data-dir "$work/data" \
  --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/api/v1/health" && break
  sleep 0.05
done
export LLMTRAIL_TOKEN
LLMTRAIL_TOKEN=$(cat "$work/data/admin.token")
printf '[mcp]\non_log_failure = "block"\n' >"$work/block.toml"
printf '[mcp]\non_log_failure = "allow"\n' >"$work/allow.toml"
server=("$PY" bench/mcp_latency.py server)
echo "direct:       $("$PY" bench/mcp_latency.py drive "${server[@]}")"
for mode in allow block; do
  echo "wrap ($mode): $(LLMTRAIL_LOG=error "$PY" bench/mcp_latency.py drive target/release/llmtrail \
    mcp wrap --config "$work/$mode.toml" --url "http://127.0.0.1:$port" -- "${server[@]}")"
done
echo "ledger: $(curl -s "http://127.0.0.1:$port/api/v1/health"); serve peak RSS:" \
  "$(awk '/VmHWM/ {printf "%.0f MB", $2 / 1024}' "/proc/$pid/status")"
