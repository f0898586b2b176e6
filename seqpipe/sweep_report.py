"""A sweep's summary: each trial's score, the table (CSV and markdown) and the plot of the metric by setting."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from seqpipe.config.sweep import SweepConfig


def trial_score(result: dict, metric: str, client=None) -> float | None:
    """A trial's value of ``metric``: its final value, or for an epoch metric the best epoch's (min or max), read
    from the run folder's ``history.csv``, else from the tracking store."""
    from seqpipe.metrics.direction import lower_is_better

    if metric in result["metrics"]:
        return float(result["metrics"][metric])
    history = []
    csv = Path(result["run_dir"]) / "history.csv" if result.get("run_dir") else None
    if csv is not None and csv.exists():
        import pandas as pd

        with contextlib.suppress(ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError):
            history = [float(v) for v in pd.read_csv(csv)[metric].dropna()]
    if not history and client is not None and result.get("run_id"):
        history = [m.value for m in client.get_metric_history(result["run_id"], metric)]
    if not history:
        return None
    return float(min(history) if lower_is_better(metric) else max(history))


def summary(records: list[dict], metric: str | None):
    """The table of the trials (one row each, by number) and the best finished one (``{}`` when none has a score).

    Each record is a trial's result with its ``settings`` and ``score``; pruned and failed trials have no score."""
    import pandas as pd

    from seqpipe.metrics.direction import lower_is_better

    rows = []
    for result in sorted(records, key=lambda r: r["trial"]):
        score = result.get("score") if result["status"] == "FINISHED" else None
        shown = {key: json.dumps(value) if isinstance(value, (dict, list)) else value
                 for key, value in result["settings"].items()}
        rows.append({"trial": result["trial"], **shown, "status": result["status"],
                     **({metric: score} if metric else {}), "seconds": round(result["seconds"], 1),
                     "run_id": result["run_id"] or "", "run_dir": result["run_dir"] or "", "error": result["error"]})
    table = pd.DataFrame(rows)
    best = {}
    if metric and metric in table and table[metric].notna().any():
        ranked = table[table[metric].notna()].sort_values(metric, ascending=lower_is_better(metric), kind="stable")
        top = ranked.iloc[0]
        best = {"trial": int(top["trial"]), "run_id": top["run_id"], "value": float(top[metric])}
    return table, best


def write_summary(folder: Path, table, spec: SweepConfig, metric: str | None) -> None:
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
