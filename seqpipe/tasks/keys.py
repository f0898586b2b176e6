"""Keys that several tasks add to a generic stage, defined once (see ``Task.stage_keys``)."""

from __future__ import annotations

import math
from typing import Annotated, Literal, Union

from pydantic import Field

from seqpipe.decoding import DecodingConfig
from seqpipe.metrics.languages import DEFAULT_LANGUAGE, LANGUAGES
from seqpipe.schema import Schema


class BucketingKeys(Schema):
    """train: batch examples of similar length together."""

    bucketing: bool = Field(True, description="batch examples of similar length together (less padding)")


class LanguageKeys(Schema):
    """tokenize: the language of the texts a decoder writes, which the text metrics read."""

    language: Literal[LANGUAGES] = Field(
        DEFAULT_LANGUAGE, description="the language of the texts the model writes (the target side of a parallel "
                                      "corpus, the captions of images), an ISO 639-1 code: it chooses METEOR's "
                                      "stemmer (Snowball) and synonyms (WordNet, English only) and the language "
                                      "the METEOR 1.5 jar runs with (meteor_1.5's arguments are recorded in the "
                                      "run tag meteor_1.5.command)")


class ScoreLanguageKeys(Schema):
    """evaluate: the language the text metrics score in, resolved from ``tokenize.language``."""

    language: Literal[LANGUAGES] | None = Field(
        None, description="the language METEOR scores in; default: tokenize.language, the language the model "
                          "writes (set that one)")


class TokenLossKeys(Schema):
    """train: the token-level cross-entropy of models that predict the next token."""

    label_smoothing: float = Field(0.0, ge=0, lt=1, description="label smoothing of the token cross-entropy")


class ExportDecodingKeys(Schema):
    """export: how the exported model decodes."""

    decoding: DecodingConfig | None = Field(None, description="decoding inside the SavedModel's generate/translate "
                                                              "signature; default: the settings of the stage "
                                                              "that decodes")


# -- scheduled sampling (Bengio, Vinyals, Jaitly & Shazeer 2015) -----------------------------------------------------

SCHEDULED_SAMPLING = (
    "scheduled sampling (Bengio et al. 2015): while training, the decoder's input at each step is the gold previous "
    "token with probability eps_i (the teacher-forcing ratio), else the model's own previous prediction; eps_i falls "
    "with i, the number of training steps (optimizer updates) done so far, counted across epochs. {schedule: linear "
    "| exponential | inverse_sigmoid, ...}; the ratio is logged every epoch (teacher_forcing_ratio: the epoch's last "
    "step's). Decoding, validation loss and exported models never change. null: plain teacher forcing")
PREDICTION = ("the model's own token: 'sample' draws it from the previous step's softmax (as the paper does), "
              "'argmax' takes the most probable one")
MIN_RATIO = "the ratio never falls below this (the least teacher forcing kept)"


class RatioSchedule(Schema):
    """What every teacher-forcing ratio schedule does with its fields ``min_ratio`` and ``curve`` (the paper's eps_i);
    each subclass declares its fields, ``schedule`` first."""

    def curve(self, step: int) -> float:
        raise NotImplementedError

    def ratio(self, step: int) -> float:
        """eps at training step ``step`` (0-based: the optimizer updates done before it), in [min_ratio, 1]."""
        return float(min(1.0, max(self.min_ratio, self.curve(int(step)))))


class LinearRatio(RatioSchedule):
    """Linear decay: eps_i = max(min_ratio, k - c * i)."""

    schedule: Literal["linear"] = Field("linear", description="teacher-forcing ratio schedule")
    k: float = Field(1.0, gt=0, le=1, description="the offset: the ratio at step 0")
    c: float = Field(0.001, gt=0, description="the slope: how much the ratio falls per training step")
    min_ratio: float = Field(0.0, ge=0, le=1, description=MIN_RATIO)
    prediction: Literal["sample", "argmax"] = Field("sample", description=PREDICTION)

    def curve(self, step: int) -> float:
        return self.k - self.c * step


