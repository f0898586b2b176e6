"""Score the trained model on held-out splits: metrics, per-class report, confusion matrix."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from seqpipe.config.schema import RegistryName, Schema
from seqpipe.metrics import METRICS
from seqpipe.pipeline.stage import Stage, register_stage


class EvaluateConfig(Schema):
    metrics: list[Annotated[str, RegistryName(METRICS)]] = Field(
        default_factory=lambda: ["accuracy", "macro_f1"], description="metrics to report per split")
    splits: list[Literal["valid", "test"]] = Field(default_factory=lambda: ["test"], description="held-out splits to score")


@register_stage
class EvaluateStage(Stage):
    """Accuracy/F1 per split, per-class report, confusion-matrix PNG and a predictions CSV."""

    name = "evaluate"
    order = 70
    requires = ("trained_model", "encoder", "splits", "labels")
    provides = ("predictions",)
    Config = EvaluateConfig

    def run(self, ctx):
        import pandas as pd

        from seqpipe.metrics.classification import classification_report, confusion_matrix, plot_confusion_matrix
        from seqpipe.tasks.classification import label_ids, predict_proba

        model, encoder, labels = ctx["trained_model"], ctx["encoder"], ctx["labels"]
        predictions = {}
        for split in self.config.splits:
            frame = ctx["splits"][split]
            if not len(frame):
                ctx.log.warning("evaluate: the %s split is empty; skipped", split)
                continue
            y_true = label_ids(frame, labels, split)
            probs = predict_proba(model, encoder, frame["text"].tolist())
            y_pred = probs.argmax(axis=1)
            ctx.add_metrics({f"{split}_{m}": METRICS.get(m)(y_true, y_pred, len(labels)) for m in self.config.metrics})

            table = pd.DataFrame({"text": frame["text"], "label": frame["label"],
                                  "predicted": [labels[i] for i in y_pred], "confidence": probs.max(axis=1)})
            for i, label in enumerate(labels):
                table[f"p_{label}"] = probs[:, i]
            out = ctx.path("evaluation", f"{split}_predictions.csv")
            table.to_csv(out, index=False)
            report = ctx.path("evaluation", f"{split}_report.csv")
            classification_report(y_true, y_pred, labels).to_csv(report)
            png = plot_confusion_matrix(confusion_matrix(y_true, y_pred, len(labels)), labels,
                                        ctx.path("evaluation", f"{split}_confusion_matrix.png"),
                                        title=f"{ctx.config.name}: {split} split")
            for path in (out, report, png):
                ctx.tracker.log_artifact(path, "evaluation")
            predictions[split] = table
            ctx.log.info("%s: %s", split, ", ".join(f"{k}={v:.4f}" for k, v in ctx.metrics.items() if k.startswith(split)))
        ctx.put("predictions", predictions)
