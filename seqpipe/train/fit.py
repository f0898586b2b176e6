"""The shared training loop: optimizer, ``model.fit`` with tracking, checkpoints and early stopping.

Tasks build their datasets and compile their models, then call :func:`fit_model`.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import tensorflow as tf

from seqpipe.train.multi_worker import prepare_multi_worker
from seqpipe.train.plots import plot_history
from seqpipe.train.pruning import pruning_callbacks


class TrackerCallback(keras.callbacks.Callback):
    """Log every epoch's metrics (loss, accuracy, val_*) to the tracker, step = epoch."""

    def __init__(self, tracker):
        super().__init__()
        self.tracker = tracker

    def on_epoch_end(self, epoch, logs=None):
        self.tracker.log_metrics({k: float(v) for k, v in (logs or {}).items()}, step=epoch)


def make_optimizer(cfg, clipnorm=None, clipvalue=None, total_steps: int | None = None,
                   clip_scope: str | None = None) -> keras.optimizers.Optimizer:
    """The optimizer of ``train.optimizer``, with its step schedule when it has one, clipping the gradients as
    ``train.clipnorm`` / ``train.clip_scope`` / ``train.clipvalue`` say (:mod:`seqpipe.train.clipping`; a
    clipnorm bounds the global norm unless ``clip_scope`` is ``per_variable``).

    A decaying schedule (warmup_cosine, warmup_linear) needs the training's total steps: :func:`fit_model`
    gives them (``train.epochs`` x batches per epoch), so ``total_steps`` may stay None here.
    ``reduce_on_plateau`` keeps a plain rate, cut by the callback fit_model adds.
    """
    from seqpipe.train.clipping import Clipping
    from seqpipe.train.schedules import STEP_KINDS, step_schedule

    classes = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW, "nadam": keras.optimizers.Nadam,
               "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD}
    learning_rate = cfg.learning_rate
    schedule = getattr(cfg, "schedule", None)
    if schedule is not None and schedule.kind in STEP_KINDS:
        learning_rate = step_schedule(cfg.learning_rate, schedule, total_steps)
    kwargs = {"learning_rate": learning_rate, **Clipping(clipnorm, clipvalue, clip_scope).optimizer_kwargs()}
    if cfg.weight_decay is not None:
        kwargs["weight_decay"] = cfg.weight_decay
    if cfg.name in ("sgd", "rmsprop"):
        kwargs["momentum"] = cfg.momentum
    return classes[cfg.name](**kwargs)


def monitor_mode(monitor: str) -> str:
    """``min`` for a monitor where lower is better (a loss, mae, perplexity, ...; see ``seqpipe.compare``),
    else ``max``."""
    from seqpipe.metrics.direction import lower_is_better

    return "min" if lower_is_better(monitor) else "max"


