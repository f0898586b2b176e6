"""Run a validated pipeline: check the stage chain, then run stages with tracking."""

from __future__ import annotations

import json
import logging
import os
import platform
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from seqpipe.errors import SeqpipeError, TrackingError, TrialPruned, full_disk_error
from seqpipe.pipeline.cache import StageCache
from seqpipe.pipeline.context import RunContext
from seqpipe.pipeline.signals import interruptible
from seqpipe.pipeline.stage import STAGES
from seqpipe.tasks import get_task
from seqpipe.tracking.guard import GuardedTracker, one_line


@dataclass
class RunResult:
    """What a finished run returns (and ``seqpipe run --json`` prints)."""

    run_id: str | None
    tracking_uri: str | None
    experiment: str | None
    run_dir: Path
    metrics: dict[str, float] = field(default_factory=dict)
    export_path: Path | None = None
    status: str = "FINISHED"
    warnings: list[str] = field(default_factory=list)  # what tracking could not record (the run still finished)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "tracking_uri": self.tracking_uri, "experiment": self.experiment,
                "run_dir": str(self.run_dir), "metrics": self.metrics,
                "export_path": str(self.export_path) if self.export_path else None, "status": self.status,
                "warnings": self.warnings}


def _run_dir(config) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(config.output_dir) / f"{config.name}-{stamp}"
    path, n = base, 1
    while True:  # mkdir is the test: runs started in the same second (parallel sweep trials) get -2, -3, ...
        try:
            path.mkdir(parents=True)
            return path.resolve()
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise SeqpipeError(f"cannot create the run folder {path} ({reason}); set output_dir to a folder you "
                               "can write to") from None


def find_run(target: str | Path, tracking_uri: str | None) -> Path:
    """The folder of a run to resume: ``target`` itself (a run folder), or the folder of MLflow run ``target``."""
    path = Path(target)
    if (path / "resolved.yaml").is_file():
        return path.resolve()
    if path.exists():
        raise SeqpipeError(f"--resume {target}: not a run folder (no resolved.yaml in it)")
    from seqpipe.tracking.mlflow_tracker import _mlflow, ensure_reachable, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    try:
        ensure_reachable(uri)
    except ConnectionError as exc:
        raise SeqpipeError(f"--resume {target}: {exc}") from None
    try:
        run = _mlflow().MlflowClient(uri).get_run(str(target))
    except Exception:  # noqa: BLE001 -- any lookup failure means: not a run we know
        raise SeqpipeError(f"--resume {target}: neither a run folder nor an MLflow run id in {uri}") from None
    folder = Path(run.data.tags.get("seqpipe.run_dir", ""))
    if not (folder / "resolved.yaml").is_file():
        raise SeqpipeError(f"--resume {target}: the run's folder {folder} is gone; a run resumes from its folder")
    return folder


def _same_config(run_dir: Path, resolved: dict[str, Any]) -> None:
    """A resumed run must have the config it started with (train.epochs and train.max_minutes may change)."""
    saved = yaml.safe_load((run_dir / "resolved.yaml").read_text(encoding="utf-8"))

    def without_epochs(data):
        view = _params_view(data)
        view["stages"] = {k: {kk: vv for kk, vv in v.items() if not (k == "train" and kk in ("epochs", "max_minutes"))}
                          for k, v in view["stages"].items()}
        return view

    from seqpipe.tracking.params import flatten_params

    old, new = flatten_params(without_epochs(saved)), flatten_params(without_epochs(resolved))
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if changed:
        first = changed[0]
        raise SeqpipeError(f"--resume {run_dir}: the pipeline differs from the run's resolved.yaml at {first} "
                           f"(was {old.get(first, '(unset)')}, now {new.get(first, '(unset)')})"
                           + (f" and {len(changed) - 1} more key(s)" if len(changed) > 1 else "")
                           + "; a run resumes with the config it started with (only train.epochs and "
                             "train.max_minutes may change)")


