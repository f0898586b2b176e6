"""The sweep section's search keys: random draws, the tpe method's distributions, pruner and storage."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from seqpipe.config.sweep import SweepConfig, make_trials


def test_random_draws_are_the_seeded_draws_of_each_distribution():
    spec = SweepConfig.model_validate({"method": "random", "trials": 4, "seed": 7, "params": {
        "encode.cell": ["lstm", "gru", "rnn"], "encode.units": {"int_uniform": [4, 9]},
        "encode.dropout": {"uniform": [0.1, 0.3]}, "train.optimizer.learning_rate": {"log_uniform": [1e-4, 1e-1]}}})
    trials = make_trials(spec, seed=99)  # sweep.seed wins over the pipeline's
    rng = np.random.default_rng(7)
    expected = []
    for _ in range(4):
        expected.append({"encode.cell": ["lstm", "gru", "rnn"][int(rng.integers(3))],
                         "encode.units": int(rng.integers(4, 10)),
                         "encode.dropout": float(rng.uniform(0.1, 0.3)),
                         "train.optimizer.learning_rate": float(math.exp(rng.uniform(math.log(1e-4),
                                                                                     math.log(1e-1))))})
    assert [t.settings for t in trials] == expected and [t.number for t in trials] == [1, 2, 3, 4]
    for t in trials:
        assert 4 <= t.settings["encode.units"] <= 9 and isinstance(t.settings["encode.units"], int)
        assert 0.1 <= t.settings["encode.dropout"] <= 0.3
        assert 1e-4 <= t.settings["train.optimizer.learning_rate"] <= 1e-1
    assert [t.settings for t in make_trials(spec.model_copy(update={"seed": None}), seed=7)] == expected



def test_many_random_draws_stay_in_bounds_cover_them_and_log_uniform_is_uniform_in_log_space():
    params = {"encode.cell": ["lstm", "gru", "rnn"], "encode.units": {"int_uniform": [4, 9]},
              "encode.dropout": {"uniform": [0.1, 0.3]}, "train.optimizer.learning_rate": {"log_uniform": [1e-4, 1e-1]}}
    spec = SweepConfig.model_validate({"method": "random", "trials": 2000, "seed": 11, "params": params})
    trials = make_trials(spec, seed=0)
    assert len(trials) == 2000 and [t.number for t in trials] == list(range(1, 2001))
    assert [t.settings for t in make_trials(spec, seed=0)] == [t.settings for t in trials]  # reproducible
    other = make_trials(spec.model_copy(update={"seed": 12}), seed=0)
    assert sum(a.settings == b.settings for a, b in zip(trials, other)) == 0  # another seed, other draws

    cells = [t.settings["encode.cell"] for t in trials]
    units = np.array([t.settings["encode.units"] for t in trials])
    dropout = np.array([t.settings["encode.dropout"] for t in trials])
    rate = np.array([t.settings["train.optimizer.learning_rate"] for t in trials])
    assert all(isinstance(u, int) for u in units.tolist()) and set(units.tolist()) == set(range(4, 10))
    assert set(cells) == {"lstm", "gru", "rnn"} and min(cells.count(c) for c in set(cells)) > 2000 / 3 * 0.85
    assert np.all((dropout >= 0.1) & (dropout <= 0.3)) and np.all((rate >= 1e-4) & (rate <= 1e-1))
    # uniform in log space: each decade [1e-4, 1e-3), [1e-3, 1e-2), [1e-2, 1e-1] holds about a third of the
    # draws (uniform in the rate itself would put ~90% in the last), and the log's mean and spread are those
    # of U(log 1e-4, log 1e-1): mean -5.76, sd 6.91 / sqrt(12) = 1.99
    decades = np.histogram(np.log10(rate), bins=[-4, -3, -2, -1])[0]
    assert np.all(np.abs(decades / 2000 - 1 / 3) < 0.04), decades
    logs = np.log(rate)
    assert abs(logs.mean() - (math.log(1e-4) + math.log(1e-1)) / 2) < 0.15
    assert abs(logs.std() - (math.log(1e-1) - math.log(1e-4)) / math.sqrt(12)) < 0.1
    assert abs(dropout.mean() - 0.2) < 0.005 and abs(units.mean() - 6.5) < 0.15


@pytest.mark.parametrize("data, message", [
    ({"method": "grid", "pruner": {"kind": "median"}, "params": {"a.b": [1]}}, "pruner: needs method: tpe"),
    ({"method": "random", "trials": 2, "storage": "x.db", "params": {"a.b": [1]}}, "storage: only with method: tpe"),
    ({"method": "tpe", "trials": 2, "pruner": {"warmup_epochs": 2}, "params": {"a.b": [1]}},
     "warmup_epochs: only with kind: median"),
    ({"method": "tpe", "trials": 2, "pruner": {"kind": "median", "startup_trials": -1}, "params": {"a.b": [1]}},
     "greater than or equal to 0"),
    ({"method": "tpe", "trials": 2, "pruner": {"kind": "hyperband"}, "params": {"a.b": [1]}}, "'none' or 'median'"),
])
def test_search_keys_are_refused_where_they_would_do_nothing(data, message):
    with pytest.raises(ValidationError, match=message):
        SweepConfig.model_validate(data)


def test_tpe_needs_a_budget_and_chooses_its_trials_itself():
    from seqpipe.errors import SeqpipeError

    with pytest.raises(SeqpipeError, match="method tpe needs the number of trials"):
        make_trials(SweepConfig.model_validate({"method": "tpe", "params": {"a.b": [1]}}), seed=1)
    assert make_trials(SweepConfig.model_validate({"method": "tpe", "trials": 3, "params": {"a.b": [1]}}), 1) == []


def _tpe(pruner=None, **params):
    return SweepConfig.model_validate({"method": "tpe", "trials": 4, "params": params,
                                       **({"pruner": pruner} if pruner else {})})


def test_the_pruner_settings_reach_optunas_median_pruner_here_and_in_the_trial():
    import optuna

    from seqpipe import sweep_optuna

    spec = _tpe({"kind": "median", "warmup_epochs": 3, "startup_trials": 2}, **{"a.b": [1, 2]})
    pruner = sweep_optuna._pruner(spec)
    assert isinstance(pruner, optuna.pruners.MedianPruner)
    assert (pruner._n_warmup_steps, pruner._n_startup_trials) == (3, 2)
    assert isinstance(sweep_optuna._pruner(_tpe(**{"a.b": [1]})), optuna.pruners.NopPruner)
    study = optuna.create_study()
    trial = study.ask()
    (name, value), = sweep_optuna.child_env(spec, "sqlite:////tmp/o.db", study, trial, "test_accuracy").items()
    assert json.loads(value) == {"storage": "sqlite:////tmp/o.db", "study": study.study_name,
                                 "trial_id": trial._trial_id, "metric": "val_accuracy",
                                 "median": {"n_startup_trials": 2, "n_warmup_steps": 3}}
    assert sweep_optuna.child_env(_tpe(**{"a.b": [1]}), "x", study, trial, "val_loss") == {}  # no pruner: no report


def test_the_tpe_distributions_map_to_optuna_suggestions():
    import optuna

    from seqpipe import sweep_optuna

    spec = _tpe(**{"encode.units": {"int_uniform": [4, 9]}, "encode.dropout": {"uniform": [0.1, 0.3]},
                   "train.optimizer.learning_rate": {"log_uniform": [1e-4, 1e-1]}, "encode.cell": ["lstm", "gru"],
                   "train.optimizer": [{"name": "sgd", "learning_rate": 0.1}, {"name": "adam"}]})
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=3))
    trial, chosen = sweep_optuna.ask(study, spec)
    assert chosen.number == trial.number + 1 == 1
    d = trial.distributions
    assert d["encode.units"] == optuna.distributions.IntDistribution(4, 9)
    assert d["encode.dropout"] == optuna.distributions.FloatDistribution(0.1, 0.3)
    assert d["train.optimizer.learning_rate"] == optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
    assert d["encode.cell"] == optuna.distributions.CategoricalDistribution(["lstm", "gru"])
    assert chosen.settings["train.optimizer"] in spec.params["train.optimizer"]  # mappings go through JSON text
    assert chosen.settings["encode.cell"] in ("lstm", "gru") and isinstance(chosen.settings["encode.units"], int)


def test_the_study_is_stored_beside_a_sqlite_mlflow_store_by_default(tmp_path, monkeypatch):
    from seqpipe.sweep_optuna import storage_url

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    spec = _tpe(**{"a.b": [1]})
    assert storage_url(spec, None) == f"sqlite:///{(tmp_path / 'optuna.db').resolve().as_posix()}"
    assert storage_url(spec, f"sqlite:///{tmp_path}/store/m.db") == \
        f"sqlite:///{(tmp_path / 'store' / 'optuna.db').resolve().as_posix()}"
    assert storage_url(spec, "http://127.0.0.1:5000") == f"sqlite:///{(tmp_path / 'optuna.db').resolve().as_posix()}"
    spec.storage = "s/x.db"
    assert storage_url(spec, None) == f"sqlite:///{(tmp_path / 's' / 'x.db').resolve().as_posix()}"
    spec.storage = "postgresql://db/optuna"
    assert storage_url(spec, None) == "postgresql://db/optuna"