def fit_model(ctx, cfg, model, train, valid, first_callbacks):
    """``model.fit`` with the tracker, best checkpoint, history CSV, early stopping and best-weights restore.

    ``train`` is an :class:`seqpipe.data.batching.EpochData` (or a dataset with the same batches every
    epoch). ``first_callbacks`` run before the others (so a callback adding ``val_bleu`` to the logs is
    seen by all of them). Training stops with :class:`TrainingDiverged` on a non-finite loss and, on
    Ctrl-C/SIGTERM, after the current batch with a checkpoint; with ``ctx.resume`` it continues from
    the run's last checkpoint. Besides: the learning-rate schedule (``train.optimizer.schedule``), the
    training-time budget (``train.max_minutes``) and checkpoint averaging (``train.average_last``).
    Returns ``(model, history dict)``.
    """
    from seqpipe.data.batching import EpochData
    from seqpipe.errors import SeqpipeError
    from seqpipe.pipeline.signals import deferred
    from seqpipe.train.checkpoints import (
        Checkpointer,
        ResumableEarlyStopping,
        StopOnNonFinite,
        TrainingClock,
        TrainingState,
    )
    from seqpipe.train.schedules import (
        NEEDS_TOTAL,
        LearningRateLog,
        ResumablePlateau,
        bind_budget,
        bind_total_steps,
    )

    train = train if isinstance(train, EpochData) else EpochData.fixed(train)
    batch_tokens = getattr(cfg, "batch_tokens", None)
    if batch_tokens is not None and train.batch_tokens != batch_tokens:
        raise SeqpipeError(f"train.batch_tokens: task '{ctx.config.task}' does not make token-budget batches "
                           "(its batches are fixed in size); remove it")
    if train.batch_tokens is not None:
        ctx.log.info("token-budget batches: at most %d padded tokens each, %d batches per epoch", train.batch_tokens,
                     train.steps)
    schedule = getattr(cfg.optimizer, "schedule", None)
    if train.steps is not None:
        bind_total_steps(model.optimizer, cfg.epochs, train.steps, ctx.log)
    elif schedule is not None and schedule.kind in NEEDS_TOTAL and getattr(cfg, "max_minutes", None) is None:
        raise SeqpipeError(f"train.optimizer.schedule.kind: {schedule.kind} decays over the training's steps, unknown "
                           "for a streamed training split before its first pass; give train.max_minutes (the decay "
                           "then follows the budget) or use inverse_sqrt or reduce_on_plateau")
    max_minutes = getattr(cfg, "max_minutes", None)
    average_last = getattr(cfg, "average_last", None) or 0
    best_file = ctx.path("checkpoints", "best.weights.h5")
    state = TrainingState(ctx.path("checkpoints", "last.json").parent)
    mode = monitor_mode(cfg.monitor)
    best = keras.callbacks.ModelCheckpoint(best_file, monitor=cfg.monitor, mode=mode, save_best_only=True,
                                           save_weights_only=True, verbose=0)
    early = None
    if cfg.early_stopping:
        early = ResumableEarlyStopping(monitor=cfg.monitor, mode=mode, patience=cfg.early_stopping.patience,
                                       min_delta=cfg.early_stopping.min_delta, verbose=1)
    plateau = None
    if schedule is not None and schedule.kind == "reduce_on_plateau":
        plateau = ResumablePlateau(monitor=cfg.monitor, mode=mode, factor=schedule.factor, patience=schedule.patience,
                                   min_delta=schedule.min_delta, min_lr=schedule.min_lr * cfg.optimizer.learning_rate,
                                   verbose=0, log=ctx.log)
    epoch, batch, history, completed, seconds, stopped_by = 0, 0, {}, False, 0.0, None
    last_epoch_batches = train.steps
    if ctx.resume and state.exists():
        saved = state.restore(model)
        if train.steps is None:  # a stream: its batches per epoch are known once a first pass has ended
            train.steps = saved["steps_per_epoch"]
        elif saved["steps_per_epoch"] != train.steps:
            raise SeqpipeError(f"{state.meta}: the checkpoint has {saved['steps_per_epoch']} batches per epoch, this "
                               f"run {train.steps}; resume with the same data, train.batch_size and train.batch_tokens")
        epoch, batch, history = saved["epoch"], saved["batch"], saved["history"]
        seconds = float(saved.get("train_seconds") or 0.0)
        last_epoch_batches = saved.get("last_epoch_batches", train.steps)
        stopped_by = saved.get("stopped_by") or ("early_stopping" if saved.get("stopped_early") else
                                                 "epochs" if saved["completed"] else None)
        budget_spent = max_minutes is not None and seconds >= max_minutes * 60
        # done: it stopped early, reached as many epochs as asked now (train.epochs may have grown since), or spent
        # the training-time budget asked now (train.max_minutes may have grown or gone since)
        completed = (saved["completed"] and (stopped_by == "early_stopping" or epoch >= cfg.epochs)) or budget_spent
        if budget_spent and not (saved["completed"] and stopped_by != "max_minutes"):
            stopped_by = "max_minutes"
        if saved["best"] is not None:
            best.best = saved["best"]
        if early is not None and saved["early_stopping"]:
            early.restored = saved["early_stopping"]
        if plateau is not None and saved.get("reduce_on_plateau"):
            plateau.restored = saved["reduce_on_plateau"]
        if completed:
            ctx.log.info("training is complete in the checkpoint (%d epochs): nothing to fit (stopped by %s)",
                         epoch, stopped_by)
        else:
            ctx.log.info("resuming training at epoch %d, batch %d of %s", epoch + 1, batch,
                         train.steps if train.steps is not None else "the stream's (first pass: not counted yet)")
    elif ctx.resume:
        ctx.log.info("no training checkpoint in %s: training from the start", state.folder)
    clock = TrainingClock(seconds, max_minutes * 60 if max_minutes is not None else None)
    bind_budget(model.optimizer, clock)
    checkpointer = Checkpointer(state, train.steps, cfg.checkpoint_every, best, early, history, epoch, batch,
                                plateau=plateau, clock=clock)
    checkpointer.last_epoch_batches = last_epoch_batches
    checkpointer.set_model(model)
    diagnostics = []
    if cfg.diagnostics is not None:
        from seqpipe.train.diagnostics import GradientDiagnostics

        sample = next(iter(valid if valid is not None else train.epoch(0)))
        diagnostics.append(GradientDiagnostics(ctx, sample, cfg.diagnostics.every, cfg.clipnorm, cfg.clipvalue,
                                               getattr(cfg, "clip_scope", None)))
    kept = []
    if average_last:
        from seqpipe.train.averaging import EpochWeights

        kept.append(EpochWeights(state.folder / "epochs", average_last, cfg.monitor, mode, cfg.restore_best,
                                 checkpointer.history))
    rates = [plateau] if plateau is not None else [LearningRateLog()] if schedule is not None else []
    history_csv = keras.callbacks.CSVLogger(str(ctx.path("history.csv")), append=epoch > 0 or batch > 0)
    callbacks = [
        StopOnNonFinite(),
        clock,
        *diagnostics,
        *train.callbacks,
        *first_callbacks,
        *rates,
        TrackerCallback(ctx.tracker),
        best,
        history_csv,
        *([early] if early is not None else []),
        *kept,
        checkpointer,
        *pruning_callbacks(ctx.log),  # last: the epoch is logged and checkpointed before a trial is pruned
    ]
    verbose = 1 if ctx.progress else 2
    prepare_multi_worker(model, train.epoch(epoch))
    def fit(data, first: int, last: int, steps: int | None):
        data = train.distribute(data) if train.distribute is not None else data
        try:
            model.fit(data, validation_data=valid, initial_epoch=first, epochs=last, steps_per_epoch=steps,
                      callbacks=callbacks, shuffle=False, verbose=verbose)
        except tf.errors.OpError as exc:  # a stream stopped by a bad row: keep what was trained, say where
            error = train.bad_row(exc) if train.bad_row is not None else None
            if error is None:
                raise
            state.save(model, checkpointer.snapshot())
            raise error from None
        history_csv.append = True  # the next fit call continues history.csv

    with warnings.catch_warnings(), deferred():
        # a dataset with steps_per_epoch has no known length; Keras warns at the end of every first epoch
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        if batch and epoch < cfg.epochs and not completed:  # finish the interrupted epoch: the batches not seen yet
            fit(train.epoch(epoch).skip(batch), epoch, epoch + 1, train.steps - batch if train.steps else None)
            epoch += 1
        elif train.steps is None and epoch < cfg.epochs and not completed:  # a stream's first pass counts its batches
            fit(train.epoch(epoch), epoch, epoch + 1, None)
            epoch += 1
        if train.steps is None:
            train.steps = checkpointer.steps
        if epoch < cfg.epochs and not model.stop_training and not completed:
            fit(train.stream(epoch, cfg.epochs), epoch, cfg.epochs, train.steps)
        if not completed:
            stopped_by = ("max_minutes" if clock.stopped else
                          "early_stopping" if early is not None and early.stopped else "epochs")
            checkpointer.complete(stopped_by)
        elif not state.read()["completed"]:  # the budget was spent before a crash: now it is complete
            checkpointer.complete(stopped_by)
    history = checkpointer.history
    if ctx.replay_history:  # training came from the stage cache: the run still gets its curves
        for step in range(len(next(iter(history.values()), []))):
            ctx.tracker.log_metrics({key: values[step] for key, values in history.items() if step < len(values)},
                                    step=step)
    if max_minutes is not None:
        report_budget(ctx, checkpointer, stopped_by, max_minutes)
    if average_last:
        average_checkpoints(ctx, cfg, model, state.folder / "epochs", history, mode, valid, first_callbacks)
    elif cfg.restore_best and best_file.exists():
        model.load_weights(best_file)
        values = history.get(cfg.monitor, [])
        best_epoch = int(np.argmin(values) if mode == "min" else np.argmax(values)) if values else -1
        ctx.log.info("restored the weights of epoch %d (best %s)", best_epoch + 1, cfg.monitor)
        ctx.tracker.log_metrics({"best_epoch": best_epoch + 1})
    plot = plot_history(history, ctx.path("plots", "training_curves.png"))
    ctx.tracker.log_artifact(plot, "plots")
    ctx.tracker.log_artifact(ctx.path("history.csv"))
    return model, history


