# The one entry point. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# A second environment with Gradio 6: the component ships one frontend bundle per Gradio major and
# the tests run the browser checks on both.
VENV6 ?= .venv6
PY6 := $(VENV6)/bin/python
GRADIO5 := gradio>=5.46,<6
GRADIO6 := gradio>=6,<7
TEST_DEPS := numpy lameenc "aiortc>=1.9" "pytest>=8" "pytest-asyncio>=0.24" "pytest-timeout>=2.3" psutil playwright httpx "pocketsphinx>=5"
# Build artifacts persist outside fresh clones (CI clones anew each run).
export CARGO_TARGET_DIR ?= $(abspath target)
APT_PACKAGES := cmake pkg-config libvpx-dev nasm coturn chromium

.PHONY: help system-deps install build-dev frontend build-prod setup demo test-rust test-python test lint-rust lint-python lint-frontend lint bench clean
help:  ## show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-zA-Z_-]+):.*## (.*)/  \1\t\2/' | expand -t 16

system-deps:  ## install the Debian packages the build and tests need (apt, needs root)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(PY):
	python3 -m venv $(VENV)

$(PY6):
	python3 -m venv $(VENV6)

install: $(PY) $(PY6)  ## create the virtualenvs (Gradio 5 and Gradio 6) with the build, test and bench tools
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "maturin>=1.9,<2" "$(GRADIO5)" $(TEST_DEPS) ruff mypy
	$(VENV6)/bin/pip install -q --upgrade pip
	$(VENV6)/bin/pip install -q "$(GRADIO6)" $(TEST_DEPS)

build-dev: install  ## compile the extension (release profile) into both virtualenvs
	rm -f gradio_webrtc/*.so
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release
	VIRTUAL_ENV=$(abspath $(VENV6)) $(VENV)/bin/maturin develop --release

frontend: build-dev  ## build the component's frontend bundles (Gradio 5 and Gradio 6) into gradio_webrtc/templates
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	cd frontend5 && npm ci --no-audit --no-fund --loglevel=error
	scripts/build_frontend.sh 5 $(PY)
	scripts/build_frontend.sh 6 $(PY6)

build-prod:  ## build a release wheel into dist/
	$(VENV)/bin/maturin build --release --out dist

setup: system-deps build-dev frontend  ## everything needed to run the demo and the tests

demo: setup  ## start the main demo (open the printed URL, press Record, allow the microphone)
	$(PY) demo/app.py

test-rust:  ## cargo tests of rust/media and rust/engine
	cargo test --release --workspace --exclude gradio-webrtc-python

test-python: frontend  ## pytest: aiortc peers, coturn relay, Chromium pages on Gradio 5 and 6
	$(PY) -m pytest tests

test: system-deps test-rust test-python  ## every test

lint-rust:  ## rustfmt and clippy (pedantic, warnings are errors)
	cargo fmt --all -- --check
	cargo clippy --release --workspace --all-targets -- -D warnings

lint-python: install  ## ruff (lint and format) and the stub check of gradio_webrtc._engine
	$(VENV)/bin/ruff check gradio_webrtc tests bench demo
	$(VENV)/bin/ruff format --check gradio_webrtc tests bench demo
	$(VENV)/bin/python -m mypy.stubtest gradio_webrtc._engine --allowlist .mypy-stubtest-allowlist

lint-frontend:  ## svelte-check (strict TypeScript) over both entries and the shared widget
	for dir in frontend frontend5; do \
		[ -d $$dir/node_modules ] || (cd $$dir && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
		(cd $$dir && ./node_modules/.bin/svelte-check --tsconfig ./tsconfig.json --fail-on-warnings --output machine) || exit 1; \
	done

lint: lint-rust lint-python lint-frontend  ## every linter

bench: build-dev  ## audio echo, video flip and reply-on-pause benchmarks, side by side with the original
	bench/setup_original.sh
	$(PY) bench/audio_echo.py
	$(PY) bench/video_flip.py
	$(PY) bench/reply_latency.py

clean:  ## remove build outputs
	rm -rf target dist gradio_webrtc/*.so gradio_webrtc/templates frontend/node_modules frontend5/node_modules
