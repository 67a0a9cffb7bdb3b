# Thin wrapper over CMake. `make test` and `make demo` work on a fresh Debian
# machine: they install missing packages first (tools/setup.sh).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all setup configure build test bench bench-peer demo clean fuzz fuzz-asan test-asan test-asan-ci asan-configure

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
	@cd $(BUILD) && ctest -j $(JOBS) --timeout 1200 --output-on-failure --output-log ctest.log; status=$$?; \
	  grep -E "tests passed|tests failed" ctest.log | tail -n 1; exit $$status

# The mutation fuzzer (tests/fuzz/) over the image readers, checkpoints, tensor
# files, the JSON configs and the command-line parser: FUZZ_RUNS inputs per
# target (minutes in all), from a new seed each time; every line names its seed,
# and a failure prints the command that replays it. `make test` runs a short
# fixed-seed pass of every target (ctest fuzz_every_target_short).
FUZZ_RUNS ?= 100000
FUZZ_SEED ?= $(shell date +%s)
fuzz: build
	@$(BUILD)/bin/dcsr_fuzz --target all --runs $(FUZZ_RUNS) --seed $(FUZZ_SEED)

# The suite under AddressSanitizer + UndefinedBehaviorSanitizer (any report
# fails the test): a CPU-only build (-O2 -g) in $(ASAN_BUILD), leak checks on
# (docs/reliability.md). ASAN_SKIP (a ctest -E regular expression) leaves out
# what `make test` already runs and what would not fit the CI's 45 minutes on
# 2 cores next to it: the [slow] Catch2 cases (multi-rank distributed
# training, the tiny-DCSR overfitting run, the tiled whole-network forward),
# which spend minutes in the same kernels the fast tests cover, and the two
# PyTorch peer tests (sr_peer_matches_dcsr_sr: a whole image through both
# networks; convert_weights_py: Python only, nothing of ours to sanitize).
# dcsr_fuzz is built first so that `make fuzz-asan` can start early.
ASAN_BUILD ?= build-asan
ASAN_SKIP ?= ^distributed: |^forward: a tiny DCSR overfits|^forward: tiled DCSR places|^forward: the real network runs an LR whose ring window|^forward: tiles batched through the real network|^sr_peer_matches_dcsr_sr$$|^convert_weights_py$$
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1 \
  LSAN_OPTIONS="suppressions='$(CURDIR)/tools/lsan_suppressions.txt'" \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
asan-configure: setup
	@mkdir -p $(ASAN_BUILD)
	@cmake -S . -B $(ASAN_BUILD) -DDCSR_CUDA=OFF -DDCSR_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) \
	  > $(ASAN_BUILD)/configure.log 2>&1 || (cat $(ASAN_BUILD)/configure.log; exit 1)

test-asan: asan-configure
	@cmake --build $(ASAN_BUILD) -j $(JOBS) --target dcsr_fuzz dcsr dcsr_tests
	@cd $(ASAN_BUILD) && $(ASAN_ENV) \
	  ctest -j $(JOBS) -E '$(ASAN_SKIP)' --output-on-failure --output-log ctest.log; status=$$?; \
	  grep -E "tests passed|tests failed" ctest.log | tail -n 1; exit $$status

# The fuzzer under the sanitizers: FUZZ_RUNS inputs per target from FUZZ_SEED.
fuzz-asan: asan-configure
	@cmake --build $(ASAN_BUILD) -j $(JOBS) --target dcsr_fuzz
	@$(ASAN_ENV) $(ASAN_BUILD)/bin/dcsr_fuzz --target all --runs $(FUZZ_RUNS) --seed $(FUZZ_SEED)

# What `.ci/run` runs under the sanitizers after `make test`: the reliability
# subset of the suite (dcsr_tests_reliability, listed in CMakeLists.txt: output
# rules, signals, options, readers, writers, checkpoints, thread limit, the
# Winograd kernels, the telephoto's normalisation), then the fuzzer's pass.
test-asan-ci: asan-configure
	@cmake --build $(ASAN_BUILD) -j $(JOBS) --target dcsr_fuzz dcsr dcsr_tests_reliability
	@$(ASAN_ENV) OMP_WAIT_POLICY=passive $(ASAN_BUILD)/bin/dcsr_tests_reliability
	@$(ASAN_ENV) $(ASAN_BUILD)/bin/dcsr_fuzz --target all --runs $(FUZZ_RUNS) --seed $(FUZZ_SEED)

bench: build
	@$(BUILD)/bin/dcsr_bench

# Our DCSR against the PyTorch reference, alternating run by run (tools/bench_peer.py;
# e.g. BENCH_PEER_ARGS=--quick, DCSR_PYTHON=/usr/bin/python3 for Debian's torch).
bench-peer: build
	@sh tools/with_torch_python.sh tools/bench_peer.py --binary $(BUILD)/bin/dcsr_bench $(BENCH_PEER_ARGS)

# The first minute: set-up, build only the `dcsr` command, super-resolve the
# embedded real dual-camera pair (demo/) in 8K mode with models/real.ckpt
# (models/default.ckpt when it is absent, or in 4K mode) and write
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