class _RunLog(logging.FileHandler):
    """The run's log file; a line it cannot write (a full disk) is dropped quietly: the terminal still shows it."""

    def handleError(self, record):  # noqa: N802 -- logging's name
        pass


def _logger(run_dir: Path) -> logging.Logger:
    log = logging.getLogger(f"seqpipe.run.{run_dir.name}")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = _RunLog(run_dir / "run.log", encoding="utf-8")  # appends: a resumed run continues it
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter("seqpipe: %(message)s"))
    log.handlers = [handler, console]
    return log


def _environment_tags(config) -> dict[str, str]:
    import keras
    import tensorflow as tf

    from seqpipe._version import __version__

    gpus = tf.config.list_physical_devices("GPU")
    tags = {
        "seqpipe.version": __version__, "tensorflow.version": tf.__version__,
        "keras.version": keras.__version__, "python.version": platform.python_version(),
        "device": ", ".join(d.name for d in gpus) or f"CPU ({platform.processor() or platform.machine()})",
        "task": config.task, "precision": keras.mixed_precision.global_policy().name,
    }
    from seqpipe.config.gpu import gpu_findings

    findings = gpu_findings(config)
    tags["cudnn_eligible"] = "false" if findings else "true"
    tags["cudnn_reason"] = ("; ".join(f"{'.'.join(map(str, path))}: {why}" for path, why in findings)
                            or "every recurrent layer keeps the fused kernel (tanh/sigmoid, no recurrent dropout, "
                               "right padding)")
    from seqpipe.pipeline.gitinfo import git_commit
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags


