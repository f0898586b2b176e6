"""A stack of (bidirectional) recurrent layers over the embeddings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from seqpipe.cells import CELLS
from seqpipe.config.schema import RegistryName, Schema
from seqpipe.pipeline.stage import Stage, register_stage


class EncodeConfig(Schema):
    cell: Annotated[str, RegistryName(CELLS)] = Field("lstm", description="recurrent cell (seqpipe list cells)")
    units: int = Field(128, ge=1, description="units per direction in each layer")
    layers: int = Field(1, ge=1, description="number of stacked recurrent layers")
    bidirectional: bool = Field(False, description="run each layer in both directions")
    merge_mode: Literal["concat", "sum", "ave", "mul"] = Field("concat", description="how the two directions combine")
    residual: bool = Field(False, description="add each layer's input to its output where the widths match")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout between stacked layers")
    recurrent_dropout: float = Field(0.0, ge=0, lt=1,
                                     description="dropout on the recurrent state; > 0 disables the cuDNN kernel")


@register_stage
class EncodeStage(Stage):
    """Stacked (bi)directional recurrent layers of any registered cell, with optional residual connections."""

    name = "encode"
    order = 30
    requires = ("embedded",)
    provides = ("encoded", "encoder_states", "encoder_layout")
    Config = EncodeConfig

    def run(self, ctx):
        from seqpipe.layers.recurrent import cudnn_eligible, recurrent_stack

        cfg = self.config
        encoded, states = recurrent_stack(ctx["embedded"], return_state=True, **cfg.model_dump())
        ctx.put("encoded", encoded)
        ctx.put("encoder_states", states)
        # the width of the backward half of each output step (for pooling that reads the final states)
        ctx.put("encoder_layout",
                {"backward_units": cfg.units if cfg.bidirectional and cfg.merge_mode == "concat" else 0})
        eligible, why = cudnn_eligible(cfg.cell, cfg.recurrent_dropout)
        ctx.tracker.set_tags({"cudnn_eligible": str(eligible).lower(), "cudnn_reason": why})
