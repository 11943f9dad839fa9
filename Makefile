# The commands users type (DESIGN.md §1): a thin wrapper over cmake and ctest.
# Missing Debian packages are installed first by scripts/bootstrap.
#
#   make demo | test | bench | install PREFIX=/opt/mproc | docs | tsan | lint
#   make build | build-asan | clean

PREFIX ?= /usr/local
CTEST_ARGS = --output-on-failure --no-tests=error -j2

.PHONY: all build build-asan demo test bench install docs tsan fuzz lint clean \
        bootstrap

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build

build-asan: bootstrap
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMPROC_SANITIZE=ON
	cmake --build build-asan

demo: build
	examples/tour build

lint: bootstrap
	tools/lint build

# lint, the suite in both builds, the install test: the first failure stops.
test: bootstrap
	$(MAKE) --no-print-directory build
	tools/lint build
	ctest --test-dir build $(CTEST_ARGS)
	$(MAKE) --no-print-directory build-asan
	ctest --test-dir build-asan $(CTEST_ARGS)
	tests/install/run build

bench: build
	python3 bench/run build

install: bootstrap
	cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	cmake --build build
	cmake --install build

docs:
	@scripts/bootstrap docs
	@mkdir -p build/docs
	doxygen Doxyfile
	@echo "docs: open build/docs/html/index.html"

# ThreadSanitizer programs (tests/tsan/): separate from make test (DESIGN
# §5.12), since TSan cannot run under Criterion.
tsan: bootstrap
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMPROC_TSAN=ON
	cmake --build build-tsan
	ctest --test-dir build-tsan $(CTEST_ARGS)

# libFuzzer harnesses (tests/fuzz/): the pickle decoder, the framing and a
# manager's requests, each for FUZZ_SECONDS (default 60) from a seed corpus
# written by Python.
FUZZ_SECONDS ?= 60
fuzz: bootstrap
	CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	    -DMPROC_FUZZ=ON -DMPROC_WERROR=OFF
	cmake --build build-fuzz
	python3 tests/fuzz/seed.py build-fuzz/corpus
	for t in pickle conn manager; do \
	    ASAN_OPTIONS=detect_leaks=1 build-fuzz/tests/fuzz/fuzz_$$t \
	        -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	        build-fuzz/corpus/$$t || exit 1; \
	done

clean:
	rm -rf build build-asan build-tsan build-fuzz
