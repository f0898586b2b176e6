"""Sweeps: one pipeline, a grid or a random sample of settings, one parent MLflow run with a child per trial.

``seqpipe sweep PIPELINE`` reads the pipeline's ``sweep:`` section (or ``--grid key=v1,v2`` options),
validates every trial's overrides before the first one starts, then runs each trial as a normal
``seqpipe run`` in its own process (its own run folder, an MLflow run nested under the parent),
optionally several at once. A failed trial is recorded as FAILED and the others go on. The parent
run gets the summary table (CSV and markdown), a plot of the metric against each swept setting, and
the best trial's id and metric.

Importing this module does not import TensorFlow (trials run in child processes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from seqpipe.config.sweep import Distribution, SweepConfig, Trial, make_trials  # noqa: F401
from seqpipe.errors import ConfigError, SeqpipeError

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


def _run_trial(pipeline: Path, overrides: list[str], trial: Trial, parent: str | None, log_dir: Path) -> dict:
    log = log_dir / f"trial_{trial.number:03d}.log"
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as err:
        proc = subprocess.run(_trial_command(pipeline, overrides, trial, parent), stdout=subprocess.PIPE, stderr=err,
                              text=True, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY":
                                              os.environ.get("MLFLOW_DISABLE_TELEMETRY", "true")})
    lines = proc.stdout.strip().splitlines()
    result = {}
    if lines:
        try:
            result = json.loads(lines[-1])
        except ValueError:
            result = {}
    # the error lines the CLI printed (not its progress lines, which start with "seqpipe: ")
    errors = [line for line in log.read_text(encoding="utf-8").splitlines()
              if line.strip() and (not line.startswith("seqpipe: ") or line.startswith("seqpipe: internal error"))]
    return {"trial": trial.number, "exit_code": proc.returncode, "status": result.get("status") or "FAILED",
            "run_id": result.get("run_id"), "run_dir": result.get("run_dir"), "metrics": result.get("metrics", {}),
            "seconds": time.perf_counter() - started,
            "error": "" if proc.returncode in (0, 4) else (errors[-1] if errors else f"exit {proc.returncode}")}


def trial_score(result: dict, metric: str, client=None) -> float | None:
    """A trial's value of ``metric``: its final value, or for an epoch metric the best epoch's (min or max)."""
    from seqpipe.metrics.direction import lower_is_better

    if metric in result["metrics"]:
        return float(result["metrics"][metric])
    if client is None or not result.get("run_id"):
        return None
    history = [m.value for m in client.get_metric_history(result["run_id"], metric)]
    if not history:
        return None
    return float(min(history) if lower_is_better(metric) else max(history))


def run_sweep(pipeline: str | Path, overrides: list[str] = (), *, grid: dict[str, list[Any]] | None = None,
              parallel: int | None = None, metric: str | None = None, dry_run: bool = False,
              print_line=print) -> SweepResult:
    """Run the sweep of ``pipeline`` (its ``sweep:`` section, with ``grid`` replacing/adding values)."""
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
        spec = SweepConfig.model_validate({**dumped, "method": "grid", "params": {**dumped["params"], **grid}})
    if parallel is not None:
        spec.parallel = parallel
    if not spec.params:
        raise SeqpipeError(f"{pipeline}: nothing to sweep; add a sweep: {{params: ...}} section or --grid key=v1,v2")
    metric = metric or spec.metric or (config.stage("train").monitor if config.stage("train") else None)
    trials = make_trials(spec, config.seed)
    written = set(config.sweep.params if config.sweep else ()) - set(grid or ())  # from the file, not --grid
    for trial in trials:  # a relative path the sweep file gives is taken from its folder, as in the file
        trial.settings = {key: from_folder(key, value, pipeline.parent) if key in written else value
                          for key, value in trial.settings.items()}
    validate_trials(pipeline, overrides, trials)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path(config.output_dir).resolve() / f"{config.name}-sweep-{stamp}"
    if dry_run:
        for trial in trials:
            print_line(f"trial {trial.number}: {trial.label()}")
        return SweepResult(None, folder, trials)
    folder.mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps({"pipeline": str(pipeline), "overrides": overrides,
                                                   "spec": spec.model_dump(mode="json"), "metric": metric,
                                                   "trials": [t.settings for t in trials]}, indent=1, default=str),
                                       encoding="utf-8")
    tracker, client = _parent_tracker(config, folder, spec, metric, trials)
    parent = tracker.run_id if tracker is not None else None
    print_line(f"seqpipe: sweep of {len(trials)} trials ({spec.parallel} at a time) in {folder}"
               + (f"; MLflow parent run {parent}" if parent else ""))
    results = []
    try:
        with ThreadPoolExecutor(max_workers=spec.parallel) as pool:
            futures = [pool.submit(_run_trial, pipeline, overrides, trial, parent, folder) for trial in trials]
            for trial, future in zip(trials, futures):
                result = future.result()
                results.append(result)
                print_line(f"seqpipe: trial {trial.number}/{len(trials)} ({trial.label()}): {result['status']}"
                           + (f" ({result['error']})" if result["error"] else "") + f", {result['seconds']:.0f} s")
    except BaseException:
        if tracker is not None:
            tracker.set_tags({"seqpipe.failure": "sweep interrupted"})
            tracker.end("KILLED")
        raise
    table, best = _summary(trials, results, metric, client)
    _write_summary(folder, table, spec, metric, trials)
    if tracker is not None:
        for name in ("summary.csv", "summary.md", "sweep.json", f"sweep_{metric}.png"):
            if (folder / name).exists():
                tracker.log_artifact(folder / name)
        finished = sum(r["status"] == "FINISHED" for r in results)
        tracker.log_metrics({"trials_finished": finished, "trials_failed": len(results) - finished})
        if best:
            tracker.log_metrics({f"best_{metric}": best["value"]})
            tracker.set_tags({"seqpipe.sweep.best_run_id": best["run_id"] or "", "seqpipe.sweep.best_trial":
                              str(best["trial"]), "seqpipe.sweep.metric": metric or ""})
        tracker.end("FINISHED" if finished else "FAILED")
    return SweepResult(parent, folder, trials, table, best)


def _parent_tracker(config, folder: Path, spec: SweepConfig, metric: str | None, trials: list[Trial]):
    """The parent MLflow run (and a client to read the trials), or (None, None) without tracking."""
    if config.tracking.backend != "mlflow":
        return None, None
    from seqpipe.tracking import TRACKERS
    from seqpipe.tracking.mlflow_tracker import _mlflow

    tracker = TRACKERS.get("mlflow")(tracking_uri=config.tracking.uri)
    tracker.start(config.tracking.experiment or config.name, folder.name,
                  {"seqpipe.sweep": "parent", "seqpipe.run_dir": str(folder), "task": config.task,
                   **config.tracking.tags})
    tracker.log_params({"sweep": {**spec.model_dump(mode="json", exclude={"params"}), "metric": metric,
                                  "trials": len(trials), "params": ", ".join(spec.params)}})
    return tracker, _mlflow().MlflowClient(tracker.tracking_uri)


def _summary(trials: list[Trial], results: list[dict], metric: str | None, client):
    import pandas as pd

    from seqpipe.metrics.direction import lower_is_better

    rows = []
    for trial, result in zip(trials, results):
        score = trial_score(result, metric, client) if metric and result["status"] == "FINISHED" else None
        shown = {key: json.dumps(value) if isinstance(value, (dict, list)) else value
                 for key, value in trial.settings.items()}
        rows.append({"trial": trial.number, **shown, "status": result["status"],
                     **({metric: score} if metric else {}), "seconds": round(result["seconds"], 1),
                     "run_id": result["run_id"] or "", "run_dir": result["run_dir"] or "", "error": result["error"]})
    table = pd.DataFrame(rows)
    best = {}
    if metric and table[metric].notna().any():
        ranked = table[table[metric].notna()].sort_values(metric, ascending=lower_is_better(metric), kind="stable")
        top = ranked.iloc[0]
        best = {"trial": int(top["trial"]), "run_id": top["run_id"], "value": float(top[metric])}
    return table, best


def _write_summary(folder: Path, table, spec: SweepConfig, metric: str | None, trials: list[Trial]) -> None:
    from seqpipe.compare import markdown_table

    table.to_csv(folder / "summary.csv", index=False)
    (folder / "summary.md").write_text(markdown_table(table.drop(columns=["run_dir"])) + "\n", encoding="utf-8")
    if metric and metric in table and table[metric].notna().any():
        plot_sweep(table, list(spec.params), metric, folder / f"sweep_{metric}.png", spec.baseline, spec.baseline_label)


def plot_sweep(table, params: list[str], metric: str, path: Path, baseline: float | None = None,
               baseline_label: str = "baseline") -> Path:
    """One panel per swept setting: the metric against its values.

    With two settings, each panel has one line per value of the other setting (e.g. the metric against the
    sequence length, one line per cell).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2 * len(params), 3.8))
    FigureCanvasAgg(fig)
    done = table[table[metric].notna()]
    for index, param in enumerate(params):
        ax = fig.add_subplot(1, len(params), index + 1)
        values = list(dict.fromkeys(done[param].tolist()))
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        order = sorted(values) if numeric else values
        x_of = (lambda v: v) if numeric else (lambda v: order.index(v))
        others = [p for p in params if p != param]
        groups = done.groupby(others[0], sort=False) if len(others) == 1 else [(None, done)]
        for group, rows in groups:
            rows = rows.sort_values(param, key=lambda s: s.map(x_of))
            label = f"{others[0]}={group}" if group is not None else None
            ax.plot([x_of(v) for v in rows[param]], rows[metric], marker="o", label=label)
        if numeric and len(order) > 2 and min(order) > 0 and max(order) / min(order) >= 100:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(range(len(order)), [str(v) for v in order])
        if baseline is not None:
            ax.axhline(baseline, color="grey", linestyle="--", label=baseline_label)
        ax.set_xlabel(param)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.set_title(f"{metric} by {param}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
