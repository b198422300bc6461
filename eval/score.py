"""Scores `llmtrail scan --jsonl` on the corpus written by build_corpus.py.

Units and matching (docs/EVALUATION.md has the reasoning):
- Attacks (prompt_injection, jailbreak) are judged per prompt. A prompt is detected when it
  has at least one finding of category prompt_injection or jailbreak; "strict" rows ask for
  the category of the sample's own set. Negatives are every sample of the benign, pii, secret
  and secret_negative sets; the false-positive rate is also given on the benign set alone.
- PII and secrets are judged per span. Findings of the category are merged into regions
  (overlapping findings are one region). An expected span is found when a region overlaps it;
  a region is a true positive when it overlaps an expected span of the category, else a false
  positive. Category rows ignore the reported type (a secret reported as a generic assignment
  still counts); per-type rows ask for the exact type, so a type mismatch is a miss for the
  expected type and a false positive for the reported one. PII is scored on pattern types only.

Writes results.json, report.md and misses.jsonl next to the corpus and exits 1 when a target
is missed.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import math
import subprocess
import sys
from pathlib import Path

ATTACK = {"prompt_injection", "jailbreak"}
PII_PATTERN_TYPES = {"email", "phone_number", "credit_card", "iban", "us_ssn", "ip_address"}
NEGATIVE_SETS = {"benign", "pii", "secret", "secret_negative"}
SPAN_SETS = {"benign", "pii", "secret", "secret_negative"}
ALL_CATEGORIES = [
    "prompt_injection",
    "jailbreak",
    "pii",
    "secret",
    "exfiltration",
    "unsafe_output",
    "system_prompt_leak",
    "invisible_text",
    "tool_risk",
]

# (row, metric, comparison, threshold)
TARGETS = [
    ("prompt_injection", "recall", ">=", 0.90),
    ("jailbreak", "recall", ">=", 0.90),
    ("attack", "benign_fpr", "<=", 0.01),
    ("prompt_injection", "benign_fpr", "<=", 0.01),
    ("jailbreak", "benign_fpr", "<=", 0.01),
    ("pii (pattern types)", "f1", ">=", 0.97),
    ("secret", "recall", ">=", 0.95),
    ("secret", "precision", ">=", 0.95),
]


def ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None or p + r == 0:
        return None if p is None or r is None else 0.0
    return 2 * p * r / (p + r)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """95% Wilson score interval for a proportion: honest error bars for small sets."""
    if n == 0:
        return None
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def scan(binary: Path, corpus: list[dict], workdir: Path) -> dict[str, list[dict]]:
    inp = workdir / "scan_input.jsonl"
    with inp.open("w", encoding="utf-8") as f:
        for row in corpus:
            f.write(json.dumps({"id": row["id"], "text": row["text"], "role": row["role"]}) + "\n")
    with inp.open("rb") as stdin:
        proc = subprocess.run([str(binary), "scan", "--jsonl", "-"], stdin=stdin, capture_output=True, check=False)
    if proc.returncode not in (0, 1):
        sys.exit(f"scan failed with status {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    out = {}
    for line in proc.stdout.decode("utf-8").split("\n"):
        if not line:
            continue
        res = json.loads(line)
        if "error" in res:
            sys.exit(f"scan rejected input line {res.get('line')}: {res['error']}")
        out[res["id"]] = res["findings"]
    return out


def regions(findings: list[dict]) -> list[tuple[int, int, set]]:
    """Merges overlapping findings into (start, end, types)."""
    out: list[list] = []
    for f in sorted(findings, key=lambda f: (f["start"], f["end"])):
        if out and f["start"] < out[-1][1]:
            out[-1][1] = max(out[-1][1], f["end"])
            out[-1][2].add(f["type"])
        else:
            out.append([f["start"], f["end"], {f["type"]}])
    return [(s, e, t) for s, e, t in out]


def overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


class Counts:
    def __init__(self) -> None:
        self.tp_spans = self.spans = self.tp_regions = self.regions = 0

    def row(self) -> dict:
        p = ratio(self.tp_regions, self.regions)
        r = ratio(self.tp_spans, self.spans)
        return {
            "precision": p,
            "recall": r,
            "f1": f1(p, r),
            "support": self.spans,
            "predicted": self.regions,
            "recall_ci": wilson(self.tp_spans, self.spans),
        }


def score(corpus: list[dict], found: dict[str, list[dict]]) -> tuple[dict, list[dict]]:
    rows: dict[str, dict] = {}
    misses: list[dict] = []
    by_set = collections.defaultdict(list)
    for row in corpus:
        by_set[row["set"]].append(row)
    benign = by_set["benign"]
    negatives = [r for r in corpus if r["set"] in NEGATIVE_SETS]

    def cats(row: dict) -> set:
        return {f["category"] for f in found[row["id"]]}

    def attack_row(name: str, positives: list[dict], hit_cats: set) -> dict:
        tp = sum(1 for r in positives if cats(r) & hit_cats)
        fp = sum(1 for r in negatives if cats(r) & hit_cats)
        fp_benign = sum(1 for r in benign if cats(r) & hit_cats)
        p = ratio(tp, tp + fp)
        rec = ratio(tp, len(positives))
        return {
            "precision": p,
            "recall": rec,
            "f1": f1(p, rec),
            "support": len(positives),
            "predicted": tp + fp,
            "recall_ci": wilson(tp, len(positives)),
            "benign_fpr": ratio(fp_benign, len(benign)),
            "negatives_fpr": ratio(fp, len(negatives)),
        }

    rows["prompt_injection"] = attack_row("prompt_injection", by_set["injection"], ATTACK)
    rows["jailbreak"] = attack_row("jailbreak", by_set["jailbreak"], ATTACK)
    rows["attack"] = attack_row("attack", by_set["injection"] + by_set["jailbreak"], ATTACK)
    rows["prompt_injection (strict)"] = attack_row("pi", by_set["injection"], {"prompt_injection"})
    rows["jailbreak (strict)"] = attack_row("jb", by_set["jailbreak"], {"jailbreak"})
    harmful = by_set["harmful"]
    rows["harmful requests flagged as attack"] = {
        "flagged": ratio(sum(1 for r in harmful if cats(r) & ATTACK), len(harmful)),
        "support": len(harmful),
    }
    for r in by_set["injection"] + by_set["jailbreak"]:
        if not cats(r) & ATTACK:
            misses.append({"kind": "attack_miss", "id": r["id"], "source": r["source"], "text": r["text"][:600]})
    for r in negatives:
        hits = [f for f in found[r["id"]] if f["category"] in ATTACK]
        if hits:
            misses.append({"kind": "attack_fp", "id": r["id"], "text": r["text"][:400], "findings": hits})

    # Span-level categories.
    for category, allowed in (("pii", PII_PATTERN_TYPES), ("secret", None)):
        total = Counts()
        per_type: dict[str, Counts] = collections.defaultdict(Counts)
        mismatches = collections.Counter()
        for r in corpus:
            if r["set"] not in SPAN_SETS:
                continue
            fs = [f for f in found[r["id"]] if f["category"] == category and (allowed is None or f["type"] in allowed)]
            expected = [s for s in r["spans"] if s["category"] == category]
            regs = regions(fs)
            total.spans += len(expected)
            total.regions += len(regs)
            for s in expected:
                hit = [g for g in regs if overlaps(s["start"], s["end"], g[0], g[1])]
                if hit:
                    total.tp_spans += 1
                    types = set().union(*(g[2] for g in hit))
                    if s["type"] not in types:
                        mismatches[f"{s['type']} -> {'/'.join(sorted(types))}"] += 1
                else:
                    misses.append(
                        {
                            "kind": f"{category}_miss",
                            "id": r["id"],
                            "type": s["type"],
                            "value": r["text"].encode()[s["start"] : s["end"]].decode(errors="replace"),
                            "text": r["text"][:300],
                        }
                    )
            for g in regs:
                if any(overlaps(s["start"], s["end"], g[0], g[1]) for s in expected):
                    total.tp_regions += 1
                else:
                    misses.append(
                        {
                            "kind": f"{category}_fp",
                            "id": r["id"],
                            "set": r["set"],
                            "types": sorted(g[2]),
                            "value": r["text"].encode()[g[0] : g[1]].decode(errors="replace"),
                            "text": r["text"][:300],
                        }
                    )
            # Per type, exact type match.
            for t in {s["type"] for s in expected} | {f["type"] for f in fs}:
                c = per_type[t]
                exp_t = [s for s in expected if s["type"] == t]
                regs_t = regions([f for f in fs if f["type"] == t])
                c.spans += len(exp_t)
                c.regions += len(regs_t)
                c.tp_spans += sum(1 for s in exp_t if any(overlaps(s["start"], s["end"], g[0], g[1]) for g in regs_t))
                c.tp_regions += sum(1 for g in regs_t if any(overlaps(s["start"], s["end"], g[0], g[1]) for s in exp_t))
        name = "pii (pattern types)" if category == "pii" else "secret"
        rows[name] = total.row()
        rows[name]["benign_fpr"] = ratio(sum(1 for r in benign if category in cats(r)), len(benign))
        rows[name]["type_mismatches"] = dict(mismatches)
        rows[name]["per_type"] = {t: c.row() for t, c in sorted(per_type.items())}

    for category in ALL_CATEGORIES:
        if category in ("prompt_injection", "jailbreak", "pii", "secret"):
            continue
        rows[category] = {
            "benign_fpr": ratio(sum(1 for r in benign if category in cats(r)), len(benign)),
            "findings_all_sets": sum(1 for r in corpus for f in found[r["id"]] if f["category"] == category),
        }
        for r in benign:
            hits = [f for f in found[r["id"]] if f["category"] == category]
            if hits:
                misses.append({"kind": f"{category}_fp", "id": r["id"], "text": r["text"][:300], "findings": hits})
    return rows, misses


def check_targets(rows: dict) -> list[tuple[str, str, str, float, float | None, bool]]:
    out = []
    for row, metric, op, threshold in TARGETS:
        value = rows[row].get(metric)
        ok = value is not None and (value >= threshold if op == ">=" else value <= threshold)
        out.append((row, metric, op, threshold, value, ok))
    return out


def fmt(v, pct=False) -> str:
    if v is None:
        return "n/a"
    return f"{v * 100:.1f}%" if pct else f"{v:.3f}"


def markdown(rows: dict, targets: list, meta: dict) -> str:
    lines = [
        f"Measured {meta['date']} on commit `{meta['commit']}`, corpus seed {meta['seed']}, "
        f"{meta['samples']} samples.",
        "",
        "| category | unit | support | precision | recall (95% CI) | F1 | FP rate, benign | FP rate, all negatives |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in ("prompt_injection", "jailbreak", "attack", "prompt_injection (strict)", "jailbreak (strict)"):
        r = rows[name]
        ci = r["recall_ci"]
        lines.append(
            f"| {name} | prompt | {r['support']} | {fmt(r['precision'])} | {fmt(r['recall'])} "
            f"({fmt(ci[0])}–{fmt(ci[1])}) | {fmt(r['f1'])} | {fmt(r['benign_fpr'], True)} | "
            f"{fmt(r['negatives_fpr'], True)} |"
        )
    for name in ("pii (pattern types)", "secret"):
        r = rows[name]
        ci = r["recall_ci"]
        lines.append(
            f"| {name} | span | {r['support']} | {fmt(r['precision'])} | {fmt(r['recall'])} "
            f"({fmt(ci[0])}–{fmt(ci[1])}) | {fmt(r['f1'])} | {fmt(r['benign_fpr'], True)} | |"
        )
    for name in ALL_CATEGORIES:
        if name in rows and "findings_all_sets" in rows[name]:
            lines.append(f"| {name} | — | 0 | n/a | n/a | n/a | {fmt(rows[name]['benign_fpr'], True)} | |")
    h = rows["harmful requests flagged as attack"]
    lines += [
        "",
        f"Plain harmful requests (AdvBench, no attack technique, {h['support']} prompts) flagged as "
        f"an attack: {fmt(h['flagged'], True)} (neither a hit nor a false positive).",
        "",
        "PII by type (exact type match):",
        "",
        "| type | support | precision | recall | F1 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for t, r in rows["pii (pattern types)"]["per_type"].items():
        lines.append(f"| {t} | {r['support']} | {fmt(r['precision'])} | {fmt(r['recall'])} | {fmt(r['f1'])} |")
    for name in ("pii (pattern types)", "secret"):
        mm = rows[name]["type_mismatches"]
        if mm:
            lines += ["", f"Type mismatches ({name}, counted as hits in the category row): "
                      + ", ".join(f"{k} ×{v}" for k, v in sorted(mm.items()))]
    lines += ["", "Targets:", ""]
    for row, metric, op, threshold, value, ok in targets:
        lines.append(f"- {row} {metric} {op} {threshold}: {fmt(value)} — {'met' if ok else 'MISSED'}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--binary", type=Path, required=True)
    args = parser.parse_args()

    corpus = [json.loads(line) for line in args.corpus.read_text(encoding="utf-8").split("\n") if line]
    workdir = args.corpus.parent
    found = scan(args.binary, corpus, workdir)
    rows, misses = score(corpus, found)
    targets = check_targets(rows)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "crates/llmtrail-detect"], capture_output=True, text=True).stdout.strip()
    stats = json.loads(args.corpus.with_suffix(".stats.json").read_text())
    meta = {
        "date": datetime.date.today().isoformat(),
        "commit": commit + ("+dirty" if dirty else ""),
        "seed": stats["seed"],
        "samples": len(corpus),
    }
    report = markdown(rows, targets, meta)
    (workdir / "report.md").write_text(report)
    (workdir / "results.json").write_text(json.dumps({"meta": meta, "corpus": stats, "rows": rows}, indent=2) + "\n")
    with (workdir / "misses.jsonl").open("w", encoding="utf-8") as f:
        for m in misses:
            f.write(json.dumps(m, ensure_ascii=False) + "\n")
    print(report)
    print(f"details: {workdir / 'results.json'}, misses and false positives: {workdir / 'misses.jsonl'}")
    missed = [t for t in targets if not t[5]]
    for row, metric, op, threshold, value, _ in missed:
        print(f"target missed: {row} {metric} = {fmt(value)}, wanted {op} {threshold}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
