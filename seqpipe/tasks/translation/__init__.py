"""Sequence-to-sequence translation: an encoder, an attention decoder, decoding strategies, BLEU.

Declaration only (no TensorFlow); the model code is in :mod:`.runtime`, and what translation shares with
captioning in :mod:`seqpipe.tasks.seq2seq`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from seqpipe.pipeline.stage import register_stage
from seqpipe.schema import RegistryName, Schema
from seqpipe.tasks.base import register_task
from seqpipe.tasks.keys import BucketingKeys
from seqpipe.tasks.seq2seq import DecodeConfig, DecoderStage, DecodingStage, DecodingStageConfig, Seq2SeqTask
from seqpipe.text import TOKENIZERS

NAME = "translation"


@register_stage
class DecodeStage(DecoderStage):
    """Recurrent decoder with Bahdanau/Luong attention, input feeding and a state bridge."""

    name = "decode"
    requires = ("token_ids", "encoded", "encoder_states", "encoder", "target_encoder")
    tasks = (NAME,)
    Config = DecodeConfig


class GenerateConfig(DecodingStageConfig):
    heatmaps: int = Field(4, ge=0, description="attention heatmaps (PNG) drawn for the first validation sentences")

    def attention_plots(self) -> int:
        return self.heatmaps


@register_stage
class GenerateStage(DecodingStage):
    """Translate held-out splits with greedy, beam search or sampling, compiled in graph mode."""

    name = "generate"
    tasks = (NAME,)
    Config = GenerateConfig


class TargetTokenizeConfig(Schema):
    kind: Annotated[str, RegistryName(TOKENIZERS)] | None = Field(
        None, description="target tokenizer; default: the source's")
    vocab_size: int | None = Field(None, ge=8, description="target vocabulary size; default: the source's")
    min_frequency: int | None = Field(None, ge=1, description="default: the source's")
    lowercase: bool | None = Field(None, description="default: the source's")
    max_length: int | None = Field(None, ge=2, description="target tokens kept, [START]/[END] included; "
                                                           "default: the source's")


class TokenizeKeys(Schema):
    target: TargetTokenizeConfig = Field(default_factory=TargetTokenizeConfig,
                                         description="the target side (unset keys follow the source side)")
    shared: bool = Field(False, description="one vocabulary for both sides, built from source and target text")


@register_task
class Translation(Seq2SeqTask):
    ("Source text in, target text out: encoder, attention decoder, greedy/beam/sampling decoding; "
     "BLEU, chrF, TER, METEOR.")

    name = NAME
    roles = ("source", "target")
    default_metrics = ("bleu", "chrf", "ter", "meteor")
    decoding_stage = "generate"
    stage_keys = {"tokenize": (TokenizeKeys, *Seq2SeqTask.stage_keys["tokenize"]),
                  "train": (BucketingKeys, *Seq2SeqTask.stage_keys["train"]),
                  "evaluate": Seq2SeqTask.stage_keys["evaluate"], "export": Seq2SeqTask.stage_keys["export"]}
    provides = {"tokenize": ("target_encoder",)}
    runtime_class = "seqpipe.tasks.translation.runtime:TranslationRuntime"
    serving = "seqpipe.tasks.translation.serving"
    evaluation_file = "{split}_translations.tsv"
    input_columns, reference_columns = ("source",), ("reference",)
    streams = True

    def resolve(self, config):
        super().resolve(config)
        decode, embed = config.stage("decode"), config.stage("embed")
        if decode and embed and decode.embed_dim is None:
            decode.embed_dim = embed.dim
