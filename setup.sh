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
echo "emobench is set up in .venv ($(.venv/bin/emobench --version))"
