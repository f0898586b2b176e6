"""Text samples from a language model: from fixed prompts, after every epoch and at the end."""

from __future__ import annotations

from pydantic import Field

from seqpipe.config.schema import Schema
from seqpipe.decoding import DecodingConfig, SamplingConfig
from seqpipe.pipeline.stage import Stage, register_stage


class SampleConfig(Schema):
    prompts: list[str] = Field(default_factory=lambda: ["ROMEO:"], description="prompts continued after every epoch and at the end")
    max_length: int = Field(300, ge=1, description="tokens generated per prompt")
    decoding: DecodingConfig = Field(default_factory=lambda: SamplingConfig(temperature=0.8, seed=1),
                                     description="decoding strategy: sampling (temperature, top_k, top_p, seed), greedy or beam")


@register_stage
class SampleStage(Stage):
    """Generate continuations of fixed prompts with greedy, beam or (seeded) sampling."""

    name = "sample"
    order = 60
    requires = ("language_model",)
    provides = ("samples",)
    tasks = ("language_model",)
    Config = SampleConfig

    def run(self, ctx):
        from seqpipe.tasks.language_model import write_samples

        path = write_samples(ctx["language_model"], self.config, ctx.path("samples", "final.txt"))
        ctx.tracker.log_artifact(path, "samples")
        ctx.log.info("samples:\n%s", path.read_text(encoding="utf-8"))
        ctx.put("samples", path)
