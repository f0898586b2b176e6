"""Reporting a sweep trial's epochs to its Optuna study, and stopping the trial when the pruner says so.

``seqpipe sweep`` (``method: tpe`` with a pruner) starts each trial as ``seqpipe run`` with the environment
variable :data:`TRIAL_ENV` set to ``{"storage": URL, "study": NAME, "trial_id": ID, "metric": NAME, "median":
{MedianPruner's arguments}}`` (Optuna keeps no pruner in its storage). Training then
reports the metric's value at the end of every epoch (``trial.report(value, epoch)``) and, when Optuna's
pruner answers ``should_prune``, raises :class:`seqpipe.errors.TrialPruned`: the run stops right after that
epoch, without evaluating or exporting (a pruned trial is not a result; its curves and checkpoints stay in
its run folder), and is recorded as KILLED with the tag ``seqpipe.sweep.pruned=true``. Without the variable
nothing happens (and Optuna is not imported).
"""

from __future__ import annotations

import json
import math
import os

from seqpipe.errors import TrialPruned

TRIAL_ENV = "SEQPIPE_SWEEP_TRIAL"


def _callback(trial, metric: str, log):
    """A Keras callback that reports ``metric`` after each epoch to an Optuna trial and raises
    :class:`TrialPruned` when it should stop (Keras is imported here: the sweep process imports this module)."""
    import keras

    class PruningCallback(keras.callbacks.Callback):
        warned = False

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(metric)
            if value is None or not math.isfinite(float(value)):
                if not self.warned:
                    log.warning("sweep pruning: no finite %s in epoch %d's logs; the epoch is not reported",
                                metric, epoch + 1)
                    self.warned = True
                return
            trial.report(float(value), epoch)
            if trial.should_prune():
                log.info("sweep pruning: stopped after epoch %d (%s %.4f)", epoch + 1, metric, float(value))
                raise TrialPruned(epoch + 1, metric, float(value))

    return PruningCallback()


def pruning_callbacks(log) -> list:
    """The callback for this process's sweep trial (see :data:`TRIAL_ENV`), or none."""
    spec = os.environ.get(TRIAL_ENV)
    if not spec:
        return []
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = json.loads(spec)
    kwargs = {"connect_args": {"timeout": 60}} if spec["storage"].startswith("sqlite") else {}
    storage = optuna.storages.RDBStorage(spec["storage"], engine_kwargs=kwargs)
    study = optuna.load_study(study_name=spec["study"], storage=storage,
                              pruner=optuna.pruners.MedianPruner(**spec["median"]))
    return [_callback(optuna.trial.Trial(study, spec["trial_id"]), spec["metric"], log)]
