"""Compile and fit a classifier; per-epoch metrics go to the tracker."""

from __future__ import annotations

import warnings

import keras
import numpy as np

from seqpipe.data.batching import token_dataset
from seqpipe.tasks.classification import label_ids
from seqpipe.train.plots import plot_history


class TrackerCallback(keras.callbacks.Callback):
    """Log every epoch's metrics (loss, accuracy, val_*) to the tracker, step = epoch."""

    def __init__(self, tracker):
        super().__init__()
        self.tracker = tracker

    def on_epoch_end(self, epoch, logs=None):
        self.tracker.log_metrics({k: float(v) for k, v in (logs or {}).items()}, step=epoch)


def make_optimizer(cfg, clipnorm=None, clipvalue=None) -> keras.optimizers.Optimizer:
    classes = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW, "nadam": keras.optimizers.Nadam,
               "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD}
    kwargs = {"learning_rate": cfg.learning_rate, "clipnorm": clipnorm, "clipvalue": clipvalue}
    if cfg.weight_decay is not None:
        kwargs["weight_decay"] = cfg.weight_decay
    if cfg.name in ("sgd", "rmsprop"):
        kwargs["momentum"] = cfg.momentum
    return classes[cfg.name](**kwargs)


class ValidationBleu(keras.callbacks.Callback):
    """After each epoch, decode a fixed validation subset and add ``val_bleu`` to the logs.

    It runs before the tracker, checkpoint and early-stopping callbacks, so they all see it.
    """

    def __init__(self, translator, sources: list[str], references: list[str], decoding: dict):
        super().__init__()
        self.translator, self.sources, self.references, self.decoding = translator, sources, references, decoding

    def on_epoch_end(self, epoch, logs=None):
        from seqpipe.metrics import METRICS

        hypotheses = self.translator.translate(self.sources, self.decoding)["translations"]
        if logs is not None:
            logs["val_bleu"] = METRICS.get("bleu")(hypotheses, self.references)


class LanguageModelEpoch(keras.callbacks.Callback):
    """Adds perplexity and bits per token to the logs; writes a text sample after each epoch."""

    def __init__(self, ctx, sample_cfg, stateless_model=None):
        super().__init__()
        self.ctx, self.sample_cfg, self.stateless_model = ctx, sample_cfg, stateless_model

    def on_epoch_end(self, epoch, logs=None):
        from seqpipe.tasks.language_model import copy_weights, write_samples

        if self.stateless_model is not None:  # training runs on a stateful copy
            copy_weights(self.model, self.stateless_model)
        for prefix in ("", "val_"):
            if logs is not None and f"{prefix}loss" in logs:
                logs[f"{prefix}perplexity"] = float(np.exp(logs[f"{prefix}loss"]))
                logs[f"{prefix}bits_per_token"] = float(logs[f"{prefix}loss"] / np.log(2))
        if self.sample_cfg is not None:
            path = write_samples(self.ctx["language_model"], self.sample_cfg,
                                 self.ctx.path("samples", f"epoch_{epoch + 1:02d}.txt"))
            self.ctx.tracker.log_artifact(path, "samples")


def monitor_mode(monitor: str) -> str:
    return "min" if monitor.endswith("loss") else "max"


