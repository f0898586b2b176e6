"""B6: what tracking costs: one epoch's metric logging, and whole smoke runs with and without MLflow.

Stores: none (the null tracker), the embedded SQLite store, and a real ``mlflow server`` on
127.0.0.1 (SQLite behind it, artifacts proxied). Per-epoch cost: the time of the tracker call the
training loop makes after every epoch (the epoch's metrics in one batch), repeated. Whole runs: the
sentiment smoke pipeline (2 epochs) run end to end by the CLI with each store, interleaved.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.suite import ROOT, main_module, spread

ID, TITLE = "B6", "tracking overhead"
EPOCH_METRICS = {"loss": 0.61, "accuracy": 0.71, "val_loss": 0.63, "val_accuracy": 0.69, "time_epoch_s": 3.2,
                 "learning_rate": 0.001}


def per_epoch(tracker, calls: int) -> list[float]:
    tracker.start("bench-tracking", "per-epoch", {})
    times = []
    for step in range(calls):
        started = time.perf_counter()
        tracker.log_metrics(EPOCH_METRICS, step=step)
        times.append(time.perf_counter() - started)
    tracker.end("FINISHED")
    return times


def whole_run(uri: str | None, workdir: Path) -> float:
    overrides = ["-o", "tracking.backend=none"] if uri is None else ["-o", f"tracking.uri={uri}"]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "seqpipe", "run", str(ROOT / "pipelines/smoke/sentiment_bilstm.yaml"),
                    "--no-progress", "--no-cache", *overrides], cwd=workdir, env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - started


def run(quick: bool) -> dict:
    from seqpipe.tracking import MLflowTracker, NullTracker
    from tests.integration.mlflow_server import running_server

    calls, repeats = (20, 1) if quick else (100, 3)
    tmp = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    sqlite = f"sqlite:///{tmp / 'mlflow.db'}"
    rows, runs = [], {}
    with running_server(tmp / "server") as server:
        stores = {"none": None, "sqlite": sqlite, "server": server.uri}
        for name, uri in stores.items():
            tracker = NullTracker() if uri is None else MLflowTracker(uri)
            times = per_epoch(tracker, calls)
            rows.append([name, spread([t * 1000 for t in times]), f"{calls}"])
        for _ in range(repeats):  # interleaved, so drift on the shared machine hits every store alike
            for name, uri in stores.items():
                runs.setdefault(name, []).append(whole_run(uri, tmp))
    base = sorted(runs["none"])[len(runs["none"]) // 2]
    run_rows = [[name, spread(values), f"{sorted(values)[len(values) // 2] / base:.2f}"]
                for name, values in runs.items()]
    return {"tables": [
        {"title": "per-epoch metric logging (ms per epoch, one batch of 6 metrics)",
         "columns": ["store", "ms per epoch", "calls"], "rows": rows},
        {"title": "sentiment smoke pipeline end to end (s, 2 epochs, CLI process included)",
         "columns": ["store", "seconds", "ratio to none"], "rows": run_rows}],
        "notes": ["Metrics are sent once per epoch in one batch (never per step), artifacts once at the end of a "
                  "stage; a per-epoch cost in milliseconds is what an epoch of seconds or minutes pays.",
                  f"repeats: {repeats} whole runs per store, {calls} logging calls per store",
                  "stores: none, sqlite (embedded), server (mlflow server on 127.0.0.1 with --serve-artifacts)"]}


if __name__ == "__main__":
    main_module(run)
