"""A fifth task registered from the test suite alone (no file under seqpipe/ changes) runs end to end.

The toy task is sequence regression: text in, a number out (here: a tenth of the number of "up" words).
It brings its own head stage, keys on a generic stage, a rule, data roles, training, evaluation and a
SavedModel export, all through the Task and TaskRuntime interfaces (docs/architecture.md shows it).
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import Field

from seqpipe.errors import ConfigError
from seqpipe.pipeline.stage import STAGES, Stage
from seqpipe.schema import Schema
from seqpipe.tasks.base import TASKS, Task, TaskRuntime

NAME = "toy_regression"


class RegressConfig(Schema):
    pooling: str = Field("mean", description="how the sequence becomes one vector")


class RegressStage(Stage):
    """Regression head: masked pooling, one linear output."""

    name = "toy_regress"
    order = 40
    requires = ("token_ids", "encoded")
    provides = ("model",)
    tasks = (NAME,)
    Config = RegressConfig

    def run(self, ctx):
        import keras

        from seqpipe.layers.pooling import MaskedPooling

        x = MaskedPooling(self.config.pooling, name="pooling")(ctx["encoded"])
        value = keras.layers.Dense(1, dtype="float32", name="value")(x)
        ctx.put("model", keras.Model(ctx["token_ids"], value))


class ToyTrainKeys(Schema):
    loss_scale: float = Field(1.0, gt=0, description="multiplies the squared error")


class ToyRuntime(TaskRuntime):
    """The toy task's TensorFlow side: training, the evaluation table and its scores, export and serving."""

    @staticmethod
    def _data(ctx, frame):
        import tensorflow as tf

        ids = ctx["encoder"](tf.constant(frame["text"].tolist()))
        return ids, frame["target"].astype("float32").to_numpy()[:, None]

    def fit(self, ctx, cfg):
        import keras
        import tensorflow as tf

        from seqpipe.train.fit import fit_model, make_optimizer

        model = ctx["model"]
        scale = cfg.loss_scale
        model.compile(optimizer=make_optimizer(cfg.optimizer), loss=lambda y, p: scale * keras.ops.mean((y - p) ** 2))
        train = tf.data.Dataset.from_tensor_slices(self._data(ctx, ctx["splits"]["train"])).batch(cfg.batch_size)
        valid = tf.data.Dataset.from_tensor_slices(self._data(ctx, ctx["splits"]["valid"])).batch(cfg.batch_size)
        return fit_model(ctx, cfg, model, train, valid, [])

    def evaluation_table(self, ctx, cfg, split):
        table = ctx["splits"][split].reset_index(drop=True).copy()
        ids, _ = self._data(ctx, table)
        table["prediction"] = ctx["trained_model"].predict(ids, verbose=0)[:, 0]
        return table

    def score(self, ctx, cfg, table):
        y, pred = table["target"].astype(float).to_numpy(), table["prediction"].to_numpy()
        return {"mse": float(np.mean((pred - y) ** 2)), "mse_of_the_mean": float(np.mean((y.mean() - y) ** 2))}

    def export(self, ctx, cfg, path):
        from seqpipe.export.saved_model import describe, save_signatures

        model, encoder = ctx["trained_model"], ctx["encoder"]
        save_signatures(path, [model, encoder], {"serving_default": lambda text: {"value": model(encoder(text))[:, 0]}})
        describe(path, ctx.config, "serving_default", "`value` (float32 [batch])", "")
        return path

    def predict_table(self, saved_model, inputs, meta, params=None):
        import pandas as pd
        import tensorflow as tf

        out = saved_model.signatures["serving_default"](text=tf.constant(inputs))
        return pd.DataFrame({"text": inputs, "value": out["value"].numpy()})


class ToyRegression(Task):
    """Text in, a number out; mean squared error."""

    name = NAME
    roles = ("text", "target")
    monitors = ("loss", "val_loss")
    stage_keys = {"train": (ToyTrainKeys,)}
    runtime_class = ToyRuntime

    def rules(self, config):
        regress = config.stage("toy_regress")
        if regress is not None and regress.pooling not in ("mean", "max"):
            yield (("stages", "toy_regress", "pooling"), f"must be mean or max; got '{regress.pooling}'")


