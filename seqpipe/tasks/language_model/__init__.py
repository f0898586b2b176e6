"""Recurrent language models: next-token prediction over a token stream; score and generate text.

Declaration only (no TensorFlow); the model code is in :mod:`.runtime`.
"""

from __future__ import annotations

from pydantic import Field

from seqpipe.decoding import DecodingConfig, SamplingConfig
from seqpipe.pipeline.stage import Stage, register_stage
from seqpipe.schema import Schema
from seqpipe.tasks.base import Task, register_task
from seqpipe.tasks.keys import ExportDecodingKeys, TokenLossKeys

NAME = "language_model"


class LMConfig(Schema):
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the recurrent outputs before the output layer")


@register_stage
class LMStage(Stage):
    """Next-token softmax over the recurrent outputs (a recurrent language model)."""

    name = "lm"
    order = 40
    requires = ("token_ids", "encoded", "encoder")
    provides = ("model", "language_model")
    tasks = (NAME,)
    Config = LMConfig

    def run(self, ctx):
        ctx.task.runtime.build_head(ctx, self.config)


class SampleConfig(Schema):
    prompts: list[str] = Field(default_factory=lambda: ["ROMEO:"],
                               description="prompts continued after every epoch and at the end")
    max_length: int = Field(300, ge=1, description="tokens generated per prompt")
    decoding: DecodingConfig = Field(default_factory=lambda: SamplingConfig(temperature=0.8, seed=1),
                                     description="decoding strategy: sampling (temperature, top_k, top_p, seed), "
                                                 "greedy or beam")


@register_stage
class SampleStage(Stage):
    """Generate continuations of fixed prompts with greedy, beam or (seeded) sampling."""

    name = "sample"
    order = 60
    requires = ("language_model",)
    provides = ("samples",)
    tasks = (NAME,)
    Config = SampleConfig

    def run(self, ctx):
        ctx.put("samples", ctx.task.runtime.write_samples(ctx, self.config))


class TrainKeys(Schema):
    window: int = Field(100, ge=2, description="tokens per training window (truncated backpropagation through time)")
    stateful: bool = Field(False, description="split the stream into batch_size parallel streams and carry each one's "
                                              "state across consecutive windows (longer context, no window shuffling); "
                                              "false: every window starts from a zero state")
    samples: SampleConfig | None = Field(None, description="text samples written after every epoch; default: "
                                                           "the sample stage's settings (none without one); "
                                                           "null for none")


class EvaluateKeys(Schema):
    shuffled_pairs: int = Field(500, ge=0, description="held-out lines (4+ words) scored against a word-shuffled copy")
    window: int | None = Field(None, ge=2, description="tokens per scoring window; default: stages.train.window")


class ExportKeys(Schema):
    max_length: int | None = Field(None, ge=1, description="tokens the generate signature adds to each prompt; "
                                                           "default: stages.sample.max_length")


@register_task
class LanguageModelTask(Task):
    """Text in, the next token at every position: perplexity and bits per token, sampling; score/generate signatures."""

    name = NAME
    roles = ("text",)  # data.split.group_by names an extra column to split by
    monitors = ("loss", "token_accuracy", "val_loss", "val_token_accuracy")
    predicts = None  # scored by loss, perplexity and bits per token, not by registered metrics
    mask_padding = False  # it reads left to right and its padding only follows the real tokens
    causal = True  # encode.kind transformer: decoder-only blocks (a causal mask, no attention to the future)
    stage_keys = {"train": (TokenLossKeys, TrainKeys), "evaluate": (EvaluateKeys,),
                  "export": (ExportDecodingKeys, ExportKeys)}
    ignores = {"tokenize": ("max_length",), "evaluate": ("metrics",), "train": ("batch_tokens",)}
    requires = {"train": ("language_model",), "evaluate": ("language_model",), "export": ("language_model",)}
    runtime_class = "seqpipe.tasks.language_model.runtime:LanguageModelRuntime"
    serving = "seqpipe.tasks.language_model.serving"
    commands = "seqpipe.tasks.language_model.commands"
    evaluation_file = "{split}_scores.tsv"
    input_columns = ("text",)

    def main_metric(self, metrics):
        """Perplexity (a language model reads no evaluate.metrics)."""
        return "perplexity"

    def resampler(self, table, metric):
        """Perplexity with texts as the units: each text's ``log_prob`` (nats) and ``num_tokens``."""
        from seqpipe.metrics.resampling import mean_log_prob_perplexity

        if metric != "perplexity":
            return None
        return mean_log_prob_perplexity(table["log_prob"].astype("float64").to_numpy(),
                                        table["num_tokens"].astype("float64").to_numpy())

    def rules(self, config):
        encode = config.stage("encode")
        if encode and encode.kind == "recurrent" and encode.bidirectional:
            yield (("stages", "encode", "bidirectional"), "a language model predicts the next token, so its encoder "
                                                          "cannot read the future; set it to false")
        train = config.stage("train")
        if encode and encode.kind == "transformer" and train and train.stateful:
            yield (("stages", "train", "stateful"), "carries a recurrent state across windows; a Transformer "
                                                    "(encode.kind: transformer) has none: set it to false")

    def resolve(self, config):
        super().resolve(config)
        train, evaluate, export, sample = (config.stage(s) for s in ("train", "evaluate", "export", "sample"))
        settings = sample or SampleConfig()
        if train is not None and "samples" not in train.model_fields_set and sample is not None:
            train.samples = sample
        if evaluate is not None and evaluate.window is None:
            evaluate.window = train.window if train is not None else TrainKeys.model_fields["window"].default
        if export is not None:
            if export.decoding is None:
                export.decoding = settings.decoding
            if export.max_length is None:
                export.max_length = settings.max_length
