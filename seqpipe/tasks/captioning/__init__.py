"""Image captioning: a convolutional encoder over the image, the attention decoder over its grid, COCO scores.

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

from seqpipe.pipeline.stage import Stage, register_stage
from seqpipe.schema import Schema
from seqpipe.tasks.base import register_task
from seqpipe.tasks.captioning.images import DIGEST
from seqpipe.tasks.seq2seq import DecodeConfig, DecoderStage, DecodingStage, DecodingStageConfig, Seq2SeqTask

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
        ctx.task.runtime.build_image_encoder(ctx, self.config)


class CaptionConfig(DecodeConfig):
    embed_dim: int = Field(64, ge=1, description="caption word embedding width")
    bridge: Literal["zero", "copy", "dense"] = Field(
        "dense", description="how the image summary (the grid's average) initialises the decoder: zero, copy "
                             "(the last block's filters must equal units) or dense")


@register_stage
class CaptionStage(DecoderStage):
    """Recurrent caption decoder attending over the image grid (the translation decoder: cells, attention, bridge)."""

    name = "caption"
    requires = ("image_input", "image_memory", "image_summary", "encoder")
    tasks = (NAME,)
    Config = CaptionConfig


class DescribeConfig(DecodingStageConfig):
    attention_maps: int = Field(4, ge=0, description="validation images whose attention is drawn over the image, one "
                                                     "panel per generated word (plots/attention_N.png)")

    def attention_plots(self) -> int:
        return self.attention_maps


@register_stage
class DescribeStage(DecodingStage):
    """Caption held-out images with greedy, beam search or sampling (compiled); attention maps over the images."""

    name = "describe"
    tasks = (NAME,)
    Config = DescribeConfig


@register_task
class Captioning(Seq2SeqTask):
    ("Image in, caption out: a CNN over the image, the attention decoder over its grid, greedy/beam/sampling "
     "decoding; the COCO caption scores (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D) against every caption of an image.")

    name = NAME
    roles = ("image", "caption")
    default_metrics = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor_coco", "rouge_l", "cider_d")
    decoding_stage = "describe"
    ignores = {"train": ("batch_tokens",)}
    runtime_class = "seqpipe.tasks.captioning.runtime:CaptioningRuntime"
    serving = "seqpipe.tasks.captioning.serving"
    evaluation_file = "{split}_captions.tsv"
    input_columns, reference_columns = (DIGEST,), ("references",)  # the digest, not the machine's path
    several_references = True

    def rules(self, config):
        yield from super().rules(config)
        if config.data.max_tokens is not None:
            yield (("data", "max_tokens"), f"counts the tokens of the first column, which for task '{NAME}' is the "
                                           "image path; remove it (tokenize.max_length cuts long captions)")
        for name in ("embed", "encode"):
            if config.stage(name) is not None:
                yield (("stages", name), f"task '{NAME}' encodes images with the 'see' stage and embeds captions "
                                         f"in the 'caption' stage; remove '{name}'")
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

    def check_data(self, splits, data_cfg, report):
        from seqpipe.tasks.captioning.images import check_images

        return check_images(splits, data_cfg.on_error, report)
