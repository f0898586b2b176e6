"""The task contract: everything that differs between what pipelines learn lives in a task.

A task has two halves, both declared here:

- :class:`Task`, the declaration: its data roles, keys, validation rules and artifacts, read by
  ``seqpipe validate`` without TensorFlow. Keep it in a light module (``tasks/<name>/__init__.py``).
- :class:`TaskRuntime`, the TensorFlow side: the hooks the generic stages (tokenize, embed, train,
  evaluate, export) and ``seqpipe predict`` call. A task names its runtime class in ``Task.runtime_class``
  (``"module:Class"``, imported on first use, or the class itself); ``task.runtime`` is the instance.

Generic stages never name a task: they call ``ctx.task.runtime.<hook>``. A task also brings its own stages
(its model head, decoding), its keys on generic stages, its validation rules and its CLI commands (a module
the CLI imports by its dotted name, ``Task.commands``: tasks never import the CLI).
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable

from seqpipe.registry import Registry
from seqpipe.schema import Schema

if TYPE_CHECKING:
    import pandas as pd

    from seqpipe.pipeline.context import RunContext

Problem = tuple[tuple, str]  # (key path with stages addressed by name, message)


class Task:
    """What a pipeline learns: its data, its keys and its rules; the TensorFlow side is :attr:`runtime`.

    Class attributes (declarations, read at validation time without TensorFlow):

    ``roles``
        the data columns it reads; ``roles[0]`` is the raw input the model takes.
    ``monitors``
        the epoch metrics ``train.monitor`` may name.
    ``predicts``
        the kind of prediction its metrics score (``labels``, ``texts``, ``tag_sequences``, ``numbers``); the
        ``evaluate.metrics`` a pipeline may name are the registered metrics of that kind.
    ``default_metrics``
        what ``evaluate`` reports when ``metrics`` is not given.
    ``default_tokenizer``
        ``tokenize.kind`` when not given.
    ``mask_padding``
        whether the embedding masks padding (a left-to-right language model does not need to).
    ``causal``
        whether its encoder reads left to right only (a language model): a Transformer encoder is then a stack of
        causal (decoder-only) blocks.
    ``stage_keys``
        ``{stage: (Schema, ...)}``: keys this task adds to a generic stage. Several tasks may share a
        key by listing the same Schema class; the key is then theirs only, and is refused on other tasks.
    ``ignores``
        ``{stage: (key, ...)}``: generic keys this task does not read; refused when set.
    ``requires`` / ``provides``
        ``{stage: (artifact, ...)}``: what the task's hooks read from / publish to the run context while
        a generic stage runs. The stage chain is checked with them before anything heavy runs.
    ``runtime_class``
        its :class:`TaskRuntime` subclass: ``"package.module:Class"`` (imported when first used, so that
        declaring a task imports no TensorFlow) or the class itself.
    ``commands``
        the dotted name of a module with ``add_commands(subparsers)`` adding ``seqpipe`` subcommands (e.g.
        ``generate`` for language models); the CLI imports it. None: no commands of its own.
    ``evaluation_file``
        the evaluation table its ``write_report`` logs under ``evaluation/`` (``{split}`` in the name), one row
        per example; ``seqpipe compare --paired-bs`` reads it back from the tracking store.
    ``input_columns`` / ``reference_columns``
        the columns of that table that hold each example's input(s) and reference(s): the test set, which two
        runs must share to be compared (see :func:`seqpipe.metrics.resampling.split_fingerprint`).
    ``serving``
        the dotted name of its serving module: what a served model answers (``INPUT``, ``INPUT_TYPE``, ``PARAMS``
        and ``predict(saved_model, inputs, meta, params) -> DataFrame``), the same for ``seqpipe predict`` and the
        MLflow model. It imports nothing but numpy, pandas and TensorFlow, because the export copies it into the
        MLflow model (see :mod:`seqpipe.export.pyfunc_model`). None: the task is not served.
    ``streams``
        whether the runtime can train from a streamed training split (``data.streaming``): its ``fit`` takes a
        :class:`seqpipe.data.stream.StreamedSplit` in ``ctx["splits"]["train"]`` and its ``build_encoders``
        reads only the sample it is given.
    """

    name: ClassVar[str] = ""
    roles: ClassVar[tuple[str, ...]] = ()
    monitors: ClassVar[tuple[str, ...]] = ("loss", "val_loss")
    predicts: ClassVar[str | None] = None
    default_metrics: ClassVar[tuple[str, ...]] = ()
    default_tokenizer: ClassVar[str] = "word"
    mask_padding: ClassVar[bool] = True
    causal: ClassVar[bool] = False
    stage_keys: ClassVar[dict[str, tuple[type[Schema], ...]]] = {}
    ignores: ClassVar[dict[str, tuple[str, ...]]] = {}
    requires: ClassVar[dict[str, tuple[str, ...]]] = {}
    provides: ClassVar[dict[str, tuple[str, ...]]] = {}
    runtime_class: ClassVar[str | type[TaskRuntime]] = ""
    commands: ClassVar[str | None] = None
    serving: ClassVar[str | None] = None
    streams: ClassVar[bool] = False
    evaluation_file: ClassVar[str | None] = None
    input_columns: ClassVar[tuple[str, ...]] = ()
    reference_columns: ClassVar[tuple[str, ...]] = ()

    # -- validation (no TensorFlow) ----------------------------------------------------------
    def rules(self, config) -> Iterable[Problem]:
        """Cross-field checks of a validated config that concern this task."""
        return ()

    def resolve(self, config) -> None:
        """Fill cross-stage defaults into ``config`` once, after validation (``seqpipe render`` shows them).

        Subclasses that resolve more call ``super().resolve(config)``.
        """
        tokenize = config.stage("tokenize")
        if tokenize is not None and tokenize.kind is None:
            tokenize.kind = self.default_tokenizer

    # -- data ---------------------------------------------------------------------------------------
    def check_data(self, splits: dict, data_cfg, report) -> dict:
        """Checks of the task's own after reading and before any stage (e.g. a single class); return the splits.

        Raise :class:`seqpipe.errors.DataError` with one line; with ``data_cfg.on_error == "skip"`` a task may drop
        rows instead and count them in ``report`` (see :mod:`seqpipe.data.checks`).
        """
        return splits

    # -- evaluation: what is resampled (no TensorFlow; ``seqpipe compare`` calls these too) ------------------
    def main_metric(self, metrics: list[str] | None) -> str | None:
        """The metric whose bootstrap interval every evaluation logs: the first of ``evaluate.metrics`` (given as
        ``metrics``), else of :attr:`default_metrics`; None: none."""
        names = list(metrics or self.default_metrics)
        return names[0] if names else None

    def resampler(self, table: pd.DataFrame, metric: str):
        """How ``metric`` is resampled from an evaluation table (the one in memory, or :attr:`evaluation_file` read
        back as strings): a :class:`seqpipe.metrics.resampling.Resampler`, or None when it cannot be."""
        return None

    # -- the TensorFlow side ------------------------------------------------------------------------
    @functools.cached_property
    def runtime(self) -> TaskRuntime:
        """The task's :class:`TaskRuntime` (its module is imported on first use)."""
        cls = self.runtime_class
        if isinstance(cls, str):
            if not cls:
                raise NotImplementedError(f"task '{self.name}' declares no runtime_class")
            module, _, attr = cls.partition(":")
            cls = getattr(importlib.import_module(module), attr)
        return cls(self)

    # -- helpers -----------------------------------------------------------------------------------
    def stage_requires(self, stage: str) -> tuple[str, ...]:
        return tuple(self.requires.get(stage, ()))

    def stage_provides(self, stage: str) -> tuple[str, ...]:
        return tuple(self.provides.get(stage, ()))


