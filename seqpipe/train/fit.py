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

    ``train`` is an :class:`seqpipe.data.batching.EpochData` (or a dataset with the same batches every
    epoch). ``first_callbacks`` run before the others (so a callback adding ``val_bleu`` to the logs is
    seen by all of them). Training stops with :class:`TrainingDiverged` on a non-finite loss and, on
    Ctrl-C/SIGTERM, after the current batch with a checkpoint; with ``ctx.resume`` it continues from
    the run's last checkpoint. Returns ``(model, history dict)``.
    """
    from seqpipe.data.batching import EpochData
    from seqpipe.pipeline.signals import deferred
    from seqpipe.train.checkpoints import Checkpointer, ResumableEarlyStopping, StopOnNonFinite, TrainingState

    train = train if isinstance(train, EpochData) else EpochData.fixed(train)
    best_file = ctx.path("checkpoints", "best.weights.h5")
    state = TrainingState(ctx.path("checkpoints", "last.json").parent)
    mode = monitor_mode(cfg.monitor)
    best = keras.callbacks.ModelCheckpoint(best_file, monitor=cfg.monitor, mode=mode, save_best_only=True,
                                           save_weights_only=True, verbose=0)
    early = None
    if cfg.early_stopping:
        early = ResumableEarlyStopping(monitor=cfg.monitor, mode=mode, patience=cfg.early_stopping.patience,
                                       min_delta=cfg.early_stopping.min_delta, verbose=1)
    epoch, batch, history, completed = 0, 0, {}, False
    if ctx.resume and state.exists():
        saved = state.restore(model)
        if saved["steps_per_epoch"] != train.steps:
            from seqpipe.errors import SeqpipeError

            raise SeqpipeError(f"{state.meta}: the checkpoint has {saved['steps_per_epoch']} batches per epoch, this "
                               f"run {train.steps}; resume with the same data and train.batch_size")
        epoch, batch, history = saved["epoch"], saved["batch"], saved["history"]
        # done: it stopped early, or reached as many epochs as asked now (train.epochs may have grown since)
        completed = saved["completed"] and (saved["stopped_early"] or epoch >= cfg.epochs)
        if saved["best"] is not None:
            best.best = saved["best"]
        if early is not None and saved["early_stopping"]:
            early.restored = saved["early_stopping"]
        if completed:
            ctx.log.info("training is complete in the checkpoint (%d epochs): nothing to fit", epoch)
        else:
            ctx.log.info("resuming training at epoch %d, batch %d of %d", epoch + 1, batch, train.steps)
    elif ctx.resume:
        ctx.log.info("no training checkpoint in %s: training from the start", state.folder)
    checkpointer = Checkpointer(state, train.steps, cfg.checkpoint_every, best, early, history, epoch, batch)
    checkpointer.set_model(model)
    diagnostics = []
    if cfg.diagnostics is not None:
        from seqpipe.train.diagnostics import GradientDiagnostics

        sample = next(iter(valid if valid is not None else train.epoch(0)))
        diagnostics.append(GradientDiagnostics(ctx, sample, cfg.diagnostics.every, cfg.clipnorm, cfg.clipvalue))
    callbacks = [
        StopOnNonFinite(),
        *diagnostics,
        *first_callbacks,
        TrackerCallback(ctx.tracker),
        best,
        keras.callbacks.CSVLogger(str(ctx.path("history.csv")), append=epoch > 0 or batch > 0),
        *([early] if early is not None else []),
        checkpointer,
    ]
    verbose = 1 if ctx.progress else 2
    with warnings.catch_warnings(), deferred():
        # a dataset with steps_per_epoch has no known length; Keras warns at the end of every first epoch
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        if batch and epoch < cfg.epochs and not completed:  # finish the interrupted epoch: the batches not seen yet
            model.fit(train.epoch(epoch).skip(batch), validation_data=valid, initial_epoch=epoch, epochs=epoch + 1,
                      steps_per_epoch=train.steps - batch, callbacks=callbacks, shuffle=False, verbose=verbose)
            epoch += 1
        if epoch < cfg.epochs and not model.stop_training and not completed:
            model.fit(train.stream(epoch, cfg.epochs), validation_data=valid, initial_epoch=epoch, epochs=cfg.epochs,
                      steps_per_epoch=train.steps, callbacks=callbacks, shuffle=False, verbose=verbose)
        if not completed:
            checkpointer.complete()
    history = checkpointer.history
    if ctx.replay_history:  # training came from the stage cache: the run still gets its curves
        for step in range(len(next(iter(history.values()), []))):
            ctx.tracker.log_metrics({key: values[step] for key, values in history.items() if step < len(values)},
                                    step=step)
    if cfg.restore_best and best_file.exists():
        model.load_weights(best_file)
        values = history.get(cfg.monitor, [])
        best_epoch = int(np.argmin(values) if mode == "min" else np.argmax(values)) if values else -1
        ctx.log.info("restored the weights of epoch %d (best %s)", best_epoch + 1, cfg.monitor)
        ctx.tracker.log_metrics({"best_epoch": best_epoch + 1})
    plot = plot_history(history, ctx.path("plots", "training_curves.png"))
    ctx.tracker.log_artifact(plot, "plots")
    ctx.tracker.log_artifact(ctx.path("history.csv"))
    return model, history
