"""Config schemas of the decoding strategies (importable without TensorFlow).

Each strategy's keys are validated by its own class; ``strategy`` is the discriminator,
so a stage config can hold ``decoding: DecodingConfig`` and YAML reads::

    decoding: {strategy: beam, beam_width: 5, length_penalty: 0.6}

The union's ``strategy`` values are the names registered in ``seqpipe.decoding.STRATEGIES`` (a test checks
that they agree); a config problem names them: ``decoding.strategy: must be one of beam, greedy, sampling;
got 'topk'``, and a problem inside a strategy is reported at its own key (``decoding.beam_width``).
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from seqpipe.schema import Schema


class GreedyConfig(Schema):
    """Greedy search: the most probable token at every step."""

    strategy: Literal["greedy"] = Field("greedy", description="decoding strategy")


class BeamConfig(Schema):
    """Beam search with the GNMT length and coverage penalties (Wu et al. 2016)."""

    strategy: Literal["beam"] = Field("beam", description="decoding strategy")
    beam_width: int = Field(4, ge=1, description="hypotheses kept per example at every step")
    length_penalty: float = Field(
        0.0, ge=0, description="alpha of lp(Y) = ((5 + |Y|) / 6) ** alpha; the score is log P(Y) / lp(Y), "
        "so alpha > 0 favours longer outputs; 0 turns it off")
    coverage_penalty: float = Field(
        0.0, ge=0, description="beta of cp = beta * sum_i log(min(sum_t a_ti, 1)) over source positions "
        "with some attention, added to the score; > 0 favours outputs that attend to every source position; "
        "0 turns it off")
    n_best: int = Field(1, ge=1, description="hypotheses returned per example, best first (at most beam_width)")

    @model_validator(mode="after")
    def _n_best_fits(self) -> "BeamConfig":
        if self.n_best > self.beam_width:
            raise ValueError(f"n_best ({self.n_best}) must be <= beam_width ({self.beam_width})")
        return self


class SamplingConfig(Schema):
    """Ancestral sampling with temperature, top-k and nucleus (top-p) filtering."""

    strategy: Literal["sampling"] = Field("sampling", description="decoding strategy")
    temperature: float = Field(1.0, gt=0, description="logits are divided by this; < 1 sharpens, > 1 flattens")
    top_k: int = Field(0, ge=0, description="sample among the k most probable tokens only; 0 turns it off")
    top_p: float = Field(
        1.0, gt=0, le=1, description="sample among the smallest set of most probable tokens whose probability "
        "reaches top_p (nucleus sampling); 1 turns it off")
    seed: int = Field(0, description="the same seed, inputs and model give the same samples (stateless random ops)")


DecodingConfig = Annotated[Union[GreedyConfig, BeamConfig, SamplingConfig], Field(discriminator="strategy")]
"""Any strategy's config, chosen by its ``strategy`` key (for stage schemas)."""
