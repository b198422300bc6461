"""Builds the labelled development corpus for `make eval`.

Sources (see docs/EVALUATION.md):
- pyrit 1.1.0 wheel: jailbreak templates (filled with AdvBench behaviours), the Skeleton Key
  prompt, garak's system prompt extraction requests and ps_fuzz's system prompt theft prompt
  (injection), AdvBench behaviours on their own (harmful requests without an attack technique,
  reported but neither positive nor negative), garak's normal instructions (benign);
- presidio-evaluator 0.3.2 wheel: sentence templates filled with Faker values (PII);
- eval/secrets_gen.py: synthetic credentials (secrets) and random identifiers (negatives);
- eval/secret_negatives.txt and eval/benign.txt: hand-written negatives.

The datasets are read from the wheels (zip files) and never copied into the repository. The
output is JSON lines, one sample per line:
  {"id", "set", "source", "role", "text", "labels": [category...],
   "spans": [{"category", "type", "start", "end"}],        # scored, byte offsets
   "entities": [{"type", "start", "end"}]}                 # PII the corpus does not score
Everything random is drawn from generators seeded with --seed, so a run is reproducible.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
import sys
import zipfile
from pathlib import Path

import yaml
from faker import Faker

import secrets_gen

HERE = Path(__file__).resolve().parent

PYRIT_WHEEL = "pyrit-1.1.0-py3-none-any.whl"
PRESIDIO_WHEEL = "presidio_evaluator-0.3.2-py3-none-any.whl"
TEMPLATES_DIR = "pyrit/datasets/jailbreak/templates/"
SEEDS_DIR = "pyrit/datasets/seed_datasets/local/"

# Presidio template entities that are "pattern" PII: the detector finds them by their shape,
# so they are scored. The key is the template placeholder, the value the llmtrail type.
PATTERN_ENTITIES = {
    "credit_card_number": "credit_card",
    "phone_number": "phone_number",
    "iban": "iban",
    "ssn": "us_ssn",
    "ip_address": "ip_address",
    "email": "email",
}

NATIONALITIES = ["Canadian", "Brazilian", "Kenyan", "Norwegian", "Vietnamese", "Mexican", "Irish"]
NATION_WOMEN = ["Canadian woman", "Brazilian woman", "Kenyan woman", "Norwegian woman"]
NATION_PLURALS = ["Canadians", "Brazilians", "Kenyans", "Norwegians", "Vietnamese"]


def read_yaml(zf: zipfile.ZipFile, name: str):
    return yaml.safe_load(zf.read(name).decode("utf-8"))


def seed_values(zf: zipfile.ZipFile, name: str) -> list[str]:
    doc = read_yaml(zf, SEEDS_DIR + name)
    return [s["value"].strip() for s in doc.get("seeds", []) if isinstance(s.get("value"), str)]


def byte_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Character offsets to UTF-8 byte offsets (the scanner reports bytes)."""
    return len(text[:start].encode("utf-8")), len(text[:end].encode("utf-8"))


class Corpus:
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.counters: collections.Counter = collections.Counter()

    def add(self, set_name: str, source: str, text: str, labels=(), spans=(), entities=(), role="user"):
        self.counters[set_name] += 1
        self.rows.append(
            {
                "id": f"{set_name}-{self.counters[set_name]:05d}",
                "set": set_name,
                "source": source,
                "role": role,
                "text": text,
                "labels": sorted(set(labels)),
                "spans": list(spans),
                "entities": list(entities),
            }
        )


