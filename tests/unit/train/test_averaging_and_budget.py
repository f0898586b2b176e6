"""Checkpoint averaging (train.average_last), the training-time budget (train.max_minutes) and exact resumes."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from seqpipe.train.averaging import averaged_variables, best_epoch, load_arrays, window


class Recorded(keras.callbacks.Callback):
    """The averaged weights at the end of every epoch, kept by the test itself; optionally a fixed val_loss."""

    def __init__(self, val_loss=None):
        super().__init__()
        self.weights, self.val_loss = {}, val_loss

    def on_epoch_end(self, epoch, logs=None):
        if self.val_loss is not None:
            logs["val_loss"] = self.val_loss[epoch]
        self.weights[epoch + 1] = [np.array(keras.ops.convert_to_numpy(v)) for v in averaged_variables(self.model)]


def fit(tmp_path, context, cfg, toy, first=(), resume=False, model=None):
    from seqpipe.train.fit import fit_model, make_optimizer

    model = model or toy.model()
    train, valid = toy.data()
    model.compile(make_optimizer(cfg.optimizer), "mse")
    ctx = context(tmp_path, resume=resume)
    fit_model(ctx, cfg, model, train, valid, list(first))
    return model, ctx


def current(model):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in averaged_variables(model)]


def test_the_window_ends_at_the_best_epoch_or_the_last():
    assert window(7, 3) == [5, 6, 7] and window(7, 3, best=4) == [2, 3, 4] and window(7, 3, best=1) == [1]
    assert best_epoch([3.0, 1.0, 1.0, 2.0], "min") == 2 and best_epoch([0.1, 0.5, 0.5], "max") == 2
    assert best_epoch([], "min") is None


def test_the_averaged_weights_are_the_mean_of_the_last_epochs(tmp_path, context, config, toy):
    recorded = Recorded()
    model, ctx = fit(tmp_path, context, config(epochs=5, average_last=3, restore_best=False), toy, [recorded])
    kept = sorted(p.name for p in (tmp_path / "checkpoints" / "epochs").iterdir())
    assert kept == ["epoch_0003.npz", "epoch_0004.npz", "epoch_0005.npz"]  # older epochs are dropped as it goes
    for e in (3, 4, 5):  # the saved files are the epochs' weights
        for saved, seen in zip(load_arrays(tmp_path / "checkpoints" / "epochs" / f"epoch_{e:04d}.npz"),
                               recorded.weights[e]):
            np.testing.assert_array_equal(saved, seen)
    for got, *epochs in zip(current(model), recorded.weights[3], recorded.weights[4], recorded.weights[5]):
        np.testing.assert_allclose(got, np.mean(epochs, axis=0), rtol=1e-6, atol=1e-7)
    assert not all(np.array_equal(a, b) for a, b in zip(current(model), recorded.weights[5]))
    assert "averaged the weights of epochs 3, 4, 5 (the last 3)" in ctx.lines
    assert ctx.tracker.tags["seqpipe.averaged_epochs"] == "3,4,5"
    assert {"averaged_epochs", "averaged_val_loss"} <= set(ctx.tracker.metrics[-1][1])


def test_with_restore_best_the_window_ends_at_the_best_epoch(tmp_path, context, config, toy):
    recorded = Recorded(val_loss=[5.0, 4.0, 1.0, 3.0, 2.0])  # best: epoch 3
    model, ctx = fit(tmp_path, context, config(epochs=5, average_last=2, restore_best=True), toy, [recorded])
    kept = sorted(p.name for p in (tmp_path / "checkpoints" / "epochs").iterdir())
    assert kept == ["epoch_0002.npz", "epoch_0003.npz", "epoch_0004.npz", "epoch_0005.npz"]  # best 2 + last 2
    for got, a, b in zip(current(model), recorded.weights[2], recorded.weights[3]):
        np.testing.assert_allclose(got, (a.astype(np.float64) + b) / 2, rtol=1e-6, atol=1e-7)
    assert "averaged the weights of epochs 2, 3 (the 2 ending at the best epoch 3 by val_loss)" in ctx.lines
    assert ctx.tracker.last("best_epoch") == 3


class FakeClock:
    """Every call is one second later: each training step (begin to end) lasts exactly one second."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


