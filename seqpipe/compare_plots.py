"""Draw the learning curves of the compared runs (``seqpipe compare --plot``): :func:`plot_curves`.

The runs are read from the MLflow tracking store (:mod:`seqpipe.compare_store`) and selected and ranked
as in :func:`seqpipe.compare.compare_runs`. mlflow and matplotlib are imported inside functions, and
TensorFlow never is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqpipe.compare import differing_params, rank_runs, short_param_names
from seqpipe.compare_store import SHORT_ID, _few_retries, _store_error, select_runs, tracking_client
from seqpipe.errors import SeqpipeError

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from mlflow import MlflowClient
    from mlflow.entities import Run

_MAX_LABEL_PARAMS = 3  # differing params named in a plot legend entry


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
