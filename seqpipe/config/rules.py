"""Cross-field rules: small named checks over the validated config.

Each rule yields ``(key path, message)``; stage keys are addressed by name
(``("stages", "train", "monitor")``) and shown as ``stages[i].train.monitor``. Rules that
concern one task live in that task (``Task.rules``); the ones here hold for every task.
"""

from __future__ import annotations

from typing import Iterator

from seqpipe.registry import did_you_mean

Problem = tuple[tuple, str]


def _task(config):
    from seqpipe.tasks.base import get_task

    return get_task(config.task)


def needs_validation_split(config) -> Iterator[Problem]:
    train = config.stage("train")
    if train and train.monitor.startswith("val_") and not config.data.holds("valid"):
        yield (("stages", "train", "monitor"),
               f"'{train.monitor}' needs a validation split but data.split.valid is 0; "
               "set data.split.valid > 0 or monitor 'loss'")


def stages_serve_the_task(config) -> Iterator[Problem]:
    from seqpipe.pipeline.stage import STAGES

    for name in config.stage_names():
        tasks = STAGES.get(name).tasks
        if tasks and config.task not in tasks:
            fits = [n for n in STAGES.names() if not STAGES.get(n).tasks or config.task in STAGES.get(n).tasks]
            yield (("stages", name), f"stage '{name}' is for task {', '.join(tasks)}, not '{config.task}'; "
                                     f"stages for {config.task}: {', '.join(fits)}")


def keys_belong_to_the_task(config) -> Iterator[Problem]:
    """A key that another task adds to a stage, or that this task does not read, is refused when set."""
    from seqpipe.tasks.base import task_key_owners

    owners, task = task_key_owners(), _task(config)
    for name in config.stage_names():
        cfg = config.stage(name)
        for key in sorted(cfg.model_fields_set):
            tasks = owners.get((name, key))
            if tasks is not None and config.task not in tasks:
                yield (("stages", name, key), f"'{key}' is a key of task {', '.join(sorted(tasks))}; task "
                                              f"'{config.task}' does not read it; remove it")
            elif key in task.ignores.get(name, ()):
                yield (("stages", name, key), f"task '{config.task}' does not read stages.{name}.{key}; remove it")


def monitor_is_known(config) -> Iterator[Problem]:
    train = config.stage("train")
    if train:
        known = list(_task(config).monitors)
        if train.monitor not in known:
            yield (("stages", "train", "monitor"),
                   f"must be one of {', '.join(known)}; got '{train.monitor}'{did_you_mean(train.monitor, known)}")


def evaluated_splits_exist(config) -> Iterator[Problem]:
    evaluate = config.stage("evaluate")
    for split in (evaluate.splits if evaluate else []):
        if not config.data.holds(split):
            yield (("stages", "evaluate", "splits"), f"scores the {split} split but data.split.{split} is 0")


def clip_once(config) -> Iterator[Problem]:
    train = config.stage("train")
    if train and train.clipnorm and train.clipvalue:
        yield (("stages", "train", "clipvalue"), "give train.clipnorm or train.clipvalue, not both")
    if train and train.clip_scope is not None and not train.clipnorm:
        yield (("stages", "train", "clip_scope"), "says how train.clipnorm is applied, but train.clipnorm is not set")


def metrics_fit_the_task(config) -> Iterator[Problem]:
    from seqpipe.metrics import METRICS, metric_names

    evaluate, task = config.stage("evaluate"), _task(config)
    if "metrics" in task.ignores.get("evaluate", ()):
        return  # refused as a key by keys_belong_to_the_task
    fits = metric_names(task.predicts)
    for i, name in enumerate((evaluate.metrics or []) if evaluate else []):
        if METRICS.get(name).scores != task.predicts:
            yield (("stages", "evaluate", "metrics", i),
                   f"'{name}' scores {METRICS.get(name).scores}, not what task '{config.task}' predicts; "
                   f"metrics for {config.task}: {', '.join(fits) or 'none'}")


