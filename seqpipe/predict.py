"""Predict with an exported SavedModel: find it from a run, then call its signature."""

from __future__ import annotations

from pathlib import Path

from seqpipe.errors import SeqpipeError


def resolve_export(target: str, tracking_uri: str | None = None) -> Path:
    """A SavedModel folder from: the folder itself, a run folder, or an MLflow run id."""
    path = Path(target)
    for candidate in (path, path / "export" / "saved_model"):
        if (candidate / "saved_model.pb").exists():
            return candidate
    if path.exists():
        raise SeqpipeError(f"{target}: no SavedModel here; expected a saved_model.pb in it or in export/saved_model/")
    from seqpipe.tracking.mlflow_tracker import _mlflow, resolve_tracking_uri

    mlflow = _mlflow()

    uri = resolve_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(uri)
    try:
        run = client.get_run(target)
    except Exception:
        raise SeqpipeError(f"{target}: not a folder with a SavedModel and not a run id in {uri}") from None
    local = Path(run.data.tags.get("seqpipe.run_dir", "")) / "export" / "saved_model"
    if (local / "saved_model.pb").exists():
        return local
    try:
        return Path(mlflow.artifacts.download_artifacts(run_id=target, artifact_path="export/saved_model", tracking_uri=uri))
    except Exception as exc:
        raise SeqpipeError(f"{target}: the run has no export/saved_model artifact ({exc})") from None


def predict_table(export: Path, texts: list[str]):
    """Run the export's signature on ``texts``; one row per text.

    Classifiers give label, confidence and p_<label>; translators give translation and score;
    taggers give the whitespace-separated tokens and their tags (space-joined).
    """
    import json

    import pandas as pd

    from seqpipe._quiet import import_tensorflow

    tf = import_tensorflow()
    model = tf.saved_model.load(str(export))
    meta = json.loads((export / "seqpipe.json").read_text()) if (export / "seqpipe.json").exists() else {}
    if meta.get("task") == "translation":
        out = model.signatures["translate"](text=tf.constant(texts))
        return pd.DataFrame({"text": texts, "translation": [b.decode("utf-8") for b in out["translation"].numpy()],
                             "score": out["score"].numpy()})
    out = model.signatures["serving_default"](text=tf.constant(texts))
    if meta.get("task") == "tagging":
        lengths = out["length"].numpy()

        def joined(key):
            return [" ".join(b.decode("utf-8") for b in row[:n]) for row, n in zip(out[key].numpy(), lengths)]

        return pd.DataFrame({"text": texts, "tokens": joined("tokens"), "tags": joined("tags")})
    labels = meta.get("labels")
    probs = out["probabilities"].numpy()
    table = pd.DataFrame({"text": texts, "label": [b.decode("utf-8") for b in out["label"].numpy()],
                          "confidence": probs.max(axis=1)})
    for i in range(probs.shape[1]):
        table[f"p_{labels[i] if labels else i}"] = probs[:, i]
    return table


def load_language_model(target: str, tracking_uri: str | None = None):
    """The LanguageModel of a run (its folder, export folder or MLflow run id), rebuilt in-process."""
    import json

    export = resolve_export(target, tracking_uri=tracking_uri).parent  # .../export
    meta_file = export / "saved_model" / "seqpipe.json"
    if not meta_file.exists() or json.loads(meta_file.read_text()).get("task") != "language_model":
        raise SeqpipeError(f"{target}: not a language model export (no task 'language_model' in {meta_file})")
    if not (export / "model.keras").exists() or not (export / "text_encoder.json").exists():
        raise SeqpipeError(f"{target}: generate needs export/model.keras and export/text_encoder.json "
                           "(export with stages.export.keras: true)")
    from seqpipe._quiet import import_tensorflow

    import_tensorflow()
    import keras

    import seqpipe.layers.pooling  # noqa: F401  (registers seqpipe's Keras objects)
    from seqpipe.tasks.language_model import LanguageModel
    from seqpipe.text.encoder import TextEncoder

    model = keras.saving.load_model(export / "model.keras", compile=False)
    encoder = TextEncoder.from_config(json.loads((export / "text_encoder.json").read_text()))
    return LanguageModel(model, encoder)


def score_table(export: Path, texts: list[str]):
    """Per text: total log-probability (nats), tokens, mean per token, and every token's log-probability."""
    import pandas as pd

    from seqpipe._quiet import import_tensorflow

    tf = import_tensorflow()
    out = tf.saved_model.load(str(export)).signatures["score"](text=tf.constant(texts))
    counts = out["num_tokens"].numpy()
    tokens = out["token_log_probs"].numpy()
    return pd.DataFrame({
        "text": texts, "log_prob": out["log_prob"].numpy(), "num_tokens": counts,
        "log_prob_per_token": out["log_prob"].numpy() / counts.clip(min=1),
        "token_log_probs": [",".join(f"{v:.4f}" for v in row[:n]) for row, n in zip(tokens, counts)],
    })