class ExponentialRatio(RatioSchedule):
    """Exponential decay: eps_i = k ** i (k < 1)."""

    schedule: Literal["exponential"] = Field("exponential", description="teacher-forcing ratio schedule")
    k: float = Field(0.999, gt=0, lt=1, description="the base: the ratio is multiplied by k at every training step")
    min_ratio: float = Field(0.0, ge=0, le=1, description=MIN_RATIO)
    prediction: Literal["sample", "argmax"] = Field("sample", description=PREDICTION)

    def curve(self, step: int) -> float:
        return self.k ** step


class InverseSigmoidRatio(RatioSchedule):
    """Inverse sigmoid decay: eps_i = k / (k + exp(i / k)) (k >= 1)."""

    schedule: Literal["inverse_sigmoid"] = Field("inverse_sigmoid", description="teacher-forcing ratio schedule")
    k: float = Field(100.0, ge=1, description="larger k: the ratio stays near 1 longer and falls later (it is 0.5 "
                                              "near step k x ln(k))")
    min_ratio: float = Field(0.0, ge=0, le=1, description=MIN_RATIO)
    prediction: Literal["sample", "argmax"] = Field("sample", description=PREDICTION)

    def curve(self, step: int) -> float:
        exponent = step / self.k
        return 0.0 if exponent > 700 else self.k / (self.k + math.exp(exponent))


ScheduledSamplingConfig = Annotated[Union[LinearRatio, ExponentialRatio, InverseSigmoidRatio],
                                    Field(discriminator="schedule")]
"""Any teacher-forcing ratio schedule, chosen by its ``schedule`` key."""


class ScheduledSamplingKeys(Schema):
    """train: scheduled sampling for the models whose decoder is a :class:`seqpipe.layers.decoder.AttentionDecoder`."""

    scheduled_sampling: ScheduledSamplingConfig | None = Field(None, description=SCHEDULED_SAMPLING)


# -- recursive networks over trees (Goodfellow et al. 10.6; Tai, Socher & Manning 2015) ------------------------------

class TreeEncoderConfig(Schema):
    """A recursive encoder over bracketed trees (:class:`seqpipe.layers.recursive.RecursiveEncoder`)."""

    composition: Literal["tanh", "treelstm", "nary_treelstm"] = Field(
        "treelstm", description="how a node's state is made from its children's states and its own token (the leaf, "
                                "or the node's label): tanh: h = tanh(W [h_1; ...; h_A; x] + b); treelstm: the "
                                "Child-Sum TreeLSTM of Tai et al. 2015 (children summed, a forget gate per child); "
                                "nary_treelstm: the N-ary TreeLSTM (children in order, weights per position)")
    max_arity: int = Field(2, ge=1, le=32, description="the most children a node may have (a tree with more is a data "
                                                       "error naming its row); tanh and nary_treelstm have weights "
                                                       "per child position")


class TreeKeys(Schema):
    """encode: a recursive network over the trees of ``tokenize.kind: tree`` instead of a recurrent stack."""

    tree: TreeEncoderConfig | None = Field(
        None, description="compose bracketed trees bottom-up ({composition, max_arity}; needs tokenize.kind: tree): "
                          "the encoder's output is every node's state in post-order, the root last, so the head's "
                          "pooling 'last' reads the root and max/mean/attention pool over the nodes; encode.units is "
                          "the state width and the recurrent-stack keys are not read. null: the recurrent stack")

    @staticmethod
    def rules(config, default_tokenizer: str):
        """Problems of ``encode.tree``: it needs the tree tokenizer; the recurrent-stack keys are not read with it."""
        encode, tokenize = config.stage("encode"), config.stage("tokenize")
        if encode is None or getattr(encode, "tree", None) is None:
            return
        kind = (tokenize.kind if tokenize is not None else None) or default_tokenizer
        if kind != "tree":
            yield (("stages", "encode", "tree"), "a recursive encoder reads bracketed trees: it needs "
                                                 f"stages.tokenize.kind 'tree'; got '{kind}'")
        for key in TREE_UNREAD:
            if key in encode.model_fields_set:
                yield (("stages", "encode", key), "not read by the recursive encoder (encode.tree); remove it")


TREE_UNREAD = ("kind", "cell", "layers", "bidirectional", "merge_mode", "residual", "dropout", "recurrent_dropout",
               "skip_delay", "heads", "ff_dim", "normalize_first")  # the recurrent and Transformer stacks' keys
