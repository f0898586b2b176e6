"""Image captioning: a convolutional encoder over the image, the attention decoder over its grid, BLEU.

Roles: ``image`` (the path of a PNG, JPEG, GIF or BMP file; a relative path is taken from the data file's
folder) and ``caption`` (its text). Several rows may share an image: those captions are its references.
Stages: ``see`` (the CNN: a grid of feature vectors, flattened into the memory the decoder attends over, and
its average, bridged into the decoder's state), ``caption`` (the translation decoder's settings: cell, units,
attention, input feeding, bridge, ...) and ``describe`` (greedy, beam or sampling over held-out images, and
attention maps drawn over the images). ``tokenize`` builds the captions' vocabulary: the images need no
tokenizer.

Declaration only (no TensorFlow); the model code is in :mod:`.runtime`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from seqpipe.config.schema import Schema
from seqpipe.decoding import BeamConfig, DecodingConfig, GreedyConfig
from seqpipe.pipeline.stage import Stage, register_stage
from seqpipe.tasks.base import Task, register_task
from seqpipe.tasks.keys import ExportDecodingKeys, ScheduledSamplingKeys, TokenLossKeys
from seqpipe.tasks.translation import DecodeConfig
from seqpipe.tasks.translation import TrainKeys as DecodingTrainKeys

NAME = "captioning"


class BlockConfig(Schema):
    filters: int = Field(ge=1, description="output channels of the block's convolutions")
    convs: int = Field(1, ge=1, description="convolutions in the block (kernel x kernel, 'same' padding, ReLU), "
                                            "then a max-pool")


class SeeConfig(Schema):
    blocks: list[BlockConfig] = Field(
        default_factory=lambda: [{"filters": 32}, {"filters": 64}], validate_default=True, min_length=1,
        description="convolution blocks, first to last: [{filters: 32}, {filters: 64, convs: 2}, ...]; the last "
                    "block's filters are the width of the memory the decoder attends over")
    kernel: int = Field(3, ge=1, description="kernel size of every convolution")
    pool: int = Field(2, ge=1, description="max-pooling window and stride after every block (1: none); the grid is "
                                           "the image size divided by pool once per block (rounded down), and the "
                                           "decoder attends over its height x width positions")
    image_size: list[int] = Field(default_factory=lambda: [64, 64], min_length=2, max_length=2,
                                  description="[height, width] every image is resized to (bilinear), in training "
                                              "and inside the exported model")
    channels: Literal[1, 3] = Field(3, description="3: RGB; 1: grey (colour images are converted)")
    positions: bool = Field(True, description="add a learned vector per grid position to the memory, so that what "
                                              "the decoder reads through attention says where in the image it is "
                                              "('left of', 'above'); convolutions alone hardly know")

    @field_validator("image_size")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if min(value) < 1 or max(value) > 4096:
            raise ValueError(f"height and width must be between 1 and 4096; got {value}")
        return value

    @model_validator(mode="after")
    def _grid_is_not_empty(self) -> SeeConfig:
        height, width = self.image_size
        for _ in self.blocks:
            height, width = (height // self.pool, width // self.pool) if self.pool > 1 else (height, width)
        if min(height, width) < 1:
            raise ValueError(f"image_size {self.image_size} is too small for {len(self.blocks)} blocks with pool "
                             f"{self.pool}: the grid would be {height} x {width}; use fewer blocks, a smaller pool "
                             "or larger images")
        return self

    def grid(self) -> tuple[int, int]:
        height, width = self.image_size
        for _ in self.blocks:
            height, width = (height // self.pool, width // self.pool) if self.pool > 1 else (height, width)
        return height, width


@register_stage
class SeeStage(Stage):
    """Convolutional image encoder: a grid of feature vectors (the memory attended over) and its average."""

    name = "see"
    order = 30
    requires = ("splits",)
    provides = ("image_input", "image_memory", "image_summary")
    tasks = (NAME,)
    Config = SeeConfig

    def run(self, ctx):
        from seqpipe.tasks.captioning.runtime import build_image_encoder

        build_image_encoder(ctx, self.config)


class CaptionConfig(DecodeConfig):
    embed_dim: int = Field(64, ge=1, description="caption word embedding width")
    bridge: Literal["zero", "copy", "dense"] = Field(
        "dense", description="how the image summary (the grid's average) initialises the decoder: zero, copy "
                             "(the last block's filters must equal units) or dense")


@register_stage
class CaptionStage(Stage):
    """Recurrent caption decoder attending over the image grid (the translation decoder: cells, attention, bridge)."""

    name = "caption"
    order = 40
    requires = ("image_input", "image_memory", "image_summary", "encoder")
    provides = ("model", "captioner")
    tasks = (NAME,)
    steps_cells = True  # attention needs each step's state
    Config = CaptionConfig

    def run(self, ctx):
        from seqpipe.tasks.captioning.runtime import build_captioner

        build_captioner(ctx, self.config)


class DescribeConfig(Schema):
    decoding: DecodingConfig = Field(default_factory=lambda: BeamConfig(beam_width=5, length_penalty=0.6),
                                     description="decoding strategy and its settings: "
                                                 "{strategy: greedy | beam | sampling, ...}")
    compare_greedy: bool = Field(True, description="also decode greedily and report its scores with a _greedy suffix")
    splits: list[Literal["valid", "test"]] = Field(default_factory=lambda: ["test"], description="splits to caption")
    attention_maps: int = Field(4, ge=0, description="validation images whose attention is drawn over the image, one "
                                                     "panel per generated word (plots/attention_N.png)")


@register_stage
class DescribeStage(Stage):
    """Caption held-out images with greedy, beam search or sampling (compiled); attention maps over the images."""

    name = "describe"
    order = 60
    requires = ("captioner", "splits")
    provides = ("captions",)
    tasks = (NAME,)
    Config = DescribeConfig

    def run(self, ctx):
        from seqpipe.tasks.captioning.runtime import describe

        ctx.put("captions", describe(ctx, self.config))


@register_task
class Captioning(Task):
    ("Image in, caption out: a CNN over the image, the attention decoder over its grid, greedy/beam/sampling "
     "decoding; BLEU, chrF, METEOR against every caption of an image.")

    name = NAME
    roles = ("image", "caption")
    monitors = ("loss", "token_accuracy", "val_loss", "val_token_accuracy", "val_bleu")
    predicts = "texts"
    default_metrics = ("bleu", "chrf", "meteor")
    stage_keys = {"train": (TokenLossKeys, DecodingTrainKeys, ScheduledSamplingKeys), "export": (ExportDecodingKeys,)}
    ignores = {"train": ("batch_tokens",)}
    requires = {"train": ("captioner",), "evaluate": ("captions",), "export": ("captioner",)}

    def rules(self, config):
        if config.data.max_tokens is not None:
            yield (("data", "max_tokens"), f"counts the tokens of the first column, which for task '{NAME}' is the "
                                           "image path; remove it (tokenize.max_length cuts long captions)")
        for name in ("embed", "encode"):
            if config.stage(name) is not None:
                yield (("stages", name), f"task '{NAME}' encodes images with the 'see' stage and embeds captions "
                                         f"in the 'caption' stage; remove '{name}'")
        describe, evaluate = config.stage("describe"), config.stage("evaluate")
        if describe and evaluate:
            missing = [s for s in evaluate.splits if s not in describe.splits]
            if missing:
                yield (("stages", "evaluate", "splits"), f"scores {', '.join(missing)} but stages.describe.splits "
                                                         f"captions only {', '.join(describe.splits)}; add them there")
        see, caption = config.stage("see"), config.stage("caption")
        if see and caption:
            width = see.blocks[-1].filters
            if caption.bridge == "copy" and width != caption.units:
                yield (("stages", "caption", "bridge"), f"'copy' needs units ({caption.units}) to equal the last "
                                                        f"see block's filters ({width}); use dense or zero")
            if caption.attention == "luong_dot" and width != caption.units:
                yield (("stages", "caption", "attention"), f"'luong_dot' needs units ({caption.units}) to equal the "
                                                           f"last see block's filters ({width}); use bahdanau or "
                                                           "luong_general")

    def resolve(self, config):
        super().resolve(config)
        describe = config.stage("describe")
        decoding = describe.decoding if describe else GreedyConfig()
        for stage in ("train", "export"):
            cfg = config.stage(stage)
            if cfg is not None and cfg.decoding is None:
                cfg.decoding = decoding

    def check_data(self, splits, data_cfg, report):
        from seqpipe.tasks.captioning.images import check_images

        return check_images(splits, data_cfg.on_error, report)

    def build_encoders(self, ctx, cfg, build):
        ctx.put("encoder", build(cfg.side(), ctx["splits"]["train"]["caption"].tolist(), "caption_vocab"))

    def fit(self, ctx, cfg):
        from seqpipe.tasks.captioning.runtime import fit

        return fit(ctx, cfg)

    def evaluate(self, ctx, cfg):
        from seqpipe.tasks.captioning.runtime import evaluate

        return evaluate(ctx, cfg, list(cfg.metrics or self.default_metrics))

    def export(self, ctx, cfg, target):
        from seqpipe.tasks.captioning.runtime import export

        return export(ctx, cfg, target)

    def predict_table(self, saved_model, texts, meta):
        from seqpipe.tasks.captioning.runtime import predict_table

        return predict_table(saved_model, texts)
