# kb: two commands do all set-up on a fresh machine.
#   make run   install into .venv, ingest the bundled sample reports if the home is empty, serve
#   make test  install into .venv (with test tools) and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# CPU build of PyTorch, installed before everything else so pip never pulls a CUDA build.
# For a GPU: make TORCH="torch --index-url https://download.pytorch.org/whl/cu124" install
TORCH  ?= torch==2.13.0
HOST   ?= 127.0.0.1
PORT   ?= 8000
SAMPLE ?= data/sample

.PHONY: run test lint lock install install-server browser ocr postgres bench-pdf bench bench-ingest scale load compare quality train clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The server alone (make run); the test tools and optional integrations on top (make test).
$(VENV)/.installed-run: pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e .
	touch $@

$(VENV)/.installed: $(VENV)/.installed-run
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test,mcp,langchain,cluster,postgres]'
	touch $@

lock: install  ## refresh requirements.lock from the test environment
	{ sed -n '1,3p' requirements.lock; $(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu$$/torch==\1/' | grep -v '^kb=='; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

install: $(VENV)/.installed

install-server: $(VENV)/.installed-run  ## the server's environment alone (what make run and the Docker image use)

run: $(VENV)/.installed-run ocr
	$(BIN)/kb ingest --if-empty $(SAMPLE)
	$(BIN)/kb serve --host $(HOST) --port $(PORT)

# Debian's Chromium for the browser tests (Playwright cannot download browsers here), and
# Tesseract for reading scanned PDF pages (without it they are reported, not read).
APT_INSTALL = apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q
AXE := .cache/axe/node_modules/axe-core/axe.min.js
browser:  ## Debian's chromium for the browser tests, and axe-core (accessibility checks) from the npm registry
	@command -v chromium >/dev/null || { $(APT_INSTALL) chromium chromium-driver; }
	@test -f $(AXE) || { command -v npm >/dev/null || $(APT_INSTALL) npm; \
		npm install --prefix .cache/axe --no-save --no-audit --no-fund --loglevel=error axe-core@4.10.2; }

# PostgreSQL 15 from Debian, and pgvector, which bookworm does not package: built from Debian
# trixie's source package against postgresql-server-dev-15 (about 10 s). Fails loudly if it cannot.
PG_BIN := /usr/lib/postgresql/15/bin
PGVECTOR := /usr/share/postgresql/15/extension/vector.control
postgres:  ## PostgreSQL 15 and pgvector for the PostgreSQL store's tests
	@test -x $(PG_BIN)/postgres || { $(APT_INSTALL) postgresql-15; }
	@test -f $(PGVECTOR) || { set -e; $(APT_INSTALL) postgresql-server-dev-15 dpkg-dev make clang-14 llvm-14; \
		src=$$(mktemp -d); \
		printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
			> /etc/apt/sources.list.d/kb-trixie-src.sources; \
		apt-get update -q; (cd $$src && apt-get source -q --download-only pgvector); \
		rm -f /etc/apt/sources.list.d/kb-trixie-src.sources; apt-get update -q; \
		tar xzf $$src/pgvector_*.orig.tar.gz -C $$src; \
		make -C $$src/pgvector-* PG_CONFIG=$(PG_BIN)/pg_config OPTFLAGS=""; \
		make -C $$src/pgvector-* PG_CONFIG=$(PG_BIN)/pg_config install; rm -rf $$src; }
	@test -f $(PGVECTOR) || { echo "pgvector is not installed: the PostgreSQL tests cannot run" >&2; exit 1; }

ocr:
	@command -v tesseract >/dev/null || { $(APT_INSTALL) tesseract-ocr || echo "tesseract-ocr could not be installed: scanned pages will be reported, not read"; }

test: install browser ocr postgres lint
	$(BIN)/python -m pytest

lint: install  ## ruff (pyflakes, pycodestyle, import order, bugbear) and mypy on kb/, index/, webapp/
	$(BIN)/ruff check kb index webapp tests bench
	$(BIN)/mypy kb index webapp

# `make bench` runs every benchmark, then writes bench/RESULTS.md and bench/scaling.png.
# The side-by-side one needs its own environment (txtai, Haystack): bench/.venv-compare.
CVENV := bench/.venv-compare
SCALE ?= real,100000,1000000
LEAN  ?= mode=dense&rerank=false&highlight=none
bench: bench-pdf bench-ingest scale load compare
	$(CVENV)/bin/python bench/results.py

FILINGS ?= ../shared/corpus/filings
bench-pdf: install  ## real report PDFs: parse rate old vs new, folder ingest against the raw encoder, resume after a kill
	$(BIN)/python bench/ingest_folder.py --folder $(FILINGS)

bench-ingest: install  ## ingest rate against the raw encoder, in-process latency per mode
	$(BIN)/python bench/bench_kb.py --corpus $(EVAL)/corpus.jsonl --queries $(EVAL)/queries.test.jsonl

scale: install  ## 12k (SciFact) to 1M passages: ANN, BM25, HTTP against the floor, memory, ready time
	$(BIN)/python bench/scale.py --sizes $(SCALE) --dataset $(EVAL) --seed-home bench/output/scifact-home

load: install  ## the real server under 1, 8 and 32 concurrent clients (sample home, then SciFact)
	$(BIN)/python bench/load.py
	KB_QUERY_BATCH=8 $(BIN)/python bench/load.py --home bench/output/scifact-home --queries $(EVAL)/queries.jsonl --out bench/output/load-scifact.json
	KB_QUERY_BATCH=1 $(BIN)/python bench/load.py --home bench/output/scifact-home --queries $(EVAL)/queries.jsonl --out bench/output/load-scifact-nobatch.json
	KB_QUERY_BATCH=8 $(BIN)/python bench/load.py --home bench/output/scifact-home --queries $(EVAL)/queries.jsonl --params "$(LEAN)" --out bench/output/load-scifact-lean.json
	KB_QUERY_BATCH=1 $(BIN)/python bench/load.py --home bench/output/scifact-home --queries $(EVAL)/queries.jsonl --params "$(LEAN)" --out bench/output/load-scifact-lean-nobatch.json

$(CVENV)/.installed: bench/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(CVENV)
	$(CVENV)/bin/python -m pip install --quiet --upgrade pip
	$(CVENV)/bin/python -m pip install --quiet $(TORCH)
	$(CVENV)/bin/python -m pip install --quiet -r bench/requirements.txt -e .
	touch $@

compare: $(CVENV)/.installed  ## kb, txtai and Haystack side by side on SciFact
	$(CVENV)/bin/python bench/compare.py --dataset $(EVAL)

EVAL ?= ../shared/eval/scifact
REPORTS_HOME ?= bench/output/reports-home
SAMPLE_HOME ?= bench/output/sample-home
EVALS ?= $(dir $(EVAL))
quality: install  ## every judged collection and our questions on real reports: every mode, with and without the second stage
	$(BIN)/kb --home $(REPORTS_HOME) ingest $(SAMPLE) $(FILINGS)
	$(BIN)/kb --home $(SAMPLE_HOME) ingest $(SAMPLE)
	$(BIN)/python bench/quality.py --eval $(EVALS) --questions data/eval/questions.jsonl --questions data/eval/questions-validation.jsonl --questions data/eval/questions-statements.jsonl --questions data/eval/questions-metrics.jsonl --questions data/eval/questions-measures.jsonl --questions data/eval/questions-symbols.jsonl --questions data/eval/questions-fresh.jsonl --questions data/eval/questions-short-years.jsonl --questions data/eval/questions-plain.jsonl --questions data/eval/questions-later.jsonl --reports-home $(REPORTS_HOME) --sample-home $(SAMPLE_HOME)
	$(BIN)/python bench/lexical_quality.py --eval $(EVALS)

train: install  ## refit the built-in second stage on SciFact train (as kb learn fits), then the calibration and default cut across every collection
	$(BIN)/python bench/train_reranker.py --dataset $(EVAL) --home bench/output/scifact-home --write
	$(BIN)/kb --home $(REPORTS_HOME) ingest $(SAMPLE) $(FILINGS)
	$(BIN)/python bench/calibrate_loo.py --eval $(EVALS) --questions data/eval/questions.jsonl --reports-home $(REPORTS_HOME) --write

clean:
	rm -rf $(VENV) build *.egg-info tests/output