def add_pyrit(corpus: Corpus, zf: zipfile.ZipFile, rng: random.Random) -> None:
    behaviours = seed_values(zf, "adv_bench.prompt")

    # Jailbreak templates with the single `prompt` parameter, filled with a behaviour.
    names = sorted(
        n for n in zf.namelist() if n.startswith(TEMPLATES_DIR) and n.endswith((".yaml", ".yml"))
    )
    placeholder = re.compile(r"\{\{\s*prompt\s*\}\}")
    for name in names:
        doc = read_yaml(zf, name)
        if not isinstance(doc, dict) or not isinstance(doc.get("value"), str):
            continue
        if list(doc.get("parameters") or []) != ["prompt"]:
            continue
        # Jinja's raw markers protect literal braces in some templates; rendering drops them.
        template = doc["value"].replace("{% raw %}", "").replace("{% endraw %}", "")
        if not placeholder.search(template):
            continue
        text = placeholder.sub(lambda _: rng.choice(behaviours), template).strip()
        corpus.add("jailbreak", "pyrit:" + name.removeprefix("pyrit/datasets/"), text, ["jailbreak"])

    doc = read_yaml(zf, "pyrit/datasets/executors/skeleton_key/skeleton_key.prompt")
    for seed in doc["seeds"]:
        corpus.add("jailbreak", "pyrit:executors/skeleton_key", seed["value"].strip(), ["jailbreak"])

    for name in ("garak/system_prompt_extraction.prompt", "psfuzz_steal_system.prompt"):
        for text in seed_values(zf, name):
            corpus.add("injection", "pyrit:seed_datasets/" + name, text, ["prompt_injection"])

    for text in behaviours:
        corpus.add("harmful", "pyrit:seed_datasets/adv_bench.prompt", text)

    for text in seed_values(zf, "garak/normal_instructions.prompt"):
        corpus.add("benign", "pyrit:seed_datasets/garak/normal_instructions.prompt", text)


def faker_value(fake: Faker, rng: random.Random, entity: str) -> str:
    simple = {
        "person": fake.name,
        "name": fake.name,
        "name_female": fake.name_female,
        "name_male": fake.name_male,
        "first_name": fake.first_name,
        "first_name_male": fake.first_name_male,
        "first_name_female": fake.first_name_female,
        "first_name_nonbinary": fake.first_name_nonbinary,
        "last_name": fake.last_name,
        "last_name_male": fake.last_name_male,
        "last_name_female": fake.last_name_female,
        "prefix": fake.prefix,
        "prefix_male": fake.prefix_male,
        "prefix_female": fake.prefix_female,
        "city": fake.city,
        "street_name": fake.street_name,
        "country": fake.country,
        "organization": fake.company,
        "building_number": fake.building_number,
        "secondary_address": fake.secondary_address,
        "postcode": fake.postcode,
        "zipcode": fake.zipcode,
        "state_abbr": fake.state_abbr,
        "job": fake.job,
        "url": fake.url,
        "year": fake.year,
        "day_of_week": fake.day_of_week,
        "credit_card_number": fake.credit_card_number,
        "phone_number": fake.phone_number,
        "iban": fake.iban,
        "ssn": fake.ssn,
        "email": fake.email,
    }
    if entity in simple:
        return str(simple[entity]())
    if entity == "address":
        return fake.address().replace("\n", ", ")
    if entity == "ip_address":
        return fake.ipv4() if rng.random() < 0.8 else fake.ipv6()
    if entity == "age":
        return str(rng.randint(18, 90))
    if entity == "date_time":
        return fake.date_time().strftime(rng.choice(["%Y-%m-%d %H:%M", "%d/%m/%Y", "%B %d, %Y"]))
    if entity == "date_of_birth":
        return fake.date_of_birth().strftime(rng.choice(["%m/%d/%Y", "%Y-%m-%d", "%d %B %Y"]))
    if entity == "nationality":
        return rng.choice(NATIONALITIES)
    if entity == "nation_woman":
        return rng.choice(NATION_WOMEN)
    if entity == "nation_plural":
        return rng.choice(NATION_PLURALS)
    if entity == "us_driver_license":
        return rng.choice("ABCDEFGHJKLMNPRSTWY") + "".join(rng.choice("0123456789") for _ in range(7))
    raise KeyError(f"no Faker value for template entity {entity!r}")


