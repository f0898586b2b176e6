"""Sequence-to-sequence translation: an encoder, an attention decoder, decoding strategies, BLEU.

Declaration only (no TensorFlow); the model code is in :mod:`.runtime`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from seqpipe.cells import CellSpec
from seqpipe.config.schema import RegistryName, Schema
from seqpipe.decoding import BeamConfig, DecodingConfig
from seqpipe.layers import ATTENTIONS
from seqpipe.pipeline.stage import Stage, register_stage
from seqpipe.tasks.base import Task, register_task
from seqpipe.tasks.keys import BucketingKeys, ExportDecodingKeys, ScheduledSamplingKeys, TokenLossKeys
from seqpipe.text import TOKENIZERS

NAME = "translation"
GREEDY = {"strategy": "greedy"}


class DecodeConfig(Schema):
    cell: CellSpec = Field("lstm", description="recurrent cell: a name (seqpipe list cells) or "
                                                "{kind: name, option: value, ...} (docs/cells.md)")
    units: int = Field(256, ge=1, description="width of every decoder layer")
    layers: int = Field(1, ge=1, description="stacked decoder layers")
    embed_dim: int | None = Field(None, ge=1, description="target embedding width; default: stages.embed.dim")
    attention: Annotated[str, RegistryName(ATTENTIONS)] = Field(
        "bahdanau", description="bahdanau, luong_dot, luong_general or none")
    attention_units: int | None = Field(None, ge=1, description="additive/bilinear attention width; default: units")
    input_feeding: bool = Field(True, description="feed the previous attentional vector into the next step")
    bridge: Literal["zero", "copy", "dense"] = Field(
        "dense", description="how the encoder's final state initialises the decoder")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on target embeddings and attentional vectors")
    residual: bool = Field(False, description="add each decoder layer's input to its output from the second layer on")


@register_stage
class DecodeStage(Stage):
    """Recurrent decoder with Bahdanau/Luong attention, input feeding and a state bridge."""

    name = "decode"
    order = 40
    steps_cells = True  # attention needs each step's state
    requires = ("token_ids", "encoded", "encoder_states", "encoder", "target_encoder")
    provides = ("model", "translator")
    tasks = (NAME,)
    Config = DecodeConfig

    def run(self, ctx):
        from seqpipe.tasks.translation.runtime import build_decoder

        build_decoder(ctx, self.config)


class GenerateConfig(Schema):
    decoding: DecodingConfig = Field(default_factory=lambda: BeamConfig(beam_width=5, length_penalty=0.6),
                                     description="decoding strategy and its settings: "
                                                 "{strategy: greedy | beam | sampling, ...}")
    compare_greedy: bool = Field(True, description="also decode greedily and report its scores with a _greedy suffix")
    splits: list[Literal["valid", "test"]] = Field(default_factory=lambda: ["test"], description="splits to translate")
    heatmaps: int = Field(4, ge=0, description="attention heatmaps (PNG) drawn for the first validation sentences")


@register_stage
class GenerateStage(Stage):
    """Translate held-out splits with greedy, beam search or sampling, compiled in graph mode."""

    name = "generate"
    order = 60
    requires = ("translator", "splits")
    provides = ("hypotheses",)
    tasks = (NAME,)
    Config = GenerateConfig

    def run(self, ctx):
        from seqpipe.tasks.translation.runtime import generate

        ctx.put("hypotheses", generate(ctx, self.config))


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


class TrainKeys(Schema):
    validation_subset: int = Field(200, ge=0, description="validation sentences decoded after every epoch "
                                                          "for val_bleu; 0 turns it off")
    decoding: DecodingConfig | None = Field(None, description="decoding for val_bleu; default: "
                                                              "stages.generate.decoding, else greedy")


@register_task
class Translation(Task):
    ("Source text in, target text out: encoder, attention decoder, greedy/beam/sampling decoding; "
     "BLEU, chrF, TER, METEOR.")

    name = NAME
    roles = ("source", "target")
    monitors = ("loss", "token_accuracy", "val_loss", "val_token_accuracy", "val_bleu")
    predicts = "texts"
    default_metrics = ("bleu", "chrf", "ter", "meteor")
    stage_keys = {"tokenize": (TokenizeKeys,),
                  "train": (BucketingKeys, TokenLossKeys, TrainKeys, ScheduledSamplingKeys),
                  "export": (ExportDecodingKeys,)}
    provides = {"tokenize": ("target_encoder",)}
    requires = {"train": ("translator",), "evaluate": ("hypotheses",), "export": ("translator",)}

    def rules(self, config):
        generate, evaluate = config.stage("generate"), config.stage("evaluate")
        if generate and evaluate:
            missing = [s for s in evaluate.splits if s not in generate.splits]
            if missing:
                yield (("stages", "evaluate", "splits"), f"scores {', '.join(missing)} but stages.generate.splits "
                                                         f"decodes only {', '.join(generate.splits)}; add them there")

    def resolve(self, config):
        super().resolve(config)
        decode, embed, generate = config.stage("decode"), config.stage("embed"), config.stage("generate")
        if decode and embed and decode.embed_dim is None:
            decode.embed_dim = embed.dim
        decoding = generate.decoding if generate else GREEDY
        for stage in ("train", "export"):
            cfg = config.stage(stage)
            if cfg is not None and cfg.decoding is None:
                cfg.decoding = decoding

    def build_encoders(self, ctx, cfg, build):
        from seqpipe.tasks.translation.runtime import build_encoders

        build_encoders(ctx, cfg, build)

    def fit(self, ctx, cfg):
        from seqpipe.tasks.translation.runtime import fit

        return fit(ctx, cfg)

    def evaluate(self, ctx, cfg):
        from seqpipe.tasks.translation.runtime import evaluate

        return evaluate(ctx, cfg, list(cfg.metrics or self.default_metrics))

    def export(self, ctx, cfg, target):
        from seqpipe.tasks.translation.runtime import export

        return export(ctx, cfg, target)

    def predict_table(self, saved_model, texts, meta):
        from seqpipe.tasks.translation.runtime import predict_table

        return predict_table(saved_model, texts)
