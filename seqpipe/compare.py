"""Compare runs side by side from the MLflow tracking store alone (``seqpipe compare``).

Runs are read from the store through ``MlflowClient`` (:mod:`seqpipe.compare_store`): no run folder is
needed, so a remote ``mlflow server`` works as well as the local ``sqlite:///mlflow.db``. mlflow and
pandas are imported inside functions, and TensorFlow never is.

- :func:`seqpipe.compare_store.select_runs` picks the runs: all runs of an experiment, the nested
  children of a parent run (tag ``mlflow.parentRunId``), or explicit run ids (a unique prefix such as
  the 8-character short id is enough).
- :func:`compare_runs` turns them into a table, one row per run: the params that differ between
  them, the final metrics, sorted by one metric in its natural direction (:func:`lower_is_better`).
- :func:`seqpipe.compare_significance.significance` adds paired significance tests against a baseline run
  (``paired="bs"`` / ``"ar"``), from the per-example predictions the runs logged.
- :func:`seqpipe.compare_plots.plot_curves` draws the per-epoch histories, one panel per metric, one
  line per run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from seqpipe.compare_store import SHORT_ID, select_runs
from seqpipe.errors import SeqpipeError
from seqpipe.metrics.direction import lower_is_better, sort_direction  # noqa: F401 (part of this API)
from seqpipe.registry import did_you_mean

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities import Run

FORMATS = ("table", "csv", "markdown", "json")
# The sort metric when none is given: the first of these that a selected run has.
DEFAULT_METRICS = (
    "test_bleu", "test_accuracy", "test_token_accuracy", "test_macro_f1", "test_chrf", "test_perplexity",
    "valid_bleu", "valid_accuracy", "valid_token_accuracy", "valid_macro_f1", "valid_perplexity",
    "valid_loss", "test_loss", "val_loss", "loss",
)
_INFO_COLUMNS = ("run", "name", "status", "duration")


def is_final_metric(key: str) -> bool:
    """Test and validation metrics shown in the table: ``test_*`` and ``valid_*``, not per-label ones (with ``/``)."""
    return key.startswith(("test_", "valid_")) and "/" not in key


def default_metric(runs: Sequence[Run]) -> str | None:
    """The metric to sort by when none is given: the first of :data:`DEFAULT_METRICS` some run has, else the
    first test/valid metric by name, else None."""
    keys = {key for run in runs for key in run.data.metrics}
    for name in DEFAULT_METRICS:
        if name in keys:
            return name
    finals = sorted(k for k in keys if is_final_metric(k))
    return finals[0] if finals else None


def differing_params(runs: Sequence[Run], all_params: bool = False) -> list[str]:
    """Param keys whose value is not the same in every run (a missing param counts as a value), sorted;
    every key with ``all_params``."""
    keys = sorted({key for run in runs for key in run.data.params})
    if all_params:
        return keys
    return [key for key in keys if len({run.data.params.get(key) for run in runs}) > 1]


def short_param_names(keys: Sequence[str], reserved: Sequence[str] = ()) -> dict[str, str]:
    """``{key: column}``: the common ``stages.`` prefix dropped where that does not clash with another key.

    A key that would clash with a ``reserved`` column (``name``, a metric) becomes ``params.<key>``.
    """
    taken, reserved = set(keys), set(reserved)
    names = {}
    for key in keys:
        short = key[len("stages."):] if key.startswith("stages.") else key
        column = short if short == key or short not in taken else key
        names[key] = f"params.{key}" if column in reserved else column
    return names


def format_duration(seconds: float) -> str:
    """``4.2s``, ``12m05s``, ``3h07m12s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def run_duration(run: Run) -> str:
    """End minus start, ``running`` for a run still running, ``-`` when the store does not know."""
    info = run.info
    if info.end_time and info.start_time:
        return format_duration(max(info.end_time - info.start_time, 0) / 1000)
    return "running" if info.status in ("RUNNING", "SCHEDULED") else "-"


def rank_runs(runs: Sequence[Run], metric: str | None = None, limit: int | None = None) -> tuple[list[Run], str | None]:
    """``(runs, metric)``: the runs sorted by the final value of ``metric`` (its default when None) in its
    direction, runs without it last, cut to the first ``limit``; the order is otherwise kept."""
    runs = list(runs)
    if metric is None:
        metric = default_metric(runs)
    elif not any(metric in run.data.metrics for run in runs):
        keys = sorted({key for run in runs for key in run.data.metrics if "/" not in key})
        raise SeqpipeError(f"compare: no selected run has the metric '{metric}'{did_you_mean(metric, keys)}; "
                           f"metrics: {', '.join(keys) or 'none'}")
    if metric is not None:
        sign = 1 if lower_is_better(metric) else -1

        def key(run: Run) -> tuple[int, float]:
            value = run.data.metrics.get(metric)
            missing = value is None or math.isnan(value)
            return (1, 0.0) if missing else (0, sign * value)

        runs.sort(key=key)  # stable: ties keep the selection order
    if limit is not None:
        if limit < 1:
            raise SeqpipeError(f"compare: --limit must be at least 1, got {limit}")
        runs = runs[:limit]
    return runs, metric


