"""The layer contract (tests/layer_contract.py) for every custom seqpipe layer and every registered cell.

One test per (layer case, check), so a failure names the layer and the broken part of the contract. Cells,
attention mechanisms and tokenizer kinds are read from their registries: one registered later is covered here
without editing this file. Shapes are tiny (batch 2, time <= 7, units <= 6).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqpipe.cells import CELLS, get_cell, state_sizes
from seqpipe.cells.keras_cells import FusedGRU, FusedLSTM, SkipDelayCell
from seqpipe.layers import ATTENTIONS
from seqpipe.layers.char_words import CharWordEncoder
from seqpipe.layers.crf import CRF
from seqpipe.layers.decoder import AttentionDecoder
from seqpipe.layers.image_encoder import ImageEncoder
from seqpipe.layers.masks import NotEqual
from seqpipe.layers.one_hot import OneHot
from seqpipe.layers.pooling import MaskedPooling
from seqpipe.layers.recursive import COMPOSITIONS, RecursiveEncoder
from seqpipe.layers.transformer import CausalTransformerStack, TransformerDecoderStack, TransformerEncoderStack
from seqpipe.text import TOKENIZERS
from seqpipe.text.chars import CharEncoder, char_vocabulary
from seqpipe.text.encoder import TextEncoder
from tests.layer_contract import CHECKS, Padding, check_layer_contract, no_mask
from tests.unit.cells.cell_specs import CELL_SPECS, spec_id

RNG = np.random.default_rng(0)
B, T, F = 2, 5, 4
LENGTHS = np.array([3, 5])
MASK = np.arange(T)[None] < LENGTHS[:, None]  # right-padded: row 0 has 3 real steps
X = RNG.normal(size=(B, T, F)).astype("float32")


def garbage(*shape):
    return (100 * RNG.normal(size=shape)).astype("float32")


@dataclass
class Case:
    """A layer under contract: ``options`` go to :func:`check_layer_contract`; ``xfail`` maps a check to a reason."""

    id: str
    make: Callable[..., keras.layers.Layer]
    inputs: object
    options: dict
    checks: tuple[str, ...] = CHECKS
    xfail: dict[str, str] = field(default_factory=dict)


def at_real(mask):
    """Outputs ``(batch, time, ...)`` at the real positions of ``mask`` (longer variants are cut to its length)."""
    return lambda out: keras.ops.convert_to_numpy(out)[:, : mask.shape[1]][mask]


def sequence_padding(x, mask, real, expected_mask):
    """Garbage at the padded steps, and two more padded steps of garbage."""
    noisy = np.where(mask[..., None], x, garbage(*x.shape))
    longer = np.concatenate([noisy, garbage(x.shape[0], 2, *x.shape[2:])], axis=1)
    return Padding([((noisy,), {"mask": mask}), ((longer,), {"mask": np.pad(mask, [(0, 0), (0, 2)])})], real,
                   expected_mask)


def input_mask(inputs, call_kwargs):
    """``expected_mask`` of sequence-to-sequence layers: the input mask, passed on."""
    return call_kwargs["mask"]


# ---------------------------------------------------------------------------------------------- pooling, CRF


def pooling_cases():
    for mode, backward in [*((m, 0) for m in MaskedPooling.MODES), ("last", 2)]:
        yield Case(f"MaskedPooling-{mode}" + (f"-backward{backward}" if backward else ""),
                   functools.partial(MaskedPooling, mode, backward_units=backward), (X,),
                   dict(call_kwargs={"mask": MASK}, trainable_weights=int(mode == "attention"),
                        padding=sequence_padding(X, MASK, real=lambda out: out, expected_mask=no_mask)))


def crf_cases():
    potentials = X[..., :3]
    # CRF.call is the identity, cast to float32 (documented), so its mixed-precision output is float32.
    yield Case("CRF", functools.partial(CRF, 3), (potentials,),
               dict(call_kwargs={"mask": MASK}, trainable_weights=3, mixed_dtype="float32",
                    padding=sequence_padding(potentials, MASK, real=at_real(MASK), expected_mask=no_mask)))


# ---------------------------------------------------------------------------------------------- char word encoder

CHAR_IDS = np.zeros((B, 4, 3), "int32")  # (batch, words, chars); a word is padding when it has no characters
CHAR_IDS[0, 0, :3], CHAR_IDS[0, 1, :1], CHAR_IDS[0, 2, :2] = [4, 5, 6], [7], [8, 4]
CHAR_IDS[1, 0, :2], CHAR_IDS[1, 1, :3] = [9, 10], [11, 5, 4]
WORDS = CHAR_IDS.any(-1)

NO_CELL_DTYPE = "seqpipe.cells' Cell.cell/Cell.layer take no dtype"


def char_word_cases():
    # Padding content is fixed (a padding word is all zeros), so the variants change the padding length only.
    padding = Padding(
        [((np.pad(CHAR_IDS, [(0, 0), (0, 2), (0, 0)]),), {}), ((np.pad(CHAR_IDS, [(0, 0), (0, 0), (0, 2)]),), {})],
        real=at_real(WORDS), expected_mask=lambda inputs, kwargs: inputs[0].any(-1))
    xfail = {"dtype_argument": "CharWordEncoder(dtype=mixed_bfloat16) returns float32 (its symbolic output "
                               "says bfloat16): its Embedding and Bidirectional recurrent layer are made "
                               "without the layer's dtype policy, and " + NO_CELL_DTYPE}
    yield Case("CharWordEncoder-lstm", functools.partial(CharWordEncoder, 12, dim=4, units=3, cell="lstm"),
               (CHAR_IDS,), dict(trainable_weights=1 + 2 * 3, padding=padding), xfail=xfail)  # embedding + 2 x LSTM
    # a cell with options: the spec is in the config (a mapping), the custom cell in the Bidirectional layer
    yield Case("CharWordEncoder-lstm-peepholes",
               functools.partial(CharWordEncoder, 12, dim=4, units=3, cell={"kind": "lstm", "peepholes": True}),
               (CHAR_IDS,), dict(trainable_weights=1 + 2 * 6, padding=padding), xfail=xfail)


# ---------------------------------------------------------------------------------------------- attention

S, M, U = 4, 6, 5  # source length, memory and query width (equal, for luong_dot), attention units
QUERY = RNG.normal(size=(B, M)).astype("float32")
MEMORY = RNG.normal(size=(B, S, M)).astype("float32")
SOURCE = np.arange(S)[None] < np.array([2, 4])[:, None]
ATTENTION_WEIGHTS = {"bahdanau": 3, "luong_dot": 0, "luong_general": 1, "none": 0}


def attention_inputs(memory, mask):
    """``(query, keys, memory, mask)``: the keys come from the layer (``keys()`` is not ``__call__``, so an
    unbuilt BahdanauAttention must be built first; the decoder does the same)."""

    def inputs(layer):
        if not layer.built:
            layer.build()
        return QUERY, keras.ops.convert_to_numpy(layer.keys(memory)), memory, mask

    return inputs


def attention_real(out):
    """The context, the weights over the example's source (0 at its padding), the total weight on extra steps."""
    context, weights = keras.ops.convert_to_numpy(out[0]), keras.ops.convert_to_numpy(out[1])
    return context, weights[:, :S], np.abs(weights[:, S:]).sum()


