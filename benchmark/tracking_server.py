"""An MLflow tracking server on PostgreSQL: the store of record when a suite runs on more than one machine.

``emobench server start`` (or :class:`TrackingServer`) starts two processes:

* a PostgreSQL cluster (Debian's ``postgresql`` package: ``initdb`` and ``pg_ctl``) in
  ``<dir>/pgdata``, listening on loopback (or ``--host``), with the database ``mlflow``;
* ``mlflow server`` with that database as its backend store (runs, metrics, the model
  registry) and proxied artifact storage (``--artifacts-destination``: a folder, or an
  S3-compatible bucket ``s3://...`` with the usual ``AWS_*`` / ``MLFLOW_S3_ENDPOINT_URL``
  variables), so that clients and Ray workers need nothing but ``http://host:port``.

Credentials come from the environment, never from a file in the repository:
``EMOBENCH_PG_USER`` (default ``emobench``) and ``EMOBENCH_PG_PASSWORD`` (a random one is
made for a throwaway server). The password reaches ``mlflow server`` through its
``MLFLOW_BACKEND_STORE_URI`` variable, not its command line (which ``ps`` shows), and is
never written to ``server.json``.

PostgreSQL refuses to run as root; as root the cluster runs as the ``postgres`` system user
that Debian's package creates (``EMOBENCH_PG_OS_USER`` overrides it), so its folder must be
reachable by that user.
"""
from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.errors import EmobenchError

STATE_FILE = "server.json"


class ServerError(EmobenchError):
    """The tracking server (PostgreSQL or mlflow server) could not be started, found or stopped."""


