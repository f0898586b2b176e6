"""The MLflow model registry: MLflowTracker.register_model, export's register_as, predict's models:/ URIs.

Named test_model_registry.py, not test_registry.py: tests/unit/test_registry.py (the component
registry) has that name, and the tests folders are not packages.
"""

import shutil

import pytest

from seqpipe.errors import SeqpipeError
from seqpipe.predict import parse_registry_uri, resolve_export
from seqpipe.stages.export import ExportConfig, key_metrics, model_name_problem
from seqpipe.tracking import MLflowTracker, NullTracker
from seqpipe.tracking.guard import WARNINGS_TAG, GuardedTracker
from tests.unit.tracking.conftest import toy_serving

LENGTH_SERVING = """
def predict(model, inputs, meta, params):
    import pandas as pd
    import tensorflow as tf

    return pd.DataFrame({"length": model.signatures["serving_default"](text=tf.constant(inputs))["length"].numpy()})
"""

PIP_REQUIREMENTS = ["mlflow", "numpy", "pandas", "tensorflow", "tensorflow-text"]


@pytest.fixture(scope="module")
def toy_saved_model(tmp_path_factory):
    import tensorflow as tf

    class Toy(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text):
            return {"length": tf.strings.length(text)}

    path = tmp_path_factory.mktemp("toy") / "saved_model"
    toy = Toy()
    tf.saved_model.save(toy, str(path), signatures={"serving_default": toy.serve})
    return path


def export_folder(root, toy_saved_model, which: int):
    """A run's export/ folder: the SavedModel (marked with ``which``) and the files beside it."""
    export = root / f"run{which}" / "export"
    shutil.copytree(toy_saved_model, export / "saved_model")
    (export / "saved_model" / "which.txt").write_text(str(which))
    (export / "saved_model" / "seqpipe.json").write_text('{"task": "toy"}')
    (export / "model.keras").write_bytes(b"keras")
    (export / "text_encoder.json").write_text("{}")
    return export


def log_and_register(store_uri, export, name, metrics, tags=None):
    with MLflowTracker(store_uri) as tracker:
        run_id = tracker.start("registry", "toy", {})
        tracker.log_metrics(metrics)
        beside = {p.name: p for p in export.iterdir() if p.is_file()}
        model_uri = tracker.log_pyfunc_model(export / "saved_model", pip_requirements=PIP_REQUIREMENTS,
                                             extra_artifacts=beside, serving=toy_serving(LENGTH_SERVING))
        version = tracker.register_model(model_uri, name, {**metrics, **(tags or {})})
    return run_id, model_uri, version


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory, toy_saved_model):
    """Two runs registering versions 1 and 2 of 'toy-model'; alias 'champion' on version 1."""
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("registry")
    store_uri = f"sqlite:///{root / 'store' / 'mlflow.db'}"
    runs = []
    for which, accuracy in ((1, 0.75), (2, 0.5)):
        export = export_folder(root, toy_saved_model, which)
        runs.append(log_and_register(store_uri, export, "toy-model",
                                     {"test_accuracy": accuracy, "valid_loss": 1.0 / which},
                                     {"seqpipe.task": "classification"}))
    client = MlflowClient(store_uri)
    client.set_registered_model_alias("toy-model", "champion", "1")
    return {"store_uri": store_uri, "runs": runs, "client": client}


def which(saved_model) -> int:
    return int((saved_model / "which.txt").read_text())


def test_versions_are_numbered_and_tagged_with_the_run_metrics(two_versions):
    client, runs = two_versions["client"], two_versions["runs"]
    assert [version for _, _, version in runs] == ["1", "2"]
    for number, (run_id, model_uri, _) in enumerate(runs, start=1):
        version = client.get_model_version("toy-model", str(number))
        assert version.run_id == run_id
        assert version.source == model_uri  # the logged model, models:/<model id>
        assert version.tags["test_accuracy"] == repr((0.75, 0.5)[number - 1])
        assert float(version.tags["valid_loss"]) == pytest.approx(1.0 / number)
        assert version.tags["seqpipe.task"] == "classification"
        assert version.status == "READY"


@pytest.mark.parametrize("uri, expected", [("models:/toy-model/1", 1), ("models:/toy-model/2", 2),
                                           ("models:/toy-model/latest", 2), ("models:/toy-model/LATEST", 2),
                                           ("models:/toy-model@champion", 1)])
def test_resolve_export_finds_the_versions_saved_model(two_versions, uri, expected):
    saved_model = resolve_export(uri, tracking_uri=two_versions["store_uri"])
    assert (saved_model / "saved_model.pb").exists()
    assert which(saved_model) == expected
    # the files beside the SavedModel travel with it: the parent has the layout of a run's export/
    assert (saved_model.parent / "model.keras").read_bytes() == b"keras"
    assert (saved_model.parent / "text_encoder.json").exists()


