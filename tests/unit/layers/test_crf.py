import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqpipe.layers.crf import CRF, CRFLoss

K, T = 3, 4
LENGTHS = np.array([0, 1, 2, 3, 4, 4, 2])


def make_crf(seed=0):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(K, K)).astype("float32"), rng.normal(size=K).astype("float32"),
               rng.normal(size=K).astype("float32")]
    crf = CRF(K)
    crf.set_weights(weights)
    return crf, weights


def make_inputs(seed=1):
    rng = np.random.default_rng(seed)
    potentials = (2 * rng.normal(size=(len(LENGTHS), T, K))).astype("float32")
    mask = np.arange(T)[None] < LENGTHS[:, None]
    tags = rng.integers(0, K, size=(len(LENGTHS), T)).astype("int32")
    return potentials, mask, tags


def path_score(potentials, path, weights):
    transitions, start, end = weights
    if not path:
        return 0.0
    score = start[path[0]] + end[path[-1]] + sum(potentials[t, y] for t, y in enumerate(path))
    return score + sum(transitions[a, b] for a, b in zip(path, path[1:]))


def all_scores(potentials, length, weights):
    """{path: score} over all K**length paths of one row."""
    return {p: path_score(potentials, p, weights) for p in itertools.product(range(K), repeat=int(length))}


def logsumexp(values):
    values = np.asarray(list(values), dtype="float64")
    return values.max() + np.log(np.exp(values - values.max()).sum())


def test_weights_shapes_and_call_is_identity_without_mask():
    crf = CRF(K)
    assert [(w.name, tuple(w.shape), w.dtype) for w in crf.weights] == [
        ("transitions", (K, K), "float32"), ("start", (K,), "float32"), ("end", (K,), "float32")]
    assert all(w.trainable for w in crf.weights)
    potentials, mask, _ = make_inputs()
    out = crf(tf.constant(potentials, tf.float16), mask=mask)
    assert out.dtype == tf.float32
    np.testing.assert_allclose(out.numpy(), potentials.astype("float16").astype("float32"))
    assert crf.compute_mask(potentials, mask) is None
    with pytest.raises(ValueError, match="num_tags"):
        CRF(0)


def test_log_partition_matches_brute_force():
    crf, weights = make_crf()
    potentials, mask, _ = make_inputs()
    log_z = crf.log_partition(potentials, mask).numpy()
    assert log_z.dtype == np.float32 and log_z.shape == (len(LENGTHS),)
    expected = [logsumexp(all_scores(potentials[b], n, weights).values()) for b, n in enumerate(LENGTHS)]
    np.testing.assert_allclose(log_z, expected, rtol=1e-5, atol=1e-5)
    assert log_z[0] == 0.0  # empty row


def test_log_likelihood_matches_brute_force_and_sums_to_one():
    crf, weights = make_crf()
    potentials, mask, tags = make_inputs()
    ll = crf.log_likelihood(potentials, tags, mask).numpy()
    expected = []
    for b, n in enumerate(LENGTHS):
        scores = all_scores(potentials[b], n, weights)
        expected.append(scores[tuple(tags[b, :n])] - logsumexp(scores.values()))
    np.testing.assert_allclose(ll, expected, rtol=1e-5, atol=1e-5)
    assert ll[0] == 0.0

    # Every path of every row at once: the probabilities of each row sum to 1.
    rows, paths = [], []
    for b, n in enumerate(LENGTHS):
        for p in itertools.product(range(K), repeat=int(n)):
            rows.append(b)
            paths.append(list(p) + [0] * (T - n))
    rows = np.array(rows)
    probs = np.exp(crf.log_likelihood(potentials[rows], np.array(paths), mask[rows]).numpy().astype("float64"))
    np.testing.assert_allclose(np.bincount(rows, weights=probs), np.ones(len(LENGTHS)), rtol=1e-5)


