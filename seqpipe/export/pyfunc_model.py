"""MLflow "models from code" wrapper that serves a text SavedModel.

This file is logged with the model and executed by MLflow when the model is loaded, so
it must stay self-contained: it imports only mlflow, pandas, numpy, tensorflow and
tensorflow_text, never seqpipe. The SavedModel comes from the ``saved_model`` artifact
and is called through its ``serving_default`` signature, which takes one tf.string
tensor of raw texts.
"""

import mlflow
import numpy as np
import pandas as pd


class SavedModelText(mlflow.pyfunc.PythonModel):
    """Raw strings in, one DataFrame column per SavedModel output out.

    Rank-1 outputs become plain columns (bytes decoded to str); higher-rank outputs
    become one column holding a list per row.
    """

    def load_context(self, context):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  registers the text ops used inside the graph

        self._saved_model = tf.saved_model.load(context.artifacts["saved_model"])
        self._serve = self._saved_model.signatures["serving_default"]
        (self._input_name,) = self._serve.structured_input_signature[1]

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """Run ``serving_default`` on the texts of ``model_input``'s first column.

        MLflow hands the loaded model a DataFrame; called directly, a list of strings works too.
        """
        import tensorflow as tf

        texts = tf.constant(_texts(model_input), dtype=tf.string)
        outputs = self._serve(**{self._input_name: texts})
        return pd.DataFrame(
            {name: _column(tensor.numpy()) for name, tensor in sorted(outputs.items())}
        )


def _texts(model_input) -> list[str]:
    """The raw strings of a DataFrame's first column, a Series, an array or a list.

    Cells holding lists are expanded: MLflow turns ``{"text": ["a", "b"]}`` into a single
    row whose cell is the whole list.
    """
    if isinstance(model_input, str):
        return [model_input]
    if isinstance(model_input, pd.DataFrame):
        model_input = model_input.iloc[:, 0]
    texts = []
    for item in model_input:
        texts.extend(item if isinstance(item, (list, tuple, np.ndarray)) else [item])
    return [str(text) for text in texts]


def _column(array: np.ndarray):
    """A DataFrame column for one output: the array itself if rank 1, else a list per row."""
    if array.dtype == object:
        array = np.vectorize(lambda value: value.decode("utf-8"), otypes=[object])(array)
    return array if array.ndim == 1 else [row.tolist() for row in array]


mlflow.models.set_model(SavedModelText())
