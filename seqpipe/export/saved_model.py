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

import seqpipe
import tensorflow_text  # registers the tokenizer ops; the SavedModel will not load without it
model = tf.saved_model.load("{path}")
out = model.signatures["serving_default"](text=tf.constant(["a raw sentence"]))
```

Signature `serving_default`: input `text` (string, shape [batch]); outputs {outputs}.
Labels: {labels}
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
    (path / "README.md").write_text(LOAD_NOTE.format(path=path.name, outputs=outputs, labels=", ".join(labels)), encoding="utf-8")
    meta = {
        "task": "classification", "pipeline": config.name, "labels": labels,
        "signature": "serving_default", "input": "text", "requires_import": ["tensorflow_text"],
        "versions": {"seqpipe": seqpipe.__version__, **{n: version(n) for n in ("tensorflow", "tensorflow-text", "keras", "keras-hub")}},
    }
    (path / "seqpipe.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return path