def run_pipeline(config, resolved: dict[str, Any], *, base_dir: Path, progress: bool = True,
                 resume: str | Path | None = None, parent_run: str | None = None, cache: bool = True) -> RunResult:
    """Run ``config`` (validated, stage chain checked) end to end; ``resolved`` is its plain-data form.

    With ``resume`` (a run folder or MLflow run id), continue that run: same folder, same MLflow run,
    training from its last checkpoint. ``parent_run`` nests the MLflow run under that run (sweeps).
    ``cache=False`` computes every stage (see :mod:`seqpipe.pipeline.cache`).
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if resume is not None:
        run_dir = find_run(resume, config.tracking.uri)
        _same_config(run_dir, resolved)
    else:
        run_dir = _run_dir(config)
    from seqpipe._quiet import import_tensorflow
    import_tensorflow()
    import keras
    import pandas as pd

    from seqpipe.data import load_data, should_stream
    from seqpipe.tracking import TRACKERS

    log = _logger(run_dir)
    (run_dir / "resolved.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
    keras.utils.set_random_seed(config.seed)
    strategy, is_chief = _configure_runtime(config.runtime)

    backend = config.tracking.backend if is_chief else "none"
    raw_tracker = TRACKERS.get(backend)(tracking_uri=config.tracking.uri)
    run_name = config.tracking.run_name or run_dir.name
    tags = {**_environment_tags(config), **config.tracking.tags, "seqpipe.run_dir": str(run_dir)}
    if config.description:
        tags["mlflow.note.content"] = config.description
    if parent_run:
        tags["mlflow.parentRunId"] = parent_run
    saved_run = run_dir / "run.json"
    previous = json.loads(saved_run.read_text()) if resume is not None and saved_run.exists() else {}
    try:
        if previous.get("run_id") and backend != "none":
            raw_tracker.resume(previous["run_id"])
        else:
            raw_tracker.start(config.tracking.experiment or config.name, run_name, tags)
    except SeqpipeError as exc:
        exc.run_dir = run_dir
        _close(log)
        raise
    except Exception as exc:  # the store cannot be reached or opened: fatal, before any data is read
        log.handlers[0].handle(log.makeRecord(log.name, logging.ERROR, __file__, 0, "tracking failed to start:\n%s",
                                              (traceback.format_exc(),), None))
        _close(log)
        error = TrackingError(f"tracking: cannot start a run in {raw_tracker.tracking_uri or backend} "
                              f"({one_line(exc)}); "
                              "check tracking.uri / MLFLOW_TRACKING_URI, or set tracking.backend: none")
        error.run_dir = run_dir
        raise error from None
    tracker = GuardedTracker(raw_tracker, log)
    (run_dir / "run.json").write_text(json.dumps({"run_id": tracker.run_id, "tracking_uri": tracker.tracking_uri,
                                                  "experiment": config.tracking.experiment or config.name}),
                                      encoding="utf-8")
    result = RunResult(tracker.run_id, tracker.tracking_uri, config.tracking.experiment or config.name, run_dir)
    log.info("%s %s", "resuming run folder" if resume is not None else "run folder", run_dir)
    from seqpipe.config.unread import unread_keys

    for path, why in unread_keys(config):
        log.warning("%s: %s", ".".join(map(str, path)), why)
    if tracker.run_id:
        log.info("MLflow run %s in %s (%s)", tracker.run_id, tracker.tracking_uri, tracker.ui_url)
    task = get_task(config.task)
    ctx = RunContext(config=config, run_dir=run_dir, base_dir=base_dir, tracker=tracker, log=log, task=task,
                     progress=progress, resume=resume is not None, chief=is_chief)
    if strategy.num_replicas_in_sync > 1:
        log.info("tf.distribute: %s over %d replicas (%s); train.batch_size is the global batch",
                 type(strategy).__name__, strategy.num_replicas_in_sync, "the chief" if is_chief else "a worker")
    try:
        with interruptible():
            if resume is None:
                tracker.log_params(_params_view(resolved))
            tracker.log_artifact(run_dir / "resolved.yaml")
            started = time.perf_counter()
            stages = [STAGES.get(name)(config.stage(name)) for name in config.stage_names()]
            for stage in stages:  # what stages need beyond Python (e.g. Java), before any data is read
                stage.preflight(task)
            keep = [c for stage in stages for c in stage.data_columns()]
            stream, why = should_stream(config.data, task.streams, base_dir)
            log.info("%s: %s", why, "streaming the training split" if stream else "reading it into memory")
            splits, report = load_data(config.data, roles=list(task.roles), seed=config.seed, base_dir=base_dir,
                                       keep=keep, stream=stream)
            splits = task.check_data(splits, config.data, report)
            ctx.put("splits", splits)
            sizes = {f"{k}_examples": len(v) for k, v in splits.items() if isinstance(v, pd.DataFrame)}
            if stream:
                log.info("train: streamed from %s", splits["train"].describe())
            tracker.log_metrics({**sizes, **report.metrics()})
            log.info("data: %s", ", ".join(f"{k} {v}" for k, v in sizes.items()))
            for line in (report.lines() if report else []):
                log.warning("%s", line)
            stage_cache = StageCache(config, resolved, splits, enabled=cache)
            with strategy.scope():
                for name in config.stage_names():
                    stage = STAGES.get(name)(config.stage(name))
                    ctx.begin_stage(name, stage.requires + stage.optional + task.stage_requires(name),
                                    stage.provides + task.stage_provides(name))
                    t0 = time.perf_counter()
                    log.info("stage %s", name)
                    _run_stage(stage, name, ctx, stage_cache)
                    ctx.end_stage()
                    tracker.log_metrics({f"time_{name}_s": time.perf_counter() - t0})
            if stage_cache.report:
                tracker.set_tags({"seqpipe.cache": ", ".join(f"{k}: {v}" for k, v in stage_cache.report.items())})
            tracker.log_metrics({"time_total_s": time.perf_counter() - started})
    except TrialPruned as exc:  # a sweep's pruner stopped training: no evaluation, no export (seqpipe.train.pruning)
        log.info("%s", exc)
        tracker.set_tags({"seqpipe.sweep.pruned": "true", "seqpipe.sweep.pruned_at_epoch": str(exc.epoch)})
        tracker.log_artifact(run_dir / "run.log")
        tracker.end("KILLED")
        _close(log)
        result.status, result.metrics = "PRUNED", {}
        return result
    except BaseException as exc:
        result.status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        log.handlers[0].handle(log.makeRecord(log.name, logging.ERROR, __file__, 0,
                                              "run failed:\n%s", (traceback.format_exc(),), None))
        full = None if isinstance(exc, (KeyboardInterrupt, SeqpipeError)) else full_disk_error(exc, run_dir)
        reason = (f"interrupted ({exc or 'SIGINT'}); continue with --resume {run_dir}"
                  if isinstance(exc, KeyboardInterrupt) else one_line(full or exc))
        tracker.set_tags({"seqpipe.failure": reason})
        tracker.end(result.status)
        _close(log)
        if full is not None:  # a full disk is the user's to fix: one line, exit 2
            full.run_dir = run_dir
            raise full from exc
        exc.run_dir = run_dir  # so the CLI can point at the log
        raise
    if tracker.warnings:
        log.warning("finished with %d tracking warning(s); every result is in %s", len(tracker.warnings), run_dir)
    tracker.log_artifact(run_dir / "run.log")
    tracker.end("FINISHED")
    _close(log)
    result.metrics = dict(ctx.metrics)
    result.export_path = ctx.artifacts.get("export_path")
    result.warnings = list(tracker.warnings)
    return result


def _run_stage(stage, name: str, ctx: RunContext, cache: StageCache) -> None:
    """Run ``stage``, or load its outputs from the stage cache when an earlier run computed the same thing."""
    key = cache.advance(name, stage.cache_inputs(ctx.base_dir))
    if not (stage.cacheable and cache.enabled):
        stage.run(ctx)
        return
    entry = cache.lookup(name, key)
    if entry is not None:
        try:
            stage.cache_load(ctx, cache.folder(name, key))
        except Exception as exc:  # noqa: BLE001 -- an unreadable entry is recomputed, never fatal
            ctx.log.warning("stage %s: the cache entry %s could not be used (%s); computing it", name,
                            cache.folder(name, key), one_line(exc))
            cache.forget(name, key)
            ctx.begin_stage(name, tuple(ctx._readable or ()), tuple(ctx._writable or ()))
        else:
            source = entry.get("run_id") or entry.get("run_dir") or "an earlier run"
            cache.report[name] = f"hit (run {source})"
            ctx.log.info("stage %s: cache hit, reusing run %s (%s)", name, source, cache.folder(name, key))
            return
    stage.run(ctx)
    try:
        cache.store(name, key, lambda folder: stage.cache_save(ctx, folder),
                    {"run_id": ctx.tracker.run_id, "run_dir": str(ctx.run_dir)})
        cache.report[name] = "computed"
    except Exception as exc:  # noqa: BLE001 -- a cache that cannot be written costs time, not results
        ctx.log.warning("stage %s: could not store it in the stage cache (%s)", name, one_line(exc))


def _close(log: logging.Logger) -> None:
    for handler in log.handlers:
        handler.close()


def is_chief(tf_config: dict) -> bool:
    """The chief tracks: the 'chief' task when the cluster has one, else worker 0."""
    task = tf_config.get("task", {})
    if "chief" in tf_config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type", "worker") == "worker" and task.get("index", 0) == 0


def _configure_runtime(runtime):
    """Apply precision and determinism; return (tf.distribute strategy, whether this worker is the chief)."""
    import json

    import keras
    import tensorflow as tf

    keras.mixed_precision.set_global_policy(runtime.precision)
    if runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
    if runtime.distribute == "mirrored":
        # all local GPUs; without one, every logical CPU device (tf.config.set_logical_device_configuration)
        gpus = tf.config.list_logical_devices("GPU")
        devices = None if gpus else [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices), True
    if runtime.distribute == "multi_worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        return strategy, is_chief(json.loads(os.environ.get("TF_CONFIG") or "{}"))
    return tf.distribute.get_strategy(), True


def _params_view(resolved: dict[str, Any]) -> dict[str, Any]:
    """Resolved config with stages keyed by name, so params read ``stages.train.epochs``."""
    view = dict(resolved)
    view["stages"] = {k: v for entry in resolved["stages"] for k, v in entry.items()}
    return view
