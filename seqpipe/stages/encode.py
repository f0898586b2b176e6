"""A stack of (bidirectional) recurrent layers over the embeddings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seqpipe.cells import CellSpec
from seqpipe.layers import TRANSFORMER_KEYS, transformer_field, transformer_width_problem
from seqpipe.pipeline.stage import Stage, register_stage
from seqpipe.schema import KindSchema


class EncodeConfig(KindSchema):
    KIND_KEYS = {"recurrent": ("cell", "bidirectional", "merge_mode", "residual", "recurrent_dropout", "skip_delay"),
                 "transformer": TRANSFORMER_KEYS}

    kind: Literal["recurrent", "transformer"] = Field(
        "recurrent", description="recurrent: stacked (bi)directional recurrent layers of any cell; transformer: "
                                 "Transformer encoder blocks (keras-hub's TransformerEncoder: self-attention over "
                                 "the whole sequence, sine positions; docs/transformer.md). Each kind reads its own "
                                 "keys (heads, ff_dim, normalize_first are the Transformer's)")
    cell: CellSpec = Field("lstm", description="recurrent cell: a name (seqpipe list cells) or "
                                                "{kind: name, option: value, ...} (docs/cells.md)")
    units: int = Field(128, ge=1, description="units per direction in each layer (transformer: the model width, "
                                              "d_model; the embeddings are projected to it when embed.dim differs)")
    layers: int = Field(1, ge=1, description="number of stacked layers (transformer: blocks)")
    heads: int = transformer_field("heads")
    ff_dim: int | None = transformer_field("ff_dim")
    normalize_first: bool = transformer_field("normalize_first")
    bidirectional: bool = Field(False, description="run each layer in both directions")
    merge_mode: Literal["concat", "sum", "ave", "mul"] = Field("concat", description="how the two directions combine")
    residual: bool = Field(False, description="add each layer's input to its output where the widths match")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout between stacked layers (transformer: on the "
                                                        "embedded input and inside every block)")
    recurrent_dropout: float = Field(0.0, ge=0, lt=1,
                                     description="dropout on the recurrent state; > 0 disables the cuDNN kernel")
    skip_delay: int = Field(0, ge=0, description="d > 0: each layer's step t also receives its own output h_{t-d} "
                                                 "(skip connections through time, for long time scales; any cell, "
                                                 "no cuDNN kernel); 0: off")


@register_stage
class EncodeStage(Stage):
    """Stacked (bi)directional recurrent layers of any registered cell, with optional residual and skip connections;
    or, for tasks that add ``encode.tree``, a recursive network over bracketed trees."""

    name = "encode"
    order = 30
    requires = ("embedded",)
    optional = ("token_ids", "encoder", "splits")  # read by the recursive encoder (encode.tree)
    provides = ("encoded", "encoder_states", "encoder_layout")
    Config = EncodeConfig

    @classmethod
    def rules(cls, config, base_dir):
        problem = transformer_width_problem(config.stage(cls.name), cls.name)
        if problem:
            yield problem

    def run(self, ctx):
        cfg = self.config
        tree = getattr(cfg, "tree", None)  # a key of the tasks that pool the encoder's output (seqpipe.tasks.keys)
        if tree is not None:
            return recursive_encoder(ctx, cfg.units, tree)
        if cfg.kind == "transformer":
            return transformer_encoder(ctx, cfg)
        from seqpipe.layers.recurrent import recurrent_stack

        keys = ("units", "layers", "dropout", *EncodeConfig.KIND_KEYS["recurrent"])
        encoded, states = recurrent_stack(ctx["embedded"], return_state=True, **cfg.model_dump(include=set(keys)))
        ctx.put("encoded", encoded)
        ctx.put("encoder_states", states)
        # the width of the backward half of each output step (for pooling that reads the final states)
        ctx.put("encoder_layout",
                {"backward_units": cfg.units if cfg.bidirectional and cfg.merge_mode == "concat" else 0})


def transformer_encoder(ctx, cfg) -> None:
    """``encode.kind: transformer``: keras-hub Transformer blocks (causal ones for a task that reads left to right,
    ``Task.causal``); the final state is the masked mean of the outputs (what a decoder's bridge or a pooling head
    that reads states gets)."""
    from seqpipe.layers.pooling import MaskedPooling
    from seqpipe.layers.transformer import CausalTransformerStack, TransformerEncoderStack

    stack = CausalTransformerStack if ctx.task.causal else TransformerEncoderStack  # a task that reads left to right
    encoded = stack(cfg.units, cfg.layers, cfg.heads, cfg.ff_dim, cfg.dropout, cfg.normalize_first,
                    name="encoder_transformer")(ctx["embedded"])
    ctx.put("encoded", encoded)
    ctx.put("encoder_states", [MaskedPooling("mean", name="encoder_mean")(encoded)])
    ctx.put("encoder_layout", {"backward_units": 0})


def recursive_encoder(ctx, units: int, tree) -> None:
    """``encode.tree``: node states of the bracketed trees in post-order (root last), composed level by level."""
    from seqpipe.layers.pooling import MaskedPooling
    from seqpipe.layers.recursive import RecursiveEncoder
    from seqpipe.stages.tokenize import check_texts
    from seqpipe.text.trees import TreeError, parse_tree

    def too_wide(text: str, lowercase: bool, max_length: int) -> str | None:
        try:
            arity = parse_tree(text).arity()
        except TreeError as exc:  # the tokenize stage reports these first
            return str(exc)
        return (f"a node has {arity} children; stages.encode.tree.max_arity is {tree.max_arity}"
                if arity > tree.max_arity else None)

    check_texts(ctx, None, too_wide, "raise stages.encode.tree.max_arity")
    vocabulary = ctx["encoder"].vocabulary
    layer = RecursiveEncoder(units, tree.composition, max_arity=tree.max_arity, open_id=vocabulary.index("("),
                             close_id=vocabulary.index(")"), name="recursive_encoder")
    encoded = layer(ctx["token_ids"], ctx["embedded"])
    ctx.put("encoded", encoded)
    ctx.put("encoder_states", [MaskedPooling("last", name="tree_root")(encoded)])
    ctx.put("encoder_layout", {"backward_units": 0})
