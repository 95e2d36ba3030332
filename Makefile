# plugvisor: `make demo` and `make test` set everything up on a fresh machine.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all setup build demo test test-asan test-tsan clean

all: build

setup:
	@bash scripts/setup.sh

$(BUILD)/CMakeCache.txt: | setup
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null

build: setup $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

demo: build
	@$(BUILD)/bin/host-demo $(BUILD)/plugins

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole C++ suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan:
	@$(MAKE) --no-print-directory test BUILD=build-asan CMAKE_FLAGS="-DPLUGVISOR_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug"

# The whole C++ suite under ThreadSanitizer.
test-tsan:
	@$(MAKE) --no-print-directory test BUILD=build-tsan CMAKE_FLAGS="-DPLUGVISOR_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug"

clean:
	rm -rf build build-asan build-tsan
