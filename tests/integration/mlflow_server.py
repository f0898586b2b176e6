"""A real ``mlflow server`` for tests: the way a team server runs, on this machine only.

SQLite backend store and a local artifact folder in a temporary directory, artifacts proxied
through the server (``--serve-artifacts``: clients upload and download over HTTP and never see
the folder), bound to 127.0.0.1 on a free port, one worker, telemetry off.

Use the session fixture ``mlflow_server`` (import :func:`mlflow_server_fixture` into the test
module; the session's tests share one server, so give each its own experiment and model names), or
start a private server with :func:`running_server`::

    from tests.integration.mlflow_server import mlflow_server_fixture  # noqa: F401  (fixture mlflow_server)

    def test_something(mlflow_server):
        seqpipe("run", "p.yaml", "-o", f"tracking.uri={mlflow_server.uri}", cwd=...)
        run = mlflow_server.client().get_run(run_id)

    with running_server(tmp_path / "server") as server:   # a fresh store, stopped at the end
        ...
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MlflowServer:
    """A running ``mlflow server`` process and where it keeps its data."""

    process: subprocess.Popen
    port: int
    root: Path  # holds mlflow.db, artifacts/ and server.log

    @property
    def uri(self) -> str:
        """The tracking URI clients use: ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def backend_uri(self) -> str:
        return f"sqlite:///{(self.root / 'mlflow.db').as_posix()}"

    @property
    def artifacts(self) -> Path:
        """Where the server stores uploaded artifacts (clients never write here themselves)."""
        return self.root / "artifacts"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def client(self):
        """An ``MlflowClient`` talking to the server over HTTP (tracking and registry)."""
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def healthy(self, timeout: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=timeout) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        stop_group(self.process)


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to a server's process group (the server and its workers), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)
    except ProcessLookupError:
        pass


def start_server(root: Path, timeout: float = START_TIMEOUT_S) -> MlflowServer:
    """Start ``mlflow server`` over a fresh store in ``root`` and wait until ``GET /health`` answers.

    Raises ``RuntimeError`` with the server's log when it exits or does not answer within ``timeout``.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "artifacts").mkdir(exist_ok=True)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1"}
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        env.pop(name, None)
    mlflow_cli = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    last_error = ""
    for _attempt in range(3):  # another process may take the free port before the server binds it
        port = free_port()
        log = open(root / "server.log", "w", encoding="utf-8")  # noqa: SIM115 -- the child writes it; closed below
        process = subprocess.Popen(
            [mlflow_cli, "server", "--backend-store-uri", f"sqlite:///{(root / 'mlflow.db').as_posix()}",
             "--serve-artifacts", "--artifacts-destination", str(root / "artifacts"),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        server = MlflowServer(process, port, root)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and server.alive():
            if server.healthy():
                return server
            time.sleep(0.25)
        last_error = server.log_tail()
        server.stop()
        if "address already in use" not in last_error.lower():
            break
    raise RuntimeError(f"mlflow server in {root} did not answer GET /health within {timeout:.0f} s "
                       f"(exit code {process.poll()}); its log:\n{last_error}")


@contextmanager
def running_server(root: Path, timeout: float = START_TIMEOUT_S) -> Iterator[MlflowServer]:
    """A server over a fresh store in ``root`` for the block; stopped afterwards, even on failure."""
    server = start_server(root, timeout)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session", name="mlflow_server")
def mlflow_server_fixture(tmp_path_factory) -> Iterator[MlflowServer]:
    """One server for the whole test session; give each test its own experiment (and model) names."""
    root = tmp_path_factory.mktemp("mlflow-server")
    try:
        server = start_server(root)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()
