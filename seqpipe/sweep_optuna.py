"""The Optuna side of a ``method: tpe`` sweep: the study, its storage, asking for trials and telling results.

The study lives in an Optuna RDB storage (by default ``optuna.db`` beside a sqlite MLflow store, else in the
working directory; ``sweep.storage`` names another), named like the sweep's folder, with the MLflow parent
run's id and the sweep folder in its user attributes, so that ``seqpipe sweep --resume`` finds both. Each
trial runs in a child process (``seqpipe run``) that gets the study, the trial and the metric to report in
the environment variable :data:`seqpipe.train.pruning.TRIAL_ENV`; the child reports each epoch's value and
stops when the pruner says so (:mod:`seqpipe.train.pruning`). Only this process tells Optuna how a trial
ended (complete, pruned or failed).

Optuna is imported when a tpe sweep starts, never by importing :mod:`seqpipe.sweep`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seqpipe.config.sweep import Distribution, SweepConfig, Trial
from seqpipe.errors import SeqpipeError
from seqpipe.train.pruning import TRIAL_ENV

INTERRUPTED = "seqpipe_interrupted"  # user attribute of a trial that was running when its sweep was stopped


def _optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def storage_url(spec: SweepConfig, tracking_uri: str | None) -> str:
    """``sweep.storage`` as a URL, else ``optuna.db`` beside a sqlite MLflow store, else in the working directory."""
    from seqpipe.tracking.mlflow_tracker import resolve_tracking_uri, sqlite_path

    if spec.storage and "://" in spec.storage:
        return spec.storage
    if spec.storage:
        path = Path(spec.storage).expanduser().resolve()
    else:
        db = sqlite_path(resolve_tracking_uri(tracking_uri))
        path = (db.resolve().parent if db is not None else Path.cwd()) / "optuna.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.as_posix()}"


def _storage(url: str):
    optuna = _optuna()
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except Exception as exc:  # noqa: BLE001 -- a bad URL or an unreachable database is the user's to fix
        raise SeqpipeError(f"sweep.storage: cannot open the Optuna storage {url} ({type(exc).__name__}: "
                           f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None


def create_study(spec: SweepConfig, url: str, name: str, metric: str, seed: int, attrs: dict[str, str]):
    """A new study named ``name`` in ``url``, maximising or minimising ``metric`` (by its name)."""
    from seqpipe.metrics.direction import lower_is_better

    optuna = _optuna()
    study = optuna.create_study(storage=_storage(url), study_name=name, sampler=_sampler(spec, seed),
                                pruner=_pruner(spec), direction="minimize" if lower_is_better(metric) else "maximize")
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    return study


def load_study(spec: SweepConfig, url: str, name: str, seed: int):
    optuna = _optuna()
    try:
        return optuna.load_study(study_name=name, storage=_storage(url), sampler=_sampler(spec, seed),
                                 pruner=_pruner(spec))
    except KeyError:
        raise SeqpipeError(f"sweep --resume: the Optuna study '{name}' is not in {url}; resume with the "
                           "sweep.storage the sweep was started with") from None


def _sampler(spec: SweepConfig, seed: int):
    return _optuna().samplers.TPESampler(seed=spec.seed if spec.seed is not None else seed)


def _median(spec: SweepConfig) -> dict[str, int]:
    return {"n_startup_trials": spec.pruner.startup_trials, "n_warmup_steps": spec.pruner.warmup_epochs}


def _pruner(spec: SweepConfig):
    optuna = _optuna()
    return optuna.pruners.MedianPruner(**_median(spec)) if spec.pruner.kind == "median" else optuna.pruners.NopPruner()


def _choices(values: list) -> tuple[list, bool]:
    """Optuna's categorical choices for a list of values: the values, or their JSON text when one is not a scalar."""
    plain = all(v is None or isinstance(v, (bool, int, float, str)) for v in values)
    return (list(values), False) if plain else ([json.dumps(v, sort_keys=True) for v in values], True)


def ask(study, spec: SweepConfig) -> tuple[Any, Trial]:
    """A new Optuna trial and the settings it tries (its number is Optuna's plus one)."""
    trial = study.ask()
    settings = {}
    for key, values in spec.params.items():
        if isinstance(values, Distribution):
            if values.int_uniform is not None:
                settings[key] = trial.suggest_int(key, *values.int_uniform)
            elif values.log_uniform is not None:
                settings[key] = trial.suggest_float(key, *values.log_uniform, log=True)
            else:
                settings[key] = trial.suggest_float(key, *values.uniform)
        else:
            choices, coded = _choices(values)
            picked = trial.suggest_categorical(key, choices)
            settings[key] = json.loads(picked) if coded else picked
    return trial, Trial(trial.number + 1, settings)


def child_env(spec: SweepConfig, url: str, study, trial, metric: str) -> dict[str, str]:
    """With a pruner, the environment variable that makes a trial's ``seqpipe run`` report ``metric`` to the study
    each epoch (for a final metric such as ``test_accuracy``, its epoch twin ``val_accuracy``) and stop when pruned."""
    if spec.pruner.kind == "none":
        return {}
    report = "val_" + metric[len("test_"):] if metric.startswith("test_") else metric
    return {TRIAL_ENV: json.dumps({"storage": url, "study": study.study_name, "trial_id": trial._trial_id,
                                   "metric": report, "median": _median(spec)})}


def tell(study, number: int, result: dict, score: float | None) -> None:
    """Record how trial ``number`` (Optuna's + 1) ended: complete with ``score``, pruned, or failed."""
    state = _optuna().trial.TrialState
    if result["status"] == "PRUNED":
        study.tell(number - 1, state=state.PRUNED)
    elif result["status"] == "FINISHED" and score is not None:
        study.tell(number - 1, score)
    else:
        study.tell(number - 1, state=state.FAIL)


def recover(study, records: dict[int, dict], scores: dict[int, float | None]) -> int:
    """Settle the trials a stopped sweep left running: told from their ``records`` when the sweep had finished
    them, else failed and marked interrupted. Returns the number of trials that count towards the budget."""
    state = _optuna().trial.TrialState
    for frozen in study.get_trials(deepcopy=False, states=(state.RUNNING, state.WAITING)):
        number = frozen.number + 1
        if number in records:
            tell(study, number, records[number], scores.get(number))
        else:
            study._storage.set_trial_user_attr(frozen._trial_id, INTERRUPTED, True)
            study.tell(frozen.number, state=state.FAIL)
    return sum(1 for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(INTERRUPTED))


def trial_states(study) -> dict[int, str]:
    """Trial number (Optuna's + 1) -> its Optuna state's name."""
    return {t.number + 1: t.state.name for t in study.get_trials(deepcopy=False)}
