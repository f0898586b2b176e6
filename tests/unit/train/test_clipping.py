"""Gradient clipping: the update the optimizer applies is the hand-computed clipped one (global norm by
default, each variable's norm with train.clip_scope: per_variable), the diagnostics count clipping by
the same test, and clip_scope is refused without clipnorm. Also the value of the label-smoothed token loss."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqpipe.train.clipping import Clipping

X, Y = np.array([[3.0, 4.0]], "float32"), np.array([[1.0]], "float32")
# one Dense(1) unit from zero weights: pred = 0, loss = (pred - y)^2, so dL/dkernel = -2 y x = [-6, -8]
# (norm 10) and dL/dbias = -2 y = [-2] (norm 2); the global norm is sqrt(104)
G_KERNEL, G_BIAS = np.array([[-6.0], [-8.0]]), np.array([-2.0])


def one_step(cfg):
    """The kernel and bias after one SGD step (lr 1) of the optimizer the train config makes."""
    import keras

    from seqpipe.train.fit import make_optimizer

    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer="zeros")(inputs))
    model.compile(make_optimizer(cfg.optimizer, cfg.clipnorm, cfg.clipvalue, clip_scope=cfg.clip_scope), "mse")
    model.train_on_batch(X, Y)
    kernel, bias = model.layers[-1].get_weights()
    return kernel.astype(np.float64), bias.astype(np.float64)


SGD = {"name": "sgd", "learning_rate": 1.0, "momentum": 0.0}


def test_global_clipnorm_scales_all_gradients_by_their_joint_norm(config):
    kernel, bias = one_step(config(optimizer=SGD, clipnorm=5.0))
    scale = 5.0 / math.sqrt(104.0)
    np.testing.assert_allclose(kernel, -G_KERNEL * scale, rtol=1e-5)
    np.testing.assert_allclose(bias, -G_BIAS * scale, rtol=1e-5)
    assert np.linalg.norm(np.concatenate([kernel.ravel(), bias])) == pytest.approx(5.0, rel=1e-5)
    explicit = one_step(config(optimizer=SGD, clipnorm=5.0, clip_scope="global"))
    np.testing.assert_allclose(explicit[0], kernel, rtol=1e-6)


def test_per_variable_clipnorm_scales_each_gradient_by_its_own_norm(config):
    kernel, bias = one_step(config(optimizer=SGD, clipnorm=5.0, clip_scope="per_variable"))
    np.testing.assert_allclose(kernel, -G_KERNEL * 0.5, rtol=1e-5)  # norm 10 -> 5
    np.testing.assert_allclose(bias, -G_BIAS, rtol=1e-5)  # norm 2, under the bound: unchanged
    global_kernel, global_bias = one_step(config(optimizer=SGD, clipnorm=5.0))
    assert abs(bias[0] - global_bias[0]) > 0.9 and abs(kernel[0, 0] - global_kernel[0, 0]) > 0.05


def test_a_bound_above_the_norms_changes_nothing_in_either_scope(config):
    for scope in ("global", "per_variable"):
        kernel, bias = one_step(config(optimizer=SGD, clipnorm=20.0, clip_scope=scope))
        np.testing.assert_allclose(kernel, -G_KERNEL, rtol=1e-5)
        np.testing.assert_allclose(bias, -G_BIAS, rtol=1e-5)


def test_the_reference_clip_is_the_hand_computed_one():
    grads = [G_KERNEL, G_BIAS, None]
    scale = 5.0 / math.sqrt(104.0)
    clipped = Clipping(5.0).clip(grads)
    np.testing.assert_allclose(clipped[0], G_KERNEL * scale)
    np.testing.assert_allclose(clipped[1], G_BIAS * scale)
    assert clipped[2] is None
    per = Clipping(5.0, scope="per_variable").clip(grads)
    np.testing.assert_allclose(per[0], G_KERNEL * 0.5)
    np.testing.assert_allclose(per[1], G_BIAS)
    np.testing.assert_allclose(Clipping(clipvalue=3.0).clip(grads)[0], [[-3.0], [-3.0]])
    assert Clipping(5.0).optimizer_kwargs() == {"global_clipnorm": 5.0}
    assert Clipping(5.0, scope="per_variable").optimizer_kwargs() == {"clipnorm": 5.0}
    assert Clipping(clipvalue=2.0).optimizer_kwargs() == {"clipvalue": 2.0}
    assert Clipping().optimizer_kwargs() == {}


@pytest.mark.parametrize("clipping, expected", [(Clipping(1.0), [False, True, True, False]),
                                                (Clipping(1.0, scope="per_variable"), [False, False, True, False]),
                                                (Clipping(clipvalue=0.6), [False, True, True, False])],
                         ids=["global", "per_variable", "clipvalue"])
def test_clips_is_true_exactly_when_the_optimizer_changes_the_gradient(clipping, expected):
    """The diagnostics' test (Clipping.clips) against what the optimizer's update shows, on gradients where the
    scopes disagree: global norm 1.2 above the bound with every variable's norm under it, and the reverse cases."""
    import keras

    cases = [[[0.6, 0.0], [0.0, 0.6], [0.0, 0.0]],  # norms 0.6, 0.6, 0 -> global 0.85: no scope clips
             [[0.8, 0.0], [0.0, 0.8], [0.0, 0.0]],  # norms 0.8, 0.8 -> global 1.13: global clips, per-variable not
             [[1.2, 0.0], [0.0, 0.1], [0.0, 0.0]],  # one norm above 1: both clip
             [[0.5, 0.5], [0.0, 0.1], [0.0, 0.0]]]  # elements 0.5 <= 0.6: clipvalue does not clip, nor the norms
    seen = []
    for grads in cases:
        grads = [np.array(g, "float32") for g in grads]
        variables = [keras.Variable(np.zeros(2, "float32")) for _ in grads]
        optimizer = keras.optimizers.SGD(1.0, **clipping.optimizer_kwargs())
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads], variables)
        update = [-np.asarray(v.numpy(), np.float64) for v in variables]
        changed = not all(np.allclose(u, g, rtol=1e-6, atol=1e-7) for u, g in zip(update, grads))
        assert changed == clipping.clips(grads)
        for u, c in zip(update, clipping.clip(grads)):
            np.testing.assert_allclose(u, c, rtol=1e-5, atol=1e-7)
        seen.append(changed)
    assert seen == expected


