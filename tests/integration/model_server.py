"""``mlflow models serve`` for tests: a run's MLflow model behind MLflow's own scoring server on 127.0.0.1.

The server runs the way docs/serving.md tells a user to start it (``--env-manager local``, the run's
tracking store in ``MLFLOW_TRACKING_URI``), in its own process group, and is stopped (SIGTERM, then
SIGKILL) when the ``with`` block ends::

    with serving(run["result"]) as server:
        status, answer = server.post({"inputs": {"text": ["a good film"]}})
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.integration.mlflow_server import free_port, stop_group

START_TIMEOUT_S = 240.0  # TensorFlow's import and the model's load, on 2 busy cores
REQUEST_TIMEOUT_S = 120.0


@dataclass
class ModelServer:
    process: subprocess.Popen
    port: int
    log: Path

    def post(self, body, content_type: str = "application/json") -> tuple[int, dict | str]:
        """POST ``body`` (a dict sent as JSON, or raw bytes/str) to /invocations: ``(status, parsed JSON or text)``."""
        data = json.dumps(body).encode() if isinstance(body, dict) else (body.encode() if isinstance(body, str)
                                                                         else body)
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/invocations", data=data,
                                         headers={"Content-Type": content_type}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        stop_group(self.process)


@contextmanager
def serving(result: dict, cwd: Path, through_seqpipe: bool = False):
    """``mlflow models serve -m runs:/<run id>/model --env-manager local`` for a ``seqpipe run --json`` result, or
    with ``through_seqpipe`` ``seqpipe serve <run folder>``, which runs that command."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": result["tracking_uri"], "MLFLOW_DISABLE_TELEMETRY": "true",
           "PYTHONUNBUFFERED": "1"}
    mlflow_cli = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    port = free_port()
    log = cwd / f"model_server_{port}.log"
    command = ([sys.executable, "-m", "seqpipe", "serve", result["run_dir"], "-p", str(port)] if through_seqpipe else
               [mlflow_cli, "models", "serve", "-m", f"runs:/{result['run_id']}/model", "--env-manager", "local",
                "-h", "127.0.0.1", "-p", str(port), "-w", "1"])
    if through_seqpipe:
        env.pop("MLFLOW_TRACKING_URI")  # the run folder names its store
    with open(log, "w", encoding="utf-8") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = ModelServer(process, port, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.ready():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"mlflow models serve did not answer /ping:\n{log.read_text()[-4000:]}")
            time.sleep(0.5)
        yield server
    finally:
        server.stop()