def attention_cases():
    # The keys are an input of the functional model in save_load: computing them inside it would put the
    # layer's own key projection into the model as a separate layer.
    noisy = np.where(SOURCE[..., None], MEMORY, garbage(B, S, M))
    longer = np.concatenate([noisy, garbage(B, 2, M)], axis=1)
    padding = Padding([(attention_inputs(noisy, SOURCE), {}),
                       (attention_inputs(longer, np.pad(SOURCE, [(0, 0), (0, 2)])), {})], attention_real,
                      no_mask)  # the source mask is an input; the outputs carry no Keras mask
    for name in ATTENTIONS.names():
        make = functools.partial(ATTENTIONS.get(name), U, M, M)
        yield Case(f"attention-{name}", make, attention_inputs(MEMORY, SOURCE),
                   dict(trainable_weights=ATTENTION_WEIGHTS.get(name), padding=padding))


# ---------------------------------------------------------------------------------------------- decoder

TARGET = RNG.integers(1, 11, size=(B, 3)).astype("int32")
STATES = [RNG.normal(size=(B, M)).astype("float32") for _ in range(2)]
DECODERS = {  # attention -> (cell, bridge, input feeding, layers)
    "bahdanau": ("lstm", "dense", True, 1),
    "luong_dot": ("gru", "copy", False, 1),
    "luong_general": ("rnn", "zero", True, 2),
    "none": ("lstm", "dense", False, 1),
}


