#!/usr/bin/env bash
# Gateway benchmark: the mock upstream directly, then through llmtrail in audit mode and in
# permissive mode, back to back in one run; plain and streaming; concurrency 1 and 32.
# Load generator: wrk (installed from Debian's packages if missing). Prints a Markdown table
# of p50/p99 latency, added latency against direct, throughput, and the gateway's peak RSS,
# then the time to first byte of a stream (curl, median of TTFB_RUNS).
#
#   bench/gateway.sh                 # DURATION=10s per run by default
#   DURATION=5s bench/gateway.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
TTFB_RUNS=${TTFB_RUNS:-200}
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
cargo build --release --quiet -p llmtrail -p llmtrail-mock-upstream
BIN=target/release
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

MOCK=127.0.0.1:9199
"$BIN/llmtrail-mock-upstream" --listen "$MOCK" --no-record --threads 1 >"$work/mock.log" &
pids+=($!)

start_gateway() { # name port mode
  mkdir -p "$work/$1"
  cat >"$work/$1/llmtrail.toml" <<TOML
[gateway]
on_log_failure = "$3"
max_in_flight = 4096
[gateway.upstreams.openai]
base_url = "http://$MOCK"
TOML
  LLMTRAIL_LOG=warn "$BIN/llmtrail" serve --config "$work/$1/llmtrail.toml" \
    --data-dir "$work/$1/data" --listen "127.0.0.1:$2" >"$work/$1/serve.log" 2>&1 &
  pids+=($!)
  eval "PID_$1=$!"
}
start_gateway audit 9201 block
start_gateway permissive 9202 allow
for port in 9199 9201 9202; do
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/v1/models" && break
    sleep 0.05
  done
done

# A realistic chat request of about 1 KiB: system prompt, a few turns, parameters.
prompt='{"model":"gpt-4o","temperature":0.2,"max_tokens":256,"messages":[{"role":"system","content":"You are the treasury assistant of Example Corp. Answer with figures from the attached context only, cite the document, and refuse anything outside finance."},{"role":"user","content":"Context: Q3 operating cash flow was 41.2M, capex 12.9M, and the revolving facility remains undrawn at 150M. Payables days rose from 38 to 44."},{"role":"assistant","content":"Noted. What would you like to know about the Q3 figures?"},{"role":"user","content":"What was free cash flow in Q3, and how did working capital contribute? Keep it to two sentences."}]'
PLAIN="$prompt}"
STREAM="$prompt,\"stream\":true,\"stream_options\":{\"include_usage\":true}}"

declare -A P50 P99 RPS
run() { # label url body conns
  local out
  out=$(BODY="$3" wrk -t1 -c"$4" -d"$DURATION" --latency -s bench/post.lua "$2/v1/chat/completions")
  P50[$1]=$(awk '$1=="50%"{print $2}' <<<"$out")
  P99[$1]=$(awk '$1=="99%"{print $2}' <<<"$out")
  RPS[$1]=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
  if grep -q "Non-2xx" <<<"$out"; then echo "WARNING: non-2xx answers in $1" >&2; fi
}
to_ms() { # wrk duration (us/ms/s) to ms
  awk -v v="$1" 'BEGIN{n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.3f", n}'
}

for mode in plain stream; do
  body=$PLAIN; [ "$mode" = stream ] && body=$STREAM
  for c in 1 32; do
    run "direct-$mode-$c" "http://$MOCK" "$body" "$c"
    run "audit-$mode-$c" "http://127.0.0.1:9201" "$body" "$c"
    run "permissive-$mode-$c" "http://127.0.0.1:9202" "$body" "$c"
  done
done

rss() { awk '/VmHWM/{printf "%.0f", $2/1024}' "/proc/$1/status"; }
echo
echo "| body | conc. | target | p50 ms | p99 ms | added p50 ms | added p99 ms | req/s |"
echo "|---|---|---|---|---|---|---|---|"
for mode in plain stream; do
  for c in 1 32; do
    d50=$(to_ms "${P50[direct-$mode-$c]}"); d99=$(to_ms "${P99[direct-$mode-$c]}")
    for t in direct audit permissive; do
      k="$t-$mode-$c"
      p50=$(to_ms "${P50[$k]}"); p99=$(to_ms "${P99[$k]}")
      a50=$(awk -v a="$p50" -v b="$d50" 'BEGIN{printf "%.3f", a-b}')
      a99=$(awk -v a="$p99" -v b="$d99" 'BEGIN{printf "%.3f", a-b}')
      [ "$t" = direct ] && { a50=-; a99=-; }
      echo "| $mode | $c | $t | $p50 | $p99 | $a50 | $a99 | ${RPS[$k]} |"
    done
  done
done
echo
echo "peak RSS of serve: audit $(rss "$PID_audit") MB, permissive $(rss "$PID_permissive") MB"

# Time to first byte of a stream whose chunks come 50 ms apart.
ttfb() { # url
  local body='{"model":"mock-slow-50","stream":true,"messages":[{"role":"user","content":"hello"}]}'
  for _ in $(seq "$TTFB_RUNS"); do
    curl -s -o /dev/null -w '%{time_starttransfer}\n' -H 'content-type: application/json' \
      -d "$body" "$1/v1/chat/completions"
  done | sort -n | awk '{a[NR]=$1} END{printf "%.3f", a[int(NR/2)+1]*1000}'
}
echo "stream time to first byte (median of $TTFB_RUNS, ms): direct $(ttfb "http://$MOCK"), audit $(ttfb http://127.0.0.1:9201), permissive $(ttfb http://127.0.0.1:9202)"
