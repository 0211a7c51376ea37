#!/usr/bin/env bash
# Set up emobench in ./.venv (idempotent). Usage: ./setup.sh
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip "setuptools<81" wheel
# Install torch first and on its own, pinned to a release whose CPU wheel the CI
# machine carries; everything after sees "torch>=2.2" satisfied and pulls no
# CUDA packages. On a user's machine this resolves from the registry as usual.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  $PIP install -q "${EMOBENCH_TORCH_SPEC:-torch==2.13.0}"
fi
$PIP install -q -e ".[dev]"
# Packages whose declared dependencies would break the environment, installed without them (their real
# dependencies are in pyproject.toml): distillmos and xls-r-sqa require torchaudio, which does not load beside
# the CPU torch (benchmark/tts/mos.py never imports it); resemblyzer requires the obsolete `typing` backport.
# tests/test_tts_paper_metrics.py checks that torch keeps its version and torchaudio stays out.
NO_DEPS_PACKAGES="resemblyzer==0.1.4 distillmos==0.9.1 xls-r-sqa==0.1.0"
$PIP install -q --no-deps $NO_DEPS_PACKAGES
# tests/test_report_browser.py renders the HTML report in Debian's headless
# chromium; install it only where we can (root with apt-get) and it is absent.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "warning: could not install chromium; the report's browser test will skip (and fail when CI is set)" >&2
fi
# tests/test_scale_out.py starts a throwaway PostgreSQL cluster (initdb/pg_ctl) behind mlflow server;
# Debian keeps those programs in /usr/lib/postgresql/N/bin. Install Debian's postgresql where we can.
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
   && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } \
    || echo "warning: could not install postgresql; the tracking-server tests will skip (and fail when CI is set)" >&2
fi
echo "emobench is set up in .venv ($(.venv/bin/emobench --version))"
