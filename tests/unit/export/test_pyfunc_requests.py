"""The MLflow model's request handling (seqpipe/export/pyfunc_model.py): what reaches the serving module, what
is refused in one line, and JSON-safe answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from seqpipe.export.pyfunc_model import RequestError, jsonable, request_inputs, request_params


def test_the_input_column_in_any_request_shape():
    assert request_inputs(pd.DataFrame({"text": ["a", "", "c"]}), "text", "string") == ["a", "", "c"]
    assert request_inputs(pd.DataFrame({"text": [["a", "b"]]}), "text", "string") == ["a", "b"]  # {"text": [...]}
    assert request_inputs({"text": ["a"]}, "text", "string") == ["a"]
    assert request_inputs("a", "text", "string") == ["a"]
    assert request_inputs(pd.DataFrame({"image": [b"\x89PNG"]}), "image", "binary") == [b"\x89PNG"]


@pytest.mark.parametrize(("request_", "kind", "message"), [
    (pd.DataFrame({"sentence": ["a"]}), "string", "the request has columns 'sentence'; expected one column 'text' "
                                                  "(a string per row)"),
    (pd.DataFrame(), "string", "the request has no column 'text'; expected one column 'text' (a string per row)"),
    (pd.DataFrame({"text": ["a"], "extra": [1]}), "string", "the request has columns 'text', 'extra'; expected"),
    (pd.DataFrame({"text": []}), "string", "the request has no rows; expected one column 'text'"),
    (pd.DataFrame({"text": ["a", None]}), "string", "row 2: text is null; expected"),
    (pd.DataFrame({"text": ["a", np.nan]}), "string", "row 2: text is null; expected"),
    (pd.DataFrame({"text": ["a", 3]}), "string", "row 2: text is a int; expected one column 'text' (a string"),
    (pd.DataFrame({"text": ["aGVsbG8="]}), "binary", "row 1: text is a str; expected one column 'text' (the bytes "
                                                     "of an image file, base64 in JSON per row)"),
])
def test_requests_the_model_cannot_answer_are_one_line(request_, kind, message):
    with pytest.raises(ValueError) as caught:
        request_inputs(request_, "text", kind)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_parameters_take_defaults_and_refuse_unknown_names():
    assert request_params(None, {"mode": "score"}) == {"mode": "score"}
    assert request_params({"mode": "generate"}, {"mode": "score"}) == {"mode": "generate"}
    with pytest.raises(ValueError, match=r"^params.temperature: not a parameter of this model; it takes mode$"):
        request_params({"temperature": "0.5"}, {"mode": "score"})
    with pytest.raises(ValueError, match="it takes none"):
        request_params({"mode": "x"}, {})


def test_a_request_error_is_a_400_whose_message_mlflow_cannot_rewrite():
    error = RequestError("row 2: text is null;\n expected a string")
    assert error.get_http_status_code() == 400
    assert error.message == "row 2: text is null; expected a string"
    error.message = f"Failed to predict data '{'x' * 1000}'. \nError: {error.message}"  # what MLflow's server does
    assert error.message == "row 2: text is null; expected a string"
    assert '"message": "row 2: text is null; expected a string"' in error.serialize_as_json()


def test_nan_becomes_null_in_plain_and_list_columns():
    table = pd.DataFrame({"label": ["a", ""], "p": [0.25, np.nan], "n": [3, 0],
                          "scores": [[-1.0, -2.0], [np.nan, np.nan]]})
    out = jsonable(table).to_dict(orient="records")
    assert out == [{"label": "a", "p": 0.25, "n": 3, "scores": [-1.0, -2.0]},
                   {"label": "", "p": None, "n": 0, "scores": [None, None]}]
    assert math.isnan(table["p"][1])  # the caller's table is left alone
