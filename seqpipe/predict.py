"""Predict with an exported SavedModel: find it from a run, then call its signature."""

from __future__ import annotations

from pathlib import Path

from seqpipe.errors import SeqpipeError


def resolve_export(target: str, tracking_uri: str | None = None) -> Path:
    """A SavedModel folder from: the folder itself, a run folder, or an MLflow run id."""
    path = Path(target)
    for candidate in (path, path / "export" / "saved_model"):
        if (candidate / "saved_model.pb").exists():
            return candidate
    if path.exists():
        raise SeqpipeError(f"{target}: no SavedModel here; expected a saved_model.pb in it or in export/saved_model/")
    from seqpipe.tracking.mlflow_tracker import _mlflow, resolve_tracking_uri

    mlflow = _mlflow()

    uri = resolve_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(uri)
    try:
        run = client.get_run(target)
    except Exception:
        raise SeqpipeError(f"{target}: not a folder with a SavedModel and not a run id in {uri}") from None
    local = Path(run.data.tags.get("seqpipe.run_dir", "")) / "export" / "saved_model"
    if (local / "saved_model.pb").exists():
        return local
    try:
        return Path(mlflow.artifacts.download_artifacts(run_id=target, artifact_path="export/saved_model",
                                                        tracking_uri=uri))
    except Exception as exc:
        raise SeqpipeError(f"{target}: the run has no export/saved_model artifact ({exc})") from None


def predict_table(export: Path, texts: list[str]):
    """Run the export's signature on ``texts``; one row per text (the columns are the task's)."""
    import json

    from seqpipe._quiet import import_tensorflow
    from seqpipe.tasks import TASKS

    tf = import_tensorflow()
    model = tf.saved_model.load(str(export))
    meta = json.loads((export / "seqpipe.json").read_text()) if (export / "seqpipe.json").exists() else {}
    task = meta.get("task")
    if task not in TASKS:
        raise SeqpipeError(f"{export}: seqpipe.json names no known task (got {task!r}); {TASKS.unknown_message(task)}")
    return TASKS.get(task)().predict_table(model, texts, meta)
