"""The code style and type checks CI gates on (issue #12): ruff and mypy, configured in pyproject.toml.

They run inside the test command so that the README's one test command and `.ci/run` stay the same command.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: it is in the dev extra of pyproject.toml (./setup.sh installs it)")
    return found


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def test_ruff_finds_nothing():
    proc = _run(_tool("ruff"), "check", "benchmark", "baselines", "tests", "perf")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _mypy_config() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]


def test_mypy_finds_nothing_in_the_package():
    proc = _run(_tool("mypy"))   # files and settings: [tool.mypy] in pyproject.toml
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr


def test_no_module_is_excused_from_mypy():
    """Every module of the package is type-checked for real: no override silences a module's errors."""
    excused = [o.get("module") for o in _mypy_config().get("overrides", []) if o.get("ignore_errors")]
    assert not excused, f"[[tool.mypy.overrides]] with ignore_errors in pyproject.toml: {excused}; fix the errors"


def test_ruff_catches_what_it_is_configured_to(tmp_path):
    """The gate can fail: an unused import and an undefined name in a throwaway file are reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\n\ndef f():\n    return undefined_name\n")
    proc = _run(_tool("ruff"), "check", "--config", str(ROOT / "pyproject.toml"), str(bad))
    assert proc.returncode == 1
    assert "F401" in proc.stdout and "F821" in proc.stdout
