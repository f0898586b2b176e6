"""Token embeddings (the model's input layer), optionally joined by a character-level word encoder."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from seqpipe.config.schema import RegistryName, Schema
from seqpipe.layers import CELLS
from seqpipe.pipeline.stage import Stage, register_stage


class CharsConfig(Schema):
    dim: int = Field(32, ge=1, description="character embedding width")
    units: int = Field(32, ge=1, description="units per direction of the character RNN (adds 2 x units features per word)")
    cell: Annotated[str, RegistryName(CELLS)] = Field("lstm", description="recurrent cell of the character RNN")
    max_chars: int = Field(20, ge=1, description="characters kept per word")
    min_frequency: int = Field(1, ge=1, description="characters seen fewer times in training map to [UNK]")


class EmbedConfig(Schema):
    dim: int = Field(128, ge=1, description="embedding width")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the embeddings")
    chars: CharsConfig | None = Field(None, description="tagging: also encode every word from its characters with a "
                                                        "bidirectional RNN (helps with words unseen in training); null for none")


@register_stage
class EmbedStage(Stage):
    """Embedding of token ids with masking of padding (id 0), plus an optional character-level word encoder."""

    name = "embed"
    order = 20
    requires = ("encoder", "splits")
    provides = ("token_ids", "char_ids", "char_encoder", "embedded")
    Config = EmbedConfig

    def run(self, ctx):
        import keras

        cfg = self.config
        ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        # A language model reads left to right and its padding only ever follows the real tokens,
        # so it needs no mask (and Keras would otherwise carry one onto its logits).
        mask_zero = ctx.config.task != "language_model"
        x = keras.layers.Embedding(ctx["encoder"].vocabulary_size, cfg.dim, mask_zero=mask_zero, name="embedding")(ids)
        char_ids = char_encoder = None
        if cfg.chars is not None:
            char_encoder, char_ids, words = self._chars(ctx, cfg.chars)
            x = keras.layers.Concatenate(name="word_and_chars")([x, words])
        if cfg.dropout:
            x = keras.layers.Dropout(cfg.dropout, name="embedding_dropout")(x)
        ctx.put("token_ids", ids)
        ctx.put("char_ids", char_ids)
        ctx.put("char_encoder", char_encoder)
        ctx.put("embedded", x)

    @staticmethod
    def _chars(ctx, cfg):
        import keras

        from seqpipe.layers.char_words import CharWordEncoder
        from seqpipe.tasks import ROLES
        from seqpipe.text.chars import CharEncoder, char_vocabulary

        sentences = ctx["splits"]["train"][ROLES[ctx.config.task][0]].tolist()
        vocabulary = char_vocabulary(sentences, cfg.min_frequency)
        path = ctx.path("char_vocab.txt")
        path.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
        ctx.tracker.log_artifact(path)
        ctx.log.info("char vocab: %d characters", len(vocabulary))
        char_ids = keras.Input(shape=(None, None), dtype="int32", name="char_ids")
        words = CharWordEncoder(len(vocabulary), cfg.dim, cfg.units, cfg.cell, name="char_word_encoder")(char_ids)
        return CharEncoder(vocabulary, cfg.max_chars, name="char_encoder"), char_ids, words
