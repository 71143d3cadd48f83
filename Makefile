# The two commands of the README: `make run` and `make test`. Each installs what is missing first.
JOBS ?= $(shell nproc)
RELEASE := build/release
ASAN := build/asan
FUZZ := build/fuzz
PREFIX := $(CURDIR)/build/install
FUZZ_SECONDS ?= 30

.PHONY: all setup release cli asan fuzz run bench test test-layers test-release test-python \
	test-asan test-fuzz test-example test-browser clean

all: release

setup:
	@bash scripts/setup.sh

release: setup
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

# Only the attn tool (no tests): what `make run` and `make bench` need.
cli: setup
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS) --target attn_cli

asan: setup
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)

fuzz: setup
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)

# The main job: trains the byte-level GPT on Moby-Dick for a few minutes (progress bar, loss curve
# in build/run/gpt.safetensors.loss.png), then prints a sample of what it learned.
RUN_DIR := build/run
run: cli
	@mkdir -p $(RUN_DIR)
	$(RELEASE)/attn train --preset default --out $(RUN_DIR)/gpt.safetensors
	@echo
	$(RELEASE)/attn generate --model $(RUN_DIR)/gpt.safetensors --prompt "Call me Ishmael. " \
	  --tokens 400 --temperature 0.8 --top-k 40 --seed 1

# The benchmark table of the flash forward (about a minute).
bench: cli
	$(RELEASE)/attn bench

test: test-layers test-release test-python test-browser test-example test-asan test-fuzz
	@echo "make test: all suites passed"

# The floor plan: every #include points down the layer order (docs/DESIGN.md).
test-layers:
	python3 scripts/check_layers.py

test-release: release
	cd $(RELEASE) && ctest --output-on-failure -j 1

# The Python package, from the build tree, with Debian's interpreter (setup.sh gives it NumPy,
# PyTorch and pytest).
PYTHON ?= /usr/bin/python3
test-python: release
	PYTHONPATH=$(RELEASE)/python $(PYTHON) -m pytest -q tests/python

# The attention explorer's pages in Debian's headless Chromium (tests/browser: a DevTools-protocol
# driver over a pipe, no browser download). Without the browser it fails, naming the package.
test-browser: release
	@command -v chromium >/dev/null || { echo "chromium not found: install the Debian package chromium (scripts/setup.sh does)" >&2; exit 1; }
	PYTHONPATH=$(RELEASE)/python ATTN_CLI=$(RELEASE)/attn $(PYTHON) -m pytest -q tests/browser

test-asan: asan
	cd $(ASAN) && ATTN_TEST_SCALE=small ctest --output-on-failure -L unit -j $(JOBS)

test-fuzz: fuzz
	@mkdir -p $(FUZZ)/corpus
	cp tests/data/npy/*.npy $(FUZZ)/corpus/ 2>/dev/null || true
	$(FUZZ)/fuzz/fuzz_npy -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 $(FUZZ)/corpus

# Installs the library, then builds and runs examples/ against the installed CMake package (the
# ring example under mpirun when attn::dist was installed), and once more with the compiler alone
# and the flags of the installed pkg-config file.
test-example: release
	cmake --install $(RELEASE) --prefix $(PREFIX) >/dev/null
	cmake -S examples -B build/example -G Ninja -DCMAKE_PREFIX_PATH=$(PREFIX) >/dev/null
	cmake --build build/example
	build/example/sdpa_example
	if [ -x build/example/ring_example ]; then \
	  mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 build/example/ring_example; fi
	$(CXX) -std=c++20 -O2 examples/sdpa_example.cc -o build/example/sdpa_example_pc \
	  $$(PKG_CONFIG_PATH=$(PREFIX)/lib/pkgconfig pkg-config --cflags --libs attn)
	LD_LIBRARY_PATH=$(PREFIX)/lib build/example/sdpa_example_pc

clean:
	rm -rf build
