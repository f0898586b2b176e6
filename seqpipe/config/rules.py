"""Cross-field rules: small named checks over the validated config.

Each rule yields ``(key path, message)``; stage keys are addressed by name
(``("stages", "train", "monitor")``) and shown as ``stages[i].train.monitor``.
"""

from __future__ import annotations

from typing import Iterator

Problem = tuple[tuple, str]


def needs_validation_split(config) -> Iterator[Problem]:
    train = config.stage("train")
    if train and train.monitor.startswith("val_") and config.data.split.valid == 0:
        yield (("stages", "train", "monitor"),
               f"'{train.monitor}' needs a validation split but data.split.valid is 0; "
               "set data.split.valid > 0 or monitor 'loss'")


def monitor_is_known(config) -> Iterator[Problem]:
    train = config.stage("train")
    if train:
        known = ["loss", "accuracy", "val_loss", "val_accuracy"]
        if train.monitor not in known:
            from seqpipe.registry import did_you_mean
            yield (("stages", "train", "monitor"),
                   f"must be one of {', '.join(known)}; got '{train.monitor}'{did_you_mean(train.monitor, known)}")


def evaluated_splits_exist(config) -> Iterator[Problem]:
    evaluate = config.stage("evaluate")
    for split in (evaluate.splits if evaluate else []):
        if getattr(config.data.split, split) == 0:
            yield (("stages", "evaluate", "splits"), f"scores the {split} split but data.split.{split} is 0")


def last_pooling_needs_concat(config) -> Iterator[Problem]:
    classify, encode = config.stage("classify"), config.stage("encode")
    if classify and encode and classify.pooling == "last" and encode.bidirectional and encode.merge_mode != "concat":
        yield (("stages", "classify", "pooling"),
               f"'last' over a bidirectional encoder needs stages.encode.merge_mode 'concat'; got '{encode.merge_mode}'")


def clip_once(config) -> Iterator[Problem]:
    train = config.stage("train")
    if train and train.clipnorm and train.clipvalue:
        yield (("stages", "train", "clipvalue"), "give train.clipnorm or train.clipvalue, not both")


RULES = [needs_validation_split, monitor_is_known, evaluated_splits_exist, last_pooling_needs_concat, clip_once]


def check_rules(config) -> list[Problem]:
    return [problem for rule in RULES for problem in rule(config)]