def test_the_diagnostics_clip_rate_follows_the_scope(tmp_path, context):
    from seqpipe.train.diagnostics import GradientDiagnostics

    grads = [np.array([0.8, 0.0]), np.array([0.0, 0.8]), None]  # global 1.13, each 0.8
    sample = (np.zeros((1, 2)), np.zeros((1, 1)))
    assert GradientDiagnostics(context(tmp_path / "a"), sample, 1, clipnorm=1.0)._clips(grads)
    assert not GradientDiagnostics(context(tmp_path / "b"), sample, 1, clipnorm=1.0,
                                   clip_scope="per_variable")._clips(grads)


def test_compile_token_model_reads_clip_scope(config):
    import keras

    from seqpipe.train.losses import compile_token_model

    for scope, expected in ((None, (None, 2.0)), ("per_variable", (2.0, None))):
        inputs = keras.Input((3, 4))
        model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
        compile_token_model(model, config(clipnorm=2.0, clip_scope=scope))
        assert (model.optimizer.clipnorm, model.optimizer.global_clipnorm) == expected


def test_clip_scope_is_refused_without_clipnorm(tmp_path):
    from seqpipe.config.report import load_config
    from seqpipe.errors import ConfigError

    path = tmp_path / "p.yaml"
    path.write_text("name: x\ntask: classification\ndata:\n  source: {recipe: sms-spam}\n"
                    "  split: {valid: 0.1, test: 0.1}\nstages:\n  - tokenize: {}\n  - embed: {}\n  - encode: {}\n"
                    "  - classify: {}\n  - train:\n"
                    "      clip_scope: per_variable\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path.resolve()}:12: stages[4].train.clip_scope: says how train.clipnorm is "
                                   "applied, but train.clipnorm is not set"]
    path.write_text(path.read_text() + "      clipnorm: 2.0\n")
    config, _ = load_config(path)
    assert (config.stage("train").clip_scope, config.stage("train").clipnorm) == ("per_variable", 2.0)


def test_the_label_smoothed_token_loss_has_the_smoothed_cross_entropy_value(config):
    """compile_token_model's loss on fixed logits: (1 - eps) NLL + eps mean_k(-log p_k) per real token (Keras's
    categorical cross-entropy with label_smoothing eps: targets (1 - eps) one_hot + eps / K), averaged over the
    tokens that are not padding (id 0)."""
    import keras

    from seqpipe.train.losses import compile_token_model

    rng = np.random.default_rng(3)
    logits = rng.normal(size=(2, 3, 5)).astype("float32") * 2
    targets = np.array([[2, 4, 0], [1, 3, 3]], "int32")  # one padding position
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    real = targets != 0
    nll = -np.take_along_axis(log_p, targets[..., None], -1)[..., 0]

    def computed(eps):
        inputs = keras.Input((3, 5))
        model = keras.Model(inputs, keras.layers.Identity()(inputs))
        compile_token_model(model, config(), label_smoothing=eps)
        return model.evaluate(logits, targets, batch_size=2, verbose=0, return_dict=True)["loss"]

    for eps in (0.0, 0.1, 0.3):
        by_hand = (((1 - eps) * nll + eps * (-log_p).mean(-1)) * real).sum() / real.sum()
        one_hot = np.eye(5, dtype="float32")[targets]
        by_keras = keras.losses.categorical_crossentropy(one_hot, logits, from_logits=True, label_smoothing=eps)
        assert float((np.asarray(by_keras) * real).sum() / real.sum()) == pytest.approx(by_hand, rel=1e-5)
        assert computed(eps) == pytest.approx(by_hand, rel=1e-5)
    assert abs(computed(0.1) - nll[real].mean()) > 0.01
