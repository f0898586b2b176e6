"""The callback that drives scheduled sampling (Bengio et al. 2015) in an :class:`AttentionDecoder`.

The ratio eps_i of gold previous tokens fed to the decoder follows a schedule of i, the number of training
steps (optimizer updates) done so far, counted across epochs as in the paper. Before every training batch
the callback reads the optimizer's step count (restored with the optimizer when a run resumes), sets the
decoder's ratio and step variables, and after every epoch adds ``teacher_forcing_ratio`` (the ratio of the
epoch's last step) to the epoch's logs, so the tracker, the history CSV and the curves record it.
"""

from __future__ import annotations

from typing import Callable

import keras


class TeacherForcingSchedule(keras.callbacks.Callback):
    """Set the teacher-forcing ratio of ``decoder`` (an AttentionDecoder) before every training batch.

    ``schedule`` is a :class:`seqpipe.tasks.keys.RatioSchedule` (or any callable ``step -> ratio``); ``seed``
    seeds the decoder's random draws. Put it among the callbacks that run before the tracker.
    """

    def __init__(self, decoder, schedule, seed: int = 0):
        super().__init__()
        ratio: Callable[[int], float] = schedule.ratio if hasattr(schedule, "ratio") else schedule
        self.ratio_at = ratio
        prediction = getattr(schedule, "prediction", "sample")
        self.state = decoder.scheduled_sampling(prediction, seed)
        self.current = self.ratio_at(0)

    def on_train_batch_begin(self, batch, logs=None):
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self.current = self.ratio_at(step)
        self.state.set(step, self.current)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["teacher_forcing_ratio"] = float(self.current)


def scheduled_sampling_callbacks(ctx, cfg, decoder) -> list[keras.callbacks.Callback]:
    """The training callbacks for ``train.scheduled_sampling`` of a decoder task: none when it is off."""
    if cfg.scheduled_sampling is None:
        return []
    ctx.log.info("scheduled sampling: %s", cfg.scheduled_sampling.model_dump())
    return [TeacherForcingSchedule(decoder, cfg.scheduled_sampling, seed=ctx.config.seed)]
