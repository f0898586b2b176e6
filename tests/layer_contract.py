"""A uniform contract check for custom Keras layers, in the spirit of Keras's ``TestCase.run_layer_test``.

:func:`check_layer_contract` takes a factory for fresh layers, example inputs and options, and runs the checks
named in :data:`CHECKS`:

``config``
    ``from_config(get_config())`` of a built layer gives the same config (also after a JSON round trip), the same
    attributes (as Keras checks), and ``serialize_keras_object``/``deserialize_keras_object`` brings back the same
    class under its registered name.
``weights``
    Trainable/non-trainable weight counts; a layer rebuilt from the config, given ``set_weights(get_weights())``,
    has the same weight shapes and gives the same outputs.
``save_load``
    A functional ``keras.Model`` with one ``keras.Input`` per example input (keyword inputs such as ``mask``
    included) around the layer gives the eager outputs, with symbolic shapes and dtypes that match them; saved as
    ``.keras`` and loaded with ``safe_mode=True`` it holds the same layer class, config and weights and gives the
    same outputs.
``masking``
    Outputs at real positions are unchanged on inputs that differ only in padding (content or length), and
    ``compute_mask`` and the mask attached to the output are the expected ones.
``mixed_precision``
    Under the global policy ``mixed_bfloat16`` (how seqpipe runs mixed precision): float32 weights, outputs of the
    expected dtype that are finite and close to the float32 layer's outputs (same weights).
``dtype_argument``
    The same with ``dtype=keras.DTypePolicy("mixed_bfloat16")`` passed to the factory (global policy float32).
``training``
    ``training=True`` and ``training=False`` give the same outputs (for layers without dropout).

Every float weight is set to random values first, so zero-initialised weights cannot hide a lost weight.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

CHECKS = ("config", "weights", "save_load", "masking", "mixed_precision", "dtype_argument", "training")
MIXED = "mixed_bfloat16"

# Positional inputs: a tuple, or a function of the layer for inputs that depend on its weights.
Inputs = Sequence[Any] | Callable[[keras.layers.Layer], Sequence[Any]]


@dataclass
class Padding:
    """The masking contract of a layer.

    Args:
        variants: ``(inputs, call_kwargs)`` pairs that differ from the example only in padding content or length.
        real: picks from the outputs the values that padding must not change (the same function for every variant).
        expected_mask: ``(inputs, call_kwargs) -> mask`` for the example: ``compute_mask`` and the Keras mask
            attached to the (first) output must equal it; use :func:`no_mask` where they must be None, and leave
            it None (unchecked) where the layer documents no mask.
    """

    variants: list[tuple[Inputs, dict]]
    real: Callable[[Any], Any]
    expected_mask: Callable[[Sequence[Any], dict], Any] | None = None


def no_mask(inputs, call_kwargs):
    """``expected_mask`` of layers whose output carries no mask."""
    return None


def check_layer_contract(make_layer: Callable[..., keras.layers.Layer], inputs: Inputs, *,
                         call_kwargs: dict | None = None, checks: Sequence[str] = CHECKS, tmp_path: Path | None = None,
                         trainable_weights: int | None = None, non_trainable_weights: int = 0,
                         padding: Padding | None = None, mixed_dtype: str = "bfloat16", mixed_atol: float = 0.1,
                         atol: float = 1e-6, seed: int = 0) -> None:
    """Run the named contract ``checks`` on layers made by ``make_layer``; fail with an AssertionError.

    Args:
        make_layer: ``make_layer(**kwargs)`` returns a fresh, unbuilt layer (``dtype=`` is passed by
            ``dtype_argument`` only).
        inputs: the example positional inputs, batch first (a function of the layer where they depend on its
            weights); ``call_kwargs``: keyword tensor inputs (e.g. ``{"mask": mask}``).
        checks: a subset of :data:`CHECKS`; ``tmp_path`` is needed by ``save_load``.
        trainable_weights, non_trainable_weights: expected counts (the trainable count is not checked when None).
        padding: the masking contract (needed by ``masking``).
        mixed_dtype: expected dtype of the float outputs under mixed precision (int outputs keep their dtype).
        mixed_atol: tolerance between mixed-precision and float32 outputs; ``atol``: between float32 outputs.
        seed: seed of the random weights.
    """
    call_kwargs = call_kwargs or {}
    unknown = set(checks) - set(CHECKS)
    assert not unknown, f"unknown checks {sorted(unknown)}"
    run = {
        "config": lambda: _check_config(make_layer, inputs, call_kwargs, seed),
        "weights": lambda: _check_weights(make_layer, inputs, call_kwargs, trainable_weights, non_trainable_weights,
                                          atol, seed),
        "save_load": lambda: _check_save_load(make_layer, inputs, call_kwargs, tmp_path, atol, seed),
        "masking": lambda: _check_masking(make_layer, inputs, call_kwargs, padding, atol, seed),
        "mixed_precision": lambda: _check_mixed(make_layer, inputs, call_kwargs, mixed_dtype, mixed_atol, seed,
                                                dtype_argument=False),
        "dtype_argument": lambda: _check_mixed(make_layer, inputs, call_kwargs, mixed_dtype, mixed_atol, seed,
                                               dtype_argument=True),
        "training": lambda: _check_training(make_layer, inputs, call_kwargs, atol, seed),
    }
    for name in checks:
        run[name]()


# ---------------------------------------------------------------------------------------------- helpers


def _args(inputs: Inputs, layer) -> tuple:
    return tuple(inputs(layer) if callable(inputs) else inputs)


def _call(layer, inputs: Inputs, call_kwargs: dict, **extra):
    return layer(*_args(inputs, layer), **call_kwargs, **extra)


def _built(make_layer, inputs, call_kwargs, seed):
    """A fresh layer, called once on the example (so built), with random weights; and its outputs."""
    layer = make_layer()
    _call(layer, inputs, call_kwargs)
    _randomize(layer, seed)
    return layer, _call(layer, inputs, call_kwargs)


def _randomize(layer, seed):
    rng = np.random.default_rng(seed)
    layer.set_weights([(0.5 * rng.standard_normal(w.shape)).astype(w.dtype) if np.issubdtype(w.dtype, np.floating)
                       else w for w in layer.get_weights()])


def _flat(outputs) -> list:
    return [keras.ops.convert_to_numpy(t) if keras.ops.is_tensor(t) else np.asarray(t)
            for t in keras.tree.flatten(outputs)]


def _dtype(x) -> str:
    return keras.backend.standardize_dtype(x.dtype)


def assert_outputs_close(actual, expected, atol=1e-6, what="outputs"):
    """Same structure; float arrays equal within ``atol`` (and rtol ``atol``), others exactly."""
    actual, expected = _flat(actual), _flat(expected)
    assert len(actual) == len(expected), f"{what}: {len(actual)} tensors, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert a.shape == e.shape, f"{what}[{i}]: shape {a.shape}, expected {e.shape}"
        if np.issubdtype(e.dtype, np.floating) or _dtype(e) == "bfloat16":
            np.testing.assert_allclose(a.astype("float32"), e.astype("float32"), atol=atol, rtol=atol,
                                       err_msg=f"{what}[{i}]")
        else:
            np.testing.assert_array_equal(a, e, err_msg=f"{what}[{i}]")


def _tensors(structure) -> list:
    """Flattened, as tensors (a model call cannot mix arrays and tensors)."""
    return [t if keras.ops.is_tensor(t) else keras.ops.convert_to_tensor(t) for t in keras.tree.flatten(structure)]


def _json(config):
    return json.loads(json.dumps(config))


# ---------------------------------------------------------------------------------------------- checks


def _check_config(make_layer, inputs, call_kwargs, seed):
    layer, _ = _built(make_layer, inputs, call_kwargs, seed)
    cls = type(layer)
    config = layer.get_config()
    revived = cls.from_config(copy.deepcopy(config))  # some from_config (keras RNN's) consume their argument
    assert _json(revived.get_config()) == _json(config), "from_config(get_config()) changes the config"
    revived_from_json = cls.from_config(_json(config))
    assert _json(revived_from_json.get_config()) == _json(config), "the config does not survive JSON"
    _call(revived, inputs, call_kwargs)
    assert _json(revived.get_config()) == _json(config), "building the rebuilt layer changes its config"
    # Keras: a layer rebuilt from its config has the same attributes (compared before building).
    assert set(dir(make_layer())) == set(dir(cls.from_config(make_layer().get_config())))

    serialized = _json(keras.saving.serialize_keras_object(layer))
    if cls.__module__.startswith("seqpipe."):
        assert serialized["registered_name"] == f"seqpipe>{cls.__name__}", (
            f"{cls.__name__} is not registered with keras.saving.register_keras_serializable(package='seqpipe')")
    deserialized = keras.saving.deserialize_keras_object(serialized)
    assert type(deserialized) is cls
    assert _json(deserialized.get_config()) == _json(config), "deserialize(serialize(layer)) changes the config"


def _check_weights(make_layer, inputs, call_kwargs, trainable, non_trainable, atol, seed):
    layer, outputs = _built(make_layer, inputs, call_kwargs, seed)
    if trainable is not None:
        assert len(layer.trainable_weights) == trainable, [w.path for w in layer.trainable_weights]
    assert len(layer.non_trainable_weights) == non_trainable, [w.path for w in layer.non_trainable_weights]
    clone = type(layer).from_config(layer.get_config())
    _call(clone, inputs, call_kwargs)
    assert [tuple(w.shape) for w in clone.weights] == [tuple(w.shape) for w in layer.weights]
    clone.set_weights(layer.get_weights())
    for a, b in zip(clone.get_weights(), layer.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert_outputs_close(_call(clone, inputs, call_kwargs), outputs, atol, "rebuilt layer")


def _symbolic(x):
    """A ``keras.Input`` for the example ``x``: unknown batch and lengths, known feature width of float inputs."""
    dtype = _dtype(x)
    shape = tuple(x.shape)[1:]
    if shape and "float" in dtype:
        shape = (None,) * (len(shape) - 1) + shape[-1:]
    else:
        shape = (None,) * len(shape)
    return keras.Input(shape=shape, dtype=dtype)


def _check_save_load(make_layer, inputs, call_kwargs, tmp_path, atol, seed):
    assert tmp_path is not None, "save_load needs tmp_path"
    layer, eager = _built(make_layer, inputs, call_kwargs, seed)
    args = _args(inputs, layer)
    symbolic_args = keras.tree.map_structure(_symbolic, args)
    symbolic_kwargs = keras.tree.map_structure(_symbolic, call_kwargs)
    symbolic_out = layer(*symbolic_args, **symbolic_kwargs)
    for spec, value in zip(keras.tree.flatten(symbolic_out), keras.tree.flatten(eager)):
        assert len(spec.shape) == len(value.shape), f"symbolic shape {spec.shape}, eager {value.shape}"
        assert all(s is None or s == v for s, v in zip(spec.shape, value.shape)), (spec.shape, value.shape)
        assert _dtype(spec) == _dtype(value), f"symbolic dtype {_dtype(spec)}, eager {_dtype(value)}"
    flat_inputs = keras.tree.flatten((symbolic_args, symbolic_kwargs))
    model = keras.Model(flat_inputs, list(symbolic_out) if isinstance(symbolic_out, tuple) else symbolic_out)
    values = _tensors((args, call_kwargs))
    before = model(values)
    assert_outputs_close(before, eager, atol, "functional model")

    path = Path(tmp_path) / "contract.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    loaded_layer = loaded.get_layer(layer.name)
    assert type(loaded_layer) is type(layer)
    assert _json(loaded_layer.get_config()) == _json(layer.get_config())
    assert len(loaded_layer.weights) == len(layer.weights)
    for a, b in zip(loaded_layer.get_weights(), layer.get_weights()):
        np.testing.assert_array_equal(a, b)
    # Inputs that depend on the layer's weights come from the loaded layer.
    values = _tensors((_args(inputs, loaded_layer), call_kwargs))
    assert_outputs_close(loaded(values), before, atol, "loaded model")


def _check_masking(make_layer, inputs, call_kwargs, padding, atol, seed):
    assert padding is not None, "masking needs padding="
    assert padding.variants, "masking needs at least one padding variant"
    layer, outputs = _built(make_layer, inputs, call_kwargs, seed)
    args = _args(inputs, layer)
    reference = padding.real(outputs)
    for i, (variant, variant_kwargs) in enumerate(padding.variants):
        variant_args = _args(variant, layer)
        assert not _same_values((variant_args, variant_kwargs), (args, call_kwargs)), f"variant {i} is the example"
        assert_outputs_close(padding.real(layer(*variant_args, **variant_kwargs)), reference, atol,
                             f"padding variant {i}: outputs at real positions")
    if padding.expected_mask is not None:
        expected = padding.expected_mask(args, call_kwargs)
        previous = call_kwargs.get("mask")
        for what, mask in [("compute_mask", layer.compute_mask(args[0], previous)),
                           ("output mask", getattr(keras.tree.flatten(outputs)[0], "_keras_mask", None))]:
            if expected is None:
                assert mask is None, f"{what} is not None"
            else:
                assert mask is not None, f"{what} is None"
                np.testing.assert_array_equal(keras.ops.convert_to_numpy(mask), np.asarray(expected), err_msg=what)


def _same_values(a, b) -> bool:
    a, b = _flat(a), _flat(b)
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))


@contextlib.contextmanager
def global_policy(name: str):
    """Set the global Keras dtype policy, restoring the previous one afterwards."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _check_mixed(make_layer, inputs, call_kwargs, mixed_dtype, mixed_atol, seed, dtype_argument):
    reference, expected = _built(make_layer, inputs, call_kwargs, seed)
    with contextlib.nullcontext() if dtype_argument else global_policy(MIXED):
        layer = make_layer(dtype=keras.DTypePolicy(MIXED)) if dtype_argument else make_layer()
        _call(layer, inputs, call_kwargs)
        layer.set_weights(reference.get_weights())
        outputs = _call(layer, inputs, call_kwargs)
        args = _args(inputs, layer)
        # As in Keras's check: the symbolic output (what a functional model sees) has the eager output's dtype.
        symbolic = layer(*keras.tree.map_structure(_symbolic, args), **keras.tree.map_structure(_symbolic, call_kwargs))
    for i, (spec, out) in enumerate(zip(keras.tree.flatten(symbolic), keras.tree.flatten(outputs))):
        assert _dtype(spec) == _dtype(out), f"output {i}: symbolic dtype {_dtype(spec)}, eager {_dtype(out)}"
    assert (layer.compute_dtype, layer.variable_dtype) == ("bfloat16", "float32"), layer.dtype_policy
    for w in layer.weights:
        if "float" in _dtype(w):
            assert _dtype(w) == "float32", f"weight {w.path} is {_dtype(w)}"
    for i, (out, ref) in enumerate(zip(keras.tree.flatten(outputs), keras.tree.flatten(expected))):
        want = mixed_dtype if "float" in _dtype(ref) else _dtype(ref)
        assert _dtype(out) == want, f"output {i} is {_dtype(out)}, expected {want}"
        if "float" in want:
            assert np.isfinite(_flat(keras.ops.cast(out, "float32"))[0]).all(), f"output {i} is not finite"
    assert_outputs_close(keras.tree.map_structure(lambda t: keras.ops.cast(t, "float32") if "float" in _dtype(t)
                                                  else t, outputs), expected, mixed_atol, f"{MIXED} outputs")


def _check_training(make_layer, inputs, call_kwargs, atol, seed):
    layer, _ = _built(make_layer, inputs, call_kwargs, seed)
    training = _call(layer, inputs, call_kwargs, training=True)
    inference = _call(layer, inputs, call_kwargs, training=False)
    assert_outputs_close(training, inference, atol, "training=True vs training=False")