def postgres_bindir() -> Path | None:
    """The folder of ``initdb``/``pg_ctl``: ``$EMOBENCH_PG_BINDIR``, the PATH, or Debian's newest
    ``/usr/lib/postgresql/N/bin`` (Debian keeps them off the PATH)."""
    if os.environ.get("EMOBENCH_PG_BINDIR"):
        return Path(os.environ["EMOBENCH_PG_BINDIR"])
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
                      if p.parts[-3].isdigit() else 0)
    return versions[-1].parent if versions else None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _os_user() -> pwd.struct_passwd | None:
    """The unprivileged user PostgreSQL runs as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("EMOBENCH_PG_OS_USER", "postgres")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise ServerError(f"PostgreSQL cannot run as root and there is no user {name!r} to run it as "
                          "(set EMOBENCH_PG_OS_USER to an unprivileged user)") from None


@dataclass
class TrackingServer:
    """PostgreSQL + ``mlflow server`` rooted in ``root`` (``pgdata/``, ``artifacts/``, logs, ``server.json``)."""

    root: Path
    host: str = "127.0.0.1"
    port: int = 0                       # mlflow server's port (0: a free one)
    pg_port: int = 0                    # PostgreSQL's port (0: a free one)
    artifacts: str | None = None        # --artifacts-destination (default: <root>/artifacts)
    workers: int = 1                    # mlflow server worker processes

    def __post_init__(self) -> None:
        self.root = Path(self.root).expanduser().resolve()
        self.user = os.environ.get("EMOBENCH_PG_USER", "emobench")
        self.password = os.environ.get("EMOBENCH_PG_PASSWORD") or None

    # ------------------------------------------------------------------ paths and state

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def uri(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state_path(self) -> Path:
        return self.root / STATE_FILE

    def _bin(self, name: str) -> str:
        bindir = postgres_bindir()
        if bindir is None or not (bindir / name).exists():
            raise ServerError(f"PostgreSQL's {name} not found (install Debian's `postgresql` package, or set "
                              "EMOBENCH_PG_BINDIR to the folder of initdb and pg_ctl)")
        return str(bindir / name)

    def _pg(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        """Run a PostgreSQL program, as the unprivileged user when we are root."""
        user = _os_user()
        extra: dict[str, Any] = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        return subprocess.run(args, capture_output=True, text=True, env=env, cwd="/", **extra, **kwargs)

    # ------------------------------------------------------------------ start / stop

    def start(self, timeout: float = 120.0) -> "TrackingServer":
        """Start PostgreSQL (creating the cluster on first use) and mlflow server; wait until both answer."""
        if self.state_path.exists() and self.running():
            raise ServerError(f"a tracking server is already running from {self.root} ({self.read_state()['uri']})")
        self.root.mkdir(parents=True, exist_ok=True)
        self._start_postgres(timeout)
        try:
            self._start_mlflow(timeout)
        except BaseException:
            self._stop_postgres()
            raise
        return self

    def _start_postgres(self, timeout: float) -> None:
        user = _os_user()
        first = not (self.pgdata / "PG_VERSION").exists()
        if first:
            if self.password is None:
                self.password = secrets.token_urlsafe(18)
            self.pgdata.mkdir(parents=True, exist_ok=True)
            if user:
                os.chown(self.pgdata, user.pw_uid, user.pw_gid)
                self._check_reachable(user)
            with tempfile.NamedTemporaryFile("w", delete=False, dir=self.root, prefix=".pw") as pw:
                pw.write(self.password + "\n")
            if user:
                os.chown(pw.name, user.pw_uid, user.pw_gid)
            try:
                done = self._pg([self._bin("initdb"), "-D", str(self.pgdata), "-U", self.user, "--pwfile", pw.name,
                                 "--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--no-sync"])
            finally:
                os.unlink(pw.name)
            if done.returncode != 0:
                raise ServerError(f"initdb failed in {self.pgdata}:\n{done.stderr.strip()}")
        elif self.password is None:
            raise ServerError(f"{self.pgdata} exists: set EMOBENCH_PG_PASSWORD to the password it was created with")
        self.pg_port = self.pg_port or free_port(self.host)
        log = self.root / "postgres.log"
        if user and not log.exists():
            log.touch()
            os.chown(log, user.pw_uid, user.pw_gid)
        options = f"-c listen_addresses={self.host} -p {self.pg_port} -k {self.pgdata} -c fsync=off" \
            if os.environ.get("EMOBENCH_PG_FSYNC", "on") == "off" else \
            f"-c listen_addresses={self.host} -p {self.pg_port} -k {self.pgdata}"
        done = self._pg([self._bin("pg_ctl"), "-D", str(self.pgdata), "-l", str(log), "-o", options,
                         "-w", "-t", str(int(timeout)), "start"])
        if done.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ServerError(f"PostgreSQL did not start from {self.pgdata}:\n{done.stderr.strip()}\n{tail}")
        if first:
            self._create_database()

    def _check_reachable(self, user: pwd.struct_passwd) -> None:
        probe = self._pg(["test", "-x", str(self.pgdata)])
        if probe.returncode != 0:
            raise ServerError(f"PostgreSQL runs as {user.pw_name!r} (it refuses root), who cannot reach "
                              f"{self.pgdata}: choose a folder whose parents that user may enter")

    def _connect(self, dbname: str):
        import psycopg2

        return psycopg2.connect(host=self.host, port=self.pg_port, user=self.user, password=self.password,
                                dbname=dbname, connect_timeout=10)

    def _create_database(self) -> None:
        conn = self._connect("postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("CREATE DATABASE mlflow")
        finally:
            conn.close()

    def backend_uri(self, with_password: bool = True) -> str:
        from urllib.parse import quote

        secret = f":{quote(self.password, safe='')}" if with_password and self.password else ""
        return f"postgresql+psycopg2://{quote(self.user, safe='')}{secret}@{self.host}:{self.pg_port}/mlflow"

    def _start_mlflow(self, timeout: float) -> None:
        self.port = self.port or free_port(self.host)
        artifacts = self.artifacts or str(self.root / "artifacts")
        if "://" not in artifacts:
            Path(artifacts).mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": self.backend_uri()}
        log = open(self.root / "mlflow-server.log", "ab")
        cmd = [sys.executable, "-m", "mlflow", "server", "--host", self.host, "--port", str(self.port),
               "--artifacts-destination", artifacts, "--workers", str(self.workers)]
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=self.root, start_new_session=True)
        log.close()
        self._proc = proc
        deadline = time.monotonic() + timeout
        while not self._healthy():
            if proc.poll() is not None or time.monotonic() > deadline:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                tail = (self.root / "mlflow-server.log").read_text(errors="replace")[-3000:]
                raise ServerError(f"mlflow server did not come up on {self.uri}:\n{tail}")
            time.sleep(0.3)
        self.state_path.write_text(json.dumps({
            "uri": self.uri, "mlflow_pid": proc.pid, "pgdata": str(self.pgdata), "pg_port": self.pg_port,
            "backend": self.backend_uri(with_password=False), "artifacts": artifacts, "host": self.host,
        }, indent=1))

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def read_state(self) -> dict:
        if not self.state_path.exists():
            raise ServerError(f"no tracking server state in {self.root} (start one with `emobench server start`)")
        return json.loads(self.state_path.read_text())

    def running(self) -> bool:
        """True when the server recorded in ``server.json`` answers its health check."""
        try:
            state = self.read_state()
        except ServerError:
            return False
        self.host, self.port = state["host"], int(state["uri"].rsplit(":", 1)[1])
        return self._healthy()

    def stop(self) -> None:
        """Stop mlflow server and PostgreSQL (the data stays in ``root``)."""
        state = self.read_state()
        pid = int(state["mlflow_pid"])
        try:
            os.killpg(pid, signal.SIGTERM)
            proc = getattr(self, "_proc", None)
            if proc is not None and proc.pid == pid:  # our child: reap it (a zombie still answers kill 0)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(pid, signal.SIGKILL)
                    proc.wait()
            else:
                for _ in range(100):
                    os.killpg(pid, 0)
                    time.sleep(0.1)
                os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._stop_postgres()
        self.state_path.unlink(missing_ok=True)

    def _stop_postgres(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            self._pg([self._bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])

    def __enter__(self) -> "TrackingServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def throwaway_root() -> Path:
    """A fresh folder for a throwaway server that the PostgreSQL user can reach (under the system temp dir)."""
    root = Path(tempfile.mkdtemp(prefix="emobench-server-"))
    root.chmod(0o755)
    return root
