"""Inputs for bench/vectorscan.c from the built-in rule packs and a scan-bench corpus.

Writes three files into OUT_DIR:
- keywords.txt: every distinct keyword of the built-in rules, lower-cased, one per line
  (the keyword prefilter's literals);
- patterns.txt: every rule pattern, one per line, rewritten from the `regex` crate's syntax to
  the PCRE dialect Vectorscan parses (the `u` flag dropped from inline flag groups);
- corpus.bin: the corpus documents, each as a 4-byte little-endian length and its UTF-8 bytes.

    python3 bench/vectorscan_prepare.py CORPUS.jsonl OUT_DIR
"""

import glob
import json
import os
import re
import struct
import sys
import tomllib

RULES = os.path.join(os.path.dirname(__file__), "..", "crates", "llmtrail-detect", "rules")


def to_pcre(pattern: str) -> str:
    """Drops the `regex` crate's `u` flag from inline flag groups: `(?i-u:` -> `(?i:`."""

    def fix(m: re.Match) -> str:
        on, off, tail = m.group(1), m.group(2) or "", m.group(3)
        on = on.replace("u", "")
        off = off.replace("u", "")
        flags = on + ("-" + off if off else "")
        if not flags:
            return "(?:" if tail == ":" else ""
        return "(?" + flags + tail

    return re.sub(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])", fix, pattern)


def main() -> None:
    corpus_path, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    keywords, patterns = set(), []
    for path in sorted(glob.glob(os.path.join(RULES, "*.toml"))):
        with open(path, "rb") as f:
            for rule in tomllib.load(f)["rules"]:
                keywords.update(k.lower() for k in rule.get("keywords", []))
                patterns.extend(to_pcre(p) for p in rule.get("patterns", []))
    with open(os.path.join(out, "keywords.txt"), "w", encoding="utf-8") as f:
        f.write("".join(k + "\n" for k in sorted(keywords)))
    # One pattern a line: a pattern with a line break (none in the built-in packs) is left out.
    patterns = [p for p in patterns if "\n" not in p]
    with open(os.path.join(out, "patterns.txt"), "w", encoding="utf-8") as f:
        f.write("".join(p + "\n" for p in patterns))
    total = 0
    with open(corpus_path, encoding="utf-8") as src, open(os.path.join(out, "corpus.bin"), "wb") as dst:
        for line in src:
            text = json.loads(line)["text"].encode("utf-8")
            dst.write(struct.pack("<I", len(text)))
            dst.write(text)
            total += len(text)
    print(f"{len(keywords)} keywords, {len(patterns)} patterns, corpus {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
