# plugvisor: `make demo` and `make test` set everything up on a fresh machine.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all setup build demo host-demo mock-demo test test-asan test-tsan clean

all: build

setup:
	@bash scripts/setup.sh

$(BUILD)/CMakeCache.txt: | setup
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null

build: setup $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

# The supervisor daemon on every example plugin; serves until Ctrl-C.
demo: build
	@bash scripts/demo.sh $(BUILD)

# The embedding example: a C++ host application using the manager directly.
host-demo: build
	@$(BUILD)/bin/host-demo $(BUILD)/plugins

# The mock server (docs/mock-server.md) with its example plugins on
# http://127.0.0.1:$(MOCK_PORT); serves until Ctrl-C.
MOCK_PORT ?= 8080
mock-demo: setup $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS) --target mock-server mock-server-plugins -- --no-print-directory
	@$(BUILD)/bin/mock-server examples/mock-server/routes.json -d $(BUILD)/examples/mock-server/plugins --port $(MOCK_PORT)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The sanitizer builds: unoptimized, with line tables only (-g1), which keep
# the file:line of every frame in a sanitizer's report and build faster than -g.
SANITIZER_BUILD_FLAGS = -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1

# The whole C++ suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan:
	@$(MAKE) --no-print-directory test BUILD=build-asan CMAKE_FLAGS="-DPLUGVISOR_SANITIZE=address,undefined $(SANITIZER_BUILD_FLAGS)"

# The whole C++ suite under ThreadSanitizer (suppressions for the
# uninstrumented libraries are built into each binary: cmake/tsan_suppressions.cpp).
test-tsan:
	@$(MAKE) --no-print-directory test BUILD=build-tsan CMAKE_FLAGS="-DPLUGVISOR_SANITIZE=thread $(SANITIZER_BUILD_FLAGS)"

# The benchmark (not part of `make test`): a Release (-O2) build of its own in
# $(BUILD)/release, then floors and plugvisor in one run; prints the table and
# writes $(BUILD)/bench/results.json (the previous one kept as results.previous.json).
BENCH_CMAKE_FLAGS = -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DPLUGVISOR_BUILD_TESTS=OFF -DPLUGVISOR_BUILD_EXAMPLES=OFF -DPLUGVISOR_BUILD_BENCH=ON
.PHONY: bench bench-smoke
bench: setup
	@cmake -S . -B $(BUILD)/release $(BENCH_CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD)/release -j $(JOBS) --target plugvisor-bench -- --no-print-directory
	@$(BUILD)/release/bench/plugvisor-bench --out $(BUILD)/bench/results.json $(BENCH_FLAGS)

# CI's smoke run of the benchmark: every section once with few samples; its
# exit status is the result, no figure is compared. The Release tree is only
# configured (its CMake is checked); the bench is built and run in the test
# tree $(BUILD), after `make build`, so that only the bench's own sources
# compile (the test tree keeps PLUGVISOR_BUILD_BENCH on afterwards). Its
# figures are not the Release tree's when $(BUILD) is a Debug or sanitizer
# build: use `make bench` for figures.
bench-smoke: build
	@cmake -S . -B $(BUILD)/release $(BENCH_CMAKE_FLAGS) >/dev/null
	@cmake -S . -B $(BUILD) -DPLUGVISOR_BUILD_BENCH=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target plugvisor-bench -- --no-print-directory
	@$(BUILD)/bench/plugvisor-bench --out $(BUILD)/bench/results.json --quick

# The fuzz targets (fuzz/): clang's libFuzzer with ASan and UBSan, in a tree of
# their own (build-fuzz), each run for FUZZ_SECONDS (default 60) from the seeds
# in fuzz/corpus/NAME; what they find stays in build-fuzz/corpus/NAME. A crash
# fails the target and leaves crash-* in build-fuzz. CI: FUZZ_SECONDS=10.
# One of them alone: make fuzz FUZZERS=config.
FUZZ_SECONDS ?= 60
FUZZERS ?= http1 capabilities launch-config config
CLANGXX ?= clang++
.PHONY: fuzz
fuzz:
	@PLUGVISOR_SETUP_EXTRA="clang libclang-rt-14-dev $(PLUGVISOR_SETUP_EXTRA)" bash scripts/setup.sh
	@cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=$(CLANGXX) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLUGVISOR_SANITIZE=fuzzer-no-link,address,undefined -DPLUGVISOR_BUILD_TESTS=OFF -DPLUGVISOR_BUILD_EXAMPLES=OFF -DPLUGVISOR_BUILD_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target $(addprefix fuzz-,$(FUZZERS)) -- --no-print-directory
	@for f in $(FUZZERS); do \
	  mkdir -p build-fuzz/corpus/$$f && echo "fuzz-$$f: $(FUZZ_SECONDS) s" && \
	  (cd build-fuzz && ./fuzz/fuzz-$$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    corpus/$$f ../fuzz/corpus/$$f >fuzz-$$f.log 2>&1; rc=$$?; tail -n 12 fuzz-$$f.log; exit $$rc) || exit 1; \
	done

clean:
	rm -rf build build-asan build-tsan build-fuzz
