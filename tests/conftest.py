"""Shared fixtures: a real PostgreSQL + ``mlflow server`` tracking server, started once per test session."""
from __future__ import annotations

import os
import shutil

import pytest


def _skip_or_fail(reason: str) -> None:
    """Skip where the component is missing; under CI (env CI set) a missing component is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: setup.sh must install it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def tracking_server():
    """A throwaway tracking server (PostgreSQL cluster in a temp folder, mlflow server on a free loopback port)."""
    from benchmark.tracking_server import TrackingServer, postgres_bindir, throwaway_root

    if postgres_bindir() is None:
        _skip_or_fail("PostgreSQL binaries (initdb, pg_ctl) not found: install Debian's `postgresql` package")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        _skip_or_fail("psycopg2 is not installed (pip install psycopg2-binary)")
    root = throwaway_root()
    server = TrackingServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