def decoder_weights(attention, cell, bridge, input_feeding, layers):
    """Embedding, cells (3 weights each), attention, combine (no bias), projection, bridges (kernel + bias)."""
    states = 2 if cell == "lstm" else 1
    bridges = 2 * layers * states if bridge == "dense" else 0
    return 1 + 3 * layers + ATTENTION_WEIGHTS[attention] + (attention != "none") + 2 + bridges


def decoder_cases():
    names = CELLS.names()
    for i, attention in enumerate(ATTENTIONS.names()):
        cell, bridge, feeding, layers = DECODERS.get(attention, (names[i % len(names)], "dense", True, 1))
        states = STATES if cell == "lstm" else STATES[:1]
        make = functools.partial(AttentionDecoder, 11, 4, cell=cell, units=M, layers=layers, attention=attention,
                                 input_feeding=feeding, bridge=bridge, memory_dim=M,
                                 encoder_state_dims=[M] * len(states))
        noisy = np.where(SOURCE[..., None], MEMORY, garbage(B, S, M))
        longer = np.concatenate([noisy, garbage(B, 2, M)], axis=1)
        # Source padding (content and length) and target positions after the last one do not change the logits.
        padding = Padding([((TARGET, noisy, SOURCE, states), {}),
                           ((TARGET, longer, np.pad(SOURCE, [(0, 0), (0, 2)]), states), {}),
                           ((np.pad(TARGET, [(0, 0), (0, 2)], constant_values=7), MEMORY, SOURCE, states), {})],
                          real=lambda out: keras.ops.convert_to_numpy(out)[:, : TARGET.shape[1]], expected_mask=no_mask)
        weights = decoder_weights(attention, cell, bridge, feeding, layers) if attention in DECODERS else None
        yield Case(f"AttentionDecoder-{attention}-{cell}-{bridge}", make, (TARGET, MEMORY, SOURCE, states),
                   # The documented output is float32 logits, also under mixed precision.
                   dict(trainable_weights=weights, padding=padding, mixed_dtype="float32", mixed_atol=0.15),
                   xfail={"dtype_argument": "AttentionDecoder(dtype=mixed_bfloat16) fails in call ('TensorArray "
                                            "dtype is bfloat16 but Op is trying to write dtype float32'): its "
                                            "embedding, cells, bridges and combine layer are made without the "
                                            "layer's dtype policy, so they compute in float32, and " + NO_CELL_DTYPE})


def residual_decoder_cases():
    # decode.residual with two layers of a cell with options (a mapping in the config).
    cell = {"kind": "lstm", "peepholes": True}
    make = functools.partial(AttentionDecoder, 11, 4, cell=cell, units=M, layers=2, attention="bahdanau",
                             bridge="dense", memory_dim=M, encoder_state_dims=[M, M], residual=True)
    padding = Padding([((np.pad(TARGET, [(0, 0), (0, 2)], constant_values=7), MEMORY, SOURCE, STATES), {})],
                      real=lambda out: keras.ops.convert_to_numpy(out)[:, : TARGET.shape[1]], expected_mask=no_mask)
    # embedding, 2 x peephole LSTM (6 weights), attention, combine, projection, 2 x 2 bridges
    yield Case("AttentionDecoder-residual-lstm-peepholes", make, (TARGET, MEMORY, SOURCE, STATES),
               dict(trainable_weights=1 + 2 * 6 + 3 + 1 + 2 + 2 * 4, padding=padding, mixed_dtype="float32",
                    mixed_atol=0.15),
               xfail={"dtype_argument": "as AttentionDecoder-bahdanau-lstm-dense"})


# ---------------------------------------------------------------------------------------------- text encoders

TEXTS = ["The film was GREAT, wasn't it?", "a dull , lifeless film .", "great great film"]


@functools.lru_cache(maxsize=None)
def text_vocabulary(kind):
    tokenizer = TOKENIZERS.get(kind)(None, True)
    return tuple(tokenizer.build_vocabulary(TEXTS * 20, 60, 1)), getattr(tokenizer, "model", None)


def make_text_encoder(kind, **kwargs):
    vocabulary, model = text_vocabulary(kind)
    return TextEncoder(kind, list(vocabulary), 16, model=model, **kwargs)


