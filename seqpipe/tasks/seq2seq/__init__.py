"""The sequence-to-sequence core shared by the decoder tasks (translation, captioning).

A decoder task encodes its input into a memory (and final states), and an attention decoder writes the target
text token by token: teacher forcing or scheduled sampling in training, greedy/beam/sampling search after it,
validation BLEU after every epoch, attention maps, one string-in string-out export signature. The tasks differ
only in their encoder and their input; each declares:

- a decoder stage (:class:`DecoderStage`: ``decode`` in translation, ``caption`` in captioning) with the
  decoder's keys (:class:`DecodeConfig`),
- a decoding stage (:class:`DecodingStage`: ``generate``, ``describe``) with :class:`DecodingStageConfig`'s keys,
- a task class derived from :class:`Seq2SeqTask`, whose runtime derives from
  :class:`seqpipe.tasks.seq2seq.runtime.Seq2SeqRuntime`.

Declaration only (no TensorFlow).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from seqpipe.cells import CellSpec
from seqpipe.decoding import BeamConfig, DecodingConfig, GreedyConfig
from seqpipe.layers import ATTENTIONS, TRANSFORMER_KEYS, transformer_field, transformer_width_problem
from seqpipe.pipeline.stage import Stage
from seqpipe.schema import KindSchema, RegistryName, Schema
from seqpipe.tasks.base import Task
from seqpipe.tasks.keys import (
    ExportDecodingKeys,
    LanguageKeys,
    ScheduledSamplingKeys,
    ScoreLanguageKeys,
    TokenLossKeys,
)


class DecodeConfig(KindSchema):
    KIND_KEYS = {"recurrent": ("cell", "attention", "attention_units", "input_feeding", "bridge", "residual"),
                 "transformer": TRANSFORMER_KEYS}

    kind: Literal["recurrent", "transformer"] = Field(
        "recurrent", description="recurrent: stacked recurrent cells with attention over the memory, input feeding "
                                 "and a state bridge; transformer: Transformer decoder blocks (keras-hub's "
                                 "TransformerDecoder: causal self-attention, attention over the memory, a key/value "
                                 "cache when decoding; docs/transformer.md). Each kind reads its own keys")
    cell: CellSpec = Field("lstm", description="recurrent cell: a name (seqpipe list cells) or "
                                                "{kind: name, option: value, ...} (docs/cells.md)")
    units: int = Field(256, ge=1, description="width of every decoder layer (transformer: the model width)")
    layers: int = Field(1, ge=1, description="stacked decoder layers (transformer: blocks)")
    heads: int = transformer_field("heads")
    ff_dim: int | None = transformer_field("ff_dim")
    normalize_first: bool = transformer_field("normalize_first")
    embed_dim: int | None = Field(None, ge=1, description="target embedding width; default: stages.embed.dim "
                                                          "(transformer: projected to units when it differs)")
    attention: Annotated[str, RegistryName(ATTENTIONS)] = Field(
        "bahdanau", description="bahdanau, luong_dot, luong_general or none")
    attention_units: int | None = Field(None, ge=1, description="additive/bilinear attention width; default: units")
    input_feeding: bool = Field(True, description="feed the previous attentional vector into the next step")
    bridge: Literal["zero", "copy", "dense"] = Field(
        "dense", description="how the encoder's final state initialises the decoder")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on target embeddings and attentional vectors "
                                                        "(transformer: on the embeddings, inside every block and "
                                                        "before the output layer)")
    residual: bool = Field(False, description="add each decoder layer's input to its output from the second layer on")


class DecodingStageConfig(Schema):
    decoding: DecodingConfig = Field(default_factory=lambda: BeamConfig(beam_width=5, length_penalty=0.6),
                                     description="decoding strategy and its settings: "
                                                 "{strategy: greedy | beam | sampling, ...}")
    compare_greedy: bool = Field(True, description="also decode greedily and report its scores with a _greedy suffix")
    splits: list[Literal["valid", "test"]] = Field(default_factory=lambda: ["test"], description="splits to decode")

    def attention_plots(self) -> int:
        """How many validation examples get their attention drawn (the subclass's key)."""
        return 0


class TrainKeys(Schema):
    validation_subset: int = Field(200, ge=0, description="validation examples decoded after every epoch "
                                                          "for val_bleu; 0 turns it off")
    decoding: DecodingConfig | None = Field(None, description="decoding for val_bleu; default: the decoding "
                                                              "stage's decoding, else greedy")


class DecoderStage(Stage):
    """The attention decoder over the task's encoder; publishes the training model and the ``generator``."""

    order = 40
    provides = ("model", "generator")
    steps_cells = True  # attention needs each step's state

    @classmethod
    def rules(cls, config, base_dir):
        decode = config.stage(cls.name)
        if decode is None:
            return
        problem = transformer_width_problem(decode, cls.name)
        if problem:
            yield problem
        train = config.stage("train")
        if decode.kind == "transformer" and train is not None and train.scheduled_sampling is not None:
            yield (("stages", "train", "scheduled_sampling"), "feeds a recurrent decoder its own tokens step by step; "
                                                              f"stages.{cls.name}.kind 'transformer' reads the whole "
                                                              "target at once; remove it or use kind: recurrent")

    def run(self, ctx):
        ctx.task.runtime.build_decoder(ctx, self.config)


class DecodingStage(Stage):
    """Decode held-out splits with greedy, beam search or sampling (compiled in graph mode); attention plots."""

    order = 60
    requires = ("generator", "splits")
    provides = ("hypotheses",)

    def run(self, ctx):
        ctx.put("hypotheses", ctx.task.runtime.decode_splits(ctx, self.config))


class Seq2SeqTask(Task):
    """A decoder task: its decoding stage (``decoding_stage``) decodes what ``evaluate`` scores."""

    decoding_stage: ClassVar[str] = ""
    monitors = ("loss", "token_accuracy", "val_loss", "val_token_accuracy", "val_bleu")
    predicts = "texts"
    stage_keys = {"tokenize": (LanguageKeys,), "train": (TokenLossKeys, TrainKeys, ScheduledSamplingKeys),
                  "evaluate": (ScoreLanguageKeys,), "export": (ExportDecodingKeys,)}
    requires = {"train": ("generator",), "evaluate": ("hypotheses",), "export": ("generator",)}
    several_references: ClassVar[bool] = False  # whether the reference column joins several with " | " on disk

    def references_of(self, table) -> list[list[str]]:
        """Each row's references, from the table in memory (lists) or read back (joined by `` | ``)."""
        from seqpipe.metrics.resampling import REFERENCE_SEPARATOR

        def refs(value):
            if isinstance(value, (list, tuple)):
                return [str(r) for r in value]
            return str(value).split(REFERENCE_SEPARATOR) if self.several_references else [str(value)]

        return [refs(value) for value in table[self.reference_columns[0]]]

    def resampler(self, table, metric):
        """The metric of ``hypothesis`` (the chosen decoding) from per-example statistics: BLEU, chrF and TER
        through sacrebleu's, the COCO caption scores but METEOR through theirs; other columns of the table
        (n-best lists, greedy hypotheses, sentence scores) are not read."""
        import seqpipe.metrics  # noqa: F401 (registers the metrics and their resamplers)
        from seqpipe.metrics.resampling import RESAMPLERS

        if metric not in RESAMPLERS or "hypothesis" not in table.columns:
            return None
        return RESAMPLERS[metric]([str(h) for h in table["hypothesis"]], self.references_of(table))

    def rules(self, config):
        decoding, evaluate = config.stage(self.decoding_stage), config.stage("evaluate")
        if decoding and evaluate:
            missing = [s for s in evaluate.splits if s not in decoding.splits]
            if missing:
                yield (("stages", "evaluate", "splits"), f"scores {', '.join(missing)} but stages.{self.decoding_stage}"
                                                         f".splits decodes only {', '.join(decoding.splits)}; add "
                                                         "them there")
        if evaluate:  # a metric that scores only some languages (``fn.languages``) and the texts' language
            from seqpipe.metrics import METRICS

            tokenize = config.stage("tokenize")
            language = evaluate.language or (tokenize.language if tokenize is not None else LanguageKeys().language)
            for i, name in enumerate(evaluate.metrics or self.default_metrics):
                languages = getattr(METRICS.get(name), "languages", None) if name in METRICS else None
                if languages and language not in languages:
                    yield (("stages", "evaluate", "metrics", i), f"{name} scores {', '.join(languages)} only, but "
                                                                  f"the texts are '{language}' (tokenize.language); "
                                                                  "drop it")

    def resolve(self, config):
        super().resolve(config)
        tokenize, evaluate = config.stage("tokenize"), config.stage("evaluate")
        if evaluate is not None and evaluate.language is None:
            evaluate.language = tokenize.language if tokenize is not None else LanguageKeys().language
        stage = config.stage(self.decoding_stage)
        decoding = stage.decoding if stage else GreedyConfig()
        for name in ("train", "export"):
            cfg = config.stage(name)
            if cfg is not None and cfg.decoding is None:
                cfg.decoding = decoding