def test_the_budget_stops_after_the_batch_that_spends_it_and_a_resume_needs_a_bigger_one(
        tmp_path, context, config, toy, monkeypatch):
    from seqpipe.train.checkpoints import TrainingClock

    monkeypatch.setattr(TrainingClock, "clock", staticmethod(FakeClock()))
    cfg = config(epochs=4, max_minutes=5 / 60, checkpoint_every=4)  # 5 "seconds"; 12 batches per epoch
    model, ctx = fit(tmp_path, context, cfg, toy)
    state = json.loads((tmp_path / "checkpoints" / "last.json").read_text())
    # the first step of a session compiles the graph and is not counted: steps 2..6 spend the 5 seconds
    assert (state["completed"], state["stopped_by"], state["epoch"], state["last_epoch_batches"]) == (
        True, "max_minutes", 1, 6)
    assert state["train_seconds"] == pytest.approx(5.0) and len(state["history"]["loss"]) == 1  # the short epoch
    assert ctx.tracker.tags == {"seqpipe.stopped_by": "max_minutes", "seqpipe.stopped_at": "epoch 1, step 6 of 12"}
    assert ctx.tracker.last("train_minutes") == pytest.approx(5 / 60)
    assert "training stopped by train.max_minutes (0.0833333) at epoch 1, step 6 of 12, after 0.08 minutes of " \
           "training steps" in ctx.lines

    weights = current(model)
    same, ctx = fit(tmp_path, context, cfg, toy, resume=True)  # the same budget: nothing to fit
    assert "training is complete in the checkpoint (1 epochs): nothing to fit (stopped by max_minutes)" in ctx.lines
    for a, b in zip(current(same), weights):
        np.testing.assert_array_equal(a, b)

    more = cfg.model_copy(update={"max_minutes": 10 / 60})  # a bigger budget: 5 more seconds, from epoch 2
    _, ctx = fit(tmp_path, context, more, toy, resume=True)
    state = json.loads((tmp_path / "checkpoints" / "last.json").read_text())
    assert (state["stopped_by"], state["epoch"], state["last_epoch_batches"]) == ("max_minutes", 2, 6)
    assert state["train_seconds"] == pytest.approx(10.0) and len(state["history"]["loss"]) == 2

    unlimited = cfg.model_copy(update={"max_minutes": None})  # no budget: the remaining epochs
    _, ctx = fit(tmp_path, context, unlimited, toy, resume=True)
    state = json.loads((tmp_path / "checkpoints" / "last.json").read_text())
    assert (state["stopped_by"], state["epoch"], len(state["history"]["loss"])) == ("epochs", 4, 4)


@pytest.mark.parametrize("settings, epochs", [
    ({"optimizer": {"learning_rate": 0.02, "schedule": {"kind": "warmup_cosine", "warmup_steps": 7, "min_lr": 0.1}},
      "average_last": 2}, 7),
    ({"optimizer": {"learning_rate": 0.05, "schedule": {"kind": "reduce_on_plateau", "patience": 1, "factor": 0.5}},
      "early_stopping": {"patience": 2}, "monitor": "val_loss"}, 6),
], ids=["cosine-averaged", "plateau-early-stopping"])
def test_an_interrupted_run_resumes_to_the_uninterrupted_weights(tmp_path, context, config, toy, monkeypatch, settings,
                                                                 epochs):
    """Stopped mid-epoch (a stop request, as Ctrl-C/SIGTERM make) and resumed: the same weights, rates and history."""
    from seqpipe.pipeline import signals
    from seqpipe.pipeline.signals import Interrupted
    from seqpipe.train.checkpoints import Checkpointer

    # plateaus, so the plateau callback cuts and early stopping counts across the interruption (in epoch 4): it stops
    # after epoch 6 only if the counters of epoch 4, finished by the resumed run's first fit call, reach the second
    val = [3.0, 2.0, 2.5, 1.0, 1.5, 1.5, 1.5]

    cfg = config(epochs=7, checkpoint_every=5, **settings)
    whole, _ = fit(tmp_path / "whole", context, cfg, toy, [Recorded(val)])

    original = Checkpointer.on_train_batch_end

    def stop_in_epoch_4(self, batch, logs=None):
        if self.epoch == 3 and self.batch == 6:
            signals._state["requested"] = "SIGTERM"
        return original(self, batch, logs)

    monkeypatch.setattr(Checkpointer, "on_train_batch_end", stop_in_epoch_4)
    with pytest.raises(Interrupted):
        fit(tmp_path / "cut", context, cfg, toy, [Recorded(val)])
    monkeypatch.setattr(Checkpointer, "on_train_batch_end", original)
    signals._state.update(defer=False, requested=None)
    state = json.loads((tmp_path / "cut" / "checkpoints" / "last.json").read_text())
    assert (state["epoch"], state["batch"], state["completed"]) == (3, 7, False)
    resumed, _ = fit(tmp_path / "cut", context, cfg, toy, [Recorded(val)], resume=True, model=toy.model(seed=1))
    for a, b in zip(current(resumed), current(whole)):
        np.testing.assert_array_equal(a, b)
    whole_history, cut_history = (json.loads((tmp_path / d / "checkpoints" / "last.json").read_text())["history"]
                                  for d in ("whole", "cut"))
    assert "learning_rate" in whole_history and whole_history.keys() == cut_history.keys()
    for key in whole_history:  # the interrupted epoch's training loss averages only the batches after the resume
        skip = [3] if key == "loss" else []
        assert [v for i, v in enumerate(whole_history[key]) if i not in skip] == \
               [v for i, v in enumerate(cut_history[key]) if i not in skip], key
    assert len(whole_history["loss"]) == epochs
    if "early_stopping" in settings:
        assert whole_history["learning_rate"] == pytest.approx([0.05, 0.05, 0.05, 0.025, 0.025, 0.0125])