def fit_classifier(ctx, cfg):
    model, encoder, labels, splits = ctx["model"], ctx["encoder"], ctx["labels"], ctx["splits"]
    seed = ctx.config.seed

    def dataset(split, **kwargs):
        frame = splits[split]
        ids = encoder.tokenize(frame["text"].tolist())
        return token_dataset(ids, label_ids(frame, labels, split), cfg.batch_size, **kwargs)

    train = dataset("train", shuffle=True, seed=seed, bucketing=cfg.bucketing)
    valid = dataset("valid") if len(splits["valid"]) else None
    model.compile(
        optimizer=make_optimizer(cfg.optimizer, cfg.clipnorm, cfg.clipvalue),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return _fit(ctx, cfg, model, train, valid, [])


def compile_token_model(model, cfg) -> None:
    """Compile a model with next-token logits: masked cross-entropy and token accuracy."""
    from seqpipe.tasks.translation import MaskedCrossEntropy, token_accuracy

    model.compile(optimizer=make_optimizer(cfg.optimizer, cfg.clipnorm, cfg.clipvalue),
                  loss=MaskedCrossEntropy(cfg.label_smoothing),
                  metrics=[keras.metrics.MeanMetricWrapper(token_accuracy, name="token_accuracy")])


def fit_seq2seq(ctx, cfg):
    from seqpipe.data.batching import pair_dataset
    from seqpipe.tasks.translation import target_ids

    model, splits, translator = ctx["model"], ctx["splits"], ctx["translator"]

    def dataset(split, **kwargs):
        frame = splits[split]
        source = translator.source_encoder.tokenize(frame["source"].tolist())
        target_in, target_out = target_ids(translator.target_encoder, frame["target"].tolist())
        return pair_dataset(source, target_in, target_out, cfg.batch_size, **kwargs)

    train = dataset("train", shuffle=True, seed=ctx.config.seed, bucketing=cfg.bucketing)
    valid = dataset("valid") if len(splits["valid"]) else None
    compile_token_model(model, cfg)
    first = []
    if cfg.validation_subset and len(splits["valid"]):
        subset = splits["valid"].head(cfg.validation_subset)
        generate = ctx.config.stage("generate")
        decoding = generate.decoding.model_dump() if generate else {"strategy": "greedy"}
        first.append(ValidationBleu(translator, subset["source"].tolist(), subset["target"].tolist(), decoding))
    return _fit(ctx, cfg, model, train, valid, first)


def fit_language_model(ctx, cfg):
    """Windows of a token stream; with ``cfg.stateful`` a stateful copy carries state across windows."""
    from seqpipe.tasks import language_model as lm_data

    model, splits, encoder = ctx["model"], ctx["splits"], ctx["encoder"]
    streams = {split: lm_data.stream(encoder, splits[split]["text"].tolist()) for split in ("train", "valid")
               if len(splits[split])}
    if cfg.stateful:
        trained = lm_data.stateful_copy(model, cfg.batch_size, cfg.window)
        train = lm_data.stateful_windows(streams["train"], cfg.window, cfg.batch_size)
        valid = lm_data.stateful_windows(streams["valid"], cfg.window, cfg.batch_size) if "valid" in streams else None
        first = [lm_data.ResetStates(), LanguageModelEpoch(ctx, ctx.config.stage("sample"), stateless_model=model)]
    else:
        trained = model
        train = lm_data.window_dataset(streams["train"], cfg.window, cfg.batch_size, shuffle=True, seed=ctx.config.seed)
        valid = lm_data.window_dataset(streams["valid"], cfg.window, cfg.batch_size) if "valid" in streams else None
        first = [LanguageModelEpoch(ctx, ctx.config.stage("sample"))]
    for m in {id(trained): trained, id(model): model}.values():  # the stateless model is evaluated later
        compile_token_model(m, cfg)
    trained, history = _fit(ctx, cfg, trained, train, valid, first)
    if trained is not model:
        lm_data.copy_weights(trained, model)  # the best epoch's weights, into the stateless model
    return model, history


def fit_tagger(ctx, cfg):
    """Softmax or CRF tagger on batches tokenized in the graph; training sentences cut to tokenize.max_length."""
    from seqpipe.layers.crf import CRFLoss
    from seqpipe.tasks.tagging import TagAccuracy, TagCrossEntropy, crf_layer, tag_ids, tagging_dataset, truncate

    model, splits, labels = ctx["model"], ctx["splits"], ctx["labels"]
    encoder, char_encoder = ctx["encoder"], ctx["char_encoder"]
    crf = crf_layer(model)

    def dataset(split, **kwargs):
        frame = splits[split]
        limit = encoder.max_length if split == "train" else None
        sentences = truncate(frame["tokens"].tolist(), limit) if limit else frame["tokens"].tolist()
        return tagging_dataset(encoder, char_encoder, sentences, tag_ids(frame, labels, split, limit), cfg.batch_size,
                               **kwargs)

    train = dataset("train", shuffle=True, seed=ctx.config.seed, bucketing=cfg.bucketing)
    valid = dataset("valid") if len(splits["valid"]) else None
    model.compile(optimizer=make_optimizer(cfg.optimizer, cfg.clipnorm, cfg.clipvalue),
                  loss=CRFLoss(crf) if crf is not None else TagCrossEntropy(),
                  metrics=[TagAccuracy()])
    return _fit(ctx, cfg, model, train, valid, [])


def _fit(ctx, cfg, model, train, valid, first_callbacks):
    best = ctx.path("checkpoints", "best.weights.h5")
    mode = monitor_mode(cfg.monitor)
    callbacks = [
        *first_callbacks,
        TrackerCallback(ctx.tracker),
        keras.callbacks.ModelCheckpoint(best, monitor=cfg.monitor, mode=mode, save_best_only=True,
                                        save_weights_only=True, verbose=0),
        keras.callbacks.CSVLogger(str(ctx.path("history.csv"))),
    ]
    if cfg.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=cfg.monitor, mode=mode, patience=cfg.early_stopping.patience,
            min_delta=cfg.early_stopping.min_delta, verbose=1))
    with warnings.catch_warnings():
        # tf.data with bucketing has no known length; Keras warns at the end of every first epoch
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        history = model.fit(train, validation_data=valid, epochs=cfg.epochs, callbacks=callbacks, shuffle=False,
                            verbose=1 if ctx.progress else 2).history
    if cfg.restore_best and best.exists():
        model.load_weights(best)
        values = history.get(cfg.monitor, [])
        best_epoch = int(np.argmin(values) if mode == "min" else np.argmax(values)) if values else -1
        ctx.log.info("restored the weights of epoch %d (best %s)", best_epoch + 1, cfg.monitor)
        ctx.tracker.log_metrics({"best_epoch": best_epoch + 1})
    plot = plot_history(history, ctx.path("plots", "training_curves.png"))
    ctx.tracker.log_artifact(plot, "plots")
    ctx.tracker.log_artifact(ctx.path("history.csv"))
    return model, history
