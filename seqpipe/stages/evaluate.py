"""Score the trained model on held-out splits (what is scored, and how, is the task's)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from seqpipe.config.schema import NameStr, RegistryName, Schema
from seqpipe.metrics import METRICS
from seqpipe.pipeline.stage import Stage, register_stage


class EvaluateConfig(Schema):
    metrics: list[Annotated[str, RegistryName(METRICS)]] | None = Field(
        None, description="metrics to report per split (seqpipe list metrics: those that score the task's "
                          "predictions); default: the task's")
    splits: list[Literal["valid", "test"]] = Field(default_factory=lambda: ["test"],
                                                   description="held-out splits to score")
    by: NameStr | None = Field(
        None, description="a data column (read from every file like a role, e.g. a generated set's length or "
                          "depth): the metrics are also reported for each of its values, as MLflow metrics "
                          "<split>_<by>_<value>_<metric> and a table and plot evaluation/<split>_by_<by>.csv/.png")


@register_stage
class EvaluateStage(Stage):
    ("Scores held-out splits with the task's metrics: accuracy/F1, BLEU/chrF/TER/METEOR, perplexity, "
     "per-tag and span F1; optionally per value of a data column (evaluate.by).")

    name = "evaluate"
    order = 70
    requires = ("trained_model", "encoder", "splits")
    provides = ("predictions",)
    Config = EvaluateConfig

    def data_columns(self) -> tuple[str, ...]:
        return () if self.config.by is None else (self.config.by,)

    def run(self, ctx):
        predictions = ctx.task.evaluate(ctx, self.config)
        if self.config.by is not None:
            for split in self.config.splits:
                by_group(ctx, self.config, split)
        from seqpipe.cells.diagnostics import plot_cell_traces  # heatmaps of cells that trace themselves (NTM)

        plot_cell_traces(ctx, self.config.splits)
        ctx.put("predictions", predictions)


def by_group(ctx, cfg, split: str) -> None:
    """Run the task's evaluation on each value of ``cfg.by`` within ``split``; one table and plot of them all."""
    import pandas as pd

    from seqpipe.tracking.params import escape_name

    frame, by = ctx["splits"][split], cfg.by
    if not len(frame):
        return
    values = frame[by].astype(str)
    keys = sorted(values.unique(), key=_sort_key)
    everything, rows = ctx.artifacts["splits"], []
    try:
        for value in keys:
            name = f"{split}_{escape_name(by)}_{escape_name(value)}"
            ctx.artifacts["splits"] = {name: frame[values == value].reset_index(drop=True)}
            ctx.task.evaluate(ctx, cfg.model_copy(update={"splits": [name], "by": None}))
            scores = {k[len(name) + 1:]: v for k, v in ctx.metrics.items() if k.startswith(name + "_")}
            rows.append({by: value, "examples": int((values == value).sum()), **scores})
    finally:
        ctx.artifacts["splits"] = everything
    table = pd.DataFrame(rows)
    out = ctx.path("evaluation", f"{split}_by_{escape_name(by)}.csv")
    table.to_csv(out, index=False)
    ctx.tracker.log_artifact(out, "evaluation")
    png = _plot(table, by, split, ctx.path("evaluation", f"{split}_by_{escape_name(by)}.png"), ctx.config.name)
    ctx.tracker.log_artifact(png, "evaluation")
    ctx.log.info("%s by %s: written to %s", split, by, out)


def _sort_key(value: str):
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _plot(table, by: str, split: str, path, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [c for c in table.columns if c not in (by, "examples")]
    fig, axes = plt.subplots(1, max(1, len(metrics)), figsize=(4 * max(1, len(metrics)), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        ax.plot(range(len(table)), table[metric], marker="o")
        ax.set_xticks(range(len(table)), table[by], rotation=45 if len(table) > 8 else 0)
        ax.set_xlabel(by)
        ax.set_title(f"{split} {metric}")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
