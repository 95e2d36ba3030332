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

# The whole C++ suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan:
	@$(MAKE) --no-print-directory test BUILD=build-asan CMAKE_FLAGS="-DPLUGVISOR_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug"

# The whole C++ suite under ThreadSanitizer.
# (tests/tsan.supp: reports from inside the prebuilt, uninstrumented cpp-httplib)
test-tsan:
	@TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp $(TSAN_OPTIONS)" \
	  $(MAKE) --no-print-directory test BUILD=build-tsan CMAKE_FLAGS="-DPLUGVISOR_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug"

# The benchmark (not part of `make test`): a Release (-O2) build of its own in
# $(BUILD)/release, then floors and plugvisor in one run; prints the table and
# writes $(BUILD)/bench/results.json (the previous one kept as results.previous.json).
.PHONY: bench
bench: setup
	@cmake -S . -B $(BUILD)/release -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DPLUGVISOR_BUILD_TESTS=OFF -DPLUGVISOR_BUILD_EXAMPLES=OFF -DPLUGVISOR_BUILD_BENCH=ON >/dev/null
	@cmake --build $(BUILD)/release -j $(JOBS) --target plugvisor-bench -- --no-print-directory
	@$(BUILD)/release/bench/plugvisor-bench --out $(BUILD)/bench/results.json --python-plugin $(BUILD)/plugins/plugin-py-stats $(BENCH_FLAGS)

clean:
	rm -rf build build-asan build-tsan
