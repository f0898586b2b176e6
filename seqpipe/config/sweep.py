"""The ``sweep:`` section of a pipeline: which settings a sweep tries (read by :mod:`seqpipe.sweep`)."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from seqpipe.errors import SeqpipeError
from seqpipe.schema import Schema


class Distribution(Schema):
    """A range to sample from (random and tpe searches): exactly one of the keys."""

    uniform: tuple[float, float] | None = Field(None, description="a float drawn uniformly from [low, high]")
    log_uniform: tuple[float, float] | None = Field(None, description="a float whose log is uniform in "
                                                                      "[log low, log high] (learning rates)")
    int_uniform: tuple[int, int] | None = Field(None, description="an integer drawn uniformly from low..high")

    @model_validator(mode="after")
    def _one(self) -> Distribution:
        given = [k for k in ("uniform", "log_uniform", "int_uniform") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of uniform, log_uniform, int_uniform")
        low, high = getattr(self, given[0])
        if not low < high:
            raise ValueError(f"{given[0]}: the low end must be below the high end; got [{low}, {high}]")
        if given[0] == "log_uniform" and low <= 0:
            raise ValueError(f"log_uniform needs a positive low end; got {low}")
        return self

    def draw(self, rng) -> float | int:
        if self.uniform is not None:
            return float(rng.uniform(*self.uniform))
        if self.log_uniform is not None:
            low, high = self.log_uniform
            return float(math.exp(rng.uniform(math.log(low), math.log(high))))
        low, high = self.int_uniform
        return int(rng.integers(low, high + 1))


class PrunerConfig(Schema):
    """Stops a trial of a tpe search early from its per-epoch validation metric (Optuna's pruners)."""

    kind: Literal["none", "median"] = Field("none", description="median: stop a trial whose metric at an epoch is "
                                                                "worse than the median of earlier trials' at that "
                                                                "epoch (Optuna MedianPruner); none: never")
    warmup_epochs: int = Field(0, ge=0, description="median: epochs of each trial that are never pruned")
    startup_trials: int = Field(5, ge=0, description="median: trials that finish before any is pruned")

    @model_validator(mode="after")
    def _median_keys(self) -> PrunerConfig:
        fields = type(self).model_fields
        extra = [k for k in fields if k != "kind" and getattr(self, k) != fields[k].default]  # a rendered config
        if self.kind == "none" and extra:  # repeats the defaults: those pass
            raise ValueError(f"{', '.join(extra)}: only with kind: median")
        return self


class SweepConfig(Schema):
    """A family of runs of this pipeline, run by ``seqpipe sweep`` (``seqpipe run`` ignores this section)."""

    method: Literal["grid", "random", "tpe"] = Field(
        "grid", description="grid: every combination of the listed values; random: `trials` draws; tpe: `trials` "
                            "trials chosen by Optuna's TPE sampler from the results so far")
    trials: int | None = Field(None, ge=1, description="random, tpe: how many trials; grid: at most this many "
                                                       "(the first)")
    pruner: PrunerConfig = Field(default_factory=PrunerConfig, description="tpe: stop unpromising trials early")
    storage: str | None = Field(None, min_length=1,
                                description="tpe: the Optuna study's database (an SQLAlchemy URL such as "
                                            "sqlite:///optuna.db, or a file path); default: optuna.db beside a "
                                            "sqlite MLflow store, else in the working directory")
    metric: str | None = Field(None, description="the metric that ranks trials (a final metric such as test_bleu, "
                                                 "or an epoch metric such as val_bleu: its best epoch); "
                                                 "default: stages.train.monitor")
    params: dict[str, Annotated[list[Any], Field(min_length=1)] | Distribution] = Field(
        default_factory=dict, description="key path (as for -o) -> the values to try, or a range to sample "
                                          "({uniform | log_uniform | int_uniform: [low, high]})")
    parallel: int = Field(1, ge=1, description="trials run at the same time (separate processes)")
    seed: int | None = Field(None, description="random, tpe: the sampling seed; default: the pipeline's seed")
    baseline: float | None = Field(None, description="a reference value of the metric drawn in the sweep plot "
                                                     "(e.g. what always predicting the mean scores)")
    baseline_label: str = Field("baseline", min_length=1, description="its legend text")

    @model_validator(mode="after")
    def _search_keys(self) -> SweepConfig:
        if self.method != "tpe" and self.pruner.kind != "none":
            raise ValueError("pruner: needs method: tpe")
        if self.method != "tpe" and self.storage is not None:
            raise ValueError("storage: only with method: tpe")
        return self

    @field_validator("params")
    @classmethod
    def _paths(cls, params: dict) -> dict:
        for key in params:
            if not key or key.startswith(".") or key.endswith(".") or "=" in key:
                raise ValueError(f"'{key}' is not a key path such as encode.units or train.optimizer.learning_rate")
        return params


@dataclass
class Trial:
    number: int
    settings: dict[str, Any]

    def overrides(self) -> list[str]:
        return [f"{key}={json.dumps(value)}" for key, value in self.settings.items()]

    def label(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.settings.items())


def make_trials(spec: SweepConfig, seed: int) -> list[Trial]:
    """The trials of ``spec``: the grid's combinations in order, or ``trials`` seeded random draws."""
    import numpy as np

    keys = list(spec.params)
    if spec.method == "grid":
        ranged = [k for k in keys if isinstance(spec.params[k], Distribution)]
        if ranged:
            raise SeqpipeError(f"sweep.params.{ranged[0]}: a grid takes a list of values; a range needs method: "
                               "random or tpe")
        combos = list(itertools.product(*(spec.params[k] for k in keys))) if keys else [()]
        combos = combos[: spec.trials] if spec.trials else combos
        return [Trial(i + 1, dict(zip(keys, combo))) for i, combo in enumerate(combos)]
    if spec.trials is None:
        raise SeqpipeError(f"sweep.trials: method {spec.method} needs the number of trials")
    if spec.method == "tpe":
        return []  # chosen one by one as results come in (seqpipe.sweep_optuna)
    rng = np.random.default_rng(spec.seed if spec.seed is not None else seed)
    trials = []
    for i in range(spec.trials):
        settings = {}
        for key in keys:
            values = spec.params[key]
            if isinstance(values, Distribution):
                settings[key] = values.draw(rng)
            else:
                settings[key] = values[int(rng.integers(len(values)))]
        trials.append(Trial(i + 1, settings))
    return trials
