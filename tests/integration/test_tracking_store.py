"""The MLflow store under load: processes that open a store that does not exist yet, all at once."""

import multiprocessing
from pathlib import Path

from seqpipe.tracking import MLflowTracker


def _log_one_run(uri: str, index: int, barrier) -> None:
    barrier.wait()
    with MLflowTracker(uri) as tracker:
        tracker.start("parallel", f"run-{index}", {"index": str(index)})
        tracker.log_params({"index": index})
        tracker.log_metrics({"value": float(index)}, step=index)


def test_concurrent_first_runs_share_a_new_store(tmp_path):
    """Four processes opening a store that does not exist yet must all succeed."""
    uri = f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    workers = [ctx.Process(target=_log_one_run, args=(uri, i, barrier)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]

    from mlflow import MlflowClient

    client = MlflowClient(uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "parallel"]
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in runs) == [f"run-{i}" for i in range(4)]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert Path(f"{tmp_path / 'fresh' / 'mlflow.db'}.lock").exists()
