"""Every task's logged MLflow model behind ``mlflow models serve`` answers like ``seqpipe predict``.

One real server per task (``--env-manager local`` on 127.0.0.1, started and stopped here), real HTTP
requests, the answers compared row by row with ``seqpipe predict --format json`` on the same inputs:
classification, regression, tagging, the language model (score and generate), translation (with its
n-best lists) and captioning (base64 image bytes). Inputs with no known token get the documented
no-prediction answer everywhere (docs/serving.md#empty-and-unknown-input); bad requests get a 400 with one
line.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import pytest

from tests.integration.conftest import seqpipe
from tests.integration.model_server import serving


def predicted(run, lines: list[str], *options: str) -> list[dict]:
    """``seqpipe predict RUN --format json`` on ``lines``: one dict per row."""
    proc = seqpipe("predict", run["result"]["run_dir"], "--format", "json", *options,
                   stdin="\n".join(lines) + "\n", cwd=run["workdir"])
    return [json.loads(line) for line in proc.stdout.splitlines()]


def same(served: dict, local: dict, skip: tuple[str, ...] = ()) -> None:
    """The served row holds every column of the predict row (but ``skip``), with the same values."""
    for key, value in local.items():
        if key in skip:
            continue
        assert key in served, f"served row lacks {key}: {served}"
        if isinstance(value, float) and not isinstance(served[key], str):
            assert served[key] is not None and math.isclose(served[key], value, rel_tol=1e-5, abs_tol=1e-6), key
        else:
            assert served[key] == value, (key, served[key], value)


def one_line_400(server, body, *words: str) -> str:
    status, answer = server.post(body)
    assert status == 400, (status, answer)
    message = answer["message"]
    assert "\n" not in message and "Traceback" not in message and "stack_trace" not in answer, answer
    for word in words:
        assert word in message, message
    return message


def test_classification_served_like_predict_with_no_guess_for_empty_or_unknown_text(smoke_run):
    texts = ["a wonderful , moving film", "dull and tedious", "", "   ", "qqzx vvxq"]
    local = predicted(smoke_run, texts)
    with serving(smoke_run["result"], smoke_run["workdir"]) as server:
        status, answer = server.post({"dataframe_records": [{"text": t} for t in texts]})
        assert status == 200, answer
        rows = answer["predictions"]
        assert len(rows) == len(texts)
        for served, row in zip(rows, local):
            same(served, row, skip=("text",))
        status, split = server.post({"inputs": {"text": texts[:2]}})  # the other request shape answers alike
        assert status == 200 and split["predictions"] == rows[:2]
        one_line_400(server, {"dataframe_records": [{"sentence": "a film"}]}, "no column 'text'")
        one_line_400(server, {"dataframe_split": {"columns": ["text"], "data": [[None]]}}, "row 1", "null")
        one_line_400(server, {"inputs": {"text": []}}, "no rows")
        status, answer = server.post(b"")  # MLflow's parser answers this one, before the model
        assert status == 400 and "stack_trace" not in answer and "JSON" in answer["message"].splitlines()[0]
    labels = {k[2:] for k in rows[0] if k.startswith("p_")}
    assert rows[0]["label"] in labels and rows[0]["known_tokens"] > 0
    for row in rows[2:]:  # empty, spaces only, unknown words only: no prediction
        assert row["label"] == "" and row["known_tokens"] == 0 and row["confidence"] is None
        assert all(row[f"p_{label}"] is None for label in labels)


def test_regression_served_like_predict(adding_run):
    import pandas as pd

    table = pd.read_csv(Path(adding_run["result"]["run_dir"]) / "evaluation" / "test_predictions.csv")
    texts = [table["text"][0], "", "qq zz"]
    local = predicted(adding_run, texts)
    with serving(adding_run["result"], adding_run["workdir"], through_seqpipe=True) as server:  # seqpipe serve RUN
        status, answer = server.post({"inputs": {"text": texts}})
    assert status == 200, answer
    for served, row in zip(answer["predictions"], local, strict=True):
        same(served, row, skip=("text",))
    assert answer["predictions"][0]["known_tokens"] == 10 and isinstance(answer["predictions"][0]["value"], float)
    assert [r["value"] for r in answer["predictions"][1:]] == [None, None]


def test_tagging_served_like_predict(pos_run):
    texts = ["The cat sat on the mat .", "", "Qzxv blorfed ."]
    local = predicted(pos_run, texts)
    with serving(pos_run["result"], pos_run["workdir"]) as server:
        status, answer = server.post({"inputs": {"text": texts}})
    assert status == 200, answer
    rows = answer["predictions"]
    for served, row in zip(rows, local, strict=True):
        same(served, row, skip=("text",))
    assert len(rows[0]["tags"].split()) == 7 and rows[1]["tokens"] == rows[1]["tags"] == ""
    assert len(rows[2]["tags"].split()) == 3  # unknown words are tagged from their context


def test_language_model_served_scores_and_generates_like_predict(char_lm_run):
    texts = ["to be or not to be", "", "ROMEO:"]
    scored, generated = predicted(char_lm_run, texts), predicted(char_lm_run, texts, "--param", "mode=generate")
    with serving(char_lm_run["result"], char_lm_run["workdir"]) as server:
        status, answer = server.post({"inputs": {"text": texts}})
        assert status == 200, answer
        for served, row in zip(answer["predictions"], scored, strict=True):
            same(served, row, skip=("text",))
        status, made = server.post({"inputs": {"text": texts}, "params": {"mode": "generate"}})
        assert status == 200, made
        for served, row in zip(made["predictions"], generated, strict=True):
            same(served, row, skip=("text",))
        one_line_400(server, {"inputs": {"text": ["x"]}, "params": {"mode": "write"}}, "params.mode", "generate")
    empty = answer["predictions"][1]
    assert empty["num_tokens"] == 0 and empty["log_prob"] == 0 and empty["log_prob_per_token"] is None
    assert answer["predictions"][0]["num_tokens"] == len(texts[0]) and answer["predictions"][0]["log_prob"] < 0
    assert [r["generated"].startswith(t) for r, t in zip(made["predictions"], texts)] == [True] * 3


@pytest.mark.java  # the smoke pipeline reports meteor_1.5
def test_translation_served_like_predict_with_its_n_best_lists(translate_run):
    # a subword vocabulary knows the pieces of any word ("Xqzv" is X q z v): blank inputs are the unknown ones
    texts = ["In the beginning God created the heaven and the earth .", "", "   "]
    local = predicted(translate_run, texts)
    ranked = predicted(translate_run, texts[:1], "--n-best", "3")
    with serving(translate_run["result"], translate_run["workdir"]) as server:
        status, answer = server.post({"inputs": {"text": texts}})
        one_line_400(server, {"dataframe_records": [{"source": "x"}]}, "no column 'text'")
    assert status == 200, answer
    rows = answer["predictions"]
    for served, row in zip(rows, local, strict=True):
        same(served, row, skip=("text",))
    assert rows[0]["n_best"] == [r["translation"] for r in ranked]
    assert rows[0]["n_best_scores"] == pytest.approx([r["score"] for r in ranked], rel=1e-5)
    for row in rows[1:]:  # nothing to translate from: no guess
        assert row["translation"] == "" and row["score"] is None and row["known_tokens"] == 0
        assert row["n_best"] == ["", "", ""] and row["n_best_scores"] == [None, None, None]


@pytest.mark.java  # the smoke pipeline reports meteor_1.5
def test_captioning_served_from_base64_image_bytes_like_predict(captions_run):
    import pandas as pd

    table = pd.read_csv(Path(captions_run["result"]["run_dir"]) / "evaluation" / "test_captions.tsv", sep="\t",
                        keep_default_na=False, quoting=3)
    paths = table["image"].tolist()[:3]
    local = predicted(captions_run, paths)
    images = [base64.b64encode(Path(p).read_bytes()).decode() for p in paths]
    with serving(captions_run["result"], captions_run["workdir"]) as server:
        status, answer = server.post({"dataframe_split": {"columns": ["image"], "data": [[i] for i in images]}})
        one_line_400(server, {"inputs": {"image": [base64.b64encode(b"hello").decode()]}}, "row 1",
                     "not an image")
        one_line_400(server, {"inputs": {"text": ["a photo"]}}, "no column 'image'")
    assert status == 200, answer
    for served, row in zip(answer["predictions"], local, strict=True):
        same(served, row, skip=("image",))
    assert [r["caption"] for r in answer["predictions"]] == table["hypothesis"].tolist()[:3]
    assert all(len(r["n_best"]) == 2 for r in answer["predictions"])
