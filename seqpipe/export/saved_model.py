"""What every SavedModel export shares: its README.md, its seqpipe.json and the serving requirements.

Each task writes its own signatures (taking raw strings, tokenization inside the graph). A
SavedModel holding tensorflow-text ops loads only after ``import tensorflow_text``; each export
carries a README.md and seqpipe.json saying so.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Callable, Iterable

from seqpipe._version import __version__

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


def save_signatures(path: Path, layers: Iterable, endpoints: dict[str, Callable], input_name: str = "text") -> Path:
    """Write a SavedModel to ``path`` whose endpoints each take one string tensor ``input_name`` (shape [batch]).

    ``layers`` (Keras models and layers; None is skipped) are tracked so that their weights and tokenizer
    resources are saved; an unbuilt text encoder is built on a dummy string first.
    """
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    for layer in layers:
        if layer is None:
            continue
        if isinstance(layer, keras.layers.Layer) and not layer.built:
            layer(tf.constant(["build"]))
        archive.track(layer)
    spec = [tf.TensorSpec([None], tf.string, name=input_name)]
    for name, fn in endpoints.items():
        archive.add_endpoint(name, fn, input_signature=spec)
    archive.write_out(str(path), verbose=False)
    return path


def serving_requirements() -> list[str]:
    """Exact pins of what a serving process needs (for MLflow's pyfunc model)."""
    return [f"{name}=={version(name)}" for name in ("tensorflow", "tensorflow-text", "mlflow", "pandas")]


def describe(path: Path, config, signature: str, outputs: str, extra: str, *, example: str = "a raw sentence",
             **fields) -> None:
    """The export's README.md (how to load it without seqpipe) and seqpipe.json metadata
    (``task`` says who reads it)."""
    (path / "README.md").write_text(LOAD_NOTE.format(path=path.name, signature=signature, outputs=outputs, extra=extra,
                                                     example=example),
                                    encoding="utf-8")
    meta = {
        "task": config.task, "pipeline": config.name, "signature": signature, "input": "text",
        "requires_import": ["tensorflow_text"], **fields,
        "versions": {"seqpipe": __version__,
                     **{n: version(n) for n in ("tensorflow", "tensorflow-text", "keras", "keras-hub")}},
    }
    (path / "seqpipe.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
