"""MLflow "models from code" wrapper that serves a seqpipe SavedModel (``mlflow models serve``, pyfunc).

This file is logged with the model and executed by MLflow when the model is loaded, so it must stay
self-contained: it imports only mlflow, pandas, numpy, tensorflow and tensorflow_text, never seqpipe.
The SavedModel comes from the ``saved_model`` artifact; what the model answers comes from the task's
serving module, logged beside it as the artifact ``serving`` (``seqpipe_serving.py``; loaded from its file under a
name of its own, so that one process can load models of several tasks), the same module ``seqpipe
predict`` uses, so both give the same table for the same inputs.

A request is a table with one column, the serving module's ``INPUT`` (a string per row, or the base64
bytes of a file where ``INPUT_TYPE`` is binary), and the request parameters its ``PARAMS`` declares. A
request this model cannot answer (no rows, another column, a null, a non-image, an
unknown parameter) is refused with HTTP 400 and a one-line reason. NaN in the answer is null in JSON.
"""

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE


class RequestError(MlflowException):
    """A request the model cannot answer: HTTP 400 whose message stays this one line.

    MLflow's scoring server rewrites an error's ``message`` to prefix the whole request data; the property
    keeps the reason readable (and a request full of base64 images out of the answer).
    """

    def __init__(self, reason: str):
        self._reason = " ".join(str(reason).split())
        super().__init__(self._reason, error_code=INVALID_PARAMETER_VALUE)

    @property
    def message(self) -> str:
        return self._reason

    @message.setter
    def message(self, value) -> None:  # MLflow's server prefix is dropped: see the class docstring
        pass


class SavedModelServer(mlflow.pyfunc.PythonModel):
    """One row per input in, the serving module's table out (see the module docstring)."""

    def load_context(self, context):
        import importlib.util
        import uuid

        import tensorflow as tf
        import tensorflow_text  # noqa: F401  registers the text ops used inside the graph

        folder = Path(context.artifacts["saved_model"])
        self._saved_model = tf.saved_model.load(str(folder))
        self._meta = json.loads((folder / "seqpipe.json").read_text(encoding="utf-8"))
        spec = importlib.util.spec_from_file_location(f"seqpipe_serving_{uuid.uuid4().hex}",
                                                      context.artifacts["serving"])
        self._serving = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self._serving)

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        """The serving module's table for the inputs of ``model_input`` (a DataFrame from MLflow's server; called
        directly, a list of inputs works too)."""
        import tensorflow as tf

        serving = self._serving
        try:
            inputs = request_inputs(model_input, serving.INPUT, serving.INPUT_TYPE)
            params = request_params(params, serving.PARAMS)
            table = serving.predict(self._saved_model, inputs, self._meta, params)
        except (ValueError, TypeError) as exc:
            raise RequestError(str(exc)) from None
        except tf.errors.InvalidArgumentError as exc:
            raise RequestError(f"the model could not read the input ({exc.message.splitlines()[0]})") from None
        return jsonable(table)


def request_inputs(model_input, column: str, kind: str) -> list:
    """The values of ``column`` in the request, one per row; anything else is a one-line ValueError."""
    expected = (f"one column '{column}' (" + ("the bytes of an image file, base64 in JSON" if kind == "binary"
                                              else "a string") + " per row)")
    if isinstance(model_input, (str, bytes)):
        model_input = [model_input]
    if isinstance(model_input, dict):
        model_input = pd.DataFrame(model_input)
    if isinstance(model_input, pd.DataFrame):
        columns = [str(c) for c in model_input.columns]
        if columns != [column]:  # MLflow has dropped columns its signature does not name
            given = f"columns {', '.join(repr(c) for c in columns)}" if columns else f"no column '{column}'"
            raise ValueError(f"the request has {given}; expected {expected}")
        model_input = model_input[column]
    values = []
    for item in list(model_input):  # MLflow gives {"text": ["a", "b"]} as one row holding the list
        values.extend(item if isinstance(item, (list, tuple, np.ndarray)) else [item])
    if not values:
        raise ValueError(f"the request has no rows; expected {expected}")
    wanted = (bytes, bytearray) if kind == "binary" else str
    for row, value in enumerate(values, 1):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            raise ValueError(f"row {row}: {column} is null; expected {expected}")
        if not isinstance(value, wanted):
            raise ValueError(f"row {row}: {column} is a {type(value).__name__}; expected {expected}")
    return values


def request_params(params, accepted: dict) -> dict:
    """The request's parameters (defaults from ``accepted``); an unknown one is a one-line ValueError."""
    params = dict(params or {})
    for key in params:
        if key not in accepted:
            takes = f"it takes {', '.join(accepted)}" if accepted else "it takes none"
            raise ValueError(f"params.{key}: not a parameter of this model; {takes}")
    return {**accepted, **params}


def jsonable(table: pd.DataFrame) -> pd.DataFrame:
    """NaN as None (null in JSON), in plain and list columns alike."""
    out = table.copy()
    for name in out.columns:
        column = out[name]
        if column.dtype.kind == "f" and column.isna().any():
            out[name] = pd.Series([None if np.isnan(v) else float(v) for v in column], dtype=object)
        elif column.dtype == object and len(column) and isinstance(column.iloc[0], list):
            out[name] = [[None if isinstance(v, float) and np.isnan(v) else v for v in row] for row in column]
    return out


mlflow.models.set_model(SavedModelServer())
