"""Sequence labelling: one tag per whitespace-separated token (softmax or CRF), optional character features.

Declaration only (no TensorFlow); the model code is in :mod:`.runtime`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seqpipe.cells import CellSpec
from seqpipe.pipeline.stage import register_stage
from seqpipe.schema import NonEmptyStr, Schema
from seqpipe.tasks.base import Task, register_task
from seqpipe.tasks.keys import BucketingKeys
from seqpipe.tasks.pooled import HeadConfig, HeadStage

NAME = "tagging"


class TagConfig(HeadConfig):
    output: Literal["softmax", "crf"] = Field(
        "softmax", description="softmax: each token's tag on its own; crf: a linear-chain CRF scores tag transitions "
                               "and decodes the best sequence (Viterbi)")


@register_stage
class TagStage(HeadStage):
    """Sequence labelling head: per-token scores over the training split's tags, optionally through a CRF."""

    name = "tag"
    requires = ("splits", "token_ids", "char_ids", "encoded")
    provides = ("labels", "model")
    tasks = (NAME,)
    Config = TagConfig


class CharsConfig(Schema):
    dim: int = Field(32, ge=1, description="character embedding width")
    units: int = Field(32, ge=1, description="units per direction of the character RNN "
                                             "(adds 2 x units features per word)")
    cell: CellSpec = Field("lstm", description="recurrent cell of the character RNN: a name or {kind: name, "
                                                "option: value, ...} (docs/cells.md)")
    max_chars: int = Field(20, ge=1, description="characters kept per word")
    min_frequency: int = Field(1, ge=1, description="characters seen fewer times in training map to [UNK]")


class EmbedKeys(Schema):
    chars: CharsConfig | None = Field(None, description="also encode every word from its characters with a "
                                                        "bidirectional RNN (helps with words unseen in training); "
                                                        "null for none")


class EvaluateKeys(Schema):
    ignore_tags: list[NonEmptyStr] = Field(
        default_factory=list,
        description="tokens whose gold tag is one of these are left out of token_accuracy, the per-tag report, "
                    "tag_macro_f1, the confusion matrix and the unknown-word scores (span scores always read whole "
                    "sentences); e.g. [_] scores only the recall steps of the copy problem")


class TrainKeys(Schema):
    ignore_tags: list[NonEmptyStr] | None = Field(
        None, description="tokens whose gold tag is one of these do not count in the training-time "
                          "token_accuracy / val_token_accuracy (the loss still covers them); default: "
                          "stages.evaluate.ignore_tags")


@register_task
class Tagging(Task):
    """Whitespace-tokenised text in, one tag per token: softmax or CRF; token accuracy, per-tag and span F1."""

    name = NAME
    roles = ("tokens", "tags")  # whitespace-separated tokens and as many tags
    monitors = ("loss", "token_accuracy", "val_loss", "val_token_accuracy")
    predicts = "tag_sequences"
    # plus span_precision/recall/f1 when the tags are BIO/IOBES spans
    default_metrics = ("token_accuracy", "tag_macro_f1")
    default_tokenizer = "whitespace"
    stage_keys = {"embed": (EmbedKeys,), "train": (BucketingKeys, TrainKeys), "evaluate": (EvaluateKeys,)}
    requires = {"embed": ("splits",), "train": ("labels", "char_encoder"), "evaluate": ("labels", "char_encoder"),
                "export": ("labels", "char_encoder")}
    provides = {"embed": ("char_ids", "char_encoder")}
    runtime_class = "seqpipe.tasks.tagging.runtime:TaggingRuntime"
    serving = "seqpipe.tasks.tagging.serving"
    evaluation_file = "{split}_tags.tsv"
    input_columns, reference_columns = ("tokens",), ("tags",)

    def resampler(self, table, metric):
        """token_accuracy with sentences as the units: each sentence's ``scored`` tokens (those evaluate.ignore_tags
        leaves in) and their ``errors``; a table without ``scored`` (older runs) counts every token."""
        from seqpipe.metrics.resampling import RESAMPLERS, ratio

        if metric != "token_accuracy":
            return None
        if {"scored", "errors"} <= set(table.columns):
            scored = table["scored"].astype("float64").to_numpy()
            return ratio(scored - table["errors"].astype("float64").to_numpy(), scored)
        return RESAMPLERS[metric]([str(t).split() for t in table["tags"]],
                                  [str(t).split() for t in table["predicted"]])

    def rules(self, config):
        tokenize = config.stage("tokenize")
        if tokenize and tokenize.kind not in (None, "whitespace"):
            yield (("stages", "tokenize", "kind"), f"tagging labels the given whitespace-separated tokens, so the "
                                                   f"tokenizer must be 'whitespace' (or unset); got '{tokenize.kind}'")

    def resolve(self, config):
        super().resolve(config)
        train, evaluate = config.stage("train"), config.stage("evaluate")
        if train is not None and train.ignore_tags is None:
            train.ignore_tags = list(evaluate.ignore_tags) if evaluate is not None else []

    def check_data(self, splits, data_cfg, report):
        from seqpipe.data.checks import drop_rows, heldout_message, values_only_in_heldout
        from seqpipe.errors import DataError

        unseen = values_only_in_heldout(splits, "tags", tokens=True)
        if unseen:
            if data_cfg.on_error == "skip":
                return drop_rows(splits, unseen, report, column="tags")
            raise DataError(heldout_message(splits, "tags", unseen, tokens=True))
        return splits
