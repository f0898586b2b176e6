"""The shared core of the tasks that read a whole sequence and predict one thing about it (classification,
regression): the head's keys and stage (also the tagger's), its validation rule and the keys those tasks add to
generic stages.

Declaration only (no TensorFlow); the shared model code is in :mod:`seqpipe.tasks.pooled.runtime`.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from seqpipe.pipeline.stage import Stage
from seqpipe.schema import Schema
from seqpipe.tasks.base import Task
from seqpipe.tasks.keys import BucketingKeys, TreeKeys

POOLING = "how the sequence becomes one vector (mask-aware)"


class HeadConfig(Schema):
    """The layers between the encoder and a task's output (also the tagging head's)."""

    hidden_units: int = Field(0, ge=0, description="a ReLU layer of this width before the output; 0 for none")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout before the output layer")


class HeadStage(Stage):
    """A task's output layers over the encoder (classify, regress, tag): its runtime's ``build_head``."""

    order = 40

    def run(self, ctx):
        ctx.task.runtime.build_head(ctx, self.config)


class PooledTask(Task):
    """A task whose head pools the encoded sequence (its stage ``head_stage`` has a ``pooling`` key)."""

    head_stage: ClassVar[str] = ""
    stage_keys = {"train": (BucketingKeys,), "encode": (TreeKeys,)}

    def rules(self, config):
        yield from TreeKeys.rules(config, self.default_tokenizer)
        head, encode = config.stage(self.head_stage), config.stage("encode")
        if (head and encode and getattr(encode, "tree", None) is None and head.pooling == "last"
                and encode.bidirectional and encode.merge_mode != "concat"):
            yield (("stages", self.head_stage, "pooling"),
                   f"'last' over a bidirectional encoder needs stages.encode.merge_mode 'concat'; got "
                   f"'{encode.merge_mode}'")