def text_cases():
    # String inputs: no Keras mask. The padding contract: a row's ids do not change when a longer row in its
    # batch pads it further (ids > 0 at real tokens, 0 at padding).
    short = tf.constant(["great film", "dull film"])
    longer = tf.constant(["great film", "a dull , lifeless film . great great film"])
    for kind in TOKENIZERS.names():
        yield Case(f"TextEncoder-{kind}", functools.partial(make_text_encoder, kind), (short,),
                   dict(trainable_weights=0, padding=Padding([((longer,), {})], first_row_ids, no_mask)))
    chars = functools.partial(CharEncoder, char_vocabulary(TEXTS), max_chars=4)
    words = tf.constant(["the cat", "a dog"])
    longer = tf.constant(["the cat", "a lifeless film was great"])  # row 0 gets more words and characters of padding
    yield Case("CharEncoder", chars, (words,),
               dict(trainable_weights=0, padding=Padding([((longer,), {})], first_row_chars, no_mask)))


def first_row_ids(out):
    """Row 0's ids without its padding (ids are > 0 at real tokens)."""
    return np.trim_zeros(keras.ops.convert_to_numpy(out)[0], "b")


def first_row_chars(out):
    """Row 0's two three-letter words, and the sum of the rest of the row (padding: 0)."""
    row = keras.ops.convert_to_numpy(out)[0]
    return row[:2, :3], row.sum() - row[:2, :3].sum()


# ---------------------------------------------------------------------------------------------- registered cells


def cell_cases():
    # Every registered kind and the option variants of tests/unit/cells/cell_specs.py, as the sequence layer
    # Cell.layer builds and as keras.layers.RNN around the step cell Cell.cell builds (once where they are the same).
    # Cell.layer/Cell.cell take no dtype, so the mixed-precision check uses the global policy only.
    checks = tuple(c for c in CHECKS if c != "dtype_argument")
    for spec in CELL_SPECS:
        step = get_cell(spec).cell(3)
        step.build((None, F))
        options = dict(call_kwargs={"mask": MASK}, trainable_weights=len(step.trainable_weights),
                       non_trainable_weights=len(step.non_trainable_weights),
                       padding=sequence_padding(X, MASK, real=at_real(MASK), expected_mask=input_mask))
        yield Case(f"cell-{spec_id(spec)}-layer", lambda spec=spec: get_cell(spec).layer(3, return_sequences=True),
                   (X,), options, checks)
        if type(get_cell(spec).layer(3)) is not keras.layers.RNN:  # a fused Keras layer: its cell on its own too
            yield Case(f"cell-{spec_id(spec)}-step",
                       lambda spec=spec: keras.layers.RNN(get_cell(spec).cell(3), return_sequences=True), (X,),
                       options, checks)


def fused_rnn_cases():
    # FusedLSTM / FusedGRU: the layers the lstm / gru kinds build from MIN_UNITS units on a CPU, here at 3 units
    # (their loops and hand-written gradients are the same at any width)
    for name, cls in (("FusedLSTM", FusedLSTM), ("FusedGRU", FusedGRU)):
        yield Case(name, lambda cls=cls, **kw: cls(3, return_sequences=True, **kw), (X,),
                   dict(call_kwargs={"mask": MASK}, trainable_weights=3, non_trainable_weights=0,
                        padding=sequence_padding(X, MASK, real=at_real(MASK), expected_mask=input_mask)))


STEP_RNG = np.random.default_rng(1)


def step_inputs(cell):
    """One step's ``(inputs, states)`` for ``cell``."""
    return X[:, 0], [STEP_RNG.normal(size=(B, size)).astype("float32") for size in state_sizes(cell)]


def step_cell_cases():
    # seqpipe's own step cells as layers: called on one step (inputs, states); masking is the RNN layer's (above).
    checks = tuple(c for c in CHECKS if c not in ("masking", "dtype_argument"))
    seen = set()
    for spec in CELL_SPECS:
        step = get_cell(spec).cell(3)
        step.build((None, F))
        if not type(step).__module__.startswith("seqpipe.") or type(step) in seen:
            continue
        seen.add(type(step))
        yield Case(f"stepcell-{type(step).__name__}-{spec_id(spec)}", lambda spec=spec: get_cell(spec).cell(3),
                   step_inputs(step), dict(trainable_weights=len(step.trainable_weights),
                                           non_trainable_weights=len(step.non_trainable_weights)), checks)


