# losslab: the two commands of the README, and the steps they are made of.
#   make demo   set up, build, and run the main job on bundled data
#               (losslab compare on Ames housing, with its HTML report)
#   make test   set up, build, and run every test (ctest and pytest)
SHELL := /bin/bash
PY := .venv/bin/python
JOBS ?= $(shell nproc)
# The dev build and `pip install .` compile the library with the same
# compiler and flags (the dev preset has the Release flags; scikit-build-core
# takes CXX from Python's sysconfig, g++, unless CXX is set), so that ccache
# serves the second compile from the first; CCACHE_BASEDIR makes the two
# build dirs' paths relative. ccache (setup.sh --test installs it) is looked
# up when the recipe runs, so that a machine set up by this same `make test`
# has it; without it the launcher is empty and nothing else changes.
BUILD_ENV = CXX=$${CXX:-g++} \
  CMAKE_CXX_COMPILER_LAUNCHER=$$(command -v ccache || true) \
  CCACHE_BASEDIR=$(CURDIR)

.PHONY: demo test setup setup-test cpp python test-cpp test-python test-asan \
        test-tsan setup-fuzz fuzz fuzz-ci fuzz-build fuzz-cpp fuzz-python \
        fuzz-csv format clean

# The main job: compare losses on the bundled Ames housing data (outliers
# kept) with cross-validation; writes losslab-report/report.html.
demo: setup python
	$(PY) examples/python/ames_regression.py
	.venv/bin/losslab compare --dataset ames --losses mse,mae,huber,quantile:0.5 \
	  --folds 3 --epochs 30 --out-dir losslab-report
	@echo "demo: open losslab-report/report.html (self-contained, no network needed)"

test: setup-test cpp python test-cpp test-python

setup:
	@bash scripts/setup.sh

setup-test:
	@bash scripts/setup.sh --test

cpp:
	$(BUILD_ENV) cmake --preset dev
	$(BUILD_ENV) cmake --build --preset dev -j $(JOBS)

# The Python package, built by scikit-build-core into .venv (incremental:
# the build tree lives in build/python-*).
python:
	$(BUILD_ENV) $(PY) -m pip install -q --disable-pip-version-check \
	  --no-build-isolation .

test-cpp:
	ctest --preset dev -j $(JOBS)

test-python:
	$(PY) -m pytest tests/python -q

# AddressSanitizer + UndefinedBehaviorSanitizer build of the C++ suite.
test-asan: setup-test
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS) -E install_and_find_package

# ThreadSanitizer build of the C++ suite (all of it by default; TSAN_TESTS, a
# ctest regex, picks a subset, e.g. the threading-relevant one
# 'ParallelFor|SetNumThreads|Thread|Determin|Bitwise|SameBits|Concurr|Train').
# One Highway target is compiled (AVX2 where the CPU has it): the races TSan
# looks for are in the thread pool and the per-block reductions, the same
# code for every SIMD target, and each kernel is compiled once (docs/reliability.md
# has the timings). TSAN_BUILD picks the build dir (the preset's build/tsan
# by default). No suppressions needed: OpenBLAS, not instrumented, raised no
# report.
TSAN_BUILD ?= build/tsan
TSAN_TESTS ?= .
HWY_ONE_TARGET := $(if $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo y),\
  -DHWY_COMPILE_ONLY_STATIC=1 -march=x86-64-v3)
TSAN_FLAGS ?= -fsanitize=thread -fno-omit-frame-pointer -O1 $(HWY_ONE_TARGET)
test-tsan: setup-test
	cmake --preset tsan -B $(TSAN_BUILD) -DCMAKE_CXX_FLAGS="$(TSAN_FLAGS)"
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target losslab_tests
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --test-dir $(TSAN_BUILD) \
	  -j $(JOBS) --output-on-failure -R '$(TSAN_TESTS)' \
	  -E 'install_and_find_package|losslab_tests_scalar_target'

# Fuzzing (docs/reliability.md): libFuzzer over the C++ op layer and the
# checkpoint loader with ASan+UBSan (clang), atheris over the Python API and
# the CLI's CSV reader. FUZZ_SECONDS per target; corpora are kept in
# FUZZ_CORPUS between runs (seeds in fuzz/corpus, crash inputs replayed from
# fuzz/regressions on every run).
FUZZ_SECONDS ?= 300
FUZZ_CI_SECONDS ?= 20
FUZZ_BUILD ?= build/fuzz
FUZZ_CORPUS ?= build/fuzz-corpus
FUZZ_FLAGS = -max_total_time=$(FUZZ_SECONDS) -timeout=20 -print_final_stats=1
setup-fuzz:
	@bash scripts/setup.sh --fuzz

fuzz-build: setup-fuzz
	CC=clang CXX=clang++ cmake -S fuzz -B $(FUZZ_BUILD) -G Ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

fuzz-cpp: fuzz-build
	mkdir -p $(FUZZ_CORPUS)/losses $(FUZZ_CORPUS)/checkpoint
	$(FUZZ_BUILD)/fuzz_losses $(FUZZ_FLAGS) -artifact_prefix=$(FUZZ_CORPUS)/losses- \
	  $(FUZZ_CORPUS)/losses fuzz/regressions/cpp
	$(FUZZ_BUILD)/fuzz_checkpoint $(FUZZ_FLAGS) -max_len=4096 -malloc_limit_mb=64 \
	  -artifact_prefix=$(FUZZ_CORPUS)/checkpoint- \
	  $(FUZZ_CORPUS)/checkpoint fuzz/corpus/checkpoint fuzz/regressions/checkpoint

fuzz-python: setup-fuzz python
	mkdir -p $(FUZZ_CORPUS)/python
	$(PY) fuzz/fuzz_python.py $(FUZZ_FLAGS) -artifact_prefix=$(FUZZ_CORPUS)/python- \
	  $(FUZZ_CORPUS)/python fuzz/regressions/python

fuzz-csv: setup-fuzz python
	mkdir -p $(FUZZ_CORPUS)/csv
	$(PY) fuzz/fuzz_csv.py $(FUZZ_FLAGS) -max_len=2048 -artifact_prefix=$(FUZZ_CORPUS)/csv- \
	  $(FUZZ_CORPUS)/csv fuzz/corpus/csv fuzz/regressions/csv

fuzz:
	$(MAKE) fuzz-cpp fuzz-python fuzz-csv FUZZ_SECONDS=$(FUZZ_SECONDS)

# The short pass of .ci/run: FUZZ_CI_SECONDS per target (4 targets).
fuzz-ci:
	$(MAKE) fuzz-cpp fuzz-python fuzz-csv FUZZ_SECONDS=$(FUZZ_CI_SECONDS)

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')

clean:
	rm -rf build
