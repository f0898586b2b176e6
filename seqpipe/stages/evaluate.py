"""Score the trained model on held-out splits (what is scored, and how, is the task's)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from seqpipe.metrics import METRICS
from seqpipe.pipeline.stage import Stage, register_stage
from seqpipe.schema import NameStr, RegistryName, Schema


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

    def preflight(self, task):
        """What the metrics need (the METEOR 1.5 jar: Java), before training rather than after."""
        from seqpipe.metrics.registry import prepare_metrics

        prepare_metrics(self.config.metrics or task.default_metrics)

    def run(self, ctx):
        """Per split: the task's per-example table (the model runs once), its scores, its files; then by group."""
        runtime, cfg, tables = ctx.task.runtime, self.config, {}
        for split in cfg.splits:
            if not len(ctx["splits"][split]):
                ctx.log.warning("evaluate: the %s split is empty; skipped", split)
                continue
            table = runtime.evaluation_table(ctx, cfg, split)
            ctx.add_metrics({f"{split}_{name}": value for name, value in runtime.score(ctx, cfg, table).items()})
            runtime.write_report(ctx, cfg, split, table)
            log_test_set(ctx, cfg, split, table)
            ctx.log.info("%s: %s", split, ", ".join(f"{k}={v:.4f}" for k, v in ctx.metrics.items()
                                                    if k.startswith(f"{split}_")))
            if cfg.by is not None:
                by_group(ctx, cfg, split, table)
            tables[split] = table
        from seqpipe.cells.diagnostics import plot_cell_traces  # heatmaps of cells that trace themselves (NTM)

        plot_cell_traces(ctx, cfg.splits)
        ctx.put("predictions", tables)


def log_test_set(ctx, cfg, split: str, table) -> None:
    """The split's fingerprint as run tags (``seqpipe.<split>_set.sha256`` of its inputs and references, and
    ``seqpipe.<split>_set.examples``), and the bootstrap 95% interval of the task's main metric as the metrics
    ``<split>_<metric>_ci_low`` / ``_ci_high`` (1000 resamples of the examples, as sacrebleu draws them)."""
    from seqpipe.metrics.resampling import interval, split_fingerprint

    task = ctx.task
    columns = [c for c in (*task.input_columns, *task.reference_columns) if c in table.columns]
    if columns:
        ctx.tracker.set_tags({f"seqpipe.{split}_set.sha256": split_fingerprint(table, columns),
                              f"seqpipe.{split}_set.examples": str(len(table))})
    metric = task.main_metric(cfg.metrics)
    resampler = task.resampler(table, metric) if metric else None
    if resampler is None:
        return
    low, high = interval(resampler)
    ctx.add_metrics({f"{split}_{metric}_ci_low": low, f"{split}_{metric}_ci_high": high})


def by_group(ctx, cfg, split: str, table) -> None:
    """The task's scores of the rows of ``table`` with each value of ``cfg.by``; one table and plot of them all.

    The rows are the split's per-example predictions: nothing runs the model again.
    """
    import pandas as pd

    from seqpipe.tracking.params import escape_name

    by = cfg.by
    values = table[by].astype(str)
    rows = []
    for value in sorted(values.unique(), key=_sort_key):
        group = table[(values == value).to_numpy()].reset_index(drop=True)
        scores = ctx.task.runtime.score(ctx, cfg, group)
        prefix = f"{split}_{escape_name(by)}_{escape_name(value)}"
        ctx.add_metrics({f"{prefix}_{name}": score for name, score in scores.items()})
        rows.append({by: value, "examples": len(group), **scores})
    result = pd.DataFrame(rows)
    out = ctx.path("evaluation", f"{split}_by_{escape_name(by)}.csv")
    result.to_csv(out, index=False)
    ctx.tracker.log_artifact(out, "evaluation")
    png = _plot(result, by, split, ctx.path("evaluation", f"{split}_by_{escape_name(by)}.png"), ctx.config.name)
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
