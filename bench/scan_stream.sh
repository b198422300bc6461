#!/usr/bin/env bash
# Memory of `llmtrail scan --jsonl -` on a long stream: a generated JSONL stream of GB
# gigabytes (10 by default; generated on the fly, not written to disk) is piped into the
# release binary, output to /dev/null, and its resident memory (current and peak) is printed
# at 100 MB, at every GB and at the end. Flat means the peak at the end is the peak at 1 GB.
#
#   bench/scan_stream.sh            # GB=10
#   GB=2 bench/scan_stream.sh
set -euo pipefail
cd "$(dirname "$0")/.."
GB=${GB:-10}
cargo build --release --quiet -p llmtrail
python3 bench/scan_stream.py target/release/llmtrail --gigabytes "$GB"