def test_resolve_export_reads_MLFLOW_TRACKING_URI(two_versions, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", two_versions["store_uri"])
    assert which(resolve_export("models:/toy-model/2")) == 2


def test_a_registered_version_loads_in_mlflow_itself(two_versions, monkeypatch):
    import mlflow
    import pandas as pd

    monkeypatch.setenv("MLFLOW_TRACKING_URI", two_versions["store_uri"])
    model = mlflow.pyfunc.load_model("models:/toy-model@champion")
    assert model.predict(pd.DataFrame({"text": ["abc", ""]}))["length"].tolist() == [3, 0]


@pytest.mark.parametrize("uri, message", [
    ("models:/nope/1", "models:/nope/1: no registered model 'nope' in sqlite:///{store}; "
                       "registered models: toy-model"),
    ("models:/toy-model/7", "models:/toy-model/7: model 'toy-model' has no version 7; versions: 1, 2; "
                            "aliases: @champion (version 1)"),
    ("models:/toy-model@prod", "models:/toy-model@prod: model 'toy-model' has no alias 'prod'; "
                               "aliases: @champion (version 1); versions: 1, 2"),
    ("models:/toy-model/Production", "models:/toy-model/Production: not a registered model URI; expected "
                                     "models:/NAME/VERSION, models:/NAME@ALIAS or models:/NAME/latest"),
])
def test_a_missing_model_version_or_alias_is_one_line_naming_what_exists(two_versions, uri, message):
    with pytest.raises(SeqpipeError) as info:
        resolve_export(uri, tracking_uri=two_versions["store_uri"])
    store = two_versions["store_uri"].removeprefix("sqlite:///")
    assert str(info.value) == message.format(store=store)
    assert "\n" not in str(info.value)


def test_an_empty_or_missing_store(tmp_path):
    from mlflow import MlflowClient

    missing = f"sqlite:///{tmp_path / 'none.db'}"
    with pytest.raises(SeqpipeError, match=r"^models:/m/1: no tracking store at sqlite:///.*none\.db; pass "):
        resolve_export("models:/m/1", tracking_uri=missing)
    assert not (tmp_path / "none.db").exists()  # looking did not create it
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    MlflowClient(empty).search_experiments()
    with pytest.raises(SeqpipeError, match=r"no registered model 'm' in .*; no model is registered there "
                                           r"\(export: \{register_as: NAME\} registers one\)$"):
        resolve_export("models:/m/1", tracking_uri=empty)


@pytest.mark.parametrize("uri, parsed", [
    ("models:/a/3", ("a", "3", None)), ("models:/a b/03", ("a b", "3", None)), ("models:/a/latest", ("a", None, None)),
    ("models:/a@b", ("a", None, "b")), ("models:/a@b@c", ("a@b", None, "c")),
])
def test_parse_registry_uri(uri, parsed):
    assert parse_registry_uri(uri) == parsed


@pytest.mark.parametrize("uri", ["models:/", "models:/a", "models:/a/", "models:/a/1/2", "models:/@x", "models:/a@",
                                 "models://a/1", "models:/a/b@c"])
def test_parse_registry_uri_refuses_other_forms(uri):
    with pytest.raises(SeqpipeError, match="not a registered model URI"):
        parse_registry_uri(uri)


def test_null_tracker_registers_nothing():
    assert NullTracker().register_model("models:/m-1", "x", {}) is None


def test_a_registry_failure_is_a_warning_not_a_failed_run(store_uri, client):
    import logging

    tracker = MLflowTracker(store_uri)
    run_id = tracker.start("registry", "broken", {})
    guarded = GuardedTracker(tracker, logging.getLogger("test-registry"))
    assert guarded.register_model("models:/m-does-not-exist", "broken-model", {}) is None
    assert len(guarded.warnings) == 1 and guarded.warnings[0].startswith("the registered model version of broken-model")
    guarded.end("FINISHED")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags[WARNINGS_TAG].startswith("the registered model version of broken-model: ")


@pytest.mark.parametrize("name", ["sentiment", "my model v2", "a.b_c-d", "x" * 256])
def test_model_names_mlflow_accepts(name):
    assert model_name_problem(name) is None
    assert ExportConfig(register_as=name).register_as == name


@pytest.mark.parametrize("name, problem", [
    ("", "must not be empty"), ("  ", "must not be empty"), (" a", "must not start or end with a space"),
    ("a\tb", "must not contain control characters"), ("team/model", "must not contain '/'"),
    ("a:b@c", "must not contain ':' or '@'"), ("a?b", "must not contain '?'"), ("..", "must not be '.' or '..'"),
    ("x" * 257, "must be at most 256 characters (MLflow's limit); got 257"),
])
def test_model_names_refused(name, problem):
    assert problem in model_name_problem(name)


def test_register_as_needs_log_model():
    with pytest.raises(ValueError, match="register_as: m registers the logged MLflow model, so it needs "
                                         "log_model: true; got log_model: false"):
        ExportConfig(register_as="m", log_model=False)
    assert ExportConfig(log_model=False).register_as is None


def test_key_metrics_are_the_headline_test_and_valid_scores():
    metrics = {"test_accuracy": 0.5, "valid_loss": 1.0, "test_f1/pos": 0.4, "loss": 0.3, "time_total_s": 9.0,
               "train_examples": 10.0}
    assert key_metrics(metrics) == {"test_accuracy": 0.5, "valid_loss": 1.0}
