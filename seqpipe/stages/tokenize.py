"""Build the vocabulary on the training split and the in-graph text encoder."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from seqpipe.config.schema import RegistryName, Schema
from seqpipe.pipeline.stage import Stage, register_stage
from seqpipe.text import TOKENIZERS


class TokenizeConfig(Schema):
    kind: Annotated[str, RegistryName(TOKENIZERS)] = Field("word", description="tokenizer: char, word or wordpiece")
    vocab_size: int = Field(20000, ge=4, description="largest vocabulary, [PAD] and [UNK] included")
    min_frequency: int = Field(1, ge=1, description="char/word: drop tokens seen fewer times in the training split")
    lowercase: bool = Field(True, description="lowercase before splitting")
    max_length: int = Field(64, ge=1, description="keep at most this many tokens per example")


@register_stage
class TokenizeStage(Stage):
    """Tokenization inside the model graph; vocabulary built from the training split."""

    name = "tokenize"
    order = 10
    requires = ("splits",)
    provides = ("encoder",)
    Config = TokenizeConfig

    def run(self, ctx):
        from seqpipe.text.encoder import TextEncoder

        cfg = self.config
        texts = ctx["splits"]["train"]["text"].tolist()
        kind = TOKENIZERS.get(cfg.kind)(None, cfg.lowercase)
        vocabulary = kind.build_vocabulary(texts, cfg.vocab_size, cfg.min_frequency)
        encoder = TextEncoder(cfg.kind, vocabulary, cfg.max_length, cfg.lowercase, name="text_encoder")
        vocab_file = ctx.path("vocab.txt")
        vocab_file.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
        ctx.tracker.log_artifact(vocab_file)
        ctx.tracker.log_metrics({"vocab_size": len(vocabulary)})
        ctx.log.info("vocabulary: %d %s tokens", len(vocabulary), cfg.kind)
        ctx.put("encoder", encoder)