class TaskRuntime:
    """The hooks the generic stages call, with one signature each (a test holds every task to them).

    ``self.task`` is the :class:`Task` declaration. The defaults serve a task whose model reads
    ``roles[0]`` through one text encoder; a task overrides what differs.
    """

    def __init__(self, task: Task):
        self.task = task

    # -- tokenize / embed ---------------------------------------------------------------------------
    def build_encoders(self, ctx: RunContext, cfg, build: Callable[..., Any], train: pd.DataFrame) -> None:
        """tokenize: publish the text encoder(s); ``build(side_settings, texts, name)`` builds one from ``texts``
        of ``train``, the training rows to build vocabularies from (a seeded sample of at most
        ``tokenize.sample_lines`` rows of the training split)."""
        ctx.put("encoder", build(cfg.side(), train[self.task.roles[0]].tolist(), "vocab"))

    def extend_embedding(self, ctx: RunContext, cfg, embedded):
        """embed: add task-specific input features to the embedded tokens; return the result."""
        return embedded

    # -- train --------------------------------------------------------------------------------------
    def fit(self, ctx: RunContext, cfg) -> tuple[Any, dict]:
        """train: compile and fit ``ctx['model']``; return (trained model, Keras history dict)."""
        raise NotImplementedError(f"task '{self.task.name}' cannot train")

    # -- evaluate: predict once, score any subset of rows -------------------------------------------
    def evaluation_table(self, ctx: RunContext, cfg, split: str) -> pd.DataFrame:
        """evaluate: one row per example of ``split`` (a non-empty split): the data's columns, the prediction(s)
        and per-example scores where the metrics have them. The model runs here and nowhere else in evaluate."""
        raise NotImplementedError(f"task '{self.task.name}' cannot evaluate")

    def score(self, ctx: RunContext, cfg, table: pd.DataFrame) -> dict[str, float]:
        """evaluate: the metrics of the rows of ``table`` (a split's table, or the rows of one ``evaluate.by``
        group), from the table alone; keys without the split prefix (``accuracy``, ``bleu_greedy``, ...)."""
        raise NotImplementedError(f"task '{self.task.name}' cannot score")

    def write_report(self, ctx: RunContext, cfg, split: str, table: pd.DataFrame) -> None:
        """evaluate: the split's files (predictions, per-label reports, plots) and run tags. Scores with no
        meaning for a subset of rows may be added here (``ctx.add_metrics``)."""

    # -- export and serving -------------------------------------------------------------------------
    def export(self, ctx: RunContext, cfg, path: Path) -> Path:
        """export: write a SavedModel taking raw inputs to ``path``; return its folder."""
        raise NotImplementedError(f"task '{self.task.name}' cannot export")

    def serving_module(self):
        """The task's serving module (:attr:`Task.serving`)."""
        if not self.task.serving:
            raise NotImplementedError(f"task '{self.task.name}' has no predict")
        return importlib.import_module(self.task.serving)

    def predict_inputs(self, lines: list[str]) -> list:
        """``seqpipe predict``'s input lines as the serving module takes them (the lines themselves for text)."""
        return lines

    def predict_table(self, saved_model, inputs: list[str], meta: dict, params: dict | None = None) -> pd.DataFrame:
        """``seqpipe predict``: one row per input line from a loaded SavedModel (``meta`` is its seqpipe.json): the
        line, then what the served model answers (the serving module's table, with request ``params``)."""
        serving = self.serving_module()
        table = serving.predict(saved_model, self.predict_inputs(inputs), meta, dict(params or {}))
        table.insert(0, serving.INPUT, inputs)
        return table

    def predict_nbest(self, saved_model, inputs: list[str], meta: dict, n_best: int) -> pd.DataFrame:
        """``seqpipe predict --n-best K``: the K best outputs per input line, one row each with its rank and score
        (tasks that decode with beam search); a task without n-best lists says so in one line."""
        from seqpipe.errors import SeqpipeError

        raise SeqpipeError(f"--n-best: a {self.task.name} model has no n-best list; only models that decode text "
                           "with beam search (decoding: {strategy: beam, n_best: K}) have one")