def rates(ctx):
    """The learning rate logged at every epoch's end."""
    return [m["learning_rate"] for step, m in ctx.tracker.metrics if step is not None and "learning_rate" in m]


def test_a_decaying_schedule_ends_at_the_budget_when_the_budget_runs_out_first(tmp_path, context, config, toy,
                                                                              monkeypatch):
    from seqpipe.train.checkpoints import TrainingClock

    monkeypatch.setattr(TrainingClock, "clock", staticmethod(FakeClock()))
    schedule = {"kind": "warmup_cosine", "warmup_steps": 0, "min_lr": 0.0}
    cfg = config(epochs=2, max_minutes=12 / 60, restore_best=False,  # 24 steps, 12 "seconds": the budget ends first
                 optimizer={"name": "sgd", "learning_rate": 0.1, "schedule": schedule})
    _, ctx = fit(tmp_path, context, cfg, toy)
    # epoch 1: 12 steps, the first not counted: 11 of the 12 seconds spent, more than the 12 of 24 steps done
    assert rates(ctx) == pytest.approx([0.1 * 0.5 * (1 + np.cos(np.pi * 11 / 12)), 0.0], abs=1e-7)
    # (epoch 2 spends the rest in its first step)
    unlimited = config(epochs=2, restore_best=False, optimizer={"name": "sgd", "learning_rate": 0.1,
                                                                "schedule": schedule})
    _, ctx = fit(tmp_path / "steps", context, unlimited, toy)  # no budget: by the steps alone
    assert rates(ctx) == pytest.approx([0.1 * 0.5 * (1 + np.cos(np.pi * 12 / 24)), 0.0], abs=1e-7)


def test_the_training_step_reads_the_budget_share_live(config, toy):
    """The share is a variable read inside the compiled step: spent budget -> rate min_lr (0 here) -> no update."""
    from seqpipe.train.checkpoints import TrainingClock
    from seqpipe.train.fit import make_optimizer
    from seqpipe.train.schedules import bind_budget, bind_total_steps

    cfg = config(optimizer={"name": "sgd", "learning_rate": 0.1,
                            "schedule": {"kind": "warmup_cosine", "min_lr": 0.0}})
    model = toy.model(dropout=0.0)
    model.compile(make_optimizer(cfg.optimizer), "mse")
    bind_total_steps(model.optimizer, 100, 10, None)
    clock = TrainingClock(0.0, 10.0)
    bind_budget(model.optimizer, clock)
    x, y = np.ones((4, 4), "float32"), np.zeros((4, 1), "float32")
    model.train_on_batch(x, y)  # traces and compiles the step with the share at 0
    before = current(model)
    clock.seconds = 10.0
    clock.publish()
    model.train_on_batch(x, y)
    for a, b in zip(current(model), before):
        np.testing.assert_array_equal(a, b)
    clock.seconds = 5.0
    clock.publish()
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)  # half the cosine: 0.1 x (1 + cos(pi/2)) / 2
    model.train_on_batch(x, y)
    assert any(not np.array_equal(a, b) for a, b in zip(current(model), before))
