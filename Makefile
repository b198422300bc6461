# llmtrail — build, test and lint entry points. `make test` is what CI runs.
CARGO ?= cargo

.PHONY: all build release test lint audit fmt bench schema venv eval rsyslog browser

# The official provider SDKs for the interop tests live in a venv of the project's own.
PYTHON ?= python3
VENV := .venv
INTEROP_REQUIREMENTS := crates/llmtrail/tests/interop/requirements.txt

all: build

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --release --workspace

# Everything the tests need is built or installed here; nothing is assumed on the machine
# beyond the Rust toolchain.
test: venv rsyslog browser
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace --lib --bins --tests
	$(CARGO) test --workspace --doc
	$(CARGO) check --workspace --benches

venv: $(VENV)/.installed

# The export tests send to a real rsyslogd (Debian's rsyslog, rsyslog-openssl for TLS, openssl
# to make test certificates). Installed when missing and
# possible (root with apt-get); otherwise those tests print why and skip.
rsyslog:
	@if [ -x /usr/sbin/rsyslogd ] && command -v openssl >/dev/null 2>&1 \
		&& ls /usr/lib/*/rsyslog/lmnsd_ossl.so >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rsyslog rsyslog-openssl openssl >/dev/null) \
		|| echo "rsyslog could not be installed; the export tests will skip"; \
	else echo "rsyslogd missing and not installable here (needs root and apt-get); the export tests will skip"; fi

# The dashboard tests drive Debian's Chromium through its chromedriver (WebDriver).
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null) \
		|| echo "chromium could not be installed; the dashboard tests will skip (and fail under CI)"; \
	else echo "chromium missing and not installable here (needs root and apt-get); the dashboard tests will skip"; fi

$(VENV)/.installed: $(INTEROP_REQUIREMENTS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(INTEROP_REQUIREMENTS)
	touch $@

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@command -v cargo-deny >/dev/null 2>&1 || $(CARGO) install --locked cargo-deny
	$(CARGO) deny check licenses bans sources

# Known vulnerabilities: needs the RustSec advisory database, fetched from its git repository
# (not reachable from machines without general internet access).
audit:
	@command -v cargo-deny >/dev/null 2>&1 || $(CARGO) install --locked cargo-deny
	$(CARGO) deny check advisories

fmt:
	$(CARGO) fmt --all

# Regenerates docs/schema/event.schema.json from the types.
schema:
	UPDATE_SCHEMA=1 $(CARGO) test -p llmtrail-core --test schema

# Ledger benchmarks; figures and machine go to docs/BENCHMARKS.md.
bench:
	$(CARGO) bench -p llmtrail-ledger --bench ledger -- all

# Detection quality on the development corpus (docs/EVALUATION.md). Separate from `test`: it
# downloads the dataset wheels from PyPI. Exits non-zero when a target is missed.
EVAL_VENV := .venv-eval
EVAL_DIR := target/eval

eval: $(EVAL_VENV)/.installed $(EVAL_DIR)/wheels/.downloaded
	$(CARGO) build --release -p llmtrail
	$(EVAL_VENV)/bin/python eval/build_corpus.py --wheels $(EVAL_DIR)/wheels --out $(EVAL_DIR)/corpus.jsonl
	$(EVAL_VENV)/bin/python eval/score.py --corpus $(EVAL_DIR)/corpus.jsonl --binary target/release/llmtrail

$(EVAL_VENV)/.installed: eval/requirements.txt
	$(PYTHON) -m venv $(EVAL_VENV)
	$(EVAL_VENV)/bin/pip install --quiet --disable-pip-version-check -r eval/requirements.txt
	touch $@

$(EVAL_DIR)/wheels/.downloaded: eval/datasets.txt $(EVAL_VENV)/.installed
	mkdir -p $(EVAL_DIR)/wheels
	$(EVAL_VENV)/bin/pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
		-r eval/datasets.txt -d $(EVAL_DIR)/wheels
	touch $@
