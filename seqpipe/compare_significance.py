"""Paired significance tests between compared runs (``seqpipe compare --paired-bs`` / ``--paired-ar``).

Everything comes from the MLflow tracking store: each run's task (tag ``task``) says which evaluation table it
logged (``Task.evaluation_file``, downloaded from the run's ``evaluation/`` artifacts into a temporary folder),
which of its columns are the test set (``Task.input_columns`` / ``reference_columns``) and how each metric is
resampled from it (``Task.resampler``). The tests are :func:`seqpipe.metrics.resampling.paired_test`: sacrebleu's
own ``PairedTest`` for BLEU, chrF and TER, the same protocol in numpy for the other metrics.

Runs scored on different test sets are refused (:func:`check_same_test_set`): first from the tags every
evaluation logs (``seqpipe.<split>_set.examples`` / ``.sha256``), then from the tables' inputs and references.
mlflow and pandas are imported inside functions, and TensorFlow never is.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from seqpipe.compare_store import SHORT_ID, _few_retries, _store_error
from seqpipe.errors import SeqpipeError

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities import Run

TESTS = {"bs": "paired bootstrap resampling", "ar": "paired approximate randomization"}
# added after each tested metric's column: <metric>_mean, <metric>_ci, <metric>_p (ar: p only)
COLUMNS = {"bs": ("mean", "ci", "p"), "ar": ("p",)}


def _short(run: Run) -> str:
    return run.info.run_id[:SHORT_ID]


def split_of(metric: str | None) -> str:
    """The split the tests read: the sort metric's (``test_*`` / ``valid_*``), else ``test``."""
    return "valid" if metric and metric.startswith("valid_") else "test"


def _tag(run: Run, split: str, what: str) -> str | None:
    return run.data.tags.get(f"seqpipe.{split}_set.{what}")


def different_sets_note(runs: Sequence[Run], split: str = "test") -> str | None:
    """One line when the runs' tags say they were scored on different ``split`` sets (plain ``compare`` shows
    them anyway, and says so); None when the tags agree or are missing."""
    tagged = [run for run in runs if _tag(run, split, "sha256")]
    for run in tagged[1:]:
        if _tag(run, split, "sha256") != _tag(tagged[0], split, "sha256"):
            counts = _tag(tagged[0], split, "examples"), _tag(run, split, "examples")
            how = (f"{counts[0]} vs {counts[1]} examples" if counts[0] != counts[1]
                   else f"{counts[0]} examples each, but not the same ones")
            return (f"compare: note: runs {_short(tagged[0])} and {_short(run)} were scored on different {split} "
                    f"sets ({how}); their scores are not comparable")
    return None


def _task(runs: Sequence[Run]):
    from seqpipe.tasks import TASKS, get_task

    names = {run.info.run_id: run.data.tags.get("task") for run in runs}
    for run in runs:
        if names[run.info.run_id] not in TASKS.names():
            raise SeqpipeError(f"compare: run {_short(run)} has no seqpipe task tag (task={names[run.info.run_id]}); "
                               "paired tests read runs of seqpipe run")
    first = runs[0]
    for run in runs[1:]:
        if names[run.info.run_id] != names[first.info.run_id]:
            raise SeqpipeError(f"compare: runs {_short(first)} and {_short(run)} were scored on different test sets: "
                               f"task {names[first.info.run_id]} vs {names[run.info.run_id]}")
    return get_task(names[first.info.run_id])


def order_with_baseline(runs: Sequence[Run], baseline: str | None) -> list[Run]:
    """The runs with the baseline first: the run ``baseline`` names (an id or a unique prefix), else the first."""
    runs = list(runs)
    if baseline is None:
        return runs
    matches = [run for run in runs if run.info.run_id.startswith(baseline.lower())]
    if len(matches) != 1:
        shown = ", ".join(_short(run) for run in runs)
        what = "matches none" if not matches else f"matches {len(matches)}"
        raise SeqpipeError(f"compare: --baseline {baseline} {what} of the compared runs ({shown})")
    return [matches[0]] + [run for run in runs if run is not matches[0]]


def _download(client: MlflowClient, runs: Sequence[Run], path: str, folder: Path) -> list[pd.DataFrame]:
    import pandas as pd

    tables = []
    for run in runs:
        try:
            with _few_retries():
                local = client.download_artifacts(run.info.run_id, path, str(folder / run.info.run_id))
        except Exception as exc:  # noqa: BLE001 - a missing artifact, or an unreachable store
            from mlflow.exceptions import MlflowException

            if isinstance(exc, (MlflowException, OSError)):
                if isinstance(exc, OSError) or "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")):
                    raise SeqpipeError(f"compare: run {_short(run)} has no artifact {path}; paired tests need the "
                                       "per-example predictions its evaluate stage logs") from None
                raise _store_error(client.tracking_uri, exc) from None
            raise
        sep = "\t" if path.endswith(".tsv") else ","
        tables.append(pd.read_csv(local, sep=sep, dtype=str, keep_default_na=False))
    return tables


