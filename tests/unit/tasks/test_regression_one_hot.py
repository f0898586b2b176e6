"""``embed: {kind: one_hot}``: token ids as one-hot vectors of the vocabulary size, padding all zeros and masked."""

from __future__ import annotations

import numpy as np
import pytest

from seqpipe.errors import ConfigError


def test_one_hot_matches_keras_one_hot_and_masks_padding():
    import keras

    from seqpipe.layers.one_hot import OneHot

    ids = np.array([[3, 1, 5, 0, 0], [2, 2, 0, 0, 0], [4, 5, 6, 1, 3]], "int32")
    layer = OneHot(7)
    out = keras.ops.convert_to_numpy(layer(ids))
    expected = keras.ops.convert_to_numpy(keras.ops.one_hot(ids, 7))
    real = ids != 0
    assert out.shape == (3, 5, 7) and out.dtype == np.float32
    np.testing.assert_array_equal(out[real], expected[real])
    assert not out[~real].any()  # padding: all zeros
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.compute_mask(ids)), real)
    assert OneHot(7, mask_zero=False).compute_mask(ids) is None
    assert not layer.weights


def test_the_mask_reaches_the_recurrent_layer_so_padding_changes_nothing():
    import keras

    from seqpipe.layers.one_hot import OneHot

    inputs = keras.Input((None,), dtype="int32")
    model = keras.Model(inputs, keras.layers.GRU(4)(OneHot(6)(inputs)))
    short = model(np.array([[3, 1, 5]], "int32"))
    padded = model(np.array([[3, 1, 5, 0, 0, 0]], "int32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(short), keras.ops.convert_to_numpy(padded), atol=1e-6)


def test_one_hot_saves_and_loads_in_safe_mode(tmp_path):
    import keras

    from seqpipe.layers.one_hot import OneHot
    from seqpipe.saving import load_model

    inputs = keras.Input((None,), dtype="int32")
    model = keras.Model(inputs, keras.layers.LSTM(3)(OneHot(9, name="embedding")(inputs)))
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    ids = np.array([[1, 8, 2, 0]], "int32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(ids)), keras.ops.convert_to_numpy(model(ids)))
    assert loaded.get_layer("embedding").get_config()["depth"] == 9


PIPELINE = {"name": "x", "task": "regression", "data": {"source": {"path": "x.tsv"}},
            "stages": ["tokenize", {"embed": {"kind": "one_hot"}}, "encode", "regress", "train"]}


def test_dim_is_refused_with_one_hot_and_one_hot_reads_no_dim(tmp_path):
    from seqpipe.api import load

    config, _, _ = load(PIPELINE, base_dir=tmp_path)
    assert config.stage("embed").kind == "one_hot"
    assert load({**PIPELINE, "stages": ["tokenize", "embed", "encode", "regress", "train"]},
                base_dir=tmp_path)[0].stage("embed").kind == "learned"
    with pytest.raises(ConfigError) as info:
        load(PIPELINE, ["embed.dim=16"], base_dir=tmp_path)
    assert info.value.problems == ["-o embed.dim=16: stages[1].embed.dim: not read with kind: one_hot (its width is "
                                   "the vocabulary size); remove it"]
    with pytest.raises(ConfigError, match=r"stages\[1\].embed.kind: must be one of learned, one_hot; got 'onehot' "
                                          r"\(did you mean 'one_hot'\?\)"):
        load(PIPELINE, ["embed.kind=onehot"], base_dir=tmp_path)
