"""The shared training loop: optimizer, ``model.fit`` with tracking, checkpoints and early stopping.

Tasks build their datasets and compile their models, then call :func:`fit_model`.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np

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


def monitor_mode(monitor: str) -> str:
    return "min" if monitor.endswith("loss") else "max"


def fit_model(ctx, cfg, model, train, valid, first_callbacks):
    """``model.fit`` with the tracker, best checkpoint, history CSV, early stopping and best-weights restore.

    ``first_callbacks`` run before those (so a callback adding ``val_bleu`` to the logs is seen by all of them).
    Returns ``(model, history dict)``.
    """
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