def _differences(task, base: pd.DataFrame, other: pd.DataFrame) -> str | None:
    """How ``other``'s test set differs from ``base``'s (None: the same examples in the same order)."""
    from seqpipe.metrics.resampling import cell_text

    if len(base) != len(other):
        return f"{len(base)} vs {len(other)} examples"
    found = []
    for what, columns in (("inputs", task.input_columns), ("references", task.reference_columns)):
        columns = [c for c in columns if c in base.columns or c in other.columns]
        if not columns:
            continue
        if any(c not in base.columns or c not in other.columns for c in columns):
            found.append(f"{what} are not logged by both")
            continue
        differ = sum(any(cell_text(a[c]) != cell_text(b[c]) for c in columns)
                     for (_, a), (_, b) in zip(base[columns].iterrows(), other[columns].iterrows()))
        if differ:
            found.append(f"{differ} {what} differ" if differ > 1 else f"1 {what[:-1]} differs")
    return f"same size but {' and '.join(found)}" if found else None


def check_same_test_set(task, runs: Sequence[Run], split: str, tables: Sequence[pd.DataFrame] | None = None) -> None:
    """Refuse (one line, exit 2) when a run's ``split`` set is not the baseline's (``runs[0]``): from the example
    counts in the tags, then, when ``tables`` are given, from their inputs and references."""
    base = runs[0]
    for run in runs[1:]:
        counts = _tag(base, split, "examples"), _tag(run, split, "examples")
        if None not in counts and counts[0] != counts[1]:
            raise SeqpipeError(f"compare: runs {_short(base)} and {_short(run)} were scored on different test sets: "
                               f"{counts[0]} vs {counts[1]} examples")
    if tables is None:
        return
    for run, table in zip(runs[1:], tables[1:]):
        difference = _differences(task, tables[0], table)
        if difference:
            raise SeqpipeError(f"compare: runs {_short(base)} and {_short(run)} were scored on different test sets: "
                               f"{difference}")


def significance(runs: Sequence[Run], client: MlflowClient, metric: str | None, keys: Sequence[str],
                 test: str = "bs", baseline: str | None = None) -> pd.DataFrame:
    """Paired tests of every metric among ``keys`` (the table's ``<split>_<metric>`` columns) that the runs' task
    resamples, each run against the baseline (``baseline``, else the first of ``runs``).

    Returns one row per run (index: run id) with ``<key>_mean``, ``<key>_ci`` (the bootstrap mean and the half
    width of its 95% interval, as sacrebleu prints ``mean ± ci``; not after ``ar``) and ``<key>_p`` (the p-value
    against the baseline; empty for the baseline). ``attrs``: ``split``, ``baseline`` (its run id), ``test``,
    ``samples``, ``seed`` and ``metrics``.
    """
    import pandas as pd

    from seqpipe.metrics.resampling import SAMPLES, paired_test, seed

    if test not in TESTS:
        raise SeqpipeError(f"compare: unknown paired test '{test}'; expected one of {', '.join(TESTS)}")
    split = split_of(metric)
    runs = order_with_baseline(runs, baseline)
    if len(runs) < 2:
        raise SeqpipeError("compare: a paired test needs at least two runs")
    task = _task(runs)
    if not task.evaluation_file:
        raise SeqpipeError(f"compare: task {task.name} logs no per-example evaluation table to resample")
    check_same_test_set(task, runs, split)
    path = f"evaluation/{task.evaluation_file.format(split=split)}"
    with tempfile.TemporaryDirectory(prefix="seqpipe-compare-") as folder:
        tables = _download(client, runs, path, Path(folder))
    check_same_test_set(task, runs, split, tables)
    prefix = f"{split}_"
    tested = [key for key in keys
              if key.startswith(prefix) and task.resampler(tables[0], key[len(prefix):]) is not None]
    if not tested:
        shown = ", ".join(k for k in keys if k.startswith(prefix)) or "none"
        raise SeqpipeError(f"compare: no {split} metric of these runs can be resampled from {path} (metrics: {shown})")
    result = pd.DataFrame(index=pd.Index([run.info.run_id for run in runs], name="run_id"))
    for key in tested:
        outcomes = paired_test([task.resampler(table, key[len(prefix):]) for table in tables], test)
        for column in COLUMNS[test]:
            result[f"{key}_{column}"] = [getattr(o, column) if getattr(o, column) is not None else float("nan")
                                         for o in outcomes]
        result[f"{key}_p"] = result[f"{key}_p"].astype("float64")
    result.attrs.update(split=split, baseline=runs[0].info.run_id, test=test, samples=SAMPLES[test], seed=seed(),
                        metrics=tested)
    return result


def describe(a: dict) -> str:
    """One line saying what the added columns are, from :func:`significance`'s ``attrs``."""
    ci = "" if a["test"] == "ar" else "; <metric>_mean ± <metric>_ci: the bootstrap mean and 95% interval"
    return (f"compare: {TESTS[a['test']]} ({a['samples']} samples, seed {a['seed']}) on the {a['split']} set of "
            f"{', '.join(a['metrics'])}; baseline {a['baseline'][:SHORT_ID]}; <metric>_p: the p-value of the "
            f"difference to the baseline{ci}")


def add_to_table(table: pd.DataFrame, result: pd.DataFrame) -> pd.DataFrame:
    """The compare table with each tested metric's columns right after it."""
    columns = list(table.columns)
    for key in result.attrs["metrics"]:
        at = columns.index(key) + 1 if key in columns else len(columns)
        columns[at:at] = [f"{key}_{c}" for c in COLUMNS[result.attrs["test"]]]
    joined = table.join(result)[columns]
    joined.attrs = {**table.attrs, "significance": dict(result.attrs)}
    return joined
