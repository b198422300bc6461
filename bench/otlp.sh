#!/usr/bin/env bash
# OTLP receiver benchmark: protobuf exports of 512 GenAI chat spans each (as the OpenTelemetry
# SDK's batch processor sends them) POSTed to `serve`'s /v1/traces by a closed-loop client (the
# `load` mode of crates/llmtrail-otlp/benches/otlp.rs), every span with ids of its own, mapped
# to an llm.request and an llm.response and durably appended before the answer. Runs with
# detection on (the default) and off; prints spans/s, latency and serve's peak RSS.
#
#   bench/otlp.sh                    # SECONDS_PER_RUN=10 CONNS=4 (defaults)
#   SECONDS_PER_RUN=5 CONNS=2 bench/otlp.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNS=${CONNS:-4}
cargo build --release --quiet -p llmtrail
cargo bench --quiet -p llmtrail-otlp --bench otlp --no-run
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

run() { # name port detect
  mkdir -p "$work/$1"
  printf '[detect]\nenabled = %s\n[otlp]\nmax_body_bytes = 67108864\n' "$3" >"$work/$1/llmtrail.toml"
  LLMTRAIL_LOG=warn target/release/llmtrail serve --config "$work/$1/llmtrail.toml" \
    --data-dir "$work/$1/data" --listen "127.0.0.1:$2" >"$work/$1/serve.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$2/api/v1/health" && break
    sleep 0.05
  done
  echo "detection $1:"
  cargo bench --quiet -p llmtrail-otlp --bench otlp -- load "http://127.0.0.1:$2" \
    "$(cat "$work/$1/data/admin.token")" "$SECONDS_PER_RUN" "$CONNS"
  echo "  ledger: $(curl -s "http://127.0.0.1:$2/api/v1/health"); serve peak RSS:" \
    "$(awk '/VmHWM/ {printf "%.0f MB", $2 / 1024}' "/proc/$pid/status")"
  kill "$pid"
}

run on 9301 true
run off 9302 false
