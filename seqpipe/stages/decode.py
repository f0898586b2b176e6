"""The attention decoder of a sequence-to-sequence model."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from seqpipe.config.schema import RegistryName, Schema
from seqpipe.layers import ATTENTIONS, CELLS
from seqpipe.pipeline.stage import Stage, register_stage


class DecodeConfig(Schema):
    cell: Annotated[str, RegistryName(CELLS)] = Field("lstm", description="recurrent cell: rnn, lstm or gru")
    units: int = Field(256, ge=1, description="width of every decoder layer")
    layers: int = Field(1, ge=1, description="stacked decoder layers")
    embed_dim: int | None = Field(None, ge=1, description="target embedding width; default: stages.embed.dim")
    attention: Annotated[str, RegistryName(ATTENTIONS)] = Field("bahdanau", description="bahdanau, luong_dot, luong_general or none")
    attention_units: int | None = Field(None, ge=1, description="additive/bilinear attention width; default: units")
    input_feeding: bool = Field(True, description="feed the previous attentional vector into the next step")
    bridge: Literal["zero", "copy", "dense"] = Field("dense", description="how the encoder's final state initialises the decoder")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on target embeddings and attentional vectors")


@register_stage
class DecodeStage(Stage):
    """Recurrent decoder with Bahdanau/Luong attention, input feeding and a state bridge."""

    name = "decode"
    order = 40
    requires = ("token_ids", "encoded", "encoder_states", "target_encoder")
    provides = ("model", "translator")
    tasks = ("translation",)
    Config = DecodeConfig

    def run(self, ctx):
        import keras

        from seqpipe.layers.decoder import AttentionDecoder
        from seqpipe.tasks.translation import Translator

        cfg = self.config
        ids, memory, states = ctx["token_ids"], ctx["encoded"], ctx["encoder_states"]
        target_encoder = ctx["target_encoder"]
        decoder = AttentionDecoder(
            vocab_size=target_encoder.vocabulary_size, embed_dim=cfg.embed_dim or ctx.config.stage("embed").dim,
            cell=cfg.cell, units=cfg.units, layers=cfg.layers, attention=cfg.attention,
            attention_units=cfg.attention_units, input_feeding=cfg.input_feeding, bridge=cfg.bridge,
            memory_dim=memory.shape[-1], encoder_state_dims=[s.shape[-1] for s in states], dropout=cfg.dropout,
            name="decoder")
        target_in = keras.Input(shape=(None,), dtype="int32", name="target_in")
        mask = keras.layers.Lambda(lambda x: keras.ops.not_equal(x, 0), name="source_mask")(ids)
        logits = decoder(target_in, memory, mask, states)
        model = keras.Model([ids, target_in], logits, name=ctx.config.name.replace("-", "_"))
        encoder_model = keras.Model(ids, [memory, *states], name="encoder")
        ctx.log.info("model: %s parameters", f"{model.count_params():,}")
        ctx.tracker.log_metrics({"parameters": model.count_params()})
        ctx.put("model", model)
        ctx.put("translator", Translator(ctx["encoder"], target_encoder, encoder_model, decoder, target_encoder.max_length))