def skip_delay_cases():
    # encode.skip_delay: the wrapper around a fused kind's cell and around a custom cell, in keras.layers.RNN (with
    # masking) and on one step.
    checks = tuple(c for c in CHECKS if c != "dtype_argument")
    for spec in ("lstm", {"kind": "leaky_rnn", "time_constants": [1, 10]}):
        wrapped = SkipDelayCell(get_cell(spec).cell(3), 2)
        wrapped.build((None, F))
        weights = dict(trainable_weights=len(wrapped.trainable_weights), non_trainable_weights=0)
        yield Case(f"SkipDelayCell-{spec_id(spec)}-rnn",
                   lambda spec=spec: keras.layers.RNN(SkipDelayCell(get_cell(spec).cell(3), 2), return_sequences=True),
                   (X,), dict(call_kwargs={"mask": MASK}, **weights,
                              padding=sequence_padding(X, MASK, real=at_real(MASK), expected_mask=input_mask)), checks)
        yield Case(f"SkipDelayCell-{spec_id(spec)}-step", lambda spec=spec: SkipDelayCell(get_cell(spec).cell(3), 2),
                   step_inputs(wrapped), weights, tuple(c for c in checks if c != "masking"))


def mask_cases():
    # The padding mask of token ids: no Keras mask of its own; its bool output must stay bool under any policy.
    ids = np.array([[4, 5, 0, 0], [6, 0, 0, 0]], "int32")
    checks = tuple(c for c in CHECKS if c not in ("masking",))
    yield Case("NotEqual", functools.partial(NotEqual, 0), (ids,), dict(trainable_weights=0, mixed_dtype="bool"),
               checks)


def one_hot_cases():
    # Token ids in, one-hot vectors out (no weights); padding (id 0) is all zeros and masked, and a longer
    # padding changes nothing at the real positions (ids have no padding content to vary: padding is id 0).
    ids = np.array([[4, 5, 1, 0], [6, 0, 0, 0]], "int32")
    real_mask = ids != 0
    padding = Padding([((np.pad(ids, [(0, 0), (0, 2)]),), {})], at_real(real_mask),
                      lambda inputs, kwargs: inputs[0] != 0)
    yield Case("OneHot", functools.partial(OneHot, 8), (ids,), dict(trainable_weights=0, padding=padding))


def image_encoder_cases():
    # Images have no padding (no Keras mask in or out); the outputs are the flattened grid and its mean.
    images = RNG.uniform(size=(B, 9, 6, 3)).astype("float32")
    checks = tuple(c for c in CHECKS if c != "masking")
    for positions in (True, False):
        make = functools.partial(ImageEncoder, [3, 4], convs=[1, 2], kernel=3, pool=2, image_size=[9, 6], channels=3,
                                 positions=positions)
        # block 0: one convolution (kernel, bias), block 1: two, and the position embedding
        yield Case(f"ImageEncoder-positions{positions}", make, (images,),
                   dict(trainable_weights=6 + int(positions)), checks)


def recursive_cases():
    # Bracketed trees' ids ('(' 4, ')' 5): (+ 3 4) and (* (+ 1 2) 3). The output is the node states in post-order
    # (3 and 5 nodes) with a mask over them; padding (more zeros, garbage embeddings there) changes neither.
    ids = np.array([[4, 6, 8, 9, 5, 0, 0, 0, 0], [4, 7, 4, 6, 10, 11, 5, 8, 5]], "int32")
    x = RNG.normal(size=(2, 9, F)).astype("float32")
    nodes = np.array([3, 5])
    real_mask = np.arange(9)[None] < nodes[:, None]
    noisy = np.where((ids > 0)[..., None], x, garbage(*x.shape))
    longer_ids = np.pad(ids, [(0, 0), (0, 2)])
    longer = np.concatenate([noisy, garbage(2, 2, F)], axis=1)
    padding = Padding([((ids, noisy), {}), ((longer_ids, longer), {})], at_real(real_mask),
                      lambda inputs, kwargs: real_mask)
    for composition, weights in zip(COMPOSITIONS, (3, 4, 3)):
        yield Case(f"RecursiveEncoder-{composition}", functools.partial(RecursiveEncoder, 3, composition),
                   (ids, x), dict(trainable_weights=weights, padding=padding))


# ---------------------------------------------------------------------------------------------- Transformer

BLOCK = {"encoder": 16, "decoder": 26}  # keras-hub blocks: attention 4 x (kernel, bias) each, 2 or 3 norms, FF 2 x 2


