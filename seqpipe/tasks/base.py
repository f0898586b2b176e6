"""The task contract: everything that differs between what pipelines learn lives in a ``Task``.

Generic stages (tokenize, embed, encode, train, evaluate, export) never name a task: they call
the pipeline's task through the hooks below. A task also brings its own stages (its model head,
decoding, sampling), its keys on generic stages, its validation rules and its CLI commands.

Declaring a task must not import TensorFlow (``seqpipe validate`` reads the declarations): keep
the ``Task`` subclass in a light module and import the TensorFlow code inside the hooks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable

from seqpipe.config.schema import Schema
from seqpipe.registry import Registry

if TYPE_CHECKING:
    import argparse

    import pandas as pd

    from seqpipe.pipeline.context import RunContext

Problem = tuple[tuple, str]  # (key path with stages addressed by name, message)


class Task:
    """What a pipeline learns: its data, its keys, how it trains, scores, exports and serves.

    Class attributes (declarations, read at validation time without TensorFlow):

    ``roles``
        the data columns it reads; ``roles[0]`` is the raw text the model takes.
    ``monitors``
        the epoch metrics ``train.monitor`` may name.
    ``predicts``
        the kind of prediction its metrics score (``labels``, ``texts``, ``tag_sequences``); the
        ``evaluate.metrics`` a pipeline may name are the registered metrics of that kind.
    ``default_metrics``
        what ``evaluate`` reports when ``metrics`` is not given.
    ``default_tokenizer``
        ``tokenize.kind`` when not given.
    ``mask_padding``
        whether the embedding masks padding (a left-to-right language model does not need to).
    ``stage_keys``
        ``{stage: (Schema, ...)}``: keys this task adds to a generic stage. Several tasks may share a
        key by listing the same Schema class; the key is then theirs only, and is refused on other tasks.
    ``ignores``
        ``{stage: (key, ...)}``: generic keys this task does not read; refused when set.
    ``requires`` / ``provides``
        ``{stage: (artifact, ...)}``: what the task's hooks read from / publish to the run context while
        a generic stage runs. The stage chain is checked with them before anything heavy runs.
    """

    name: ClassVar[str] = ""
    roles: ClassVar[tuple[str, ...]] = ()
    monitors: ClassVar[tuple[str, ...]] = ("loss", "val_loss")
    predicts: ClassVar[str | None] = None
    default_metrics: ClassVar[tuple[str, ...]] = ()
    default_tokenizer: ClassVar[str] = "word"
    mask_padding: ClassVar[bool] = True
    stage_keys: ClassVar[dict[str, tuple[type[Schema], ...]]] = {}
    ignores: ClassVar[dict[str, tuple[str, ...]]] = {}
    requires: ClassVar[dict[str, tuple[str, ...]]] = {}
    provides: ClassVar[dict[str, tuple[str, ...]]] = {}

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

    # -- hooks called by the generic stages -------------------------------------------------------
    def build_encoders(self, ctx: RunContext, cfg, build: Callable[..., Any]) -> None:
        """tokenize: publish the text encoder(s); ``build(side_settings, texts, name)`` builds one."""
        ctx.put("encoder", build(cfg.side(), ctx["splits"]["train"][self.roles[0]].tolist(), "vocab"))

    def extend_embedding(self, ctx: RunContext, cfg, embedded):
        """embed: add task-specific input features to the embedded tokens; return the result."""
        return embedded

    def fit(self, ctx: RunContext, cfg) -> tuple[Any, dict]:
        """train: compile and fit ``ctx['model']``; return (trained model, Keras history dict)."""
        raise NotImplementedError(f"task '{self.name}' cannot train")

    def evaluate(self, ctx: RunContext, cfg, metrics: list[str]) -> Any:
        """evaluate: score the held-out splits with ``metrics`` (add them with ``ctx.add_metrics``);
        return predictions."""
        raise NotImplementedError(f"task '{self.name}' cannot evaluate")

    def export(self, ctx: RunContext, cfg, target: Path) -> Path:
        """export: write a SavedModel taking raw strings to ``target``; return its folder."""
        raise NotImplementedError(f"task '{self.name}' cannot export")

    # -- serving without the pipeline -----------------------------------------------------------
    def predict_table(self, saved_model, texts: list[str], meta: dict) -> pd.DataFrame:
        """``seqpipe predict``: one row per text from a loaded SavedModel (``meta`` is its seqpipe.json)."""
        raise NotImplementedError(f"task '{self.name}' has no predict")

    def add_commands(self, sub: argparse._SubParsersAction) -> None:
        """Add task-specific ``seqpipe`` subcommands (e.g. ``generate`` for language models)."""

    # -- helpers -----------------------------------------------------------------------------------
    def stage_requires(self, stage: str) -> tuple[str, ...]:
        return tuple(self.requires.get(stage, ()))

    def stage_provides(self, stage: str) -> tuple[str, ...]:
        return tuple(self.provides.get(stage, ()))


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
