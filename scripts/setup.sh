#!/usr/bin/env bash
# Installs everything losslab needs on a Debian machine, and only what is
# missing: system packages with apt-get, Python packages into ./.venv.
#   scripts/setup.sh          build + demo dependencies
#   scripts/setup.sh --test   also the test oracles (PyTorch 2.13 CPU,
#                             scikit-learn, hypothesis, pytest, xgboost-cpu,
#                             lightgbm, ml_dtypes)
#   scripts/setup.sh --fuzz   --test, plus clang/libFuzzer and atheris
#                             (make fuzz, make fuzz-ci)
set -euo pipefail
cd "$(dirname "$0")/.."

mode=base
[[ "${1:-}" == "--test" ]] && mode=test
[[ "${1:-}" == "--fuzz" ]] && mode=fuzz

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# --- system packages -------------------------------------------------------
apt_pkgs=(libhwy-dev libgtest-dev libgmock-dev libbenchmark-dev libeigen3-dev
          libopenblas-dev pkg-config zlib1g-dev)
# zlib1g-dev: examples/cpp/mlp_digits reads the gzipped digits CSV.
# libFuzzer comes with clang's runtime library (Debian 12: clang 14).
[[ $mode == fuzz ]] && apt_pkgs+=(clang libclang-rt-14-dev)
# Headless Chromium renders the compare report in the CLI's end-to-end test.
[[ $mode == test ]] && apt_pkgs+=(chromium)
# ccache: make test's two builds of the library (dev preset, pip) share
# their objects (Makefile, BUILD_ENV).
[[ $mode != base ]] && apt_pkgs+=(ccache)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing+=("$p")
done
# Tools may come from elsewhere (pip's cmake, pyenv's python): check commands.
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v ninja >/dev/null || missing+=(ninja-build)
command -v clang-format >/dev/null || missing+=(clang-format)
if ! command -v cmake >/dev/null ||
   ! cmake --version | awk 'NR==1{split($3,v,"."); exit !(v[1]>3 || (v[1]==3 && v[2]>=24))}'; then
  missing+=(cmake)
fi
if ! command -v python3 >/dev/null; then
  missing+=(python3 python3-dev python3-venv)
else
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  python3 - <<'PY' 2>/dev/null || missing+=(python3-dev)
import os, sysconfig
assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))
PY
fi
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- Python virtual environment --------------------------------------------
[[ -x .venv/bin/python ]] || python3 -m venv .venv
# matplotlib draws the CLI's figures (a runtime dependency of losslab).
build_deps=("numpy>=1.23" "matplotlib>=3.5" "scikit-build-core>=0.10"
            "nanobind>=2.4")
# torch==2.13.0 is the oracle and benchmark baseline, never a runtime
# dependency of losslab.
# xgboost-cpu and lightgbm: the gradient-boosting integrations' oracles;
# ml_dtypes: bfloat16 NumPy arrays for the half-precision tests.
test_deps=("pytest>=7" "scikit-learn>=1.3" "hypothesis>=6" "torch==2.13.0"
           "xgboost-cpu>=2.0" "lightgbm>=4.0" "ml_dtypes>=0.4")
deps=("${build_deps[@]}")
[[ $mode == test || $mode == fuzz ]] && deps+=("${test_deps[@]}")
[[ $mode == fuzz ]] && deps+=("atheris>=2.3")
stamp=".venv/.losslab-$mode-$(printf '%s\n' "${deps[@]}" | sha1sum | cut -c1-12)"
if [[ ! -f $stamp ]]; then
  echo "setup: installing Python packages into .venv: ${deps[*]}"
  .venv/bin/python -m pip install -q --disable-pip-version-check "${deps[@]}"
  touch "$stamp"
fi
