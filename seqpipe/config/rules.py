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


MONITORS = {
    "classification": ["loss", "accuracy", "val_loss", "val_accuracy"],
    "translation": ["loss", "token_accuracy", "val_loss", "val_token_accuracy", "val_bleu"],
    "language_model": ["loss", "token_accuracy", "val_loss", "val_token_accuracy"],
    "tagging": ["loss", "token_accuracy", "val_loss", "val_token_accuracy"],
}


def language_model_reads_left_to_right(config) -> Iterator[Problem]:
    encode = config.stage("encode")
    if config.task == "language_model" and encode and encode.bidirectional:
        yield (("stages", "encode", "bidirectional"), "a language model predicts the next token, so its encoder "
                                                      "cannot read the future; set it to false")


def stages_serve_the_task(config) -> Iterator[Problem]:
    from seqpipe.pipeline.stage import STAGES

    for name in config.stage_names():
        tasks = STAGES.get(name).tasks
        if tasks and config.task not in tasks:
            fits = [n for n in STAGES.names() if not STAGES.get(n).tasks or config.task in STAGES.get(n).tasks]
            yield (("stages", name), f"stage '{name}' is for task {', '.join(tasks)}, not '{config.task}'; "
                                     f"stages for {config.task}: {', '.join(fits)}")


def monitor_is_known(config) -> Iterator[Problem]:
    train = config.stage("train")
    if train:
        known = MONITORS[config.task]
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


def metrics_fit_the_task(config) -> Iterator[Problem]:
    from seqpipe.metrics import METRICS

    evaluate = config.stage("evaluate")
    for i, name in enumerate((evaluate.metrics or []) if evaluate else []):
        task = getattr(METRICS.get(name), "task", config.task)
        if task != config.task:
            fits = [n for n in METRICS.names() if getattr(METRICS.get(n), "task", config.task) == config.task]
            yield (("stages", "evaluate", "metrics", i),
                   f"'{name}' is a {task} metric; metrics for {config.task}: {', '.join(fits)}")


def tagging_keeps_the_tokens(config) -> Iterator[Problem]:
    tokenize = config.stage("tokenize")
    if config.task == "tagging" and tokenize and tokenize.kind not in (None, "whitespace"):
        yield (("stages", "tokenize", "kind"), f"tagging labels the given whitespace-separated tokens, so the tokenizer "
                                               f"must be 'whitespace' (or unset); got '{tokenize.kind}'")


def chars_are_for_tagging(config) -> Iterator[Problem]:
    embed = config.stage("embed")
    if embed and embed.chars is not None and config.task != "tagging":
        yield (("stages", "embed", "chars"), f"the character-level word encoder is for task tagging, not "
                                             f"'{config.task}'; remove it")


RULES = [stages_serve_the_task, metrics_fit_the_task, language_model_reads_left_to_right, needs_validation_split, monitor_is_known, evaluated_splits_exist, last_pooling_needs_concat, clip_once,
         tagging_keeps_the_tokens, chars_are_for_tagging]


def check_rules(config) -> list[Problem]:
    return [problem for rule in RULES for problem in rule(config)]
