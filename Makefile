# The one entry point. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Build artifacts persist outside fresh clones (CI clones anew each run).
export CARGO_TARGET_DIR ?= $(abspath target)
APT_PACKAGES := cmake pkg-config libvpx-dev nasm coturn chromium

.PHONY: help system-deps install build-dev build-prod setup demo test-rust test-python test lint-rust lint-python lint bench clean
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

install: $(PY)  ## create the virtualenv with the build, test and bench tools
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "maturin>=1.9,<2" numpy lameenc "aiortc>=1.9" "pytest>=8" "pytest-asyncio>=0.24" "pytest-timeout>=2.3" psutil playwright ruff mypy

build-dev: install  ## compile the extension (release profile) into the virtualenv
	rm -f gradio_webrtc/*.so
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release

build-prod:  ## build a release wheel into dist/
	$(VENV)/bin/maturin build --release --out dist

setup: system-deps build-dev  ## everything needed to run the demo and the tests

demo: setup  ## start the echo demo (open the printed URL, allow the microphone)
	$(PY) demo/echo/app.py

test-rust:  ## cargo tests of rust/media and rust/engine
	cargo test --release --workspace --exclude gradio-webrtc-python

test-python: build-dev  ## pytest: engine + handlers against an aiortc peer, TURN through coturn
	$(PY) -m pytest tests

test: system-deps test-rust test-python  ## every test

lint-rust:  ## rustfmt and clippy (pedantic, warnings are errors)
	cargo fmt --all -- --check
	cargo clippy --release --workspace --all-targets -- -D warnings

lint-python: install  ## ruff (lint and format) and the stub check of gradio_webrtc._engine
	$(VENV)/bin/ruff check gradio_webrtc tests bench demo
	$(VENV)/bin/ruff format --check gradio_webrtc tests bench demo
	$(VENV)/bin/python -m mypy.stubtest gradio_webrtc._engine --allowlist .mypy-stubtest-allowlist

lint: lint-rust lint-python  ## every linter

bench: build-dev  ## audio echo benchmark (K concurrent aiortc clients)
	$(PY) bench/audio_echo.py

clean:  ## remove build outputs
	rm -rf target dist gradio_webrtc/*.so
