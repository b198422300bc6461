#!/usr/bin/env bash
# llmtrail's detection engine against Vectorscan (the portable fork of Hyperscan, the SIMD
# multi-pattern regex engine of IDS and mail filters) on the same rule set and the same text.
#
# 1. The scan bench generates its mixed-prose corpus (MB megabytes, fixed seed), writes it and
#    measures llmtrail's full default scan on it (`documents:` line).
# 2. bench/vectorscan_prepare.py extracts the built-in rules' keywords and patterns and writes
#    the corpus in a binary form; bench/vectorscan.c scans it with Vectorscan:
#    - keywords: every keyword as a case-insensitive literal (the work of llmtrail's keyword
#      prefilter alone, with no regex run after it);
#    - patterns single: every rule pattern Vectorscan accepts, one report per pattern and
#      document (less work than finding every match, which the findings need);
#    - patterns prefilter single: the same, with Vectorscan allowed to widen what it cannot
#      match exactly.
#
# Needs a C compiler, pkg-config and Debian's libvectorscan-dev (installed here with apt-get
# when missing and when running as root).
#
#   bench/vectorscan.sh          # MB=16
#   MB=64 bench/vectorscan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${MB:-16}

if ! pkg-config --exists libhs 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq libvectorscan-dev pkg-config >/dev/null
  else
    echo "libvectorscan-dev is needed (Debian: apt-get install libvectorscan-dev)" >&2
    exit 1
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== llmtrail, full default scan ($MB MB)"
cargo bench --quiet -p llmtrail-detect --bench scan -- --documents-only "$MB" \
  --write-corpus "$work/corpus.jsonl"

echo "== Vectorscan $(pkg-config --modversion libhs), same rules, same documents"
python3 bench/vectorscan_prepare.py "$work/corpus.jsonl" "$work"
cc -O2 -o "$work/vectorscan" bench/vectorscan.c $(pkg-config --cflags --libs libhs)
"$work/vectorscan" "$work" keywords
RUNS=1 "$work/vectorscan" "$work" patterns single
RUNS=1 "$work/vectorscan" "$work" patterns prefilter single
