"""The strategy contract shared by every decoding strategy (importable without TensorFlow).

Shapes: B = batch, K = ``width`` (hypotheses per example), V = vocabulary, S = source length.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

from seqpipe.registry import Registry
from seqpipe.schema import Schema


class Candidates(NamedTuple):
    """Every one-token extension of every hypothesis, as the shared loop sees it.

    ``log_probs`` float32 [B, K, V]: the hypothesis' summed log-probability plus the token's.
    ``lengths`` int32 [B, K]: the length after the extension (unchanged for finished ones).
    ``coverage`` float32 [B, K, S]: attention summed over the steps, this one included
    ([B, K, 1] zeros when the step function returns no attention).

    A finished hypothesis has exactly one finite extension, padding (token 0) at zero cost.
    """

    log_probs: Any
    lengths: Any
    coverage: Any


class Strategy:
    """Chooses, at each step, which K (hypothesis, token) extensions survive.

    Subclasses set ``Config`` and implement :meth:`select`; ones that keep several
    hypotheses per example override ``width`` and :meth:`score`.
    """

    Config: ClassVar[type[Schema]] = Schema

    def __init__(self, config: Schema):
        self.config = config

    @property
    def width(self) -> int:
        """K, the number of hypotheses kept per example."""
        return 1

    @property
    def n_best(self) -> int:
        """How many hypotheses per example ``decode`` returns."""
        return 1

    def select(self, step, step_log_probs, candidates: Candidates):
        """Return ``(parent, token)``, both int32 [B, K].

        ``step`` is the int32 step index (0-based); ``step_log_probs`` float32 [B, K, V] are
        this step's token log-probabilities (a finished row is 0 for padding, -inf elsewhere).
        ``parent[b, k]`` in [0, K) names the hypothesis that hypothesis k extends.
        """
        raise NotImplementedError

    def score(self, log_probs, lengths, coverage):
        """The final ranking score [B, K] of hypotheses with these sums [B, K], lengths
        [B, K] and coverage [B, K, S]. The default is the plain log-probability."""
        return log_probs


STRATEGIES: Registry[type[Strategy]] = Registry("decoding strategy", base=Strategy)
STRATEGIES.register("greedy", "seqpipe.decoding.strategies:Greedy",
                    description="the most probable token at every step")
STRATEGIES.register("beam", "seqpipe.decoding.strategies:BeamSearch",
                    description="beam search with GNMT length and coverage penalties")
STRATEGIES.register("sampling", "seqpipe.decoding.strategies:Sampling",
                    description="ancestral sampling with temperature, top-k and top-p (seeded, stateless)")
