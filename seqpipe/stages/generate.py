"""Decode held-out sources with the configured strategy (and greedy, side by side)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seqpipe.config.schema import Schema
from seqpipe.decoding import BeamConfig, DecodingConfig
from seqpipe.pipeline.stage import Stage, register_stage


class GenerateConfig(Schema):
    decoding: DecodingConfig = Field(default_factory=lambda: BeamConfig(beam_width=5, length_penalty=0.6),
                                     description="decoding strategy and its settings: {strategy: greedy | beam | sampling, ...}")
    compare_greedy: bool = Field(True, description="also decode greedily and report its scores with a _greedy suffix")
    splits: list[Literal["valid", "test"]] = Field(default_factory=lambda: ["test"], description="splits to translate")
    heatmaps: int = Field(4, ge=0, description="attention heatmaps (PNG) drawn for the first validation sentences")


@register_stage
class GenerateStage(Stage):
    """Translate held-out splits with greedy, beam search or sampling, compiled in graph mode."""

    name = "generate"
    order = 60
    requires = ("translator", "splits")
    provides = ("hypotheses",)
    tasks = ("translation",)
    Config = GenerateConfig

    def run(self, ctx):
        import time

        from seqpipe.tasks.plots import plot_attention

        cfg, translator, splits = self.config, ctx["translator"], ctx["splits"]
        strategies = {"": cfg.decoding.model_dump()}
        if cfg.compare_greedy and cfg.decoding.strategy != "greedy":
            strategies["_greedy"] = {"strategy": "greedy"}
        hypotheses = {}
        for split in cfg.splits:
            sources = splits[split]["source"].tolist()
            for suffix, decoding in strategies.items():
                t0 = time.perf_counter()
                out = translator.translate(sources, decoding)
                seconds = time.perf_counter() - t0
                tokens = sum(len(t) for t in out["tokens"])
                ctx.tracker.log_metrics({f"{split}_decode_tokens_per_s{suffix}": tokens / seconds})
                ctx.log.info("%s: decoded %d sentences (%s) in %.1f s, %.0f target tokens/s", split, len(sources),
                             decoding["strategy"], seconds, tokens / seconds)
                hypotheses[f"{split}{suffix}"] = out
        if cfg.heatmaps and len(splits["valid"]):
            sources = splits["valid"]["source"].tolist()[: cfg.heatmaps]
            out = translator.translate(sources, strategies[""])
            for i, (source, attention) in enumerate(zip(sources, out["attention"])):
                src_tokens = [t.decode("utf-8", "replace") for t in translator.source_encoder.tokens([source]).to_list()[0]]
                tgt_tokens = [translator.target_encoder.vocabulary[t] for t in out["tokens"][i]]
                png = plot_attention(attention, src_tokens, tgt_tokens, ctx.path("plots", f"attention_{i}.png"))
                ctx.tracker.log_artifact(png, "plots")
        ctx.put("hypotheses", hypotheses)
