"""Compare runs side by side from the MLflow tracking store alone (``seqpipe compare``).

Everything here reads the store through ``MlflowClient``: no run folder is needed, so a remote
``mlflow server`` works as well as the local ``sqlite:///mlflow.db``. mlflow, pandas and matplotlib
are imported inside functions, and TensorFlow never is.

- :func:`select_runs` picks the runs: all runs of an experiment, the nested children of a
  parent run (tag ``mlflow.parentRunId``), or explicit run ids (a unique prefix such as the
  8-character short id is enough).
- :func:`compare_runs` turns them into a table, one row per run: the params that differ between
  them, the final metrics, sorted by one metric in its natural direction (:func:`lower_is_better`).
- :func:`plot_curves` draws the per-epoch histories, one panel per metric, one line per run.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqpipe.errors import SeqpipeError
from seqpipe.metrics.direction import lower_is_better, sort_direction  # noqa: F401 (part of this API)
from seqpipe.registry import did_you_mean

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure
    from mlflow import MlflowClient
    from mlflow.entities import Run

PARENT_TAG = "mlflow.parentRunId"
SHORT_ID = 8
FORMATS = ("table", "csv", "markdown", "json")
# The sort metric when none is given: the first of these that a selected run has.
DEFAULT_METRICS = (
    "test_bleu", "test_accuracy", "test_token_accuracy", "test_macro_f1", "test_chrf", "test_perplexity",
    "valid_bleu", "valid_accuracy", "valid_token_accuracy", "valid_macro_f1", "valid_perplexity",
    "valid_loss", "test_loss", "val_loss", "loss",
)
_MAX_LABEL_PARAMS = 3  # differing params named in a plot legend entry
_INFO_COLUMNS = ("run", "name", "status", "duration")
_MAX_LISTED = 30  # experiment names in a not-found message
_HEX_PREFIX = re.compile(r"[0-9a-f]{4,32}")  # what may be (the start of) a run id


# --------------------------------------------------------------------------------------------- the store


def tracking_client(tracking_uri: str | None = None) -> MlflowClient:
    """An ``MlflowClient`` on the resolved store; a local sqlite store must already exist (nothing is created)."""
    from seqpipe.tracking.mlflow_tracker import (
        _mlflow,
        ensure_reachable,
        ensure_store,
        resolve_tracking_uri,
        sqlite_path,
    )

    uri = resolve_tracking_uri(tracking_uri)
    try:
        ensure_reachable(uri)
    except ConnectionError as exc:
        raise SeqpipeError(f"compare: {exc}; check --tracking-uri / MLFLOW_TRACKING_URI") from None
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        raise SeqpipeError(f"compare: no tracking store at {uri} (no file {db}); run a pipeline first, "
                           "or pass --tracking-uri / set MLFLOW_TRACKING_URI")
    try:
        ensure_store(uri)
        return _mlflow().MlflowClient(uri)
    except SeqpipeError:
        raise
    except Exception as exc:  # noqa: BLE001 - an unreadable store is bad input, not a bug
        raise _store_error(uri, exc) from None


def _store_error(uri: str, exc: BaseException) -> SeqpipeError:
    from seqpipe.tracking.guard import one_line

    return SeqpipeError(f"compare: cannot read the tracking store {uri} ({one_line(exc)}); "
                        "check --tracking-uri / MLFLOW_TRACKING_URI")


@contextmanager
def _few_retries() -> Iterator[None]:
    """Give up on an unreachable server after about 6 s (2 retries) instead of MLflow's 4 minutes (7 retries),
    unless the user set ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``; MLflow reads it at every request."""
    if "MLFLOW_HTTP_REQUEST_MAX_RETRIES" in os.environ:
        yield
        return
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "2"
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_HTTP_REQUEST_MAX_RETRIES", None)


def _paged(fetch) -> list:
    """All items of a paged MLflow search (``fetch(page_token)`` returns a ``PagedList``)."""
    items, token = [], None
    while True:
        page = fetch(token)
        items.extend(page)
        token = page.token
        if not token:
            return items


def _experiment_names(client: MlflowClient) -> list[str]:
    from mlflow.entities import ViewType

    experiments = _paged(lambda token: client.search_experiments(view_type=ViewType.ACTIVE_ONLY, page_token=token))
    return sorted(e.name for e in experiments)


def _not_found(client: MlflowClient, what: str, name: str, choices: list[str] | None = None) -> SeqpipeError:
    experiments = _experiment_names(client)
    listing = ", ".join(experiments[:_MAX_LISTED]) if experiments else "none"
    if len(experiments) > _MAX_LISTED:
        listing += f", ... ({len(experiments) - _MAX_LISTED} more)"
    hint = did_you_mean(name, choices if choices is not None else experiments)
    return SeqpipeError(f"compare: no {what} '{name}' in {client.tracking_uri}{hint}; experiments: {listing}")


def _search_runs(client: MlflowClient, experiment_ids: list[str], filter_string: str = "") -> list[Run]:
    from mlflow.entities import ViewType

    return _paged(lambda token: client.search_runs(experiment_ids, filter_string, ViewType.ACTIVE_ONLY,
                                                   page_token=token, order_by=["attributes.start_time DESC"]))


def _get_run(client: MlflowClient, run_id: str) -> Run:
    """The run with id ``run_id``, or the one run whose id starts with it (e.g. an 8-character short id)."""
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
    if not _HEX_PREFIX.fullmatch(run_id.lower()):  # not (part of) a run id: no need to list every run
        raise _not_found(client, "run", run_id, [])
    experiments = _paged(lambda token: client.search_experiments(view_type=ViewType.ALL, page_token=token))
    runs = _paged(lambda token: client.search_runs([e.experiment_id for e in experiments], "", ViewType.ALL,
                                                   page_token=token)) if experiments else []
    matches = [r for r in runs if r.info.run_id.startswith(run_id.lower())]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise SeqpipeError(f"compare: run id prefix '{run_id}' matches {len(matches)} runs "
                           f"({', '.join(r.info.run_id for r in matches[:5])}); give more characters")
    ids = [r.info.run_id for r in runs] + [r.info.run_id[:SHORT_ID] for r in runs]
    raise _not_found(client, "run", run_id, ids)


def select_runs(
    run_ids: Sequence[str] = (),
    *,
    experiment: str | None = None,
    parent: str | None = None,
    tracking_uri: str | None = None,
    client: MlflowClient | None = None,
) -> list[Run]:
    """The runs to compare: exactly one of ``run_ids``, ``experiment`` (its runs that are not deleted, newest
    first) or ``parent`` (the nested runs whose tag ``mlflow.parentRunId`` is that run's id).

    Raises :class:`SeqpipeError` (one line) when the selection is ambiguous, an experiment or run is not in
    the store (the message lists the experiments, with a did-you-mean), or it holds no runs.
    """
    modes = [name for name, given in (("run ids", bool(run_ids)), ("--experiment", experiment is not None),
                                      ("--parent", parent is not None)) if given]
    if len(modes) != 1:
        found = f" (got {' and '.join(modes)})" if modes else ""
        raise SeqpipeError(f"compare: give exactly one of --experiment NAME, --parent RUN_ID or run ids{found}")
    client = client or tracking_client(tracking_uri)
    try:
        with _few_retries():
            return _select(client, list(run_ids), experiment, parent)
    except SeqpipeError:
        raise
    except Exception as exc:  # an unreachable server, a broken database: MLflow wraps both in MlflowException
        from mlflow.exceptions import MlflowException

        if isinstance(exc, (MlflowException, OSError)):
            raise _store_error(client.tracking_uri, exc) from None
        raise


def _select(client: MlflowClient, run_ids: list[str], experiment: str | None, parent: str | None) -> list[Run]:
    if experiment is not None:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise _not_found(client, "experiment", experiment)
        if found.lifecycle_stage == "deleted":
            raise SeqpipeError(f"compare: experiment '{experiment}' is deleted in {client.tracking_uri}; "
                               "restore it (mlflow experiments restore) to compare its runs")
        runs = _search_runs(client, [found.experiment_id])
        if not runs:
            raise SeqpipeError(f"compare: experiment '{experiment}' has no runs in {client.tracking_uri}")
        return runs
    if parent is not None:
        parent_run = _get_run(client, parent)
        parent_id = parent_run.info.run_id
        runs = _search_runs(client, [parent_run.info.experiment_id], f"tags.`{PARENT_TAG}` = '{parent_id}'")
        if not runs:
            raise SeqpipeError(f"compare: run {parent_id} ({parent_run.info.run_name}) has no nested child runs "
                               f"(runs tagged {PARENT_TAG}={parent_id})")
        return runs
    runs, seen = [], set()
    for run_id in run_ids:
        run = _get_run(client, run_id)
        if run.info.run_id not in seen:  # the same run named twice (full and short id) is one row
            seen.add(run.info.run_id)
            runs.append(run)
    return runs


# --------------------------------------------------------------------------------------------- the table


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
) -> pd.DataFrame:
    """One row per run, sorted best first by ``metric``.

    Select with exactly one of ``run_ids``, ``experiment`` or ``parent`` (see :func:`select_runs`), or pass
    already fetched ``runs``. Columns: ``run`` (the 8-character short id), ``name``, ``status``, ``duration``,
    the params that differ between the shown runs (every param with ``all_params``; ``stages.`` dropped from
    the names), then the final (latest-step) value of ``metric``, of every ``test_*`` / ``valid_*`` metric
    that is not per label, and ``best_epoch``. The index is the full run id; ``df.attrs["metric"]`` is the
    sort metric (the default one when ``metric`` is None) and ``df.attrs["ascending"]`` its direction.
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


# --------------------------------------------------------------------------------------------- the plot


def _history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    """``[(step, value)]`` sorted by step; a step logged twice (a resumed epoch) keeps its latest value."""
    latest: dict[int, tuple[int, float]] = {}
    for m in client.get_metric_history(run_id, key):
        if m.step not in latest or m.timestamp >= latest[m.step][0]:
            latest[m.step] = (m.timestamp, m.value)
    return [(step, latest[step][1]) for step in sorted(latest)]


def _curve_candidates(runs: Sequence[Run]) -> list[str]:
    """Metric keys that may have a per-epoch history: not per label, not final test/valid scores or timings."""
    keys = {key for run in runs for key in run.data.metrics}
    return [k for k in keys if "/" not in k and not k.startswith(("test_", "valid_", "time_")) and k != "best_epoch"]


def _panel_order(key: str) -> tuple[str, int]:
    base = key[4:] if key.startswith("val_") else key
    return (base, key.startswith("val_"))  # loss next to val_loss, accuracy next to val_accuracy


def run_label(run: Run, params: Sequence[str], names: dict[str, str]) -> str:
    """``name (cell=lstm, units=64)``: the run name and (up to three of) the params that differ."""
    name = run.info.run_name or run.info.run_id[:SHORT_ID]
    shown = [f"{names[k]}={run.data.params.get(k, '-')}" for k in params[:_MAX_LABEL_PARAMS]]
    if len(params) > _MAX_LABEL_PARAMS:
        shown.append("...")
    status = "" if run.info.status == "FINISHED" else f" [{run.info.status}]"
    return f"{name}{status}" + (f" ({', '.join(shown)})" if shown else "")


def plot_curves(
    path: str | Path | None,
    run_ids: Sequence[str] = (),
    *,
    experiment: str | None = None,
    parent: str | None = None,
    metric: str | None = None,
    metrics: Sequence[str] | None = None,
    tracking_uri: str | None = None,
    limit: int | None = None,
    runs: Sequence[Run] | None = None,
    client: MlflowClient | None = None,
) -> Figure:
    """Draw the per-epoch histories of the selected runs and save them as one PNG at ``path`` (if given).

    One panel per metric that some run logged at more than one epoch (``loss``, ``val_loss``,
    ``val_accuracy``, ``val_bleu``, ...), or per name in ``metrics``; one line per run, labelled with its
    name and the params that differ. Runs are selected and ranked as in :func:`compare_runs` (same
    ``metric`` and ``limit``, so the plot shows the table's runs). Uses matplotlib's Agg canvas (no pyplot
    state) and returns the figure.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    client = client or tracking_client(tracking_uri)
    if runs is None:
        runs = select_runs(run_ids, experiment=experiment, parent=parent, client=client)
    runs, _ = rank_runs(runs, metric, limit)
    wanted = list(metrics) if metrics else sorted(_curve_candidates(runs), key=_panel_order)
    try:
        with _few_retries():
            histories = {key: {run.info.run_id: _history(client, run.info.run_id, key) for run in runs}
                         for key in wanted}
    except Exception as exc:  # noqa: BLE001
        raise _store_error(client.tracking_uri, exc) from None
    panels = [key for key in wanted if any(len(h) > 1 for h in histories[key].values())]
    if metrics:
        panels = [key for key in wanted if any(histories[key].values())]
    if not panels:
        what = f"the metrics {', '.join(wanted)}" if metrics else "a metric"
        raise SeqpipeError(f"compare: nothing to plot: no selected run logged {what} at more than one epoch")
    params = differing_params(runs)
    names = short_param_names(params)
    columns = 2 if len(panels) == 4 else min(len(panels), 3)
    rows = math.ceil(len(panels) / columns)
    fig = Figure(figsize=(4.6 * columns, 3.3 * rows + 0.35 * math.ceil(len(runs) / 2) + 0.3), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    handles: dict[str, Any] = {}
    for ax, key in zip(axes, panels):
        for index, run in enumerate(runs):
            points = histories[key][run.info.run_id]
            if not points:
                continue
            label = run_label(run, params, names)
            (handle,) = ax.plot([step + 1 for step, _ in points], [value for _, value in points],
                                marker="o", markersize=3, color=f"C{index % 10}", label=label,
                                linestyle="-" if run.info.status == "FINISHED" else "--")
            handles.setdefault(label, handle)
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        fig.delaxes(ax)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=min(len(handles), 2),
               fontsize="small", frameon=False)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig
