"""tf.distribute on CPU: MirroredStrategy over two logical devices and MultiWorkerMirroredStrategy over two
worker processes on 127.0.0.1 give the loss curve of one device (the global batch is train.batch_size, split
over the replicas; the masked token loss is normalised by the global token count); only the chief tracks and
exports."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

WORKER = Path(__file__).with_name("distribute_worker.py")
REPO = Path(__file__).resolve().parents[2]


def reversal_data(path: Path, rows: int = 320) -> None:
    """Translation of digit strings to their reversal; lengths vary, so replicas see different token counts."""
    rng = np.random.default_rng(0)
    seqs = [[str(d) for d in rng.integers(0, 10, int(rng.integers(2, 9)))] for _ in range(rows)]
    pd.DataFrame({"source": [" ".join(s) for s in seqs], "target": [" ".join(s[::-1]) for s in seqs]}).to_csv(
        path, sep="\t", index=False)


def pipeline(distribute: str, tracking: dict) -> dict:
    return {
        "name": "dist", "task": "translation", "seed": 5, "tracking": tracking,
        "runtime": {"distribute": distribute},
        "data": {"source": {"path": "pairs.tsv"}, "split": {"valid": 0.1, "test": 0.1}},
        "stages": [{"tokenize": {"kind": "whitespace", "max_length": 12}}, {"embed": {"dim": 8}},
                   {"encode": {"cell": "gru", "units": 8}}, {"decode": {"units": 8}},
                   {"train": {"epochs": 2, "batch_size": 32, "bucketing": False, "validation_subset": 4}},
                   {"generate": {"decoding": {"strategy": "greedy"}}}, {"evaluate": {"metrics": ["bleu"]}},
                   {"export": {"keras": False, "log_model": False}}],
    }


def launch(devices: int, config: dict, cwd: Path, env: dict | None = None, shard: bool = False) -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    reversal_data(cwd / "pairs.tsv")
    if shard:
        shard_files(cwd)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(REPO), **(env or {})}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen([sys.executable, str(WORKER), str(devices), json.dumps(config)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-4000:]
    return {**json.loads(out.strip().splitlines()[-1]), "stderr": err}


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    return finish(launch(1, pipeline("none", {"backend": "none"}), tmp_path_factory.mktemp("single")))


def test_mirrored_over_two_cpu_devices_gives_the_loss_curve_of_one(single, tmp_path):
    mirrored = finish(launch(2, pipeline("mirrored", {"backend": "none"}), tmp_path))
    assert "MirroredStrategy over 2 replicas" in mirrored["stderr"]
    assert mirrored["status"] == "FINISHED" and Path(mirrored["export"]).is_dir()
    # same data, same global batches, same initial weights: the same curve up to float summation order
    np.testing.assert_allclose(mirrored["loss"], single["loss"], rtol=2e-3)
    np.testing.assert_allclose(mirrored["val_loss"], single["val_loss"], rtol=2e-3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multi_worker_on_two_processes_gives_the_loss_curve_of_one_and_only_the_chief_tracks(single, tmp_path):
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    tracking = {"backend": "mlflow", "uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "dist"}
    procs = [launch(1, pipeline("multi_worker", tracking), tmp_path / f"w{i}",
                    {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
             for i in range(2)]
    chief, worker = (finish(p) for p in procs)
    assert "over 2 replicas (the chief)" in chief["stderr"] and "over 2 replicas (a worker)" in worker["stderr"]
    np.testing.assert_allclose(chief["loss"], single["loss"], rtol=2e-3)
    np.testing.assert_allclose(worker["loss"], chief["loss"], rtol=1e-6)
    assert chief["run_id"] and not worker["run_id"]  # the worker tracks nothing
    assert Path(chief["export"]).is_dir() and worker["export"] == ""
    import mlflow

    runs = mlflow.MlflowClient(tracking["uri"]).search_runs(
        [mlflow.MlflowClient(tracking["uri"]).get_experiment_by_name("dist").experiment_id])
    assert [r.info.run_id for r in runs] == [chief["run_id"]]


def streamed(pipeline_: dict, shards: int) -> dict:
    """The same pipeline on TSV shards of the same pairs, streamed (data.streaming: true)."""
    train = [f"train-{i}.tsv" for i in range(shards)]
    return {**pipeline_, "data": {"source": {"train": train, "valid": "valid.tsv", "test": "test.tsv"},
                                  "streaming": True, "shuffle_buffer": 64}}


def shard_files(cwd: Path) -> None:
    """pairs.tsv cut into training shards (one of 280 rows, and four of 70) and valid / test files."""
    frame = pd.read_csv(cwd / "pairs.tsv", sep="\t", dtype=str, keep_default_na=False)
    frame[:280].to_csv(cwd / "train-0.tsv", sep="\t", index=False)
    for i in range(4):
        frame[i * 70:(i + 1) * 70].to_csv(cwd / f"train-{i + 1}.tsv", sep="\t", index=False)
    frame[280:300].to_csv(cwd / "valid.tsv", sep="\t", index=False)
    frame[300:].to_csv(cwd / "test.tsv", sep="\t", index=False)


def two_workers(tmp_path: Path, config: dict) -> tuple[dict, dict]:
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    procs = [launch(1, config, tmp_path / f"w{i}", {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {
        "type": "worker", "index": i}})}, shard=True) for i in range(2)]
    chief, worker = (finish(p) for p in procs)
    return chief, worker


def test_multi_worker_on_one_streamed_shard_gives_the_loss_curve_of_one_streamed_worker(tmp_path):
    """Fewer shards than workers: every worker reads the stream and trains on its slice of each global batch."""
    one = finish(launch(1, streamed(pipeline("none", {"backend": "none"}), 1), tmp_path / "single", shard=True))
    chief, worker = two_workers(tmp_path, streamed(pipeline("multi_worker", {"backend": "none"}), 1))
    assert "streaming the training split" in chief["stderr"] and "by file" not in chief["stderr"]
    np.testing.assert_allclose(chief["loss"], one["loss"], rtol=2e-3)
    np.testing.assert_allclose(worker["loss"], chief["loss"], rtol=1e-6)


def test_multi_worker_on_four_streamed_shards_reads_its_own_shards(tmp_path):
    """As many shards as workers or more: each worker reads only its shards, in batches of its share of the global
    batch, as many per epoch as the other (the same 280 rows as above, as four files of 70)."""
    config = streamed(pipeline("multi_worker", {"backend": "none"}), 5)
    config["data"]["source"]["train"] = config["data"]["source"]["train"][1:]
    chief, worker = two_workers(tmp_path, config)
    for name, result in (("0", chief), ("1", worker)):
        assert f"worker {name} reads 2 of 4 shards (by file), 140 rows; 8 batches of at most 16 examples per epoch" \
            in result["stderr"]
    np.testing.assert_allclose(worker["loss"], chief["loss"], rtol=1e-6)  # one model, losses reduced over workers
    assert chief["loss"][-1] < chief["loss"][0] and chief["status"] == "FINISHED"
