# Thin wrapper over CMake. `make test` and `make demo` work on a fresh Debian
# machine: they install missing packages first (tools/setup.sh).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all setup configure build test bench bench-peer demo clean

all: build

setup:
	@tools/setup.sh

configure: setup
	@mkdir -p $(BUILD)
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) > $(BUILD)/configure.log 2>&1 || (cat $(BUILD)/configure.log; exit 1)
	@grep "dcsr:" $(BUILD)/configure.log || true

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# ctest lists the skipped tests after its summary; the summary is repeated as
# the last line, and ctest's exit status is kept.
test: build
	@cd $(BUILD) && ctest -j $(JOBS) --output-on-failure --output-log ctest.log; status=$$?; \
	  grep -E "tests passed|tests failed" ctest.log | tail -n 1; exit $$status

bench: build
	@$(BUILD)/bin/dcsr_bench

# Our DCSR against the PyTorch reference, alternating run by run (tools/bench_peer.py;
# e.g. BENCH_PEER_ARGS=--quick, DCSR_PYTHON=/usr/bin/python3 for Debian's torch).
bench-peer: build
	@sh tools/with_torch_python.sh tools/bench_peer.py --binary $(BUILD)/bin/dcsr_bench $(BENCH_PEER_ARGS)

# The first minute: set-up, build only the `dcsr` command, super-resolve the
# embedded real dual-camera pair (demo/) with models/default.ckpt and write
# out/demo/{sr,side_by_side,confidence}.png. DEMO_ARGS passes options, e.g.
# DEMO_ARGS="--model M --out DIR --mode 4k".
demo: configure
	@cmake --build $(BUILD) --target dcsr -j $(JOBS)
	@$(BUILD)/bin/dcsr demo $(DEMO_ARGS)

# `dcsr` into $(PREFIX)/bin, the default model, configs/ and demo/ into $(PREFIX)/share/dcsr/,
# where the installed dcsr finds them from any folder.
PREFIX ?= /usr/local
install: configure
	@cmake --build $(BUILD) --target dcsr -j $(JOBS)
	@cmake --install $(BUILD) --prefix $(PREFIX)

.PHONY: install

clean:
	rm -rf $(BUILD)
