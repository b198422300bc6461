#!/usr/bin/env bash
# The whole pipeline through `serve` (issue 7's target: 20,000 events/s on this 2-core machine):
# NDJSON batches of mixed events (prompts, some with injections; outputs, some with a secret,
# PII or a markdown exfiltration; tool calls) POSTed by several client threads, each batch
# durable in the ledger before it is answered; then detection (every event scanned, findings
# appended), the alert rules and analytics, the query index and two export sinks (syslog CEF
# over TCP to a local receiver, and a rotating JSON file) must all catch up. Prints events/s
# acknowledged and end to end (until the last stage caught up), and serve's peak RSS.
#
#   bench/pipeline.sh                        # SECONDS_PER_RUN=20 THREADS=4 BATCH=200 MIX=attack
#   MIX=typical bench/pipeline.sh            # few findings (see bench/pipeline.py)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}
THREADS=${THREADS:-4}
BATCH=${BATCH:-200}
PYTHON=${PYTHON:-python3}
cargo build --release --quiet -p llmtrail
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SYSLOG_PORT=$(port)
HTTP_PORT=$(port)
# A TCP syslog receiver that reads and discards (counting bytes), standing in for a SIEM.
"$PYTHON" - "$SYSLOG_PORT" <<'PY' &
import socket, sys, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(16)
def drain(c):
    while c.recv(1 << 20):
        pass
while True:
    c, _ = srv.accept()
    threading.Thread(target=drain, args=(c,), daemon=True).start()
PY
pids+=("$!")
cat >"$work/llmtrail.toml" <<TOML
[server]
max_body_bytes = 67108864
[[export.sinks]]
type = "syslog"
name = "siem"
address = "127.0.0.1:$SYSLOG_PORT"
protocol = "tcp"
format = "cef"
[[export.sinks]]
type = "file"
name = "archive"
path = "$work/events.jsonl"
format = "json"
TOML
LLMTRAIL_LOG=warn target/release/llmtrail serve --config "$work/llmtrail.toml" \
  --data-dir "$work/data" --listen "127.0.0.1:$HTTP_PORT" >"$work/serve.log" 2>&1 &
pid=$!
pids+=("$pid")
for _ in $(seq 200); do
  curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/api/v1/health" && break
  sleep 0.05
done
echo "pipeline: ${SECONDS_PER_RUN} s, ${THREADS} client threads, batches of ${BATCH} events, mix ${MIX:-attack}"
"$PYTHON" bench/pipeline.py "http://127.0.0.1:$HTTP_PORT" "$(cat "$work/data/admin.token")" \
  "$SECONDS_PER_RUN" "$THREADS" "$BATCH"
echo "  serve peak RSS: $(awk '/VmHWM/ {printf "%.0f MB", $2 / 1024}' "/proc/$pid/status")"
