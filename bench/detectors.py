"""Throughput of detect-secrets and presidio-analyzer on llmtrail's scan corpus.

Driven by bench/detectors.sh, which writes the corpus (JSON lines `{"id", "text", "role"}`,
from crates/llmtrail-detect/benches/scan.rs) and compares with llmtrail on the same slice.

    python bench/detectors.py CORPUS.jsonl --slice-mb 4 --write-slice SLICE.jsonl

The slice is the first documents of the corpus, whole, up to SLICE-MB megabytes (10^6 bytes of
UTF-8 text); it is written to SLICE.jsonl so that llmtrail is measured on exactly that text.
Each tool is timed in process (imports, set-up and reading the file excluded), best of RUNS
runs, over the documents in turn:

- detect-secrets: every plugin of its default set (`default_settings()`), `analyze_line` on
  every line of every document. Its filters are not applied, which only makes it faster.
- presidio-analyzer: the recognizers of its default English registry that are
  `PatternRecognizer`s (regular expressions, with their validators and context words), each
  `analyze(text, entities, nlp_artifacts=None)` on every document. The spaCy NER recognizer
  and the phone-number recognizer (python-phonenumbers, not a pattern) are left out, and no
  spaCy model is loaded.

The last line printed is a JSON object with the figures, for the shell script.
"""

import argparse
import json
import logging
import sys
import time


def load(path, slice_bytes):
    docs = []
    total = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            text = json.loads(line)["text"]
            size = len(text.encode("utf-8"))
            if docs and total + size > slice_bytes:
                break
            docs.append(text)
            total += size
    return docs, total


def best_of(runs, f):
    best = None
    found = 0
    for _ in range(runs):
        started = time.perf_counter()
        found = f()
        took = time.perf_counter() - started
        best = took if best is None else min(best, took)
    return best, found


def detect_secrets_runner(docs):
    from detect_secrets.settings import default_settings
    from detect_secrets.settings import get_plugins

    with default_settings():
        plugins = list(get_plugins())
    names = sorted(type(p).__name__ for p in plugins)
    lines = [line for doc in docs for line in doc.splitlines()]

    def run():
        found = 0
        # Some plugins read the settings (the keyword detector's exclusions) while they scan.
        with default_settings():
            for n, line in enumerate(lines, 1):
                for plugin in plugins:
                    found += len(
                        plugin.analyze_line(filename="corpus.txt", line=line, line_number=n)
                    )
        return found

    return names, run


def presidio_runner(docs):
    from presidio_analyzer import PatternRecognizer
    from presidio_analyzer import RecognizerRegistry

    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(languages=["en"])
    recognizers = [r for r in registry.recognizers if isinstance(r, PatternRecognizer)]
    names = sorted(type(r).__name__ for r in recognizers)

    def run():
        found = 0
        for doc in docs:
            for r in recognizers:
                found += len(r.analyze(doc, r.supported_entities, nlp_artifacts=None))
        return found

    return names, run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus")
    parser.add_argument("--slice-mb", type=float, default=4.0)
    parser.add_argument("--write-slice")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    # presidio logs a line per recognizer it loads.
    logging.disable(logging.WARNING)

    docs, size = load(args.corpus, int(args.slice_mb * 1e6))
    if args.write_slice:
        with open(args.write_slice, "w", encoding="utf-8") as f:
            for i, doc in enumerate(docs):
                f.write(json.dumps({"id": i, "text": doc, "role": "user"}) + "\n")
    print(f"slice: {size / 1e6:.2f} MB, {len(docs)} documents", file=sys.stderr)

    result = {"slice_bytes": size, "documents": len(docs)}
    for key, make in (("detect_secrets", detect_secrets_runner), ("presidio", presidio_runner)):
        names, run = make(docs)
        took, found = best_of(args.runs, run)
        mbps = size / 1e6 / took
        print(
            f"{key}: {mbps:.2f} MB/s ({took:.2f} s, {found} results, {len(names)} "
            f"detectors: {', '.join(names)})",
            file=sys.stderr,
        )
        result[key] = {"mb_per_s": mbps, "seconds": took, "results": found, "detectors": names}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