def add_presidio(corpus: Corpus, zf: zipfile.ZipFile, seed: int, fills: int, pattern_fills: int) -> None:
    raw = zf.read("presidio_evaluator/data_generator/raw_data/templates.txt").decode("utf-8", "replace")
    # Line breaks inside a template are written as the two characters \n.
    templates = [line.strip().replace("\\n", "\n") for line in raw.splitlines() if line.strip()]
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    slot = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
    for index, template in enumerate(templates):
        # Templates with a pattern entity are filled more often: they are what PII is scored on.
        entities_here = slot.findall(template)
        if any(e in PATTERN_ENTITIES for e in entities_here):
            repeats = pattern_fills
        else:
            repeats = fills if entities_here else 1
        for _ in range(repeats):
            text, spans, entities, pos = "", [], [], 0
            for m in slot.finditer(template):
                text += template[pos : m.start()]
                value = faker_value(fake, rng, m.group(1))
                start, end = len(text), len(text) + len(value)
                text += value
                pos = m.end()
                bstart, bend = byte_span(text, start, end)
                if m.group(1) in PATTERN_ENTITIES:
                    spans.append({"category": "pii", "type": PATTERN_ENTITIES[m.group(1)], "start": bstart, "end": bend})
                else:
                    entities.append({"type": m.group(1), "start": bstart, "end": bend})
            text += template[pos:]
            labels = ["pii"] if spans else []
            corpus.add("pii", f"presidio:templates.txt#{index + 1}", text, labels, spans, entities)


def read_lines(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            out.append(line.replace("\\n", "\n"))
    return out


def add_secrets(corpus: Corpus, seed: int, per_format: int) -> None:
    for sample in secrets_gen.samples(seed, per_format):
        spans = []
        for start, end, kind in sample["secrets"]:
            bstart, bend = byte_span(sample["text"], start, end)
            spans.append({"category": "secret", "type": kind, "start": bstart, "end": bend})
        # A connection string may name its host by IP address: that is PII of the ip type.
        for m in re.finditer(r"\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b", sample["text"]):
            bstart, bend = byte_span(sample["text"], m.start(), m.end())
            spans.append({"category": "pii", "type": "ip_address", "start": bstart, "end": bend})
        corpus.add("secret", "secrets_gen:" + sample["format"], sample["text"], ["secret"], spans)
    for text in read_lines(HERE / "secret_negatives.txt"):
        corpus.add("secret_negative", "eval/secret_negatives.txt", text)
    for text in secrets_gen.negatives(seed, 60):
        corpus.add("secret_negative", "secrets_gen:negatives", text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, required=True, help="directory holding the pinned wheels")
    parser.add_argument("--out", type=Path, required=True, help="corpus file to write (JSON lines)")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--pii-fills", type=int, default=3, help="Faker fills per presidio template")
    parser.add_argument(
        "--pii-pattern-fills", type=int, default=12, help="fills per template with a scored PII entity"
    )
    parser.add_argument("--secrets-per-format", type=int, default=6)
    args = parser.parse_args()

    corpus = Corpus()
    with zipfile.ZipFile(args.wheels / PYRIT_WHEEL) as zf:
        add_pyrit(corpus, zf, random.Random(args.seed))
    with zipfile.ZipFile(args.wheels / PRESIDIO_WHEEL) as zf:
        add_presidio(corpus, zf, args.seed, args.pii_fills, args.pii_pattern_fills)
    add_secrets(corpus, args.seed, args.secrets_per_format)
    for text in read_lines(HERE / "benign.txt"):
        corpus.add("benign", "eval/benign.txt", text)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as f:
        for row in corpus.rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    spans = collections.Counter(s["type"] for r in corpus.rows for s in r["spans"])
    summary = {"seed": args.seed, "samples": dict(corpus.counters), "spans": dict(spans)}
    args.out.with_suffix(".stats.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"corpus: {len(corpus.rows)} samples -> {args.out}", file=sys.stderr)
    for name, count in sorted(corpus.counters.items()):
        print(f"  {name:16} {count}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
