# nanoscope — the two commands a newcomer needs:
#
#   make reproduce   install dependencies, build the corpus, train the cpu preset, execute every
#                    notebook and render it to out/*.html (figures in out/plots/), results-only
#                    pages out/report/*.html and out/index.html linking them
#   make test        vet, gofmt, go mod tidy, go test, bounded fuzzing, execute the fast
#                    notebooks, check their rendered HTML, run 00 and 03 in a live Jupyter
#
# Other targets: deps, build, corpus, train-cpu, notebooks, report, render-check, live-check,
# tidy-check, clean.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO ?= go
BIN := bin/nanoscope
# The corpus and model the notebooks use. notebooks/nbutil has the same paths and vocabulary
# size (nbutil.CorpusDir, nbutil.CorpusVocab, nbutil.CPUModelDir); keep them in step.
DATA := data/rust
VOCAB := 2048
CPU_OUT := out/cpu
# Notebooks that `make test` executes (their NN prefixes); `make notebooks` runs them all.
TEST_NOTEBOOKS ?= 00 01 02 03 09 10
NB_TIMEOUT ?= 1200
export NB_TIMEOUT
# Notebooks executed at a time (scripts/run-notebooks.sh): on two cores, two overlap one
# notebook's compiling and linking with the other's computing (NB_JOBS=1: one after another).
NB_JOBS ?= 2
export NB_JOBS
# Notebooks that `make live-check` runs through a live Jupyter server's UI in Chromium.
LIVE_NOTEBOOKS ?= 00 03

.PHONY: help deps build corpus train-cpu notebooks reproduce test vet fmt-check go-test fuzz \
	test-notebooks render-check live-check tidy-check report clean

help:
	@sed -n '2,11p' Makefile | sed 's/^# \{0,1\}//'

deps:
	bash scripts/install-deps.sh

build:
	$(GO) build -o $(BIN) ./cmd/nanoscope

# Rebuilt only when stats.json (written last) is missing or describes another vocabulary size
# or another language than Rust (a corpus built by hand from another tree into $(DATA)).
corpus: build
	@if [ -f $(DATA)/stats.json ] && grep -q '"vocab_size": $(VOCAB),' $(DATA)/stats.json && grep -q '"lang": "rust"' $(DATA)/stats.json; then \
		echo "corpus: $(DATA) present (Rust, compact vocab $(VOCAB)); skipping"; \
	else \
		[ ! -f $(DATA)/stats.json ] || echo "corpus: $(DATA) holds another language or compact vocab size; rebuilding (Rust, $(VOCAB))"; \
		echo "$(BIN) corpus --out $(DATA) --vocab $(VOCAB)"; \
		$(BIN) corpus --out $(DATA) --vocab $(VOCAB); \
	fi

# Trained only when the checkpoint's meta.json is missing (delete $(CPU_OUT) to retrain).
train-cpu: corpus
	@if [ -f $(CPU_OUT)/meta.json ]; then \
		echo "train-cpu: $(CPU_OUT)/meta.json present; skipping"; \
	else \
		echo "$(BIN) train --preset cpu --data $(DATA) --out $(CPU_OUT)"; \
		time $(BIN) train --preset cpu --data $(DATA) --out $(CPU_OUT); \
	fi

notebooks: corpus
	bash scripts/run-notebooks.sh

reproduce: deps corpus train-cpu notebooks report
	NANOSCOPE_HTML="$(wildcard out/[0-9][0-9]_*.html)" $(GO) test ./notebooks -run TestRenderedHTML -count=1
	@echo "reproduce: done — send out/index.html (results only, out/report/); with code: out/*.html; figures: out/plots/"

# out/index.html: one line per notebook (title and computed verdict), linking out/report/NN_name.html.
report:
	/usr/bin/python3 scripts/report-index.py out

test: vet fmt-check tidy-check go-test fuzz test-notebooks render-check live-check

vet:
	$(GO) vet ./...

fmt-check:
	@files=$$(gofmt -l .); \
	if [ -n "$$files" ]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi; \
	echo "gofmt: ok"

# go.mod and go.sum are exactly what `go mod tidy` would write.
tidy-check:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy'"; exit 1; }
	@echo "go mod tidy: ok"

go-test:
	$(GO) test ./...

# Each fuzz target runs a fixed number of inputs on top of its seed corpus (the seeds also run in
# go-test): about 12-15 s each on the 2-core CI machine. Counts, not durations: with a duration,
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline exceeded" at the
# deadline on a loaded machine, no failing input written (golang/go#75804, fixed in Go 1.27).
# FUZZTIME (a count such as 2000000x, or a duration) overrides all three.
FUZZTIME ?=
fuzz:
	$(GO) test ./gomlxmodel/checkpoint -run '^$$' -fuzz '^FuzzReadSafetensors$$' -fuzztime $(or $(FUZZTIME),400000x)
	$(GO) test ./gomlxmodel/checkpoint -run '^$$' -fuzz '^FuzzDecodeMeta$$' -fuzztime $(or $(FUZZTIME),200000x)
	$(GO) test ./gomlxmodel/tokenfile -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(or $(FUZZTIME),800000x)
	$(GO) test ./gomlxmodel/load -run '^$$' -fuzz '^FuzzOpenFile$$' -fuzztime $(or $(FUZZTIME),20000x)
	$(GO) test ./gomlxmodel/hf -run '^$$' -fuzz '^FuzzConfigJSON$$' -fuzztime $(or $(FUZZTIME),50000x)

test-notebooks: corpus
	bash scripts/run-notebooks.sh $(TEST_NOTEBOOKS)

# Loads the HTML of the notebooks just executed in headless Chromium and checks that their
# figures are there and decode (notebooks/render_test.go); screenshots go to out/render/.
TEST_HTML = $(patsubst notebooks/%.ipynb,out/%.html,$(foreach n,$(TEST_NOTEBOOKS),$(wildcard notebooks/$(n)_*.ipynb)))
render-check:
	@[ -n "$(TEST_HTML)" ] || { echo "render-check: no notebooks match TEST_NOTEBOOKS=$(TEST_NOTEBOOKS)"; exit 1; }
	NANOSCOPE_HTML="$(TEST_HTML)" $(GO) test ./notebooks -run TestRenderedHTML -count=1 -v

# Runs LIVE_NOTEBOOKS through the UI of a live `jupyter notebook` server in headless Chromium
# (scripts/live-jupyter.sh): every cell must finish without an error and the figures must be on
# the page; screenshots in out/render/live_*.png; prints the round trip of a one-line cell.
live-check:
	bash scripts/live-jupyter.sh $(LIVE_NOTEBOOKS)

clean:
	rm -rf bin out/[0-9][0-9]_*.ipynb out/[0-9][0-9]_*.html out/plots out/logs out/render out/report out/index.html out/live
	@echo "clean: kept $(DATA) and $(CPU_OUT) (slow to rebuild); remove them by hand to start over"
