"""Sweeps: one pipeline, a grid, a random sample or an Optuna TPE search of settings, one parent MLflow run with a
child per trial.

``seqpipe sweep PIPELINE`` reads the pipeline's ``sweep:`` section (or ``--grid key=v1,v2`` options),
validates every trial's overrides before the first one starts (a tpe search's values are checked key by key at
validate time, :mod:`seqpipe.config.sweep_check`), then runs each trial as a normal ``seqpipe run`` in its own
process (its own run folder, an MLflow run nested under the parent), optionally several at once. A failed
trial is recorded as FAILED and the others go on; a trial a tpe search's pruner stops is PRUNED (its MLflow
run KILLED with the tag ``seqpipe.sweep.pruned=true``). The parent run gets the summary table (CSV and
markdown), a plot of the metric against each swept setting, and the best trial's id and metric.

Each finished trial is appended to ``trials.jsonl`` in the sweep folder, so ``--resume`` continues the last
unfinished sweep of the pipeline: the same folder and parent run, the finished trials kept, the trials that
were running when it stopped marked interrupted (their MLflow runs tagged ``seqpipe.sweep.interrupted=true``)
and run again (grid, random) or replaced by new ones (tpe) until the budget is spent.

Importing this module does not import TensorFlow or Optuna (trials run in child processes).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from seqpipe.config.sweep import Distribution, SweepConfig, Trial, make_trials  # noqa: F401
from seqpipe.errors import ConfigError, SeqpipeError
from seqpipe.sweep_report import plot_sweep, summary, trial_score, write_summary  # noqa: F401

PARENT_TAG = "mlflow.parentRunId"


@dataclass
class SweepResult:
    parent_run_id: str | None
    folder: Path
    trials: list[Trial]
    table: Any = None  # pandas DataFrame, one row per trial
    best: dict = field(default_factory=dict)


def split_values(text: str) -> list[str]:
    """``a,[1, 2],{x: 1, y: 2}`` -> the three values: commas inside brackets, braces or quotes do not split."""
    parts, depth, quote, start = [], 0, None, 0
    for i, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


class GridValues(dict):
    """``{key path: values}`` from ``--grid`` options, with the option that gave each key (``origins``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.origins: dict[str, str] = {}


def grid_options(options: list[str]) -> GridValues:
    """``--grid encode.cell=lstm,gru`` -> ``{"encode.cell": ["lstm", "gru"]}`` (each value read as YAML)."""
    import yaml

    from seqpipe.errors import printable

    params = GridValues()
    for option in options:
        key, sep, values = option.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise SeqpipeError(f"--grid {option}: expected key.path=value1,value2,...")
        try:
            params[key.strip()] = [yaml.safe_load(v) if v.strip() else "" for v in split_values(values)]
            params.origins[key.strip()] = printable(f"--grid {option}")
        except yaml.YAMLError as exc:
            reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise SeqpipeError(f"--grid {option}: a value is not valid YAML ({reason})") from None
    return params


def validate_trials(pipeline: Path, overrides: list[str], trials: list[Trial]) -> None:
    """Every trial's full config must validate; all problems are reported at once, each naming its trial."""
    from seqpipe.api import load

    problems = []
    for trial in trials:
        try:
            load(pipeline, [*overrides, *trial.overrides()])
        except ConfigError as exc:
            problems += [f"trial {trial.number} ({trial.label()}): {line}" for line in exc.problems]
    if problems:
        raise ConfigError(problems)


def _trial_command(pipeline: Path, overrides: list[str], trial: Trial, parent: str | None) -> list[str]:
    command = [sys.executable, "-m", "seqpipe", "run", str(pipeline), "--json", "--no-progress"]
    for override in [*overrides, *trial.overrides()]:
        command += ["-o", override]
    if parent:
        command += ["--parent-run", parent]
    return command


def _die_with_parent() -> None:  # in the child, before exec: SIGTERM when the sweep dies (even by SIGKILL)
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class _Running:
    trial: Trial
    proc: subprocess.Popen
    out: Path
    log: Path
    started: float
    optuna_trial: Any = None


def _start_trial(pipeline: Path, overrides: list[str], trial: Trial, parent: str | None, folder: Path,
                 env: dict[str, str], optuna_trial=None) -> _Running:
    log, out = folder / f"trial_{trial.number:03d}.log", folder / f"trial_{trial.number:03d}.json"
    with open(log, "w", encoding="utf-8") as err, open(out, "w", encoding="utf-8") as stdout:
        proc = subprocess.Popen(_trial_command(pipeline, overrides, trial, parent), stdout=stdout, stderr=err,
                                text=True, preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                                env={**os.environ, "MLFLOW_DISABLE_TELEMETRY":
                                     os.environ.get("MLFLOW_DISABLE_TELEMETRY", "true"), **env})
    return _Running(trial, proc, out, log, time.perf_counter(), optuna_trial)


def _result(running: _Running) -> dict:
    lines = running.out.read_text(encoding="utf-8").strip().splitlines()
    result = {}
    if lines:
        try:
            result = json.loads(lines[-1])
        except ValueError:
            result = {}
    code = running.proc.returncode
    # the error lines the CLI printed (not its progress lines, which start with "seqpipe: ")
    errors = [line for line in running.log.read_text(encoding="utf-8").splitlines()
              if line.strip() and (not line.startswith("seqpipe: ") or line.startswith("seqpipe: internal error"))]
    return {"trial": running.trial.number, "settings": running.trial.settings, "exit_code": code,
            "status": result.get("status") or "FAILED", "run_id": result.get("run_id"),
            "run_dir": result.get("run_dir"), "metrics": result.get("metrics", {}),
            "seconds": time.perf_counter() - running.started,
            "error": "" if code in (0, 4) else (errors[-1] if errors else f"exit {code}")}


def run_sweep(pipeline: str | Path, overrides: list[str] = (), *, grid: dict[str, list[Any]] | None = None,
              parallel: int | None = None, metric: str | None = None, dry_run: bool = False, resume: bool = False,
              print_line=print) -> SweepResult:
    """Run the sweep of ``pipeline`` (its ``sweep:`` section, with ``grid`` replacing/adding values); with
    ``resume``, continue its last sweep that did not finish."""
    from seqpipe.api import load
    from seqpipe.config.paths import from_folder

    pipeline = Path(pipeline).resolve()
    overrides = list(overrides)
    config, layered, _ = load(pipeline, overrides)
    spec = config.sweep.model_copy(deep=True) if config.sweep else SweepConfig()
    if grid:
        from seqpipe.config.report import grid_problems

        origins = getattr(grid, "origins", {})
        problems = grid_problems(layered, grid, {key: origins.get(key, f"--grid {key}") for key in grid})
        if problems:
            raise ConfigError(problems)
        dumped = spec.model_dump()
        spec = SweepConfig.model_validate({**dumped, "method": "grid", "params": {**dumped["params"], **grid},
                                           "pruner": {}, "storage": None})
    if parallel is not None:
        spec.parallel = parallel
    if not spec.params:
        raise SeqpipeError(f"{pipeline}: nothing to sweep; add a sweep: {{params: ...}} section or --grid key=v1,v2")
    metric = metric or spec.metric or (config.stage("train").monitor if config.stage("train") else None)
    if spec.method == "tpe" and not metric:
        raise SeqpipeError("sweep.metric: method tpe needs the metric to optimise (or a train stage's monitor)")
    trials = make_trials(spec, config.seed)
    written = set(config.sweep.params if config.sweep else ()) - set(grid or ())  # from the file, not --grid

    def from_file(trial: Trial) -> Trial:  # a relative path the sweep file gives is taken from its folder
        trial.settings = {key: from_folder(key, value, pipeline.parent) if key in written else value
                          for key, value in trial.settings.items()}
        return trial

    trials = [from_file(trial) for trial in trials]
    validate_trials(pipeline, overrides, trials)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path(config.output_dir).resolve() / f"{config.name}-sweep-{stamp}"
    if dry_run:
        if spec.method == "tpe":
            print_line(f"tpe: {spec.trials} trials chosen by Optuna's TPE sampler from "
                       + "; ".join(f"{key}={value}" for key, value in spec.model_dump(exclude_none=True)
                                   ["params"].items()))
        for trial in trials:
            print_line(f"trial {trial.number}: {trial.label()}")
        return SweepResult(None, folder, trials)
    saved = {"pipeline": str(pipeline), "overrides": overrides, "spec": spec.model_dump(mode="json"),
             "metric": metric, "trials": [t.settings for t in trials]}
    records: dict[int, dict] = {}
    if resume:
        folder, saved, records = _last_sweep(config, saved)
    else:
        folder.mkdir(parents=True)
    tracker, client = _parent_tracker(config, folder, spec, metric, saved, resume)
    parent = tracker.run_id if tracker is not None else None
    if not resume:
        if spec.method == "tpe":
            from seqpipe.sweep_optuna import storage_url

            saved.update(study=folder.name, storage=storage_url(spec, config.tracking.uri))
        (folder / "sweep.json").write_text(json.dumps({**saved, "parent_run_id": parent}, indent=1, default=str),
                                           encoding="utf-8")
    study = None
    if spec.method == "tpe":
        from seqpipe import sweep_optuna

        seed = config.seed
        study = (sweep_optuna.load_study(spec, saved["storage"], saved["study"], seed) if resume else
                 sweep_optuna.create_study(spec, saved["storage"], saved["study"], metric, seed,
                                           {"parent_run_id": parent or "", "folder": str(folder)}))
        done = sweep_optuna.recover(study, records, {n: r.get("score") for n, r in records.items()})
    else:
        trials = [t for t in trials if t.number not in records]
        done = len(records)
    if resume:
        _mark_interrupted(client, parent, records, print_line)
    budget = spec.trials if spec.method == "tpe" else done + len(trials)
    print_line(f"seqpipe: sweep of {budget} trials ({spec.parallel} at a time) in {folder}"
               + (f"; MLflow parent run {parent}" if parent else "")
               + (f"; resuming: {done} finished" if resume else ""))
    from seqpipe.pipeline.signals import interruptible

    running: list[_Running] = []
    queue = list(trials)
    try:
        with interruptible():
            while True:
                while len(running) < spec.parallel and (queue if study is None else done + len(running) < budget):
                    env, optuna_trial = {}, None
                    if study is None:
                        trial = queue.pop(0)
                    else:
                        optuna_trial, trial = sweep_optuna.ask(study, spec)
                        trial = from_file(trial)
                        env = sweep_optuna.child_env(spec, saved["storage"], study, optuna_trial, metric)
                    running.append(_start_trial(pipeline, overrides, trial, parent, folder, env, optuna_trial))
                if not running:
                    break
                time.sleep(0.2)
                for item in [r for r in running if r.proc.poll() is not None]:
                    running.remove(item)
                    result = _result(item)
                    result["score"] = trial_score(result, metric, client) if metric else None
                    with open(folder / "trials.jsonl", "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(result, default=str) + "\n")
                    records[result["trial"]] = result
                    if study is not None:
                        sweep_optuna.tell(study, result["trial"], result, result["score"])
                    done += 1
                    print_line(f"seqpipe: trial {result['trial']} ({done}/{budget}; {item.trial.label()}): "
                               f"{result['status']}" + (f" ({result['error']})" if result["error"] else "")
                               + f", {result['seconds']:.0f} s")
    except BaseException:
        for item in running:
            item.proc.terminate()
        for item in running:
            item.proc.wait()
        if tracker is not None:
            tracker.set_tags({"seqpipe.failure": "sweep interrupted; continue with seqpipe sweep --resume"})
            tracker.end("KILLED")
        raise
    table, best = summary(list(records.values()), metric)
    write_summary(folder, table, spec, metric)
    statuses = [r["status"] for r in records.values()]
    with open(folder / "sweep.json", "r+", encoding="utf-8") as handle:
        data = json.load(handle)
        handle.seek(0)
        handle.write(json.dumps({**data, "finished": True}, indent=1, default=str))
    if tracker is not None:
        for name in ("summary.csv", "summary.md", "sweep.json", f"sweep_{metric}.png"):
            if (folder / name).exists():
                tracker.log_artifact(folder / name)
        finished = statuses.count("FINISHED")
        tracker.log_metrics({"trials_finished": finished, "trials_pruned": statuses.count("PRUNED"),
                             "trials_failed": len(statuses) - finished - statuses.count("PRUNED")})
        if best:
            tracker.log_metrics({f"best_{metric}": best["value"]})
            tracker.set_tags({"seqpipe.sweep.best_run_id": best["run_id"] or "", "seqpipe.sweep.best_trial":
                              str(best["trial"]), "seqpipe.sweep.metric": metric or ""})
        tracker.end("FINISHED" if finished else "FAILED")
    return SweepResult(parent, folder, trials, table, best)


def _last_sweep(config, saved: dict) -> tuple[Path, dict, dict[int, dict]]:
    """The folder of the last sweep of this pipeline, what it saved, and its finished trials (for ``--resume``)."""
    root = Path(config.output_dir).resolve()
    folders = sorted((f for f in root.glob(f"{config.name}-sweep-*") if (f / "sweep.json").is_file()), reverse=True)
    last = next((f for f in folders if json.loads((f / "sweep.json").read_text(encoding="utf-8"))["pipeline"]
                 == saved["pipeline"]), None)
    if last is None:
        raise SeqpipeError(f"sweep --resume: no sweep of {saved['pipeline']} in {root}; start one without --resume")
    before = json.loads((last / "sweep.json").read_text(encoding="utf-8"))
    if before.get("finished"):
        raise SeqpipeError(f"sweep --resume: the last sweep of {saved['pipeline']} ({last}) finished; "
                           "nothing to resume")
    ignore = ("parallel",)
    now = {k: v for k, v in saved["spec"].items() if k not in ignore}
    if ({k: v for k, v in before["spec"].items() if k not in ignore} != now or before["overrides"] !=
            saved["overrides"] or before["metric"] != saved["metric"]):
        raise SeqpipeError(f"sweep --resume: the sweep section, -o or --grid options or the metric differ from those "
                           f"{last} started with; resume with the same ones (or start a new sweep)")
    records = {}
    if (last / "trials.jsonl").exists():
        for line in (last / "trials.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                with contextlib.suppress(ValueError, KeyError, TypeError):  # a line cut by a kill: run again
                    record = json.loads(line)
                    records[record["trial"]] = record
        (last / "trials.jsonl").write_text("".join(json.dumps(r, default=str) + "\n" for r in records.values()),
                                           encoding="utf-8")  # without the cut line, which the next would extend
    return last, before, records


def _mark_interrupted(client, parent: str | None, records: dict[int, dict], print_line) -> None:
    """Tag the MLflow runs of the trials a stopped sweep left unfinished (KILLED when still RUNNING)."""
    if client is None or not parent:
        return
    kept = {r.get("run_id") for r in records.values()}
    experiment = client.get_run(parent).info.experiment_id
    for run in client.search_runs([experiment], filter_string=f"tags.`{PARENT_TAG}` = '{parent}'"):
        if run.info.run_id in kept or run.data.tags.get("seqpipe.sweep.interrupted"):
            continue
        client.set_tag(run.info.run_id, "seqpipe.sweep.interrupted", "true")
        if run.info.status == "RUNNING":
            client.set_terminated(run.info.run_id, "KILLED")
        print_line(f"seqpipe: trial run {run.info.run_id} was interrupted; marked seqpipe.sweep.interrupted=true")


def _parent_tracker(config, folder: Path, spec: SweepConfig, metric: str | None, saved: dict, resume: bool):
    """The parent MLflow run (and a client to read the trials), or (None, None) without tracking."""
    if config.tracking.backend != "mlflow":
        return None, None
    from seqpipe.tracking import TRACKERS
    from seqpipe.tracking.mlflow_tracker import _mlflow

    tracker = TRACKERS.get("mlflow")(tracking_uri=config.tracking.uri)
    if resume and saved.get("parent_run_id"):
        tracker.resume(saved["parent_run_id"])
        client = _mlflow().MlflowClient(tracker.tracking_uri)
        with contextlib.suppress(Exception):  # the tag an interrupted sweep left, if any
            client.delete_tag(saved["parent_run_id"], "seqpipe.failure")
        tracker.set_tags({"seqpipe.sweep.resumed": "true"})
        return tracker, client
    tracker.start(config.tracking.experiment or config.name, folder.name,
                  {"seqpipe.sweep": "parent", "seqpipe.run_dir": str(folder), "task": config.task,
                   **config.tracking.tags})
    tracker.log_params({"sweep": {**spec.model_dump(mode="json", exclude={"params"}), "metric": metric,
                                  "trials": spec.trials or len(saved["trials"]), "params": ", ".join(spec.params)}})
    return tracker, _mlflow().MlflowClient(tracker.tracking_uri)
