# losslab: the two commands of the README, and the steps they are made of.
#   make demo   set up, build, and run the main job on bundled data
#   make test   set up, build, and run every test (ctest and pytest)
SHELL := /bin/bash
PY := .venv/bin/python
JOBS ?= $(shell nproc)

.PHONY: demo test setup setup-test cpp python test-cpp test-python test-asan \
        test-tsan setup-fuzz fuzz fuzz-ci fuzz-cpp fuzz-python format clean

demo: setup python
	$(PY) examples/python/ames_regression.py

test: setup-test cpp python test-cpp test-python

setup:
	@bash scripts/setup.sh

setup-test:
	@bash scripts/setup.sh --test

cpp:
	cmake --preset dev
	cmake --build --preset dev -j $(JOBS)

# The Python package, built by scikit-build-core into .venv (incremental:
# the build tree lives in build/python-*).
python:
	$(PY) -m pip install -q --disable-pip-version-check --no-build-isolation .

test-cpp:
	ctest --preset dev -j $(JOBS)

test-python:
	$(PY) -m pytest tests/python -q

# AddressSanitizer + UndefinedBehaviorSanitizer build of the C++ suite.
test-asan: setup-test
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS) -E install_and_find_package

# ThreadSanitizer build of the C++ suite (no suppressions needed: OpenBLAS,
# not instrumented, raised no report in the last run; see docs/reliability.md).
test-tsan: setup-test
	cmake --preset tsan
	cmake --build --preset tsan -j $(JOBS)
	ctest --preset tsan -j $(JOBS) -E install_and_find_package

# Fuzzing (docs/reliability.md): libFuzzer over the C++ op layer with
# ASan+UBSan (clang), and atheris over the Python API. FUZZ_SECONDS per
# target; corpora are kept in build/fuzz-corpus between runs.
FUZZ_SECONDS ?= 300
FUZZ_CI_SECONDS ?= 60
FUZZ_BUILD := build/fuzz
setup-fuzz:
	@bash scripts/setup.sh --fuzz

fuzz-cpp: setup-fuzz
	CC=clang CXX=clang++ cmake -S fuzz -B $(FUZZ_BUILD) -G Ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	mkdir -p build/fuzz-corpus/losses
	$(FUZZ_BUILD)/fuzz_losses -max_total_time=$(FUZZ_SECONDS) -timeout=20 -print_final_stats=1 \
	  -artifact_prefix=build/fuzz-corpus/ build/fuzz-corpus/losses fuzz/regressions/cpp

fuzz-python: setup-fuzz python
	mkdir -p build/fuzz-corpus/python
	$(PY) fuzz/fuzz_python.py -max_total_time=$(FUZZ_SECONDS) -timeout=20 -print_final_stats=1 \
	  -artifact_prefix=build/fuzz-corpus/ build/fuzz-corpus/python

fuzz:
	$(MAKE) fuzz-cpp fuzz-python FUZZ_SECONDS=$(FUZZ_SECONDS)

fuzz-ci:
	$(MAKE) fuzz-cpp fuzz-python FUZZ_SECONDS=$(FUZZ_CI_SECONDS)

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')

clean:
	rm -rf build
