"""The stage contract: a config schema, the artifacts it requires and provides, and ``run``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Iterable

from seqpipe.registry import Registry
from seqpipe.schema import Schema

if TYPE_CHECKING:
    from seqpipe.pipeline.context import RunContext


class Stage:
    """One step of a pipeline.

    Subclasses set ``Config`` (a :class:`Schema`, the YAML keys under the stage name),
    ``order`` (the canonical place in a pipeline; stages run in this order), and the names
    of the artifacts they ``requires`` from the run context, may read if present
    (``optional``) and ``provides`` to it. The pipeline's task may add requirements and
    provisions to a stage (:class:`seqpipe.tasks.base.Task`); the run context refuses reads
    and writes of anything else. A stage reads its own config only, never another stage's:
    cross-stage defaults are resolved at validation time.

    A stage that belongs to one or more tasks (a model head, decoding) lists them in ``tasks``;
    such stages live in their task's package. Module top-levels of stages must not import
    TensorFlow: import it inside ``run``.
    """

    name: ClassVar[str] = ""
    order: ClassVar[int] = 0
    requires: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ()
    provides: ClassVar[tuple[str, ...]] = ()
    tasks: ClassVar[tuple[str, ...]] = ()  # the tasks it serves; empty: every task
    steps_cells: ClassVar[bool] = False  # its recurrent layers step their cells one at a time (no fused GPU kernel)

    class Config(Schema):
        pass

    def __init__(self, config: Schema):
        self.config = config

    def run(self, ctx: "RunContext") -> None:
        raise NotImplementedError

    def preflight(self, task) -> None:
        """Check, and get, what this stage will need beyond Python packages (a program, a download) before any
        data is read or model trained; raise a SeqpipeError saying how to get it. ``task``: the pipeline's task."""

    @classmethod
    def rules(cls, config, base_dir: Path | None) -> Iterable[tuple[tuple, str]]:
        """Checks of a validated pipeline ``config`` that concern this stage, run at ``seqpipe validate`` time
        (e.g. a file it reads exists and fits its keys): ``(key path with stages by name, message)`` pairs.
        ``base_dir``: the folder relative paths of the pipeline are taken from (None when unknown)."""
        return ()

    def cache_inputs(self, base_dir: Path) -> object:
        """What this stage's outputs depend on beyond its config and the stages before it (the name, size and
        modification time of a file it reads), as JSON-able data for the stage cache's key; None: nothing."""
        return None

    def data_columns(self) -> tuple[str, ...]:
        """Columns of the data, beyond the task's roles, that this stage reads from the split frames
        (kept through loading; a file without one is a data error)."""
        return ()

    # Stage caching (seqpipe.pipeline.cache): a stage that can reuse an earlier run's outputs sets
    # ``cacheable`` and implements both methods; ``cache_load`` must leave the run context and the run
    # folder as ``run`` would (and may raise: the runner then runs the stage normally).
    cacheable: ClassVar[bool] = False

    def cache_save(self, ctx: "RunContext", folder) -> None:
        raise NotImplementedError

    def cache_load(self, ctx: "RunContext", folder) -> None:
        raise NotImplementedError


STAGES: Registry[type[Stage]] = Registry("stage", base=Stage)


def register_stage(cls: type[Stage]) -> type[Stage]:
    """Class decorator: register a stage under its ``name``."""
    STAGES.register(cls.name, cls)
    return cls
