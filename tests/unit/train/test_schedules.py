"""Learning-rate schedules: the formulas, serialisation, fit-time total steps, the per-epoch log, the plateau cut."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from seqpipe.errors import SeqpipeError
from seqpipe.train.schedules import (
    WarmupConstant,
    WarmupCosine,
    WarmupInverseSqrt,
    WarmupLinear,
    bind_total_steps,
    schedule_of,
)


def rates(schedule, steps):
    return np.array([float(schedule(step)) for step in range(steps)])


def expected(kind, lr, w, total, m, steps):
    """The module docstring's formulas, in plain Python (s is the 1-based update number)."""
    out = []
    for s in range(1, steps + 1):
        warm = min(s / w, 1.0) if w else 1.0
        p = min(max((s - w) / (total - w), 0.0), 1.0) if total else 0.0
        decay = {"constant": 1.0, "warmup_inverse_sqrt": math.sqrt(max(w, 1) / max(s, max(w, 1))),
                 "warmup_cosine": m + (1 - m) * 0.5 * (1 + math.cos(math.pi * p)),
                 "warmup_linear": 1 - (1 - m) * p}[kind]
        out.append(lr * warm * decay)
    return np.array(out)


@pytest.mark.parametrize("cls, w, m", [(WarmupConstant, 3, 0.0), (WarmupInverseSqrt, 4, 0.0),
                                       (WarmupInverseSqrt, 0, 0.0), (WarmupCosine, 5, 0.1), (WarmupCosine, 0, 0.0),
                                       (WarmupLinear, 2, 0.25)])
def test_the_rate_follows_the_formula_and_survives_serialisation(cls, w, m):
    schedule = cls(0.01, warmup_steps=w, total_steps=20, min_lr=m)
    np.testing.assert_allclose(rates(schedule, 25), expected(cls.kind, 0.01, w, 20, m, 25), rtol=1e-5)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert type(again) is cls and again.get_config() == schedule.get_config()
    np.testing.assert_array_equal(rates(again, 25), rates(schedule, 25))


def test_warmup_peaks_at_the_learning_rate_and_decays_reach_min_lr_at_the_last_step():
    cosine = rates(WarmupCosine(0.1, 4, 12, 0.2), 14)
    assert cosine[0] == pytest.approx(0.025) and cosine[3] == pytest.approx(0.1)  # step 4 of 4: the peak
    assert cosine[11] == pytest.approx(0.02) and cosine[13] == pytest.approx(0.02)  # step 12 of 12, and after
    assert np.all(np.diff(cosine[3:12]) < 0)
    linear = rates(WarmupLinear(0.1, 0, 10, 0.0), 10)
    assert linear[-1] == pytest.approx(0.0, abs=1e-9) and linear[0] == pytest.approx(0.09)
    inverse = rates(WarmupInverseSqrt(0.1, 4), 16)
    assert inverse[3] == pytest.approx(0.1) and inverse[15] == pytest.approx(0.05)  # sqrt(4 / 16)


def test_fit_time_binds_the_total_steps_and_refuses_a_warmup_that_fills_them(config):
    from seqpipe.train.fit import make_optimizer

    cfg = config(optimizer={"learning_rate": 0.01, "schedule": {"kind": "warmup_cosine", "warmup_steps": 30}})
    optimizer = make_optimizer(cfg.optimizer)
    assert schedule_of(optimizer).total_steps is None
    bind_total_steps(optimizer, 3, 12, log=None)
    assert schedule_of(optimizer).total_steps == 36
    with pytest.raises(SeqpipeError) as err:
        bind_total_steps(optimizer, 2, 12, log=_Log())
    assert str(err.value) == ("train.optimizer.schedule.warmup_steps (30) leaves nothing to decay: training has 24 "
                              "steps (2 epochs x 12 batches); lower warmup_steps or train longer")
    plain = make_optimizer(config().optimizer)
    assert schedule_of(plain) is None and float(plain.learning_rate) == pytest.approx(1e-3)
    plateau = make_optimizer(config(optimizer={"schedule": {"kind": "reduce_on_plateau"}}).optimizer)
    assert schedule_of(plateau) is None  # a plain rate variable, cut by the callback


class _Log:
    def __init__(self):
        self.lines = []

    def info(self, msg, *args):
        self.lines.append(msg % args)

    warning = info


def test_fit_logs_the_rate_of_every_epochs_last_step(tmp_path, context, config, toy):
    from seqpipe.train.fit import fit_model, make_optimizer

    cfg = config(epochs=3, optimizer={"learning_rate": 0.02, "schedule": {"kind": "warmup_linear", "warmup_steps": 5,
                                                                          "min_lr": 0.1}})
    model, (train, valid) = toy.model(), toy.data()
    model.compile(make_optimizer(cfg.optimizer), "mse")
    ctx = context(tmp_path)
    _, history = fit_model(ctx, cfg, model, train, valid, [])
    total = 3 * train.steps
    want = expected("warmup_linear", 0.02, 5, total, 0.1, total)[[train.steps - 1, 2 * train.steps - 1, total - 1]]
    np.testing.assert_allclose(history["learning_rate"], want, rtol=1e-5)
    assert history["learning_rate"][-1] == pytest.approx(0.002)
    assert [m["learning_rate"] for step, m in ctx.tracker.metrics if step is not None] == history["learning_rate"]
    assert "learning_rate" in (tmp_path / "history.csv").read_text().splitlines()[0]


def test_no_schedule_logs_no_rate(tmp_path, context, config, toy):
    from seqpipe.train.fit import fit_model, make_optimizer

    cfg = config(epochs=1)
    model, (train, valid) = toy.model(), toy.data()
    model.compile(make_optimizer(cfg.optimizer), "mse")
    _, history = fit_model(context(tmp_path), cfg, model, train, valid, [])
    assert "learning_rate" not in history  # existing pipelines' history.csv and metrics are unchanged


def test_reduce_on_plateau_cuts_the_rate_and_its_counters_are_checkpointed(tmp_path, context, config, toy):
    import json

    from seqpipe.train.fit import fit_model, make_optimizer

    class Plateau(keras.callbacks.Callback):  # val_loss: better, then flat for good
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = [3.0, 2.0, 2.0, 2.0, 2.0, 2.0][epoch]

    cfg = config(epochs=6, optimizer={"learning_rate": 0.04, "schedule": {"kind": "reduce_on_plateau", "factor": 0.5,
                                                                          "patience": 2, "min_lr": 0.2}},
                 restore_best=False)
    model, (train, valid) = toy.model(), toy.data()
    model.compile(make_optimizer(cfg.optimizer), "mse")
    ctx = context(tmp_path)
    _, history = fit_model(ctx, cfg, model, train, valid, [Plateau()])
    # the rate each epoch trained with (logged before a cut): cuts after epochs 4 and 6
    np.testing.assert_allclose(history["learning_rate"], [0.04, 0.04, 0.04, 0.04, 0.02, 0.02], rtol=1e-6)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)  # cut again after epoch 6
    state = json.loads((tmp_path / "checkpoints" / "last.json").read_text())
    assert state["reduce_on_plateau"] == {"wait": 0, "best": 2.0, "cooldown_counter": 0}
    assert any("learning rate cut to 0.02" in line for line in ctx.lines)