def report_budget(ctx, checkpointer, stopped_by: str | None, max_minutes: float) -> None:
    """Log how training ended under ``train.max_minutes``: tag ``seqpipe.stopped_by`` (and ``seqpipe.stopped_at``
    when the budget stopped it), metric ``train_minutes``."""
    minutes = (checkpointer.clock.seconds if checkpointer.clock is not None else 0.0) / 60
    tags = {"seqpipe.stopped_by": stopped_by or "epochs"}
    if stopped_by == "max_minutes":
        where = f"epoch {checkpointer.epoch}, step {checkpointer.last_epoch_batches} of {checkpointer.steps}"
        tags["seqpipe.stopped_at"] = where
        ctx.log.info("training stopped by train.max_minutes (%g) at %s, after %.2f minutes of training steps",
                     max_minutes, where, minutes)
    ctx.tracker.set_tags(tags)
    ctx.tracker.log_metrics({"train_minutes": minutes})


def average_checkpoints(ctx, cfg, model, folder, history: dict, mode: str, valid, callbacks) -> None:
    """Set ``model``'s weights to the mean of the kept epochs' (see :mod:`seqpipe.train.averaging`); log which."""
    from seqpipe.train.averaging import average_into, best_epoch, epoch_file, window

    epochs_done = max((len(v) for v in history.values()), default=0)
    best = best_epoch(history.get(cfg.monitor, []), mode) if cfg.restore_best else None
    wanted = window(epochs_done, cfg.average_last, best)
    present = [e for e in wanted if epoch_file(folder, e).is_file()]
    if not present:
        ctx.log.warning("train.average_last: no kept epoch weights in %s; the model keeps its last weights", folder)
        return
    missing = sorted(set(wanted) - set(present))
    if missing:
        ctx.log.warning("train.average_last: the weights of epoch(s) %s are missing; averaging the others",
                        ", ".join(map(str, missing)))
    average_into(model, [epoch_file(folder, e) for e in present])
    which = (f"the {len(present)} ending at the best epoch {best} by {cfg.monitor}" if best is not None
             else f"the last {len(present)}")
    ctx.log.info("averaged the weights of epochs %s (%s)", ", ".join(map(str, present)), which)
    ctx.tracker.set_tags({"seqpipe.averaged_epochs": ",".join(map(str, present))})
    metrics = {"averaged_epochs": len(present), "averaged_last_epoch": present[-1]}
    if best is not None:
        metrics["best_epoch"] = best
    if valid is not None:  # the averaged model on the validation split, beside the epochs' own val_* curves
        scores = model.evaluate(valid, verbose=0, return_dict=True, callbacks=list(callbacks))
        metrics.update({f"averaged_val_{k}": float(v) for k, v in scores.items()})
        ctx.log.info("averaged model: %s", ", ".join(f"val_{k}={float(v):.4f}" for k, v in scores.items()))
    ctx.tracker.log_metrics(metrics)

