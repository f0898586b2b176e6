"""Build the vocabulary on the training split and the in-graph text encoder."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from seqpipe.config.schema import RegistryName, Schema
from seqpipe.pipeline.stage import Stage, register_stage
from seqpipe.text import TOKENIZERS


class TargetTokenizeConfig(Schema):
    kind: Annotated[str, RegistryName(TOKENIZERS)] | None = Field(None, description="target tokenizer; default: the source's")
    vocab_size: int | None = Field(None, ge=8, description="target vocabulary size; default: the source's")
    min_frequency: int | None = Field(None, ge=1, description="default: the source's")
    lowercase: bool | None = Field(None, description="default: the source's")
    max_length: int | None = Field(None, ge=2, description="target tokens kept, [START]/[END] included; default: the source's")


class TokenizeConfig(Schema):
    kind: Annotated[str, RegistryName(TOKENIZERS)] | None = Field(None, description="tokenizer: char, word, whitespace, wordpiece or sentencepiece; default: whitespace for tagging, word otherwise")
    vocab_size: int = Field(20000, ge=8, description="largest vocabulary, [PAD], [UNK], [START] and [END] included")
    min_frequency: int = Field(1, ge=1, description="char/word: drop tokens seen fewer times in the training split")
    lowercase: bool = Field(True, description="lowercase before splitting")
    max_length: int = Field(64, ge=1, description="keep at most this many tokens per example (tagging: per training sentence; tagging a sentence never cuts it)")
    target: TargetTokenizeConfig = Field(default_factory=TargetTokenizeConfig, description="translation: the target side (unset keys follow the source side)")
    shared: bool = Field(False, description="translation: one vocabulary for both sides, built from source and target text")


def default_kind(kind: str | None, task: str) -> str:
    """The tokenizer kind, defaulting to ``whitespace`` for tagging (tags align with given tokens), else ``word``."""
    return kind or ("whitespace" if task == "tagging" else "word")


@register_stage
class TokenizeStage(Stage):
    """Tokenization inside the model graph; vocabulary built from the training split."""

    name = "tokenize"
    order = 10
    requires = ("splits",)
    provides = ("encoder", "target_encoder")
    Config = TokenizeConfig

    def run(self, ctx):
        from seqpipe.tasks import ROLES

        cfg = self.config
        train = ctx["splits"]["train"]
        source_role = ROLES[ctx.config.task][0]
        side = {**cfg.model_dump(exclude={"target", "shared"}), "kind": default_kind(cfg.kind, ctx.config.task)}
        if ctx.config.task != "translation":
            ctx.put("encoder", self._build(ctx, side, train[source_role].tolist(), "vocab"))
            return
        target_role = ROLES[ctx.config.task][1]
        target = {**side, **{k: v for k, v in cfg.target.model_dump().items() if v is not None}}
        if cfg.shared:
            texts = train[source_role].tolist() + train[target_role].tolist()
            source = self._build(ctx, side, texts, "vocab")
            target_encoder = source.__class__.from_config({**source.get_config(), "max_length": target["max_length"], "name": "target_encoder"})
        else:
            source = self._build(ctx, side, train[source_role].tolist(), "source_vocab")
            target_encoder = self._build(ctx, target, train[target_role].tolist(), "target_vocab")
        ctx.put("encoder", source)
        ctx.put("target_encoder", target_encoder)

    @staticmethod
    def _build(ctx, side: dict, texts: list[str], name: str):
        from seqpipe.text.encoder import TextEncoder

        kind = TOKENIZERS.get(side["kind"])(None, side["lowercase"])
        vocabulary = kind.build_vocabulary(texts, side["vocab_size"], side["min_frequency"])
        encoder = TextEncoder(side["kind"], vocabulary, side["max_length"], side["lowercase"], model=kind.model,
                              name=name.replace("vocab", "encoder") if name != "vocab" else "text_encoder")
        vocab_file = ctx.path(f"{name}.txt")
        vocab_file.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
        ctx.tracker.log_artifact(vocab_file)
        ctx.tracker.log_metrics({f"{name}_size": len(vocabulary)})
        ctx.log.info("%s: %d %s tokens", name.replace("_", " "), len(vocabulary), side["kind"])
        return encoder
