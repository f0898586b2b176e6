"""Score the trained model on held-out splits: metrics, per-class report, confusion matrix."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from seqpipe.config.schema import RegistryName, Schema
from seqpipe.metrics import METRICS
from seqpipe.pipeline.stage import Stage, register_stage


DEFAULT_METRICS = {"classification": ["accuracy", "macro_f1"], "translation": ["bleu", "chrf", "ter", "meteor"],
                   "language_model": [], "tagging": ["token_accuracy", "tag_macro_f1"]}
SPAN_METRICS = ["span_precision", "span_recall", "span_f1"]
CONFUSION_TAGS = 30  # the confusion matrix PNG shows the most frequent tags; the rest are pooled
PER_LABEL_METRICS = 100  # up to this many tags or classes, each one's precision/recall/F1 is also an MLflow metric
PER_LABEL_COLUMNS = ("precision", "recall", "f1")


def label_metric_key(split: str, column: str, label: str) -> str:
    """The MLflow key of one tag's or class's score: ``test_f1/PRP.24`` (see ``escape_name``: injective)."""
    from seqpipe.tracking.params import escape_name

    return f"{split}_{column}/{escape_name(label)}"


def with_metric_keys(report, split: str, labels: list[str]):
    """The report with a ``metric_key`` column: where each label's f1 is in MLflow (replace f1 by precision/recall)."""
    report = report.copy()
    report["metric_key"] = [label_metric_key(split, "f1", name) if name in labels else "" for name in report.index]
    return report


def log_per_label(ctx, split: str, report, labels: list[str]) -> None:
    """Each label's precision, recall and F1 as MLflow metrics (up to PER_LABEL_METRICS labels)."""
    if len(labels) > PER_LABEL_METRICS:
        ctx.log.info("evaluate: %d labels; per-label scores are in the report CSV only (MLflow gets up to %d)",
                     len(labels), PER_LABEL_METRICS)
        return
    ctx.tracker.log_metrics({label_metric_key(split, column, label): float(report.loc[label, column])
                             for label in labels for column in PER_LABEL_COLUMNS})


class EvaluateConfig(Schema):
    metrics: list[Annotated[str, RegistryName(METRICS)]] | None = Field(
        None, description="metrics to report per split; default: accuracy, macro_f1 (classification), bleu, chrf, ter, meteor "
                          "(translation), token_accuracy, tag_macro_f1 and, when the tags are BIO/IOBES spans, span_precision, "
                          "span_recall, span_f1 (tagging)")
    splits: list[Literal["valid", "test"]] = Field(default_factory=lambda: ["test"], description="held-out splits to score")
    shuffled_pairs: int = Field(500, ge=0, description="language_model: held-out lines (4+ words) scored against a word-shuffled copy")