def transformer_cases():
    # units 4 = F (no projection), or 6 (a projection); pre-norm adds a final norm
    for units, first in ((4, False), (6, True)):
        make = functools.partial(TransformerEncoderStack, units, 2, 2, 8, normalize_first=first)
        weights = 2 * BLOCK["encoder"] + 2 * (units != F) + 2 * first
        yield Case(f"TransformerEncoderStack-{units}" + ("-prenorm" if first else ""), make, (X,),
                   dict(call_kwargs={"mask": MASK}, trainable_weights=weights, mixed_atol=0.15,
                        padding=sequence_padding(X, MASK, real=at_real(MASK), expected_mask=input_mask)))
    # the language model's causal stack: later positions (padding or not) change nothing before them
    causal = Padding([((np.concatenate([X, garbage(B, 2, F)], axis=1),), {})],
                     real=lambda out: keras.ops.convert_to_numpy(out)[:, :T], expected_mask=no_mask)
    yield Case("CausalTransformerStack", functools.partial(CausalTransformerStack, 4, 2, 2, 8), (X,),
               dict(trainable_weights=2 * BLOCK["encoder"], mixed_atol=0.15, padding=causal))  # no cross-attention
    noisy = np.where(SOURCE[..., None], MEMORY, garbage(B, S, M))
    longer = np.concatenate([noisy, garbage(B, 2, M)], axis=1)
    # memory padding (content and length) and later target positions do not change the logits (causal)
    padding = Padding([((TARGET, noisy, SOURCE), {}), ((TARGET, longer, np.pad(SOURCE, [(0, 0), (0, 2)])), {}),
                       ((np.pad(TARGET, [(0, 0), (0, 2)], constant_values=7), MEMORY, SOURCE), {})],
                      real=lambda out: keras.ops.convert_to_numpy(out)[:, : TARGET.shape[1]], expected_mask=no_mask)
    for embed_dim, first in ((4, False), (3, True)):
        make = functools.partial(TransformerDecoderStack, 11, embed_dim, units=4, layers=1, heads=2, ff_dim=8,
                                 normalize_first=first, max_length=6, memory_dim=M)
        weights = 1 + BLOCK["decoder"] + 2 * (embed_dim != 4) + 2 * first + 2  # embedding, ..., output projection
        yield Case(f"TransformerDecoderStack-embed{embed_dim}" + ("-prenorm" if first else ""), make,
                   (TARGET, MEMORY, SOURCE), dict(trainable_weights=weights, padding=padding, mixed_dtype="float32",
                                                  mixed_atol=0.15))


CASES = [*pooling_cases(), *transformer_cases(),
         *recursive_cases(), *crf_cases(), *char_word_cases(), *attention_cases(), *decoder_cases(),
         *residual_decoder_cases(), *text_cases(), *cell_cases(), *fused_rnn_cases(), *step_cell_cases(),
         *skip_delay_cases(), *mask_cases(), *one_hot_cases(), *image_encoder_cases()]


def params():
    for case in CASES:
        for check in case.checks:
            marks = [pytest.mark.xfail(strict=True, reason=case.xfail[check])] if check in case.xfail else []
            yield pytest.param(case, check, id=f"{case.id}-{check}", marks=marks)


@pytest.mark.parametrize("case, check", list(params()))
def test_layer_contract(case, check, tmp_path):
    keras.utils.set_random_seed(0)
    check_layer_contract(case.make, case.inputs, checks=(check,), tmp_path=tmp_path, **case.options)


def test_every_registered_seqpipe_layer_has_a_contract():
    for package in ("seqpipe.layers", "seqpipe.text", "seqpipe.cells.keras_cells"):
        for module in pkgutil.iter_modules(importlib.import_module(package).__path__, f"{package}."):
            importlib.import_module(module.name)
    registered = {cls for key, cls in keras.saving.get_custom_objects().items()
                  if key.startswith("seqpipe>") and isinstance(cls, type) and issubclass(cls, keras.layers.Layer)}
    covered = {type(case.make()) for case in CASES}
    assert registered - covered == set(), "registered layers without a contract case"
    assert {CharWordEncoder, CRF, MaskedPooling, AttentionDecoder, TextEncoder, CharEncoder} <= registered


@pytest.mark.parametrize("mode", [pytest.param(m, marks=pytest.mark.xfail(
    strict=True, reason=f"MaskedPooling('{m}') of a row without real steps reads its padding")) if m in (
        "last", "attention") else m for m in MaskedPooling.MODES])
def test_pooling_of_a_row_without_real_steps_ignores_its_padding(mode):
    mask = MASK.copy()
    mask[0] = False
    layer = MaskedPooling(mode)
    layer(X, mask=mask)
    other = X.copy()
    other[0] = garbage(T, F)
    np.testing.assert_allclose(layer(other, mask=mask).numpy()[0], layer(X, mask=mask).numpy()[0])