def stage_chain(config) -> Iterator[Problem]:
    """Every artifact a stage (or the task, for that stage) requires comes from the runner or an earlier stage."""
    from seqpipe.pipeline.stage import STAGES

    task = _task(config)
    available = {n for n in STAGES.names() if not STAGES.get(n).tasks or config.task in STAGES.get(n).tasks}
    providers: dict[str, str] = {}
    for n in sorted(available, key=lambda n: STAGES.get(n).order):
        for artifact in STAGES.get(n).provides + task.stage_provides(n):
            providers.setdefault(artifact, n)
    have = set(INITIAL_ARTIFACTS)
    for name in config.stage_names():
        stage = STAGES.get(name)
        for need in stage.requires + task.stage_requires(name):
            if need not in have:
                hint = (f"; add the '{providers[need]}' stage before it" if need in providers
                        else "; no stage provides it for this task")
                yield (("stages", name), f"stage '{name}' needs '{need}', which no earlier stage provides{hint}")
        have.update(stage.provides + task.stage_provides(name))


def streaming_fits(config) -> Iterator[Problem]:
    """data.streaming: true needs a task that streams and a data section that can be streamed."""
    if config.data.streaming is not True:
        return
    task = _task(config)
    if not task.streams:
        from seqpipe.tasks.base import TASKS

        streaming = [name for name in TASKS.names() if TASKS.get(name).streams]
        yield (("data", "streaming"), f"task '{config.task}' reads its training split whole; tasks that stream: "
                                      f"{', '.join(streaming)}; set data.streaming: false")
        return
    refusal = config.data.stream_refusal()
    if refusal:
        yield (("data", "streaming"), f"cannot stream the training split: {refusal}")
    train = config.stage("train")
    schedule = getattr(getattr(train, "optimizer", None), "schedule", None)
    if getattr(schedule, "over_total_steps", False) and train.max_minutes is None:
        yield (("stages", "train", "optimizer", "schedule", "kind"),
               f"{schedule.kind} decays over the training's steps, unknown for a streamed training split before its "
               "first pass (data.streaming: true); give train.max_minutes (the decay then follows the budget) or use "
               "inverse_sqrt or reduce_on_plateau")


def parallel_files_are_roles(config) -> Iterator[Problem]:
    """The keys of parallel files (``data.source.train: {source: ..., target: ...}``) are the roles the task
    reads, the columns its stages keep, or split.group_by; every role the task reads has a file."""
    from seqpipe.pipeline.stage import STAGES

    task, data = _task(config), config.data
    keep = [c for name in config.stage_names() for c in STAGES.get(name)(config.stage(name)).data_columns()]
    known = list(dict.fromkeys([*task.roles, *keep, *([data.split.group_by] if data.split.group_by else [])]))
    for key in ("path", "train", "valid", "test"):
        files = getattr(data.source, key)
        if not isinstance(files, dict):
            continue
        for role in files:
            if role not in known:
                yield (("data", "source", key, role),
                       f"unknown role '{role}'; parallel files are given per role, one of {', '.join(known)} "
                       f"(what task '{config.task}' reads){did_you_mean(role, known)}")
        missing = [role for role in task.roles if role not in files]
        if missing:
            yield (("data", "source", key), f"no file for {', '.join(missing)}; parallel files give one file per "
                                            f"role that task '{config.task}' reads: {', '.join(task.roles)}")


INITIAL_ARTIFACTS = ("splits",)  # published by the runner from the ``data:`` section

RULES = [stages_serve_the_task, keys_belong_to_the_task, metrics_fit_the_task, needs_validation_split,
         monitor_is_known, evaluated_splits_exist, clip_once, parallel_files_are_roles, streaming_fits]


def check_rules(config, base_dir=None) -> list[Problem]:
    """Every problem of the general rules, the task's own rules and the stages' rules (``Stage.rules``, which
    may check files relative to ``base_dir``); when there are none, the stage chain's.

    (A chain of misconfigured stages would mostly repeat those problems, so it is checked once they are fixed.)
    """
    from seqpipe.pipeline.stage import STAGES

    problems = [problem for rule in RULES for problem in rule(config)] + list(_task(config).rules(config))
    problems += [problem for name in config.stage_names() if name in STAGES
                 for problem in STAGES.get(name).rules(config, base_dir)]
    return problems or list(stage_chain(config))