def compare_runs(
    run_ids: Sequence[str] = (),
    *,
    experiment: str | None = None,
    parent: str | None = None,
    metric: str | None = None,
    tracking_uri: str | None = None,
    all_params: bool = False,
    limit: int | None = None,
    runs: Sequence[Run] | None = None,
    paired: str | None = None,
    baseline: str | None = None,
) -> pd.DataFrame:
    """One row per run, sorted best first by ``metric``.

    Select with exactly one of ``run_ids``, ``experiment`` or ``parent`` (see :func:`select_runs`), or pass
    already fetched ``runs``. Columns: ``run`` (the 8-character short id), ``name``, ``status``, ``duration``,
    the params that differ between the shown runs (every param with ``all_params``; ``stages.`` dropped from
    the names), then the final (latest-step) value of ``metric``, of every ``test_*`` / ``valid_*`` metric
    that is not per label, and ``best_epoch``. The index is the full run id; ``df.attrs["metric"]`` is the
    sort metric (the default one when ``metric`` is None) and ``df.attrs["ascending"]`` its direction.

    ``paired`` (``"bs"``: paired bootstrap resampling, ``"ar"``: approximate randomization) adds, after each
    metric of the sort metric's split that can be resampled, ``<metric>_mean``, ``<metric>_ci`` and ``<metric>_p``
    against the ``baseline`` run (default: the first row); see :func:`seqpipe.compare_significance.significance`.
    Runs scored on different test sets are then refused (:class:`SeqpipeError`).
    """
    import pandas as pd

    if runs is None:
        runs = select_runs(run_ids, experiment=experiment, parent=parent, tracking_uri=tracking_uri)
    runs, metric = rank_runs(runs, metric, limit)
    finals = sorted({key for run in runs for key in run.data.metrics if is_final_metric(key)} - {metric})
    metric_keys = ([metric] if metric else []) + finals
    if any("best_epoch" in run.data.metrics for run in runs) and "best_epoch" not in metric_keys:
        metric_keys.append("best_epoch")
    params = differing_params(runs, all_params)
    names = short_param_names(params, reserved=[*_INFO_COLUMNS, *metric_keys])
    rows = []
    for run in runs:
        row: dict[str, Any] = {"run": run.info.run_id[:SHORT_ID], "name": run.info.run_name or "",
                               "status": run.info.status, "duration": run_duration(run)}
        row.update({names[key]: run.data.params.get(key) for key in params})
        row.update({key: run.data.metrics.get(key, math.nan) for key in metric_keys})
        rows.append(row)
    columns = [*_INFO_COLUMNS, *(names[k] for k in params), *metric_keys]
    table = pd.DataFrame(rows, columns=columns, index=pd.Index([r.info.run_id for r in runs], name="run_id"))
    for key in metric_keys:
        table[key] = table[key].astype("float64")
    if "best_epoch" in table and (table["best_epoch"].dropna() % 1 == 0).all():
        table["best_epoch"] = table["best_epoch"].astype("Int64")
    table.attrs.update(metric=metric, ascending=bool(metric and lower_is_better(metric)))
    if paired is not None:
        from seqpipe.compare_significance import add_to_table, significance
        from seqpipe.compare_store import tracking_client

        result = significance(runs, tracking_client(tracking_uri), metric, metric_keys, paired, baseline)
        table = add_to_table(table, result)
    return table


def render(table: pd.DataFrame, fmt: str = "table") -> str:
    """The table as text: ``table`` (aligned), ``csv``, ``markdown`` or ``json`` (records).

    ``csv`` and ``json`` start with the full ``run_id``; ``table`` and ``markdown`` show the short id only.
    Metrics have 4 decimals in ``table`` and ``markdown``, full precision in ``csv`` and ``json``.
    """
    if fmt == "table":
        return _display(table, "-").to_string(index=False) + "\n"
    if fmt == "csv":
        return table.reset_index().to_csv(index=False)
    if fmt == "json":
        return table.reset_index().to_json(orient="records", force_ascii=False) + "\n"
    if fmt == "markdown":
        return markdown_table(table)
    raise SeqpipeError(f"compare: unknown format '{fmt}'; expected one of {', '.join(FORMATS)}"
                       f"{did_you_mean(fmt, list(FORMATS))}")


def _cell(value: Any, missing: str) -> str:
    """One value as display text: floats with 4 decimals, ``missing`` for None, NaN and NA."""
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return missing
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _display(table: pd.DataFrame, missing: str) -> pd.DataFrame:
    """The table as text cells: counts (float columns holding whole numbers only) without decimals."""
    shown = table.astype(object)
    for column in table.columns:
        values = table[column]
        if values.dtype.kind == "f" and values.notna().any() and (values.dropna() % 1 == 0).all():
            shown[column] = [missing if math.isnan(v) else str(int(v)) for v in values]
    return shown.map(lambda v: _cell(v, missing) if not isinstance(v, str) else v)


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (no ``tabulate`` needed): numbers right-aligned, ``|`` escaped."""
    import pandas as pd

    def cell(value: Any) -> str:
        return _cell(value, "").replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    numeric = [pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]
    header = [cell(str(c)) for c in table.columns]
    shown = _display(table, "")
    body = [[cell(v) for v in row] for row in shown.itertuples(index=False, name=None)]
    widths = [max([len(h), 3] + [len(r[i]) for r in body]) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if num else (":" + "-" * (w + 1)) for w, num in zip(widths, numeric))
    return "\n".join([line(header), rule + "|"] + [line(r) for r in body]) + "\n"

