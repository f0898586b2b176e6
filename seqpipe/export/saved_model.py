"""Write SavedModels whose signatures take raw strings (tokenization inside the graph).

A SavedModel holding tensorflow-text ops loads only after ``import tensorflow_text``;
each export carries a README.md and seqpipe.json saying so.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import keras
import tensorflow as tf

import seqpipe

from seqpipe.tasks.classification import serving_function

LOAD_NOTE = """# seqpipe export

Load in any Python process with TensorFlow and tensorflow-text (seqpipe is not needed):

```python
import tensorflow as tf
import tensorflow_text  # registers the tokenizer ops; the SavedModel will not load without it
model = tf.saved_model.load("{path}")
out = model.signatures["{signature}"](text=tf.constant(["{example}"]))
```

Signature `{signature}`: input `text` (string, shape [batch]); outputs {outputs}.
{extra}
"""


def serving_requirements() -> list[str]:
    """Exact pins of what a serving process needs (for MLflow's pyfunc model)."""
    return [f"{name}=={version(name)}" for name in ("tensorflow", "tensorflow-text", "mlflow", "pandas")]


def export_classifier(model, encoder, labels: list[str], path: Path, config) -> Path:
    """Save ``serving_default(text) -> {label, label_id, probabilities}`` to ``path``."""
    encoder(tf.constant(["build"]))  # build before tracking
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(encoder)
    archive.add_endpoint("serving_default", serving_function(model, encoder, labels),
                         input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    archive.write_out(str(path), verbose=False)
    outputs = "`label` (string [batch]), `label_id` (int32 [batch]), `probabilities` (float32 [batch, classes])"
    _describe(path, config, "classification", "serving_default", outputs, f"Labels: {', '.join(labels)}", labels=labels)
    return path


def export_tagger(tagger, path: Path, config) -> Path:
    """Save ``serving_default(text) -> {tokens, tags, length}``: whitespace-tokenised sentences in, one tag per token out."""
    archive = keras.export.ExportArchive()
    for layer in (tagger.model, tagger.encoder, tagger.char_encoder):
        if layer is not None:
            if isinstance(layer, keras.layers.Layer) and not layer.built:
                layer(tf.constant(["build"]))
            archive.track(layer)
    archive.add_endpoint("serving_default", tagger.tag, input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    archive.write_out(str(path), verbose=False)
    outputs = ("`tokens` and `tags` (string [batch, words], \"\" past each sentence's end), `length` (int32 [batch], "
               "words per sentence)")
    _describe(path, config, "tagging", "serving_default", outputs,
              f"Input sentences are split on whitespace, one tag per token ({'CRF + Viterbi' if tagger.crf else 'softmax'} "
              f"output). Tags: {', '.join(tagger.labels)}", labels=tagger.labels)
    return path


def export_translator(translator, decoding: dict, path: Path, config) -> Path:
    """Save ``translate(text) -> {translation, score}`` (also as serving_default), search in-graph."""
    for text_encoder in (translator.source_encoder, translator.target_encoder):
        text_encoder(tf.constant(["build"]))  # Keras layers must be built before tracking
    archive = keras.export.ExportArchive()
    for layer in (translator.encoder_model, translator.decoder, translator.source_encoder, translator.target_encoder):
        archive.track(layer)

    def translate(text):
        out = translator.search(text, decoding)
        return {"translation": out["translations"], "score": out["scores"][:, 0]}

    spec = [tf.TensorSpec([None], tf.string, name="text")]
    archive.add_endpoint("translate", translate, input_signature=spec)
    archive.add_endpoint("serving_default", translate, input_signature=spec)
    archive.write_out(str(path), verbose=False)
    outputs = "`translation` (string [batch]), `score` (float32 [batch], the search's ranking score)"
    _describe(path, config, "translation", "translate", outputs,
              f"Decoding: {json.dumps(decoding)} (beam search runs inside the graph).", decoding=decoding)
    return path


def export_language_model(lm, decoding: dict, max_length: int, path: Path, config) -> Path:
    """Save ``score(text)`` and ``generate(text)`` signatures on raw strings (also serving_default = score)."""
    lm.encoder(tf.constant(["build"]))
    archive = keras.export.ExportArchive()
    archive.track(lm.model)
    archive.track(lm.encoder)
    spec = [tf.TensorSpec([None], tf.string, name="text")]
    archive.add_endpoint("score", lambda text: lm.score(text), input_signature=spec)
    archive.add_endpoint("generate", lambda text: lm.generate(text, decoding, max_length), input_signature=spec)
    archive.add_endpoint("serving_default", lambda text: lm.score(text), input_signature=spec)
    archive.write_out(str(path), verbose=False)
    outputs = ("`score`: `log_prob` (float32 [batch], nats), `num_tokens` (int32), `token_log_probs` (float32 "
               "[batch, tokens], 0 past the end); `generate`: `text` (prompt + continuation), `continuation`, `log_prob`")
    _describe(path, config, "language_model", "score", outputs,
              f"`generate` continues each prompt by {max_length} tokens with {json.dumps(decoding)}.",
              decoding=decoding, max_length=max_length)
    return path


def _describe(path: Path, config, task: str, signature: str, outputs: str, extra: str, **fields) -> None:
    """The export's README.md (how to load it without seqpipe) and seqpipe.json metadata."""
    example = "The quick brown fox jumps ." if task == "tagging" else "a raw sentence"
    (path / "README.md").write_text(LOAD_NOTE.format(path=path.name, signature=signature, outputs=outputs, extra=extra,
                                                     example=example),
                                    encoding="utf-8")
    meta = {
        "task": task, "pipeline": config.name, "signature": signature, "input": "text",
        "requires_import": ["tensorflow_text"], **fields,
        "versions": {"seqpipe": seqpipe.__version__, **{n: version(n) for n in ("tensorflow", "tensorflow-text", "keras", "keras-hub")}},
    }
    (path / "seqpipe.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