@register_stage
class EvaluateStage(Stage):
    """Scores held-out splits: accuracy/F1 and a confusion matrix, BLEU/chrF/TER/METEOR, or perplexity and bits."""

    name = "evaluate"
    order = 70
    requires = ("trained_model", "encoder", "splits")
    provides = ("predictions",)
    Config = EvaluateConfig

    def run(self, ctx):
        metrics = self.config.metrics or DEFAULT_METRICS[ctx.config.task]
        if ctx.config.task == "translation":
            return self._translation(ctx, metrics)
        if ctx.config.task == "language_model":
            return self._language_model(ctx)
        if ctx.config.task == "tagging":
            return self._tagging(ctx, self.config.metrics)
        return self._classification(ctx, metrics)

    def _translation(self, ctx, metrics):
        """Corpus scores per split and strategy, a TSV of per-sentence scores, signatures as tags."""
        import pandas as pd

        from seqpipe.metrics import translation

        hypotheses = ctx["hypotheses"]
        for split in self.config.splits:
            if split not in hypotheses:
                ctx.log.warning("evaluate: the %s split was not decoded (add it to stages.generate.splits); skipped", split)
                continue
            frame = ctx["splits"][split]
            references = frame["target"].tolist()
            table = pd.DataFrame({"source": frame["source"].tolist(), "reference": references})
            for key in [k for k in hypotheses if k == split or k.startswith(f"{split}_")]:
                suffix = key[len(split):]
                hyps = hypotheses[key]["translations"]
                ctx.add_metrics({f"{split}_{m}{suffix}": METRICS.get(m)(hyps, references) for m in metrics})
                table[f"hypothesis{suffix}"] = hyps
                scores = translation.sentence_scores(hyps, references)
                for column in scores.columns:
                    table[f"{column}{suffix}"] = scores[column].to_numpy()
            out = ctx.path("evaluation", f"{split}_translations.tsv")
            table.to_csv(out, sep="\t", index=False)
            ctx.tracker.log_artifact(out, "evaluation")
            ctx.log.info("%s: %s", split, ", ".join(f"{k}={v:.2f}" for k, v in ctx.metrics.items() if k.startswith(split)))
        tags = {f"sacrebleu.{name}": sig for name, sig in translation.signatures().items() if name in metrics}
        if "meteor" in metrics:
            tags["meteor.backend"] = translation.meteor_backend()
        ctx.tracker.set_tags(tags)
        ctx.put("predictions", hypotheses)

    def _language_model(self, ctx):
        """Loss (nats/token), perplexity and bits per token on held-out text; real vs shuffled lines."""
        import numpy as np
        import pandas as pd
        import tensorflow as tf

        from seqpipe.tasks.language_model import shuffled_pairs, stream, window_dataset

        lm, train = ctx["language_model"], ctx.config.stage("train")
        unit = "char" if lm.encoder.kind == "char" else "token"
        for split in self.config.splits:
            texts = ctx["splits"][split]["text"].tolist()
            if not texts:
                continue
            ds = window_dataset(stream(lm.encoder, texts), train.window if train else 100, 64)
            loss = lm.model.evaluate(ds, verbose=0, return_dict=True)["loss"]
            ctx.add_metrics({f"{split}_loss": loss, f"{split}_perplexity": float(np.exp(loss)),
                             f"{split}_bits_per_{unit}": loss / float(np.log(2))})
            if self.config.shuffled_pairs:
                real, shuffled = shuffled_pairs(texts, self.config.shuffled_pairs, ctx.config.seed)
                score = lm.function("score")
                lp_real = np.concatenate([score(tf.constant(real[i:i + 128]))["log_prob"].numpy() for i in range(0, len(real), 128)])
                lp_shuf = np.concatenate([score(tf.constant(shuffled[i:i + 128]))["log_prob"].numpy() for i in range(0, len(real), 128)])
                ctx.add_metrics({f"{split}_real_over_shuffled": float(np.mean(lp_real > lp_shuf))})
                out = ctx.path("evaluation", f"{split}_real_vs_shuffled.tsv")
                pd.DataFrame({"line": real, "shuffled": shuffled, "log_prob": lp_real, "log_prob_shuffled": lp_shuf}
                             ).to_csv(out, sep="\t", index=False)
                ctx.tracker.log_artifact(out, "evaluation")
            ctx.log.info("%s: %s", split, ", ".join(f"{k}={v:.4f}" for k, v in ctx.metrics.items() if k.startswith(split)))
        ctx.put("predictions", None)

    def _classification(self, ctx, metrics):
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
            ctx.add_metrics({f"{split}_{m}": METRICS.get(m)(y_true, y_pred, len(labels)) for m in metrics})

            table = pd.DataFrame({"text": frame["text"], "label": frame["label"],
                                  "predicted": [labels[i] for i in y_pred], "confidence": probs.max(axis=1)})
            for i, label in enumerate(labels):
                table[f"p_{label}"] = probs[:, i]
            out = ctx.path("evaluation", f"{split}_predictions.csv")
            table.to_csv(out, index=False)
            report = ctx.path("evaluation", f"{split}_report.csv")
            per_class = with_metric_keys(classification_report(y_true, y_pred, labels), split, labels)
            per_class.to_csv(report)
            log_per_label(ctx, split, per_class, labels)
            png = plot_confusion_matrix(confusion_matrix(y_true, y_pred, len(labels)), labels,
                                        ctx.path("evaluation", f"{split}_confusion_matrix.png"),
                                        title=f"{ctx.config.name}: {split} split")
            for path in (out, report, png):
                ctx.tracker.log_artifact(path, "evaluation")
            predictions[split] = table
            ctx.log.info("%s: %s", split, ", ".join(f"{k}={v:.4f}" for k, v in ctx.metrics.items() if k.startswith(split)))
        ctx.put("predictions", predictions)

    def _tagging(self, ctx, chosen):
        """Token accuracy, per-tag report, confusion matrix and (for BIO/IOBES tags) span scores; padding never counts."""
        from seqpipe.metrics import tagging as tm
        from seqpipe.metrics.classification import plot_confusion_matrix
        from seqpipe.tasks.tagging import Tagger

        labels = ctx["labels"]
        tagger = Tagger(ctx["trained_model"], ctx["encoder"], ctx["char_encoder"], labels)
        scheme = tm.span_scheme(labels)
        metrics = chosen or DEFAULT_METRICS["tagging"] + (SPAN_METRICS if scheme else [])
        if scheme:
            ctx.tracker.set_tags({"tagging.span_scheme": scheme})
        elif set(metrics) & set(SPAN_METRICS):
            ctx.log.warning("evaluate: span scores skipped: the tags are not BIO/IOBES spans (e.g. %s)",
                            ", ".join(labels[:3]))
            metrics = [m for m in metrics if m not in SPAN_METRICS]
        predictions = {}
        for split in self.config.splits:
            frame = ctx["splits"][split]
            if not len(frame):
                ctx.log.warning("evaluate: the %s split is empty; skipped", split)
                continue
            gold = [tags.split() for tags in frame["tags"]]
            pred = tagger.tag_lists(frame["tokens"].tolist())
            ctx.add_metrics({f"{split}_{m}": METRICS.get(m)(gold, pred) for m in metrics})
            ctx.add_metrics(self._unknown_words(ctx["encoder"], frame["tokens"].tolist(), gold, pred, split))
            outputs = [self._tag_table(ctx, split, frame, gold, pred)]
            report = with_metric_keys(tm.tag_report(gold, pred, labels), split, labels)
            outputs.append(ctx.path("evaluation", f"{split}_tag_report.csv"))
            report.to_csv(outputs[-1])
            log_per_label(ctx, split, report, labels)
            shown = list(report.drop(index=["micro avg", "macro avg", "weighted avg"])["support"]
                         .sort_values(ascending=False, kind="stable").index[:CONFUSION_TAGS])
            names = shown + (["(other)"] if len(shown) < len(labels) else [])
            keep = set(shown)

            def pooled(sentences):
                return [[t if t in keep else "(other)" for t in s] for s in sentences]

            cm = tm.tag_confusion(pooled(gold), pooled(pred), names)
            outputs.append(plot_confusion_matrix(cm, names, ctx.path("evaluation", f"{split}_confusion_matrix.png"),
                                                 title=f"{ctx.config.name}: {split} split (tokens)"))
            if scheme:
                spans = tm.span_scores(gold, pred)
                outputs.append(ctx.path("evaluation", f"{split}_span_report.csv"))
                spans["per_type"].to_csv(outputs[-1])
            for path in outputs:
                ctx.tracker.log_artifact(path, "evaluation")
            predictions[split] = pred
            ctx.log.info("%s: %s", split, ", ".join(f"{k}={v:.4f}" for k, v in ctx.metrics.items() if k.startswith(split)))
        ctx.put("predictions", predictions)

    @staticmethod
    def _unknown_words(encoder, sentences, gold, pred, split) -> dict[str, float]:
        """Share of tokens missing from the word vocabulary ([UNK]) and the accuracy on just those."""
        vocabulary = set(encoder.vocabulary)
        hits = [g == p for sentence, gs, ps in zip(sentences, gold, pred)
                for word, g, p in zip(sentence.split(), gs, ps)
                if (word.lower() if encoder.lowercase else word) not in vocabulary]
        total = sum(len(gs) for gs in gold)
        scores = {f"{split}_unknown_word_share": len(hits) / total if total else 0.0}
        if hits:
            scores[f"{split}_unknown_word_accuracy"] = sum(hits) / len(hits)
        return scores

    @staticmethod
    def _tag_table(ctx, split, frame, gold, pred):
        """TSV of every sentence with its gold and predicted tags and the number of wrong tokens."""
        import pandas as pd

        errors = [sum(g != p for g, p in zip(gs, ps)) for gs, ps in zip(gold, pred)]
        table = pd.DataFrame({"tokens": frame["tokens"].tolist(), "tags": frame["tags"].tolist(),
                              "predicted": [" ".join(p) for p in pred], "errors": errors})
        out = ctx.path("evaluation", f"{split}_tags.tsv")
        table.to_csv(out, sep="\t", index=False)
        return out
