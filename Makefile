# losslab: the two commands of the README, and the steps they are made of.
#   make demo   set up, build, and run the main job on bundled data
#   make test   set up, build, and run every test (ctest and pytest)
SHELL := /bin/bash
PY := .venv/bin/python
JOBS ?= $(shell nproc)

.PHONY: demo test setup setup-test cpp python test-cpp test-python test-asan \
        format clean

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

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')

clean:
	rm -rf build
