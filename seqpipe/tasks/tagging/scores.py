"""Tagging scores from the evaluation table (gold ``tags`` and ``predicted`` tags, space-separated per sentence),
and the split's reports: per-tag scores, the confusion matrix, span scores."""

from __future__ import annotations

import pandas as pd

from seqpipe.errors import SeqpipeError

SPAN_METRICS = ["span_precision", "span_recall", "span_f1"]
CONFUSION_TAGS = 30  # the confusion matrix PNG shows the most frequent tags; the rest are pooled


def metric_names(cfg, labels: list[str], defaults: tuple[str, ...]) -> list[str]:
    """``evaluate.metrics`` (default: ``defaults``, plus the span scores for BIO/IOBES tags) less the span scores
    when the tags are not spans."""
    from seqpipe.metrics.tag_scores import span_scheme

    scheme = span_scheme(labels)
    metrics = list(cfg.metrics or list(defaults) + (SPAN_METRICS if scheme else []))
    return metrics if scheme else [m for m in metrics if m not in SPAN_METRICS]


def scored_positions(gold: list[list[str]], ignore: set[str]) -> list[list[int]]:
    """Per sentence, the positions whose gold tag is not in ``ignore`` (all of them when it is empty)."""
    return [[i for i, tag in enumerate(tags) if tag not in ignore] for tags in gold]


def take(sentences, positions: list[list[int]]) -> list[list]:
    """The items of each sentence at ``positions``."""
    return [[items[i] for i in where] for items, where in zip(sentences, positions)]


def sentences(table: pd.DataFrame, ignore: set[str]):
    """``(all_gold, all_pred, gold, pred, words)``: every tag of every sentence, and the tags and words at the
    positions that token-level scores read (those whose gold tag ``ignore`` does not list)."""
    all_gold = [tags.split() for tags in table["tags"]]
    all_pred = [tags.split() for tags in table["predicted"]]
    words = [tokens.split() for tokens in table["tokens"]]
    if not ignore:
        return all_gold, all_pred, all_gold, all_pred, words
    positions = scored_positions(all_gold, ignore)
    return all_gold, all_pred, take(all_gold, positions), take(all_pred, positions), take(words, positions)


def errors(table: pd.DataFrame, ignore: set[str]) -> list[int]:
    """Wrong tags per sentence among the scored positions."""
    _, _, gold, pred, _ = sentences(table, ignore)
    return [sum(g != p for g, p in zip(gs, ps)) for gs, ps in zip(gold, pred)]


def score_table(table: pd.DataFrame, metrics: list[str], ignore: set[str], encoder) -> dict[str, float]:
    """The metrics of the table's sentences; token-level ones (all but span scores, which read whole sentences)
    over the scored positions only, and the share and accuracy of words missing from ``encoder``'s vocabulary."""
    from seqpipe.metrics import METRICS

    all_gold, all_pred, gold, pred, words = sentences(table, ignore)
    scores = {m: METRICS.get(m)(all_gold, all_pred) for m in metrics if m in SPAN_METRICS}
    if any(gold):
        for m in [m for m in metrics if m not in SPAN_METRICS]:
            scores[m] = macro_f1_without(gold, pred, ignore) if m == "tag_macro_f1" and ignore else \
                METRICS.get(m)(gold, pred)
        scores.update(unknown_words(encoder, words, gold, pred))
    return {m: scores[m] for m in [*metrics, "unknown_word_share", "unknown_word_accuracy"] if m in scores}


def unknown_words(encoder, words: list[list[str]], gold, pred) -> dict[str, float]:
    """Share of tokens missing from the word vocabulary ([UNK]) and the accuracy on just those."""
    vocabulary = set(encoder.vocabulary)
    hits = [g == p for sentence, gs, ps in zip(words, gold, pred) for word, g, p in zip(sentence, gs, ps)
            if (word.lower() if encoder.lowercase else word) not in vocabulary]
    total = sum(len(gs) for gs in gold)
    scores = {"unknown_word_share": len(hits) / total if total else 0.0}
    if hits:
        scores["unknown_word_accuracy"] = sum(hits) / len(hits)
    return scores


def macro_f1_without(gold, pred, ignore: set[str]) -> float:
    """tag_macro_f1 over the tags found in gold or predicted tags, less the ignored ones (which have no gold
    support among the scored tokens; predicting one there is an error of the gold tag's recall)."""
    from sklearn.metrics import f1_score

    y_true = [t for sentence in gold for t in sentence]
    y_pred = [t for sentence in pred for t in sentence]
    tags = sorted((set(y_true) | set(y_pred)) - ignore)
    return float(f1_score(y_true, y_pred, labels=tags, average="macro", zero_division=0))


def check_scorable(table: pd.DataFrame, ignore: set[str], split: str) -> None:
    """A split whose every token has an ignored tag leaves nothing to score: an error naming the key."""
    if ignore and not any(sentences(table, ignore)[2]):
        raise SeqpipeError(f"evaluate: every token of the {split} split has a tag listed in "
                           f"stages.evaluate.ignore_tags ({', '.join(sorted(ignore))}); nothing is left to score")


def write_reports(ctx, split: str, table: pd.DataFrame, labels: list[str], ignore: set[str]) -> list:
    """The split's tags TSV, per-tag report (also MLflow metrics), confusion matrix and span report; their paths."""
    from seqpipe.metrics import tag_scores as tm
    from seqpipe.metrics.label_scores import plot_confusion_matrix
    from seqpipe.metrics.per_label import log_per_label, with_metric_keys

    all_gold, all_pred, gold, pred, _ = sentences(table, ignore)
    scored = [label for label in labels if label not in ignore]  # the tags of the per-tag report
    outputs = [ctx.path("evaluation", ctx.task.evaluation_file.format(split=split))]
    table.to_csv(outputs[-1], sep="\t", index=False)
    report = with_metric_keys(tm.tag_report(gold, pred, scored), split, scored)
    outputs.append(ctx.path("evaluation", f"{split}_tag_report.csv"))
    report.to_csv(outputs[-1])
    log_per_label(ctx, split, report, scored)
    shown = list(report.drop(index=["micro avg", "macro avg", "weighted avg"])["support"]
                 .sort_values(ascending=False, kind="stable").index[:CONFUSION_TAGS])
    names = shown + (["(other)"] if len(shown) < len(labels) else [])
    keep = set(shown)

    def pooled(tag_lists):
        return [[t if t in keep else "(other)" for t in s] for s in tag_lists]

    cm = tm.tag_confusion(pooled(gold), pooled(pred), names)
    outputs.append(plot_confusion_matrix(cm, names, ctx.path("evaluation", f"{split}_confusion_matrix.png"),
                                         title=f"{ctx.config.name}: {split} split (tokens)"))
    if tm.span_scheme(labels):
        outputs.append(ctx.path("evaluation", f"{split}_span_report.csv"))
        tm.span_scores(all_gold, all_pred)["per_type"].to_csv(outputs[-1])
    return outputs