def test_decode_matches_brute_force_argmax():
    crf, weights = make_crf()
    potentials, mask, _ = make_inputs()
    tags, scores = crf.decode(potentials, mask)
    assert tags.dtype == tf.int32 and tags.shape == (len(LENGTHS), T)
    assert scores.dtype == tf.float32 and scores.shape == (len(LENGTHS),)
    for b, n in enumerate(LENGTHS):
        paths = all_scores(potentials[b], n, weights)
        best = max(paths, key=paths.get)
        np.testing.assert_array_equal(tags.numpy()[b], list(best) + [0] * (T - n))
        np.testing.assert_allclose(scores.numpy()[b], paths[best], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(tags.numpy()[0], 0)
    assert scores.numpy()[0] == 0.0


def test_padded_positions_have_no_effect():
    crf, _ = make_crf()
    potentials, mask, tags = make_inputs()
    rng = np.random.default_rng(7)
    noisy_potentials = np.where(mask[..., None], potentials, rng.normal(scale=1e3, size=potentials.shape))
    noisy_tags = np.where(mask, tags, rng.integers(0, K, size=tags.shape))
    # ... and a longer time axis of garbage.
    longer_potentials = np.concatenate([noisy_potentials, rng.normal(size=(len(LENGTHS), 2, K)) * 1e3], 1)
    longer_tags = np.concatenate([noisy_tags, rng.integers(0, K, size=(len(LENGTHS), 2))], 1)
    longer_mask = np.pad(mask, [(0, 0), (0, 2)])

    ll = crf.log_likelihood(potentials, tags, mask).numpy()
    log_z = crf.log_partition(potentials, mask).numpy()
    best, score = crf.decode(potentials, mask)
    for p, t, m in [(noisy_potentials, noisy_tags, mask), (longer_potentials, longer_tags, longer_mask)]:
        p = p.astype("float32")
        np.testing.assert_allclose(crf.log_likelihood(p, t, m).numpy(), ll, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(crf.log_partition(p, m).numpy(), log_z, rtol=1e-6, atol=1e-6)
        best2, score2 = crf.decode(p, m)
        np.testing.assert_array_equal(best2.numpy()[:, :T], best.numpy())
        np.testing.assert_array_equal(best2.numpy()[:, T:], 0)
        np.testing.assert_allclose(score2.numpy(), score.numpy(), rtol=1e-6, atol=1e-6)


def test_gradients_are_finite_and_ignore_padding():
    crf, _ = make_crf()
    potentials, mask, tags = make_inputs()
    potentials = tf.Variable(potentials)
    with tf.GradientTape() as tape:
        nll = -tf.reduce_sum(crf.log_likelihood(potentials, tags, mask))
    grads = tape.gradient(nll, [potentials, *crf.trainable_weights])
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    np.testing.assert_array_equal(grads[0].numpy()[~mask], 0.0)


def test_half_precision_potentials_are_computed_in_float32():
    crf, _ = make_crf()
    potentials, mask, tags = make_inputs()
    rounded = potentials.astype("float16").astype("float32")
    for dtype in (tf.float16, tf.bfloat16):
        half = tf.cast(rounded, dtype) if dtype == tf.float16 else tf.cast(potentials, dtype)
        reference = tf.cast(half, tf.float32).numpy()
        ll = crf.log_likelihood(half, tags, mask)
        assert ll.dtype == tf.float32
        np.testing.assert_allclose(ll.numpy(), crf.log_likelihood(reference, tags, mask).numpy(), rtol=1e-6)
        best, score = crf.decode(half, mask)
        assert score.dtype == tf.float32
        np.testing.assert_array_equal(best.numpy(), crf.decode(reference, mask)[0].numpy())


def test_decode_in_tf_function_and_saved_model_with_dynamic_time_matches_eager(tmp_path):
    crf, _ = make_crf()
    signature = [tf.TensorSpec([None, None, K], tf.float32), tf.TensorSpec([None, None], tf.bool)]
    fn = tf.function(crf.decode, input_signature=signature)
    module = tf.Module()
    module.crf, module.decode = crf, tf.function(crf.decode, input_signature=signature)
    tf.saved_model.save(module, str(tmp_path / "saved"))
    loaded = tf.saved_model.load(str(tmp_path / "saved"))  # keep it: it owns the variables
    exported = loaded.decode
    potentials, mask, _ = make_inputs()
    rng = np.random.default_rng(3)
    cases = [(potentials, mask), (potentials[:, :1], mask[:, :1]),
             (rng.normal(size=(2, 9, K)).astype("float32"), np.arange(9)[None] < np.array([[9], [5]])),
             (np.zeros((2, 0, K), "float32"), np.zeros((2, 0), bool))]
    for p, m in cases:
        eager_tags, eager_scores = crf.decode(p, m)
        for decode in (fn, exported):
            graph_tags, graph_scores = decode(tf.constant(p), tf.constant(m))
            assert graph_tags.shape == p.shape[:2]
            np.testing.assert_array_equal(graph_tags.numpy(), eager_tags.numpy())
            np.testing.assert_allclose(graph_scores.numpy(), eager_scores.numpy(), rtol=1e-6)
    assert fn.experimental_get_tracing_count() == 1


def toy_data(n, seed):
    """Tags cycle, tag_t = (tag_0 + t) % K. Token k in 2..K+1 shows tag k - 2; token 1 hides the tag
    (never at t = 0), so it can only be inferred from the neighbouring tags."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 8), "int32")
    y = np.zeros((n, 8), "int32")
    for i in range(n):
        length, first = rng.integers(3, 9), rng.integers(0, K)
        for t in range(length):
            tag = (first + t) % K
            x[i, t] = 1 if t > 0 and rng.random() < 0.5 else tag + 2
            y[i, t] = tag + 1
    return x, y


def tagger(crf):
    ids = keras.Input(shape=(None,), dtype="int32")
    h = keras.layers.Embedding(K + 2, 8, mask_zero=True)(ids)
    potentials = crf(keras.layers.Dense(K)(h))
    return keras.Model(ids, potentials)


def test_training_learns_transitions():
    keras.utils.set_random_seed(0)
    x, y = toy_data(256, seed=0)
    crf = CRF(K, name="crf")
    model = tagger(crf)
    assert getattr(model(x[:2]), "_keras_mask", None) is None  # no mask reaches the loss
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss=CRFLoss(crf), jit_compile=False)
    losses = model.fit(x, y, batch_size=32, epochs=4, verbose=0, shuffle=False).history["loss"]
    assert losses[-1] < 0.2 * losses[0]

    x_test, y_test = toy_data(64, seed=1)
    potentials = model.predict(x_test, verbose=0)
    tags, _ = crf.decode(potentials, x_test != 0)
    real, hidden = y_test > 0, x_test == 1
    viterbi_hit = tags.numpy() == y_test - 1
    assert viterbi_hit[real].mean() > 0.98 and viterbi_hit[hidden].mean() > 0.95
    # The potentials alone cannot tell hidden tags apart: the transitions did the work.
    assert (potentials.argmax(-1) == y_test - 1)[hidden].mean() < 0.6
    transitions = crf.transitions.numpy()
    assert all(transitions[i].argmax() == (i + 1) % K for i in range(K))

    # Keras does not rescale the scalar loss: evaluate on one batch == the loss called directly.
    evaluated = model.evaluate(x_test, y_test, batch_size=len(x_test), verbose=0)
    direct = CRFLoss(crf)(y_test, potentials)
    np.testing.assert_allclose(evaluated, direct.numpy(), rtol=1e-5)


def test_model_with_crf_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(1)
    crf = CRF(K, name="crf")
    model = tagger(crf)
    model.compile(optimizer="adam", loss=CRFLoss(crf), jit_compile=False)
    x, y = toy_data(32, seed=2)
    model.fit(x, y, epochs=1, verbose=0)
    crf.set_weights(make_crf(seed=5)[1])  # non-trivial weights to compare
    model.save(tmp_path / "m.keras")

    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    loaded_crf = loaded.get_layer("crf")
    assert isinstance(loaded_crf, CRF) and loaded_crf.num_tags == K
    for a, b in zip(loaded_crf.get_weights(), crf.get_weights()):
        np.testing.assert_array_equal(a, b)
    tags, scores = crf.decode(model.predict(x, verbose=0), x != 0)
    loaded_tags, loaded_scores = loaded_crf.decode(loaded.predict(x, verbose=0), x != 0)
    np.testing.assert_array_equal(loaded_tags.numpy(), tags.numpy())
    np.testing.assert_allclose(loaded_scores.numpy(), scores.numpy(), rtol=1e-6)

    # Loading with the compiled loss does not crash; that loss has no CRF layer.
    assert keras.saving.load_model(tmp_path / "m.keras").loss.crf is None


def test_crf_loss_is_the_mean_token_nll_and_ignores_padding():
    crf, _ = make_crf()
    potentials, mask, tags = make_inputs()
    y_true = np.where(mask, tags + 1, 0)
    loss = CRFLoss(crf)
    value = loss(y_true, potentials).numpy()
    expected = -crf.log_likelihood(potentials, tags, mask).numpy().sum() / mask.sum()
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    assert value.shape == ()

    noisy = np.where(mask[..., None], potentials, 1e3).astype("float32")
    np.testing.assert_allclose(loss(y_true, noisy).numpy(), value, rtol=1e-6)
    np.testing.assert_allclose(loss(y_true[..., None].astype("float32"), potentials).numpy(), value, rtol=1e-6)
    assert loss(np.zeros_like(y_true), potentials).numpy() == 0.0


def test_crf_loss_config_round_trip_and_missing_layer_error():
    loss = CRFLoss(CRF(K), name="tagging")
    config = loss.get_config()
    assert config == {"name": "tagging", "reduction": "sum_over_batch_size", "crf": None}
    rebuilt = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(rebuilt, CRFLoss) and rebuilt.crf is None and rebuilt.name == "tagging"
    potentials, mask, tags = make_inputs()
    with pytest.raises(ValueError, match="no CRF layer"):
        rebuilt(np.where(mask, tags + 1, 0), potentials)
