"""Seeds fuzz/corpus/scan with every built-in rule's positive and negative examples.

    python3 fuzz/seed_corpus.py        # from the repository root; Python 3.11+ (tomllib)

Texts that already match rules get the fuzzer past the keyword prefilter from the start.
"""

import glob
import hashlib
import os
import tomllib

out = "fuzz/corpus/scan"
os.makedirs(out, exist_ok=True)
n = 0
for path in sorted(glob.glob("crates/llmtrail-detect/rules/*.toml")):
    with open(path, "rb") as f:
        pack = tomllib.load(f)
    for rule in pack.get("rules", []):
        examples = rule.get("examples", {})
        for text in examples.get("positive", []) + examples.get("negative", []):
            data = text.encode()
            name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
            n += 1
print(f"{n} seeds in {out}")