@pytest.fixture
def toy_task():
    STAGES.register("toy_regress", RegressStage)
    TASKS.register(NAME, ToyRegression)
    try:
        yield
    finally:
        TASKS.unregister(NAME)
        STAGES.unregister("toy_regress")


def write_data(path, rows=240, seed=0):
    rng = np.random.default_rng(seed)
    lines = ["text\ttarget"]
    for _ in range(rows):
        ups = int(rng.integers(0, 8))
        words = ["up"] * ups + ["flat"] * int(rng.integers(1, 6))
        rng.shuffle(words)
        lines.append(f"{' '.join(words)}\t{ups / 10}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


PIPELINE = {
    "name": "toy", "task": NAME, "seed": 3, "tracking": {"backend": "none"},
    "data": {"source": {"path": "numbers.tsv"}, "split": {"valid": 0.15, "test": 0.2, "stratify": False}},
    "stages": [{"tokenize": {"kind": "whitespace", "max_length": 20}}, {"embed": {"dim": 8}},
               {"encode": {"cell": "gru", "units": 8}}, {"toy_regress": {}},
               {"train": {"epochs": 25, "batch_size": 32, "optimizer": {"learning_rate": 0.01}, "loss_scale": 2.0}},
               {"evaluate": {"splits": ["test"]}}, {"export": {"keras": False, "log_model": False}}],
}


def test_a_task_registered_by_a_plugin_runs_end_to_end(toy_task, tmp_path, monkeypatch):
    import seqpipe
    from seqpipe.predict import predict_table

    write_data(tmp_path / "numbers.tsv")
    monkeypatch.chdir(tmp_path)
    result = seqpipe.run(PIPELINE, base_dir=tmp_path, progress=False)
    assert result.status == "FINISHED"
    # it learned the count: far better than always predicting the mean
    assert result.metrics["test_mse"] < 0.25 * result.metrics["test_mse_of_the_mean"]
    texts = ["up up flat", "flat", "up up up up up flat flat"]
    table = predict_table(result.export_path, texts)  # seqpipe predict dispatches to the toy task
    assert list(table.columns) == ["text", "value"]
    assert table["value"].to_numpy() == pytest.approx([0.2, 0.0, 0.5], abs=0.08)


def test_the_plugin_task_validates_with_its_keys_rules_and_stages(toy_task):
    from seqpipe.api import load

    config, _, _ = load(PIPELINE)
    assert config.stage("train").loss_scale == 2.0
    bad = {**PIPELINE, "stages": [*PIPELINE["stages"][:3], {"toy_regress": {"pooling": "last"}},
                                  {"train": {"window": 3}}, {"lm": {}}]}
    with pytest.raises(ConfigError) as info:
        load(bad)
    assert info.value.problems == [
        "<dict>: stages[4].lm: stage 'lm' is for task language_model, not 'toy_regression'; stages for toy_regression: "
        "embed, encode, evaluate, export, tokenize, toy_regress, train",
        "<dict>: stages[5].train.window: 'window' is a key of task language_model; task 'toy_regression' does not read "
        "it; remove it",
        "<dict>: stages[3].toy_regress.pooling: must be mean or max; got 'last'",
    ]


def test_unregistering_the_plugin_leaves_no_trace(toy_task):
    from seqpipe.config.docs import config_reference

    assert "toy_regression" in config_reference()
    TASKS.unregister(NAME)
    STAGES.unregister("toy_regress")
    try:
        assert "toy_regression" not in config_reference()
        from seqpipe.api import load

        with pytest.raises(ConfigError, match="task: must be one of captioning, classification, language_model, "
                                              "regression, tagging, translation"):
            load(PIPELINE)
    finally:
        STAGES.register("toy_regress", RegressStage)
        TASKS.register(NAME, ToyRegression)