TASKS: Registry[type[Task]] = Registry("task", base=Task)


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: register a task under its ``name``."""
    TASKS.register(cls.name, cls)
    return cls


def get_task(name: str) -> Task:
    """An instance of the registered task ``name`` (tasks are stateless)."""
    return TASKS.get(name)()


def task_key_owners() -> dict[tuple[str, str], set[str]]:
    """``{(stage, key): {tasks}}`` for every key a task adds to a generic stage."""
    owners: dict[tuple[str, str], set[str]] = {}
    for name in TASKS.names():
        task = TASKS.get(name)
        for stage, schemas in task.stage_keys.items():
            for schema in schemas:
                for key in schema.model_fields:
                    owners.setdefault((stage, key), set()).add(name)
    return owners


def task_key_fields(stage: str) -> dict[str, tuple[Any, Any]]:
    """The fields every task adds to ``stage``, for ``pydantic.create_model`` (one definition per key)."""
    fields: dict[str, tuple[Any, Any]] = {}
    origin: dict[str, type[Schema]] = {}
    for name in TASKS.names():
        for schema in TASKS.get(name).stage_keys.get(stage, ()):
            for key, field in schema.model_fields.items():
                if key in origin and origin[key] is not schema:
                    raise TypeError(f"stages.{stage}.{key} is defined twice ({origin[key].__qualname__} and "
                                    f"{schema.__qualname__}); tasks that share a key must list the same Schema class")
                origin[key] = schema
                fields[key] = (field.annotation, field)
    return fields
