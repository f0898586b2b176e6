"""Logging a SavedModel as an MLflow pyfunc model and serving it back."""

import ast
import os
import sys

import numpy as np
import pandas as pd
import pytest

from seqpipe.tracking import MLflowTracker
from seqpipe.tracking.mlflow_tracker import PYFUNC_MODEL_CODE
from tests.unit.tracking.conftest import toy_serving

TABLE_SERVING = """
def predict(model, inputs, meta, params):
    import pandas as pd
    import tensorflow as tf

    out = model.signatures["serving_default"](text=tf.constant(inputs))
    return pd.DataFrame({"length": out["length"].numpy(), "upper": [b.decode() for b in out["upper"].numpy()],
                         "scores": [row.tolist() for row in out["scores"].numpy()],
                         "n_best": [[b.decode() for b in row] for row in out["n_best"].numpy()],
                         "task": meta["task"]})
"""

PIP_REQUIREMENTS = ["mlflow", "numpy", "pandas", "tensorflow", "tensorflow-text"]
TEXTS = ["héllo wörld", "ab", ""]


@pytest.fixture(scope="module")
def saved_model_dir(tmp_path_factory):
    import tensorflow as tf

    class Toy(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text):
            length = tf.cast(tf.strings.length(text, unit="UTF8_CHAR"), tf.int64)
            score = tf.cast(length, tf.float32)
            return {
                "length": length,
                "upper": tf.strings.upper(text),
                "scores": tf.stack([score, -score], axis=1),
                "n_best": tf.stack([text, tf.strings.upper(text)], axis=1),  # string [batch, 2], as translators'
            }

    path = tmp_path_factory.mktemp("toy") / "saved_model"
    toy = Toy()
    tf.saved_model.save(toy, str(path), signatures={"serving_default": toy.serve})
    (path / "seqpipe.json").write_text('{"task": "toy"}')
    return path


def direct_outputs(saved_model_dir):
    import tensorflow as tf

    serve = tf.saved_model.load(str(saved_model_dir)).signatures["serving_default"]
    return {k: v.numpy() for k, v in serve(text=tf.constant(TEXTS)).items()}


def test_wrapper_imports_no_seqpipe():
    tree = ast.parse(PYFUNC_MODEL_CODE.read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])
    }
    assert imported - sys.stdlib_module_names <= {"mlflow", "numpy", "pandas", "tensorflow", "tensorflow_text"}


def test_pyfunc_round_trip(saved_model_dir, store_uri, client, tmp_path, monkeypatch):
    import mlflow

    # A caller's own fluent run and tracking URI must survive log_pyfunc_model untouched.
    other_uri = f"sqlite:///{tmp_path / 'other.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", other_uri)
    outer = mlflow.start_run()
    try:
        with MLflowTracker(store_uri) as tracker:
            run_id = tracker.start("models", "toy", {})
            model_uri = tracker.log_pyfunc_model(saved_model_dir, pip_requirements=PIP_REQUIREMENTS,
                                                 serving=toy_serving(TABLE_SERVING))
            assert client.get_run(run_id).info.status == "RUNNING"
        assert mlflow.active_run().info.run_id == outer.info.run_id
        assert os.environ["MLFLOW_TRACKING_URI"] == other_uri
        assert mlflow.get_tracking_uri() == other_uri
    finally:
        mlflow.end_run()
    assert client.get_run(run_id).info.status == "FINISHED"
    assert model_uri.startswith("models:/")

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_uri)  # where runs:/ URIs resolve
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    assert model.metadata.get_input_schema().input_names() == ["text"]
    assert model.metadata.run_id == run_id
    requirements = mlflow.pyfunc.get_model_dependencies(f"runs:/{run_id}/model")
    assert open(requirements).read().split() == PIP_REQUIREMENTS

    predictions = model.predict(pd.DataFrame({"text": TEXTS}))
    expected = direct_outputs(saved_model_dir)
    assert list(predictions.columns) == ["length", "upper", "scores", "n_best", "task"]  # the serving module's table
    assert predictions["task"].tolist() == ["toy"] * 3  # it reads the export's seqpipe.json
    assert predictions["n_best"].tolist() == [[t.decode("utf-8") for t in row] for row in expected["n_best"]]
    assert predictions["n_best"].tolist()[0][0] == TEXTS[0]  # decoded, a list per row
    np.testing.assert_array_equal(predictions["length"], expected["length"])
    assert predictions["upper"].tolist() == [s.decode("utf-8") for s in expected["upper"]]
    assert predictions["scores"].tolist() == expected["scores"].tolist()
    assert model.predict(pd.Series(TEXTS, name="text")).equals(predictions)
    assert model.predict({"text": TEXTS}).equals(predictions)
